"""Stage `pose2d`: run one pose model over one camera video, streaming frames.

The output has one row per frame slot of the video (`posebench.video`: slot j is the frame
at t = j / fps); slots the video lacks (dropped frames) hold NaN keypoints and score 0.
`Keypoints2D.metadata["slots"]` records the slot count, the missing slots (count and the
first indices) and whether the slots come from the frame timestamps or decode order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from posebench.backends.base import BackendError
from posebench.backends.registry import create_backend
from posebench.io.keypoints import Keypoints2D, save_keypoints
from posebench.markersets import get_marker_set
from posebench.video import (
    SlotStats,
    batched,
    check_decoded_frames,
    iter_frame_slots,
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
    """Estimate 2D keypoints on every decodable frame of `video` and save them to `output`,
    one row per frame slot (see the module docstring).

    Frames are decoded (ahead, in a background thread) and passed to the backend in batches
    of `batch_size` with their slots; the whole video is never in memory. Raises VideoError
    if no frame decodes, and a clear error if the model's keypoints do not match its marker
    set.
    """
    info = probe_video(video)
    markers = get_marker_set(marker_set)
    stats = SlotStats()
    keypoint_batches: list[np.ndarray] = []
    score_batches: list[np.ndarray] = []
    started = last_report = time.monotonic()
    with create_backend(backend, model_name, marker_set, options, weights_dir) as model:
        markers.check_keypoints(model.keypoint_names, f"Model {model_name!r}")
        count = len(model.keypoint_names)
        model.start_video(video, detections)
        # Decoding runs ahead in a background thread, overlapping the model's inference.
        for batch in prefetch(batched(iter_frame_slots(video, stats), batch_size), depth=1):
            slots = [slot for slot, _ in batch]
            frames = [frame for _, frame in batch]
            keypoints, scores = model.predict(frames, slots)
            if keypoints.shape != (len(frames), count, 2) or scores.shape != (len(frames), count):
                raise BackendError(
                    f"Model {model_name!r} returned keypoints {keypoints.shape} and scores "
                    f"{scores.shape} for {len(frames)} frames; expected ({len(frames)}, "
                    f"{count}, 2) and ({len(frames)}, {count})."
                )
            keypoint_batches.append(keypoints)
            score_batches.append(scores)
            now = time.monotonic()
            if now - last_report >= progress_every_s:
                log.info(
                    "%s: %d frames decoded, up to slot %d of %d (%.1f frames/s)",
                    video.name, len(stats.slots), slots[-1], info.frame_count_header,
                    len(stats.slots) / (now - started),
                )  # fmt: skip
                last_report = now
        summary = check_decoded_frames(info, stats)
        model.end_video(summary.n_slots)
    elapsed = time.monotonic() - started
    result = Keypoints2D(
        keypoints_px=summary.on_slots(np.concatenate(keypoint_batches), np.nan),
        scores=summary.on_slots(np.concatenate(score_batches), 0.0),
        keypoint_names=tuple(model.keypoint_names),
        fps=info.fps,
        image_size=(info.width, info.height),
        model=model_name,
        metadata={
            "video": str(video),
            "backend": backend,
            "marker_set": marker_set,
            "slots": summary.metadata(),
        },
    )
    decoded = summary.decoded
    without_person = int((~result.detected_frames()[summary.slots]).sum())
    log.info(
        "%s: %d frames in %.1f s (%.1f frames/s) on %d frame slots (%d missing); %d frames "
        "without a person",
        video.name, decoded, elapsed, decoded / max(elapsed, 1e-9), summary.n_slots,
        summary.missing.size, without_person,
    )  # fmt: skip
    if without_person == decoded:
        log.warning("%s: no person detected in any frame", video)
    save_keypoints(output, result)
    return result
