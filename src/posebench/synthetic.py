"""A synthetic subject in the layout of OpenCap's LabValidation dataset, with a known truth.

An OpenSim model follows smooth analytic motions (sums of sinusoids, Gaussian bumps and
smoothsteps of time, deterministic given a seed). Its markers are computed in ground with
the OpenSim API and projected into five virtual cameras; everything is written exactly where
and how the LabValidation dataset has it, so the whole workflow (with the ``oracle`` pose
backend, which reads the projections) can be scored against the generating coordinates.

Frames and units:

* OpenSim's ground frame: x forward (the direction the subject faces), y up, z to the
  subject's right; metres.
* The calibration's world frame is the frame of a checkerboard with the subject's
  ``placement`` (``backWall`` by default): ``X_board = R.T @ X_opensim``, with ``R`` built
  here from the Euler angles each convention documents for that placement
  (:data:`BOARD_EULER_ANGLES`, through SciPy), independently of the dataset reader's rule
  tables, so reading the subject back tests the reader. The pickles hold world(board)->camera
  rotations and translations in millimetres.
* Camera ``k`` sits on a circle of radius ``camera_distance_m`` about the vertical axis
  through the origin (where every trial is centred), at ``camera_angles_deg[k]``: the
  subject's facing direction (+x) rotated by that angle about +y (positive angles towards
  the subject's left, -z), 1.0-1.3 m high, looking at (0, 0.9, 0).
* Video frame ``j`` is at ``j / fps`` s and mocap sample ``k`` at ``k / mocap_rate_hz`` s;
  both start at 0 and end at the trial's duration.

Layout written under ``root/<subject>/`` (one trial shown)::

    sessionMetadata.yaml
    VideoData/Session0/Cam0/cameraIntrinsicsExtrinsics.pickle
    VideoData/Session0/Cam0/squats1/squats1_syncdWithMocap.avi
    VideoData/Session0/Cam0/squats1/squats1_oracle_keypoints.npz
    OpenSimData/Mocap/IK/squats1.mot
    OpenSimData/Mocap/Model/<subject>_scaled.osim
    MarkerData/Mocap/squats1.trc

The generator does not configure OpenSim's logger: call
:func:`posebench.kinematics.configure_opensim_logging` first, or OpenSim writes
``opensim.log`` into the working directory.
"""

from __future__ import annotations

import hashlib
import math
import pickle
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import opensim as osim
import pandas as pd
import yaml

from posebench.camera import Camera
from posebench.datasets.opencap_frames import board_to_opensim
from posebench.io.atomic import write_json
from posebench.io.keypoints import Keypoints2D, save_keypoints
from posebench.io.mot import write_mot
from posebench.io.trc import write_trc

FloatArray = npt.NDArray[np.float64]

#: Activities the generator knows, with the OpenCap session that holds them.
ACTIVITY_SESSIONS: dict[str, str] = {
    "static": "Session0",
    "squats": "Session0",
    "STS": "Session0",
    "DJ": "Session0",
    "walking": "Session1",
}
#: Duration of each activity's trial in seconds (multiples of 0.05 s, so that the last video
#: frame and the last mocap sample coincide at 60 fps and 100 Hz).
ACTIVITY_DURATIONS_S: dict[str, float] = {
    "static": 1.0,
    "squats": 2.5,
    "STS": 2.0,
    "DJ": 2.0,
    "walking": 2.0,
}
CHECKERBOARD: dict[str, Any] = {
    "placement": "backWall",
    "squareSideLength_mm": 35,
    "black2BlackCornersWidth_n": 4,
    "black2BlackCornersHeight_n": 5,
}
#: Per placement convention and checkerboard placement, the rotation from the board frame
#: into OpenSim's as SciPy Euler angles (lower-case axes: about fixed axes, in order;
#: upper-case: about the rotating body's axes), as OpenCap's own code writes them.
BOARD_EULER_ANGLES: dict[str, dict[str, tuple[str, tuple[float, ...]]]] = {
    "opencapbench": {
        "backWall": ("yz", (90.0, 180.0)),
        "backWall_largeCB": ("y", (-90.0,)),
        "backWall_walking": ("YZ", (-90.0, 180.0)),
        "ground": ("xy", (-90.0, 90.0)),
        "ground_jumps": ("xy", (90.0, 180.0)),
        "ground_gaits": ("xy", (90.0, 90.0)),
    },
    "opencap-core-2024": {
        "backWall": ("yz", (90.0, 180.0)),
        "Perpendicular": ("yz", (90.0, 180.0)),
        "ground": ("xy", (90.0, 90.0)),
        "Lying": ("xy", (90.0, 90.0)),
    },
}
VIDEO_SUFFIX = "_syncdWithMocap.avi"
ORACLE_SUFFIX = "_oracle_keypoints.npz"
CALIBRATION_FILE = "cameraIntrinsicsExtrinsics.pickle"
ORACLE_MODEL = "projection"
#: Files of Pose2Sim's OpenSim set-up folder that :func:`generate_dataset` uses.
SETUP_MODEL = "Model_Pose2Sim_simple.osim"
SETUP_MARKERS = "Markers_LSTM.xml"

