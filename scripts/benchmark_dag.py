"""How planning the workflow scales with dataset size (OpenCap LabValidation layout).

For each size (subjects) this script

1. builds a LabValidation-layout dataset (`build_labvalidation`): per subject
   `sessionMetadata.yaml`, sessions `Session0` (16 trials, with `static1`) and `Session1`
   (15 trials), cameras Cam0..Cam4 with calibration pickles, one `_syncdWithMocap.avi` per
   trial and camera (hard links to one tiny real MJPG video, so OpenCV can probe it) and a
   ground-truth `.mot` per non-static trial;
2. times `posebench.datasets.describe_dataset` in-process (the `describe_dataset` rule's
   call) writing the sample sheet into a scratch folder;
3. runs the real `describe_dataset` checkpoint through Snakemake in a fresh working
   directory (timed: parse + checkpoint), then times `snakemake -n` of the real workflow with
   5 models x 3 camera setups on that dataset: wall time, CPU time (user + system of the
   Snakemake process and anything it waited for, from `os.wait4`), peak memory, and the job
   count of its "Job stats" table;
4. times `snakemake -n` of a bare "skeleton" Snakefile with the same job graph (same rules,
   path layout, wildcard constraints and input structure, `touch` jobs, input functions
   reading a precomputed JSON plan of the sample sheet, no params, no checkpoint), to tell
   the cost of the workflow's own code from Snakemake's own cost per job;
5. prints one table, the per-rule job counts of both graphs, and the commands to reproduce.

Each Snakemake call has a `--timeout`; a size that runs past it is reported as a timeout,
and the real workflow is then not tried on larger sizes (`--keep-going` tries anyway).

    .venv/bin/python scripts/benchmark_dag.py --subjects 1 2 5 10 [--timeout 900]
        [--workdir DIR] [--skip-real] [--cores 2]
"""

import argparse
import copy
import csv
import json
import logging
import os
import pickle
import re
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from posebench.datasets.layout import (
    OPENCAP_CALIBRATION_FILE,
    OPENCAP_GROUND_TRUTH_DIR,
    OPENCAP_METADATA_FILE,
    OPENCAP_VIDEO_SUFFIX,
)
from posebench.paths import FETCH_OUTPUTS

REPO = Path(__file__).resolve().parents[1]
DATASET = "bench"
CAMERAS = tuple(f"Cam{k}" for k in range(5))
CAMERA_SETUPS: dict[str, list[str]] = {
    "2-cameras": ["Cam1", "Cam3"],
    "3-cameras": ["Cam1", "Cam2", "Cam3"],
    "5-cameras": list(CAMERAS),
}
EXTRA_MODEL = "mediapipe-blazepose-lite"  # added to the config copy: BlazePose "lite"
MODELS = (
    "mediapipe-blazepose",
    "synthpose-vitpose-base",
    "synthpose-vitpose-huge",
    "vitpose-base-coco",
    EXTRA_MODEL,
)


