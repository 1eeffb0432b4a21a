"""Marker sets against the OpenSim files they name, and the run-time set-up adaptation."""

from __future__ import annotations

import importlib.util
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from posebench.markersets import MARKER_SETS, get_marker_set
from posebench.opensim.setups import adapt_ik_setup, adapt_scaling_setup

POSE2SIM_SETS = [name for name, m in MARKER_SETS.items() if m.setup_source == "pose2sim"]


@pytest.mark.parametrize("name", POSE2SIM_SETS)
def test_markers_exist_in_the_opensim_marker_file(pose2sim_dir: Path, name: str) -> None:
    marker_set = get_marker_set(name)
    files = marker_set.opensim_paths(pose2sim_dir / "OpenSim_Setup")
    defined = set(re.findall(r'<Marker name="([^"]+)"', files["markers"].read_text()))
    # With an augmenter, the model carries its outputs; the triangulated inputs ride along.
    tracked = set(marker_set.opensim_marker_names)
    if marker_set.augmenter is not None:
        tracked -= set(marker_set.marker_names)
    assert tracked <= defined, tracked - defined


@pytest.mark.parametrize("name", POSE2SIM_SETS)
def test_adapted_setups_use_only_available_markers(
    pose2sim_dir: Path, tmp_path: Path, name: str
) -> None:
    marker_set = get_marker_set(name)
    files = marker_set.opensim_paths(pose2sim_dir / "OpenSim_Setup")
    adapt_ik_setup(marker_set, files["ik_setup"], tmp_path / "ik.xml")
    tasks = ET.parse(tmp_path / "ik.xml").getroot().iter("IKMarkerTask")
    assert {t.get("name") for t in tasks} <= set(marker_set.opensim_marker_names)
    adapt_scaling_setup(marker_set, files["scaling_setup"], tmp_path / "scale.xml")
    for measurement in ET.parse(tmp_path / "scale.xml").getroot().iter("Measurement"):
        if (measurement.findtext("apply") or "").strip() != "true":
            continue
        for pair in measurement.iter("MarkerPair"):
            markers = set((pair.findtext("markers") or "").split())
            assert markers <= set(marker_set.opensim_marker_names)


def test_anatomical_adaptation(pose2sim_dir: Path, tmp_path: Path) -> None:
    anatomical = get_marker_set("anatomical")
    assert len(anatomical.keypoints) == 52 and len(anatomical.marker_names) == 29
    files = anatomical.opensim_paths(pose2sim_dir / "OpenSim_Setup")
    dropped = adapt_ik_setup(anatomical, files["ik_setup"], tmp_path / "ik.xml")
    assert "L5_S1_Flex_Ext" in dropped  # the lumbar prior is switched off
    assert "RHJC_study" in dropped and "r_thigh1_study" in dropped
    root = ET.parse(tmp_path / "ik.xml").getroot()
    weights = {
        t.get("name"): float(t.findtext("weight") or "nan") for t in root.iter("IKMarkerTask")
    }
    assert weights["r.ASIS_study"] == 25 and weights["r_knee_study"] == 10
    assert weights["r_calc_study"] == 7 and weights["C7_study"] == 5
    changes = adapt_scaling_setup(anatomical, files["scaling_setup"], tmp_path / "scale.xml")
    assert {"femur_r", "femur_l", "pelvisZ"} <= set(changes["replaced"])
    assert changes["switched_off"] == []


def test_coco17_neck_is_the_shoulder_midpoint() -> None:
    coco = get_marker_set("coco17")
    assert coco.marker_names[-1] == "Neck" and len(coco.keypoints) == 17
    keypoints = np.random.default_rng(0).normal(size=(4, 17, 3))
    markers = coco.marker_positions(keypoints)
    np.testing.assert_allclose(markers[:, -1], keypoints[:, [5, 6]].mean(axis=1))
    np.testing.assert_array_equal(markers[:, 0], keypoints[:, 0])  # Nose


def _mmpose_keypoint_names(dataset: str) -> tuple[str, ...]:
    """Keypoint names (id order) of an MMPose dataset meta file of the installed mmpose."""
    config_module = pytest.importorskip("mmengine.config")
    spec = importlib.util.find_spec("mmpose")
    if spec is None or spec.origin is None:
        pytest.skip("not installed: mmpose")
    path = Path(spec.origin).parent / ".mim" / "configs" / "_base_" / "datasets" / f"{dataset}.py"
    if not path.is_file():
        pytest.skip(f"mmpose has no dataset meta file {path}")
    info = config_module.Config.fromfile(str(path)).dataset_info.keypoint_info
    return tuple(info[i]["name"] for i in range(len(info)))


def test_coco_wholebody_keypoints_are_mmpose_order() -> None:
    wholebody = get_marker_set("coco_wholebody")
    assert len(wholebody.keypoints) == 133
    assert wholebody.keypoints[:17] == get_marker_set("coco17").keypoints
    assert wholebody.keypoints == _mmpose_keypoint_names("coco_wholebody")


def test_coco_wholebody_markers(pose2sim_dir: Path, tmp_path: Path) -> None:
    wholebody = get_marker_set("coco_wholebody")
    files = wholebody.opensim_paths(pose2sim_dir / "OpenSim_Setup")
    assert files["markers"].name == "Markers_Coco133.xml"
    # Body and feet become markers; face and hand keypoints do not.
    mapped = [k for k in wholebody.keypoints if k in wholebody.markers]
    assert mapped == [k for k in wholebody.keypoints[:23] if not k.endswith("_ear")]
    feet = {"LBigToe", "LSmallToe", "LHeel", "RBigToe", "RSmallToe", "RHeel"}
    assert feet <= set(wholebody.marker_names) and len(wholebody.marker_names) == 21
    defined = set(re.findall(r'<Marker name="([^"]+)"', files["markers"].read_text()))
    tasks = {t.get("name") for t in ET.parse(files["ik_setup"]).getroot().iter("IKMarkerTask")}
    assert set(wholebody.marker_names) <= defined & tasks
    # Only Pose2Sim's hand markers have no keypoint here: IK keeps every other task, and no
    # scaling measurement is switched off.
    dropped = adapt_ik_setup(wholebody, files["ik_setup"], tmp_path / "ik.xml")
    assert set(dropped) == {f"{side}{m}" for side in "LR" for m in ("Thumb", "Index", "Pinky")}
    changes = adapt_scaling_setup(wholebody, files["scaling_setup"], tmp_path / "scale.xml")
    assert changes == {"replaced": [], "dropped_pairs": [], "switched_off": []}


def test_coco_wholebody_markers_skip_face_and_hands() -> None:
    wholebody = get_marker_set("coco_wholebody")
    keypoints = np.random.default_rng(0).normal(size=(3, 133, 3))
    markers = wholebody.marker_positions(keypoints)
    assert markers.shape == (3, 21, 3)
    index = wholebody.keypoints.index
    for column, keypoint in enumerate(k for k in wholebody.keypoints if k in wholebody.markers):
        np.testing.assert_array_equal(markers[:, column], keypoints[:, index(keypoint)])
