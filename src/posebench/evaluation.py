"""Per-trial joint-angle error against ground truth: OpenCapBench's metric, defects fixed.

For one trial, an IK result from video (the *prediction*) is compared with the IK result from
marker-based motion capture (the *ground truth*), both OpenSim ``.mot`` files in degrees.
The functions here take the files' contents (:class:`JointAngles`) and return tables;
:mod:`posebench.stages.evaluate` reads the files and writes the scores.

What OpenCapBench does, and what this module does the same way:

* a global lag between the two is searched over ``-max_lag_frames .. +max_lag_frames`` by
  minimising the mean absolute knee-angle difference, right and left knee separately; the
  trial's lag is the mean of the two;
* RMSE in degrees per scored degree of freedom (:data:`SCORED_DOFS`), over the frames both
  files have, with no offset removal, both without shift and with the trial's lag.

What it does differently (OpenCapBench's known defects):

* rows are aligned on integer frame indices ``round(time * rate_hz)``, never on float time
  stamps and never by row position, so trimmed leading frames or dropped frames in either
  file do not misalign the rest;
* DOFs are selected by name (with per-file aliases for models that name coordinates
  differently), never by column position;
* a frame where either value is NaN is left out for that DOF only.

Lag convention: a lag of ``L`` frames compares prediction frame ``i + L`` with ground-truth
frame ``i``. A positive lag therefore means the prediction is *late*: with
``prediction[k] = ground_truth[k - 7]`` the lag is ``+7``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from posebench.keys import SCORE_KEYS
from posebench.logs import TERMINAL

if TYPE_CHECKING:
    from posebench.io.mot import MotData
    from posebench.reports.triangulation import TriangulationReport

log = logging.getLogger(__name__)

SCORED_DOFS: tuple[str, ...] = (
    "pelvis_tilt",
    "pelvis_list",
    "pelvis_rotation",
    "hip_flexion_r",
    "hip_adduction_r",
    "hip_rotation_r",
    "knee_angle_r",
    "ankle_angle_r",
    "subtalar_angle_r",
    "hip_flexion_l",
    "hip_adduction_l",
    "hip_rotation_l",
    "knee_angle_l",
    "ankle_angle_l",
    "subtalar_angle_l",
    "lumbar_extension",
    "lumbar_bending",
    "lumbar_rotation",
)
"""The 18 degrees of freedom OpenCapBench scores, in canonical (LaiUhlrich2022) names."""

LAG_DOFS: tuple[str, str] = ("knee_angle_r", "knee_angle_l")
"""The DOFs whose mean absolute difference decides the lag (right, left)."""

KEY_COLUMNS: tuple[str, ...] = SCORE_KEYS
"""Columns identifying a trial's scores, prepended by :func:`trial_scores_table`
(``scaling``: how the OpenSim model was scaled, ``video`` or ``mocap``)."""

SCORE_COLUMNS: tuple[str, ...] = (
    "dof",
    "rmse_deg_unshifted",
    "rmse_deg_shifted",
    "frames_unshifted",
    "frames_shifted",
    "lag_frames",
    "lag_frames_r",
    "lag_frames_l",
)
"""Columns of :func:`score_trial`'s result, in order."""

MIN_OVERLAP_FRAMES = 10
"""Fewest frames (both values finite) for an RMSE or a lag candidate to count."""

GRID_TOLERANCE_FRAMES = 0.1
"""Largest allowed distance, in frames, between ``time * rate_hz`` and its nearest integer."""


class EvaluationError(ValueError):
    """An input of the metric is missing, inconsistent or not comparable."""


@dataclass(frozen=True)
class JointAngles:
    """An IK result to score.

    Attributes:
        motion: the content of its ``.mot`` file (``inDegrees=yes``).
        source: where it was read from, named in messages.
        aliases: canonical DOF name -> column name in the file for DOFs the file names
            differently (e.g. ``{"lumbar_extension": "L5_S1_Flex_Ext"}``); other DOFs are
            looked up under their canonical name.
    """

    motion: MotData
    source: Path | str
    aliases: Mapping[str, str] = field(default_factory=dict)


