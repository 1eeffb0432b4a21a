"""The `oracle` backend: exact 2D keypoints of a synthetic dataset, optionally corrupted.

Synthetic datasets (`posebench.datasets.synthetic`) store, next to each video
`<trial>_syncdWithMocap.avi`, the projection of the OpenSim model's markers in that camera
(`<trial>_oracle_keypoints.npz`, one row per frame slot of the video). The oracle returns
the rows of the slots it is given as the keypoints of its marker set (keypoint -> OpenSim
marker through the marker set; keypoints without a marker are never detected), with
configurable corruption (drawn for every slot, so it does not depend on which slots the
video lacks):

- `noise_px`: standard deviation of Gaussian pixel noise on x and y;
- `drop_rate`: fraction of keypoints randomly not detected (NaN, score 0);
- `outlier_rate`, `outlier_px`: fraction of keypoints displaced by `outlier_px` pixels in a
  random direction (score unchanged: the detector is confidently wrong);
- `occluded_camera`, `occluded_fraction`: in the camera whose folder has this name, nothing
  is detected in the middle `occluded_fraction` of the frames;
- `seed`: the corruption is deterministic given the seed and the video's last path parts.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from posebench.backends.base import (
    BackendError,
    FrameBatch,
    PoseBackend,
    slot_indices,
)
from posebench.datasets.layout import OPENCAP_VIDEO_SUFFIX as VIDEO_SUFFIX
from posebench.datasets.layout import ORACLE_KEYPOINTS_SUFFIX as ORACLE_SUFFIX
from posebench.io.keypoints import Keypoints2D, load_keypoints
from posebench.markersets import get_marker_set

_OPTIONS = {
    "noise_px": 0.0,
    "drop_rate": 0.0,
    "outlier_rate": 0.0,
    "outlier_px": 50.0,
    "occluded_camera": None,
    "occluded_fraction": 0.5,
    "seed": 0,
}


def oracle_file(video: Path) -> Path:
    """The projected-keypoints file that belongs to `video`."""
    if not video.name.endswith(VIDEO_SUFFIX):
        raise BackendError(
            f"The oracle backend needs a synthetic dataset video named '<trial>{VIDEO_SUFFIX}', "
            f"got {video}."
        )
    return video.with_name(video.name[: -len(VIDEO_SUFFIX)] + ORACLE_SUFFIX)


class OracleBackend(PoseBackend):
    """Projected model markers as keypoints, with optional noise, drops, outliers, occlusion."""

    def __init__(self, model_name: str, marker_set: str, options: Mapping[str, Any]) -> None:
        unknown = set(options) - set(_OPTIONS)
        if unknown:
            raise BackendError(
                f"Model {model_name!r}: unknown oracle options {sorted(unknown)}; "
                f"allowed: {sorted(_OPTIONS)}."
            )
        self.name = model_name
        self.marker_set = marker_set
        self._markers = get_marker_set(marker_set)
        self.keypoint_names = self._markers.keypoints
        self._options = {**_OPTIONS, **options}
        for key in ("noise_px", "drop_rate", "outlier_rate", "outlier_px", "occluded_fraction"):
            value = float(self._options[key])
            if value < 0 or (key.endswith(("rate", "fraction")) and value > 1):
                raise BackendError(
                    f"Model {model_name!r}: oracle option {key}={value} is out of range."
                )
        self._keypoints: npt.NDArray[np.float32] | None = None
        self._scores: npt.NDArray[np.float32] | None = None
        self._projection: Path | None = None

    def start_video(self, video: Path, detections: Path | None = None) -> None:
        path = oracle_file(video)
        if not path.is_file():
            raise BackendError(
                f"No projected keypoints for {video}: expected {path}. The oracle only runs on "
                "synthetic datasets (see config/synthetic.yaml)."
            )
        projection = load_keypoints(path)
        self._keypoints, self._scores = self._corrupt(video, self._select(projection, path))
        self._projection = path

    def _select(self, projection: Keypoints2D, path: Path) -> npt.NDArray[np.float64]:
        """(F, K, 2) positions of this marker set's keypoints; NaN for keypoints whose
        OpenSim marker the projection lacks."""
        index = {name: i for i, name in enumerate(projection.keypoint_names)}
        columns = [
            index.get(self._markers.markers.get(name, ""), -1) for name in self.keypoint_names
        ]
        if all(c < 0 for c in columns):
            raise BackendError(
                f"{path} projects markers {projection.keypoint_names[:5]}..., none of which "
                f"belongs to marker set {self.marker_set!r}. A dataset generated before that "
                "marker set existed lacks them: regenerate it (snakemake --forcerun "
                "generate_synthetic)."
            )
        selected = np.full((projection.n_frames, len(columns), 2), np.nan)
        present = [i for i, c in enumerate(columns) if c >= 0]
        selected[:, present] = projection.keypoints_px[:, [columns[i] for i in present]]
        return selected

    def _corrupt(
        self, video: Path, keypoints: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        options = self._options
        key = "/".join(video.parts[-3:])
        rng = np.random.default_rng([int(options["seed"]), zlib.crc32(key.encode())])
        frames, count = keypoints.shape[:2]
        noisy = keypoints + rng.normal(0.0, float(options["noise_px"]), keypoints.shape)
        outlier = rng.random((frames, count)) < float(options["outlier_rate"])
        angle = rng.uniform(0, 2 * np.pi, (frames, count))
        displacement = float(options["outlier_px"]) * np.stack([np.cos(angle), np.sin(angle)], -1)
        noisy[outlier] += displacement[outlier]
        detected = np.isfinite(noisy).all(axis=-1)
        detected &= rng.random((frames, count)) >= float(options["drop_rate"])
        if options["occluded_camera"] is not None and options["occluded_camera"] in video.parts:
            hidden = int(round(frames * float(options["occluded_fraction"])))
            start = (frames - hidden) // 2
            detected[start : start + hidden] = False
        noisy[~detected] = np.nan
        return noisy.astype(np.float32), detected.astype(np.float32)

    def predict(
        self, frames: FrameBatch, slots: Sequence[int]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        if self._keypoints is None or self._scores is None:
            raise BackendError("OracleBackend.predict called before start_video")
        index = slot_indices(frames, slots, f"Model {self.name!r}")
        if index.size and index.max() >= len(self._keypoints):
            raise BackendError(
                f"The video has a frame at slot {index.max()} but its projected keypoints "
                f"{self._projection} hold {len(self._keypoints)} frame slots: they belong to "
                "another video. Regenerate the synthetic dataset."
            )
        return self._keypoints[index], self._scores[index]

    def end_video(self, n_slots: int) -> None:
        if self._keypoints is not None and n_slots != len(self._keypoints):
            raise BackendError(
                f"The video has {n_slots} frame slots but its projected keypoints "
                f"{self._projection} hold {len(self._keypoints)}: they belong to another "
                "video. Regenerate the synthetic dataset."
            )


def create(
    model_name: str, marker_set: str, options: Mapping[str, Any], weights_dir: Path | None
) -> PoseBackend:
    """This backend for `posebench.backends.registry.create_backend`."""
    return OracleBackend(model_name, marker_set, options)
