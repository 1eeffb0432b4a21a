"""Per-camera 2D keypoint files: frame slots x keypoints x (x, y, score), self-describing.

One compressed NumPy archive per camera video and model, with one row per frame slot of
the video (`posebench.video`: slot j is the frame at t = j / fps); slots the video lacks
hold NaN and score 0. Pixel coordinates are in the original image; frames without a
detected person also hold NaN coordinates and score 0. The pose2d stage records the slots
in `metadata["slots"]` (slot count, missing slots and their first indices, timestamps or
decode order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from posebench.io.archive import read_archive, write_archive

FORMAT_VERSION = 1


class KeypointFileError(ValueError):
    """A keypoint file is missing, malformed or inconsistent with what is expected."""


@dataclass(frozen=True)
class Keypoints2D:
    """2D keypoints of one camera video.

    `keypoints_px` is (frames, keypoints, 2) in pixels; `scores` is (frames, keypoints) in
    [0, 1]; one row per frame slot of the video (slots the video lacks hold NaN and score 0).
    `image_size` is (width, height) in pixels.
    """

    keypoints_px: npt.NDArray[np.float32]
    scores: npt.NDArray[np.float32]
    keypoint_names: tuple[str, ...]
    fps: float
    image_size: tuple[int, int]
    model: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        frames, count, two = self.keypoints_px.shape
        if two != 2 or self.scores.shape != (frames, count):
            raise KeypointFileError(
                f"keypoints {self.keypoints_px.shape} and scores {self.scores.shape} must be "
                "(frames, keypoints, 2) and (frames, keypoints)"
            )
        if len(self.keypoint_names) != count:
            raise KeypointFileError(
                f"{count} keypoints but {len(self.keypoint_names)} keypoint names"
            )

    @property
    def n_frames(self) -> int:
        return int(self.keypoints_px.shape[0])

    def detected_frames(self) -> npt.NDArray[np.bool_]:
        """Frames where at least one keypoint has a positive score and a position."""
        placed = np.isfinite(self.keypoints_px).all(axis=-1)
        return np.asarray(((self.scores > 0) & placed).any(axis=1))


def save_keypoints(path: Path, data: Keypoints2D) -> None:
    """Write `data` to `path` (.npz). Coordinates of undetected keypoints are forced to NaN."""
    keypoints = data.keypoints_px.astype(np.float32, copy=True)
    scores = np.nan_to_num(data.scores.astype(np.float32), nan=0.0)
    keypoints[scores <= 0] = np.nan
    meta = {
        "format_version": FORMAT_VERSION,
        "fps": data.fps,
        "image_size": list(data.image_size),
        "model": data.model,
        "keypoint_names": list(data.keypoint_names),
        "metadata": data.metadata,
    }
    write_archive(
        path, {"keypoints": np.concatenate([keypoints, scores[..., None]], axis=-1)}, meta
    )


def load_keypoints(path: Path) -> Keypoints2D:
    """Read a file written by `save_keypoints`, with errors that name the file."""
    arrays, meta = read_archive(
        path,
        ["keypoints"],
        format_version=FORMAT_VERSION,
        error=KeypointFileError,
        kind="keypoint file",
        rule="pose2d",
    )
    array = arrays["keypoints"]
    if array.ndim != 3 or array.shape[-1] != 3:
        raise KeypointFileError(
            f"{path}: keypoints array has shape {array.shape}, expected (F, K, 3)"
        )
    return Keypoints2D(
        keypoints_px=array[..., :2],
        scores=array[..., 2],
        keypoint_names=tuple(meta["keypoint_names"]),
        fps=float(meta["fps"]),
        image_size=(int(meta["image_size"][0]), int(meta["image_size"][1])),
        model=str(meta["model"]),
        metadata=dict(meta.get("metadata", {})),
    )
