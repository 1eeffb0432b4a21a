"""Workflow tests: Snakemake runs the embedded demo end to end in a temporary directory."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from posebench.io.mot import read_mot
from posebench.io.trc import read_trc
from posebench.paths import PATHS
from snakemake_runner import DEFAULT_CONFIG, run_snakemake

UNIT = {
    "dataset": "pose2sim-demo",
    "subject": "P00",
    "session": "S00",
    "trial": "balancing",
    "model": "mediapipe-blazepose",
    "setup": "all",
}
CAMERAS = ["cam01", "cam02", "cam03", "cam04"]


def output(workdir: Path, template: str, **values: str) -> Path:
    """The demo unit's file of a `PATHS` template under `workdir`."""
    return workdir / template.format(**{**UNIT, **values})


pytestmark = [pytest.mark.workflow, pytest.mark.network, pytest.mark.mediapipe]


def snakemake(
    workdir: Path, *args: str, configs: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    return run_snakemake(workdir, *args, configs=(DEFAULT_CONFIG, *configs))


def dry_run_jobs(workdir: Path, configs: tuple[str, ...] = ()) -> dict[str, int]:
    """Job counts per rule that a dry run would execute."""
    result = snakemake(workdir, "-n", "--cores", "2", configs=configs)
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


def test_outputs_exist(demo_run: Path) -> None:
    for camera in CAMERAS:
        assert output(demo_run, PATHS.keypoints, camera=camera).is_file()
    expected = [
        PATHS.trc, PATHS.reprojection, PATHS.triangulation, PATHS.scaled_model, PATHS.scaling,
        PATHS.motion, PATHS.marker_errors, PATHS.ik, PATHS.plot, PATHS.statistics,
        PATHS.quality, PATHS.all_statistics, PATHS.all_quality,
    ]  # fmt: skip
    for template in expected:
        assert output(demo_run, template).is_file(), template
    for rule in ("pose2d", "triangulate", "scale", "inverse_kinematics"):
        assert list((demo_run / "benchmarks" / rule).rglob("*.tsv")), rule
    assert not (demo_run / "opensim.log").exists(), "OpenSim must log into the rule's log"


def test_keypoints_cover_all_frames(demo_run: Path) -> None:
    from posebench.io.keypoints import load_keypoints

    for camera in CAMERAS:
        keypoints = load_keypoints(output(demo_run, PATHS.keypoints, camera=camera))
        assert keypoints.keypoints_px.shape == (100, 33, 2)
        assert keypoints.fps == pytest.approx(60.0)
        assert keypoints.detected_frames().mean() > 0.9


def test_trc_is_plausible(demo_run: Path) -> None:
    import opensim

    path = output(demo_run, PATHS.trc)
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
    motion = read_mot(output(demo_run, PATHS.motion))
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
    statistics = pd.read_csv(output(demo_run, PATHS.all_statistics))
    assert {"model", "trial", "coordinate", "mean", "range"} <= set(statistics.columns)
    assert "knee_angle_r" in set(statistics["coordinate"])
    quality = pd.read_csv(output(demo_run, PATHS.all_quality))
    assert len(quality) == 1
    assert quality["mean_reprojection_error_px"].iloc[0] < 30


def test_second_run_does_nothing(demo_run: Path) -> None:
    assert dry_run_jobs(demo_run) == {}


def test_deleting_one_camera_reruns_only_dependents(demo_run: Path) -> None:
    keypoints = output(demo_run, PATHS.keypoints, camera="cam02")
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
    valid = sorted(yaml.safe_load(DEFAULT_CONFIG.read_text())["models"])
    assert "hrnet-w48-coco" in valid and "synthpose-vitpose-base" in valid
    assert f"Valid names: {valid}" in output


def test_stage_timings_from_benchmarks(demo_run: Path) -> None:
    from posebench.cli import stage_timings

    timings = stage_timings(demo_run / "benchmarks").set_index("rule")
    assert set(timings.index) == {"pose2d", "triangulate", "scale", "inverse_kinematics"}
    assert timings.loc["pose2d", "jobs"] == 4
    assert (timings["total_s"] > 0).all()


def test_report_embeds_the_plot_and_tables(demo_run: Path, tmp_path: Path) -> None:
    """`snakemake --report` on the finished run: a self-contained HTML page that embeds the
    files the rules declare with `report(...)` (summarize's plot, aggregate's tables)."""
    report = tmp_path / "report.html"
    result = snakemake(demo_run, "--report", str(report))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    html = report.read_text(encoding="utf-8")
    for category in ("Joint angles", "Summary"):
        assert category in html
    for template in (PATHS.plot, PATHS.all_statistics, PATHS.all_quality):
        path = output(demo_run, template)
        embedded = base64.b64encode(path.read_bytes()).decode("ascii")
        assert f"filename={path.name};base64,{embedded}" in html, f"{path.name} not embedded"


def jobs_run(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    """Job counts per rule that a real run executed (from its job headers)."""
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    names = re.findall(r"^(?:local)?(?:rule|checkpoint) (\w+):$", result.stderr, re.MULTILINE)
    return {name: names.count(name) for name in sorted(set(names))}


@pytest.fixture(scope="module")
def user_data_run(demo_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo as data placed by hand (a dataset without `fetch:`), run once."""
    workdir = tmp_path_factory.mktemp("user-data")
    shutil.copytree(demo_run / "resources" / "pose2sim" / "Demo_SinglePerson", workdir / "demo")
    shutil.copytree(demo_run / "resources" / "pose2sim", workdir / "resources" / "pose2sim")
    (workdir / "mine.yaml").write_text(
        "run: {datasets: [mine], models: [mediapipe-blazepose]}\n"
        "datasets: {mine: {adapter: pose2sim_demo, path: demo}}\n"
    )
    jobs = jobs_run(snakemake(workdir, "--cores", "2", configs=("mine.yaml",)))
    assert jobs["pose2d"] == 4
    return workdir


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (
            # The participant's mass: the model is scaled again, nothing is triangulated.
            lambda demo: (demo / "Config.toml").write_text(
                (demo / "Config.toml")
                .read_text()
                .replace("participant_mass = 70.0", "participant_mass = 75.0")
            ),
            ["describe_dataset", "scale", "inverse_kinematics", "summarize", "aggregate", "all"],
        ),
        (
            # One camera's focal length: the trial is triangulated again, no pose is re-run.
            lambda demo: (demo / "calibration" / "Calib.qca.txt").write_text(
                (demo / "calibration" / "Calib.qca.txt")
                .read_text()
                .replace('focalLengthU="107599.671875"', 'focalLengthU="107650.0"')
            ),
            [
                "describe_dataset",
                "triangulate",
                "scale",
                "inverse_kinematics",
                "summarize",
                "aggregate",
                "all",
            ],
        ),
    ],
    ids=["mass", "calibration"],
)
def test_editing_user_data_reruns_what_depends_on_it(
    user_data_run: Path, edit: Any, expected: list[str]
) -> None:
    before = edit(user_data_run / "demo")
    assert before is not None  # the edit wrote something
    result = snakemake(user_data_run, "--cores", "2", configs=("mine.yaml",))
    assert jobs_run(result) == dict.fromkeys(expected, 1)
    assert dry_run_jobs(user_data_run, configs=("mine.yaml",)) == {}
