"""Tests for the pinhole camera model, its undistortion and its JSON file."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from posebench.camera import Camera, load_cameras, save_cameras, undistort_newton

K = np.array([[1500.0, 0.0, 960.0], [0.0, 1490.0, 540.0], [0.0, 0.0, 1.0]])
DISTORTION = np.array([-0.12, 0.06, 0.0012, -0.0008, -0.01])


def look_at(name: str, centre_m: npt.ArrayLike, target_m: npt.ArrayLike) -> Camera:
    """Camera at ``centre_m`` looking at ``target_m`` (world z up), OpenCV axes."""
    centre = np.asarray(centre_m, dtype=np.float64)
    forward = np.asarray(target_m, dtype=np.float64) - centre
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    rotation = np.stack([right, np.cross(forward, right), forward])
    return Camera(
        name=name,
        matrix=K,
        distortion=DISTORTION,
        rotation=rotation,
        translation_m=-rotation @ centre,
        image_size=(1920, 1080),
    )


@pytest.fixture
def camera() -> Camera:
    return look_at("cam1", [2.5, -1.5, 1.6], [0.0, 0.0, 1.0])


def test_geometry_matrices(camera: Camera) -> None:
    np.testing.assert_allclose(camera.center_m(), [2.5, -1.5, 1.6], atol=1e-12)
    extrinsic = camera.extrinsic_matrix()
    assert extrinsic.shape == (3, 4)
    np.testing.assert_allclose(camera.projection_matrix(), K @ extrinsic)
    target_cam = extrinsic @ [0.0, 0.0, 1.0, 1.0]
    np.testing.assert_allclose(target_cam[:2], 0.0, atol=1e-12)  # on the optical axis
    assert target_cam[2] > 0


def test_project_matches_opencv(camera: Camera) -> None:
    rng = np.random.default_rng(0)
    points = rng.uniform(-0.8, 0.8, size=(50, 3)) + [0.0, 0.0, 1.0]
    expected, _ = cv2.projectPoints(
        points, cv2.Rodrigues(camera.rotation)[0], camera.translation_m, K, DISTORTION
    )
    np.testing.assert_allclose(camera.project(points), expected.reshape(-1, 2), atol=1e-9)


def test_project_keeps_leading_shape_and_nan(camera: Camera) -> None:
    points = np.zeros((4, 5, 3)) + [0.1, 0.2, 1.0]
    points[1, 2, 0] = np.nan
    pixels = camera.project(points)
    assert pixels.shape == (4, 5, 2)
    assert np.isnan(pixels[1, 2]).all()
    assert np.isfinite(np.delete(pixels.reshape(-1, 2), 7, axis=0)).all()


def test_undistort_recovers_normalised_coordinates(camera: Camera) -> None:
    rng = np.random.default_rng(1)
    points = rng.uniform(-0.8, 0.8, size=(200, 3)) + [0.0, 0.0, 1.0]
    cam = points @ camera.rotation.T + camera.translation_m
    ideal = camera.undistort_points(camera.project(points))
    np.testing.assert_allclose(ideal * K[0, 0], cam[:, :2] / cam[:, 2:] * K[0, 0], atol=1e-6)


def test_pixel_round_trip_over_whole_image(camera: Camera) -> None:
    u, v = np.meshgrid(np.linspace(0, 1919, 25), np.linspace(0, 1079, 15))
    pixels = np.stack([u, v], axis=-1)
    ideal = camera.undistort_points(pixels)
    assert ideal.shape == pixels.shape
    at_camera = Camera("c", K, DISTORTION, np.eye(3), np.zeros(3), (1920, 1080))
    rays = np.concatenate([ideal, np.ones((*ideal.shape[:-1], 1))], axis=-1)
    np.testing.assert_allclose(at_camera.project(rays), pixels, atol=1e-6)


def test_undistort_nan_in_nan_out(camera: Camera) -> None:
    pixels = np.array([[[100.0, 200.0], [np.nan, 300.0]], [[np.nan, np.nan], [960.0, 540.0]]])
    ideal = camera.undistort_points(pixels)
    assert ideal.shape == (2, 2, 2)
    assert np.isnan(ideal[0, 1]).all() and np.isnan(ideal[1, 0]).all()
    np.testing.assert_allclose(ideal[1, 1], 0.0, atol=1e-12)
    assert np.isnan(camera.undistort_points(np.full((3, 2), np.nan))).all()
    with np.errstate(all="raise"):  # quietly
        ideal = camera.undistort_points(np.array([[np.inf, 3.0], [5.0, -np.inf], [960.0, 540.0]]))
    assert np.isnan(ideal[:2]).all() and np.isfinite(ideal[2]).all()


def _opencv_undistort(camera: Camera, pixels: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 200, 1e-12)
    return cv2.undistortPoints(
        np.ascontiguousarray(pixels).reshape(-1, 1, 2),
        camera.matrix,
        camera.distortion,
        criteria=criteria,
    ).reshape(-1, 2)


@pytest.mark.parametrize(
    "distortion",
    [
        [0.0, 0.0, 0.0, 0.0, 0.0],
        [-0.25, 0.12, 0.001, -0.0008, -0.03],  # strong barrel, tangential terms
        [0.3, 0.5, 0.01, 0.02, 0.1],  # pincushion
        [-0.6, 0.3, 0.0, 0.0, 0.0],  # folds back inside the frame's margins
    ],
)
def test_undistort_matches_opencv_or_improves_on_it(distortion: list[float]) -> None:
    """Newton's solution is OpenCV's wherever OpenCV converges, and a better inverse (its
    projection lands on the pixel) where OpenCV's fixed-point iteration stops short; points
    beyond the fold of the model get OpenCV's answer, as before."""
    camera = Camera("c", K, np.array(distortion), np.eye(3), np.zeros(3), (1920, 1080))
    rng = np.random.default_rng(7)
    pixels = np.column_stack([rng.uniform(-600, 2500, 40000), rng.uniform(-600, 1700, 40000)])
    ours = camera.undistort_points(pixels)
    theirs = _opencv_undistort(camera, pixels)
    rays = np.column_stack([ours, np.ones(len(ours))])
    our_error = np.abs(camera.project(rays) - pixels).max(axis=1)
    their_error = np.abs(
        camera.project(np.column_stack([theirs, np.ones(len(ours))])) - pixels
    ).max(axis=1)
    same = np.abs(ours - theirs).max(axis=1) <= 1e-12
    # where the answers differ, ours reprojects onto the pixel and OpenCV's does not
    assert np.all(same | ((our_error < 1e-9) & (their_error > our_error)))
    inside = (pixels[:, 0] >= 0) & (pixels[:, 0] < 1920) & (pixels[:, 1] >= 0)
    inside &= pixels[:, 1] < 1080
    assert same[inside].mean() > 0.99


