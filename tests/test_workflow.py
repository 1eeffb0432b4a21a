"""Workflow tests: Snakemake runs the embedded demo end to end in a temporary directory."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from posebench.io.mot import read_mot
from posebench.io.trc import read_trc

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
TRIAL = "pose2sim-demo/P00/S00/balancing/mediapipe-blazepose"
SETUP = "all"
CAMERAS = ["cam01", "cam02", "cam03", "cam04"]

pytestmark = pytest.mark.workflow


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        *SNAKEMAKE,
        "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir),
        "--configfile", str(REPO / "config" / "config.yaml"),
        *args,
    ]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, cwd=workdir)


def dry_run_jobs(workdir: Path) -> dict[str, int]:
    """Job counts per rule that a dry run would execute."""
    result = snakemake(workdir, "-n", "--cores", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:")[1].split("Reasons:")[0]
    counts = {}
    for line in table.splitlines():
        match = re.fullmatch(r"\s*(\w+)\s+(\d+)\s*", line)
        if match and match.group(1) != "total":
            counts[match.group(1)] = int(match.group(2))
    return counts


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the default workflow once; every test below inspects this run."""
    workdir = tmp_path_factory.mktemp("demo")
    result = snakemake(workdir, "--cores", "2")
    if result.returncode != 0:
        logs = "\n".join(
            f"--- {p}\n{p.read_text()[-3000:]}" for p in sorted((workdir / "logs").rglob("*.log"))
        )
        pytest.fail(f"snakemake failed:\n{result.stderr[-6000:]}\n{logs}")
    return workdir


def test_outputs_exist(demo_run: Path) -> None:
    results = demo_run / "results"
    for camera in CAMERAS:
        assert (results / "pose2d" / TRIAL / f"{camera}.npz").is_file()
    expected = [
        f"triangulate/{TRIAL}/{SETUP}/markers.trc",
        f"triangulate/{TRIAL}/{SETUP}/reprojection_error.csv",
        f"scale/pose2sim-demo/P00/S00/mediapipe-blazepose/{SETUP}/scaled.osim",
        f"ik/{TRIAL}/{SETUP}/joint_angles.mot",
        f"ik/{TRIAL}/{SETUP}/marker_errors.sto",
        f"summary/{TRIAL}/{SETUP}/joint_angles.png",
        "summary/joint_angles.csv",
        "summary/trials.csv",
    ]
    for relative in expected:
        assert (results / relative).is_file(), relative
    for rule in ("pose2d", "triangulate", "scale", "inverse_kinematics"):
        assert list((demo_run / "benchmarks" / rule).rglob("*.tsv")), rule
    assert not (demo_run / "opensim.log").exists(), "OpenSim must log into the rule's log"


def test_keypoints_cover_all_frames(demo_run: Path) -> None:
    from posebench.io.keypoints import load_keypoints

    for camera in CAMERAS:
        keypoints = load_keypoints(demo_run / "results" / "pose2d" / TRIAL / f"{camera}.npz")
        assert keypoints.keypoints_px.shape == (100, 33, 2)
        assert keypoints.fps == pytest.approx(60.0)
        assert keypoints.detected_frames().mean() > 0.9


def test_trc_is_plausible(demo_run: Path) -> None:
    import opensim

    path = demo_run / "results" / "triangulate" / TRIAL / SETUP / "markers.trc"
    trc = read_trc(path)
    table = opensim.TimeSeriesTableVec3(str(path))
    assert table.getNumRows() == len(trc.times_s)
    # 100 frames at 60 fps span 1.65 s -> about 166 samples at 100 Hz.
    assert 150 <= len(trc.times_s) <= 166
    assert np.allclose(np.diff(trc.times_s), 0.01)
    head = trc.positions[:, trc.marker_names.index("Nose"), 1]
    ankle = trc.positions[:, trc.marker_names.index("RAnkle"), 1]
    height = np.nanmedian(head - ankle)
    assert 1.2 < height < 2.0, f"nose above ankle by {height:.2f} m: y must point up"


def test_joint_angles_physiological(demo_run: Path) -> None:
    motion = read_mot(demo_run / "results" / "ik" / TRIAL / SETUP / "joint_angles.mot")
    table = motion.table
    assert motion.header["inDegrees"] == "yes"
    assert len(table) >= 150
    assert np.isfinite(table.to_numpy()).all()
    for side in ("r", "l"):
        knee = table[f"knee_angle_{side}"]
        hip = table[f"hip_flexion_{side}"]
        assert knee.between(-5, 140).all(), knee.describe()
        assert hip.between(-40, 130).all(), hip.describe()


def test_summary_tables(demo_run: Path) -> None:
    statistics = pd.read_csv(demo_run / "results" / "summary" / "joint_angles.csv")
    assert {"model", "trial", "coordinate", "mean", "range"} <= set(statistics.columns)
    assert "knee_angle_r" in set(statistics["coordinate"])
    quality = pd.read_csv(demo_run / "results" / "summary" / "trials.csv")
    assert len(quality) == 1
    assert quality["mean_reprojection_error_px"].iloc[0] < 30


def test_second_run_does_nothing(demo_run: Path) -> None:
    assert dry_run_jobs(demo_run) == {}


def test_deleting_one_camera_reruns_only_dependents(demo_run: Path) -> None:
    keypoints = demo_run / "results" / "pose2d" / TRIAL / "cam02.npz"
    backup, stat = keypoints.read_bytes(), keypoints.stat()
    keypoints.unlink()
    try:
        jobs = dry_run_jobs(demo_run)
    finally:
        keypoints.write_bytes(backup)
        os.utime(keypoints, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert jobs == {
        "pose2d": 1,
        "triangulate": 1,
        "scale": 1,
        "inverse_kinematics": 1,
        "summarize": 1,
        "aggregate": 1,
        "all": 1,
    }


def test_dry_run_on_a_fresh_directory(tmp_path: Path) -> None:
    result = snakemake(tmp_path, "-n", "--cores", "2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "fetch_demo_data" in result.stdout
    assert "describe_dataset" in result.stdout


def test_unknown_model_is_rejected_with_the_valid_names(tmp_path: Path) -> None:
    result = snakemake(
        tmp_path, "-n", "--config", "run={'datasets': ['pose2sim-demo'], 'models': ['vitpose-x']}"
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "run.models names ['vitpose-x']" in output
    valid = sorted(
        ["mediapipe-blazepose", "oracle", "synthpose-vitpose-base"]
        + ["synthpose-vitpose-huge", "vitpose-base-coco"]
    )
    assert f"Valid names: {valid}" in output


def test_stage_timings_from_benchmarks(demo_run: Path) -> None:
    from posebench.cli import stage_timings

    timings = stage_timings(demo_run / "benchmarks").set_index("rule")
    assert set(timings.index) == {"pose2d", "triangulate", "scale", "inverse_kinematics"}
    assert timings.loc["pose2d", "jobs"] == 4
    assert (timings["total_s"] > 0).all()
