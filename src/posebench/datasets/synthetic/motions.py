"""The synthetic subject's motions: smooth analytic functions of time (sums of sinusoids,
Gaussian bumps and smoothsteps), deterministic given a seed. Pure NumPy.

A motion sets the coordinates of a :class:`BodyModel` (what the motions need to know about
the generating OpenSim model) at given times, in the model's units (radians and metres).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

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


class CoordinateRangeError(ValueError):
    """A synthetic motion leaves a coordinate's range in the model (OpenSim would clamp it)."""


@dataclass(frozen=True)
class BodyModel:
    """What the motions need to know about the generating model.

    Attributes:
        coordinate_names: model coordinates, in model order.
        rotational: per coordinate, whether it is an angle (radians) rather than a length.
        defaults: coordinate name -> default value (the standing pose).
        ranges: coordinate name -> (min, max) of the model's range.
        standing_pelvis_ty: pelvis height that puts the lowest foot marker of the default
            pose just above the floor, metres.
        hip_offset: per side (``r``, ``l``), hip centre - pelvis origin in the default pose,
            sagittal (x, y), metres.
        thigh: per side, knee centre - hip centre, likewise.
        shank: per side, ankle centre - knee centre, likewise.
    """

    coordinate_names: tuple[str, ...]
    rotational: tuple[bool, ...]
    defaults: dict[str, float]
    ranges: dict[str, tuple[float, float]]
    standing_pelvis_ty: float
    hip_offset: dict[str, FloatArray]
    thigh: dict[str, FloatArray]
    shank: dict[str, FloatArray]


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
        problem = _range_problem(name, np.asarray(raw, dtype=np.float64), ranges[name], times)
        if problem:
            problems.append(problem)
    if problems:
        raise CoordinateRangeError(
            f"{context}: the synthetic motion leaves the model's coordinate ranges: "
            + "; ".join(problems)
            + ". OpenSim would clamp these coordinates, so the written truth would be "
            "unreachable; reduce the motion's amplitude."
        )


def _range_problem(
    name: str, series: FloatArray, limits: tuple[float, float], times: FloatArray
) -> str | None:
    """What is wrong with one coordinate's series, or None."""
    low, high = limits
    if series.shape != times.shape:
        return f"{name}: {series.shape} values for {times.shape} times"
    bad = ~np.isfinite(series) | (series <= low) | (series >= high)
    if not bad.any():
        return None
    index = int(np.flatnonzero(bad)[0])
    worst = int(np.argmin(series)) if series[index] <= low else int(np.argmax(series))
    if not np.isfinite(series[index]):
        worst = index
    return (
        f"{name} = {series[worst]:.6g} at t = {times[worst]:.4f} s (outside the open "
        f"range ({low:.6g}, {high:.6g}); {int(bad.sum())} of {series.size} samples)"
    )


# --------------------------------------------------------------------------- helpers


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


def _planted_pelvis(body: BodyModel, q: Mapping[str, FloatArray]) -> FloatArray:
    """(T, 2) pelvis (tx, ty) that keeps both ankles (in the sagittal plane, ignoring the
    frontal/transverse DOFs and the knee's translation) where they are in standing."""
    tilt = q["pelvis_tilt"]
    estimates = []
    for side in ("r", "l"):
        thigh_angle = tilt + q[f"hip_flexion_{side}"]
        shank_angle = thigh_angle - (q[f"knee_angle_{side}"] - body.defaults[f"knee_angle_{side}"])
        standing_ankle = body.hip_offset[side] + body.thigh[side] + body.shank[side]
        ankle = (
            _rotate(body.hip_offset[side], tilt)
            + _rotate(body.thigh[side], thigh_angle)
            + _rotate(body.shank[side], shank_angle)
        )
        estimates.append(standing_ankle - ankle)
    offset = 0.5 * (estimates[0] + estimates[1])
    return offset + np.array([0.0, body.standing_pelvis_ty])


def _flat_feet_ankle(body: BodyModel, q: Mapping[str, FloatArray], side: str) -> FloatArray:
    """Ankle angle that keeps the foot's sagittal orientation as in standing."""
    knee = q[f"knee_angle_{side}"] - body.defaults[f"knee_angle_{side}"]
    return body.defaults[f"ankle_angle_{side}"] + knee - q["pelvis_tilt"] - q[f"hip_flexion_{side}"]


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


def _feet_on_the_floor(body: BodyModel, q: dict[str, FloatArray]) -> None:
    """Flat feet and a pelvis that keeps the ankles where they are in standing."""
    for side in ("r", "l"):
        q[f"ankle_angle_{side}"] = _flat_feet_ankle(body, q, side)
    pelvis = _planted_pelvis(body, q)
    q["pelvis_tx"], q["pelvis_ty"] = pelvis[:, 0], pelvis[:, 1]


# --------------------------------------------------------------------------- activities


def _static(
    body: BodyModel, t: FloatArray, q: dict[str, FloatArray], rng: np.random.Generator
) -> None:
    q["pelvis_ty"] = q["pelvis_ty"] * 0.0 + body.standing_pelvis_ty


def _squats(
    body: BodyModel, t: FloatArray, q: dict[str, FloatArray], rng: np.random.Generator
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
    _feet_on_the_floor(body, q)


def _sit_to_stand(
    body: BodyModel, t: FloatArray, q: dict[str, FloatArray], rng: np.random.Generator
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
    _feet_on_the_floor(body, q)


def _drop_jump(
    body: BodyModel, t: FloatArray, q: dict[str, FloatArray], rng: np.random.Generator
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
        q[f"ankle_angle_{side}"] = _flat_feet_ankle(body, q, side) - 0.35 * flight
    pelvis = _planted_pelvis(body, q)
    height = box_m * (1.0 - _smootherstep((t - 0.35) / 0.35)) + 0.28 * flight
    q["pelvis_tx"], q["pelvis_ty"] = pelvis[:, 0], pelvis[:, 1] + height


def _walking(
    body: BodyModel, t: FloatArray, q: dict[str, FloatArray], rng: np.random.Generator
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
    q["pelvis_ty"] = body.standing_pelvis_ty - 0.015 + 0.012 * np.cos(2.0 * phase)
    q["pelvis_tz"] = 0.02 * np.sin(phase)


_Motion = Callable[[BodyModel, FloatArray, dict[str, FloatArray], np.random.Generator], None]
_MOTIONS: dict[str, _Motion] = {
    "static": _static,
    "squats": _squats,
    "STS": _sit_to_stand,
    "DJ": _drop_jump,
    "walking": _walking,
}


def activity_coordinates(
    body: BodyModel, activity: str, times_s: FloatArray, seed: int
) -> dict[str, FloatArray]:
    """Every model coordinate of ``activity`` at ``times_s``, in radians and metres, in
    model order."""
    q = {name: np.full(times_s.shape, value) for name, value in body.defaults.items()}
    _MOTIONS[activity](body, times_s, q, _activity_rng(seed, activity))
    return {name: np.asarray(q[name], dtype=np.float64) for name in body.coordinate_names}