# Markers closest to the floor in standing; the static pose puts the lowest at this height.
_FOOT_MARKERS = (
    "r_toe_study",
    "r_5meta_study",
    "r_calc_study",
    "L_toe_study",
    "L_5meta_study",
    "L_calc_study",
)
_FLOOR_CLEARANCE_M = 0.01
_CAMERA_HEIGHT_RANGE_M = (1.0, 1.3)
_CAMERA_TARGET_HEIGHT_M = 0.9
_FOCAL_RANGE_PX = (1000.0, 1060.0)
_PRINCIPAL_OFFSET_PX = 4.0
_IMAGE_MARGIN_PX = 2.0
# Small, realistic OpenCV distortion (k1 k2 p1 p2 k3): lower and upper bounds per coefficient.
_DISTORTION_RANGE = (
    np.array([0.02, -0.06, -6e-4, -6e-4, 0.0]),
    np.array([0.05, -0.02, 6e-4, 6e-4, 0.02]),
)
# Scored DOFs that get a small extra sinusoid in every dynamic trial (amplitude in degrees).
_PERTURBED = (
    "pelvis_tilt",
    "pelvis_list",
    "pelvis_rotation",
    "hip_adduction_r",
    "hip_adduction_l",
    "hip_rotation_r",
    "hip_rotation_l",
    "subtalar_angle_r",
    "subtalar_angle_l",
    "L5_S1_Flex_Ext",
    "L5_S1_Lat_Bending",
    "L5_S1_axial_rotation",
)
_PERTURBATION_AMPLITUDE_DEG = (2.0, 5.0)
_PERTURBATION_FREQUENCY_HZ = (0.4, 1.2)
_VIDEO_BACKGROUND_BGR = (24, 24, 24)
_VIDEO_DOT_BGR = (80, 220, 255)
_VIDEO_DOT_RADIUS_PX = 3


class CoordinateRangeError(ValueError):
    """A synthetic motion leaves a coordinate's range in the model (OpenSim would clamp it)."""


class CameraLayoutError(ValueError):
    """A marker projects outside an image or behind a camera."""


@dataclass(frozen=True)
class SyntheticTrial:
    """One generated trial.

    Attributes:
        name: trial name (activity + "1"), e.g. ``squats1``.
        activity: one of :data:`ACTIVITY_SESSIONS`.
        session: ``Session0`` or ``Session1``.
        duration_s: time of the last video frame and of the last mocap sample, seconds.
        n_video_frames: frames of every camera's video (at ``fps``).
        n_mocap_frames: rows of the ``.mot`` and ``.trc`` (at ``mocap_rate_hz``).
    """

    name: str
    activity: str
    session: str
    duration_s: float
    n_video_frames: int
    n_mocap_frames: int


@dataclass(frozen=True)
class SyntheticSubject:
    """What :func:`generate_subject` wrote.

    Attributes:
        subject_dir: ``root/<subject>``.
        subject: the subject's folder name and ``subjectID``.
        trials: the trials, in generation order.
        cameras: camera folder names (``Cam0`` ...), in the order of ``camera_angles_deg``.
        marker_names: OpenSim marker names, in marker-set order (the keypoint order of the
            oracle files and the marker order of the TRC files).
        coordinate_names: model coordinates, in model order (the columns of the .mot files).
        fps: video frame rate, Hz.
        mocap_rate_hz: rate of the .mot and .trc files, Hz.
        image_size: (width, height) of the videos, pixels.
        mass_kg: subject mass written to the metadata.
        height_m: subject height written to the metadata.
        seed: the motions' seed.
    """

    subject_dir: Path
    subject: str
    trials: tuple[SyntheticTrial, ...]
    cameras: tuple[str, ...]
    marker_names: tuple[str, ...]
    coordinate_names: tuple[str, ...]
    fps: float
    mocap_rate_hz: float
    image_size: tuple[int, int]
    mass_kg: float
    height_m: float
    seed: int

    def trial(self, name: str) -> SyntheticTrial:
        """The trial called ``name``; KeyError naming the available ones otherwise."""
        for trial in self.trials:
            if trial.name == name:
                return trial
        raise KeyError(f"no trial {name!r}; generated: {[t.name for t in self.trials]}")

    def video(self, trial: str, camera: str) -> Path:
        """The video of ``trial`` seen by ``camera``."""
        session = self.trial(trial).session
        return self.subject_dir / "VideoData" / session / camera / trial / f"{trial}{VIDEO_SUFFIX}"

    def oracle_keypoints(self, trial: str, camera: str) -> Path:
        """The projected markers of ``trial`` in ``camera``."""
        video = self.video(trial, camera)
        return video.with_name(f"{trial}{ORACLE_SUFFIX}")

    def calibration(self, session: str, camera: str) -> Path:
        """The calibration pickle of ``camera`` in ``session``."""
        return self.subject_dir / "VideoData" / session / camera / CALIBRATION_FILE

    def ground_truth_motion(self, trial: str) -> Path:
        """The generating coordinates of ``trial`` (.mot, degrees)."""
        return self.subject_dir / "OpenSimData" / "Mocap" / "IK" / f"{trial}.mot"

    def mocap_markers(self, trial: str) -> Path:
        """The markers of ``trial`` in OpenSim's frame (.trc, metres)."""
        return self.subject_dir / "MarkerData" / "Mocap" / f"{trial}.trc"

    def model(self) -> Path:
        """The generating model with its marker set (.osim)."""
        return self.subject_dir / "OpenSimData" / "Mocap" / "Model" / f"{self.subject}_scaled.osim"


# --------------------------------------------------------------------------- ranges


