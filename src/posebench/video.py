"""Stream frames from a video file without holding the video in memory, in batches,
decoded ahead in a background thread."""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np
import numpy.typing as npt

T = TypeVar("T")
log = logging.getLogger(__name__)


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
            raise VideoError(
                f"Cannot open video {path}: not a video OpenCV can decode (truncated, corrupt "
                "or an unsupported codec). Replace it with the camera's original recording."
            )
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


def check_decoded_frames(info: VideoInfo, decoded: int) -> None:
    """Raise if no frame decoded; log when the header's frame count differs (headers can
    over-count: the decoded frames are what counts)."""
    if decoded == 0:
        raise VideoError(
            f"No frame of {info.path} could be decoded; the file is empty or corrupt. Replace "
            "it with the camera's original recording."
        )
    if decoded != info.frame_count_header:
        log.warning(
            "%s: decoded %d frames, container header says %d; using the %d decoded frames.",
            info.path, decoded, info.frame_count_header, decoded,
        )  # fmt: skip


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


def prefetch(items: Iterable[T], depth: int = 3) -> Iterator[T]:
    """Iterate over `items` while a background thread produces up to `depth` items ahead
    (decoding overlaps inference). Exceptions of the producer are raised here; stopping
    early stops the producer and closes its iterator (releasing e.g. the video file)."""
    if depth < 1:
        raise ValueError(f"prefetch depth must be >= 1, got {depth}")
    buffer: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(kind: str, value: Any) -> bool:
        while not stop.is_set():
            try:
                buffer.put((kind, value), timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator: Iterator[T] | None = None
        try:
            iterator = iter(items)
            for item in iterator:
                if not put("item", item):
                    return
            put("end", None)
        except BaseException as error:  # handed to the consumer, raised there
            put("error", error)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="posebench-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = buffer.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        thread.join()


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Consecutive lists of `size` items (the last one may be shorter)."""
    if size < 1:
        raise ValueError(f"batch size must be >= 1, got {size}")
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
