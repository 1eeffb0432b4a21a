"""The OpenCap LabValidation adapter, on the checked-in synthetic subject (`.test/`, made by
the generator; same code path as the real data) and on hand-made broken layouts."""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from posebench.camera import load_cameras
from posebench.datasets import describe_dataset
from posebench.datasets.opencap import activity_of
from posebench.datasets.opencap_frames import (
    PLACEMENT_CONVENTIONS,
    PlacementError,
    board_to_opensim,
    rotation_about,
)
from posebench.datasets.sheet import SampleSheetError
from posebench.datasets.synthetic.rig import (
    BOARD_EULER_ANGLES,
    board_cameras,
    board_rotation,
    synthetic_cameras,
)
from posebench.datasets.synthetic.writer import calibration_pickle

# The rig of the checked-in subject (the settings in scripts/make_test_dataset.py): its
# static1 is in Session0, walking1 in Session1.
ANGLES_DEG, DISTANCE_M, IMAGE_SIZE, SEED = (-45.0, 0.0, 45.0), 28.0, (96, 96), 0


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


def test_reads_the_generated_subject(test_dataset: Path, tmp_path: Path) -> None:
    samples = describe(test_dataset, tmp_path)
    trials = samples.drop_duplicates(["session", "trial"])
    assert list(zip(trials["session"], trials["trial"], strict=True)) == [
        ("Session0", "static1"),
        ("Session1", "walking1"),
    ]
    assert set(samples["camera"]) == {f"Cam{k}" for k in range(len(ANGLES_DEG))}
    assert set(samples["scaling_session"]) == {"Session0"}
    assert set(samples["scaling_trial"]) == {"static1"}
    evaluate = dict(zip(trials["trial"], trials["evaluate"], strict=True))
    assert evaluate == {"static1": "no", "walking1": "yes"}
    assert set(samples["activity"]) == {"static", "walking"}
    assert set(samples["mass_kg"]) == {70.0}
    cameras = load_cameras(tmp_path / "calibration" / "subject2" / "Session0.json")
    assert all(camera.image_size == IMAGE_SIZE for camera in cameras)
    # Cameras stand around the subject, DISTANCE_M away and 1-1.3 m above the floor, in
    # OpenSim's frame once the checkerboard rotation is applied.
    import json

    world_to_opensim = np.array(
        json.loads((tmp_path / "calibration" / "subject2" / "Session0.json").read_text())[
            "metadata"
        ]["world_to_opensim"]
    )
    centres = np.array([world_to_opensim @ camera.center_m() for camera in cameras])
    assert np.all((centres[:, 1] > 0.8) & (centres[:, 1] < 1.5))
    assert np.allclose(np.linalg.norm(centres[:, [0, 2]], axis=1), DISTANCE_M, atol=0.2)


def test_selection_keeps_the_scaling_trial(test_dataset: Path, tmp_path: Path) -> None:
    samples = describe(test_dataset, tmp_path, sessions=["Session1"])
    trials = samples.drop_duplicates(["session", "trial"])
    assert list(trials["trial"]) == ["static1", "walking1"]
    assert list(trials["evaluate"]) == ["no", "yes"]
    only_walking = describe(test_dataset, tmp_path, activities=["walking"])
    assert sorted(set(only_walking["trial"])) == ["static1", "walking1"]
    # Selecting another activity leaves walking1 out; the scaling trial stays, unscored.
    only_squats = describe(test_dataset, tmp_path, activities=["squats"])
    assert sorted(set(only_squats["trial"])) == ["static1"]
    assert set(only_squats["evaluate"]) == {"no"}


