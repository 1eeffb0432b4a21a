"""Tests of the per-trial metric (lag search, frame alignment, DOF selection by name), on
files through the stage `evaluate` and on tables through `posebench.evaluation`."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from posebench.evaluation import (
    KEY_COLUMNS,
    SCORE_COLUMNS,
    SCORED_DOFS,
    EvaluationError,
    JointAngles,
    score_trial,
    trial_scores_table,
)
from posebench.io.errors import UnreadableFileError
from posebench.io.mot import MotData, write_mot
from posebench.reconstruction import reconstruct
from posebench.stages.evaluate import evaluate_trial, run, write_trial_scores
from test_reconstruction import EXACT, MARKERS, clean_views, trial_views_of

RATE_HZ = 100.0
PAD_FRAMES = 60
LUMBAR_ALIASES = {
    "lumbar_extension": "L5_S1_Flex_Ext",
    "lumbar_bending": "L5_S1_Lat_Bending",
    "lumbar_rotation": "L5_S1_axial_rotation",
}


def _signals(n_frames: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Angles (deg) for every scored DOF on frames -PAD_FRAMES .. n_frames + PAD_FRAMES - 1.

    The knee angles are a chirp plus seeded noise: non-periodic, so only the true lag
    matches them, and noisy enough that no wrong lag beats a constant offset.
    """
    rng = np.random.default_rng(seed)
    time_s = np.arange(-PAD_FRAMES, n_frames + PAD_FRAMES) / RATE_HZ
    signals = {}
    for index, dof in enumerate(SCORED_DOFS):
        chirp = np.sin(2 * np.pi * (0.5 * time_s + 0.4 * time_s**2) + index)
        amplitude = 30.0 if dof.startswith("knee") else 5.0 + index
        signals[dof] = 20.0 + amplitude * chirp + rng.normal(0.0, 3.0, time_s.size)
    return signals


