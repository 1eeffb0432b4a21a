"""Tests of the leaderboard: OpenCapBench's aggregation, bootstrap intervals, outputs."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from posebench.evaluation import SCORED_DOFS
from posebench.leaderboard.statistics import (
    JOINT_COLUMNS,
    OCB_JOINTS,
    PAIRED_COLUMNS,
    LeaderboardError,
    bootstrap_ci,
    joint_table,
    paired_comparison,
)
from posebench.stages.leaderboard import write_breakdowns, write_leaderboard

PUBLISHED_HEADER = (
    "pelvis tilt | pelvis rot | pelvis list | hip flex | hip add | hip rot | knee | ankle | "
    "subtalar | lumbar ext | lumbar bend | lumbar rot | mean"
)


def _trial_rows(
    model: str,
    trial: str,
    activity: str,
    rmse: Callable[[str], float],
    *,
    setup: str = "2-cameras",
    subject: str = "subject2",
) -> list[dict[str, object]]:
    keys = {
        "dataset": "opencap",
        "setup": setup,
        "subject": subject,
        "session": "Session0",
        "trial": trial,
        "activity": activity,
        "model": model,
        "scaling": "mocap",
    }
    return [
        {**keys, "dof": dof, "rmse_deg_unshifted": rmse(dof) + 1.0, "rmse_deg_shifted": rmse(dof)}
        for dof in SCORED_DOFS
    ]


def _values(default: float, special: Mapping[str, float]) -> Callable[[str], float]:
    return lambda dof: special.get(dof, default)


def _tiny_scores() -> pd.DataFrame:
    """2 trials x 2 models, values chosen for hand computation (see test_joint_table)."""
    rows = [
        *_trial_rows(
            "a", "t1", "squats", _values(1.0, {"hip_flexion_r": 3.0, "hip_flexion_l": 5.0})
        ),
        *_trial_rows(
            "a", "t2", "walking", _values(3.0, {"hip_flexion_r": 5.0, "hip_flexion_l": 9.0})
        ),
        *_trial_rows("b", "t1", "squats", _values(4.0, {"knee_angle_r": 2.0, "knee_angle_l": 4.0})),
        *_trial_rows(
            "b", "t2", "walking", _values(6.0, {"knee_angle_r": 2.0, "knee_angle_l": 4.0})
        ),
    ]
    return pd.DataFrame(rows)


def _random_scores(models: tuple[str, ...] = ("a", "b"), n_trials: int = 12) -> pd.DataFrame:
    """Several models and setups on `n_trials` trials, seeded random RMSEs."""
    rng = np.random.default_rng(3)
    rows = []
    for setup in ("2-cameras", "5-cameras"):
        for index, model in enumerate(models):
            for trial in range(n_trials):
                base = 4.0 + index + rng.gamma(2.0, 1.0)
                rows.extend(
                    _trial_rows(
                        model,
                        f"t{trial:02d}",
                        ("squats", "walking")[trial % 2],
                        lambda dof, base=base: base + rng.uniform(0.0, 3.0),
                        setup=setup,
                        subject=f"subject{2 + trial % 3}",
                    )
                )
    return pd.DataFrame(rows)


def test_joints_follow_the_published_order() -> None:
    assert " | ".join(joint.label for joint in OCB_JOINTS) + " | mean" == PUBLISHED_HEADER
    merged = [dof for joint in OCB_JOINTS for dof in joint.dofs]
    assert sorted(merged) == sorted(SCORED_DOFS)
    assert JOINT_COLUMNS[-1] == "mean" and len(JOINT_COLUMNS) == 13


def test_joint_table_by_hand() -> None:
    table = joint_table(_tiny_scores()).set_index("model")
    assert list(table.columns) == ["setup", "trials", "nan_scores", *JOINT_COLUMNS]
    assert list(table.index) == ["a", "b"]
    assert (table["trials"] == 2).all() and (table["nan_scores"] == 0).all()
    # Model a: every DOF averages (1 + 3) / 2 = 2 over the trials, except hip flexion:
    # right (3 + 5) / 2 = 4, left (5 + 9) / 2 = 7, merged (4 + 7) / 2 = 5.5.
    a = table.loc["a"]
    assert a["hip_flexion"] == pytest.approx(5.5)
    assert a["knee_angle"] == pytest.approx(2.0) and a["pelvis_tilt"] == pytest.approx(2.0)
    assert a["mean"] == pytest.approx((11 * 2.0 + 5.5) / 12)
    # Model b: (4 + 6) / 2 = 5 everywhere, except the knee: right 2, left 4, merged 3.
    b = table.loc["b"]
    assert b["knee_angle"] == pytest.approx(3.0) and b["lumbar_rotation"] == pytest.approx(5.0)
    assert b["mean"] == pytest.approx((11 * 5.0 + 3.0) / 12)
    unshifted = joint_table(_tiny_scores(), metric="rmse_deg_unshifted").set_index("model")
    assert unshifted.loc["a", "mean"] == pytest.approx(a["mean"] + 1.0)


def test_joint_table_by_activity_and_subject() -> None:
    by_activity = joint_table(_tiny_scores(), by=("model", "setup", "activity"))
    assert list(by_activity[["model", "activity"]].itertuples(index=False, name=None)) == [
        ("a", "squats"),
        ("a", "walking"),
        ("b", "squats"),
        ("b", "walking"),
    ]
    squats_a = by_activity.iloc[0]
    assert squats_a["trials"] == 1
    assert squats_a["hip_flexion"] == pytest.approx(4.0)  # (3 + 5) / 2 from trial t1 only
    by_subject = joint_table(_tiny_scores(), by=("model", "setup", "subject"))
    assert list(by_subject["trials"]) == [2, 2]


def test_nan_scores_are_left_out_and_counted() -> None:
    scores = _tiny_scores()
    hip_a_t2 = (scores["model"] == "a") & (scores["trial"] == "t2")
    scores.loc[hip_a_t2 & (scores["dof"] == "hip_flexion_l"), "rmse_deg_shifted"] = np.nan
    a = joint_table(scores).set_index("model").loc["a"]
    assert a["nan_scores"] == 1
    assert a["hip_flexion"] == pytest.approx((4.0 + 5.0) / 2)  # left is trial t1's 5 only


def test_inconsistent_scores_are_errors() -> None:
    scores = _tiny_scores()
    with pytest.raises(LeaderboardError, match="concatenated twice"):
        joint_table(pd.concat([scores, scores.iloc[:1]]))
    with pytest.raises(LeaderboardError, match="missing \\['ankle_angle_l'\\]"):
        joint_table(scores[~((scores["dof"] == "ankle_angle_l") & (scores["model"] == "b"))])
    with pytest.raises(LeaderboardError, match="lack columns \\['activity'\\]"):
        joint_table(scores.drop(columns="activity"))
    with pytest.raises(LeaderboardError, match="by="):
        joint_table(scores, by=("model", "camera"))
    # A model scaled on video is never ranked next to one scaled on motion capture.
    mixed = scores.assign(scaling=np.where(scores["model"] == "b", "video", "mocap"))
    with pytest.raises(LeaderboardError, match=r"mix scaling modes \['mocap', 'video'\]"):
        joint_table(mixed)


def test_bootstrap_contains_point_and_is_deterministic() -> None:
    scores = _random_scores()
    point = joint_table(scores).set_index(["model", "setup"])
    first = bootstrap_ci(scores, n_resamples=500, seed=7).set_index(["model", "setup"])
    second = bootstrap_ci(scores, n_resamples=500, seed=7).set_index(["model", "setup"])
    pd.testing.assert_frame_equal(first, second)
    assert list(first.columns) == [f"{c}_{b}" for c in JOINT_COLUMNS for b in ("low", "high")]
    for column in JOINT_COLUMNS:
        assert (first[f"{column}_low"] <= point[column]).all()
        assert (point[column] <= first[f"{column}_high"]).all()
        assert (first[f"{column}_low"] < first[f"{column}_high"]).all()
    other_seed = bootstrap_ci(scores, n_resamples=500, seed=8).set_index(["model", "setup"])
    assert not other_seed.equals(first)
    # A group's interval does not depend on which other models are in the table.
    alone = bootstrap_ci(scores[scores["model"] == "b"], n_resamples=500, seed=7)
    pd.testing.assert_frame_equal(alone.set_index(["model", "setup"]), first.loc[["b"]])


def test_paired_comparison_with_itself_is_zero() -> None:
    comparison = paired_comparison(_random_scores(), "a", "a", "2-cameras", n_resamples=300)
    assert list(comparison.columns) == list(PAIRED_COLUMNS)
    assert list(comparison["joint"]) == list(JOINT_COLUMNS)
    assert (comparison["common_trials"] == 12).all()
    for column in ("difference_deg", "difference_low_deg", "difference_high_deg"):
        assert (comparison[column] == 0.0).all()


def test_paired_comparison_on_common_trials() -> None:
    scores = _tiny_scores()
    comparison = paired_comparison(scores, "a", "b", "2-cameras", n_resamples=300)
    table = joint_table(scores).set_index("model")
    expected = (
        table.loc["a", list(JOINT_COLUMNS)] - table.loc["b", list(JOINT_COLUMNS)]
    ).to_numpy()
    np.testing.assert_allclose(comparison["difference_deg"], expected)
    assert (comparison["difference_low_deg"] <= comparison["difference_deg"]).all()
    assert (comparison["difference_deg"] <= comparison["difference_high_deg"]).all()

    only_t1 = scores[~((scores["model"] == "b") & (scores["trial"] == "t2"))]
    single = paired_comparison(only_t1, "a", "b", "2-cameras", n_resamples=300)
    assert (single["common_trials"] == 1).all()
    # On t1 alone: model a's mean is (11 * 1 + 4) / 12, model b's (11 * 4 + 3) / 12.
    mean = single.set_index("joint").loc["mean"]
    assert mean["value_a_deg"] == pytest.approx(15 / 12)
    assert mean["difference_deg"] == pytest.approx(15 / 12 - 47 / 12)
    assert mean["difference_low_deg"] == mean["difference_high_deg"] == mean["difference_deg"]


def test_paired_comparison_errors() -> None:
    scores = _tiny_scores()
    disjoint = scores[~((scores["model"] == "b") & (scores["trial"] == "t1"))]
    disjoint = disjoint[~((disjoint["model"] == "a") & (disjoint["trial"] == "t2"))]
    with pytest.raises(LeaderboardError, match="share no recording"):
        paired_comparison(disjoint, "a", "b", "2-cameras")
    with pytest.raises(LeaderboardError, match="model 'c' has no scores"):
        paired_comparison(scores, "a", "c", "2-cameras")
    with pytest.raises(LeaderboardError, match="setup '3-cameras' has no scores"):
        paired_comparison(scores, "a", "b", "3-cameras")


def test_write_leaderboard(tmp_path: Path) -> None:
    scores = _random_scores(models=("m1", "m2", "m3"))
    csv, md, png = tmp_path / "out" / "board.csv", tmp_path / "board.md", tmp_path / "board.png"
    table = write_leaderboard(scores, csv, md, png, n_resamples=200)

    written = pd.read_csv(csv)
    assert list(written.columns[:5]) == ["setup", "model", "scaling", "trials", "nan_scores"]
    assert set(written["scaling"]) == {"mocap"}
    assert {"mean_low", "mean_high", "knee_angle_low"} <= set(written.columns)
    assert len(written) == 6
    for _, rows in written.groupby("setup"):
        assert rows["mean"].is_monotonic_increasing
    assert list(written["setup"]) == sorted(written["setup"])
    np.testing.assert_allclose(written["mean"], table["mean"], atol=1e-4)

    lines = md.read_text(encoding="utf-8").splitlines()
    assert "rmse_deg_shifted" in lines[0] and "12 trials per row" in lines[0]
    assert "Models scaled on motion capture" in lines[0] and "comparable with" in lines[0]
    assert lines[2] == f"| model | setup | {PUBLISHED_HEADER} | trials |"
    first = lines[4].split(" | ")
    assert first[-2].count("[") == 1 and first[-2].endswith("]")
    low, high = (float(v) for v in first[-2].split("[")[1].rstrip("]").split(", "))
    assert low <= float(first[-2].split(" ")[0]) <= high
    assert all(len(cell.split(".")[1]) == 1 for cell in first[2:-2])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_write_breakdowns(tmp_path: Path) -> None:
    scores = _random_scores(models=("m1", "m2", "m3"), n_trials=6)
    paths = write_breakdowns(scores, tmp_path / "breakdowns", n_resamples=100)
    assert [path.name for path in paths] == [
        "joint_table_by_activity.csv",
        "joint_table_by_subject.csv",
        "paired_comparisons.csv",
    ]
    by_activity, by_subject, paired = (pd.read_csv(path) for path in paths)
    assert set(by_activity["activity"]) == {"squats", "walking"}
    assert len(by_subject) == 3 * 2 * 3  # models x setups x subjects
    pairs = paired[["setup", "model_a", "model_b"]].drop_duplicates()
    assert len(pairs) == 2 * 3 and len(paired) == 2 * 3 * len(JOINT_COLUMNS)
    assert (pairs["model_a"] < pairs["model_b"]).all()


def test_statistics_and_rendering_do_not_import_matplotlib() -> None:
    """Only drawing the plot loads matplotlib; importing the modules, the plot's included,
    does not."""
    modules = (
        "posebench.leaderboard.statistics",
        "posebench.leaderboard.render",
        "posebench.leaderboard.plot",
        "posebench.stages.leaderboard",
    )
    code = (
        f"import {', '.join(modules)}, sys; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