def check_coordinate_ranges(
    values: Mapping[str, npt.ArrayLike],
    ranges: Mapping[str, tuple[float, float]],
    times_s: npt.ArrayLike,
    *,
    context: str,
) -> None:
    """Check that every coordinate stays finite and strictly inside its range.

    Args:
        values: coordinate name -> (T,) values in the model's units (radians or metres).
        ranges: coordinate name -> (min, max) of the model's range, same units.
        times_s: (T,) times of the samples, seconds (for the error message).
        context: what is being checked (e.g. ``"trial squats1"``), for the error message.

    Raises:
        CoordinateRangeError: naming the first offending coordinates, the extreme value, its
            time and the range. OpenSim clamps clamped coordinates to their range, so a
            motion outside it could not be the truth of anything.
    """
    times = np.asarray(times_s, dtype=np.float64)
    problems = []
    for name, raw in values.items():
        if name not in ranges:
            problems.append(f"{name}: not a coordinate of the model")
            continue
        low, high = ranges[name]
        series = np.asarray(raw, dtype=np.float64)
        if series.shape != times.shape:
            problems.append(f"{name}: {series.shape} values for {times.shape} times")
            continue
        bad = ~np.isfinite(series) | (series <= low) | (series >= high)
        if bad.any():
            index = int(np.flatnonzero(bad)[0])
            worst = int(np.argmin(series)) if series[index] <= low else int(np.argmax(series))
            if not np.isfinite(series[index]):
                worst = index
            problems.append(
                f"{name} = {series[worst]:.6g} at t = {times[worst]:.4f} s (outside the open "
                f"range ({low:.6g}, {high:.6g}); {int(bad.sum())} of {series.size} samples)"
            )
    if problems:
        raise CoordinateRangeError(
            f"{context}: the synthetic motion leaves the model's coordinate ranges: "
            + "; ".join(problems)
            + ". OpenSim would clamp these coordinates, so the written truth would be "
            "unreachable; reduce the motion's amplitude."
        )


# --------------------------------------------------------------------------- model


@dataclass
class _Model:
    """The generating OpenSim model, its state and what the motions need to know about it."""

    model: Any  # opensim.Model
    state: Any  # SimTK::State
    coordinates: list[Any]
    coordinate_names: tuple[str, ...]
    rotational: tuple[bool, ...]
    defaults: dict[str, float]
    ranges: dict[str, tuple[float, float]]
    markers: list[Any]
    marker_names: tuple[str, ...]
    standing_pelvis_ty: float
    # Sagittal (x, y) geometry in the default pose, for the planted-feet pelvis position.
    hip_offset: dict[str, FloatArray]  # hip centre - pelvis origin, per side
    thigh: dict[str, FloatArray]  # knee centre - hip centre
    shank: dict[str, FloatArray]  # ankle centre - knee centre

    def set_pose(self, pose: Mapping[str, float]) -> None:
        for coordinate, name in zip(self.coordinates, self.coordinate_names, strict=True):
            coordinate.setValue(self.state, float(pose[name]), False)
        self.model.realizePosition(self.state)

    def marker_positions(self, values: Mapping[str, FloatArray]) -> FloatArray:
        """(T, M, 3) marker positions in ground for (T,) coordinate series."""
        n_samples = len(next(iter(values.values())))
        table = np.stack([values[name] for name in self.coordinate_names], axis=1)
        out = np.empty((n_samples, len(self.markers), 3))
        for i in range(n_samples):
            for coordinate, value in zip(self.coordinates, table[i], strict=True):
                coordinate.setValue(self.state, float(value), False)
            self.model.realizePosition(self.state)
            for j, marker in enumerate(self.markers):
                out[i, j] = marker.getLocationInGround(self.state).to_numpy()
        return out


def _load_model(model_path: Path, marker_set: Path, geometry_dir: Path | None) -> _Model:
    if geometry_dir is not None:
        osim.ModelVisualizer.addDirToGeometrySearchPaths(str(Path(geometry_dir).resolve()))
    for label, path in (("model", model_path), ("marker set", marker_set)):
        if not Path(path).is_file():
            raise FileNotFoundError(f"{label} {path} does not exist")
    model = osim.Model(str(model_path))
    model.updateMarkerSet(osim.MarkerSet(str(marker_set)))
    model.finalizeConnections()
    state = model.initSystem()
    coordinate_set = model.getCoordinateSet()
    coordinates = [coordinate_set.get(i) for i in range(coordinate_set.getSize())]
    names = tuple(c.getName() for c in coordinates)
    marker_set_obj = model.getMarkerSet()
    markers = [marker_set_obj.get(i) for i in range(marker_set_obj.getSize())]
    marker_names = tuple(m.getName() for m in markers)
    missing = [name for name in _FOOT_MARKERS if name not in marker_names]
    if missing:
        raise ValueError(
            f"{marker_set}: the synthetic subject needs the foot markers {missing} (OpenCap "
            "`_study` markers, as in Pose2Sim's Markers_LSTM.xml)"
        )
    rotational = tuple(c.getMotionType() == osim.Coordinate.Rotational for c in coordinates)
    defaults = {c.getName(): float(c.getDefaultValue()) for c in coordinates}
    ranges = {c.getName(): (float(c.getRangeMin()), float(c.getRangeMax())) for c in coordinates}
    needed = {"pelvis_tx", "pelvis_ty", "pelvis_tz", "knee_angle_r", "knee_angle_l"}
    if not needed <= set(names):
        raise ValueError(
            f"{model_path}: the synthetic subject needs the coordinates {sorted(needed)} of a "
            f"gait model (Pose2Sim/OpenCap style), the model has {list(names)}"
        )
    info = _Model(
        model=model,
        state=state,
        coordinates=coordinates,
        coordinate_names=names,
        rotational=rotational,
        defaults=defaults,
        ranges=ranges,
        markers=markers,
        marker_names=marker_names,
        standing_pelvis_ty=defaults["pelvis_ty"],
        hip_offset={},
        thigh={},
        shank={},
    )
    info.set_pose(defaults)
    feet = [marker_names.index(name) for name in _FOOT_MARKERS]
    lowest = min(float(markers[i].getLocationInGround(state).to_numpy()[1]) for i in feet)
    info.standing_pelvis_ty = defaults["pelvis_ty"] + _FLOOR_CLEARANCE_M - lowest
    bodies = model.getBodySet()

    def origin(name: str) -> FloatArray:
        return np.asarray(bodies.get(name).getPositionInGround(state).to_numpy()[:2])

    pelvis = origin("pelvis")
    for side in ("r", "l"):
        hip, knee, ankle = origin(f"femur_{side}"), origin(f"tibia_{side}"), origin(f"talus_{side}")
        info.hip_offset[side] = hip - pelvis
        info.thigh[side] = knee - hip
        info.shank[side] = ankle - knee
    return info


