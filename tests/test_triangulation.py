"""Tests for weighted DLT triangulation, reprojection errors, left/right swap correction
and the per-camera time offsets of `posebench.sync`, on synthetic cameras."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from posebench.camera import Camera
from posebench.skeletons import BLAZEPOSE_KEYPOINTS
from posebench.sync import estimate_camera_offsets, shift_camera_frames
from posebench.triangulation import (
    _solve,
    _solve_affine,
    _view_terms,
    correct_left_right_swaps,
    mirror_permutation,
    reprojection_errors_px,
    triangulate_dlt,
    triangulate_keypoints,
    triangulate_robust,
)

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


# --- Left/right mirroring, swap correction and robust triangulation ------------------------

# SynthPose-style names: COCO `left_*`/`right_*` plus anatomical markers with a leading
# `r`/`l` (with or without underscore) and midline markers (`L2` has no `R2` counterpart).
SYNTHPOSE_NAMES = (
    "nose", "left_eye", "right_eye", "left_hip", "right_hip", "sternum", "rshoulder",
    "lshoulder", "r_lelbow", "l_lelbow", "r_ASIS", "l_ASIS", "r_PSIS", "l_PSIS", "r_calc",
    "l_calc", "C7", "L2", "T11", "T6",
)  # fmt: skip


def blazepose_skeleton(yaw_rad: float = np.pi / 4, n_frames: int = 30) -> FloatArray:
    """(F, 33, 3) BlazePose-ordered points moving smoothly (sinusoids) inside the view of
    `ring_cameras`: each left/right pair is 0.2-0.4 m apart along the body's lateral axis,
    which is the world x axis turned by `yaw_rad` about z (0: seen side-on by cam0 and cam2,
    frontally by cam1 and cam3; pi/4: obliquely by all cameras)."""
    names = list(BLAZEPOSE_KEYPOINTS)
    permutation = mirror_permutation(names)
    rng = np.random.default_rng(11)
    centre = rng.uniform([-0.15, -0.15, 0.1], [0.15, 0.15, 1.7], size=(len(names), 3))
    half_width = rng.uniform(0.1, 0.2, size=len(names))
    for i, name in enumerate(names):
        j = int(permutation[i])
        if j == i:
            continue
        centre[i] = centre[min(i, j)]  # both keypoints of a pair share the centre ...
        half_width[i] = half_width[min(i, j)]  # ... and the separation
        centre[i, 0] += half_width[i] if "left" in name else -half_width[i]
    amplitude = rng.uniform(0.02, 0.08, size=(len(names), 3))
    phase = rng.uniform(0.0, 2 * np.pi, size=(len(names), 3))
    t = np.arange(n_frames)[:, None, None] / 30.0
    points = centre + amplitude * np.sin(2 * np.pi * 0.8 * t + phase)
    cos, sin = np.cos(yaw_rad), np.sin(yaw_rad)
    return points @ np.array([[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]]).T


def test_mirror_permutation_blazepose() -> None:
    names = list(BLAZEPOSE_KEYPOINTS)
    permutation = mirror_permutation(names)
    at = names.index
    assert permutation[at("left_knee")] == at("right_knee")
    assert permutation[at("right_knee")] == at("left_knee")
    assert permutation[at("mouth_left")] == at("mouth_right")
    assert permutation[at("mouth_right")] == at("mouth_left")
    assert permutation[at("nose")] == at("nose")
    expected = [
        name.replace("left", "#").replace("right", "left").replace("#", "right") for name in names
    ]
    assert [names[i] for i in permutation] == expected
    np.testing.assert_array_equal(permutation[permutation], np.arange(len(names)))


def test_mirror_permutation_synthpose_style_names() -> None:
    names = list(SYNTHPOSE_NAMES)
    permutation = mirror_permutation(names)
    mirrored = dict(zip(names, (names[i] for i in permutation), strict=True))
    assert mirrored["r_ASIS"] == "l_ASIS" and mirrored["l_ASIS"] == "r_ASIS"
    assert mirrored["rshoulder"] == "lshoulder" and mirrored["lshoulder"] == "rshoulder"
    assert mirrored["r_lelbow"] == "l_lelbow" and mirrored["l_calc"] == "r_calc"
    assert mirrored["left_hip"] == "right_hip" and mirrored["right_eye"] == "left_eye"
    for midline in ("nose", "sternum", "C7", "L2", "T11", "T6"):
        assert mirrored[midline] == midline
    np.testing.assert_array_equal(permutation[permutation], np.arange(len(names)))
    assert mirror_permutation([]).shape == (0,)


@pytest.mark.parametrize("corrupted_camera", [0, 1, 2, 3])
def test_left_right_swaps_of_one_camera_are_undone(
    cameras: list[Camera], corrupted_camera: int
) -> None:
    names = list(BLAZEPOSE_KEYPOINTS)
    permutation = mirror_permutation(names)
    keypoints = np.stack([camera.project(blazepose_skeleton()) for camera in cameras])
    scores = np.random.default_rng(5).uniform(0.6, 1.0, size=keypoints.shape[:3])
    bad_keypoints, bad_scores = keypoints.copy(), scores.copy()
    frames = slice(10, 20)
    bad_keypoints[corrupted_camera, frames] = keypoints[corrupted_camera, frames][:, permutation]
    bad_scores[corrupted_camera, frames] = scores[corrupted_camera, frames][:, permutation]
    before = bad_keypoints.copy()

    fixed, fixed_scores, swapped = correct_left_right_swaps(
        cameras, bad_keypoints, bad_scores, names, min_score=0.5
    )

    expected = np.zeros(scores.shape[:2], dtype=bool)
    expected[corrupted_camera, frames] = True
    np.testing.assert_array_equal(swapped, expected)
    np.testing.assert_array_equal(fixed, keypoints)
    np.testing.assert_array_equal(fixed_scores, scores)
    np.testing.assert_array_equal(bad_keypoints, before)  # the input is not modified
    points, _ = triangulate_keypoints(cameras, fixed, fixed_scores, min_score=0.5)
    np.testing.assert_allclose(points, blazepose_skeleton(), atol=1e-6)


@pytest.mark.parametrize("yaw_rad", [0.0, 0.3, 0.5, 1.0, np.pi / 2])
@pytest.mark.parametrize("swapped_camera", [0, 1, 2, 3])
def test_swap_is_undone_whatever_the_body_orientation(
    cameras: list[Camera], yaw_rad: float, swapped_camera: int
) -> None:
    """Best-first correction: a swapped camera can mirror the others' triangulation, so a
    clean camera may look improvable too; only the most improvable one is exchanged."""
    names = list(BLAZEPOSE_KEYPOINTS)
    keypoints = np.stack(
        [camera.project(blazepose_skeleton(yaw_rad=yaw_rad)) for camera in cameras]
    )
    scores = np.full(keypoints.shape[:3], 0.9)
    bad = keypoints.copy()
    bad[swapped_camera, 10:20] = keypoints[swapped_camera, 10:20][:, mirror_permutation(names)]
    fixed, _, swapped = correct_left_right_swaps(cameras, bad, scores, names, min_score=0.5)
    expected = np.zeros(scores.shape[:2], dtype=bool)
    expected[swapped_camera, 10:20] = True
    np.testing.assert_array_equal(swapped, expected)
    np.testing.assert_array_equal(fixed, keypoints)


def test_left_right_swaps_need_more_cameras_than_min_views(cameras: list[Camera]) -> None:
    names = list(BLAZEPOSE_KEYPOINTS)
    keypoints = np.stack([camera.project(blazepose_skeleton()) for camera in cameras[:2]])
    keypoints[1, 10:20] = keypoints[1, 10:20][:, mirror_permutation(names)]
    scores = np.full(keypoints.shape[:3], 0.9)
    fixed, fixed_scores, swapped = correct_left_right_swaps(
        cameras[:2], keypoints, scores, names, min_score=0.5
    )
    np.testing.assert_array_equal(fixed, keypoints)
    np.testing.assert_array_equal(fixed_scores, scores)
    assert swapped.shape == (2, keypoints.shape[1]) and not swapped.any()


def test_clean_views_are_not_swapped(cameras: list[Camera]) -> None:
    names = list(BLAZEPOSE_KEYPOINTS)
    keypoints = np.stack([camera.project(blazepose_skeleton()) for camera in cameras])
    keypoints[2, 3] = np.nan  # a frame without detection in one camera
    scores = np.full(keypoints.shape[:3], 0.9)
    scores[2, 3] = 0.0
    fixed, _, swapped = correct_left_right_swaps(cameras, keypoints, scores, names, 0.5)
    assert not swapped.any()
    np.testing.assert_array_equal(fixed, keypoints)


def test_robust_triangulation_drops_gross_outliers(
    cameras: list[Camera], points: FloatArray
) -> None:
    keypoints = np.stack([camera.project(points) for camera in cameras])  # (4, 6, 5, 2)
    scores = np.full(keypoints.shape[:3], 0.9)
    # Camera 1 is 200 px off (vertically: the other three cameras all see height, whereas a
    # horizontal error of cam1 is only contradicted by the opposite cam3, which then shows as
    # large a reprojection error) on keypoints 0 and 1.
    keypoints[1, :, :2] += [0.0, 200.0]

    plain, plain_views, plain_used = triangulate_robust(cameras, keypoints, scores, 0.5)
    reference, _ = triangulate_keypoints(cameras, keypoints, scores, 0.5)
    np.testing.assert_array_equal(plain, reference)
    assert plain_used.all() and (plain_views == 4).all()
    assert np.linalg.norm(plain[:, :2] - points[:, :2], axis=-1).min() > 0.01
    np.testing.assert_allclose(plain[:, 2:], points[:, 2:], atol=1e-6)

    robust, n_views, used = triangulate_robust(cameras, keypoints, scores, 0.5, max_error_px=10)
    np.testing.assert_allclose(robust, points, atol=1e-6)
    expected_used = np.ones_like(used)
    expected_used[1, :, :2] = False
    np.testing.assert_array_equal(used, expected_used)
    np.testing.assert_array_equal(n_views, expected_used.sum(axis=0))


def test_robust_triangulation_drops_one_view_at_a_time(points: FloatArray) -> None:
    # Six cameras, so that two bad views of a point are outvoted by four good ones (with two
    # of four bad, the greedy worst-view rule has no majority to go by).
    cameras = ring_cameras(6)
    keypoints = np.stack([camera.project(points) for camera in cameras])
    scores = np.full(keypoints.shape[:3], 0.9)
    keypoints[0, :, 0] += [0.0, 300.0]  # two bad views of keypoint 0
    keypoints[2, :, 0] += [0.0, 200.0]
    scores[2, :, 4] = 0.1  # keypoint 4: camera 2 below min_score, not counted as used
    robust, n_views, used = triangulate_robust(cameras, keypoints, scores, 0.5, max_error_px=10)
    np.testing.assert_allclose(robust, points, atol=1e-6)
    assert not used[[0, 2], :, 0].any() and used[[1, 3, 4, 5], :, 0].all()
    assert not used[2, :, 4].any() and used[[0, 1, 3, 4, 5], :, 4].all()
    np.testing.assert_array_equal(n_views[:, 0], 4)
    np.testing.assert_array_equal(n_views[:, 4], 5)
    np.testing.assert_array_equal(n_views[:, 1:4], 6)


@pytest.mark.parametrize("min_views", [2, 3])
def test_robust_triangulation_keeps_min_views(
    cameras: list[Camera], points: FloatArray, min_views: int
) -> None:
    keypoints = np.stack([camera.project(points) for camera in cameras])
    scores = np.full(keypoints.shape[:3], 0.9)
    scores[min_views:, :, 0] = 0.0  # keypoint 0 is seen by exactly min_views cameras ...
    keypoints[0, :, 0] += [0.0, 200.0]  # ... one of them far off
    robust, n_views, used = triangulate_robust(
        cameras, keypoints, scores, 0.5, min_views=min_views, max_error_px=10
    )
    assert np.isfinite(robust).all()
    np.testing.assert_array_equal(n_views[:, 0], min_views)
    assert used[:min_views, :, 0].all() and not used[min_views:, :, 0].any()
    np.testing.assert_allclose(robust[:, 1:], points[:, 1:], atol=1e-6)
    scores[1:, :, 1] = 0.0  # one view: not triangulated, and no view counts as used
    robust, n_views, used = triangulate_robust(
        cameras, keypoints, scores, 0.5, min_views=min_views, max_error_px=10
    )
    assert np.isnan(robust[:, 1]).all() and (n_views[:, 1] == 1).all()
    assert not used[:, :, 1].any()


def offset_views(
    cameras: list[Camera],
    delays: dict[int, int],
    n_frames: int = 120,
    noise_px: float = 0.0,
    still: bool = False,
) -> tuple[FloatArray, FloatArray]:
    """(C, F, 20, 2) pixel keypoints at 60 fps of 20 points swinging 5-15 cm at 1 Hz (about
    2 px per frame), camera c showing at frame j the points of frame j - delays[c], and
    (C, F, 20) scores of 0.9. `still`: the points do not move."""
    rng = np.random.default_rng(21)
    centre = rng.uniform([-0.4, -0.4, 0.2], [0.4, 0.4, 1.8], size=(20, 3))
    amplitude = rng.uniform(0.05, 0.15, size=(20, 3))
    phase = rng.uniform(0.0, 2 * np.pi, size=(20, 3))
    keypoints = []
    for index, camera in enumerate(cameras):
        t = (np.arange(n_frames) - delays.get(index, 0)) / 60.0
        points = centre + (
            0.0 if still else amplitude * np.sin(2 * np.pi * t[:, None, None] + phase)
        )
        keypoints.append(camera.project(np.broadcast_to(points, (n_frames, 20, 3))))
    views = np.stack(keypoints) + rng.normal(0.0, noise_px, size=(len(cameras), n_frames, 20, 2))
    return views, np.full(views.shape[:3], 0.9)


@pytest.mark.parametrize(
    ("n_cameras", "delays"),
    [(4, {2: 3}), (4, {0: -2}), (4, {1: 8}), (5, {4: 1}), (4, {1: 3, 3: -2}), (5, {0: 2, 2: -4})],
)
def test_camera_offsets_are_found(n_cameras: int, delays: dict[int, int]) -> None:
    cameras = ring_cameras(n_cameras)
    keypoints, scores = offset_views(cameras, delays)
    results = estimate_camera_offsets(cameras, keypoints, scores, 0.5, 8)
    assert [r.offset_frames for r in results] == [delays.get(c, 0) for c in range(n_cameras)]
    for index, result in enumerate(results):
        assert result.error_px_at_offset is not None and result.error_px_at_zero is not None
        assert result.error_px_at_offset < 1e-6 and result.not_measured is None
        assert result.frames == 120 - 16 and result.observations == 20 * (120 - 16)
        assert len(result.error_px_by_offset) == 17
        assert result.error_px_by_offset[8 + delays.get(index, 0)] == result.error_px_at_offset
        if index in delays:  # the error grows by ~2 px per frame of offset
            assert result.error_px_at_zero > 1.5 * abs(delays[index])


def test_offsets_survive_noise_and_subsampling(cameras: list[Camera]) -> None:
    keypoints, scores = offset_views(cameras, {1: 3}, n_frames=600, noise_px=2.0)
    results = estimate_camera_offsets(cameras, keypoints, scores, 0.5, 8, max_frames=50)
    assert [r.offset_frames for r in results] == [0, 3, 0, 0]
    assert all(40 < r.frames <= 50 for r in results)  # every 12th of 584 frames
    assert results[1].error_px_at_offset < 4.0 < 6.0 < results[1].error_px_at_zero


@pytest.mark.parametrize("still", [True, False])
def test_noisy_synchronised_views_have_no_offset(cameras: list[Camera], still: bool) -> None:
    keypoints, scores = offset_views(cameras, {}, noise_px=2.0, still=still)
    results = estimate_camera_offsets(cameras, keypoints, scores, 0.5, 8)
    assert [r.offset_frames for r in results] == [0, 0, 0, 0]
    for result in results:
        assert result.error_px_at_zero == result.error_px_at_offset
        assert result.error_px_at_zero is not None and 1.0 < result.error_px_at_zero < 4.0
        if still:  # every offset fits equally well: no offset is significant
            assert np.ptp(result.error_px_by_offset) < 0.2 * result.error_px_at_zero


def test_offsets_that_cannot_be_measured(cameras: list[Camera]) -> None:
    keypoints, scores = offset_views(cameras, {1: 3})
    for results, reason in [
        (
            estimate_camera_offsets(cameras[:2], keypoints[:2], scores[:2], 0.5, 8),
            "2 cameras: each needs at least 2 others to triangulate from",
        ),
        (
            estimate_camera_offsets(cameras, keypoints, scores, 0.5, 8, min_views=4),
            "4 cameras: each needs at least 4 others to triangulate from",
        ),
        (
            estimate_camera_offsets(cameras, keypoints[:, :16], scores[:, :16], 0.5, 8),
            "16 frames: fewer than 2 * max_offset + 1 = 17",
        ),
        (estimate_camera_offsets(cameras, keypoints, scores, 0.5, 0), "max_offset is 0"),
    ]:
        assert [(r.offset_frames, r.not_measured) for r in results] == [(None, reason)] * len(
            results
        )
    scores[0, :, 5:] = 0.3  # cam0 keeps 5 confident points in 104 frames: 520 observations
    results = estimate_camera_offsets(cameras, keypoints, scores, 0.5, 8, min_observations=600)
    assert results[0].offset_frames is None and results[0].observations == 520
    assert results[0].not_measured == (
        "520 usable observations in 104 evaluated frames; at least 600 are needed"
    )
    assert [r.offset_frames for r in results[1:]] == [3, 0, 0]
    with pytest.raises(ValueError, match="max_offset=-1"):
        estimate_camera_offsets(cameras, keypoints, scores, 0.5, -1)


@pytest.mark.parametrize("delay", [3, -2, 0, 200])
def test_shift_camera_frames_undoes_an_offset(cameras: list[Camera], delay: int) -> None:
    truth, _ = offset_views(cameras, {})
    delayed, scores = offset_views(cameras, {0: delay})
    shifted, shifted_scores = shift_camera_frames(delayed[0], scores[0], delay)
    frames = np.arange(120)
    kept = (frames + delay >= 0) & (frames + delay < 120)
    np.testing.assert_allclose(shifted[kept], truth[0][kept], atol=1e-9)
    assert np.isnan(shifted[~kept]).all() and (shifted_scores[~kept] == 0).all()
    assert (shifted_scores[kept] == 0.9).all()


# --- The closed-form solver and the incremental robust and swap paths, against the plain
# formulations they replace (batched SVD; every point solved again in every round).


def svd_dlt(points_norm: FloatArray, weights: FloatArray, projections: FloatArray) -> FloatArray:
    """(N, 3) points: the smallest right singular vector of each weighted DLT system."""
    rows = points_norm[..., None] * projections[:, None, None, 2, :] - projections[:, None, :2, :]
    rows /= np.linalg.norm(rows, axis=-1, keepdims=True)
    rows *= weights[..., None, None]
    system = rows.transpose(1, 0, 2, 3).reshape(points_norm.shape[1], -1, 4)
    homogeneous = np.linalg.svd(system)[2][:, -1, :]
    return homogeneous[:, :3] / homogeneous[:, 3:]


def two_cameras(baseline_m: float, distance_m: float = 4.0) -> FloatArray:
    """(2, 3, 4) extrinsics of two cameras `baseline_m` apart, both looking along +z at a
    point `distance_m` ahead (nearly parallel views for a short baseline)."""
    extrinsics = []
    for side in (-0.5, 0.5):
        angle = np.arctan2(side * baseline_m, distance_m)
        cos, sin = np.cos(angle), np.sin(angle)
        rotation = np.array([[cos, 0.0, -sin], [0.0, 1.0, 0.0], [sin, 0.0, cos]])
        extrinsics.append(np.hstack([rotation, -rotation @ [[side * baseline_m], [0], [0]]]))
    return np.array(extrinsics)


@pytest.mark.parametrize(
    ("geometry", "noise", "tolerance_m"),
    [
        ("ring", 2e-3, 1e-10),  # four cameras, ~3 px of noise
        ("ring", 0.0, 1e-12),
        ("wide pair", 5e-3, 1e-9),  # two cameras 2 m apart, ~7 px
        ("narrow pair", 1e-3, 1e-6),  # 10 cm apart at 4 m: 1.4 degrees between the views
        ("grazing pair", 1e-3, 1e-5),  # 2 cm apart at 4 m
    ],
)
def test_closed_form_dlt_matches_the_svd_solution(
    geometry: str, noise: float, tolerance_m: float
) -> None:
    rng = np.random.default_rng(11)
    projections = {
        "ring": extrinsics(ring_cameras()),
        "wide pair": two_cameras(2.0),
        "narrow pair": two_cameras(0.1),
        "grazing pair": two_cameras(0.02),
    }[geometry]
    truth = rng.normal(0.0, 0.4, size=(5000, 3)) + ([0, 0, 1] if geometry == "ring" else [0, 0, 4])
    cam = np.einsum("cij,nj->cni", projections[:, :, :3], truth) + projections[:, None, :, 3]
    views = cam[..., :2] / cam[..., 2:] + rng.normal(0.0, noise, size=cam[..., :2].shape)
    weights = rng.uniform(0.3, 1.0, size=views.shape[:2])
    result, _ = triangulate_dlt(views, weights, projections)
    reference = svd_dlt(views, weights, projections)
    assert np.abs(result - reference).max() < tolerance_m
    # The tolerance is far below what the noise costs.
    assert noise == 0 or np.median(np.linalg.norm(reference - truth, axis=1)) > 1e3 * tolerance_m


def test_closed_form_falls_back_to_lapack_when_it_does_not_converge(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Views so noisy that the two smallest eigenvalues are close: the adjugate iteration
    has not converged, and those points are solved by numpy.linalg.eigh."""
    rng = np.random.default_rng(12)
    projections = two_cameras(2.0)
    truth = rng.normal(0.0, 0.4, size=(2000, 3)) + [0, 0, 4]
    cam = np.einsum("cij,nj->cni", projections[:, :, :3], truth) + projections[:, None, :, 3]
    views = cam[..., :2] / cam[..., 2:] + rng.normal(0.0, 0.2, size=cam[..., :2].shape)
    weights = np.ones(views.shape[:2])
    solved: list[int] = []
    eigh = np.linalg.eigh

    def counting_eigh(matrices: FloatArray) -> tuple[FloatArray, FloatArray]:
        solved.append(len(matrices))
        return eigh(matrices)

    monkeypatch.setattr(np.linalg, "eigh", counting_eigh)
    result, _ = triangulate_dlt(views, weights, projections)
    assert 0 < sum(solved) < len(truth)
    np.testing.assert_allclose(result, svd_dlt(views, weights, projections), atol=1e-6)


