"""Planning a LabValidation-sized subject through Snakemake: the real workflow's dry run has
exactly the jobs the sample sheet implies (the dataset is built by scripts/benchmark_dag.py,
with placeholder videos that pass the adapter's real checks)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.workflow


def load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "benchmark_dag", REPO / "scripts" / "benchmark_dag.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_dry_run_of_one_subject_plans_every_job(tmp_path: Path) -> None:
    bench = load_benchmark()
    root = tmp_path / "LabValidation"
    bench.build_labvalidation(root, 1)
    config = bench.benchmark_config(root)
    config["run"]["models"] = ["mediapipe-blazepose", "vitpose-base-coco"]
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    workdir = tmp_path / "work"

    def snakemake(*args: str) -> subprocess.CompletedProcess[str]:
        command = bench.snakemake_command(
            sys.executable, REPO / "Snakefile", workdir, *args, configfile=configfile
        )
        return subprocess.run(command, capture_output=True, text=True, check=False)

    described = snakemake("--cores", "1", "results/datasets/bench/samples.tsv")
    assert described.returncode == 0, described.stderr[-4000:]
    planned = snakemake("-n", "--cores", "2", "--quiet", "rules")
    assert planned.returncode == 0, planned.stderr[-4000:]
    jobs = bench.parse_job_stats(planned.stdout + planned.stderr)

    rows = bench.time_describe(root, tmp_path / "describe")[2]
    expected = bench.expected_jobs(bench.skeleton_plan(rows, config))
    assert jobs == expected
    # 31 trials x 5 cameras x 2 models; one scaled model per model and setup (Session1 is
    # tracked with Session0's), the static trial is not scored.
    assert jobs["pose2d"] == 31 * 5 * 2
    assert jobs["detect"] == 31 * 5
    assert jobs["scale"] == 2 * 3
    assert jobs["triangulate"] == jobs["inverse_kinematics"] == 31 * 2 * 3
    assert jobs["evaluate"] == 30 * 2 * 3