# --------------------------------------------------------------------------- motions


def _smootherstep(x: FloatArray) -> FloatArray:
    """0 below 0, 1 above 1, the C2 quintic 6x^5 - 15x^4 + 10x^3 in between."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * x * (x * (6.0 * x - 15.0) + 10.0)


def _bump(t: FloatArray, centre: float, width: float) -> FloatArray:
    """Gaussian bump of height 1 at ``centre`` with standard deviation ``width`` seconds."""
    return np.exp(-0.5 * ((t - centre) / width) ** 2)


def _rotate(vector: FloatArray, angle: FloatArray) -> FloatArray:
    """Rotate a sagittal (x, y) vector by (T,) angles about +z: (T, 2)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([c * vector[0] - s * vector[1], s * vector[0] + c * vector[1]], axis=1)


def _planted_pelvis(info: _Model, q: Mapping[str, FloatArray]) -> FloatArray:
    """(T, 2) pelvis (tx, ty) that keeps both ankles (in the sagittal plane, ignoring the
    frontal/transverse DOFs and the knee's translation) where they are in standing."""
    tilt = q["pelvis_tilt"]
    estimates = []
    for side in ("r", "l"):
        thigh_angle = tilt + q[f"hip_flexion_{side}"]
        shank_angle = thigh_angle - (q[f"knee_angle_{side}"] - info.defaults[f"knee_angle_{side}"])
        standing_ankle = info.hip_offset[side] + info.thigh[side] + info.shank[side]
        ankle = (
            _rotate(info.hip_offset[side], tilt)
            + _rotate(info.thigh[side], thigh_angle)
            + _rotate(info.shank[side], shank_angle)
        )
        estimates.append(standing_ankle - ankle)
    offset = 0.5 * (estimates[0] + estimates[1])
    return offset + np.array([0.0, info.standing_pelvis_ty])


def _flat_feet_ankle(info: _Model, q: Mapping[str, FloatArray], side: str) -> FloatArray:
    """Ankle angle that keeps the foot's sagittal orientation as in standing."""
    knee = q[f"knee_angle_{side}"] - info.defaults[f"knee_angle_{side}"]
    return info.defaults[f"ankle_angle_{side}"] + knee - q["pelvis_tilt"] - q[f"hip_flexion_{side}"]


def _activity_rng(seed: int, activity: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), zlib.crc32(activity.encode())])


def _perturb(q: dict[str, FloatArray], t: FloatArray, rng: np.random.Generator) -> None:
    """Add a small sinusoid to each scored DOF that the activity leaves (nearly) still."""
    for name in _PERTURBED:
        amplitude = math.radians(rng.uniform(*_PERTURBATION_AMPLITUDE_DEG))
        frequency = rng.uniform(*_PERTURBATION_FREQUENCY_HZ)
        phase = rng.uniform(0.0, 2.0 * np.pi)
        q[name] = q[name] + amplitude * np.sin(2.0 * np.pi * frequency * t + phase)


def _arms(q: dict[str, FloatArray], abduction: float = 0.15) -> None:
    """Arms hanging by the sides, slightly abducted, elbows slightly bent."""
    for side in ("r", "l"):
        q[f"arm_add_{side}"] = q[f"arm_add_{side}"] * 0.0 - abduction
        q[f"elbow_flex_{side}"] = q[f"elbow_flex_{side}"] * 0.0 + 0.3


def _static(
    info: _Model, t: FloatArray, q: dict[str, FloatArray], rng: np.random.Generator
) -> None:
    q["pelvis_ty"] = q["pelvis_ty"] * 0.0 + info.standing_pelvis_ty


def _squats(
    info: _Model, t: FloatArray, q: dict[str, FloatArray], rng: np.random.Generator
) -> None:
    duration = ACTIVITY_DURATIONS_S["squats"]
    lag = rng.uniform(0.01, 0.04)  # the left side trails slightly
    _arms(q)
    for side, delay, gain in (("r", 0.0, 1.0 + rng.uniform(-0.04, 0.04)), ("l", lag, 1.0)):
        depth = np.sin(2.0 * np.pi * (t - delay) / duration) ** 2
        q[f"knee_angle_{side}"] = 0.05 + 1.50 * gain * depth
        q[f"hip_flexion_{side}"] = 0.03 + 1.25 * gain * depth
        q[f"arm_flex_{side}"] = 0.9 * depth
        q[f"elbow_flex_{side}"] = 0.3 + 0.5 * depth
    depth = np.sin(2.0 * np.pi * t / duration) ** 2
    q["pelvis_tilt"] = -0.30 * depth
    q["L5_S1_Flex_Ext"] = -0.15 * depth
    _perturb(q, t, rng)
    for side in ("r", "l"):
        q[f"ankle_angle_{side}"] = _flat_feet_ankle(info, q, side)
    pelvis = _planted_pelvis(info, q)
    q["pelvis_tx"], q["pelvis_ty"] = pelvis[:, 0], pelvis[:, 1]


def _sit_to_stand(
    info: _Model, t: FloatArray, q: dict[str, FloatArray], rng: np.random.Generator
) -> None:
    rise = _smootherstep((t - 0.35) / 1.3)  # 0 seated, 1 standing
    lean = _bump(t, 0.75, 0.22)  # trunk forward lean while rising
    _arms(q)
    for side in ("r", "l"):
        extra = rng.uniform(-0.03, 0.03)
        q[f"hip_flexion_{side}"] = (1.40 + extra) * (1.0 - rise) + 0.03 * rise + 0.25 * lean
        q[f"knee_angle_{side}"] = (1.57 + extra) * (1.0 - rise) + 0.05 * rise
        q[f"arm_flex_{side}"] = 0.5 * lean
    q["pelvis_tilt"] = -0.10 * (1.0 - rise) - 0.30 * lean
    q["L5_S1_Flex_Ext"] = -0.08 * (1.0 - rise) - 0.10 * lean
    _perturb(q, t, rng)
    for side in ("r", "l"):
        q[f"ankle_angle_{side}"] = _flat_feet_ankle(info, q, side)
    pelvis = _planted_pelvis(info, q)
    q["pelvis_tx"], q["pelvis_ty"] = pelvis[:, 0], pelvis[:, 1]