def noisy_views(
    n_cameras: int, seed: int
) -> tuple[list[Camera], FloatArray, FloatArray, FloatArray]:
    """Ring cameras, (F=40, K=12) points, their keypoints with 1 px noise, 10% gross
    outliers (50-400 px), 5% missing views and random scores."""
    rng = np.random.default_rng(seed)
    cameras = ring_cameras(n_cameras)
    points = rng.uniform(-0.8, 0.8, size=(40, 12, 3)) + [0.0, 0.0, 1.0]
    keypoints = np.stack([camera.project(points) for camera in cameras])
    keypoints += rng.normal(0.0, 1.0, size=keypoints.shape)
    outlier = rng.random(keypoints.shape[:3]) < 0.1
    offsets = rng.uniform(50.0, 400.0, size=keypoints.shape) * rng.choice([-1, 1], keypoints.shape)
    keypoints[outlier] += offsets[outlier]
    keypoints[rng.random(keypoints.shape[:3]) < 0.05] = np.nan
    scores = rng.uniform(0.2, 1.0, size=keypoints.shape[:3])
    return cameras, points, keypoints, scores


@pytest.mark.parametrize(("n_cameras", "min_views"), [(4, 2), (6, 2), (6, 3)])
def test_robust_triangulation_matches_solving_every_point_each_round(
    n_cameras: int, min_views: int
) -> None:
    cameras, _, keypoints, scores = noisy_views(n_cameras, seed=n_cameras + min_views)
    normalised = np.stack([c.undistort_points(keypoints[i]) for i, c in enumerate(cameras)])
    normalised = normalised.reshape(n_cameras, -1, 2)
    weights = np.where(scores >= 0.5, scores, 0.0).reshape(n_cameras, -1)
    weights[~np.isfinite(normalised).all(axis=-1)] = 0.0
    flat = keypoints.reshape(n_cameras, -1, 2)
    for _ in range(n_cameras):  # the plain formulation: every point, every round
        expected, views = triangulate_dlt(normalised, weights, extrinsics(cameras), min_views)
        projected = np.stack([camera.project(expected) for camera in cameras])
        errors = np.where(weights > 0, np.linalg.norm(projected - flat, axis=-1), -np.inf)
        worst = np.argmax(errors, axis=0)
        worst_error = errors[worst, np.arange(worst.size)]
        drop = np.isfinite(worst_error) & (worst_error > 10.0) & (views > min_views)
        weights[worst[drop], np.flatnonzero(drop)] = 0.0
    robust, n_views, used = triangulate_robust(
        cameras, keypoints, scores, 0.5, min_views=min_views, max_error_px=10.0
    )
    assert np.isfinite(robust).any() and (n_views < (scores >= 0.5).sum(axis=0)).any()
    np.testing.assert_allclose(robust.reshape(-1, 3), expected, atol=1e-9)
    np.testing.assert_array_equal(n_views.reshape(-1), views)
    np.testing.assert_array_equal(used.reshape(n_cameras, -1), (weights > 0) & (views >= min_views))