def test_undistort_newton_flags_points_beyond_the_fold() -> None:
    """k1 = -0.6: the radial map r(1 + k1 r^2) peaks at r = 0.745 (distorted r 0.497); a
    distorted radius beyond that has no inverse inside the fold and is not claimed."""
    distortion = np.array([-0.6, 0.0, 0.0, 0.0, 0.0])
    distorted = np.array([[0.3, 0.0], [0.0, 0.45], [0.6, 0.0], [0.0, -0.9], [0.0, 0.0]])
    ideal, converged = undistort_newton(distorted, distortion)
    np.testing.assert_array_equal(converged, [True, True, False, False, True])
    r = np.hypot(*ideal[:2].T)
    np.testing.assert_allclose(r * (1 - 0.6 * r**2), [0.3, 0.45], atol=1e-13)
    np.testing.assert_array_equal(ideal[4], [0.0, 0.0])


def test_undistort_newton_blocks_and_cv2_fallback_keep_order() -> None:
    """More points than one Newton block, some only OpenCV solves, some NaN: every row
    lands in its place."""
    camera = Camera(
        "c", K, np.array([-0.6, 0.3, 0.0, 0.0, 0.0]), np.eye(3), np.zeros(3), (1920, 1080)
    )
    rng = np.random.default_rng(3)
    pixels = np.column_stack([rng.uniform(-900, 2800, 40000), rng.uniform(-900, 2000, 40000)])
    pixels[::997] = np.nan
    ours = camera.undistort_points(pixels.reshape(200, 200, 2)).reshape(-1, 2)
    assert np.isnan(ours[::997]).all()
    finite = np.isfinite(pixels).all(axis=1)
    theirs = _opencv_undistort(camera, pixels[finite])
    close = np.abs(ours[finite] - theirs).max(axis=1) < 1e-5
    assert close.mean() > 0.97


