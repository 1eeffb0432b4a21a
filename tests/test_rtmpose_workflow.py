"""The ONNX Runtime path through Snakemake: a tiny random RTMPose (Halpe26 I/O, 256x192) and a
YOLOX with constant boxes (tests/onnx_factory.py), given as `weights.local_path`, verified
by fetch_weights, then detect -> pose2d -> triangulate on the first frames of the Pose2Sim
demo's four cameras, selected by `run.models` as a user would. The keypoints are
meaningless; the flow and every file are real."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

# onnx builds the test models (the `test` extra); CI installs every extra.
if os.environ.get("CI", "").lower() != "true":
    pytest.importorskip("onnx")

from onnx_factory import build_rtmpose, build_yolox  # noqa: E402
from posebench.detection import load_detections  # noqa: E402
from posebench.io.keypoints import load_keypoints  # noqa: E402
from posebench.io.trc import read_trc  # noqa: E402
from posebench.markersets import get_marker_set  # noqa: E402
from posebench.paths import PATHS  # noqa: E402
from snakemake_runner import DEFAULT_CONFIG, run_snakemake  # noqa: E402
from test_mmpose_workflow import cut_demo  # noqa: E402

pytestmark = [pytest.mark.workflow]

CAMERAS = ["cam01", "cam02", "cam03", "cam04"]
FRAMES = 8
MODEL = "onnx-rtmpose"
DETECTOR = "onnx-yolox"
TRIAL = {"dataset": "onnx-demo", "subject": "P00", "session": "S00", "trial": "balancing"}


def path(template: str, **values: str) -> str:
    return template.format(**TRIAL, **values)


@pytest.fixture(scope="module")
def run(
    pose2sim_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, subprocess.CompletedProcess[str]]:
    root = tmp_path_factory.mktemp("rtmpose_workflow")
    demo = cut_demo(pose2sim_dir / "Demo_SinglePerson", root / "demo", FRAMES)
    pose = build_rtmpose(root / "rtmpose", 26, input_size=(192, 256))
    # One person box in the 640x640 letterbox (x 1/3 of the 1920-high portrait frames),
    # and a box of another class that must be left out.
    detector = build_yolox(
        root / "yolox", [[100, 100, 260, 600, 0.9], [0, 0, 50, 50, 0.99]], [0, 2]
    )
    overlay = {
        "run": {"datasets": ["onnx-demo"], "models": [MODEL]},
        "datasets": {"onnx-demo": {"adapter": "pose2sim_demo", "path": str(demo)}},
        "models": {
            MODEL: {
                "backend": "rtmpose",
                "marker_set": "halpe26",
                "weights": {"local_path": str(pose)},
                "detector": DETECTOR,
                "threads": 2,
                "batch_size": 4,
                "options": {"device": "cpu", "crop_batch_size": 4},
            }
        },
        "detectors": {
            DETECTOR: {
                "backend": "yolox",
                "weights": {"local_path": str(detector)},
                "score_threshold": 0.5,
                "threads": 1,
                "batch_size": 2,
                "options": {"device": "cpu"},
            }
        },
        "triangulation": {"min_score": 0.0, "filter": {"enabled": False}},
    }
    config = root / "onnx.yaml"
    config.write_text(yaml.safe_dump(overlay))
    workdir = root / "work"
    workdir.mkdir()
    target = path(PATHS.trc, model=MODEL, setup="all")
    result = run_snakemake(workdir, "--cores", "2", target, configs=(DEFAULT_CONFIG, config))
    if result.returncode != 0:
        logs = "\n".join(
            f"--- {p}\n{p.read_text()[-3000:]}" for p in (workdir / "logs").rglob("*.log")
        )
        pytest.fail(f"snakemake failed:\n{result.stderr[-5000:]}\n{logs}")
    return workdir, config, result


def test_onnx_weights_are_verified_into_manifests(
    run: tuple[Path, Path, subprocess.CompletedProcess[str]],
) -> None:
    workdir, _, _ = run
    pose = json.loads((workdir / f"resources/models/{MODEL}/weights.json").read_text())
    assert pose["format"] == "onnx" and pose["num_keypoints"] == 26
    assert pose["input_size"] == {"height": 256, "width": 192}
    detector = json.loads((workdir / f"resources/models/{DETECTOR}/weights.json").read_text())
    assert detector["kind"] == "detector" and detector["format"] == "onnx"


def test_detect_pose2d_triangulate_write_real_files(
    run: tuple[Path, Path, subprocess.CompletedProcess[str]],
) -> None:
    workdir, _, _ = run
    for camera in CAMERAS:
        track = load_detections(workdir / path(PATHS.detections, detector=DETECTOR, camera=camera))
        assert track.boxes.shape == (FRAMES, 4) and track.detector == DETECTOR
        scale = 1920 / 640  # the letterbox's box back in the portrait frame's pixels
        np.testing.assert_allclose(track.boxes[:, 1::2], [[100 * scale, 600 * scale]] * FRAMES)
        keypoints = load_keypoints(workdir / path(PATHS.keypoints, model=MODEL, camera=camera))
        assert keypoints.keypoint_names == get_marker_set("halpe26").keypoints
        assert keypoints.keypoints_px.shape == (FRAMES, 26, 2)
        assert (keypoints.scores > 0).any()
    trc = read_trc(workdir / path(PATHS.trc, model=MODEL, setup="all"))
    assert trc.marker_names == get_marker_set("halpe26").marker_names
    assert trc.positions.shape[0] > 0


def test_second_run_has_nothing_to_do(
    run: tuple[Path, Path, subprocess.CompletedProcess[str]],
) -> None:
    workdir, config, _ = run
    again = run_snakemake(
        workdir,
        "-n", "--cores", "2", path(PATHS.trc, model=MODEL, setup="all"),
        configs=(DEFAULT_CONFIG, config),
    )  # fmt: skip
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr


def test_registered_model_without_network_stops_with_the_manual_commands(tmp_path: Path) -> None:
    overlay = {"run": {"datasets": ["pose2sim-demo"], "models": ["rtmpose-m-halpe26"]}}
    config = tmp_path / "offline.yaml"
    config.write_text(yaml.safe_dump(overlay))
    target = "resources/models/rtmpose-m-halpe26/weights.json"
    result = run_snakemake(
        tmp_path,
        "--cores", "1", target,
        configs=(DEFAULT_CONFIG, config),
        env={"POSEBENCH_OFFLINE": "1"},
    )  # fmt: skip
    log = (tmp_path / "logs" / "fetch_weights" / "rtmpose-m-halpe26.log").read_text()
    assert result.returncode != 0
    archive = "rtmpose-m_simcc-body7_pt-body7-halpe26_700e-256x192-4d3e73dd_20230605.zip"
    assert archive in log and "curl" in log and "sha256sum" in log