def _numbered(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{k}" for k in range(1, count + 1)]


# 31 trials per subject like LabValidation's: 16 in Session0 (one static), 15 in Session1.
SESSION_TRIALS: dict[str, tuple[str, ...]] = {
    "Session0": (
        "static1",
        *_numbered("squats", 3),
        *_numbered("squatsAsym", 2),
        *_numbered("STS", 2),
        *_numbered("STSweakLegs", 2),
        *_numbered("DJ", 3),
        *_numbered("DJAsym", 3),
    ),
    "Session1": (
        *_numbered("walking", 5),
        *_numbered("walkingTS", 5),
        *_numbered("walkingFast", 5),
    ),
}
# The rule and file of each fetch, by `fetch` name.
FETCH_RULES = {
    "pose2sim": ("fetch_demo_data", FETCH_OUTPUTS["pose2sim"]),
    "opencap-core": ("fetch_opencap_core", FETCH_OUTPUTS["opencap-core"]),
}


# --------------------------------------------------------------------------- dataset


def write_tiny_video(
    path: Path, width: int = 128, height: int = 72, frames: int = 4, fps: float = 60.0
) -> None:
    """A real, decodable MJPG AVI of `frames` grey gradient frames."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write an MJPG AVI to {path}")
    try:
        ramp = np.linspace(0, 255, width, dtype=np.uint8)
        for k in range(frames):
            frame = np.repeat(np.roll(ramp, 8 * k)[None, :, None], height, axis=0)
            writer.write(np.repeat(frame, 3, axis=2))
    finally:
        writer.release()
    capture = cv2.VideoCapture(str(path))
    ok = capture.isOpened() and capture.read()[0]
    capture.release()
    if not ok:
        raise RuntimeError(f"The placeholder video {path} cannot be decoded by OpenCV")


def write_tiny_mot(path: Path, rows: int = 5, rate_hz: float = 100.0) -> None:
    """A minimal valid OpenSim `.mot` (coordinates in degrees)."""
    columns = ["time", "pelvis_tilt", "hip_flexion_r", "knee_angle_r", "ankle_angle_r"]
    lines = [
        "Coordinates",
        "version=1",
        f"nRows={rows}",
        f"nColumns={len(columns)}",
        "inDegrees=yes",
        "endheader",
        "\t".join(columns),
    ]
    for k in range(rows):
        values = [k / rate_hz, *(0.0 for _ in columns[1:])]
        lines.append("\t".join(f"{v:.8f}" for v in values))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def camera_calibration(index: int, count: int, width: int, height: int) -> dict[str, Any]:
    """OpenCap calibration dict of camera `index` of `count` on an arc in front of a wall
    checkerboard, looking at the board origin (world->camera, translation in mm)."""
    angle = np.radians(-60.0 + 120.0 * index / max(count - 1, 1))
    centre = 4.0 * np.array([np.sin(angle), 0.0, np.cos(angle)])
    z_axis = -centre / np.linalg.norm(centre)
    y_axis = np.array([0.0, 1.0, 0.0])  # rotation[1, 1] > 0: board not upside down
    x_axis = np.cross(y_axis, z_axis)
    rotation = np.vstack([x_axis, y_axis, z_axis])
    focal = float(width)
    return {
        "intrinsicMat": np.array(
            [[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]]
        ),
        "distortion": np.zeros((1, 5)),
        "rotation": rotation,
        "translation": (-1000.0 * rotation @ centre).reshape(3, 1),
        "imageSize": np.array([[1080.0], [1920.0]]),  # stale, as in OpenCap's files
    }


def _link(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


@dataclass
class BuiltDataset:
    """What `build_labvalidation` wrote."""

    root: Path
    subjects: list[str]
    trials: dict[str, tuple[str, ...]]
    cameras: tuple[str, ...]
    videos: int = 0
    ground_truths: int = 0


MOCAP_MODEL = "LaiArnoldModified2017_poly_withArms_weldHand_scaled.osim"


def build_labvalidation(
    root: Path,
    subjects: int | Sequence[str],
    *,
    session_trials: Mapping[str, Sequence[str]] = SESSION_TRIALS,
    cameras: Sequence[str] = CAMERAS,
    first_subject: int = 2,
) -> BuiltDataset:
    """Write a LabValidation-layout dataset under `root` that OpenCap's adapter accepts.

    `subjects` is a count (named `subject2`, `subject3`, ... from `first_subject`, as in
    LabValidation) or a list of folder names. Every video is a hard link (a copy where links
    fail) to one tiny MJPG AVI kept in `root/_placeholder/`, which the adapter ignores;
    every ground-truth `.mot` likewise. Static trials (`static*`) get no ground truth. Each
    subject gets a placeholder mocap-scaled model (`scaling: mocap`), named after OpenCap's
    LaiArnold model.
    """
    root = Path(root)
    names = (
        [f"subject{first_subject + k}" for k in range(subjects)]
        if isinstance(subjects, int)
        else list(subjects)
    )
    sources = root / "_placeholder"
    video, mot = sources / f"video{OPENCAP_VIDEO_SUFFIX}", sources / "truth.mot"
    width, height = 128, 72
    if not video.is_file():
        write_tiny_video(video, width, height)
    if not mot.is_file():
        write_tiny_mot(mot)
    trial_names = {session: tuple(found) for session, found in session_trials.items()}
    built = BuiltDataset(root, names, trial_names, tuple(cameras))
    for index, subject in enumerate(names):
        subject_dir = root / subject
        subject_dir.mkdir(parents=True, exist_ok=True)
        metadata = {
            "mass_kg": 60.0 + index,
            "height_m": 1.70,
            "checkerBoard": {"placement": "backWall"},
        }
        (subject_dir / OPENCAP_METADATA_FILE).write_text(yaml.safe_dump(metadata))
        for session, trials in session_trials.items():
            for k, camera in enumerate(cameras):
                camera_dir = subject_dir / "VideoData" / session / camera
                camera_dir.mkdir(parents=True, exist_ok=True)
                calibration = camera_calibration(k, len(cameras), width, height)
                (camera_dir / OPENCAP_CALIBRATION_FILE).write_bytes(
                    pickle.dumps(calibration, protocol=2)
                )
                for trial in trials:
                    target = camera_dir / trial / f"{trial}{OPENCAP_VIDEO_SUFFIX}"
                    if not target.exists():
                        _link(video, target)
                    built.videos += 1
            for trial in trials:
                if trial.lower().startswith("static"):
                    continue
                target = subject_dir.joinpath(*OPENCAP_GROUND_TRUTH_DIR, f"{trial}.mot")
                if not target.exists():
                    _link(mot, target)
                built.ground_truths += 1
        # The mocap-scaled model `scaling: mocap` (the default) tracks with; planning
        # only needs its name.
        model = subject_dir / "OpenSimData" / "Mocap" / "Model" / MOCAP_MODEL
        model.parent.mkdir(parents=True, exist_ok=True)
        if not model.exists():
            model.write_text("<!-- placeholder: planning never opens it -->\n")
    return built


def dataset_entry(root: Path) -> dict[str, Any]:
    """The config entry of the benchmark dataset."""
    return {
        "adapter": "opencap",
        "path": str(root),
        "camera_setups": {name: list(cams) for name, cams in CAMERA_SETUPS.items()},
    }


def benchmark_config(root: Path, base: Path = REPO / "config" / "config.yaml") -> dict[str, Any]:
    """config/config.yaml with the `bench` dataset, 5 models and BlazePose "lite" added."""
    config: dict[str, Any] = yaml.safe_load(base.read_text())
    lite = copy.deepcopy(config["models"]["mediapipe-blazepose"])
    lite.setdefault("options", {})["model_complexity"] = 0
    config["models"][EXTRA_MODEL] = lite
    config["datasets"][DATASET] = dataset_entry(root)
    config["run"] = {"datasets": [DATASET], "models": list(MODELS)}
    return config


# --------------------------------------------------------------------------- timing


@dataclass
class Run:
    """One timed subprocess."""

    command: list[str]
    log: Path
    returncode: int | None = None
    timed_out: bool = False
    wall_s: float = 0.0
    cpu_s: float = 0.0
    max_rss_mb: float = 0.0
    jobs: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    @property
    def total_jobs(self) -> int | None:
        return self.jobs.get("total")

    def status(self) -> str:
        if self.timed_out:
            return f"timeout after {self.wall_s:.0f} s"
        return "ok" if self.ok else f"failed (exit {self.returncode})"

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.is_file() else ""
        return "\n".join(text.splitlines()[-lines:])


def _kill_group(pid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        time.sleep(5)


def timed_run(command: Sequence[str], log: Path, timeout_s: float, cwd: Path) -> Run:
    """Run `command` with output to `log`; wall, CPU (user + system, with the children it
    waited for) and peak RSS from `os.wait4`; killed (its process group) after `timeout_s`."""
    run = Run(list(command), log)
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    timed_out = threading.Event()

    with log.open("w") as out:
        start = time.perf_counter()
        process = subprocess.Popen(
            run.command, stdout=out, stderr=subprocess.STDOUT, cwd=cwd, env=env,
            start_new_session=True,
        )  # fmt: skip

        def expire() -> None:
            timed_out.set()
            _kill_group(process.pid)

        timer = threading.Timer(timeout_s, expire)
        timer.daemon = True
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:  # Ctrl-C: the child runs in its own session, end it too
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise
        finally:
            timer.cancel()
        run.wall_s = time.perf_counter() - start
    process.returncode = run.returncode = os.waitstatus_to_exitcode(status)
    run.timed_out = timed_out.is_set()
    run.cpu_s = usage.ru_utime + usage.ru_stime
    run.max_rss_mb = usage.ru_maxrss / 1024  # kB on Linux
    run.jobs = parse_job_stats(log.read_text(errors="replace"))
    return run


def parse_job_stats(text: str) -> dict[str, int]:
    """{rule: jobs, "total": jobs} from the last "Job stats" table in Snakemake's output ({}
    when absent; a dry run prints it twice)."""
    if "Nothing to be done" in text and "Job stats:" not in text:
        return {"total": 0}
    if "Job stats:" not in text:
        return {}
    counts: dict[str, int] = {}
    for line in text.rsplit("Job stats:", 1)[1].splitlines()[1:]:  # the last table
        if not line.strip():
            if counts:
                break
            continue
        match = re.fullmatch(r"\s*([\w-]+)\s+(\d+)\s*", line)
        if match:
            counts[match.group(1)] = int(match.group(2))
    return counts


def snakemake_command(
    python: str, snakefile: Path, workdir: Path, *args: str, configfile: Path | None = None
) -> list[str]:
    command = [python, "-m", "snakemake", "--snakefile", str(snakefile)]
    command += ["--directory", str(workdir)]
    if configfile is not None:
        command += ["--configfile", str(configfile)]
    return command + list(args)


def time_describe(root: Path, scratch: Path) -> tuple[float, int, list[dict[str, str]]]:
    """Seconds of the in-process `describe_dataset` (imports excluded); its skipped count
    and sample rows."""
    import posebench.datasets.opencap  # noqa: F401 - imported before the clock starts
    from posebench.datasets import describe_dataset

    results = scratch / "results" / "datasets" / DATASET
    results.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    describe_dataset(
        adapter="opencap",
        root=root,
        dataset=DATASET,
        samples_path=results / "samples.tsv",
        calibration_dir=results / "calibration",
        skipped_path=results / "skipped.tsv",
        options=dataset_entry(root),
    )
    seconds = time.perf_counter() - start
    with (results / "samples.tsv").open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    with (results / "skipped.tsv").open(newline="") as handle:
        skipped = sum(1 for _ in csv.DictReader(handle, delimiter="\t"))
    return seconds, skipped, rows


# --------------------------------------------------------------------------- skeleton


def skeleton_plan(rows: Sequence[Mapping[str, str]], config: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON plan the skeleton's input functions read: the sample sheet as nested dicts,
    plus what each model needs (weights, detector, OpenSim files)."""
    from posebench.markersets import MARKER_SETS

    trials: dict[str, Any] = {}
    sessions: dict[str, Any] = {}
    for row in rows:
        info = (
            trials.setdefault(row["subject"], {})
            .setdefault(row["session"], {})
            .setdefault(
                row["trial"],
                {
                    "videos": {},
                    "calibration": row["calibration"],
                    "ground_truth": row["ground_truth"],
                    "activity": row["activity"],
                    "evaluate": row["evaluate"] == "yes",
                },
            )
        )
        info["videos"][row["camera"]] = row["video"]
        sessions.setdefault(row["subject"], {})[row["session"]] = [
            row["scaling_session"],
            row["scaling_trial"],
        ]
    models = {}
    for name in config["run"]["models"]:
        model = config["models"][name]
        setup = config["opensim"]["setups"][MARKER_SETS[model["marker_set"]].setup_source]
        fetch = setup.get("fetch")
        models[name] = {
            "weights": "weights" in model,
            "detector": model.get("detector"),
            "opensim": [FETCH_RULES[fetch][1]] if fetch else [],
        }
    return {
        "run_models": list(config["run"]["models"]),
        "models": models,
        "detectors": sorted(config.get("detectors", {})),
        "weights": sorted(
            name
            for name, entry in {**config["models"], **config.get("detectors", {})}.items()
            if "weights" in entry
        ),
        "datasets": {
            DATASET: {
                "setups": config["datasets"][DATASET].get("camera_setups") or {"all": None},
                "trials": trials,
                "sessions": sessions,
            }
        },
    }