def test_distortion_is_zero_padded_and_arrays_read_only() -> None:
    camera = Camera("c", K, np.array([0.1, 0.01, 0.0, 0.0]), np.eye(3), np.ones(3), (640, 480))
    np.testing.assert_array_equal(camera.distortion, [0.1, 0.01, 0.0, 0.0, 0.0])
    assert camera.translation_m.dtype == np.float64
    with pytest.raises(ValueError):
        camera.matrix[0, 0] = 1.0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"matrix": np.eye(4)}, r"matrix has shape \(4, 4\), expected \(3, 3\)"),
        ({"matrix": K * [[1, 1, 1], [1, 1, 1], [1, 1, 2]]}, "not of the form"),
        ({"distortion": np.zeros(8)}, "8 distortion coefficients found, expected at most 5"),
        ({"rotation": np.diag([1.0, 1.0, 1.1])}, "not a proper rotation"),
        ({"rotation": np.diag([1.0, 1.0, -1.0])}, r"det = -1"),
        ({"translation_m": [0.0, np.nan, 1.0]}, "translation_m contains non-finite"),
        ({"image_size": (640, 0)}, r"image_size \(640, 0\)"),
    ],
)
def test_invalid_cameras_are_rejected(changes: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {
        "name": "bad",
        "matrix": K,
        "distortion": DISTORTION,
        "rotation": np.eye(3),
        "translation_m": np.zeros(3),
        "image_size": (640, 480),
    }
    fields.update(changes)
    with pytest.raises(ValueError, match=message):
        Camera(**fields)  # type: ignore[arg-type]


def test_dict_round_trip_is_json_serialisable(camera: Camera) -> None:
    data = json.loads(json.dumps(camera.to_dict()))
    assert Camera.from_dict(data) == camera
    assert Camera.from_dict(data) != look_at("cam1", [2.5, -1.5, 1.7], [0.0, 0.0, 1.0])


def test_save_load_round_trip_is_deterministic(tmp_path: Path, camera: Camera) -> None:
    other = look_at("cam2", [-2.0, 2.0, 1.5], [0.0, 0.0, 1.0])
    path = tmp_path / "cameras.json"
    save_cameras(path, [camera, other], {"source": "test", "units": "m"})
    first = path.read_bytes()
    save_cameras(path, [camera, other], {"units": "m", "source": "test"})
    assert path.read_bytes() == first
    document = json.loads(first)
    assert document["metadata"] == {"source": "test", "units": "m"}
    assert load_cameras(path) == [camera, other]


def test_load_errors_name_the_file(tmp_path: Path, camera: Camera) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(FileNotFoundError, match="missing.json"):
        load_cameras(missing)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(
        ValueError, match="Cannot read camera file .*broken.json: Expecting property name"
    ):
        load_cameras(broken)
    entry = camera.to_dict()
    del entry["rotation"]
    incomplete = tmp_path / "incomplete.json"
    incomplete.write_text(json.dumps({"cameras": [entry]}))
    with pytest.raises(ValueError, match=r"incomplete.json: camera #0: .*\['rotation'\]"):
        load_cameras(incomplete)
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"metadata": {}}))
    with pytest.raises(ValueError, match="empty.json: found no 'cameras' key"):
        load_cameras(empty)
    with pytest.raises(ValueError, match=r"dupes.json: camera names \['cam1'\]"):
        save_cameras(tmp_path / "dupes.json", [camera, camera])