def score_trial(
    prediction: JointAngles,
    ground_truth: JointAngles,
    *,
    rate_hz: float = 100.0,
    max_lag_frames: int = 40,
) -> pd.DataFrame:
    """Score one trial: RMSE per scored DOF, unshifted and shifted by the knee-based lag.

    Args:
        prediction: IK result from video.
        ground_truth: IK result from motion capture.
        rate_hz: the sampling rate both files are on; frame index = ``round(time * rate_hz)``,
            and each time must lie within :data:`GRID_TOLERANCE_FRAMES` of that grid.
        max_lag_frames: the lag is searched over ``-max_lag_frames .. +max_lag_frames``.

    Returns:
        One row per DOF of :data:`SCORED_DOFS`, in that order, with columns
        :data:`SCORE_COLUMNS`:

        * ``rmse_deg_unshifted`` / ``rmse_deg_shifted``: RMSE in degrees at lag 0 / at the
          trial's lag, over the frames where both values are finite; NaN when there are fewer
          than :data:`MIN_OVERLAP_FRAMES` such frames (e.g. a DOF that is all NaN in one file).
        * ``frames_unshifted`` / ``frames_shifted``: the number of those frames.
        * ``lag_frames_r`` / ``lag_frames_l``: the lag minimising the mean absolute difference
          of ``knee_angle_r`` / ``knee_angle_l``, among lags with at least
          :data:`MIN_OVERLAP_FRAMES` common finite frames; ties go to the smallest ``|L|``,
          then to the smaller ``L``.
        * ``lag_frames``: the trial's lag, the mean of the two rounded to an integer, with
          halves rounded toward zero (3 and 4 give 3; -3 and -4 give -3), in keeping with
          the preference for the smaller lag.

        A lag ``L`` compares prediction frame ``i + L`` with ground-truth frame ``i``: a
        positive lag means the prediction is late.

    Raises:
        EvaluationError: a file is not in degrees, lacks a scored DOF, has times off the
            ``rate_hz`` grid or two rows on the same frame; an alias names an unknown DOF;
            the files share no frame; or a knee angle has no lag candidate with enough
            common frames.
    """
    if rate_hz <= 0 or not np.isfinite(rate_hz):
        raise EvaluationError(
            f"rate_hz must be a positive number of frames per second, got {rate_hz}."
        )
    if max_lag_frames < 0:
        raise EvaluationError(f"max_lag_frames must be >= 0, got {max_lag_frames}.")
    predicted_grid, true_grid = _common_grid(prediction, ground_truth, rate_hz)
    side_lags = [
        _best_lag(
            predicted_grid[:, SCORED_DOFS.index(dof)],
            true_grid[:, SCORED_DOFS.index(dof)],
            max_lag_frames,
            f"{dof} of {prediction.source} vs {ground_truth.source}",
        )
        for dof in LAG_DOFS
    ]
    lag = _round_half_toward_zero((side_lags[0] + side_lags[1]) / 2)
    return _score_table(predicted_grid, true_grid, lag, side_lags)


def _score_table(
    predicted_grid: np.ndarray, true_grid: np.ndarray, lag: int, side_lags: list[int]
) -> pd.DataFrame:
    """The rows of :func:`score_trial`'s table for the trial's `lag` and the knees' lags."""
    rows = []
    for column, dof in enumerate(SCORED_DOFS):
        rmse_unshifted, frames_unshifted = _rmse(
            *_paired(predicted_grid[:, column], true_grid[:, column], 0)
        )
        rmse_shifted, frames_shifted = _rmse(
            *_paired(predicted_grid[:, column], true_grid[:, column], lag)
        )
        rows.append(
            (dof, rmse_unshifted, rmse_shifted, frames_unshifted, frames_shifted, lag, *side_lags)
        )
    scores = pd.DataFrame(rows, columns=list(SCORE_COLUMNS))
    return scores.astype(dict.fromkeys(SCORE_COLUMNS[3:], "int64"))


def _common_grid(
    prediction: JointAngles, ground_truth: JointAngles, rate_hz: float
) -> tuple[np.ndarray, np.ndarray]:
    """Both files' scored DOFs (frames x DOFs) on one dense frame grid spanning both."""
    predicted_frames, predicted = _frames_and_values(prediction, rate_hz)
    true_frames, truth = _frames_and_values(ground_truth, rate_hz)
    if np.intersect1d(predicted_frames, true_frames).size == 0:
        raise EvaluationError(
            f"{prediction.source} (frames {predicted_frames.min()}..{predicted_frames.max()}) "
            f"and {ground_truth.source} (frames {true_frames.min()}..{true_frames.max()}) share "
            f"no frame at {rate_hz:g} Hz; expected overlapping time ranges. Check that both "
            "files belong to the same trial and that their times start at the same instant."
        )
    first = int(min(predicted_frames.min(), true_frames.min()))
    count = int(max(predicted_frames.max(), true_frames.max())) - first + 1
    return (
        _on_grid(predicted_frames, predicted, first, count),
        _on_grid(true_frames, truth, first, count),
    )


