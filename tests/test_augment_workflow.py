"""The marker augmenter through Snakemake on a real triangulated trial: the Pose2Sim demo's
BlazePose keypoints (`mediapipe-blazepose-lstm`) through `augment`, then scaling and IK on
the augmented markers. The demo gives no height (`participant_height = 'auto'`), so it is
estimated from the static window and recorded."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from posebench.augmenter import input_markers, output_markers
from posebench.io.mot import read_mot
from posebench.io.trc import read_trc
from posebench.paths import PATHS, SETUP_KEY, log_path
from snakemake_runner import run_snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.network, pytest.mark.mediapipe]

MODEL = "mediapipe-blazepose-lstm"
UNIT = {
    "dataset": "pose2sim-demo",
    "subject": "P00",
    "session": "S00",
    "trial": "balancing",
    "model": MODEL,
    "setup": "all",
}


@pytest.fixture(scope="module")
def augmented_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    workdir = tmp_path_factory.mktemp("augmented_demo")
    result = run_snakemake(
        workdir,
        "--cores",
        "2",
        "--config",
        f"run={{'datasets': ['pose2sim-demo'], 'models': ['{MODEL}']}}",
    )
    if result.returncode != 0:
        logs = "\n".join(
            f"--- {p}\n{p.read_text()[-3000:]}" for p in sorted((workdir / "logs").rglob("*.log"))
        )
        pytest.fail(f"snakemake failed:\n{result.stderr[-6000:]}\n{logs}")
    return workdir


def test_augmented_markers_are_plausible(augmented_run: Path) -> None:
    triangulated = read_trc(augmented_run / PATHS.trc.format(**UNIT))
    augmented = read_trc(augmented_run / PATHS.augmented_trc.format(**UNIT))
    # The triangulated markers (BlazePose's, a neck and small toes), then the 43 outputs.
    assert augmented.marker_names == triangulated.marker_names + output_markers("lstm-v0.3")
    assert np.array_equal(augmented.times_s, triangulated.times_s)
    n_in = len(triangulated.marker_names)
    assert np.allclose(augmented.positions[:, :n_in], triangulated.positions, equal_nan=True)
    column = {name: i for i, name in enumerate(augmented.marker_names)}
    inputs = [column[name] for name in input_markers("lstm-v0.3")]
    complete = np.isfinite(triangulated.positions_m[:, inputs]).all(axis=(1, 2))
    assert complete.mean() > 0.9
    outputs = augmented.positions_m[:, n_in:]
    assert np.isfinite(outputs[complete]).all() and np.isnan(outputs[~complete]).all()

    def marker(name: str) -> np.ndarray:
        return augmented.positions_m[complete, column[name]]

    # The knee and ankle markers lie either side of the keypoints' joint centres, within a
    # few centimetres; the hip joint centres near the hip keypoints.
    for side, s in (("R", "r"), ("L", "L")):
        knee = 0.5 * (marker(f"{s}_knee_study") + marker(f"{s}_mknee_study"))
        assert np.median(np.linalg.norm(knee - marker(f"{side}Knee"), axis=1)) < 0.05
        ankle = 0.5 * (marker(f"{s}_ankle_study") + marker(f"{s}_mankle_study"))
        assert np.median(np.linalg.norm(ankle - marker(f"{side}Ankle"), axis=1)) < 0.05
        hjc = marker(f"{side}HJC_study")
        assert np.median(np.linalg.norm(hjc - marker(f"{side}Hip"), axis=1)) < 0.08


def test_height_is_estimated_and_recorded(augmented_run: Path) -> None:
    report = json.loads((augmented_run / PATHS.augmentation.format(**UNIT)).read_text())
    assert report["augmenter"] == "lstm-v0.3" and report["marker_set"] == "blazepose-lstm"
    assert report["height_source"] == "estimated"
    assert 1.6 < report["height_m"] < 1.9
    estimate = report["height_estimate"]
    assert estimate["trc"] == PATHS.trc.format(**UNIT)  # the demo's only trial is its static one
    assert estimate["height_m"] == report["height_m"]
    assert estimate["method"].startswith("median shank + thigh + trunk")
    assert set(estimate["segment_lengths_m"]) == {"shank", "thigh", "trunk"}
    assert report["mass_kg"] == 70.0
    assert report["frames_augmented"] > 0.9 * report["frames"]
    log = (augmented_run / log_path("augment", SETUP_KEY).format(**UNIT)).read_text()
    assert "height is not in the dataset's metadata: estimated" in log
    assert "frames augmented" in log


def test_opensim_tracks_the_augmented_markers(augmented_run: Path) -> None:
    scaling = json.loads((augmented_run / PATHS.scaling.format(**UNIT)).read_text())
    assert scaling["trc"] == PATHS.augmented_trc.format(**UNIT)
    assert "r.ASIS_study" in scaling["scaling_markers"]
    ik = json.loads((augmented_run / PATHS.ik.format(**UNIT)).read_text())
    assert ik["trc"] == PATHS.augmented_trc.format(**UNIT)
    assert ik["ik_setup"].endswith("IK_Setup_Pose2Sim_withoutHands_LSTM.xml")
    assert ik["ik_tasks_left_out"] == ["L5_S1_Flex_Ext"]  # as for the anatomical set
    assert ik["rms_marker_error_m"] < 0.04
    motion = read_mot(augmented_run / PATHS.motion.format(**UNIT))
    assert len(motion.table) > 0 and "hip_flexion_r" in motion.table.columns
