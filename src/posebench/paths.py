"""The one table of paths: every file the workflow writes, the rule that writes it, and the
log and benchmark file of each job.

Only the standard library is imported here, so readers of any file (`posebench.io`) can
name the rule that regenerates it without importing the planner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# Keys of one trial, of one camera's keypoints, of one camera setup's result and of one
# scaled model: every per-unit path below is a stage folder followed by one of these.
TRIAL_KEY = "{dataset}/{subject}/{session}/{trial}"
CAMERA_KEY = TRIAL_KEY + "/{model}/{camera}"
SETUP_KEY = TRIAL_KEY + "/{model}/{setup}"
SESSION_KEY = "{dataset}/{subject}/{session}/{model}/{setup}"
DETECTION_KEY = "{detector}/{dataset}/{subject}/{session}/{trial}/{camera}"


@dataclass(frozen=True)
class Paths:
    """Path templates of every file the workflow writes, relative to its working directory.

    The rules, `rule all` and the tests all use these, so a layout change is made here once.
    """

    samples: str = "results/datasets/{dataset}/samples.tsv"
    skipped: str = "results/datasets/{dataset}/skipped.tsv"
    calibration_dir: str = "results/datasets/{dataset}/calibration"
    calibration: str = "results/datasets/{dataset}/calibration/{subject}/{session}.json"
    generated: str = "resources/synthetic/{dataset}/generated.json"
    weights: str = "resources/models/{weights}/weights.json"
    detector_weights: str = "resources/models/{detector}/weights.json"
    detections: str = f"results/detections/{DETECTION_KEY}.npz"
    keypoints: str = f"results/pose2d/{CAMERA_KEY}.npz"
    trc: str = f"results/triangulate/{SETUP_KEY}/markers.trc"
    reprojection: str = f"results/triangulate/{SETUP_KEY}/reprojection_error.csv"
    triangulation: str = f"results/triangulate/{SETUP_KEY}/triangulation.json"
    augmented_trc: str = f"results/augment/{SETUP_KEY}/markers.trc"
    augmentation: str = f"results/augment/{SETUP_KEY}/augment.json"
    scaled_model: str = f"results/scale/{SESSION_KEY}/scaled.osim"
    scaling: str = f"results/scale/{SESSION_KEY}/scaling.json"
    motion: str = f"results/ik/{SETUP_KEY}/joint_angles.mot"
    marker_errors: str = f"results/ik/{SETUP_KEY}/marker_errors.sto"
    ik: str = f"results/ik/{SETUP_KEY}/ik.json"
    statistics: str = f"results/summary/{SETUP_KEY}/joint_angles.csv"
    quality: str = f"results/summary/{SETUP_KEY}/quality.csv"
    plot: str = f"results/summary/{SETUP_KEY}/joint_angles.png"
    all_statistics: str = "results/summary/joint_angles.csv"
    all_quality: str = "results/summary/trials.csv"
    scores: str = f"results/evaluation/{SETUP_KEY}/scores.csv"
    leaderboard_csv: str = "results/{dataset}/leaderboard.csv"
    leaderboard_md: str = "results/{dataset}/leaderboard.md"
    leaderboard_png: str = "results/{dataset}/leaderboard.png"
    dataset_scores: str = "results/{dataset}/scores.csv"
    breakdowns: str = "results/{dataset}/breakdowns"


PATHS = Paths()

# The rule that writes each file of `PATHS`: readers name it in their errors.
_PRODUCERS: dict[str, str] = {
    "samples": "describe_dataset",
    "skipped": "describe_dataset",
    "calibration": "describe_dataset",
    "generated": "generate_synthetic",
    "weights": "fetch_weights",
    "detections": "detect",
    "keypoints": "pose2d",
    "trc": "triangulate",
    "reprojection": "triangulate",
    "triangulation": "triangulate",
    "augmented_trc": "augment",
    "augmentation": "augment",
    "scaled_model": "scale",
    "scaling": "scale",
    "motion": "inverse_kinematics",
    "marker_errors": "inverse_kinematics",
    "ik": "inverse_kinematics",
    "statistics": "summarize",
    "quality": "summarize",
    "plot": "summarize",
    "all_statistics": "aggregate",
    "all_quality": "aggregate",
    "scores": "evaluate",
    "leaderboard_csv": "leaderboard",
    "leaderboard_md": "leaderboard",
    "leaderboard_png": "leaderboard",
    "dataset_scores": "leaderboard",
    "breakdowns": "leaderboard",
}


def producing_rule(path: Path | str) -> str | None:
    """The rule that writes `path` (relative or absolute), None for files the workflow
    does not write (user data, fetched data)."""
    text = Path(path).as_posix()
    for field, rule in _PRODUCERS.items():
        pattern = re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(getattr(PATHS, field)))
        if re.search(f"(?:^|/){pattern}(?:/[^/]+)?$", text):
            return rule
    return None


# The file each fetch rule writes last (its manifest): what depends on fetched data waits
# for it, and the fetched folder lies next to it.
FETCH_OUTPUTS: dict[str, str] = {
    "pose2sim": "resources/pose2sim/MANIFEST.json",
    "opencap-core": "resources/opencap-core/MANIFEST.json",
}
# OpenCap's LSTM marker augmenter networks, extracted with Pose2Sim's data (fetch_demo_data):
# their folder inside Pose2Sim's data, and in the project.
AUGMENTER_SUBDIR = "MarkerAugmenter/LSTM"
AUGMENTER_DIR = f"{FETCH_OUTPUTS['pose2sim'].rsplit('/', 1)[0]}/{AUGMENTER_SUBDIR}"

# The localrule that writes each of them (workflow/rules/fetch.smk), named in messages.
FETCH_RULES: dict[str, str] = {
    "pose2sim": "fetch_demo_data",
    "opencap-core": "fetch_opencap_core",
}


def log_path(rule: str, key: str) -> str:
    """The log file of one job of `rule`, e.g. `logs/triangulate/<SETUP_KEY>.log`."""
    return f"logs/{rule}/{key}.log"


def benchmark_path(rule: str, key: str) -> str:
    """The benchmark (timing) file of one job of `rule`."""
    return f"benchmarks/{rule}/{key}.tsv"
