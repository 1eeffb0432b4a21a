"""Stage `detect`: one camera video and a detector's weights folder in; the tracked person box
of every frame slot out (a detection file, format in `posebench.detection`).

The computation is `posebench.detection`; this module streams the video's frames through the
detector and writes the file.
"""

from __future__ import annotations

import logging
import time
from contextlib import closing
from pathlib import Path

from posebench.detection import (
    TRACK_MIN_IOU,
    DetectionTrack,
    create_detector,
    save_detections,
    track_on_slots,
    track_person,
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
    weights_dir: Path,
    output: Path,
    *,
    detector_name: str,
    backend: str = "transformers",
    score_threshold: float = 0.8,
    batch_size: int = 8,
    device: str = "auto",
    precision: str = "fp32",
    progress_every_s: float = 10.0,
    threads: int = 1,
) -> DetectionTrack:
    """Detect and track the person in every decodable frame of `video` with the detector in
    `weights_dir` (of `backend`: `posebench.detection.DETECTOR_BACKENDS`; `threads`: the
    job's, for the ONNX Runtime detectors); save the track,
    one row per frame slot, to `output` and return it.

    Frames are decoded in a background thread, one batch ahead, and passed to the detector
    in batches of `batch_size`; the video is never held in memory. Raises VideoError if no
    frame decodes and DetectionError if the checkpoint cannot be used.
    """
    info = probe_video(video)
    detector = create_detector(
        backend, weights_dir, detector_name, device, precision, threads=threads
    )
    stats = SlotStats()
    started = time.monotonic()
    progress = FrameProgress(log, video, info.frame_count_header, progress_every_s, started)
    # One batch decoded ahead, in a background thread; closed at once on an error.
    slotted = iter_frame_slots(video, stats, info=info)
    with closing(prefetch_batches(slotted, batch_size, ahead=batch_size)) as batches:
        frames = track_person(batches, detector, score_threshold, progress)
    summary = check_decoded_frames(info, stats)
    track = track_on_slots(
        frames, summary, info, detector_name=detector_name, score_threshold=score_threshold
    )
    _log_result(video, track, summary, time.monotonic() - started)
    save_detections(output, track)
    return track


def _log_result(video: Path, track: DetectionTrack, summary: SlotSummary, elapsed: float) -> None:
    """Log the frame rate, the frame slots, the frames without a person and the track's
    jumps; warn when no frame has a person."""
    gaps = int((~track.found()[summary.slots]).sum())
    log.info(
        RESULT_MESSAGE + "; the track jumped %d times (no box overlapping the previous one by "
        "IoU >= %.1f)",
        *result_args(video, summary, elapsed, gaps), track.track_jumps, TRACK_MIN_IOU,
    )  # fmt: skip
    if gaps == summary.decoded:
        log.warning("%s: no person with score >= %.2f in any frame", video, track.score_threshold)
