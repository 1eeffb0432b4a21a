"""The oracle backend: projected markers as keypoints of a marker set, with corruption."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from posebench.backends.base import BackendError
from posebench.io.keypoints import Keypoints2D, load_keypoints, save_keypoints
from posebench.markersets import get_marker_set
from posebench.stages.pose2d import run as run_pose2d

FRAMES = 40
ANATOMICAL = get_marker_set("anatomical")


def make_trial(root: Path, camera: str = "Cam1") -> Path:
    """A video of FRAMES black frames and the projection of every anatomical marker."""
    folder = root / "VideoData" / "Session0" / camera / "squats1"
    folder.mkdir(parents=True)
    video = folder / "squats1_syncdWithMocap.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 60.0, (64, 48))
    for _ in range(FRAMES):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    names = (*ANATOMICAL.marker_names, "RHJC_study")  # an extra marker the set does not use
    rng = np.random.default_rng(0)
    positions = rng.uniform(100, 600, (FRAMES, len(names), 2)).astype(np.float32)
    save_keypoints(
        folder / "squats1_oracle_keypoints.npz",
        Keypoints2D(
            positions,
            np.ones((FRAMES, len(names)), np.float32),
            names,
            60.0,
            (64, 48),
            "projection",
        ),
    )
    return video


def run(video: Path, tmp_path: Path, **options: object) -> tuple[Keypoints2D, Keypoints2D]:
    output = tmp_path / f"{len(list(tmp_path.glob('*.npz')))}.npz"
    run_pose2d(
        video, output, model_name="oracle", backend="oracle", marker_set="anatomical",
        options=options, batch_size=16,
    )  # fmt: skip
    trial = video.name.removesuffix("_syncdWithMocap.avi")
    projection = load_keypoints(video.with_name(f"{trial}_oracle_keypoints.npz"))
    return load_keypoints(output), projection


def test_clean_oracle_returns_the_projection(tmp_path: Path) -> None:
    result, projection = run(make_trial(tmp_path / "data"), tmp_path)
    assert result.keypoint_names == ANATOMICAL.keypoints
    assert result.n_frames == FRAMES
    for keypoint, marker in ANATOMICAL.markers.items():
        column = projection.keypoint_names.index(marker)
        np.testing.assert_array_equal(
            result.keypoints_px[:, ANATOMICAL.keypoints.index(keypoint)],
            projection.keypoints_px[:, column],
        )
    unmapped = [i for i, k in enumerate(ANATOMICAL.keypoints) if k not in ANATOMICAL.markers]
    assert (result.scores[:, unmapped] == 0).all()
    assert np.isnan(result.keypoints_px[:, unmapped]).all()


def test_oracle_on_the_checked_in_subject(test_dataset: Path, tmp_path: Path) -> None:
    # On the generator's own files, every marker the anatomical set maps to is projected:
    # each mapped keypoint is detected on every frame slot, at its marker's projection.
    video = test_dataset.joinpath(
        "subject2", "VideoData", "Session1", "Cam1", "walking1", "walking1_syncdWithMocap.avi"
    )
    result, projection = run(video, tmp_path)
    assert result.keypoint_names == ANATOMICAL.keypoints
    assert result.n_frames == projection.n_frames == 21  # 2 s at 10 fps
    assert (result.fps, result.image_size) == (10.0, (96, 96))
    for keypoint, marker in ANATOMICAL.markers.items():
        column = ANATOMICAL.keypoints.index(keypoint)
        assert (result.scores[:, column] == 1).all(), keypoint
        np.testing.assert_array_equal(
            result.keypoints_px[:, column],
            projection.keypoints_px[:, projection.keypoint_names.index(marker)],
        )


def test_noise_drops_outliers_and_occlusion(tmp_path: Path) -> None:
    video = make_trial(tmp_path / "data")
    mapped = [i for i, k in enumerate(ANATOMICAL.keypoints) if k in ANATOMICAL.markers]
    clean, _ = run(video, tmp_path)
    noisy, _ = run(video, tmp_path, noise_px=3.0, seed=1)
    error = (noisy.keypoints_px - clean.keypoints_px)[:, mapped]
    assert np.std(error) == pytest.approx(3.0, rel=0.1)
    again, _ = run(video, tmp_path, noise_px=3.0, seed=1)
    np.testing.assert_array_equal(again.keypoints_px, noisy.keypoints_px)  # deterministic
    dropped, _ = run(video, tmp_path, drop_rate=0.3, seed=2)
    assert (dropped.scores[:, mapped] == 0).mean() == pytest.approx(0.3, abs=0.05)
    outliers, _ = run(video, tmp_path, outlier_rate=0.1, outlier_px=80.0, seed=3)
    moved = np.linalg.norm((outliers.keypoints_px - clean.keypoints_px)[:, mapped], axis=-1)
    assert moved[moved > 0] == pytest.approx(80.0, rel=1e-4)
    assert (moved > 0).mean() == pytest.approx(0.1, abs=0.04)
    occluded, _ = run(video, tmp_path, occluded_camera="Cam1", occluded_fraction=0.5)
    detected = occluded.detected_frames()
    assert detected[:10].all() and not detected[10:30].any() and detected[30:].all()
    other_camera, _ = run(video, tmp_path, occluded_camera="Cam3")
    assert other_camera.detected_frames().all()


def test_oracle_errors(tmp_path: Path) -> None:
    video = make_trial(tmp_path / "data")
    with pytest.raises(BackendError, match="unknown oracle options"):
        run(video, tmp_path, noise=1.0)
    with pytest.raises(BackendError, match="drop_rate=1.5 is out of range"):
        run(video, tmp_path, drop_rate=1.5)
    video.with_name("squats1_oracle_keypoints.npz").unlink()
    with pytest.raises(BackendError, match="only runs on synthetic datasets"):
        run(video, tmp_path)
    other = tmp_path / "plain.avi"
    other.write_bytes(video.read_bytes())
    with pytest.raises(BackendError, match="_syncdWithMocap.avi"):
        run_pose2d(
            other,
            tmp_path / "x.npz",
            model_name="o",
            backend="oracle",
            marker_set="anatomical",
            options={},
        )