def _drop_jump(
    info: _Model, t: FloatArray, q: dict[str, FloatArray], rng: np.random.Generator
) -> None:
    box_m = 0.30
    landing = _bump(t, 0.90, 0.13)  # absorbing the drop
    second = _bump(t, 1.78, 0.12)  # absorbing the jump's landing
    flight = _bump(t, 1.32, 0.11)  # airborne after the rebound
    _arms(q, abduction=0.25)
    for side in ("r", "l"):
        gain = 1.0 + rng.uniform(-0.05, 0.05)
        q[f"knee_angle_{side}"] = 0.06 + gain * (1.25 * landing + 0.95 * second) + 0.15 * flight
        q[f"hip_flexion_{side}"] = 0.04 + gain * (1.00 * landing + 0.75 * second) + 0.10 * flight
        q[f"arm_flex_{side}"] = -0.45 * landing + 1.0 * flight
        q[f"elbow_flex_{side}"] = 0.3 + 0.4 * landing
    q["pelvis_tilt"] = -0.25 * landing - 0.18 * second
    q["L5_S1_Flex_Ext"] = -0.12 * landing - 0.08 * second
    _perturb(q, t, rng)
    for side in ("r", "l"):
        # Feet flat on the box and the floor, toes pointed in flight.
        q[f"ankle_angle_{side}"] = _flat_feet_ankle(info, q, side) - 0.35 * flight
    pelvis = _planted_pelvis(info, q)
    height = box_m * (1.0 - _smootherstep((t - 0.35) / 0.35)) + 0.28 * flight
    q["pelvis_tx"], q["pelvis_ty"] = pelvis[:, 0], pelvis[:, 1] + height


def _walking(
    info: _Model, t: FloatArray, q: dict[str, FloatArray], rng: np.random.Generator
) -> None:
    period = rng.uniform(1.0, 1.1)  # stride time, s
    phase = 2.0 * np.pi * t / period + rng.uniform(0.0, 2.0 * np.pi)
    _arms(q, abduction=0.12)
    for side, shift in (("r", 0.0), ("l", np.pi)):
        p = phase + shift
        q[f"hip_flexion_{side}"] = 0.17 + 0.38 * np.sin(p)
        q[f"knee_angle_{side}"] = 0.55 + 0.33 * np.sin(p - 1.4) + 0.14 * np.sin(2.0 * p - 0.5)
        q[f"ankle_angle_{side}"] = 0.04 + 0.18 * np.sin(p + 2.0)
        q[f"arm_flex_{side}"] = -0.30 * np.sin(p)
        q[f"elbow_flex_{side}"] = 0.35 + 0.12 * np.sin(p + 0.5)
    q["pelvis_tilt"] = -0.05 + 0.02 * np.sin(2.0 * phase)
    q["pelvis_list"] = 0.05 * np.sin(phase)
    q["pelvis_rotation"] = 0.07 * np.sin(phase + 0.5 * np.pi)
    q["L5_S1_axial_rotation"] = -0.05 * np.sin(phase + 0.5 * np.pi)
    _perturb(q, t, rng)
    duration = ACTIVITY_DURATIONS_S["walking"]
    q["pelvis_tx"] = -1.0 + 2.0 * t / duration
    q["pelvis_ty"] = info.standing_pelvis_ty - 0.015 + 0.012 * np.cos(2.0 * phase)
    q["pelvis_tz"] = 0.02 * np.sin(phase)


_Motion = Callable[[_Model, FloatArray, dict[str, FloatArray], np.random.Generator], None]
_MOTIONS: dict[str, _Motion] = {
    "static": _static,
    "squats": _squats,
    "STS": _sit_to_stand,
    "DJ": _drop_jump,
    "walking": _walking,
}


def _coordinates(
    info: _Model, activity: str, times_s: FloatArray, seed: int
) -> dict[str, FloatArray]:
    """Every model coordinate of ``activity`` at ``times_s``, in radians and metres."""
    q = {name: np.full(times_s.shape, value) for name, value in info.defaults.items()}
    _MOTIONS[activity](info, times_s, q, _activity_rng(seed, activity))
    return {name: np.asarray(q[name], dtype=np.float64) for name in info.coordinate_names}


# --------------------------------------------------------------------------- cameras


def _look_at(centre: FloatArray, target: FloatArray) -> FloatArray:
    """World->camera rotation (OpenCV axes: x right, y down, z forward) of an upright camera
    at ``centre`` looking at ``target``; world y is up."""
    forward = target - centre
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, np.array([0.0, 1.0, 0.0]))
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    return np.stack([right, down, forward])