def test_subject_without_videos_and_trial_without_truth_are_skipped(
    test_dataset: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(test_dataset, copy)
    (copy / "subject6" / "OpenSimData").mkdir(parents=True)  # mocap only, like subject6
    (copy / "subject2" / "OpenSimData" / "Mocap" / "IK" / "walking1.mot").unlink()
    samples = describe(copy, tmp_path)
    assert set(samples["trial"]) == {"static1"}
    skipped = (tmp_path / "skipped.tsv").read_text()
    assert "subject6" in skipped and "no videos" in skipped
    assert "walking1" in skipped and "no ground truth" in skipped


def test_broken_layouts_name_the_file(test_dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(SampleSheetError, match="No subject folders"):
        describe(tmp_path, tmp_path)
    copy = tmp_path / "copy"
    shutil.copytree(test_dataset, copy)
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
    # ground: OpenCapBench turns about x by -90 deg, opencap-core (since 12/2024) by +90 deg;
    # both then about y by +90 deg. The two differ by the sign of the board's y and z.
    ocb = board_to_opensim("ground", np.eye(3))
    np.testing.assert_allclose(
        ocb, np.array([[0.0, -1.0, 0.0], [0.0, 0.0, 1.0], [-1.0, 0.0, 0.0]]), atol=1e-12
    )
    core = board_to_opensim("ground", np.eye(3), "opencap-core-2024")
    np.testing.assert_allclose(
        core, np.array([[0.0, 1.0, 0.0], [0.0, 0.0, -1.0], [-1.0, 0.0, 0.0]]), atol=1e-12
    )
    np.testing.assert_allclose(ocb @ np.diag([1.0, -1.0, -1.0]), core, atol=1e-12)
    # The legacy placements only OpenCapBench knows; the upside-down test is only for
    # backWall.
    np.testing.assert_allclose(
        board_to_opensim("backWall_largeCB", np.eye(3)), rotation_about("y", -90), atol=1e-12
    )
    np.testing.assert_allclose(
        board_to_opensim("backWall_walking", upside_down),
        rotation_about("y", -90) @ rotation_about("z", 180),
        atol=1e-12,
    )
    # The board's y axis points down a wall board: it must map to OpenSim's -y (down).
    np.testing.assert_allclose(board_to_opensim("backWall", np.eye(3)) @ [0, 1, 0], [0, -1, 0])
    with pytest.raises(PlacementError, match=r"'ceiling' has no rule in the 'opencapbench'"):
        board_to_opensim("ceiling", np.eye(3))
    with pytest.raises(PlacementError, match="'ground_jumps' has no rule in the 'opencap-core"):
        board_to_opensim("ground_jumps", np.eye(3), "opencap-core-2024")
    with pytest.raises(PlacementError, match="Unknown placement convention 'opencap'"):
        board_to_opensim("ground", np.eye(3), "opencap")


@pytest.mark.parametrize(
    ("convention", "placement"),
    [(c, p) for c, rules in sorted(BOARD_EULER_ANGLES.items()) for p in sorted(rules)],
)
def test_every_rule_matches_an_independent_rotation(convention: str, placement: str) -> None:
    # The generator builds boards from OpenCap's Euler angles through SciPy; the reader's
    # rule tables must agree for every placement of every convention.
    assert set(PLACEMENT_CONVENTIONS[convention]) == set(BOARD_EULER_ANGLES[convention])
    np.testing.assert_allclose(
        board_to_opensim(placement, np.eye(3), convention),
        board_rotation(placement, convention),
        atol=1e-12,
    )


@pytest.mark.parametrize(
    ("convention", "placement"),
    [("opencapbench", "ground"), ("opencap-core-2024", "ground"), ("opencapbench", "ground_jumps")],
)
def test_subject_with_a_ground_board_is_read_in_opensim_frame(
    test_dataset: Path, tmp_path: Path, convention: str, placement: str
) -> None:
    # The checked-in subject with its board on the ground: the calibration pickles and
    # metadata rewritten as the generator writes them for that board (through its own rig
    # and writer code); the videos and keypoints do not depend on where the board lies.
    root = tmp_path / "lab"
    shutil.copytree(test_dataset, root)
    subject = root / "subject2"
    cameras, _ = board_cameras(ANGLES_DEG, DISTANCE_M, IMAGE_SIZE, SEED, placement, convention)
    pickles = sorted(subject.glob("VideoData/Session*/Cam*/cameraIntrinsicsExtrinsics.pickle"))
    assert len(pickles) == 2 * len(cameras)
    by_name = {camera.name: camera for camera in cameras}
    for path in pickles:
        path.write_bytes(pickle.dumps(calibration_pickle(by_name[path.parent.name]), protocol=4))
    metadata = subject / "sessionMetadata.yaml"
    content = yaml.safe_load(metadata.read_text())
    content["checkerBoard"]["placement"] = placement
    content["generator"]["placement_convention"] = convention
    metadata.write_text(yaml.safe_dump(content, sort_keys=False))
    describe(root, tmp_path, placement_convention=convention)
    import json

    truth = synthetic_cameras(ANGLES_DEG, DISTANCE_M, IMAGE_SIZE, seed=SEED)
    for session in ("Session0", "Session1"):
        calibration = tmp_path / "calibration" / "subject2" / f"{session}.json"
        meta = json.loads(calibration.read_text())["metadata"]
        assert (meta["checkerboard_placement"], meta["placement_convention"]) == (
            placement,
            convention,
        )
        world_to_opensim = np.array(meta["world_to_opensim"])
        for camera, expected in zip(load_cameras(calibration), truth, strict=True):
            np.testing.assert_allclose(
                world_to_opensim @ camera.center_m(), expected.center_m(), atol=1e-6
            )
    if (convention, placement) == ("opencapbench", "ground"):
        # Read with the other convention, the cameras would stand elsewhere: the rules
        # really differ.
        other = board_to_opensim(placement, np.eye(3), "opencap-core-2024")
        centres = np.array([other @ c.center_m() for c in load_cameras(calibration)])
        truth_centres = np.array([c.center_m() for c in truth])
        assert not np.allclose(centres, truth_centres, atol=0.1)


def test_unknown_or_missing_placement_skips_only_that_subject(
    test_dataset: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(test_dataset, copy)
    shutil.copytree(copy / "subject2", copy / "subject3")
    shutil.copytree(copy / "subject2", copy / "subject4")
    for subject, placement in (("subject3", "ceiling"), ("subject4", None)):
        metadata = copy / subject / "sessionMetadata.yaml"
        content = yaml.safe_load(metadata.read_text())
        if placement is None:
            del content["checkerBoard"]["placement"]
        else:
            content["checkerBoard"]["placement"] = placement
        metadata.write_text(yaml.safe_dump(content))
    samples = describe(copy, tmp_path)
    assert set(samples["subject"]) == {"subject2"}
    skipped = pd.read_csv(tmp_path / "skipped.tsv", sep="\t")
    reasons = dict(zip(skipped["subject"], skipped["reason"], strict=True))
    assert "'ceiling' has no rule in the 'opencapbench' convention" in reasons["subject3"]
    assert "backWall_largeCB" in reasons["subject3"]  # the known placements are listed
    assert "has no checkerBoard.placement" in reasons["subject4"]
    # A legacy placement OpenCapBench knows is read, under its convention only.
    metadata = copy / "subject3" / "sessionMetadata.yaml"
    content = yaml.safe_load(metadata.read_text())
    content["checkerBoard"]["placement"] = "backWall_largeCB"
    metadata.write_text(yaml.safe_dump(content))
    assert "subject3" in set(describe(copy, tmp_path)["subject"])
    assert "subject3" not in set(
        describe(copy, tmp_path, placement_convention="opencap-core-2024")["subject"]
    )


def test_scaling_modes_and_frame_rate_rule(test_dataset: Path, tmp_path: Path) -> None:
    import json

    mocap = describe(test_dataset, tmp_path)  # OpenCapBench's protocol by default
    model = test_dataset / "subject2" / "OpenSimData" / "Mocap" / "Model" / "subject2_scaled.osim"
    assert set(mocap["scaling_model"]) == {str(model)}
    calibration = tmp_path / "calibration" / "subject2" / "Session0.json"
    assert json.loads(calibration.read_text())["metadata"]["frame_rate_rule"] == "rounded"
    video = describe(test_dataset, tmp_path, scaling="video", frame_rate="header")
    assert set(video["scaling_model"].fillna("")) == {""}
    assert json.loads(calibration.read_text())["metadata"]["frame_rate_rule"] == "header"
    # Without exactly one model to use, the subject is skipped with the reason.
    copy = tmp_path / "copy"
    shutil.copytree(test_dataset, copy)
    models = copy / "subject2" / "OpenSimData" / "Mocap" / "Model"
    shutil.copy(models / "subject2_scaled.osim", models / "subject2_scaled_adjusted.osim")
    with pytest.raises(SampleSheetError, match="narrow the dataset's mocap_model pattern"):
        describe(copy, tmp_path)
    narrowed = describe(copy, tmp_path, mocap_model="OpenSimData/Mocap/Model/*_adjusted.osim")
    assert set(narrowed["scaling_model"]) == {str(models / "subject2_scaled_adjusted.osim")}
    for path in models.iterdir():
        path.unlink()
    with pytest.raises(SampleSheetError, match="nothing matches"):
        describe(copy, tmp_path)
    assert "subject2" in set(describe(copy, tmp_path, scaling="video")["subject"])
    with pytest.raises(SampleSheetError, match="frame_rate: 'exact' is not one of"):
        describe(test_dataset, tmp_path, frame_rate="exact")


def test_activity_names() -> None:
    assert activity_of("DJAsym2") == "DJAsym"
    assert activity_of("walkingTS3") == "walkingTS"
    assert activity_of("static1") == "static"
