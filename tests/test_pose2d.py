"""MediaPipe BlazePose on real demo video, and the errors of the pose2d stage."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from posebench.backends.base import BackendError
from posebench.backends.registry import create_backend
from posebench.io.keypoints import load_keypoints
from posebench.markersets import MarkerSetError, get_marker_set
from posebench.pose2d import run_pose2d
from posebench.video import VideoError

pytestmark = pytest.mark.mediapipe

MODEL = {"model_name": "mediapipe-blazepose", "backend": "mediapipe", "marker_set": "blazepose"}


def write_video(path: Path, frames: list[np.ndarray], fps: float = 30.0) -> None:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for frame in frames:
        writer.write(frame)
    writer.release()


def test_blazepose_on_demo_video(pose2sim_dir: Path, tmp_path: Path) -> None:
    video = pose2sim_dir / "Demo_SinglePerson" / "videos" / "cam01.mp4"
    output = tmp_path / "cam01.npz"
    run_pose2d(video, output, options={}, batch_size=7, **MODEL)
    keypoints = load_keypoints(output)
    assert keypoints.keypoints_px.shape == (100, 33, 2)
    assert keypoints.fps == pytest.approx(60.0)
    assert keypoints.image_size == (1080, 1920)
    assert keypoints.detected_frames().all()
    # The participant stands upright in the middle of a portrait frame: hips below the nose.
    names = keypoints.keypoint_names
    nose_y = keypoints.keypoints_px[:, names.index("nose"), 1]
    hip_y = keypoints.keypoints_px[:, names.index("left_hip"), 1]
    assert (hip_y - nose_y > 100).all()
    assert np.nanmedian(keypoints.scores) > 0.8


def test_frames_without_person_are_nan_with_score_zero(tmp_path: Path) -> None:
    video = tmp_path / "empty.mp4"
    write_video(video, [np.full((240, 320, 3), 30, np.uint8) for _ in range(12)])
    output = tmp_path / "empty.npz"
    run_pose2d(video, output, options={}, **MODEL)
    keypoints = load_keypoints(output)
    assert keypoints.n_frames == 12
    assert np.isnan(keypoints.keypoints_px).all()
    assert (keypoints.scores == 0).all()


def test_missing_and_corrupt_video(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="Video not found"):
        run_pose2d(tmp_path / "absent.mp4", tmp_path / "o.npz", options={}, **MODEL)
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00" * 1000)
    with pytest.raises(VideoError, match="corrupt.mp4"):
        run_pose2d(corrupt, tmp_path / "o.npz", options={}, **MODEL)
    assert not (tmp_path / "o.npz").exists()


def test_keypoints_must_match_marker_set() -> None:
    blazepose = get_marker_set("blazepose")
    with pytest.raises(
        MarkerSetError, match="outputs 17 keypoints but marker set 'blazepose' expects 33"
    ):
        blazepose.check_keypoints([f"k{i}" for i in range(17)], "Model 'coco-model'")
    with pytest.raises(MarkerSetError, match="Unknown marker set 'nope'"):
        get_marker_set("nope")


def test_backend_errors_are_clear() -> None:
    with pytest.raises(BackendError, match="Unknown pose backend 'nope'.*available: mediapipe"):
        create_backend("nope", "m", "blazepose", {})
    with pytest.raises(BackendError, match="unknown mediapipe options"):
        create_backend("mediapipe", "m", "blazepose", {"model_complexty": 1})
    with pytest.raises(BackendError, match="model_complexity=2"):
        create_backend("mediapipe", "m", "blazepose", {"model_complexity": 2})