def synthetic_cameras(
    angles_deg: Sequence[float],
    distance_m: float,
    image_size: tuple[int, int],
    seed: int,
) -> list[Camera]:
    """The virtual cameras, with extrinsics in OpenSim's frame (metres).

    Camera ``k`` (named ``Cam<k>``) is at ``angles_deg[k]`` about the vertical axis from the
    subject's facing direction (+x; positive towards -z), ``distance_m`` from the vertical
    axis through the origin, 1.0-1.3 m high, aimed at (0, 0.9, 0). Focal lengths, principal
    points, heights and distortions vary a little per camera, deterministically given
    ``seed``.
    """
    if not (math.isfinite(distance_m) and distance_m > 0):
        raise ValueError(f"camera_distance_m must be a positive distance, got {distance_m}")
    width, height = (int(v) for v in image_size)
    rng = np.random.default_rng([int(seed), zlib.crc32(b"cameras")])
    target = np.array([0.0, _CAMERA_TARGET_HEIGHT_M, 0.0])
    cameras = []
    for k, angle in enumerate(angles_deg):
        theta = math.radians(float(angle))
        elevation = rng.uniform(*_CAMERA_HEIGHT_RANGE_M)
        centre = np.array([distance_m * math.cos(theta), elevation, -distance_m * math.sin(theta)])
        rotation = _look_at(centre, target)
        focal = rng.uniform(*_FOCAL_RANGE_PX)
        cx, cy = (np.array([width, height]) - 1) / 2 + rng.uniform(
            -_PRINCIPAL_OFFSET_PX, _PRINCIPAL_OFFSET_PX, 2
        )
        matrix = np.array([[focal, 0.0, cx], [0.0, focal, cy], [0.0, 0.0, 1.0]])
        distortion = rng.uniform(*_DISTORTION_RANGE)
        cameras.append(
            Camera(
                name=f"Cam{k}",
                matrix=matrix,
                distortion=distortion,
                rotation=rotation,
                translation_m=-rotation @ centre,
                image_size=(width, height),
            )
        )
    return cameras


def board_rotation(placement: str = "backWall", convention: str = "opencapbench") -> FloatArray:
    """R with X_opensim = R @ X_board for a board with `placement` under `convention`
    (:data:`BOARD_EULER_ANGLES`; a wall board the right way up)."""
    from scipy.spatial.transform import Rotation

    try:
        sequence, angles = BOARD_EULER_ANGLES[convention][placement]
    except KeyError:
        raise ValueError(
            f"no synthetic board for placement {placement!r} under convention {convention!r}; "
            f"known: { {c: sorted(t) for c, t in BOARD_EULER_ANGLES.items()} }"
        ) from None
    matrix = Rotation.from_euler(sequence, angles, degrees=True).as_matrix()
    return np.asarray(np.round(matrix, 12), dtype=np.float64)


def to_board_frame(
    camera: Camera, placement: str = "backWall", convention: str = "opencapbench"
) -> Camera:
    """The same camera with extrinsics in the checkerboard (world) frame."""
    r_b2o = board_rotation(placement, convention)
    return Camera(
        name=camera.name,
        matrix=camera.matrix,
        distortion=camera.distortion,
        rotation=camera.rotation @ r_b2o,
        translation_m=camera.translation_m,
        image_size=camera.image_size,
    )


def _calibration_pickle(camera: Camera) -> dict[str, Any]:
    """The OpenCap calibration dict of a board-frame camera (translation in millimetres)."""
    width, height = camera.image_size
    return {
        "intrinsicMat": np.array(camera.matrix, dtype=np.float64),
        "distortion": np.array(camera.distortion, dtype=np.float64).reshape(1, 5),
        "rotation": np.array(camera.rotation, dtype=np.float64),
        "translation": (1000.0 * np.array(camera.translation_m, dtype=np.float64)).reshape(3, 1),
        # Stale on purpose, like OpenCap's: (height, width), readers take the video's size.
        "imageSize": np.array([[float(height)], [float(width)]]),
    }


def _check_in_image(
    cameras: Sequence[Camera], points_board: FloatArray, context: str
) -> tuple[FloatArray, float]:
    """Project (T, M, 3) board-frame points; raise CameraLayoutError unless every one lies
    in front of every camera and inside its image (with a small margin).

    Returns (C, T, M, 2) pixels and the smallest margin to an image border, in pixels.
    """
    projections = []
    smallest = math.inf
    for camera in cameras:
        depth = (points_board @ camera.rotation.T + camera.translation_m)[..., 2]
        pixels = camera.project(points_board)
        width, height = camera.image_size
        margin = np.minimum.reduce(
            [
                pixels[..., 0],
                pixels[..., 1],
                width - 1 - pixels[..., 0],
                height - 1 - pixels[..., 1],
            ]
        )
        margin = np.where(depth > 0.1, margin, -np.inf)
        if not np.all(margin >= _IMAGE_MARGIN_PX):
            frame, marker = np.unravel_index(int(np.argmin(margin)), margin.shape)
            raise CameraLayoutError(
                f"{context}: in {camera.name} the marker #{marker} of frame {frame} projects to "
                f"{pixels[frame, marker].round(1).tolist()} px (depth {depth[frame, marker]:.2f} "
                f"m), outside the {width}x{height} image (margin {_IMAGE_MARGIN_PX} px); move the "
                "cameras back (camera_distance_m) or reduce the motion."
            )
        smallest = min(smallest, float(margin.min()))
        projections.append(pixels)
    return np.stack(projections), smallest


# --------------------------------------------------------------------------- writers


def _n_samples(duration_s: float, rate_hz: float) -> int:
    return int(math.floor(duration_s * rate_hz + 1e-9)) + 1


def _write_video(path: Path, pixels: FloatArray, fps: float, image_size: tuple[int, int]) -> None:
    """MJPG video of (F, M, 2) projected markers as dots on a dark background."""
    width, height = image_size
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter.fourcc(*"MJPG"), float(fps), (width, height)
    )
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write an MJPG video to {path}")
    background = np.empty((height, width, 3), dtype=np.uint8)
    background[:] = _VIDEO_BACKGROUND_BGR
    shift = 4  # sub-pixel dot centres
    try:
        for frame_pixels in pixels:
            image = background.copy()
            for u, v in np.round(frame_pixels * (1 << shift)).astype(np.int64):
                cv2.circle(
                    image,
                    (int(u), int(v)),
                    _VIDEO_DOT_RADIUS_PX << shift,
                    _VIDEO_DOT_BGR,
                    -1,
                    cv2.LINE_AA,
                    shift,
                )
            writer.write(image)
    finally:
        writer.release()


