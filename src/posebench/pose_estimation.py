"""2D pose estimation over a stream of video frames: the core of the rule `pose2d` (its shell,
which opens the video and the model and writes the keypoint file, is
`posebench.stages.pose2d`).

`estimate_keypoints` passes batches of (frame slot, frame) through a pose backend and
returns one row per decoded frame; `keypoints_on_slots` places those rows on the video's
frame slots (`posebench.video`: slot j is the frame at t = j / fps). Slots the video lacks
(dropped frames) hold NaN keypoints and score 0. `Keypoints2D.metadata["slots"]` records the
slot count, the missing slots (count and the first indices) and whether the slots come from
the frame timestamps or decode order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from posebench.backends.base import BackendError, PoseBackend
from posebench.io.keypoints import Keypoints2D
from posebench.progress import Progress
from posebench.video import SlotBatch, SlotSummary, VideoInfo

MIN_FRAMES_AHEAD = 2
"""Frames decoded ahead of the model at least (`frames_ahead`): enough to absorb the jitter
of decoding when the model takes frames one by one."""


def frames_per_call(batch_size: int, model: PoseBackend) -> int:
    """Frames passed to `model.predict` at once: `batch_size` (the config's), at most the
    model's `max_frames_per_call`. BackendError unless both are >= 1."""
    limit = model.max_frames_per_call
    if batch_size < 1 or (limit is not None and limit < 1):
        raise BackendError(
            f"Model {model.name!r}: batch_size {batch_size} and max_frames_per_call {limit} "
            "must be >= 1."
        )
    return batch_size if limit is None else min(batch_size, limit)


def frames_ahead(per_call: int) -> int:
    """Frames to decode ahead of a model that takes `per_call` frames at once: one call's
    worth (the next batch is ready when the model finishes one), at least MIN_FRAMES_AHEAD."""
    return max(per_call, MIN_FRAMES_AHEAD)


@dataclass(frozen=True)
class FrameKeypoints:
    """A pose model's output for each decoded frame, in decode order: `keypoints_px`
    (frames, K, 2) in pixels and `scores` (frames, K), K = len(`keypoint_names`)."""

    keypoints_px: npt.NDArray[np.floating]
    scores: npt.NDArray[np.floating]
    keypoint_names: tuple[str, ...]

    @property
    def n_frames(self) -> int:
        return int(self.scores.shape[0])


def estimate_keypoints(
    batches: Iterable[SlotBatch],
    model: PoseBackend,
    model_name: str,
    progress: Progress | None = None,
) -> FrameKeypoints:
    """Run `model` on every batch of `batches` and collect its keypoints and scores.

    `progress`, if given, is called after each batch with the number of frames so far and
    the batch's last slot. Raises BackendError (naming `model_name`) when the model returns
    arrays of another shape than (frames, K, 2) and (frames, K), K being its keypoint count.
    """
    names = tuple(model.keypoint_names)
    keypoint_batches: list[npt.NDArray[np.floating]] = []
    score_batches: list[npt.NDArray[np.floating]] = []
    frames_done = 0
    for batch in batches:
        slots = [slot for slot, _ in batch]
        frames = [frame for _, frame in batch]
        keypoints, scores = model.predict(frames, slots)
        _check_output(keypoints, scores, len(frames), len(names), model_name)
        keypoint_batches.append(keypoints)
        score_batches.append(scores)
        frames_done += len(frames)
        if progress is not None:
            progress(frames_done, slots[-1])
        del batch, frames  # not kept alive while the next batch is gathered
    if not keypoint_batches:
        return FrameKeypoints(
            np.empty((0, len(names), 2), np.float32), np.empty((0, len(names)), np.float32), names
        )
    return FrameKeypoints(np.concatenate(keypoint_batches), np.concatenate(score_batches), names)


def _check_output(
    keypoints: npt.NDArray[np.floating],
    scores: npt.NDArray[np.floating],
    frames: int,
    count: int,
    model_name: str,
) -> None:
    """Raise BackendError unless keypoints are (frames, count, 2) and scores (frames, count)."""
    if keypoints.shape != (frames, count, 2) or scores.shape != (frames, count):
        raise BackendError(
            f"Model {model_name!r} returned keypoints {keypoints.shape} and scores "
            f"{scores.shape} for {frames} frames; expected ({frames}, "
            f"{count}, 2) and ({frames}, {count})."
        )


def keypoints_on_slots(
    frames: FrameKeypoints,
    summary: SlotSummary,
    info: VideoInfo,
    *,
    model_name: str,
    backend: str,
    marker_set: str,
) -> Keypoints2D:
    """The keypoints of a video, one row per frame slot of `summary`, with the video's frame
    rate and image size (`info`) and the model, backend, marker set and slots in the
    metadata."""
    return Keypoints2D(
        keypoints_px=summary.on_slots(frames.keypoints_px, np.nan),
        scores=summary.on_slots(frames.scores, 0.0),
        keypoint_names=frames.keypoint_names,
        fps=info.fps,
        image_size=(info.width, info.height),
        model=model_name,
        metadata={
            "video": str(info.path),
            "backend": backend,
            "marker_set": marker_set,
            "slots": summary.metadata(),
        },
    )
