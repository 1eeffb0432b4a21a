"""Aggregate per-trial joint-angle errors into OpenCapBench's 12-joint leaderboard.

The input is a long table, the concatenation of the per-trial CSVs written by
:func:`posebench.stages.evaluate.write_trial_scores`: one row per trial, model, camera setup and
scored DOF, with the key columns :data:`posebench.evaluation.KEY_COLUMNS`, ``dof`` and the
metric columns (``rmse_deg_shifted``, ``rmse_deg_unshifted``, ...).

Aggregation (OpenCapBench's): within a group (by default one model on one camera setup), the
unweighted mean of the per-trial RMSE over all trials, per DOF; then right and left averaged
into one value per joint (:data:`OCB_JOINTS`, 12 joints); ``mean`` is the mean of the 12.

A *trial* is one recording, identified by dataset, subject, session and trial name
(:data:`posebench.keys.RECORDING_KEYS`); it is the unit that is averaged and resampled. NaN
scores (a DOF with too little overlap in a trial) are left out of that DOF's mean; the
``nan_scores`` column of :func:`joint_table` counts them. Uncertainty comes from a percentile
bootstrap over trials: trials are resampled with replacement and the whole aggregation
recomputed; each group's resamples are seeded from ``seed`` and the group's key, so adding or
removing other models does not change a group's interval.

Everything here takes and returns tables; nothing reads or writes files.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from posebench.evaluation import KEY_COLUMNS, SCORED_DOFS
from posebench.keys import RECORDING_KEYS


@dataclass(frozen=True)
class Joint:
    """One leaderboard column: the DOFs it averages and its published label."""

    name: str
    label: str
    dofs: tuple[str, ...]


OCB_JOINTS: tuple[Joint, ...] = (
    Joint("pelvis_tilt", "pelvis tilt", ("pelvis_tilt",)),
    Joint("pelvis_rotation", "pelvis rot", ("pelvis_rotation",)),
    Joint("pelvis_list", "pelvis list", ("pelvis_list",)),
    Joint("hip_flexion", "hip flex", ("hip_flexion_r", "hip_flexion_l")),
    Joint("hip_adduction", "hip add", ("hip_adduction_r", "hip_adduction_l")),
    Joint("hip_rotation", "hip rot", ("hip_rotation_r", "hip_rotation_l")),
    Joint("knee_angle", "knee", ("knee_angle_r", "knee_angle_l")),
    Joint("ankle_angle", "ankle", ("ankle_angle_r", "ankle_angle_l")),
    Joint("subtalar_angle", "subtalar", ("subtalar_angle_r", "subtalar_angle_l")),
    Joint("lumbar_extension", "lumbar ext", ("lumbar_extension",)),
    Joint("lumbar_bending", "lumbar bend", ("lumbar_bending",)),
    Joint("lumbar_rotation", "lumbar rot", ("lumbar_rotation",)),
)
"""The 12 joints in the published table's column order, with the DOFs each merges."""

MEAN_COLUMN = "mean"
"""Column holding the mean of the 12 joints."""

JOINT_COLUMNS: tuple[str, ...] = (*(joint.name for joint in OCB_JOINTS), MEAN_COLUMN)
"""Value columns of :func:`joint_table`, in published order."""

LEADING_COLUMNS: tuple[str, ...] = ("setup", "model", "scaling", "trials", "nan_scores")
"""First columns of :func:`leaderboard_table`'s result, before the joints and intervals."""

PAIRED_COLUMNS: tuple[str, ...] = (
    "setup",
    "model_a",
    "model_b",
    "joint",
    "common_trials",
    "value_a_deg",
    "value_b_deg",
    "difference_deg",
    "difference_low_deg",
    "difference_high_deg",
)
"""Columns of :func:`paired_comparison`'s result."""

DEFAULT_METRIC = "rmse_deg_shifted"