@pytest.mark.parametrize("n_cameras", [3, 4, 6])
def test_swap_correction_matches_triangulating_without_each_camera(n_cameras: int) -> None:
    """Swaps in several cameras, noise, missing views: the same views are exchanged as by
    the plain formulation (each camera left out of a full triangulation, every frame, every
    round)."""
    rng = np.random.default_rng(20 + n_cameras)
    names = list(BLAZEPOSE_KEYPOINTS)
    permutation = mirror_permutation(names)
    cameras = ring_cameras(n_cameras)
    keypoints = np.stack([camera.project(blazepose_skeleton(yaw_rad=0.4)) for camera in cameras])
    keypoints += rng.normal(0.0, 2.0, size=keypoints.shape)
    keypoints[rng.random(keypoints.shape[:3]) < 0.05] = np.nan
    scores = rng.uniform(0.3, 1.0, size=keypoints.shape[:3])
    swap = rng.random(keypoints.shape[:2]) < 0.15
    keypoints[swap] = keypoints[swap][:, permutation]
    scores[swap] = scores[swap][:, permutation]

    expected_keypoints, expected_scores = keypoints.copy(), scores.copy()
    expected = np.zeros(swap.shape, dtype=bool)
    normalised = np.stack([c.undistort_points(keypoints[i]) for i, c in enumerate(cameras)])
    paired = permutation != np.arange(len(names))
    for _ in range(n_cameras):
        ratio = np.full(swap.shape, np.nan)
        normalised = np.stack(
            [c.undistort_points(expected_keypoints[i]) for i, c in enumerate(cameras)]
        )
        for c, camera in enumerate(cameras):
            weights = np.where(expected_scores >= 0.5, expected_scores, 0.0)
            weights[c] = 0.0
            points, _ = triangulate_dlt(
                normalised.reshape(n_cameras, -1, 2), weights.reshape(n_cameras, -1),
                extrinsics(cameras),
            )  # fmt: skip
            projected = camera.project(points.reshape(*scores.shape[1:], 3))[:, paired]
            error = np.linalg.norm(projected - expected_keypoints[c][:, paired], axis=-1)
            mirrored = np.linalg.norm(
                projected - expected_keypoints[c][:, permutation][:, paired], axis=-1
            )
            valid = np.isfinite(error) & np.isfinite(mirrored)
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio[c] = np.where(valid, mirrored, 0).sum(1) / np.where(valid, error, 0).sum(1)
            ratio[c, ~valid.any(axis=1)] = np.nan
        ratio[expected | ~np.isfinite(ratio)] = np.inf
        best = np.argmin(ratio, axis=0)
        fix = ratio[best, np.arange(swap.shape[1])] < 0.5
        if not fix.any():
            break
        cams, frames = best[fix], np.flatnonzero(fix)
        expected_keypoints[cams, frames] = expected_keypoints[cams, frames][:, permutation]
        expected_scores[cams, frames] = expected_scores[cams, frames][:, permutation]
        expected[cams, frames] = True

    fixed, fixed_scores, swapped = correct_left_right_swaps(cameras, keypoints, scores, names, 0.5)
    assert swapped.sum() >= 0.5 * swap.sum()
    np.testing.assert_array_equal(swapped, expected)
    np.testing.assert_array_equal(fixed, expected_keypoints)
    np.testing.assert_array_equal(fixed_scores, expected_scores)


