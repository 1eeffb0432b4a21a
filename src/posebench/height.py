"""Participant height estimated from triangulated markers, for when a dataset does not give
it (the Pose2Sim demo's `participant_height = 'auto'`).

Segment lengths do not depend on the posture, so the estimate uses them rather than how tall
the person stands: the median over the frames of the shank (ankle to knee) and thigh (knee
to hip) lengths, each the mean of both sides, and of the trunk (mid-hip to mid-shoulder),
summed and divided by the fraction of stature they make up together, 0.779 (Winter,
*Biomechanics and Motor Control of Human Movement*, 4th ed., Fig. 4.1: shank 0.246, thigh
0.245, hip to shoulder 0.288). On Pose2Sim's generic model, whose head top is 1.70 m above
the floor standing, its Halpe26 markers give 0.408 + 0.383 + 0.529 m: 1.695 m.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

#: Shank, thigh and hip-to-shoulder lengths together, as a fraction of stature (Winter).
SEGMENTS_FRACTION = 0.246 + 0.245 + 0.288
NEEDED_MARKERS = (
    "RAnkle", "LAnkle", "RKnee", "LKnee", "RHip", "LHip", "RShoulder", "LShoulder",
)  # fmt: skip
#: Estimates outside this range (m) are errors: the markers are not of an adult.
PLAUSIBLE_M = (1.0, 2.3)
METHOD = (
    "median shank + thigh + trunk (mid-hip to mid-shoulder) length / 0.779 (Winter's "
    "segment lengths as fractions of stature)"
)


class HeightError(ValueError):
    """The height cannot be estimated from the markers given."""


@dataclass(frozen=True)
class HeightEstimate:
    """An estimated height (m), the median segment lengths it is made of (m), and the
    number of frames they were measured in."""

    height_m: float
    segment_lengths_m: dict[str, float]
    frames: int
    method: str = METHOD


def estimate_height(
    marker_names: Sequence[str], positions_m: npt.NDArray[np.float64], source: str
) -> HeightEstimate:
    """The participant's height from (T, M, 3) marker positions (metres) of a trial whose
    columns are `marker_names`; HeightError naming `source` and the fix."""
    column = {name: i for i, name in enumerate(marker_names)}
    absent = [name for name in NEEDED_MARKERS if name not in column]
    if absent:
        raise HeightError(
            f"{source}: cannot estimate the participant's height without the markers "
            f"{absent}; give the height in the dataset's metadata (height_m)."
        )
    positions = np.asarray(positions_m, dtype=np.float64)
    point = {name: positions[:, column[name]] for name in NEEDED_MARKERS}

    def length(a: npt.NDArray[np.float64], b: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return np.asarray(np.linalg.norm(a - b, axis=-1), dtype=np.float64)

    per_frame = {
        "shank": 0.5
        * (length(point["RAnkle"], point["RKnee"]) + length(point["LAnkle"], point["LKnee"])),
        "thigh": 0.5
        * (length(point["RKnee"], point["RHip"]) + length(point["LKnee"], point["LHip"])),
        "trunk": length(
            0.5 * (point["RHip"] + point["LHip"]), 0.5 * (point["RShoulder"] + point["LShoulder"])
        ),
    }
    complete = np.all([np.isfinite(v) for v in per_frame.values()], axis=0)
    if not complete.any():
        raise HeightError(
            f"{source}: no frame has all of {list(NEEDED_MARKERS)} to estimate the "
            "participant's height from; give the height in the dataset's metadata (height_m)."
        )
    lengths = {name: float(np.median(values[complete])) for name, values in per_frame.items()}
    height = sum(lengths.values()) / SEGMENTS_FRACTION
    low, high = PLAUSIBLE_M
    if not low <= height <= high:
        raise HeightError(
            f"{source}: the height estimated from the segment lengths {lengths} is "
            f"{height:.2f} m, outside {low}-{high} m; give the height in the dataset's "
            "metadata (height_m)."
        )
    return HeightEstimate(height, lengths, int(complete.sum()))