_DOF_INDICES = tuple(
    np.array([SCORED_DOFS.index(dof) for dof in joint.dofs]) for joint in OCB_JOINTS
)


class LeaderboardError(ValueError):
    """The scores table is missing columns, inconsistent, or lacks what was asked for."""


@dataclass(frozen=True, eq=False)
class Breakdowns:
    """The breakdown tables of one scores table (see :func:`breakdown_tables`)."""

    by_activity: pd.DataFrame
    by_subject: pd.DataFrame
    paired: pd.DataFrame


def joint_table(
    scores: pd.DataFrame,
    by: Sequence[str] = ("model", "setup"),
    metric: str = DEFAULT_METRIC,
) -> pd.DataFrame:
    """OpenCapBench's 12-joint table, one row per group.

    Args:
        scores: the long per-trial table (see the module docstring).
        by: key columns defining a group, e.g. ``("model", "setup")``,
            ``("model", "setup", "activity")`` or ``("model", "setup", "subject")``.
        metric: the per-trial, per-DOF column to aggregate (degrees).

    Returns:
        Columns ``*by``, ``trials`` (recordings in the group), ``nan_scores`` (NaN metric
        values among the group's DOF scores, left out of the means), then
        :data:`JOINT_COLUMNS`. A joint is NaN when one of its DOFs has no finite score.
        Rows sorted by ``by``.
    """
    return _joint_table(_wide(scores, metric), by)