SKELETON = r"""# Generated by scripts/benchmark_dag.py: the posebench job graph with trivial jobs.
import json
import re

PLAN = json.load(open({plan!r}))
MODELS = PLAN["models"]
RUN_MODELS = PLAN["run_models"]
DATASETS = PLAN["datasets"]


def _alternation(names):
    return "|".join(re.escape(name) for name in names) or "(?!)"


wildcard_constraints:
    dataset="[^/]+",
    subject="[^/]+",
    session="[^/]+",
    trial="[^/]+",
    camera="[^/]+",
    setup="[^/]+",
    model=_alternation(MODELS),
    detector=_alternation(PLAN["detectors"]),
    weights=_alternation(PLAN["weights"]),


localrules:
    all,
    fetch_weights,
    fetch_demo_data,
    fetch_opencap_core,


def trial_info(wildcards):
    return DATASETS[wildcards.dataset]["trials"][wildcards.subject][wildcards.session][
        wildcards.trial
    ]


def setup_cameras(dataset, info, setup):
    cameras = DATASETS[dataset]["setups"][setup]
    return [c for c in sorted(info["videos"]) if cameras is None or c in cameras]


def units(evaluated_only=False, scaling_only=False):
    for dataset, entry in DATASETS.items():
        for subject, sessions in entry["trials"].items():
            for session, trials in sessions.items():
                for trial, info in trials.items():
                    if evaluated_only and not info["evaluate"]:
                        continue
                    if scaling_only and entry["sessions"][subject][session] != [session, trial]:
                        continue
                    for setup in entry["setups"]:
                        for camera in setup_cameras(dataset, info, setup):
                            for model in RUN_MODELS:
                                yield dict(
                                    dataset=dataset, subject=subject, session=session,
                                    trial=trial, setup=setup, camera=camera, model=model,
                                )


def expand_units(pattern, evaluated_only=False, scaling_only=False):
    return sorted({{pattern.format(**unit) for unit in units(evaluated_only, scaling_only)}})


def get_video(wildcards):
    return trial_info(wildcards)["videos"][wildcards.camera]


def get_pose2d_inputs(wildcards):
    model = MODELS[wildcards.model]
    inputs = {{"video": get_video(wildcards)}}
    if model["weights"]:
        inputs["weights"] = f"resources/models/{{wildcards.model}}/weights.json"
    if model["detector"]:
        inputs["detections"] = (
            f"results/detections/{{model['detector']}}/{{wildcards.dataset}}/{{wildcards.subject}}/"
            f"{{wildcards.session}}/{{wildcards.trial}}/{{wildcards.camera}}.npz"
        )
    return inputs


def get_keypoint_files(wildcards):
    info = trial_info(wildcards)
    return [
        f"results/pose2d/{{wildcards.dataset}}/{{wildcards.subject}}/{{wildcards.session}}/"
        f"{{wildcards.trial}}/{{wildcards.model}}/{{camera}}.npz"
        for camera in setup_cameras(wildcards.dataset, info, wildcards.setup)
    ]


def get_calibration(wildcards):
    return trial_info(wildcards)["calibration"]


def get_scaling_trc(wildcards):
    session, trial = DATASETS[wildcards.dataset]["sessions"][wildcards.subject][
        wildcards.session
    ]
    return (
        f"results/triangulate/{{wildcards.dataset}}/{{wildcards.subject}}/{{session}}/{{trial}}/"
        f"{{wildcards.model}}/{{wildcards.setup}}/markers.trc"
    )


def get_scaled_model(wildcards):
    session, _ = DATASETS[wildcards.dataset]["sessions"][wildcards.subject][wildcards.session]
    return (
        f"results/scale/{{wildcards.dataset}}/{{wildcards.subject}}/{{session}}/"
        f"{{wildcards.model}}/{{wildcards.setup}}/scaled.osim"
    )


def get_opensim_fetch(wildcards):
    return MODELS[wildcards.model]["opensim"]


def get_ground_truth(wildcards):
    return trial_info(wildcards)["ground_truth"]


def get_scores(wildcards):
    return expand_units(
        "results/evaluation/{{dataset}}/{{subject}}/{{session}}/{{trial}}/{{model}}/{{setup}}/scores.csv",
        evaluated_only=True,
    )


def get_final_output(wildcards):
    leaderboards = [
        f"results/{{dataset}}/leaderboard.md"
        for dataset, entry in DATASETS.items()
        if any(
            info["evaluate"]
            for sessions in entry["trials"].values()
            for trials in sessions.values()
            for info in trials.values()
        )
    ]
    return [
        *expand_units("results/pose2d/{{dataset}}/{{subject}}/{{session}}/{{trial}}/{{model}}/{{camera}}.npz"),
        *expand_units(
            "results/triangulate/{{dataset}}/{{subject}}/{{session}}/{{trial}}/{{model}}/{{setup}}/markers.trc"
        ),
        *expand_units(
            "results/scale/{{dataset}}/{{subject}}/{{session}}/{{model}}/{{setup}}/scaled.osim",
            scaling_only=True,
        ),
        *expand_units(
            "results/ik/{{dataset}}/{{subject}}/{{session}}/{{trial}}/{{model}}/{{setup}}/joint_angles.mot"
        ),
        *expand_units(
            "results/summary/{{dataset}}/{{subject}}/{{session}}/{{trial}}/{{model}}/{{setup}}/joint_angles.png"
        ),
        "results/summary/joint_angles.csv",
        "results/summary/trials.csv",
        *leaderboards,
    ]


TOUCH = "touch {{output}}"
TRIAL = "{{dataset}}/{{subject}}/{{session}}/{{trial}}"
UNIT = TRIAL + "/{{model}}/{{setup}}"


rule all:
    input:
        get_final_output,


rule fetch_weights:
    output:
        "resources/models/{{weights}}/weights.json",
    log:
        "logs/fetch_weights/{{weights}}.log",
    shell:
        TOUCH


rule fetch_demo_data:
    output:
        "resources/pose2sim/MANIFEST.json",
    shell:
        TOUCH


rule fetch_opencap_core:
    output:
        "resources/opencap-core/MANIFEST.json",
    shell:
        TOUCH


rule detect:
    input:
        video=get_video,
        weights="resources/models/{{detector}}/weights.json",
    output:
        "results/detections/{{detector}}/" + TRIAL + "/{{camera}}.npz",
    log:
        "logs/detect/{{detector}}/" + TRIAL + "/{{camera}}.log",
    shell:
        TOUCH


rule pose2d:
    input:
        unpack(get_pose2d_inputs),
    output:
        "results/pose2d/" + TRIAL + "/{{model}}/{{camera}}.npz",
    log:
        "logs/pose2d/" + TRIAL + "/{{model}}/{{camera}}.log",
    shell:
        TOUCH


rule triangulate:
    input:
        keypoints=get_keypoint_files,
        calibration=get_calibration,
    output:
        trc="results/triangulate/" + UNIT + "/markers.trc",
        reprojection="results/triangulate/" + UNIT + "/reprojection_error.csv",
        report="results/triangulate/" + UNIT + "/triangulation.json",
    log:
        "logs/triangulate/" + UNIT + ".log",
    shell:
        TOUCH


rule scale:
    input:
        trc=get_scaling_trc,
        opensim=get_opensim_fetch,
    output:
        model="results/scale/{{dataset}}/{{subject}}/{{session}}/{{model}}/{{setup}}/scaled.osim",
        report="results/scale/{{dataset}}/{{subject}}/{{session}}/{{model}}/{{setup}}/scaling.json",
    log:
        "logs/scale/{{dataset}}/{{subject}}/{{session}}/{{model}}/{{setup}}.log",
    shell:
        TOUCH


rule inverse_kinematics:
    input:
        trc="results/triangulate/" + UNIT + "/markers.trc",
        model=get_scaled_model,
    output:
        motion="results/ik/" + UNIT + "/joint_angles.mot",
        marker_errors="results/ik/" + UNIT + "/marker_errors.sto",
        report="results/ik/" + UNIT + "/ik.json",
    log:
        "logs/inverse_kinematics/" + UNIT + ".log",
    shell:
        TOUCH


rule summarize:
    input:
        motion="results/ik/" + UNIT + "/joint_angles.mot",
        marker_errors="results/ik/" + UNIT + "/marker_errors.sto",
        triangulation="results/triangulate/" + UNIT + "/triangulation.json",
    output:
        statistics="results/summary/" + UNIT + "/joint_angles.csv",
        quality="results/summary/" + UNIT + "/quality.csv",
        plot="results/summary/" + UNIT + "/joint_angles.png",
    log:
        "logs/summarize/" + UNIT + ".log",
    shell:
        TOUCH


rule aggregate:
    input:
        statistics=lambda wildcards: expand_units("results/summary/" + UNIT + "/joint_angles.csv"),
        quality=lambda wildcards: expand_units("results/summary/" + UNIT + "/quality.csv"),
    output:
        statistics="results/summary/joint_angles.csv",
        quality="results/summary/trials.csv",
    log:
        "logs/aggregate.log",
    shell:
        TOUCH


rule evaluate:
    input:
        motion="results/ik/" + UNIT + "/joint_angles.mot",
        ground_truth=get_ground_truth,
    output:
        "results/evaluation/" + UNIT + "/scores.csv",
    log:
        "logs/evaluate/" + UNIT + ".log",
    shell:
        TOUCH


rule leaderboard:
    input:
        get_scores,
    output:
        csv="results/{{dataset}}/leaderboard.csv",
        markdown="results/{{dataset}}/leaderboard.md",
        plot="results/{{dataset}}/leaderboard.png",
        scores="results/{{dataset}}/scores.csv",
        breakdowns=directory("results/{{dataset}}/breakdowns"),
    log:
        "logs/leaderboard/{{dataset}}.log",
    shell:
        "mkdir -p {{output.breakdowns}} && touch {{output.csv}} {{output.markdown}} "
        "{{output.plot}} {{output.scores}}"
"""


