"""Stream frames from a video file without holding the video in memory."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt


class VideoError(RuntimeError):
    """A video is missing, unreadable or inconsistent; the message names the file."""


@dataclass(frozen=True)
class VideoInfo:
    """What the container header says. `frame_count_header` can over-count."""

    path: Path
    fps: float
    frame_count_header: int
    width: int
    height: int


def probe_video(path: Path) -> VideoInfo:
    """Read the container header of `path`; raise VideoError if it cannot be opened."""
    if not path.is_file():
        raise VideoError(f"Video not found: {path}. Check the dataset path in config/config.yaml.")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise VideoError(f"Cannot open video {path}: not a video OpenCV can decode.")
        fps = float(capture.get(cv2.CAP_PROP_FPS))
        info = VideoInfo(
            path=path,
            fps=fps,
            frame_count_header=int(capture.get(cv2.CAP_PROP_FRAME_COUNT)),
            width=int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            height=int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
    finally:
        capture.release()
    if not np.isfinite(fps) or fps <= 0:
        raise VideoError(f"Video {path} reports a frame rate of {fps!r}; expected > 0.")
    if info.width <= 0 or info.height <= 0:
        raise VideoError(f"Video {path} reports an image size of {info.width}x{info.height}.")
    return info


def iter_frames_rgb(path: Path) -> Iterator[npt.NDArray[np.uint8]]:
    """Yield the decodable frames of `path` one at a time as RGB uint8 (H, W, 3) arrays."""
    probe_video(path)
    capture = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, frame_bgr = capture.read()
            if not ok:
                return
            yield np.asarray(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)
    finally:
        capture.release()
