"""Tests for weighted DLT triangulation and reprojection errors on synthetic cameras."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from posebench.camera import Camera
from posebench.triangulation import reprojection_errors_px, triangulate_dlt, triangulate_keypoints

FloatArray = npt.NDArray[np.float64]
K = np.array([[1400.0, 0.0, 955.0], [0.0, 1405.0, 545.0], [0.0, 0.0, 1.0]])
DISTORTION = np.array([-0.11, 0.05, 0.001, -0.0007, -0.008])


def ring_cameras(n_cameras: int = 4, radius_m: float = 3.0) -> list[Camera]:
    """Cameras on a ring around the world z axis, 1.6 m high, looking at (0, 0, 1) m."""
    cameras = []
    target = np.array([0.0, 0.0, 1.0])
    for index, angle in enumerate(np.linspace(0.0, 2 * np.pi, n_cameras, endpoint=False)):
        centre = np.array([radius_m * np.cos(angle), radius_m * np.sin(angle), 1.6])
        forward = (target - centre) / np.linalg.norm(target - centre)
        right = np.cross(forward, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        rotation = np.stack([right, np.cross(forward, right), forward])
        cameras.append(
            Camera(f"cam{index}", K, DISTORTION, rotation, -rotation @ centre, (1920, 1080))
        )
    return cameras


@pytest.fixture
def cameras() -> list[Camera]:
    return ring_cameras()


@pytest.fixture
def points() -> FloatArray:
    """(6 frames, 5 keypoints, 3) points in metres inside a 1.6 m box around (0, 0, 1)."""
    return np.random.default_rng(3).uniform(-0.8, 0.8, size=(6, 5, 3)) + [0.0, 0.0, 1.0]


def normalised_views(cameras: list[Camera], points: FloatArray) -> FloatArray:
    """(C, N, 2) exact normalised coordinates of (N, 3) points."""
    cam = np.stack([points @ c.rotation.T + c.translation_m for c in cameras])
    return cam[..., :2] / cam[..., 2:]


def extrinsics(cameras: list[Camera]) -> FloatArray:
    return np.stack([camera.extrinsic_matrix() for camera in cameras])


def test_dlt_recovers_exact_points(cameras: list[Camera], points: FloatArray) -> None:
    flat = points.reshape(-1, 3)
    weights = np.random.default_rng(4).uniform(0.3, 1.0, size=(4, flat.shape[0]))
    result, n_views = triangulate_dlt(normalised_views(cameras, flat), weights, extrinsics(cameras))
    np.testing.assert_allclose(result, flat, atol=1e-6)
    np.testing.assert_array_equal(n_views, 4)


def test_zero_weight_and_missing_views_are_ignored(
    cameras: list[Camera], points: FloatArray
) -> None:
    flat = points.reshape(-1, 3)
    views = normalised_views(cameras, flat)
    weights = np.ones((4, flat.shape[0]))
    views[0, :10] += 5.0  # wildly wrong observations ...
    weights[0, :10] = 0.0  # ... that carry no weight
    views[1, 10:20] = np.nan  # missing views
    weights[2, 20:] = np.nan  # missing scores
    result, n_views = triangulate_dlt(views, weights, extrinsics(cameras))
    np.testing.assert_allclose(result, flat, atol=1e-6)
    np.testing.assert_array_equal(n_views, 3)


def test_too_few_views_give_nan(cameras: list[Camera], points: FloatArray) -> None:
    flat = points.reshape(-1, 3)[:3]
    weights = np.ones((4, 3))
    weights[1:, 0] = 0.0  # one usable view
    weights[2:, 1] = -1.0  # two usable views
    result, n_views = triangulate_dlt(normalised_views(cameras, flat), weights, extrinsics(cameras))
    np.testing.assert_array_equal(n_views, [1, 2, 4])
    assert np.isnan(result[0]).all()
    np.testing.assert_allclose(result[1:], flat[1:], atol=1e-6)
    strict, _ = triangulate_dlt(
        normalised_views(cameras, flat), weights, extrinsics(cameras), min_views=3
    )
    assert np.isnan(strict[:2]).all() and np.isfinite(strict[2]).all()
    with pytest.raises(ValueError, match="min_views is 1, expected >= 2"):
        triangulate_dlt(normalised_views(cameras, flat), weights, extrinsics(cameras), min_views=1)


def test_low_weight_outlier_degrades_gracefully(cameras: list[Camera], points: FloatArray) -> None:
    flat = points.reshape(-1, 3)
    views = normalised_views(cameras, flat)
    views[0] += 0.05  # about 70 px off in camera 0
    equal = np.ones((4, flat.shape[0]))
    down_weighted = equal.copy()
    down_weighted[0] = 0.1
    error_equal = np.linalg.norm(
        triangulate_dlt(views, equal, extrinsics(cameras))[0] - flat, axis=1
    )
    error_low = np.linalg.norm(
        triangulate_dlt(views, down_weighted, extrinsics(cameras))[0] - flat, axis=1
    )
    assert np.all(error_low < 0.5 * error_equal)
    assert np.all(error_low < 0.02)


def test_keypoints_from_distorted_pixels(cameras: list[Camera], points: FloatArray) -> None:
    keypoints = np.stack([camera.project(points) for camera in cameras])  # (C, F, K, 2)
    scores = np.full(keypoints.shape[:3], 0.9)
    scores[3, 0, :] = 0.2  # below threshold in camera 3, frame 0
    keypoints[2, 1, 1] = np.nan  # not detected
    result, n_views = triangulate_keypoints(cameras, keypoints, scores, min_score=0.5)
    assert result.shape == points.shape and n_views.shape == points.shape[:2]
    np.testing.assert_allclose(result, points, atol=1e-6)
    assert (n_views[0] == 3).all() and n_views[1, 1] == 3 and n_views[2:].min() == 4

    used = (scores >= 0.5) & np.isfinite(keypoints).all(axis=-1)
    errors = reprojection_errors_px(cameras, result, keypoints, used)
    assert errors.shape == scores.shape
    assert np.isnan(errors[~used]).all()
    assert np.nanmax(errors) < 1e-6


def test_reprojection_error_measures_pixel_offsets(
    cameras: list[Camera], points: FloatArray
) -> None:
    keypoints = np.stack([camera.project(points) for camera in cameras])
    keypoints[1] += [3.0, 4.0]
    moved = points.copy()
    moved[0, 0] = np.nan
    errors = reprojection_errors_px(cameras, moved, keypoints, np.ones(keypoints.shape[:3], bool))
    assert np.isnan(errors[:, 0, 0]).all()
    np.testing.assert_allclose(errors[1, 1:], 5.0, atol=1e-6)
    np.testing.assert_allclose(errors[[0, 2, 3], 1:], 0.0, atol=1e-6)


def test_shape_mismatch_is_reported(cameras: list[Camera]) -> None:
    with pytest.raises(ValueError, match=r"keypoints_px has shape \(3, 2, 5, 2\), expected"):
        triangulate_keypoints(cameras, np.zeros((3, 2, 5, 2)), np.ones((3, 2, 5)), 0.5)
