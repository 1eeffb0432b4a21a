"""The top-down path through Snakemake on the embedded demo, with tiny random checkpoints:
fetch_weights (local paths) -> detect -> pose2d -> triangulate. The numbers are
meaningless; the flow, the caching of detections per detector and every file are real."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("torch")
pytest.importorskip("transformers")

from model_factory import build_rtdetr, build_vitpose
from posebench.detection import load_detections
from posebench.io.keypoints import load_keypoints
from posebench.io.trc import read_trc
from posebench.paths import PATHS
from posebench.skeletons import ANATOMICAL_KEYPOINTS
from snakemake_runner import DEFAULT_CONFIG, run_snakemake

CAMERAS = ["cam01", "cam02", "cam03", "cam04"]
TRIAL = {"dataset": "pose2sim-demo", "subject": "P00", "session": "S00", "trial": "balancing"}


def path(template: str, **values: str) -> str:
    """A `PATHS` template filled for the demo trial."""
    return template.format(**TRIAL, **values)


pytestmark = [pytest.mark.workflow, pytest.mark.torch, pytest.mark.network]


def snakemake(
    workdir: Path, config: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    return run_snakemake(workdir, *args, configs=(DEFAULT_CONFIG, config), env=env)


def jobs(result: subprocess.CompletedProcess[str]) -> dict[str, int]:
    text = result.stdout + result.stderr
    if "Nothing to be done" in text:
        return {}
    table = text.split("Job stats:")[1].split("Reasons:")[0]
    found = (re.fullmatch(r"\s*(\w+)\s+(\d+)\s*", line) for line in table.splitlines())
    return {m.group(1): int(m.group(2)) for m in found if m and m.group(1) != "total"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A work directory and a config overlay with tiny SynthPose/COCO/RT-DETR checkpoints."""
    root = tmp_path_factory.mktemp("tiny")
    models = root / "checkpoints"
    overlay = {
        "run": {"datasets": ["pose2sim-demo"], "models": ["tiny-synthpose"]},
        "models": {
            name: {
                "backend": "vitpose",
                "marker_set": marker_set,
                "weights": {"local_path": str(build_vitpose(models / name, count))},
                "detector": "tiny-rtdetr",
                "threads": 1,
                "batch_size": 8,
                "options": {"device": "cpu", "precision": "fp32", "crop_batch_size": 8},
            }
            for name, marker_set, count in (
                ("tiny-synthpose", "anatomical", 52),
                ("tiny-coco", "coco17", 17),
            )
        },
        "detectors": {
            name: {
                "weights": {"local_path": str(build_rtdetr(models / "rtdetr"))},
                "score_threshold": 0.0,  # random weights: keep whatever is found
                "threads": 1,
                "batch_size": 4,
                "options": {"device": "cpu"},
            }
            for name in ("tiny-rtdetr", "tiny-rtdetr-b")
        },
        "triangulation": {"min_score": 0.0},
    }
    config = root / "tiny.yaml"
    config.write_text(yaml.safe_dump(overlay))
    workdir = root / "work"
    workdir.mkdir()
    targets = [path(PATHS.trc, model="tiny-synthpose", setup="all")]
    result = snakemake(workdir, config, "--cores", "2", *targets)
    if result.returncode != 0:
        logs = "\n".join(
            f"--- {p}\n{p.read_text()[-3000:]}" for p in (workdir / "logs").rglob("*.log")
        )
        pytest.fail(f"snakemake failed:\n{result.stderr[-5000:]}\n{logs}")
    return workdir, config


def test_every_stage_writes_real_files(tiny: tuple[Path, Path]) -> None:
    workdir, _ = tiny
    manifest = workdir / "resources" / "models" / "tiny-synthpose" / "weights.json"
    assert manifest.is_file() and '"num_keypoints": 52' in manifest.read_text()
    for camera in CAMERAS:
        track = load_detections(
            workdir / path(PATHS.detections, detector="tiny-rtdetr", camera=camera)
        )
        assert track.boxes.shape == (100, 4)
        keypoints = load_keypoints(
            workdir / path(PATHS.keypoints, model="tiny-synthpose", camera=camera)
        )
        assert keypoints.keypoint_names == ANATOMICAL_KEYPOINTS
        assert keypoints.keypoints_px.shape == (100, 52, 2)
        detected = np.isfinite(track.boxes).all(axis=1)
        assert (keypoints.detected_frames() == detected).all()
    trc = read_trc(workdir / path(PATHS.trc, model="tiny-synthpose", setup="all"))
    assert len(trc.marker_names) == 29


def test_switching_pose_model_reuses_detections(tiny: tuple[Path, Path]) -> None:
    workdir, config = tiny
    target = path(PATHS.keypoints, model="tiny-coco", camera="cam01")
    planned = jobs(snakemake(workdir, config, "-n", "--cores", "2", target))
    assert planned == {"fetch_weights": 1, "pose2d": 1}


def test_switching_detector_reruns_detection(tiny: tuple[Path, Path]) -> None:
    workdir, config = tiny
    overlay = yaml.safe_load(config.read_text())
    overlay["models"]["tiny-synthpose"]["detector"] = "tiny-rtdetr-b"
    switched = config.with_name("switched.yaml")
    switched.write_text(yaml.safe_dump(overlay))
    target = path(PATHS.keypoints, model="tiny-synthpose", camera="cam01")
    planned = jobs(snakemake(workdir, switched, "-n", "--cores", "2", target))
    assert planned == {"fetch_weights": 1, "detect": 1, "pose2d": 1}


def test_absent_weights_without_network_stop_at_once(tmp_path: Path) -> None:
    overlay = {
        "run": {"datasets": ["pose2sim-demo"], "models": ["synthpose-vitpose-base"]},
    }
    config = tmp_path / "hub.yaml"
    config.write_text(yaml.safe_dump(overlay))
    started = time.monotonic()
    result = snakemake(
        tmp_path,
        config,
        "--cores", "1",
        "resources/models/synthpose-vitpose-base/weights.json",
        HF_HUB_OFFLINE="1",
        HF_HUB_CACHE=str(tmp_path / "empty-cache"),
    )  # fmt: skip
    elapsed = time.monotonic() - started
    log = (tmp_path / "logs" / "fetch_weights" / "synthpose-vitpose-base.log").read_text()
    assert result.returncode != 0
    assert "stanfordmimi/synthpose-vitpose-base-hf" in log and "hf download" in log
    assert elapsed < 60, f"took {elapsed:.0f} s"
