"""Stage `pose2d`: one camera video in; the 2D keypoints of one pose model out, one row per
frame slot (a keypoint archive, `posebench.io.keypoints`).

The computation is `posebench.pose_estimation`; this module streams the video's frames
through the model and writes the file.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

from posebench.backends.registry import create_backend, job_options
from posebench.io.keypoints import Keypoints2D, save_keypoints
from posebench.markersets import get_marker_set
from posebench.pose_estimation import (
    estimate_keypoints,
    frames_ahead,
    frames_per_call,
    keypoints_on_slots,
)
from posebench.progress import RESULT_MESSAGE, FrameProgress, result_args
from posebench.video import (
    SlotStats,
    SlotSummary,
    check_decoded_frames,
    iter_frame_slots,
    prefetch_batches,
    probe_video,
)

log = logging.getLogger(__name__)


def run(
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
    threads: int = 1,
) -> Keypoints2D:
    """Estimate 2D keypoints on every decodable frame of `video` with the model `model_name`
    (backend `backend`, `options`, `weights_dir`; `detections`: the video's person boxes,
    for top-down models; `threads`: the job's, the default of the ONNX Runtime backends'
    `threads` option) and save them to `output`, one row per frame slot.

    Frames are decoded in a background thread and passed to the model with their slots in
    batches of `batch_size` frames, or fewer if the model takes fewer at once
    (`PoseBackend.max_frames_per_call`: MediaPipe takes one); decoding runs one batch (at
    least MIN_FRAMES_AHEAD frames) ahead of the model, so the whole video is never in
    memory, only a few frames beyond those the model works on. Raises VideoError
    if no frame decodes, and a clear error if the model's keypoints do not match its marker
    set.
    """
    info = probe_video(video)
    markers = get_marker_set(marker_set)
    stats = SlotStats()
    started = time.monotonic()
    progress = FrameProgress(log, video, info.frame_count_header, progress_every_s, started)
    options = job_options(backend, options, threads)
    with create_backend(backend, model_name, marker_set, options, weights_dir) as model:
        markers.check_keypoints(model.keypoint_names, f"Model {model_name!r}")
        model.start_video(video, detections)
        # Decoding runs a few frames ahead in a background thread, overlapping inference;
        # closed at once on an error (the video file is released).
        per_call = frames_per_call(batch_size, model)
        slotted = iter_frame_slots(video, stats, info=info)
        with closing(prefetch_batches(slotted, per_call, ahead=frames_ahead(per_call))) as batches:
            # Progress messages count the frames decoded so far (`stats`), ahead of the model.
            frames = estimate_keypoints(
                batches, model, model_name, lambda _, slot: progress(len(stats.slots), slot)
            )
        summary = check_decoded_frames(info, stats)
        model.end_video(summary.n_slots)
    elapsed = time.monotonic() - started
    result = keypoints_on_slots(
        frames, summary, info, model_name=model_name, backend=backend, marker_set=marker_set
    )
    _log_result(video, result, summary, elapsed)
    save_keypoints(output, result)
    return result


def _log_result(video: Path, result: Keypoints2D, summary: SlotSummary, elapsed: float) -> None:
    """Log the frame rate, the frame slots and the frames without a person; warn when no
    frame has one."""
    without_person = int((~result.detected_frames()[summary.slots]).sum())
    log.info(RESULT_MESSAGE, *result_args(video, summary, elapsed, without_person))
    if without_person == summary.decoded:
        log.warning("%s: no person detected in any frame", video)
