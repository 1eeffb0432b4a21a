"""End to end on a generated synthetic subject: the oracle through the whole workflow,
scored against the known truth (config/synthetic.yaml, with four of its models: the
anatomical oracle clean and noisy, and the sparse joint-centre oracle tracked directly and
through the marker augmenter)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from posebench.augmenter import output_markers
from posebench.evaluation import SCORED_DOFS
from posebench.io.trc import read_trc
from posebench.paths import PATHS
from snakemake_runner import REPO, run_snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.network]

SPARSE = ["oracle-sparse-direct-clean", "oracle-sparse-augmented-clean"]
MODELS = ["oracle-clean", "oracle-noise3", *SPARSE]


@pytest.fixture(scope="module")
def synthetic_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("synthetic")
    result = run_snakemake(
        workdir,
        "--config", f"run={{'datasets': ['synthetic'], 'models': {MODELS}}}",
        "--cores", "2",
        configs=(REPO / "config" / "synthetic.yaml",),
    )  # fmt: skip
    if result.returncode != 0:
        logs = "\n".join(
            f"--- {p}\n{p.read_text()[-2000:]}"
            for p in sorted((workdir / "logs").rglob("*.log"))
            if "Error" in p.read_text() or "Traceback" in p.read_text()
        )
        pytest.fail(f"snakemake failed:\n{result.stderr[-6000:]}\n{logs}")
    return workdir


def test_leaderboard_files(synthetic_run: Path) -> None:
    def result(template: str) -> Path:
        return synthetic_run / template.format(dataset="synthetic")

    leaderboard = pd.read_csv(result(PATHS.leaderboard_csv))
    assert sorted(zip(leaderboard["model"], leaderboard["setup"], strict=True)) == sorted(
        (model, setup) for model in MODELS for setup in ("2-cameras", "5-cameras")
    )
    assert (leaderboard["trials"] == 4).all()  # squats, STS, DJ, walking; static is not scored
    markdown = result(PATHS.leaderboard_md).read_text()
    assert "| pelvis tilt | pelvis rot | pelvis list | hip flex |" in markdown
    assert result(PATHS.leaderboard_png).stat().st_size > 0
    for name in (
        "joint_table_by_activity.csv",
        "joint_table_by_subject.csv",
        "paired_comparisons.csv",
    ):
        assert (result(PATHS.breakdowns) / name).is_file()


def test_noise_free_oracle_error_floor(
    synthetic_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scores = pd.read_csv(synthetic_run / PATHS.dataset_scores.format(dataset="synthetic"))
    clean = scores[scores["model"] == "oracle-clean"]
    assert (clean["lag_frames"] == 0).all()
    per_dof = (
        clean.groupby(["setup", "dof"])["rmse_deg_shifted"].agg(["mean", "max"]).unstack("setup")
    )
    with capsys.disabled():
        print("\nnoise-free oracle RMSE (deg) per DOF, mean and max over trials:")
        print(per_dof.round(3).to_string())
    assert set(clean["dof"]) == set(SCORED_DOFS)
    assert (per_dof["mean"] < 0.5).all().all(), per_dof
    # Per trial the floor is OpenSim's IK convergence (exact mocap markers give the same
    # error); no trial's DOF may exceed it by much.
    assert (per_dof["max"] < 0.8).all().all(), per_dof


def test_noisy_oracle_is_scored(synthetic_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    leaderboard = pd.read_csv(synthetic_run / PATHS.leaderboard_csv.format(dataset="synthetic"))
    noisy = leaderboard[leaderboard["model"] == "oracle-noise3"].set_index("setup")
    with capsys.disabled():
        print("\noracle with 3 px noise, mean RMSE over the 12 joints (deg):")
        print(noisy["mean"].round(2).to_string())
    clean = leaderboard[leaderboard["model"] == "oracle-clean"].set_index("setup")
    assert (noisy["mean"] > clean["mean"]).all()
    assert noisy.loc["5-cameras", "mean"] < noisy.loc["2-cameras", "mean"]


def test_sparse_oracle_direct_and_augmented(
    synthetic_run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Joint centres and feet straight into IK, and through the LSTM augmenter into the 43
    anatomical markers: both scored against the truth next to the anatomical oracle."""
    leaderboard = pd.read_csv(synthetic_run / PATHS.leaderboard_csv.format(dataset="synthetic"))
    means = leaderboard.pivot(index="model", columns="setup", values="mean")
    with capsys.disabled():
        print("\nmean RMSE over the 12 joints (deg):")
        print(means.round(2).to_string())
    # Measured: 1.1 deg direct (the L5_S1 prior of Pose2Sim's Halpe26 set-up biases pelvis
    # tilt and lumbar extension), 4.1 deg augmented (the augmenter's markers lie 2-6 cm
    # from the model's, as trained on other keypoints), 0.1 deg anatomical.
    assert (means.loc["oracle-sparse-direct-clean"] < 2.0).all()
    assert (means.loc["oracle-sparse-augmented-clean"] < 6.0).all()
    assert (means.loc["oracle-clean"] < means.loc["oracle-sparse-direct-clean"]).all()
    unit = {
        "dataset": "synthetic", "subject": "subject2", "session": "Session1",
        "trial": "walking1", "setup": "2-cameras",
    }  # fmt: skip
    report = json.loads(
        (
            synthetic_run / PATHS.augmentation.format(**unit, model="oracle-sparse-augmented-clean")
        ).read_text()
    )
    assert report["marker_set"] == "halpe26-lstm"
    assert (report["height_source"], report["height_m"]) == ("metadata", 1.7)
    assert report["frames_augmented"] == report["frames"]
    augmented = read_trc(
        synthetic_run / PATHS.augmented_trc.format(**unit, model="oracle-sparse-augmented-clean")
    )
    assert augmented.marker_names[-43:] == output_markers("lstm-v0.3")
    # The direct set has no augment step: IK reads the triangulated markers.
    ik = json.loads(
        (synthetic_run / PATHS.ik.format(**unit, model="oracle-sparse-direct-clean")).read_text()
    )
    assert ik["trc"] == PATHS.trc.format(**unit, model="oracle-sparse-direct-clean")
    assert not (
        synthetic_run
        / "results"
        / "augment"
        / "synthetic"
        / "subject2"
        / "Session1"
        / "walking1"
        / "oracle-sparse-direct-clean"
    ).exists()