DURATION_TOLERANCE_S = 0.1
"""Largest difference between the video's and the ground truth's durations that is not
reported as a warning (6 frames at 60 fps)."""


def duration_check(
    triangulation: TriangulationReport, ground_truth: JointAngles
) -> dict[str, float]:
    """The trial's video duration (its frame slots on the time base the triangulation used,
    and on the video header's rate) and the ground truth's duration, in seconds.

    Videos synchronised with motion capture start and end with it, so the durations should
    agree; a difference growing with trial length means the frame rate the time base uses
    is wrong (e.g. 59.94 fps taken as 60, or the reverse). A difference above
    :data:`DURATION_TOLERANCE_S` is logged as a warning naming both rates.
    """
    if triangulation.time_base_fps is None:
        raise EvaluationError(
            f"The triangulation report of the trial of {ground_truth.source} has no "
            "time_base_fps: it was written before the frame-rate check; run the rule "
            "triangulate again (snakemake --forcerun triangulate)."
        )
    frames = int(triangulation.video_frames)
    fps = float(triangulation.time_base_fps)
    header_fps = float(triangulation.video_fps)
    times = ground_truth.motion.table["time"].to_numpy(dtype=np.float64)
    result = {
        "video_duration_s": (frames - 1) / fps,
        "video_duration_header_fps_s": (frames - 1) / header_fps,
        "truth_duration_s": float(times[-1] - times[0]) if times.size else float("nan"),
    }
    difference = result["video_duration_s"] - result["truth_duration_s"]
    if not abs(difference) <= DURATION_TOLERANCE_S:
        log.warning(
            "%s: the video's %d frames last %.3f s at %g fps (%.3f s at the header's %g fps) "
            "but the ground truth lasts %.3f s; check the dataset's frame_rate setting and "
            "that the videos are the ones synchronised with motion capture.",
            ground_truth.source, frames, result["video_duration_s"], fps,
            result["video_duration_header_fps_s"], header_fps, result["truth_duration_s"],
            extra=TERMINAL,
        )  # fmt: skip
    return result


def trial_scores_table(
    scores: pd.DataFrame,
    keys: Mapping[str, str],
    trial_columns: Mapping[str, float] | None,
    destination: Path | str,
) -> pd.DataFrame:
    """:func:`score_trial`'s table with the trial's key columns first.

    Args:
        scores: the result of :func:`score_trial`.
        keys: a value for each of :data:`KEY_COLUMNS` (dataset, setup, subject, session,
            trial, activity, model, scaling), and nothing else.
        trial_columns: columns appended with one value for every row (e.g.
            :func:`duration_check`'s).
        destination: the file the table is written to, named in messages.

    Rows keep the order of :data:`SCORED_DOFS`.
    """
    missing = [key for key in KEY_COLUMNS if key not in keys]
    unknown = sorted(set(keys) - set(KEY_COLUMNS))
    if missing or unknown:
        raise EvaluationError(
            f"{destination}: keys must be exactly {list(KEY_COLUMNS)}; missing {missing}, "
            f"unknown {unknown}. Pass one value per key column."
        )
    absent = [column for column in SCORE_COLUMNS if column not in scores.columns]
    if absent:
        raise EvaluationError(
            f"{destination}: the scores lack columns {absent}, found {list(scores.columns)}; "
            "pass the table returned by score_trial."
        )
    table = scores[list(SCORE_COLUMNS)].copy()
    for position, key in enumerate(KEY_COLUMNS):
        table.insert(position, key, str(keys[key]))
    for column, value in (trial_columns or {}).items():
        table[column] = value
    return table