def _mot_table(info: _Model, times_s: FloatArray, q: Mapping[str, FloatArray]) -> pd.DataFrame:
    columns: dict[str, FloatArray] = {"time": times_s}
    for name, rotational in zip(info.coordinate_names, info.rotational, strict=True):
        columns[name] = np.degrees(q[name]) if rotational else q[name]
    return pd.DataFrame(columns)


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# --------------------------------------------------------------------------- entry points


def generate_subject(
    root: Path,
    *,
    model: Path,
    marker_set: Path,
    geometry_dir: Path | None,
    subject: str = "subject2",
    mass_kg: float = 70.0,
    height_m: float = 1.75,
    fps: float = 60.0,
    mocap_rate_hz: float = 100.0,
    image_size: tuple[int, int] = (720, 1280),
    camera_angles_deg: Sequence[float] = (-70, -45, 0, 45, 70),
    camera_distance_m: float = 4.0,
    seed: int = 0,
    activities: Sequence[str] = ("static", "squats", "STS", "DJ", "walking"),
    placement: str = "backWall",
    placement_convention: str = "opencapbench",
) -> SyntheticSubject:
    """Write a synthetic subject in OpenCap's LabValidation layout under ``root/<subject>``.

    Args:
        root: dataset folder (the parent of the subject folder).
        model: OpenSim model (.osim) that generates the motions (e.g. Pose2Sim's
            ``Model_Pose2Sim_simple.osim``).
        marker_set: marker set (.xml) put on the model (e.g. ``Markers_LSTM.xml``); it must
            have the OpenCap ``_study`` foot markers.
        geometry_dir: the model's mesh folder, added to OpenSim's geometry search path; None
            to leave the search path alone.
        subject: subject folder name and ``subjectID``.
        mass_kg, height_m: written to ``sessionMetadata.yaml`` (the model is not rescaled).
        fps: video frame rate, Hz.
        mocap_rate_hz: rate of the ground-truth .mot and the mocap .trc, Hz.
        image_size: (width, height) of the videos, pixels (portrait by default).
        camera_angles_deg: one camera per angle; see :func:`synthetic_cameras`.
        camera_distance_m: radius of the camera circle, metres.
        seed: seed of the motions' small random variations and of the camera layout.
        activities: activities to generate, among :data:`ACTIVITY_SESSIONS`; trial names are
            the activity + ``"1"``.
        placement, placement_convention: the checkerboard's placement written to
            ``sessionMetadata.yaml`` and the convention (:data:`BOARD_EULER_ANGLES`) that
            says how its frame lies in OpenSim's; read the subject with the same
            ``placement_convention``.

    Returns:
        A :class:`SyntheticSubject` describing what was written.

    Raises:
        ValueError: on unknown or repeated activities or implausible arguments.
        CoordinateRangeError: when a motion leaves a coordinate's range in the model.
        CameraLayoutError: when a marker would project outside an image.
    """
    unknown = [a for a in activities if a not in ACTIVITY_SESSIONS]
    if unknown or len(set(activities)) != len(activities) or not activities:
        raise ValueError(
            f"activities must be distinct names among {list(ACTIVITY_SESSIONS)}, got "
            f"{list(activities)}"
        )
    for label, value in (("fps", fps), ("mocap_rate_hz", mocap_rate_hz), ("mass_kg", mass_kg),
                         ("height_m", height_m)):  # fmt: skip
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{label} must be a positive number, got {value}")
    if not subject or "/" in subject:
        raise ValueError(f"subject must be a folder name, got {subject!r}")
    size = (int(image_size[0]), int(image_size[1]))
    info = _load_model(Path(model), Path(marker_set), geometry_dir)
    cameras_os = synthetic_cameras(camera_angles_deg, camera_distance_m, size, seed)
    r_b2o = board_rotation(placement, placement_convention)
    cameras = [to_board_frame(camera, placement, placement_convention) for camera in cameras_os]
    if not np.allclose(
        board_to_opensim(placement, cameras[0].rotation, placement_convention), r_b2o, atol=1e-9
    ):
        raise CameraLayoutError(
            f"with a {placement!r} board the first camera looks upside down to OpenCap's rule "
            f"({placement_convention}), which would then not recover OpenSim's frame; check "
            "camera_angles_deg"
        )
    subject_dir = Path(root) / subject
    # Compute and check every trial before writing anything.
    computed = []
    for activity in activities:
        name = f"{activity}1"
        duration = ACTIVITY_DURATIONS_S[activity]
        mocap_times = np.arange(_n_samples(duration, mocap_rate_hz)) / mocap_rate_hz
        video_times = np.arange(_n_samples(duration, fps)) / fps
        q_mocap = _coordinates(info, activity, mocap_times, seed)
        q_video = _coordinates(info, activity, video_times, seed)
        for times, q in ((mocap_times, q_mocap), (video_times, q_video)):
            check_coordinate_ranges(q, info.ranges, times, context=f"trial {name}")
        markers_video = info.marker_positions(q_video)
        pixels, _ = _check_in_image(cameras, markers_video @ r_b2o, f"trial {name}")
        trial = SyntheticTrial(
            name=name,
            activity=activity,
            session=ACTIVITY_SESSIONS[activity],
            duration_s=duration,
            n_video_frames=len(video_times),
            n_mocap_frames=len(mocap_times),
        )
        computed.append((trial, mocap_times, q_mocap, info.marker_positions(q_mocap), pixels))

    for trial, mocap_times, q_mocap, markers_mocap, pixels in computed:
        name = trial.name
        mot = subject_dir / "OpenSimData" / "Mocap" / "IK" / f"{name}.mot"
        mot.parent.mkdir(parents=True, exist_ok=True)
        write_mot(mot, _mot_table(info, mocap_times, q_mocap), name="Coordinates", in_degrees=True)
        trc = subject_dir / "MarkerData" / "Mocap" / f"{name}.trc"
        trc.parent.mkdir(parents=True, exist_ok=True)
        write_trc(trc, info.marker_names, mocap_times, markers_mocap, data_rate_hz=mocap_rate_hz)
        for camera, camera_pixels in zip(cameras, pixels, strict=True):
            folder = subject_dir / "VideoData" / trial.session / camera.name / name
            _write_video(folder / f"{name}{VIDEO_SUFFIX}", camera_pixels, fps, size)
            oracle = folder / f"{name}{ORACLE_SUFFIX}"
            save_keypoints(
                oracle,
                Keypoints2D(
                    keypoints_px=camera_pixels.astype(np.float32),
                    scores=np.ones(camera_pixels.shape[:2], dtype=np.float32),
                    keypoint_names=info.marker_names,
                    fps=float(fps),
                    image_size=size,
                    model=ORACLE_MODEL,
                    metadata={
                        "synthetic": True,
                        "subject": subject,
                        "trial": name,
                        "camera": camera.name,
                        "seed": int(seed),
                    },
                ),
            )
    trials = [trial for trial, *_ in computed]

    for session in sorted({trial.session for trial in trials}):
        for camera in cameras:
            path = subject_dir / "VideoData" / session / camera.name / CALIBRATION_FILE
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(pickle.dumps(_calibration_pickle(camera), protocol=4))

    model_out = subject_dir / "OpenSimData" / "Mocap" / "Model" / f"{subject}_scaled.osim"
    model_out.parent.mkdir(parents=True, exist_ok=True)
    info.set_pose(info.defaults)
    info.model.printToXML(str(model_out))

    metadata = {
        "subjectID": subject,
        "mass_kg": float(mass_kg),
        "height_m": float(height_m),
        "openSimModel": Path(model).stem,
        "checkerBoard": {**CHECKERBOARD, "placement": placement},
        "synthetic": True,
        "generator": {
            "module": __name__,
            "seed": int(seed),
            "fps": float(fps),
            "mocap_rate_hz": float(mocap_rate_hz),
            "image_size": list(size),
            "camera_angles_deg": [float(a) for a in camera_angles_deg],
            "camera_distance_m": float(camera_distance_m),
            "activities": list(activities),
            "placement_convention": placement_convention,
            "durations_s": {a: ACTIVITY_DURATIONS_S[a] for a in activities},
            "model_file": Path(model).name,
            "model_sha256": _sha256(Path(model)),
            "marker_set_file": Path(marker_set).name,
            "marker_set_sha256": _sha256(Path(marker_set)),
        },
    }
    (subject_dir / "sessionMetadata.yaml").write_text(
        yaml.safe_dump(metadata, sort_keys=False), encoding="utf-8"
    )
    return SyntheticSubject(
        subject_dir=subject_dir,
        subject=subject,
        trials=tuple(trials),
        cameras=tuple(camera.name for camera in cameras),
        marker_names=info.marker_names,
        coordinate_names=info.coordinate_names,
        fps=float(fps),
        mocap_rate_hz=float(mocap_rate_hz),
        image_size=size,
        mass_kg=float(mass_kg),
        height_m=float(height_m),
        seed=int(seed),
    )


