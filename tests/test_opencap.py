"""The OpenCap LabValidation adapter, on a generated synthetic subject (same code path as
the real data) and on hand-made broken layouts."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from posebench.camera import load_cameras
from posebench.datasets import describe_dataset
from posebench.datasets.opencap import activity_of
from posebench.datasets.opencap_frames import board_to_opensim, rotation_about
from posebench.datasets.sheet import SampleSheetError
from posebench.kinematics import configure_opensim_logging
from posebench.synthetic import generate_subject


@pytest.fixture(scope="module")
def dataset(pose2sim_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("labvalidation")
    configure_opensim_logging(root / "opensim.log")
    setup = pose2sim_dir / "OpenSim_Setup"
    generate_subject(
        root,
        model=setup / "Model_Pose2Sim_simple.osim",
        marker_set=setup / "Markers_LSTM.xml",
        geometry_dir=setup / "Geometry",
        activities=("static", "squats", "walking"),
    )
    return root


def describe(root: Path, tmp_path: Path, **options: object):  # type: ignore[no-untyped-def]
    return describe_dataset(
        adapter="opencap",
        root=root,
        dataset="lab",
        samples_path=tmp_path / "samples.tsv",
        calibration_dir=tmp_path / "calibration",
        skipped_path=tmp_path / "skipped.tsv",
        options=options,
    )


def test_reads_the_generated_subject(dataset: Path, tmp_path: Path) -> None:
    samples = describe(dataset, tmp_path)
    trials = samples.drop_duplicates(["session", "trial"])
    assert list(zip(trials["session"], trials["trial"], strict=True)) == [
        ("Session0", "squats1"),
        ("Session0", "static1"),
        ("Session1", "walking1"),
    ]
    assert set(samples["camera"]) == {f"Cam{k}" for k in range(5)}
    assert set(samples["scaling_session"]) == {"Session0"}
    assert set(samples["scaling_trial"]) == {"static1"}
    evaluate = dict(zip(trials["trial"], trials["evaluate"], strict=True))
    assert evaluate == {"squats1": "yes", "static1": "no", "walking1": "yes"}
    assert set(samples["activity"]) == {"squats", "static", "walking"}
    assert set(samples["mass_kg"]) == {70.0}
    cameras = load_cameras(tmp_path / "calibration" / "subject2" / "Session0.json")
    assert all(camera.image_size == (720, 1280) for camera in cameras)
    # Cameras stand around the subject, about 4 m away and 1-1.3 m above the floor, in
    # OpenSim's frame once the checkerboard rotation is applied.
    import json

    world_to_opensim = np.array(
        json.loads((tmp_path / "calibration" / "subject2" / "Session0.json").read_text())[
            "metadata"
        ]["world_to_opensim"]
    )
    centres = np.array([world_to_opensim @ camera.center_m() for camera in cameras])
    assert np.all((centres[:, 1] > 0.8) & (centres[:, 1] < 1.5))
    assert np.allclose(np.linalg.norm(centres[:, [0, 2]], axis=1), 4.0, atol=0.2)


def test_selection_keeps_the_scaling_trial(dataset: Path, tmp_path: Path) -> None:
    samples = describe(dataset, tmp_path, sessions=["Session1"])
    trials = samples.drop_duplicates(["session", "trial"])
    assert list(trials["trial"]) == ["static1", "walking1"]
    assert list(trials["evaluate"]) == ["no", "yes"]
    only_squats = describe(dataset, tmp_path, activities=["squats"])
    assert sorted(set(only_squats["trial"])) == ["squats1", "static1"]


def test_subject_without_videos_and_trial_without_truth_are_skipped(
    dataset: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    (copy / "subject6" / "OpenSimData").mkdir(parents=True)  # mocap only, like subject6
    (copy / "subject2" / "OpenSimData" / "Mocap" / "IK" / "walking1.mot").unlink()
    samples = describe(copy, tmp_path)
    assert "walking1" not in set(samples["trial"])
    skipped = (tmp_path / "skipped.tsv").read_text()
    assert "subject6" in skipped and "no videos" in skipped
    assert "walking1" in skipped and "no ground truth" in skipped


def test_broken_layouts_name_the_file(dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(SampleSheetError, match="No subject folders"):
        describe(tmp_path, tmp_path)
    copy = tmp_path / "copy"
    shutil.copytree(dataset, copy)
    metadata = copy / "subject2" / "sessionMetadata.yaml"
    content = yaml.safe_load(metadata.read_text())
    del content["mass_kg"]
    metadata.write_text(yaml.safe_dump(content))
    with pytest.raises(SampleSheetError, match="sessionMetadata.yaml: mass_kg is None"):
        describe(copy, tmp_path)
    content["mass_kg"] = 70.0
    metadata.write_text(yaml.safe_dump(content))
    calibration = (
        copy / "subject2" / "VideoData" / "Session0" / "Cam2" / "cameraIntrinsicsExtrinsics.pickle"
    )
    with calibration.open("wb") as handle:
        pickle.dump({"intrinsicMat": np.eye(3)}, handle)
    with pytest.raises(
        SampleSheetError, match=r"Cam2/cameraIntrinsicsExtrinsics.pickle: calibration lacks"
    ):
        describe(copy, tmp_path)


def test_checkerboard_rotation_rule() -> None:
    # backWall: about y by +90 deg, then about z by 180 deg (space-fixed).
    expected = np.array([[0.0, 0.0, -1.0], [0.0, -1.0, 0.0], [-1.0, 0.0, 0.0]])
    np.testing.assert_allclose(board_to_opensim("backWall", np.eye(3)), expected, atol=1e-12)
    # An upside-down board (first camera's rotation[1, 1] < 0): about y by -90 deg only.
    upside_down = np.diag([1.0, -1.0, -1.0])
    np.testing.assert_allclose(
        board_to_opensim("backWall", upside_down), rotation_about("y", -90), atol=1e-12
    )
    np.testing.assert_allclose(
        board_to_opensim("ground", np.eye(3)),
        np.array([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [-1.0, 0.0, 0.0]]),
        atol=1e-12,
    )
    # The board's y axis points down a wall board: it must map to OpenSim's -y (down).
    np.testing.assert_allclose(board_to_opensim("backWall", np.eye(3)) @ [0, 1, 0], [0, -1, 0])
    with pytest.raises(ValueError, match="Unknown checkerBoard placement 'ceiling'"):
        board_to_opensim("ceiling", np.eye(3))


def test_activity_names() -> None:
    assert activity_of("DJAsym2") == "DJAsym"
    assert activity_of("walkingTS3") == "walkingTS"
    assert activity_of("static1") == "static"
