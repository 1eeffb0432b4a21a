"""Stage `pose2d`: run one pose model over one camera video, streaming frames."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from posebench.backends.base import create_backend
from posebench.io.keypoints import Keypoints2D, save_keypoints
from posebench.markersets import get_marker_set
from posebench.video import (
    VideoError,
    batched,
    check_decoded_frames,
    iter_frames_rgb,
    prefetch,
    probe_video,
)

log = logging.getLogger(__name__)


def run_pose2d(
    video: Path,
    output: Path,
    *,
    model_name: str,
    backend: str,
    marker_set: str,
    options: Mapping[str, Any],
    batch_size: int = 16,
    progress_every_s: float = 10.0,
    weights_dir: Path | None = None,
    detections: Path | None = None,
) -> Keypoints2D:
    """Estimate 2D keypoints on every decodable frame of `video` and save them to `output`.

    Frames are decoded (ahead, in a background thread) and passed to the backend in batches
    of `batch_size`; the whole video is never in memory. Raises VideoError if no frame
    decodes, and a clear error if the model's keypoints do not match its marker set.
    """
    info = probe_video(video)
    markers = get_marker_set(marker_set)
    keypoint_batches: list[np.ndarray] = []
    score_batches: list[np.ndarray] = []
    started = last_report = time.monotonic()
    decoded = 0
    with create_backend(backend, model_name, marker_set, options, weights_dir) as model:
        markers.check_keypoints(model.keypoint_names, f"Model {model_name!r}")
        model.start_video(video, detections)
        # Decoding runs ahead in a background thread, overlapping the model's inference.
        for batch in prefetch(batched(iter_frames_rgb(video), batch_size), depth=1):
            for frame in batch:
                if frame.shape[:2] != (info.height, info.width):
                    raise VideoError(
                        f"{video}: frame {decoded} is {frame.shape[1]}x{frame.shape[0]}, "
                        f"header says {info.width}x{info.height}."
                    )
                decoded += 1
            keypoints, scores = model.predict(batch)
            keypoint_batches.append(keypoints)
            score_batches.append(scores)
            now = time.monotonic()
            if now - last_report >= progress_every_s:
                log.info(
                    "%s: %d/%d frames (%.1f frames/s)",
                    video.name, decoded, info.frame_count_header, decoded / (now - started),
                )  # fmt: skip
                last_report = now
    check_decoded_frames(info, decoded)
    elapsed = time.monotonic() - started
    result = Keypoints2D(
        keypoints_px=np.concatenate(keypoint_batches),
        scores=np.concatenate(score_batches),
        keypoint_names=tuple(model.keypoint_names),
        fps=info.fps,
        image_size=(info.width, info.height),
        model=model_name,
        metadata={"video": str(video), "backend": backend, "marker_set": marker_set},
    )
    missing = int((~result.detected_frames()).sum())
    log.info(
        "%s: %d frames in %.1f s (%.1f frames/s); %d frames without a person",
        video.name, decoded, elapsed, decoded / max(elapsed, 1e-9), missing,
    )  # fmt: skip
    if missing == decoded:
        log.warning("%s: no person detected in any frame", video)
    save_keypoints(output, result)
    return result
