"""The OpenMMLab path through Snakemake: random HRNet-W48 and Faster R-CNN checkpoints built
from the real configs (conftest.py's session fixtures), given as `weights.local_path`,
verified by fetch_weights, then detect -> pose2d -> triangulate on the first frames of the
Pose2Sim demo's four cameras (Faster R-CNN takes seconds per full-HD frame on a CPU). The
numbers are meaningless; the flow and every file are real."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

pytest.importorskip("mmpose")

from posebench.detection import load_detections
from posebench.io.keypoints import load_keypoints
from posebench.io.trc import read_trc
from posebench.markersets import get_marker_set
from posebench.paths import PATHS
from posebench.skeletons import COCO_KEYPOINTS
from snakemake_runner import DEFAULT_CONFIG, run_snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.openmmlab]

CAMERAS = ["cam01", "cam02", "cam03", "cam04"]
FRAMES = 10
TRIAL = {"dataset": "mm-demo", "subject": "P00", "session": "S00", "trial": "balancing"}


def path(template: str, **values: str) -> str:
    return template.format(**TRIAL, **values)


def cut_demo(source: Path, dest: Path, frames: int) -> Path:
    """The Pose2Sim demo (`source`) with the first `frames` frames of each video."""
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("*.mp4"))
    for video in sorted((source / "videos").glob("*.mp4")):
        capture = cv2.VideoCapture(str(video))
        fps = capture.get(cv2.CAP_PROP_FPS)
        size = (
            int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
            int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        )
        writer = cv2.VideoWriter(
            str(dest / "videos" / video.name), cv2.VideoWriter_fourcc(*"mp4v"), fps, size
        )
        for _ in range(frames):
            ok, frame = capture.read()
            assert ok, f"{video} has fewer than {frames} frames"
            writer.write(frame)
        writer.release()
        capture.release()
    return dest


def snakemake(workdir: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_snakemake(workdir, *args, configs=(DEFAULT_CONFIG, config))


@pytest.fixture(scope="module")
def run(
    pose2sim_dir: Path,
    hrnet_coco17: Path,
    faster_rcnn: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Path, subprocess.CompletedProcess[str]]:
    root = tmp_path_factory.mktemp("mmpose_workflow")
    demo = cut_demo(pose2sim_dir / "Demo_SinglePerson", root / "demo", FRAMES)
    overlay = {
        "run": {"datasets": ["mm-demo"], "models": ["mm-hrnet"]},
        "datasets": {"mm-demo": {"adapter": "pose2sim_demo", "path": str(demo)}},
        "models": {
            "mm-hrnet": {
                "backend": "mmpose",
                "marker_set": "coco17",
                "weights": {"local_path": str(hrnet_coco17)},
                "detector": "mm-frcnn",
                "threads": 1,
                "batch_size": 4,
                "options": {"device": "cpu", "precision": "fp32", "crop_batch_size": 8},
            }
        },
        "detectors": {
            "mm-frcnn": {
                "backend": "mmdet",
                "weights": {"local_path": str(faster_rcnn)},
                "score_threshold": 0.5,
                "threads": 1,
                "batch_size": 2,
                "options": {"device": "cpu"},
            }
        },
        "triangulation": {"min_score": 0.0, "filter": {"enabled": False}},
    }
    config = root / "mm.yaml"
    config.write_text(yaml.safe_dump(overlay))
    workdir = root / "work"
    workdir.mkdir()
    result = snakemake(
        workdir, config, "--cores", "2", path(PATHS.trc, model="mm-hrnet", setup="all")
    )
    if result.returncode != 0:
        logs = "\n".join(
            f"--- {p}\n{p.read_text()[-3000:]}" for p in (workdir / "logs").rglob("*.log")
        )
        pytest.fail(f"snakemake failed:\n{result.stderr[-5000:]}\n{logs}")
    return workdir, config, result


def test_weights_are_verified_into_manifests(
    run: tuple[Path, Path, subprocess.CompletedProcess[str]], hrnet_coco17: Path
) -> None:
    workdir, _, _ = run
    pose = json.loads((workdir / "resources/models/mm-hrnet/weights.json").read_text())
    assert pose["num_keypoints"] == 17 and pose["path"] == str(hrnet_coco17)
    assert pose["weights_file"].endswith(".pth") and "config.py" in pose["files"]
    detector = json.loads((workdir / "resources/models/mm-frcnn/weights.json").read_text())
    assert detector["kind"] == "detector"


def test_detect_pose2d_triangulate_write_real_files(
    run: tuple[Path, Path, subprocess.CompletedProcess[str]],
) -> None:
    workdir, _, _ = run
    for camera in CAMERAS:
        track = load_detections(
            workdir / path(PATHS.detections, detector="mm-frcnn", camera=camera)
        )
        assert track.boxes.shape == (FRAMES, 4) and track.detector == "mm-frcnn"
        assert np.isfinite(track.boxes).all()  # every frame has a (random) person box
        keypoints = load_keypoints(workdir / path(PATHS.keypoints, model="mm-hrnet", camera=camera))
        assert keypoints.keypoint_names == COCO_KEYPOINTS
        assert keypoints.keypoints_px.shape == (FRAMES, 17, 2)
        log = (workdir / "logs" / "pose2d").rglob(f"*{camera}*.log")
        assert any("keypoint flip pairs from the checkpoint" in p.read_text() for p in log)
    trc = read_trc(workdir / path(PATHS.trc, model="mm-hrnet", setup="all"))
    assert trc.marker_names == get_marker_set("coco17").marker_names
    assert trc.positions.shape[0] > 0


def test_second_run_has_nothing_to_do(
    run: tuple[Path, Path, subprocess.CompletedProcess[str]],
) -> None:
    workdir, config, _ = run
    again = snakemake(
        workdir, config, "-n", "--cores", "2", path(PATHS.trc, model="mm-hrnet", setup="all")
    )
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


def test_absent_checkpoint_without_network_stops_at_once(tmp_path: Path) -> None:
    overlay = {"run": {"datasets": ["pose2sim-demo"], "models": ["hrnet-w48-coco"]}}
    config = tmp_path / "offline.yaml"
    config.write_text(yaml.safe_dump(overlay))
    target = "resources/models/hrnet-w48-coco/weights.json"
    result = run_snakemake(
        tmp_path,
        "--cores", "1", target,
        configs=(DEFAULT_CONFIG, config),
        env={"POSEBENCH_OFFLINE": "1"},
    )  # fmt: skip
    log = (tmp_path / "logs" / "fetch_weights" / "hrnet-w48-coco.log").read_text()
    assert result.returncode != 0
    assert "hrnet_w48_coco_384x288_dark-e881a4b6_20210203.pth" in log and "curl" in log