def write_skeleton(folder: Path, plan: Mapping[str, Any]) -> Path:
    """Write the skeleton Snakefile and its JSON plan into `folder`; return the Snakefile."""
    folder.mkdir(parents=True, exist_ok=True)
    plan_path = folder / "plan.json"
    plan_path.write_text(json.dumps(plan))
    snakefile = folder / "Snakefile"
    snakefile.write_text(SKELETON.format(plan=str(plan_path)))
    return snakefile


def expected_jobs(plan: Mapping[str, Any]) -> dict[str, int]:
    """Job counts per rule that the graph should have (for the report)."""
    counts: dict[str, int] = defaultdict(int)
    models = plan["run_models"]
    for entry in plan["datasets"].values():
        setups = entry["setups"]
        evaluated = False
        for subject, sessions in entry["trials"].items():
            scaling = {tuple(named) for named in entry["sessions"][subject].values()}
            counts["scale"] += len(scaling) * len(models) * len(setups)
            for trials in sessions.values():
                for info in trials.values():
                    used = {
                        c
                        for setup, cams in setups.items()
                        for c in info["videos"]
                        if cams is None or c in cams
                    }
                    counts["pose2d"] += len(used) * len(models)
                    detectors = {plan["models"][m]["detector"] for m in models} - {None}
                    counts["detect"] += len(used) * len(detectors)
                    per_trial = len(models) * len(setups)
                    counts["triangulate"] += per_trial
                    counts["inverse_kinematics"] += per_trial
                    counts["summarize"] += per_trial
                    if info["evaluate"]:
                        counts["evaluate"] += per_trial
                        evaluated = True
        counts["leaderboard"] += int(evaluated)
    weights = {m for m in models if plan["models"][m]["weights"]}
    weights |= {plan["models"][m]["detector"] for m in models} - {None}
    counts["fetch_weights"] = len(weights)
    fetches = {path for m in models for path in plan["models"][m]["opensim"]}
    for name, path in FETCH_RULES.values():
        if path in fetches:
            counts[name] = 1
    counts["aggregate"] = 1
    counts["all"] = 1
    counts["total"] = sum(counts.values())
    return dict(counts)


