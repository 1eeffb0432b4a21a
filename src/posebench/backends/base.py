"""The pose-backend interface every 2D pose model implements (the backends by name are in
`posebench.backends.registry`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

FrameBatch = Sequence[npt.NDArray[np.uint8]]


class BackendError(RuntimeError):
    """A backend could not be created or run; the message says what to fix."""


class PoseBackend(ABC):
    """A 2D pose model for a single person.

    `predict` receives the decoded RGB frames (H, W, 3) of one video, in order, with the
    frame slot of each (`posebench.video`: slot j is the frame at t = j / fps; slots
    strictly increase, and slots the video lacks are skipped), and returns keypoints in
    pixels (N, K, 2) and scores (N, K) in [0, 1], one row per frame given. A frame without
    a person gives NaN coordinates and score 0. Backends may keep temporal state between
    calls; per-slot inputs (detections, projections) are indexed by slot.

    `max_frames_per_call` is the most frames the stage passes to `predict` at once: None
    (the default) for a batched model, which gets the config's `batch_size`; 1 for a model
    that processes frames one at a time anyway (MediaPipe), so that frames are decoded just
    ahead of their use instead of a whole batch early (`posebench.pose_estimation.
    frames_per_call`). `predict` must still accept any number of frames.
    """

    name: str
    keypoint_names: tuple[str, ...]
    marker_set: str
    max_frames_per_call: int | None = None

    @abstractmethod
    def predict(
        self, frames: FrameBatch, slots: Sequence[int]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]: ...

    def start_video(self, video: Path, detections: Path | None = None) -> None:  # noqa: B027
        """Called before the first frame of each video, with the video's person detections
        (`posebench.detection`) for top-down backends."""

    def end_video(self, n_slots: int) -> None:  # noqa: B027 - optional hook
        """Called after the last frame of each video with its number of frame slots
        (`posebench.video.slot_count`), e.g. to check per-slot inputs cover exactly them."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (models, sessions)."""

    def __enter__(self) -> PoseBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def slot_indices(frames: FrameBatch, slots: Sequence[int], context: str) -> npt.NDArray[np.intp]:
    """`slots` as an index array, checked to give one slot >= 0 per frame; errors start with
    `context` (the backend)."""
    index = np.asarray(slots, dtype=np.intp).reshape(-1)
    if index.size != len(frames):
        raise BackendError(
            f"{context}: predict got {len(frames)} frames but {index.size} frame slots; "
            "pass the slot of each frame (posebench.video.iter_frame_slots)."
        )
    if index.size and index.min() < 0:
        raise BackendError(f"{context}: frame slots must be >= 0, got {index.min()}.")
    return index