def test_affine_dlt_of_the_swap_test_agrees_with_the_homogeneous_one() -> None:
    """The swap correction's leave-one-out triangulation fixes the homogeneous coordinate
    to 1: on views with 3 px of noise (no gross errors) it agrees with the DLT to hundredths
    of a millimetre, and within a millimetre at worst."""
    rng = np.random.default_rng(13)
    cameras = ring_cameras(4)
    truth = rng.uniform(-0.8, 0.8, size=(3000, 3)) + [0.0, 0.0, 1.0]
    keypoints = np.stack([camera.project(truth) for camera in cameras])
    keypoints += rng.normal(0.0, 3.0, size=keypoints.shape)
    views = np.stack([c.undistort_points(keypoints[i]) for i, c in enumerate(cameras)])
    weights = rng.uniform(0.3, 1.0, size=views.shape[:2])
    weights[0] = 0.0  # camera 0 left out, as the swap test does
    normal = _view_terms(views, weights, extrinsics(cameras)).sum(axis=0)
    solvable = np.ones(len(truth), dtype=bool)
    difference = np.linalg.norm(_solve_affine(normal, solvable) - _solve(normal, solvable), axis=1)
    assert np.median(difference) < 5e-5 and difference.max() < 1e-3
    assert np.median(np.linalg.norm(_solve(normal, solvable) - truth, axis=1)) > 1e-3
    solvable[:10] = False
    assert np.isnan(_solve_affine(normal, solvable)[:10]).all()


