"""Marker sets: how a pose model's keypoints map onto an OpenSim model's markers.

A marker set names the keypoints a model must output (in order), the OpenSim marker each
keypoint becomes in the TRC file, and the OpenSim files (model, marker definitions,
scaling and IK set-ups) to use, relative to an OpenSim set-up folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from posebench.backends.mediapipe_blazepose import BLAZEPOSE_KEYPOINTS


class MarkerSetError(ValueError):
    """A marker set is unknown or does not fit a model's keypoints."""


@dataclass(frozen=True)
class MarkerSet:
    """Keypoints expected from the model, keypoint -> OpenSim marker, and OpenSim files."""

    name: str
    keypoints: tuple[str, ...]
    markers: dict[str, str]
    opensim_model: str
    opensim_markers: str
    scaling_setup: str
    ik_setup: str

    def __post_init__(self) -> None:
        missing = set(self.markers) - set(self.keypoints)
        if missing:
            raise MarkerSetError(
                f"Marker set {self.name!r} maps unknown keypoints {sorted(missing)}"
            )

    @property
    def marker_names(self) -> tuple[str, ...]:
        """OpenSim marker names in keypoint order (the TRC column order)."""
        return tuple(self.markers[k] for k in self.keypoints if k in self.markers)

    @property
    def marker_keypoint_indices(self) -> tuple[int, ...]:
        """Index into the model's keypoints of each TRC marker, in `marker_names` order."""
        return tuple(i for i, k in enumerate(self.keypoints) if k in self.markers)

    def check_keypoints(self, keypoint_names: Sequence[str], source: str) -> None:
        """Raise unless `keypoint_names` (from a model or file) are exactly this set's."""
        if tuple(keypoint_names) == self.keypoints:
            return
        raise MarkerSetError(
            f"{source} outputs {len(keypoint_names)} keypoints but marker set {self.name!r} "
            f"expects {len(self.keypoints)} in this order: {', '.join(self.keypoints)}. "
            "Pick the marker set that matches the checkpoint in config/config.yaml."
        )

    def opensim_paths(self, setup_dir: Path) -> dict[str, Path]:
        """Absolute paths of this set's OpenSim files inside `setup_dir`, checked to exist."""
        paths = {
            "model": setup_dir / self.opensim_model,
            "markers": setup_dir / self.opensim_markers,
            "scaling_setup": setup_dir / self.scaling_setup,
            "ik_setup": setup_dir / self.ik_setup,
        }
        for role, path in paths.items():
            if not path.is_file():
                raise MarkerSetError(
                    f"OpenSim {role} file for marker set {self.name!r} not found: {path}. "
                    "Check `opensim: setup_dir` in config/config.yaml."
                )
        return {role: path.resolve() for role, path in paths.items()}


_BLAZEPOSE_TO_POSE2SIM = {
    "nose": "Nose", "left_eye": "LEye", "right_eye": "REye",
    "left_shoulder": "LShoulder", "right_shoulder": "RShoulder",
    "left_elbow": "LElbow", "right_elbow": "RElbow",
    "left_wrist": "LWrist", "right_wrist": "RWrist",
    "left_pinky": "LPinky", "right_pinky": "RPinky",
    "left_index": "LIndex", "right_index": "RIndex",
    "left_thumb": "LThumb", "right_thumb": "RThumb",
    "left_hip": "LHip", "right_hip": "RHip",
    "left_knee": "LKnee", "right_knee": "RKnee",
    "left_ankle": "LAnkle", "right_ankle": "RAnkle",
    "left_heel": "LHeel", "right_heel": "RHeel",
    "left_foot_index": "LBigToe", "right_foot_index": "RBigToe",
}  # fmt: skip

MARKER_SETS: dict[str, MarkerSet] = {
    "blazepose": MarkerSet(
        name="blazepose",
        keypoints=BLAZEPOSE_KEYPOINTS,
        markers=_BLAZEPOSE_TO_POSE2SIM,
        opensim_model="Model_Pose2Sim_simple.osim",
        opensim_markers="Markers_BlazePose.xml",
        scaling_setup="Scaling_Setup_Pose2Sim_Blazepose.xml",
        ik_setup="IK_Setup_Pose2Sim_Blazepose.xml",
    ),
}


def get_marker_set(name: str) -> MarkerSet:
    try:
        return MARKER_SETS[name]
    except KeyError:
        raise MarkerSetError(
            f"Unknown marker set {name!r}; available: {', '.join(sorted(MARKER_SETS))}."
        ) from None
