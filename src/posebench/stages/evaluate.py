"""Stage `evaluate`: one trial's IK result, its ground truth and its triangulation report in;
the trial's scores (CSV) out.

The metric is `posebench.evaluation`; this module reads the inputs and writes the table.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from posebench.evaluation import JointAngles, duration_check, score_trial, trial_scores_table
from posebench.io.atomic import atomic_output
from posebench.io.mot import read_mot
from posebench.markersets import get_marker_set
from posebench.reports.triangulation import TriangulationReport

CSV_FLOAT_FORMAT = "%.6f"
"""Floats of the scores CSV: 6 decimals (missing values are written as ``NaN``)."""


def run(
    *,
    motion: Path,
    ground_truth: Path,
    triangulation: Path,
    output: Path,
    keys: Mapping[str, str],
    marker_set: str,
    ground_truth_aliases: Mapping[str, str] | None,
    rate_hz: float,
    max_lag_frames: int,
) -> pd.DataFrame:
    """Score the IK result `motion` (of a model with the marker set `marker_set`) against
    `ground_truth`, check the video's duration against it, and write the scores with the
    trial's `keys` and the durations to `output`; return the scores."""
    prediction = read_joint_angles(motion, get_marker_set(marker_set).coordinate_aliases)
    truth = read_joint_angles(ground_truth, ground_truth_aliases)
    scores = score_trial(prediction, truth, rate_hz=rate_hz, max_lag_frames=max_lag_frames)
    durations = duration_check(TriangulationReport.read(triangulation, require_all=True), truth)
    write_trial_scores(scores, output, keys, trial_columns=durations)
    return scores


def read_joint_angles(path: Path, aliases: Mapping[str, str] | None = None) -> JointAngles:
    """The IK result in the `.mot` file `path`, whose columns for some DOFs are named by
    `aliases` (see `JointAngles`)."""
    return JointAngles(read_mot(path), Path(path), aliases or {})


def evaluate_trial(
    prediction: Path,
    ground_truth: Path,
    *,
    prediction_aliases: Mapping[str, str] | None = None,
    ground_truth_aliases: Mapping[str, str] | None = None,
    rate_hz: float = 100.0,
    max_lag_frames: int = 40,
) -> pd.DataFrame:
    """Read two IK results (`.mot`, in degrees) and score them: see
    `posebench.evaluation.score_trial`."""
    return score_trial(
        read_joint_angles(prediction, prediction_aliases),
        read_joint_angles(ground_truth, ground_truth_aliases),
        rate_hz=rate_hz,
        max_lag_frames=max_lag_frames,
    )


def write_trial_scores(
    scores: pd.DataFrame,
    path: Path,
    keys: Mapping[str, str],
    trial_columns: Mapping[str, float] | None = None,
) -> None:
    """Write `score_trial`'s table as CSV with the trial's key columns first and
    `trial_columns` last (`posebench.evaluation.trial_scores_table`); floats with 6
    decimals, missing values as ``NaN``."""
    path = Path(path)
    table = trial_scores_table(scores, keys, trial_columns, path)
    with atomic_output(path) as tmp:
        table.to_csv(tmp, index=False, float_format=CSV_FLOAT_FORMAT, na_rep="NaN")
