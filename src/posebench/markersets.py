"""Marker sets: how a pose model's keypoints map onto an OpenSim model's markers.

A marker set names the keypoints a model must output (in order), the OpenSim marker each
keypoint becomes in the TRC file, and the OpenSim files (model, marker definitions,
scaling and IK set-ups) to use, relative to an OpenSim set-up folder. Set-ups written for
a richer marker set are adapted at run time (see `posebench.opensim.setups`): IK tasks and
scaling marker pairs of markers this set does not provide are left out, `ik_weights`
override task weights, and `scaling_pairs` replace the marker pairs of named measurements.
`coordinate_aliases` maps canonical coordinate names (OpenCapBench's) to the model's.
`setup_source` names the folder of OpenSim files (config `opensim.setups`) the file
names are relative to. `ik_coordinate_tasks=False` switches off the set-up's coordinate
tasks (priors pulling a coordinate towards a value), for marker sets that determine those
coordinates.

`augmenter` names a marker augmenter (`posebench.augmenter`): the triangulated markers
(`marker_names`) are then its inputs, and the OpenSim files use its output markers, which
the `augment` stage writes next to the inputs (`opensim_marker_names`). `copies` gives a
marker the position of another keypoint, for an input the model does not detect (BlazePose's
foot index stands in for the small toe).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from posebench.augmenter import AugmenterError, missing_inputs, output_markers
from posebench.skeletons import (
    ANATOMICAL_KEYPOINTS,
    BLAZEPOSE_KEYPOINTS,
    COCO_KEYPOINTS,
    COCO_WHOLEBODY_KEYPOINTS,
    HALPE26_KEYPOINTS,
)

_COCO_TO_POSE2SIM = {
    "nose": "Nose",
    "left_shoulder": "LShoulder", "right_shoulder": "RShoulder",
    "left_elbow": "LElbow", "right_elbow": "RElbow",
    "left_wrist": "LWrist", "right_wrist": "RWrist",
    "left_hip": "LHip", "right_hip": "RHip",
    "left_knee": "LKnee", "right_knee": "RKnee",
    "left_ankle": "LAnkle", "right_ankle": "RAnkle",
}  # fmt: skip

# COCO-WholeBody's body and foot keypoints onto Pose2Sim's COCO-133 marker set
# (Markers_Coco133.xml), which has the eyes and feet but no Neck. The face and hand keypoints
# stay in the 2D keypoint files only: they become no marker (Pose2Sim takes its RThumb,
# RIndex and RPinky markers, weight 0.2 in IK, from hand keypoints; they are left out here).
_COCO_WHOLEBODY_TO_POSE2SIM = {
    **_COCO_TO_POSE2SIM,
    "left_eye": "LEye", "right_eye": "REye",
    "left_big_toe": "LBigToe", "left_small_toe": "LSmallToe", "left_heel": "LHeel",
    "right_big_toe": "RBigToe", "right_small_toe": "RSmallToe", "right_heel": "RHeel",
}  # fmt: skip

# Anatomical keypoints onto the OpenCap-style `_study` markers of Pose2Sim's LSTM marker set
# (Markers_LSTM.xml). sternum, big toes, L2, T11 and T6 have no marker there.
_ANATOMICAL_TO_STUDY = {
    "C7": "C7_study",
    "rshoulder": "r_shoulder_study", "lshoulder": "L_shoulder_study",
    "r_lelbow": "r_lelbow_study", "l_lelbow": "L_lelbow_study",
    "r_melbow": "r_melbow_study", "l_melbow": "L_melbow_study",
    "r_lwrist": "r_lwrist_study", "l_lwrist": "L_lwrist_study",
    "r_mwrist": "r_mwrist_study", "l_mwrist": "L_mwrist_study",
    "r_ASIS": "r.ASIS_study", "l_ASIS": "L.ASIS_study",
    "r_PSIS": "r.PSIS_study", "l_PSIS": "L.PSIS_study",
    "r_knee": "r_knee_study", "l_knee": "L_knee_study",
    "r_mknee": "r_mknee_study", "l_mknee": "L_mknee_study",
    "r_ankle": "r_ankle_study", "l_ankle": "L_ankle_study",
    "r_mankle": "r_mankle_study", "l_mankle": "L_mankle_study",
    "r_toe": "r_toe_study", "l_toe": "L_toe_study",
    "r_5meta": "r_5meta_study", "l_5meta": "L_5meta_study",
    "r_calc": "r_calc_study", "l_calc": "L_calc_study",
}  # fmt: skip

# OpenCapBench's IK weights for SynthPose markers: 25 on ASIS/PSIS, 10 on knees and ankles,
# 7 on feet, 5 on spine, shoulders and arms.
_ANATOMICAL_IK_WEIGHTS = {
    **dict.fromkeys(["r.ASIS_study", "L.ASIS_study", "r.PSIS_study", "L.PSIS_study"], 25.0),
    **dict.fromkeys(
        [f"{s}_{m}_study" for s in ("r", "L") for m in ("knee", "mknee", "ankle", "mankle")],
        10.0,
    ),
    **dict.fromkeys([f"{s}_{m}_study" for s in ("r", "L") for m in ("toe", "5meta", "calc")], 7.0),
    **dict.fromkeys(
        ["C7_study", "r_shoulder_study", "L_shoulder_study"]
        + [f"{s}_{m}_study" for s in ("r", "L") for m in ("lelbow", "melbow", "lwrist", "mwrist")],
        5.0,
    ),
}

# Measurements of Scaling_Setup_Pose2Sim_LSTM.xml whose pairs use markers the anatomical
# set lacks (hip joint centres, RShoulder/RElbow), re-expressed with anatomical markers.
_ANATOMICAL_SCALING_PAIRS: dict[str, tuple[tuple[str, str], ...]] = {
    "femur_r": (("r.ASIS_study", "r_knee_study"),),
    "femur_l": (("L.ASIS_study", "L_knee_study"),),
    "pelvisZ": (("r.ASIS_study", "L.ASIS_study"),),
    "torsoXY": (("r_shoulder_study", "r.PSIS_study"), ("L_shoulder_study", "L.PSIS_study")),
    "torsoZ": (("r_shoulder_study", "L_shoulder_study"),),
    "humerus": (("r_shoulder_study", "r_lelbow_study"), ("L_shoulder_study", "L_lelbow_study")),
}

# Pose2Sim's models name the lumbar joint's coordinates after L5/S1.
POSE2SIM_COORDINATE_ALIASES = {
    "lumbar_extension": "L5_S1_Flex_Ext",
    "lumbar_bending": "L5_S1_Lat_Bending",
    "lumbar_rotation": "L5_S1_axial_rotation",
}


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
    ik_weights: dict[str, float] = field(default_factory=dict)
    scaling_pairs: dict[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    coordinate_aliases: dict[str, str] = field(default_factory=dict)
    ik_coordinate_tasks: bool = True
    setup_source: str = "pose2sim"
    midpoints: dict[str, tuple[str, str]] = field(default_factory=dict)
    copies: dict[str, str] = field(default_factory=dict)
    augmenter: str | None = None

    def __post_init__(self) -> None:
        missing = set(self.markers) - set(self.keypoints)
        missing |= {k for pair in self.midpoints.values() for k in pair} - set(self.keypoints)
        missing |= set(self.copies.values()) - set(self.keypoints)
        if missing:
            raise MarkerSetError(
                f"Marker set {self.name!r} maps unknown keypoints {sorted(missing)}"
            )
        if self.augmenter is not None:
            try:
                absent = missing_inputs(self.augmenter, self.marker_names)
            except AugmenterError as error:
                raise MarkerSetError(f"Marker set {self.name!r}: {error}") from None
            if absent:
                raise MarkerSetError(
                    f"Marker set {self.name!r} cannot feed the marker augmenter "
                    f"{self.augmenter!r}: it lacks the input markers {absent} (its keypoints "
                    f"give {list(self.marker_names)})."
                )

    @property
    def marker_names(self) -> tuple[str, ...]:
        """Triangulated marker names (the TRC column order): mapped keypoints in keypoint
        order, then the `midpoints` markers, then the `copies`."""
        mapped = tuple(self.markers[k] for k in self.keypoints if k in self.markers)
        return mapped + tuple(self.midpoints) + tuple(self.copies)

    @property
    def opensim_marker_names(self) -> tuple[str, ...]:
        """The markers the OpenSim steps get: the triangulated ones, followed by the
        augmenter's outputs when the set has an augmenter."""
        if self.augmenter is None:
            return self.marker_names
        return self.marker_names + output_markers(self.augmenter)

    def marker_positions(self, keypoints: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """(..., M, 3) marker positions from (..., K, 3) keypoint positions: mapped keypoints,
        then midpoints of keypoint pairs (e.g. COCO's Neck between the shoulders), then
        copies of keypoints."""
        index = {name: i for i, name in enumerate(self.keypoints)}
        mapped = [index[k] for k in self.keypoints if k in self.markers]
        columns = [keypoints[..., mapped, :]]
        columns += [
            0.5 * (keypoints[..., [index[a]], :] + keypoints[..., [index[b]], :])
            for a, b in self.midpoints.values()
        ]
        columns += [keypoints[..., [index[k]], :] for k in self.copies.values()]
        return np.concatenate(columns, axis=-2)

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
                    f"Check `opensim: setups: {self.setup_source}` in the config."
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

# Halpe26 (e.g. RTMPose Halpe26, Pose2Sim's default) onto Pose2Sim's Halpe26 marker set: every
# keypoint but the eyes and ears has a marker, the neck, mid-hip and head top included.
_HALPE26_TO_POSE2SIM = {
    **_COCO_TO_POSE2SIM,
    "head": "Head", "neck": "Neck", "hip": "Hip",
    "left_big_toe": "LBigToe", "right_big_toe": "RBigToe",
    "left_small_toe": "LSmallToe", "right_small_toe": "RSmallToe",
    "left_heel": "LHeel", "right_heel": "RHeel",
}  # fmt: skip

#: The marker augmenter of the `-lstm` marker sets (posebench.augmenter).
LSTM_AUGMENTER = "lstm-v0.3"


def augmented(
    base: MarkerSet,
    name: str,
    *,
    augmenter: str = LSTM_AUGMENTER,
    midpoints: dict[str, tuple[str, str]] | None = None,
    copies: dict[str, str] | None = None,
    opencap_core: bool = False,
) -> MarkerSet:
    """`base`'s keypoints through the marker augmenter into the `_study` markers OpenCap
    tracks, with OpenCap's IK weights: on Pose2Sim's model with its LSTM set-ups (the same
    weights as opencap-core's Setup_IK.xml), or with `opencap_core` on OpenCap's
    LaiUhlrich2022 with opencap-core's set-ups. `midpoints` and `copies` supply inputs the
    keypoints lack. MarkerSetError naming the missing inputs when `base` cannot feed it."""
    # The base's keypoints and their markers; everything on the OpenSim side is set here.
    common = replace(
        base,
        name=name,
        midpoints={**base.midpoints, **(midpoints or {})},
        copies={**base.copies, **(copies or {})},
        augmenter=augmenter,
        ik_weights={},
        scaling_pairs={},
    )
    if opencap_core:
        return replace(
            common,
            opensim_model="LaiUhlrich2022.osim",
            opensim_markers="LaiUhlrich2022_markers_augmenter.xml",
            scaling_setup="Setup_scaling_LaiUhlrich2022.xml",
            ik_setup="Setup_IK.xml",
            coordinate_aliases={},
            ik_coordinate_tasks=True,
            setup_source="opencap-core",
        )
    return replace(
        common,
        opensim_model="Model_Pose2Sim_simple.osim",
        opensim_markers="Markers_LSTM.xml",
        scaling_setup="Scaling_Setup_Pose2Sim_LSTM.xml",
        ik_setup="IK_Setup_Pose2Sim_withoutHands_LSTM.xml",
        coordinate_aliases=POSE2SIM_COORDINATE_ALIASES,
        # As for `anatomical`: ASIS, PSIS, C7 and the shoulders determine the lumbar joint,
        # and the set-up's L5_S1 prior would bias it.
        ik_coordinate_tasks=False,
        setup_source="pose2sim",
    )


MARKER_SETS: dict[str, MarkerSet] = {
    "blazepose": MarkerSet(
        name="blazepose",
        keypoints=BLAZEPOSE_KEYPOINTS,
        markers=_BLAZEPOSE_TO_POSE2SIM,
        opensim_model="Model_Pose2Sim_simple.osim",
        opensim_markers="Markers_BlazePose.xml",
        scaling_setup="Scaling_Setup_Pose2Sim_Blazepose.xml",
        ik_setup="IK_Setup_Pose2Sim_Blazepose.xml",
        coordinate_aliases=POSE2SIM_COORDINATE_ALIASES,
    ),
    # COCO-17 joint-centre keypoints (e.g. a COCO ViTPose baseline) onto Pose2Sim's COCO-17
    # marker set; its Neck is the midpoint of the shoulders.
    "coco17": MarkerSet(
        name="coco17",
        keypoints=COCO_KEYPOINTS,
        markers=_COCO_TO_POSE2SIM,
        opensim_model="Model_Pose2Sim_simple.osim",
        opensim_markers="Markers_Coco17.xml",
        scaling_setup="Scaling_Setup_Pose2Sim_Coco17.xml",
        ik_setup="IK_Setup_Pose2Sim_Coco17.xml",
        coordinate_aliases=POSE2SIM_COORDINATE_ALIASES,
        midpoints={"Neck": ("left_shoulder", "right_shoulder")},
    ),
    # COCO-WholeBody's 133 keypoints (e.g. RTMPose/DWPose wholebody models) onto Pose2Sim's
    # COCO-133 marker set: body and feet only (see _COCO_WHOLEBODY_TO_POSE2SIM).
    "coco_wholebody": MarkerSet(
        name="coco_wholebody",
        keypoints=COCO_WHOLEBODY_KEYPOINTS,
        markers=_COCO_WHOLEBODY_TO_POSE2SIM,
        opensim_model="Model_Pose2Sim_simple.osim",
        opensim_markers="Markers_Coco133.xml",
        scaling_setup="Scaling_Setup_Pose2Sim_Coco133.xml",
        ik_setup="IK_Setup_Pose2Sim_Coco133.xml",
        coordinate_aliases=POSE2SIM_COORDINATE_ALIASES,
    ),
    "anatomical": MarkerSet(
        name="anatomical",
        keypoints=ANATOMICAL_KEYPOINTS,
        markers=_ANATOMICAL_TO_STUDY,
        opensim_model="Model_Pose2Sim_simple.osim",
        opensim_markers="Markers_LSTM.xml",
        scaling_setup="Scaling_Setup_Pose2Sim_LSTM.xml",
        ik_setup="IK_Setup_Pose2Sim_withoutHands_LSTM.xml",
        ik_weights=_ANATOMICAL_IK_WEIGHTS,
        scaling_pairs=_ANATOMICAL_SCALING_PAIRS,
        coordinate_aliases=POSE2SIM_COORDINATE_ALIASES,
        # The LSTM set-up pulls L5_S1_Flex_Ext towards 0 (weight 0.1). Simbody averages the
        # marker cost over the weights, so that prior outweighs every marker and biases
        # lumbar flexion, pelvis tilt and hip flexion by 3-5 deg on synthetic squats. C7,
        # the shoulders, ASIS and PSIS determine the lumbar joint without it.
        ik_coordinate_tasks=False,
    ),
    # OpenCapBench's own model: LaiUhlrich2022 with OpenCap's augmenter markers (the same
    # `_study` names), fetched from opencap-core (posebench.fetch.fetch_opencap_core).
    "anatomical-lai2022": MarkerSet(
        name="anatomical-lai2022",
        keypoints=ANATOMICAL_KEYPOINTS,
        markers=_ANATOMICAL_TO_STUDY,
        opensim_model="LaiUhlrich2022.osim",
        opensim_markers="LaiUhlrich2022_markers_augmenter.xml",
        scaling_setup="Setup_scaling_LaiUhlrich2022.xml",
        ik_setup="Setup_IK.xml",
        ik_weights=_ANATOMICAL_IK_WEIGHTS,
        scaling_pairs=_ANATOMICAL_SCALING_PAIRS,
        setup_source="opencap-core",
    ),
    # Halpe26 joint centres and feet onto Pose2Sim's Halpe26 marker set and set-ups (IK
    # straight on joint-centre markers; the set-up's L5_S1 prior stays on: three collinear
    # hip markers leave the pelvis tilt to it).
    "halpe26": MarkerSet(
        name="halpe26",
        keypoints=HALPE26_KEYPOINTS,
        markers=_HALPE26_TO_POSE2SIM,
        opensim_model="Model_Pose2Sim_simple.osim",
        opensim_markers="Markers_Halpe26.xml",
        scaling_setup="Scaling_Setup_Pose2Sim_Halpe26.xml",
        ik_setup="IK_Setup_Pose2Sim_Halpe26.xml",
        coordinate_aliases=POSE2SIM_COORDINATE_ALIASES,
    ),
}

# Marker sets whose keypoints go through OpenCap's LSTM marker augmenter (the `augment`
# stage). Halpe26 and COCO-WholeBody have every input (COCO-WholeBody's neck is the midpoint
# of its shoulders). BlazePose has no small toe: its foot index stands in for it, which on
# the synthetic model moves the augmented toe and 5th-metatarsal markers by about 20 mm more
# (mean marker error 39.3 -> 40.1 mm). COCO-17 has no feet and cannot feed the augmenter.
_NECK = {"Neck": ("left_shoulder", "right_shoulder")}
_FOOT_INDEX_AS_SMALL_TOE = {"RSmallToe": "right_foot_index", "LSmallToe": "left_foot_index"}
for _base, _midpoints, _copies in (
    ("halpe26", {}, {}),
    ("coco_wholebody", _NECK, {}),
    ("blazepose", _NECK, _FOOT_INDEX_AS_SMALL_TOE),
):
    for _suffix, _opencap_core in (("-lstm", False), ("-lstm-lai2022", True)):
        MARKER_SETS[_base + _suffix] = augmented(
            MARKER_SETS[_base],
            _base + _suffix,
            midpoints=_midpoints,
            copies=_copies,
            opencap_core=_opencap_core,
        )


def get_marker_set(name: str) -> MarkerSet:
    try:
        return MARKER_SETS[name]
    except KeyError:
        raise MarkerSetError(
            f"Unknown marker set {name!r}; available: {', '.join(sorted(MARKER_SETS))}."
        ) from None