def _table(
    signals: Mapping[str, np.ndarray],
    frames: np.ndarray,
    *,
    delay_frames: int = 0,
    offset_deg: float = 0.0,
    names: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Rows for `frames` (time = frame / 100 s); value at frame k = signal[k - delay]."""
    names = names or {}
    table = pd.DataFrame({"time": frames / RATE_HZ})
    for dof, signal in signals.items():
        table[names.get(dof, dof)] = signal[frames - delay_frames + PAD_FRAMES] + offset_deg
    return table


def _write(path: Path, table: pd.DataFrame, *, in_degrees: bool = True) -> Path:
    write_mot(path, table, name="Coordinates", in_degrees=in_degrees)
    return path


@pytest.fixture()
def signals() -> dict[str, np.ndarray]:
    return _signals(300)


@pytest.fixture()
def truth(tmp_path: Path, signals: dict[str, np.ndarray]) -> Path:
    return _write(tmp_path / "truth.mot", _table(signals, np.arange(300)))


def _row(scores: pd.DataFrame, dof: str) -> pd.Series:
    return scores.set_index("dof").loc[dof]


def test_output_layout(tmp_path: Path, truth: Path, signals: dict[str, np.ndarray]) -> None:
    prediction = _write(tmp_path / "prediction.mot", _table(signals, np.arange(300)))
    scores = evaluate_trial(prediction, truth)
    assert list(scores.columns) == list(SCORE_COLUMNS)
    assert list(scores["dof"]) == list(SCORED_DOFS)
    assert len(SCORED_DOFS) == 18
    np.testing.assert_allclose(scores["rmse_deg_unshifted"], 0.0, atol=1e-7)
    assert (scores["frames_unshifted"] == 300).all()
    assert (scores[["lag_frames", "lag_frames_r", "lag_frames_l"]] == 0).all().all()


@pytest.mark.parametrize("delay_frames", [7, -7, 23, -40])
def test_known_lag_is_recovered(
    tmp_path: Path, truth: Path, signals: dict[str, np.ndarray], delay_frames: int
) -> None:
    # Positive delay: prediction frame k shows ground-truth frame k - delay (it is late),
    # so prediction frame i + delay matches ground-truth frame i: lag = +delay.
    prediction = _write(
        tmp_path / "prediction.mot",
        _table(signals, np.arange(300), delay_frames=delay_frames),
    )
    scores = evaluate_trial(prediction, truth)
    assert (scores["lag_frames"] == delay_frames).all()
    assert (scores["lag_frames_r"] == delay_frames).all()
    assert (scores["lag_frames_l"] == delay_frames).all()
    np.testing.assert_allclose(scores["rmse_deg_shifted"], 0.0, atol=1e-7)
    assert (scores["rmse_deg_unshifted"] > 1.0).all()
    assert (scores["frames_shifted"] == 300 - abs(delay_frames)).all()
    assert (scores["frames_unshifted"] == 300).all()


def test_lag_beyond_search_range_is_not_found(
    tmp_path: Path, truth: Path, signals: dict[str, np.ndarray]
) -> None:
    prediction = _write(
        tmp_path / "prediction.mot", _table(signals, np.arange(300), delay_frames=12)
    )
    scores = evaluate_trial(prediction, truth, max_lag_frames=5)
    assert abs(int(scores["lag_frames"].iloc[0])) <= 5
    assert (scores["rmse_deg_shifted"] > 1.0).all()


@pytest.mark.parametrize(("delay_r", "delay_l", "expected"), [(3, 4, 3), (-3, -4, -3), (2, 5, 3)])
def test_trial_lag_is_mean_of_knees_halves_toward_zero(
    tmp_path: Path,
    truth: Path,
    signals: dict[str, np.ndarray],
    delay_r: int,
    delay_l: int,
    expected: int,
) -> None:
    table = _table(signals, np.arange(300))
    frames = np.arange(300)
    table["knee_angle_r"] = signals["knee_angle_r"][frames - delay_r + PAD_FRAMES]
    table["knee_angle_l"] = signals["knee_angle_l"][frames - delay_l + PAD_FRAMES]
    scores = evaluate_trial(_write(tmp_path / "prediction.mot", table), truth)
    assert int(scores["lag_frames_r"].iloc[0]) == delay_r
    assert int(scores["lag_frames_l"].iloc[0]) == delay_l
    assert (scores["lag_frames"] == expected).all()


def test_constant_offset_gives_rmse_of_the_offset(
    tmp_path: Path, truth: Path, signals: dict[str, np.ndarray]
) -> None:
    prediction = _write(
        tmp_path / "prediction.mot", _table(signals, np.arange(300), offset_deg=2.0)
    )
    scores = evaluate_trial(prediction, truth)
    assert (scores["lag_frames"] == 0).all()
    np.testing.assert_allclose(scores["rmse_deg_unshifted"], 2.0, atol=1e-7)
    np.testing.assert_allclose(scores["rmse_deg_shifted"], 2.0, atol=1e-7)


def test_columns_are_selected_by_name(
    tmp_path: Path, truth: Path, signals: dict[str, np.ndarray]
) -> None:
    table = _table(signals, np.arange(300), delay_frames=5, offset_deg=1.5)
    reference = evaluate_trial(_write(tmp_path / "ordered.mot", table), truth)
    shuffled = table[["time", *np.random.default_rng(1).permutation(list(SCORED_DOFS))]].copy()
    shuffled.insert(3, "pelvis_tx", 0.5)
    shuffled["knee_angle_r_beta"] = 10.0
    shuffled["arm_flex_r"] = -30.0
    scores = evaluate_trial(_write(tmp_path / "shuffled.mot", shuffled), truth)
    pd.testing.assert_frame_equal(scores, reference)


def test_aliases_map_canonical_names(
    tmp_path: Path, truth: Path, signals: dict[str, np.ndarray]
) -> None:
    plain = _write(tmp_path / "plain.mot", _table(signals, np.arange(300), delay_frames=3))
    renamed = _write(
        tmp_path / "renamed.mot",
        _table(signals, np.arange(300), delay_frames=3, names=LUMBAR_ALIASES),
    )
    with pytest.raises(EvaluationError, match="lumbar_extension"):
        evaluate_trial(renamed, truth)
    scores = evaluate_trial(renamed, truth, prediction_aliases=LUMBAR_ALIASES)
    pd.testing.assert_frame_equal(scores, evaluate_trial(plain, truth))
    swapped = evaluate_trial(truth, renamed, ground_truth_aliases=LUMBAR_ALIASES)
    assert (swapped["lag_frames"] == -3).all()


def test_alias_for_unknown_dof_is_an_error(tmp_path: Path, truth: Path) -> None:
    with pytest.raises(EvaluationError, match="lumbar_flexion"):
        evaluate_trial(truth, truth, prediction_aliases={"lumbar_flexion": "L5_S1_Flex_Ext"})


def test_nan_rows_are_excluded_per_dof(
    tmp_path: Path, truth: Path, signals: dict[str, np.ndarray]
) -> None:
    table = _table(signals, np.arange(300), offset_deg=1.0)
    table.loc[[10, 11, 12, 200], "hip_flexion_r"] = np.nan
    scores = evaluate_trial(_write(tmp_path / "prediction.mot", table), truth)
    hip = _row(scores, "hip_flexion_r")
    assert hip["frames_unshifted"] == 296
    assert hip["rmse_deg_unshifted"] == pytest.approx(1.0, abs=1e-7)
    others = scores[scores["dof"] != "hip_flexion_r"]
    assert (others["frames_unshifted"] == 300).all()
    np.testing.assert_allclose(others["rmse_deg_unshifted"], 1.0, atol=1e-7)


def test_dof_without_enough_frames_gets_nan_rmse(
    tmp_path: Path, truth: Path, signals: dict[str, np.ndarray]
) -> None:
    table = _table(signals, np.arange(300))
    table.loc[9:, "subtalar_angle_l"] = np.nan  # 9 finite frames < MIN_OVERLAP_FRAMES
    scores = evaluate_trial(_write(tmp_path / "prediction.mot", table), truth)
    subtalar = _row(scores, "subtalar_angle_l")
    assert subtalar["frames_unshifted"] == 9
    assert np.isnan(subtalar["rmse_deg_unshifted"])
    assert scores["rmse_deg_unshifted"].isna().sum() == 1


def test_alignment_uses_frame_indices(tmp_path: Path, signals: dict[str, np.ndarray]) -> None:
    # Ground truth on frames 5..304; the prediction lacks its first frames and frame 150,
    # so row positions differ from frame indices throughout.
    truth = _write(tmp_path / "truth.mot", _table(signals, np.arange(5, 305)))
    frames = np.setdiff1d(np.arange(17, 305), [150])
    prediction = _write(
        tmp_path / "prediction.mot", _table(signals, frames, delay_frames=4, offset_deg=0.5)
    )
    scores = evaluate_trial(prediction, truth)
    assert (scores["lag_frames"] == 4).all()
    assert (scores["frames_unshifted"] == frames.size).all()
    np.testing.assert_allclose(scores["rmse_deg_shifted"], 0.5, atol=1e-7)
    # Shifted: prediction frame i + 4 vs truth frame i, both present.
    expected_pairs = np.intersect1d(frames - 4, np.arange(5, 305)).size
    assert (scores["frames_shifted"] == expected_pairs).all()


def test_float_times_align_on_the_frame_grid(
    tmp_path: Path, truth: Path, signals: dict[str, np.ndarray]
) -> None:
    table = _table(signals, np.arange(300), offset_deg=2.0)
    jitter_s = np.where(np.arange(300) % 2 == 0, 3e-6, -3e-6)  # 0.0003 frames
    table["time"] = table["time"] + jitter_s
    path = _write(tmp_path / "prediction.mot", table)
    text = path.read_text(encoding="utf-8").replace("\n0.30000300\t", "\n0.30000000000000004\t")
    assert "0.30000000000000004" in text
    path.write_text(text, encoding="utf-8")
    scores = evaluate_trial(path, truth)
    assert (scores["frames_unshifted"] == 300).all()
    np.testing.assert_allclose(scores["rmse_deg_unshifted"], 2.0, atol=1e-7)


def test_time_off_the_grid_is_an_error(
    tmp_path: Path, truth: Path, signals: dict[str, np.ndarray]
) -> None:
    table = _table(signals, np.arange(300))
    table["time"] = np.arange(300) / 60.0  # a 60 Hz file passed as 100 Hz
    with pytest.raises(EvaluationError, match="off the 100 Hz grid"):
        evaluate_trial(_write(tmp_path / "prediction.mot", table), truth)


def test_duplicate_frame_indices_are_an_error(
    tmp_path: Path, truth: Path, signals: dict[str, np.ndarray]
) -> None:
    table = _table(signals, np.arange(300))
    table.loc[31, "time"] = 0.3004  # rounds to frame 30 like row 30
    with pytest.raises(EvaluationError, match="frame 30"):
        evaluate_trial(_write(tmp_path / "prediction.mot", table), truth)


def test_radians_are_an_error(tmp_path: Path, truth: Path, signals: dict[str, np.ndarray]) -> None:
    prediction = _write(
        tmp_path / "prediction.mot", _table(signals, np.arange(300)), in_degrees=False
    )
    with pytest.raises(EvaluationError, match="inDegrees=no, expected inDegrees=yes"):
        evaluate_trial(prediction, truth)


def test_missing_dof_lists_available_columns(
    tmp_path: Path, truth: Path, signals: dict[str, np.ndarray]
) -> None:
    table = _table(signals, np.arange(300)).drop(columns=["ankle_angle_l"])
    path = _write(tmp_path / "prediction.mot", table)
    with pytest.raises(EvaluationError, match="ankle_angle_l") as error:
        evaluate_trial(path, truth)
    assert str(path) in str(error.value)
    assert "available columns" in str(error.value) and "subtalar_angle_l" in str(error.value)


def test_disjoint_files_are_an_error(
    tmp_path: Path, truth: Path, signals: dict[str, np.ndarray]
) -> None:
    later = _table(signals, np.arange(300))
    later["time"] = later["time"] + 10.0
    with pytest.raises(EvaluationError, match="share no frame"):
        evaluate_trial(_write(tmp_path / "later.mot", later), truth)


def test_write_trial_scores_prepends_keys(tmp_path: Path, truth: Path) -> None:
    scores = evaluate_trial(truth, truth)
    keys = {
        "dataset": "opencap",
        "setup": "2-cameras",
        "subject": "subject2",
        "session": "Session0",
        "trial": "squats1",
        "activity": "squats",
        "model": "synthpose-base",
        "scaling": "video",
    }
    path = tmp_path / "scores" / "trial.csv"
    write_trial_scores(scores, path, keys)
    written = pd.read_csv(path)
    assert list(written.columns) == [*KEY_COLUMNS, *SCORE_COLUMNS]
    assert (written["model"] == "synthpose-base").all() and len(written) == 18
    assert list(written["dof"]) == list(SCORED_DOFS)
    with pytest.raises(EvaluationError, match="missing \\['model'\\]"):
        write_trial_scores(scores, path, {k: v for k, v in keys.items() if k != "model"})


# ------------------------------------------------------------------- the core, no files

KEYS = dict(zip(KEY_COLUMNS, ("d", "all", "s", "S", "t", "squats", "m", "video"), strict=True))


def _angles(
    table: pd.DataFrame,
    source: str = "memory",
    *,
    in_degrees: bool = True,
    aliases: Mapping[str, str] | None = None,
) -> JointAngles:
    """A table as an IK result, without a file."""
    header = {"inDegrees": "yes" if in_degrees else "no"}
    return JointAngles(MotData("Coordinates", header, table), source, aliases or {})


def test_core_scores_tables(signals: dict[str, np.ndarray]) -> None:
    truth = _angles(_table(signals, np.arange(300)))
    late = _table(signals, np.arange(10, 300), delay_frames=7, names=LUMBAR_ALIASES)
    scores = score_trial(_angles(late, aliases=LUMBAR_ALIASES), truth, max_lag_frames=10)
    assert list(scores["dof"]) == list(SCORED_DOFS)
    assert (scores[["lag_frames", "lag_frames_r", "lag_frames_l"]] == 7).all().all()
    np.testing.assert_allclose(scores["rmse_deg_shifted"], 0.0, atol=1e-7)
    assert (scores["frames_unshifted"] == 290).all() and (scores["frames_shifted"] == 290).all()


def test_core_names_the_source_in_errors(signals: dict[str, np.ndarray]) -> None:
    table = _table(signals, np.arange(300))
    with pytest.raises(EvaluationError, match=r"^prediction\.mot: inDegrees=no, expected"):
        score_trial(_angles(table, "prediction.mot", in_degrees=False), _angles(table))
    with pytest.raises(
        EvaluationError, match=r"^truth\.mot: scored DOFs \[\"lumbar_extension \(as"
    ):
        score_trial(_angles(table), _angles(table, "truth.mot", aliases=LUMBAR_ALIASES))


def test_trial_scores_table(signals: dict[str, np.ndarray]) -> None:
    table = _table(signals, np.arange(300))
    scores = score_trial(_angles(table), _angles(table))
    durations = {"video_duration_s": 3.0, "truth_duration_s": 2.99}
    keyed = trial_scores_table(scores, KEYS, durations, "scores.csv")
    assert list(keyed.columns) == [*KEY_COLUMNS, *SCORE_COLUMNS, *durations]
    assert (keyed["truth_duration_s"] == 2.99).all() and (keyed["scaling"] == "video").all()
    with pytest.raises(EvaluationError, match=r"^scores\.csv: keys must be exactly"):
        trial_scores_table(scores, {**KEYS, "camera": "c"}, None, "scores.csv")


def test_stage_writes_scores_and_durations(
    tmp_path: Path, truth: Path, signals: dict[str, np.ndarray]
) -> None:
    prediction = _write(tmp_path / "prediction.mot", _table(signals, np.arange(300)))
    report = reconstruct(trial_views_of(*clean_views()), MARKERS, EXACT).report
    triangulation = tmp_path / "triangulation.json"
    replace(report, video_frames=300, time_base_fps=100.0).write(triangulation)
    output = tmp_path / "scores.csv"
    options = {"keys": KEYS, "marker_set": "anatomical-lai2022", "ground_truth_aliases": None}
    run(motion=prediction, ground_truth=truth, triangulation=triangulation, output=output,
        rate_hz=100.0, max_lag_frames=40, **options)  # fmt: skip
    written = pd.read_csv(output)
    durations = ["video_duration_s", "video_duration_header_fps_s", "truth_duration_s"]
    assert list(written.columns) == [*KEY_COLUMNS, *SCORE_COLUMNS, *durations]
    assert (written["video_duration_s"] == 2.99).all() and (written["lag_frames"] == 0).all()
    # A report written before the time base was recorded names the file.
    content = json.loads(triangulation.read_text())
    del content["time_base_fps"]
    triangulation.write_text(json.dumps(content))
    with pytest.raises(UnreadableFileError, match="lacks time_base_fps") as error:
        run(motion=prediction, ground_truth=truth, triangulation=triangulation, output=output,
            rate_hz=100.0, max_lag_frames=40, **options)  # fmt: skip
    assert str(triangulation) in str(error.value)