_DATASET_SETTINGS = (
    "subject",
    "mass_kg",
    "height_m",
    "fps",
    "mocap_rate_hz",
    "image_size",
    "camera_angles_deg",
    "camera_distance_m",
    "seed",
    "activities",
    "placement",
    "placement_convention",
)


def generate_dataset(
    output: Path, *, setup_dir: Path, settings: Mapping[str, Any]
) -> SyntheticSubject:
    """Workflow entry point: generate a subject under ``output``'s folder, then write
    ``output`` (JSON: the settings and what was written), the rule's completion marker.

    Args:
        output: the marker file, e.g. ``resources/synthetic/<dataset>/generated.json``; the
            subject goes to ``output.parent / <subject>``.
        setup_dir: Pose2Sim's ``OpenSim_Setup`` folder (``Model_Pose2Sim_simple.osim``,
            ``Markers_LSTM.xml``, ``Geometry/``).
        settings: keyword arguments of :func:`generate_subject` (see ``_DATASET_SETTINGS``).
    """
    unknown = sorted(set(settings) - set(_DATASET_SETTINGS))
    if unknown:
        raise ValueError(
            f"unknown synthetic dataset settings {unknown}; allowed: {list(_DATASET_SETTINGS)}"
        )
    kwargs: dict[str, Any] = dict(settings)
    for key in ("image_size", "camera_angles_deg", "activities"):
        if key in kwargs:
            kwargs[key] = tuple(kwargs[key])
    setup_dir = Path(setup_dir)
    geometry = setup_dir / "Geometry"
    output = Path(output)
    result = generate_subject(
        output.parent,
        model=setup_dir / SETUP_MODEL,
        marker_set=setup_dir / SETUP_MARKERS,
        geometry_dir=geometry if geometry.is_dir() else None,
        **kwargs,
    )
    summary = {
        "settings": {key: settings[key] for key in sorted(settings)},
        "subject": result.subject,
        "subject_dir": result.subject_dir.name,
        "cameras": list(result.cameras),
        "trials": [
            {
                "name": t.name,
                "activity": t.activity,
                "session": t.session,
                "duration_s": t.duration_s,
                "n_video_frames": t.n_video_frames,
                "n_mocap_frames": t.n_mocap_frames,
            }
            for t in result.trials
        ],
        "fps": result.fps,
        "mocap_rate_hz": result.mocap_rate_hz,
        "image_size": list(result.image_size),
    }
    write_json(output, summary)
    return result