def _frames_and_values(angles: JointAngles, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Frame indices (int64, unique) and the scored DOFs' values (frames x DOFs) of a file."""
    source, aliases = angles.source, angles.aliases
    unknown = sorted(set(aliases) - set(SCORED_DOFS))
    if unknown:
        raise EvaluationError(
            f"{source}: aliases name DOFs {unknown} that are not scored; expected keys among "
            f"{list(SCORED_DOFS)} (canonical name -> column name in the file)."
        )
    if angles.motion.in_degrees is not True:
        raise EvaluationError(
            f"{source}: inDegrees={angles.motion.header.get('inDegrees', '<missing>')}, "
            "expected inDegrees=yes; joint angles are compared in degrees, so write the IK "
            "result in degrees (or convert it and set the header flag)."
        )
    table = angles.motion.table
    columns = [aliases.get(dof, dof) for dof in SCORED_DOFS]
    missing = [
        f"{dof} (as {column!r})" if column != dof else dof
        for dof, column in zip(SCORED_DOFS, columns, strict=True)
        if column not in table.columns
    ]
    if missing:
        raise EvaluationError(
            f"{source}: scored DOFs {missing} are missing; available columns: "
            f"{list(table.columns)}. Pass aliases (canonical name -> column name) if the "
            "model names these coordinates differently."
        )
    frames = _frame_indices(table["time"].to_numpy(dtype=np.float64), source, rate_hz)
    values = table[columns].to_numpy(dtype=np.float64)
    return frames, values


def _frame_indices(times: np.ndarray, source: Path | str, rate_hz: float) -> np.ndarray:
    """``round(times * rate_hz)``, checked to be near the grid and unique."""
    if times.size == 0 or not np.all(np.isfinite(times)):
        raise EvaluationError(
            f"{source}: expected at least one row and finite times, found {times.size} rows "
            f"with {int(np.sum(~np.isfinite(times)))} non-finite times."
        )
    positions = times * rate_hz
    frames = np.rint(positions).astype(np.int64)
    off_grid = np.abs(positions - frames)
    worst = int(np.argmax(off_grid))
    if off_grid[worst] > GRID_TOLERANCE_FRAMES:
        raise EvaluationError(
            f"{source}: time {times[worst]!r} s is {off_grid[worst]:.3f} frames off the "
            f"{rate_hz:g} Hz grid, expected at most {GRID_TOLERANCE_FRAMES} frames; resample "
            f"the file to {rate_hz:g} Hz or pass its true rate_hz."
        )
    unique, counts = np.unique(frames, return_counts=True)
    if np.any(counts > 1):
        duplicated = unique[counts > 1]
        raise EvaluationError(
            f"{source}: {duplicated.size} frame indices occur more than once at {rate_hz:g} Hz "
            f"(first: frame {duplicated[0]}, times "
            f"{times[frames == duplicated[0]].tolist()}); expected one row per frame. Drop "
            "duplicate rows or check rate_hz."
        )
    return frames


def _on_grid(frames: np.ndarray, values: np.ndarray, first: int, count: int) -> np.ndarray:
    """Place rows on a dense frame grid starting at ``first``; absent frames are NaN."""
    grid = np.full((count, values.shape[1]), np.nan)
    grid[frames - first] = values
    return grid


def _paired(predicted: np.ndarray, true: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (prediction frame i + lag, ground-truth frame i) on a shared grid, both finite."""
    count = predicted.size
    if abs(lag) >= count:
        return np.empty(0), np.empty(0)
    if lag >= 0:
        shifted, reference = predicted[lag:], true[: count - lag]
    else:
        shifted, reference = predicted[: count + lag], true[-lag:]
    finite = np.isfinite(shifted) & np.isfinite(reference)
    return shifted[finite], reference[finite]


def _best_lag(predicted: np.ndarray, true: np.ndarray, max_lag_frames: int, what: str) -> int:
    """Lag minimising the mean absolute difference; ties: smallest |lag|, then smaller lag."""
    candidates = []
    for lag in range(-max_lag_frames, max_lag_frames + 1):
        shifted, reference = _paired(predicted, true, lag)
        if shifted.size >= MIN_OVERLAP_FRAMES:
            candidates.append((float(np.mean(np.abs(shifted - reference))), abs(lag), lag))
    if not candidates:
        raise EvaluationError(
            f"{what}: no lag in -{max_lag_frames}..+{max_lag_frames} frames gives at least "
            f"{MIN_OVERLAP_FRAMES} frames where both knee angles are finite; expected "
            "overlapping, mostly finite knee angles. Check the IK result for NaN frames."
        )
    return min(candidates)[2]


def _round_half_toward_zero(value: float) -> int:
    """Nearest integer, halves rounded toward zero (2.5 -> 2, -2.5 -> -2)."""
    return int(np.sign(value) * np.ceil(abs(value) - 0.5))


def _rmse(predicted: np.ndarray, true: np.ndarray) -> tuple[float, int]:
    """RMSE of paired values and their count; NaN below :data:`MIN_OVERLAP_FRAMES` pairs."""
    if predicted.size < MIN_OVERLAP_FRAMES:
        return float("nan"), int(predicted.size)
    return float(np.sqrt(np.mean((predicted - true) ** 2))), int(predicted.size)
