"""The Slurm profile against a real Slurm: a single-node cluster on loopback with two fake
GPUs (scripts/local_slurm.py, installed from Debian's packages when missing), the demo run
through `--profile profiles/slurm` with the pose model asking for one GPU per job.

Checked: every job but the localrules went through sbatch; each GPU job saw one card of
its own and never more than two ran at once; the OpenSim chain ran as one group job; the
outputs are byte for byte those of the local run (`demo_run`); a failing job fails the
run, which exits non-zero and keeps what finished. Skipped where the cluster cannot run
(not root, no apt-get); under CI=true that is an error."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from posebench.paths import CAMERA_KEY, PATHS, log_path
from snakemake_runner import DEFAULT_CONFIG, REPO

sys.path.insert(0, str(REPO / "scripts"))  # the local cluster is a script users run too
import local_slurm  # noqa: E402

pytestmark = [pytest.mark.workflow, pytest.mark.network, pytest.mark.mediapipe]

CAMERAS = ["cam01", "cam02", "cam03", "cam04"]
MODEL = "mediapipe-blazepose"
DEMO = {"dataset": "pose2sim-demo", "subject": "P00", "session": "S00", "trial": "balancing"}
# The rules that must never become Slurm jobs (the workflow's localrules) in this run.
LOCAL_RULES = ("fetch_demo_data", "describe_dataset", "aggregate", "all")
GPU_OVERLAY = {"models": {MODEL: {"gpu": 1}}}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[local_slurm.LocalSlurm]:
    reason = local_slurm.unavailable_reason()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but the Slurm test cannot run: {reason}")
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("slurm")
    local_slurm.install(log=root / "apt.log")
    slurm = local_slurm.LocalSlurm(root / "cluster", gpus=2, cpus=8)
    slurm.start()
    try:
        yield slurm
    finally:
        pids = [slurm.root / name for name in ("slurmd.pid", "slurmctld.pid")]
        alive = [p.read_text().split()[0] for p in pids if p.exists()]
        slurm.stop()
        still = [pid for pid in alive if Path(f"/proc/{pid}").exists()]
        assert not still, f"daemons still running after stop: {still}"
        assert not local_slurm._listening(6817) and not local_slurm._listening(6818)


@dataclass
class ClusterRun:
    workdir: Path
    result: subprocess.CompletedProcess[str]
    jobs: list[dict[str, str]]
    wall_s: float

    @property
    def output(self) -> str:
        return self.result.stdout + self.result.stderr


def run_on_cluster(
    slurm: local_slurm.LocalSlurm, workdir: Path, configs: list[Path], *targets: str
) -> ClusterRun:
    """`snakemake --profile profiles/slurm` (plus the local cluster's status options) in
    `workdir`; the Slurm jobs are those the controller recorded with that work folder."""
    command = local_slurm.snakemake_command(
        "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir),
        *targets,
        "--configfile", *map(str, configs),
    )  # fmt: skip
    started = time.monotonic()
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=workdir,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **slurm.env},
        timeout=900,
    )
    wall = time.monotonic() - started
    jobs = [job for job in slurm.jobs() if job.get("WorkDir") == str(workdir)]
    return ClusterRun(workdir, result, jobs, wall)


def overlay(folder: Path, name: str, content: dict) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(content))
    return path


@pytest.fixture(scope="module")
def slurm_run(
    cluster: local_slurm.LocalSlurm, tmp_path_factory: pytest.TempPathFactory
) -> ClusterRun:
    workdir = tmp_path_factory.mktemp("slurm_demo")
    gpu = overlay(workdir, "gpu.yaml", GPU_OVERLAY)
    run = run_on_cluster(cluster, workdir, [DEFAULT_CONFIG, gpu])
    if run.result.returncode != 0:
        logs = "\n".join(
            f"--- {p}\n{p.read_text()[-2000:]}"
            for p in sorted(workdir.rglob("*.log"))
            if "slurm_logs" in str(p) or "logs" in p.parts
        )
        pytest.fail(f"Slurm run failed:\n{run.output[-6000:]}\n{logs[-8000:]}")
    print(f"Slurm run: {len(run.jobs)} sbatch jobs, {run.wall_s:.1f} s", file=sys.stderr)
    return run


def rule_of(job: dict[str, str]) -> str:
    """The rule (or `group_<name>`) of a job, from the comment the plugin gives it."""
    comment = job.get("Comment", "")
    match = re.match(r"rule_(\w+?)_wildcards_", comment)
    if match:
        return match.group(1)
    return "group_" + comment.removeprefix("rule_").split("_")[0]


def interval(job: dict[str, str]) -> tuple[datetime, datetime]:
    return datetime.fromisoformat(job["StartTime"]), datetime.fromisoformat(job["EndTime"])


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_jobs_went_through_sbatch(slurm_run: ClusterRun, cluster: local_slurm.LocalSlurm) -> None:
    rules = sorted(rule_of(job) for job in slurm_run.jobs)
    assert rules == ["group_opensim", "pose2d", "pose2d", "pose2d", "pose2d"], rules
    assert all(job["JobState"] == "COMPLETED" for job in slurm_run.jobs)
    allocated = set(re.findall(r"sched: Allocate JobId=(\d+)", cluster.controller_log.read_text()))
    assert {job["JobId"] for job in slurm_run.jobs} <= allocated
    assert len(re.findall(r"has been submitted with SLURM jobid", slurm_run.output)) == 5


def test_localrules_stayed_on_the_submitting_host(slurm_run: ClusterRun) -> None:
    comments = " ".join(job.get("Comment", "") for job in slurm_run.jobs)
    for rule in LOCAL_RULES:
        assert f"rule_{rule}_" not in comments and f"_{rule}_" not in comments
        assert re.search(rf"^local(rule|checkpoint) {rule}:", slurm_run.output, re.M), rule
    assert (slurm_run.workdir / "logs" / "fetch_demo_data.log").is_file()


def test_each_gpu_job_owned_one_card(slurm_run: ClusterRun) -> None:
    gpu_jobs = [job for job in slurm_run.jobs if rule_of(job) == "pose2d"]
    assert all(job.get("TresPerJob") == "gres:gpu:1" for job in gpu_jobs)
    assert all(job.get("JOB_GRES") == "(null)" for job in slurm_run.jobs if job not in gpu_jobs)
    # What each job saw, from the placement line posebench.logs writes into its log.
    seen: dict[str, str] = {}
    for camera in CAMERAS:
        log = log_path("pose2d", CAMERA_KEY).format(**DEMO, model=MODEL, camera=camera)
        text = (slurm_run.workdir / log).read_text()
        match = re.search(r"SLURM_JOB_ID=(\d+), CUDA_VISIBLE_DEVICES=(\S+)", text)
        assert match, f"no placement line in the {camera} log"
        seen[match.group(1)] = match.group(2)
    assert sorted(seen) == sorted(job["JobId"] for job in gpu_jobs)
    assert set(seen.values()) == {"0", "1"}, seen  # one card each, both cards used
    # Never more than two at once, and jobs running together never shared a card.
    spans = {job["JobId"]: interval(job) for job in gpu_jobs}
    for start, _ in spans.values():
        running = [other for other, (s, e) in spans.items() if s <= start < e]
        assert len(running) <= 2, f"{len(running)} GPU jobs ran at {start}"
        assert len({seen[other] for other in running}) == len(running)
    assert max(sum(s <= t < e for s, e in spans.values()) for t, _ in spans.values()) == 2


def test_outputs_equal_the_local_run(slurm_run: ClusterRun, demo_run: Path) -> None:
    local = {p.relative_to(demo_run): p for p in (demo_run / "results").rglob("*") if p.is_file()}
    remote = {
        p.relative_to(slurm_run.workdir): p
        for p in (slurm_run.workdir / "results").rglob("*")
        if p.is_file()
    }
    assert sorted(remote) == sorted(local)
    different = [str(name) for name in local if digest(local[name]) != digest(remote[name])]
    assert not different, f"differ from the local run: {different}"


def test_a_failing_job_fails_the_run(
    cluster: local_slurm.LocalSlurm, demo_run: Path, tmp_path: Path
) -> None:
    """One camera's video is corrupt: its pose2d job fails on the cluster, Snakemake says
    so and exits non-zero, and the other camera's finished keypoints are kept."""
    demo = tmp_path / "demo"
    shutil.copytree(demo_run / "resources" / "pose2sim" / "Demo_SinglePerson", demo)
    (demo / "videos" / "cam02.mp4").write_bytes(b"not a video" * 100)
    config = overlay(
        tmp_path,
        "broken.yaml",
        {
            "run": {"datasets": ["broken-demo"]},
            "datasets": {"broken-demo": {"adapter": "pose2sim_demo", "path": str(demo)}},
            **GPU_OVERLAY,
        },
    )
    unit = {**DEMO, "dataset": "broken-demo", "model": MODEL}
    targets = [PATHS.keypoints.format(**unit, camera=camera) for camera in ("cam01", "cam02")]
    run = run_on_cluster(cluster, tmp_path, [DEFAULT_CONFIG, config], *targets)
    assert run.result.returncode != 0
    assert "Error in rule pose2d" in run.output
    assert re.search(r"SLURM-job '\d+' failed", run.output)
    states = {job["Comment"]: job["JobState"] for job in run.jobs}
    assert sorted(states.values()) == ["COMPLETED", "FAILED"], states
    assert all(rule_of(job) == "pose2d" for job in run.jobs)
    assert (tmp_path / targets[0]).is_file() and not (tmp_path / targets[1]).exists()
    log = tmp_path / log_path("pose2d", CAMERA_KEY).format(**unit, camera="cam02")
    assert "cam02.mp4" in log.read_text()
    assert list((tmp_path / ".snakemake" / "slurm_logs" / "rule_pose2d").rglob("*.log"))