def test_blocks_do_not_change_the_results(monkeypatch: pytest.MonkeyPatch) -> None:
    """Points are solved in blocks (`_BLOCK`); blocks of 37 points (13 blocks, the last one
    short) give what one block gives, for the DLT, the robust path and the swap test (same
    views, swaps and view counts; points to the last bit or two)."""
    import posebench.triangulation as triangulation

    cameras, _, keypoints, scores = noisy_views(4, seed=11)
    names = list(BLAZEPOSE_KEYPOINTS[:12])

    def run() -> list[npt.NDArray[np.generic]]:
        normalised = np.stack([c.undistort_points(keypoints[i]) for i, c in enumerate(cameras)])
        weights = np.where(scores >= 0.5, scores, 0.0).reshape(4, -1)
        weights[~np.isfinite(normalised.reshape(4, -1, 2)).all(axis=-1)] = 0.0
        normalised = np.nan_to_num(normalised.reshape(4, -1, 2))
        dlt = triangulate_dlt(normalised, weights, extrinsics(cameras))
        robust = triangulate_robust(cameras, keypoints, scores, 0.5, 2, 10.0)
        swaps = correct_left_right_swaps(cameras, keypoints, scores, names, 0.5)
        return [*dlt, *robust, *swaps]

    whole = run()
    monkeypatch.setattr(triangulation, "_BLOCK", 37)
    for expected, found in zip(whole, run(), strict=True):
        if expected.dtype.kind == "f":  # SIMD lanes may round the last bit differently
            np.testing.assert_allclose(found, expected, rtol=0, atol=1e-12)
        else:
            np.testing.assert_array_equal(found, expected)