# --------------------------------------------------------------------------- driver


@dataclass
class SizeResult:
    subjects: int
    build_s: float = 0.0
    describe_s: float = 0.0
    samples: int = 0
    skipped: int = 0
    describe_snakemake: Run | None = None
    real: Run | None = None
    real_note: str = ""
    skeleton: Run | None = None
    expected: dict[str, int] = field(default_factory=dict)


def run_size(subjects: int, base: Path, args: argparse.Namespace, try_real: bool) -> SizeResult:
    result = SizeResult(subjects)
    folder = base / f"subjects-{subjects}"
    root = folder / "LabValidation"
    start = time.perf_counter()
    build_labvalidation(root, subjects)
    result.build_s = time.perf_counter() - start
    print(f"[{subjects} subject(s)] dataset built in {result.build_s:.1f} s: {root}", flush=True)

    result.describe_s, result.skipped, rows = time_describe(root, folder / "describe")
    result.samples = len(rows)
    print(
        f"[{subjects} subject(s)] describe_dataset: {result.describe_s:.2f} s, "
        f"{len(rows)} sample rows, {result.skipped} skipped",
        flush=True,
    )
    config = benchmark_config(root, args.snakefile.parent / "config" / "config.yaml")
    configfile = folder / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    plan = skeleton_plan(rows, config)
    result.expected = expected_jobs(plan)

    quiet = ["--quiet", "rules"]
    real_dir = folder / "real"
    if try_real:
        snakefile = args.snakefile
        samples = f"results/datasets/{DATASET}/samples.tsv"
        describe = snakemake_command(
            args.python, snakefile, real_dir, "--cores", "1", samples, *quiet,
            configfile=configfile,
        )  # fmt: skip
        result.describe_snakemake = timed_run(
            describe, folder / "logs" / "describe_snakemake.log", args.timeout, folder
        )
        print(
            f"[{subjects} subject(s)] describe_dataset via Snakemake: "
            f"{result.describe_snakemake.status()}, {result.describe_snakemake.wall_s:.1f} s",
            flush=True,
        )
        if result.describe_snakemake.ok:
            dry = snakemake_command(
                args.python, snakefile, real_dir, "-n", "--cores", str(args.cores), *quiet,
                configfile=configfile,
            )  # fmt: skip
            result.real = timed_run(dry, folder / "logs" / "real_dryrun.log", args.timeout, folder)
            print(
                f"[{subjects} subject(s)] real dry run: {result.real.status()}, "
                f"{result.real.wall_s:.1f} s, {result.real.total_jobs or '?'} jobs",
                flush=True,
            )
            if not result.real.ok and not result.real.timed_out:
                print(result.real.tail(), file=sys.stderr)
        else:
            result.real_note = "describe failed"
            print(result.describe_snakemake.tail(), file=sys.stderr)
    else:
        result.real_note = "skipped"

    skeleton_dir = folder / "skeleton"
    snakefile = write_skeleton(skeleton_dir, plan)
    dry = snakemake_command(
        args.python, snakefile, skeleton_dir / "work", "-n", "--cores", str(args.cores), *quiet
    )
    result.skeleton = timed_run(
        dry, folder / "logs" / "skeleton_dryrun.log", args.timeout, skeleton_dir
    )
    print(
        f"[{subjects} subject(s)] skeleton dry run: {result.skeleton.status()}, "
        f"{result.skeleton.wall_s:.1f} s, {result.skeleton.total_jobs or '?'} jobs",
        flush=True,
    )
    if not result.skeleton.ok and not result.skeleton.timed_out:
        print(result.skeleton.tail(), file=sys.stderr)
    return result


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(h), *(len(r[k]) for r in rows)) for k, h in enumerate(header)]
    lines = [" | ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines.append("-+-".join("-" * w for w in widths))
    lines += [" | ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


def _dry_run_cells(run: Run | None, note: str) -> list[str]:
    if run is None:
        return [note or "-", "-", "-", "-"]
    if run.timed_out:
        return ["timeout", f">{run.wall_s:.0f}", f"{run.cpu_s:.1f}", "-"]
    if not run.ok or not run.total_jobs:
        return [run.status(), f"{run.wall_s:.1f}", f"{run.cpu_s:.1f}", "-"]
    jobs = run.total_jobs
    return [str(jobs), f"{run.wall_s:.1f}", f"{run.cpu_s:.1f}", f"{1000 * run.cpu_s / jobs:.2f}"]


def summary_table(results: Sequence[SizeResult]) -> str:
    header = [
        "subjects", "jobs (real)", "wall s", "CPU s", "CPU ms/job", "jobs (skeleton)",
        "skeleton wall s", "skeleton CPU ms/job", "ratio wall real/skeleton",
        "describe_dataset s", "describe via snakemake s", "real peak MB",
    ]  # fmt: skip
    rows = []
    for r in results:
        real = _dry_run_cells(r.real, r.real_note)
        skeleton = _dry_run_cells(r.skeleton, "")
        ratio = "-"
        if r.real is not None and r.skeleton is not None and r.skeleton.ok:
            if r.real.ok:
                ratio = f"{r.real.wall_s / r.skeleton.wall_s:.1f}"
            elif r.real.timed_out:
                ratio = f">{r.real.wall_s / r.skeleton.wall_s:.0f}"
        describe_sm = "-"
        if r.describe_snakemake is not None:
            describe_sm = (
                f"{r.describe_snakemake.wall_s:.1f}" if r.describe_snakemake.ok else "failed"
            )
        peak = f"{r.real.max_rss_mb:.0f}" if r.real is not None else "-"
        rows.append(
            [str(r.subjects), *real, skeleton[0], skeleton[1], skeleton[3], ratio,
             f"{r.describe_s:.2f}", describe_sm, peak]
        )  # fmt: skip
    return _table(header, rows)


def rule_table(results: Sequence[SizeResult]) -> str:
    """Jobs per rule and size: one number where the count expected from the sample sheet,
    the real dry run and the skeleton's agree, else `expected/real/skeleton` (`-`: none)."""
    columns = []
    names: set[str] = set()
    for r in results:
        real = r.real.jobs if r.real is not None and r.real.ok else {}
        skeleton = r.skeleton.jobs if r.skeleton is not None and r.skeleton.ok else {}
        columns.append((r.expected, real, skeleton))
        names |= set(r.expected) | set(real) | set(skeleton)
    rows = []
    for name in sorted(names, key=lambda n: (n == "total", n)):
        row = [name]
        for expected, real, skeleton in columns:
            cells = [expected.get(name), real.get(name), skeleton.get(name)]
            found = [c for c in cells[1:] if c is not None]
            if found and all(c == cells[0] for c in found):
                row.append(str(cells[0]))
            else:
                row.append("/".join("-" if c is None else str(c) for c in cells))
        rows.append(row)
    return _table(["rule", *(f"{r.subjects} subj." for r in results)], rows)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument(
        "--subjects", "--sizes", dest="subjects", type=int, nargs="+", default=[1, 2, 5, 10],
        metavar="N", help="dataset sizes in subjects (default: 1 2 5 10)",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", type=float, default=900.0,
        help="seconds per Snakemake call before it is killed and reported (default: 900)",
    )  # fmt: skip
    parser.add_argument(
        "--workdir", type=Path, default=None,
        help="keep datasets, configs, skeletons and logs here (default: a temporary folder)",
    )  # fmt: skip
    parser.add_argument("--cores", type=int, default=2, help="--cores of the dry runs")
    parser.add_argument(
        "--snakefile", type=Path, default=REPO / "Snakefile",
        help="the workflow to plan, e.g. another checkout to compare with; its "
        "config/config.yaml is the base configuration (default: this repository's)",
    )  # fmt: skip
    parser.add_argument(
        "--skip-real", action="store_true", help="time only describe_dataset and the skeleton"
    )
    parser.add_argument(
        "--keep-going", action="store_true",
        help="try the real workflow on larger sizes after a smaller one timed out",
    )  # fmt: skip
    parser.add_argument(
        "--python", default=sys.executable, help="Python that runs Snakemake (default: this one)"
    )
    args = parser.parse_args(argv)
    args.snakefile = args.snakefile.resolve()
    if any(n < 1 for n in args.subjects):
        parser.error("--subjects: sizes must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    temporary = args.workdir is None
    base = Path(tempfile.mkdtemp(prefix="benchmark_dag-")) if temporary else args.workdir
    base = base.resolve()
    base.mkdir(parents=True, exist_ok=True)
    usage_start = resource.getrusage(resource.RUSAGE_CHILDREN)
    results: list[SizeResult] = []
    try_real = not args.skip_real
    try:
        for subjects in sorted(set(args.subjects)):
            result = run_size(subjects, base, args, try_real)
            if not try_real and not args.skip_real:
                result.real_note = "skipped (smaller size timed out)"
            results.append(result)
            if result.real is not None and result.real.timed_out and not args.keep_going:
                try_real = False
        usage_end = resource.getrusage(resource.RUSAGE_CHILDREN)
        children_cpu = (usage_end.ru_utime + usage_end.ru_stime) - (
            usage_start.ru_utime + usage_start.ru_stime
        )
        print()
        print(
            f"Planning {len(MODELS)} models x {len(CAMERA_SETUPS)} camera setups "
            f"({', '.join(CAMERA_SETUPS)}) on LabValidation-layout datasets "
            f"({sum(map(len, SESSION_TRIALS.values()))} trials x {len(CAMERAS)} cameras "
            f"per subject); snakemake -n --cores {args.cores}, timeout {args.timeout:.0f} s."
        )
        print(summary_table(results))
        print()
        print("Jobs per rule (one number: the sample sheet, real and skeleton agree; else e/r/s):")
        print(rule_table(results))
        kept = "temporary, removed at exit; pass --workdir to keep" if temporary else "kept"
        print(f"\nCPU of all child processes: {children_cpu:.1f} s. Files: {base} ({kept})")
        print("\nReproduce (the Snakemake calls need the files of a --workdir run):")
        print(
            f"  cd {REPO} && .venv/bin/python scripts/benchmark_dag.py --subjects "
            f"{' '.join(map(str, args.subjects))} --timeout {args.timeout:.0f}"
            + ("" if temporary else f" --workdir {shlex.quote(str(base))}")
            + ("" if args.snakefile == REPO / "Snakefile" else f" --snakefile {args.snakefile}")
            + (" --skip-real" if args.skip_real else "")
        )
        for r in results:
            for run in (r.describe_snakemake, r.real, r.skeleton):
                if run is not None:
                    print(f"  {shlex.join(run.command)}")
    finally:
        if temporary:
            shutil.rmtree(base, ignore_errors=True)
    return 0 if all(r.skeleton is not None and r.skeleton.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