def bootstrap_ci(
    scores: pd.DataFrame,
    by: Sequence[str] = ("model", "setup"),
    metric: str = DEFAULT_METRIC,
    n_resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Percentile bootstrap intervals of :func:`joint_table`'s values, resampling trials.

    Within each group, the group's trials are drawn with replacement (as many as it has)
    ``n_resamples`` times and the joint table recomputed; the interval is the
    ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles (linear interpolation).

    Returns:
        Columns ``*by``, then ``<joint>_low`` and ``<joint>_high`` for each of
        :data:`JOINT_COLUMNS`; rows sorted by ``by``.
    """
    _check_bootstrap(n_resamples, level)
    groups = _groups(_wide(scores, metric), by)
    rows = []
    for key, values in groups:
        weights = _resample_weights(values.shape[0], n_resamples, seed, key)
        low, high = _interval(_joint_values(weights, values), level)
        rows.append((*key, *np.column_stack([low, high]).ravel()))
    interval_columns = [f"{name}_{bound}" for name in JOINT_COLUMNS for bound in ("low", "high")]
    return pd.DataFrame(rows, columns=[*by, *interval_columns])


def paired_comparison(
    scores: pd.DataFrame,
    model_a: str,
    model_b: str,
    setup: str,
    metric: str = DEFAULT_METRIC,
    n_resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Compare two models on the recordings both have on one camera setup.

    Both models' joint tables are computed on the common recordings only, with a DOF score
    left out of both when either model's is NaN. The bootstrap resamples recordings jointly
    (the same draw for both models), so the interval reflects the paired design.

    Returns:
        One row per joint of :data:`JOINT_COLUMNS` (the last is ``mean``), with columns
        :data:`PAIRED_COLUMNS`: the two models' values, ``difference_deg`` = a - b (negative:
        ``model_a`` is more accurate), its percentile interval and ``common_trials``.

    Raises:
        LeaderboardError: a model has no scores on ``setup``, or the two share no recording.
    """
    _check_bootstrap(n_resamples, level)
    return _paired_comparison(
        _wide(scores, metric), model_a, model_b, setup, n_resamples, seed, level
    )


def leaderboard_table(
    scores: pd.DataFrame,
    metric: str = DEFAULT_METRIC,
    n_resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """The model x setup leaderboard: :func:`joint_table` with its bootstrap intervals.

    Returns:
        One row per model and setup, rows sorted by setup, then ``mean``, then model;
        columns :data:`LEADING_COLUMNS`, the 12 joints, ``mean``, then
        ``<joint>_low``/``<joint>_high`` (:func:`bootstrap_ci`).
    """
    table = joint_table(scores, ("model", "setup", "scaling"), metric)
    intervals = bootstrap_ci(scores, ("model", "setup"), metric, n_resamples, seed, level)
    table = table.merge(intervals, on=["model", "setup"], how="left", validate="one_to_one")
    table = table.sort_values(["setup", MEAN_COLUMN, "model"], kind="stable", na_position="last")
    leading = list(LEADING_COLUMNS)
    return table[leading + [c for c in table.columns if c not in leading]].reset_index(drop=True)


def breakdown_tables(
    scores: pd.DataFrame,
    metric: str = DEFAULT_METRIC,
    n_resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> Breakdowns:
    """Joint tables by activity and by subject, and every paired comparison.

    * ``by_activity``: :func:`joint_table` by model, setup, activity.
    * ``by_subject``: :func:`joint_table` by model, setup, subject.
    * ``paired``: :func:`paired_comparison` for every pair of models (``model_a`` <
      ``model_b`` alphabetically) on every setup, concatenated; pairs without a common
      recording are left out (there is nothing to compare).
    """
    _check_bootstrap(n_resamples, level)
    wide = _wide(scores, metric)
    return Breakdowns(
        by_activity=_joint_table(wide, ("model", "setup", "activity")),
        by_subject=_joint_table(wide, ("model", "setup", "subject")),
        paired=_all_paired_comparisons(wide, n_resamples, seed, level),
    )


def _all_paired_comparisons(
    wide: pd.DataFrame, n_resamples: int, seed: int, level: float
) -> pd.DataFrame:
    """:func:`breakdown_tables`' ``paired`` table on the validated wide table."""
    comparisons: list[pd.DataFrame] = []
    for setup in sorted(wide.index.unique("setup")):
        recordings = {
            model: set(_recordings(wide, setup, model).index)
            for model in sorted(wide.xs(setup, level="setup").index.unique("model"))
        }
        comparisons.extend(
            _paired_comparison(wide, model_a, model_b, setup, n_resamples, seed, level)
            for model_a, model_b in combinations(recordings, 2)
            if recordings[model_a] & recordings[model_b]
        )
    if not comparisons:
        return pd.DataFrame(columns=list(PAIRED_COLUMNS))
    return pd.concat(comparisons, ignore_index=True)


def _wide(scores: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Validate the long table; one row per key (KEY_COLUMNS), one column per scored DOF."""
    long = _long(scores, metric)
    _check_rows(long)
    _check_recordings(long)
    wide = long.set_index([*KEY_COLUMNS, "dof"])[metric].unstack("dof")
    return wide[list(SCORED_DOFS)].astype(np.float64).sort_index()


def _long(scores: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The key, ``dof`` and metric columns of ``scores``, keys as strings, after checking
    that they are present, not empty and the metric numeric."""
    required = [*KEY_COLUMNS, "dof", metric]
    missing = [column for column in required if column not in scores.columns]
    if missing:
        raise LeaderboardError(
            f"scores lack columns {missing}; found {list(scores.columns)}. Expected the "
            "concatenated per-trial CSVs of posebench.stages.evaluate.write_trial_scores."
        )
    if scores.empty:
        raise LeaderboardError("scores are empty; expected at least one trial's rows.")
    if not pd.api.types.is_numeric_dtype(scores[metric]):
        raise LeaderboardError(
            f"metric column {metric!r} has dtype {scores[metric].dtype}, expected numbers "
            "(degrees)."
        )
    return scores[required].astype(dict.fromkeys([*KEY_COLUMNS, "dof"], str))


def _check_rows(long: pd.DataFrame) -> None:
    """Raise LeaderboardError on unscored DOFs or a key and DOF given twice."""
    unknown = sorted(set(long["dof"]) - set(SCORED_DOFS))
    if unknown:
        raise LeaderboardError(
            f"scores have DOFs {unknown} that are not scored; expected only {list(SCORED_DOFS)}."
        )
    duplicated = long[long.duplicated([*KEY_COLUMNS, "dof"], keep=False)]
    if not duplicated.empty:
        first = duplicated.iloc[0]
        raise LeaderboardError(
            f"{len(duplicated)} rows repeat a key and DOF, first: "
            f"{first[[*KEY_COLUMNS, 'dof']].to_dict()}; expected one row per trial, model, "
            "setup and DOF. Was a per-trial CSV concatenated twice?"
        )


def _check_recordings(long: pd.DataFrame) -> None:
    """Raise LeaderboardError on mixed scaling modes, a recording with several activities,
    or a trial lacking scored DOFs."""
    modes = sorted(long["scaling"].unique())
    if len(modes) > 1:
        counts = long.drop_duplicates([*KEY_COLUMNS])["scaling"].value_counts().to_dict()
        raise LeaderboardError(
            f"scores mix scaling modes {modes} (trials per mode: {counts}); a model scaled on "
            "motion capture and one scaled on video are not comparable, so they are never "
            "ranked in one table. Give each mode its own dataset entry in the config."
        )
    activities = long.groupby(list(RECORDING_KEYS))["activity"].nunique()
    if (activities > 1).any():
        raise LeaderboardError(
            f"recording {activities[activities > 1].index[0]} has several activities; "
            "expected one activity per recording across models and setups."
        )
    counts = long.groupby(list(KEY_COLUMNS)).size()
    if (counts != len(SCORED_DOFS)).any():
        key = counts[counts != len(SCORED_DOFS)].index[0]
        found = set(long.set_index(list(KEY_COLUMNS)).loc[[key], "dof"])
        raise LeaderboardError(
            f"trial {dict(zip(KEY_COLUMNS, key, strict=True))} has {len(found)} DOF rows, "
            f"missing {[dof for dof in SCORED_DOFS if dof not in found]}; expected all "
            f"{len(SCORED_DOFS)} scored DOFs per trial."
        )


def _joint_table(wide: pd.DataFrame, by: Sequence[str]) -> pd.DataFrame:
    """:func:`joint_table` on the validated wide table."""
    rows = []
    for key, values in _groups(wide, by):
        point = _joint_values(np.ones((1, values.shape[0])), values)[0]
        rows.append((*key, values.shape[0], int(np.sum(np.isnan(values))), *point))
    return pd.DataFrame(rows, columns=[*by, "trials", "nan_scores", *JOINT_COLUMNS])


def _recordings(wide: pd.DataFrame, setup: str, model: str) -> pd.DataFrame:
    """One model's rows on one setup, indexed by RECORDING_KEYS."""
    selected = wide.xs((setup, model), level=("setup", "model"))
    return selected.droplevel(["activity", "scaling"]).reorder_levels(list(RECORDING_KEYS))


def _paired_comparison(
    wide: pd.DataFrame,
    model_a: str,
    model_b: str,
    setup: str,
    n_resamples: int,
    seed: int,
    level: float,
) -> pd.DataFrame:
    """:func:`paired_comparison` on the validated wide table."""
    values_a, values_b = _paired_values(wide, model_a, model_b, setup)
    common = values_a.shape[0]
    everything = np.ones((1, common))
    point_a = _joint_values(everything, values_a)[0]
    point_b = _joint_values(everything, values_b)[0]
    weights = _resample_weights(common, n_resamples, seed, (setup, model_a, model_b))
    low, high = _interval(
        _joint_values(weights, values_a) - _joint_values(weights, values_b), level
    )
    return pd.DataFrame(
        {
            "setup": setup,
            "model_a": model_a,
            "model_b": model_b,
            "joint": list(JOINT_COLUMNS),
            "common_trials": common,
            "value_a_deg": point_a,
            "value_b_deg": point_b,
            "difference_deg": point_a - point_b,
            "difference_low_deg": low,
            "difference_high_deg": high,
        },
        columns=list(PAIRED_COLUMNS),
    )


def _paired_values(
    wide: pd.DataFrame, model_a: str, model_b: str, setup: str
) -> tuple[np.ndarray, np.ndarray]:
    """Both models' (common recordings x DOFs) values on ``setup``, recordings sorted, NaN
    where either model's score is NaN."""
    setups = sorted(wide.index.unique("setup"))
    if setup not in setups:
        raise LeaderboardError(f"setup {setup!r} has no scores; setups found: {setups}.")
    models = sorted(wide.xs(setup, level="setup").index.unique("model"))
    for model in (model_a, model_b):
        if model not in models:
            raise LeaderboardError(
                f"model {model!r} has no scores on setup {setup!r}; models there: {models}."
            )
    rows_a = _recordings(wide, setup, model_a)
    rows_b = _recordings(wide, setup, model_b)
    common = rows_a.index.intersection(rows_b.index).sort_values()
    if common.empty:
        raise LeaderboardError(
            f"models {model_a!r} ({len(rows_a)} trials) and {model_b!r} ({len(rows_b)} "
            f"trials) share no recording (same {list(RECORDING_KEYS)}) on setup {setup!r}; "
            "expected at least one. Score both models on the same trials."
        )
    values_a = rows_a.loc[common].to_numpy(dtype=np.float64)
    values_b = rows_b.loc[common].to_numpy(dtype=np.float64)
    either_missing = np.isnan(values_a) | np.isnan(values_b)
    return np.where(either_missing, np.nan, values_a), np.where(either_missing, np.nan, values_b)


def _groups(wide: pd.DataFrame, by: Sequence[str]) -> list[tuple[tuple[str, ...], np.ndarray]]:
    """(group key, trials x DOFs values) for each group, sorted by key."""
    unknown = [column for column in by if column not in KEY_COLUMNS]
    if not by or unknown or len(set(by)) != len(by):
        raise LeaderboardError(
            f"by={list(by)} must be distinct key columns among {list(KEY_COLUMNS)}, found "
            f"unknown {unknown}."
        )
    return [
        (tuple(str(k) for k in key), frame.to_numpy(dtype=np.float64))
        for key, frame in wide.groupby(level=list(by), sort=True)
    ]


def _joint_values(weights: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Weighted per-DOF means of finite values, merged into joints, plus their mean.

    ``weights`` is (resamples x trials), the count of each trial in each resample;
    ``values`` is (trials x DOFs in SCORED_DOFS order). Returns (resamples x 13).
    """
    finite = np.isfinite(values)
    sums = weights @ np.where(finite, values, 0.0)
    counts = weights @ finite.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        dof_means = sums / counts
    joints = np.column_stack([dof_means[:, indices].mean(axis=1) for indices in _DOF_INDICES])
    return np.column_stack([joints, joints.mean(axis=1)])


def _resample_weights(trials: int, n_resamples: int, seed: int, key: Sequence[str]) -> np.ndarray:
    """How often each trial is drawn in each resample (draws with replacement), seeded."""
    key_hash = zlib.crc32("\x1f".join(key).encode("utf-8"))
    generator = np.random.default_rng([seed, key_hash])
    counts = generator.multinomial(trials, np.full(trials, 1.0 / trials), size=n_resamples)
    return counts.astype(np.float64)


def _interval(samples: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval per column of (resamples x values) samples."""
    low, high = np.quantile(samples, [(1.0 - level) / 2.0, (1.0 + level) / 2.0], axis=0)
    return low, high


def _check_bootstrap(n_resamples: int, level: float) -> None:
    """Raise LeaderboardError on a resample count or level that makes no interval."""
    if n_resamples < 1 or not 0.0 < level < 1.0:
        raise LeaderboardError(
            f"n_resamples={n_resamples} and level={level}: expected n_resamples >= 1 and "
            "0 < level < 1 (e.g. 2000 and 0.95)."
        )
