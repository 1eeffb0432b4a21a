"""Confidence-weighted multi-view triangulation (linear DLT) of 2D keypoints into 3D metres:
plain and robust (worst views dropped), reprojection errors, and the correction of single
views that confused left and right. The cameras' time offsets are `posebench.sync`.

Vectorised over points with batched SVD; views without a score or coordinates contribute nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from posebench.camera import Camera

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]
BoolArray = npt.NDArray[np.bool_]


def check_shape(name: str, array: npt.NDArray[np.generic], expected: tuple[int | str, ...]) -> None:
    """Raise ValueError unless `array` has the `expected` shape (a str entry: any size)."""
    ok = array.ndim == len(expected) and all(
        isinstance(size, str) or size == actual
        for size, actual in zip(expected, array.shape, strict=True)
    )
    if not ok:
        wanted = "(" + ", ".join(str(size) for size in expected) + ")"
        raise ValueError(f"{name} has shape {array.shape}, expected {wanted}")


def triangulate_dlt(
    points_norm: npt.ArrayLike,
    weights: npt.ArrayLike,
    extrinsics: npt.ArrayLike,
    min_views: int = 2,
) -> tuple[FloatArray, IntArray]:
    """Triangulate N points seen by C cameras from normalised (undistorted) image coordinates.

    Args:
        points_norm: (C, N, 2) ideal normalised coordinates (X/Z, Y/Z in each camera frame).
        weights: (C, N) confidence of each view; views with weight <= 0 or NaN, or with NaN
            coordinates, are not used.
        extrinsics: (C, 3, 4) world->camera matrices [R | t], translation in metres.
        min_views: minimum number of usable views (>= 2) for a point to be triangulated.

    Returns:
        (N, 3) world points in metres (NaN where fewer than ``min_views`` views are usable) and
        (N,) number of usable views per point.
    """
    points = np.asarray(points_norm, dtype=np.float64)
    weight = np.asarray(weights, dtype=np.float64)
    projections = np.asarray(extrinsics, dtype=np.float64)
    check_shape("extrinsics", projections, ("C", 3, 4))
    n_cameras = projections.shape[0]
    check_shape("points_norm", points, (n_cameras, "N", 2))
    check_shape("weights", weight, (n_cameras, points.shape[1]))
    if min_views < 2:
        raise ValueError(f"min_views is {min_views}, expected >= 2 (two views fix a 3D point)")

    usable = (weight > 0) & np.all(np.isfinite(points), axis=-1)  # NaN weight compares False
    n_views = usable.sum(axis=0)
    solvable = n_views >= min_views
    result = np.full((points.shape[1], 3), np.nan)
    if not solvable.any():
        return result, n_views

    coords = np.where(usable[..., None], points, 0.0)[:, solvable]  # (C, M, 2)
    view_weight = np.where(usable, weight, 0.0)[:, solvable]  # (C, M)
    # Rows x * P3 - P1 and y * P3 - P2 for every camera and point: (C, M, 2, 4).
    rows = coords[..., None] * projections[:, None, None, 2, :] - projections[:, None, :2, :]
    rows /= np.linalg.norm(rows, axis=-1, keepdims=True)  # unit rows for conditioning
    rows *= view_weight[..., None, None]
    system = rows.transpose(1, 0, 2, 3).reshape(rows.shape[1], 2 * n_cameras, 4)
    _, _, vh = np.linalg.svd(system, full_matrices=False)
    homogeneous = vh[:, -1, :]
    result[solvable] = homogeneous[:, :3] / homogeneous[:, 3:]
    return result, n_views


def triangulate_keypoints(
    cameras: Sequence[Camera],
    keypoints_px: npt.ArrayLike,
    scores: npt.ArrayLike,
    min_score: float,
    min_views: int = 2,
) -> tuple[FloatArray, IntArray]:
    """Triangulate keypoints detected in C synchronised cameras over F frames and K keypoints.

    Args:
        cameras: the C cameras, in the order of the first axis of the arrays.
        keypoints_px: (C, F, K, 2) distorted pixel coordinates (NaN where not detected).
        scores: (C, F, K) detector confidences; a view is used with weight = score when
            score >= ``min_score`` (and score > 0), otherwise ignored.
        min_score: confidence threshold.
        min_views: minimum number of usable views per triangulated point.

    Returns:
        (F, K, 3) points in world metres (NaN where not triangulated) and (F, K) usable views.
    """
    keypoints = np.asarray(keypoints_px, dtype=np.float64)
    score = np.asarray(scores, dtype=np.float64)
    check_shape("keypoints_px", keypoints, (len(cameras), "F", "K", 2))
    check_shape("scores", score, keypoints.shape[:3])
    n_cameras, n_frames, n_keypoints = score.shape
    normalised = normalised_keypoints(cameras, keypoints)
    weights = np.where(score >= min_score, score, 0.0)
    extrinsics = np.stack([camera.extrinsic_matrix() for camera in cameras])
    points, n_views = triangulate_dlt(
        normalised.reshape(n_cameras, n_frames * n_keypoints, 2),
        weights.reshape(n_cameras, n_frames * n_keypoints),
        extrinsics,
        min_views,
    )
    return points.reshape(n_frames, n_keypoints, 3), n_views.reshape(n_frames, n_keypoints)


def reprojection_errors_px(
    cameras: Sequence[Camera],
    points_m: npt.ArrayLike,
    keypoints_px: npt.ArrayLike,
    used: npt.ArrayLike,
) -> FloatArray:
    """Pixel distance between observed keypoints and the projections of the 3D points.

    Args:
        cameras: the C cameras.
        points_m: (F, K, 3) world points in metres.
        keypoints_px: (C, F, K, 2) observed distorted pixel coordinates.
        used: (C, F, K) boolean, True where the view took part in the triangulation.

    Returns:
        (C, F, K) errors in pixels; NaN where the view was not used or the point is NaN.
    """
    points = np.asarray(points_m, dtype=np.float64)
    keypoints = np.asarray(keypoints_px, dtype=np.float64)
    mask = np.asarray(used, dtype=bool)
    check_shape("points_m", points, ("F", "K", 3))
    check_shape("keypoints_px", keypoints, (len(cameras), *points.shape[:2], 2))
    check_shape("used", mask, keypoints.shape[:3])
    projected = np.stack([camera.project(points) for camera in cameras])
    errors = np.linalg.norm(projected - keypoints, axis=-1)
    return np.where(mask, errors, np.nan)


_SIDE_SWAPS: tuple[tuple[str, str], ...] = (("left", "right"), ("right", "left"))


def mirror_permutation(keypoint_names: Sequence[str]) -> IntArray:
    """Index of each keypoint's left/right counterpart (its own index when it has none).

    Counterparts are found by name: `left`<->`right` anywhere in the name
    (`left_knee`, `mouth_left`), or a leading `l`<->`r` (`l_ASIS`, `lshoulder`), and only
    when the counterpart exists.
    """
    index = {name: i for i, name in enumerate(keypoint_names)}
    permutation = np.arange(len(keypoint_names))
    for i, name in enumerate(keypoint_names):
        candidates = [name.replace(a, b) for a, b in _SIDE_SWAPS if a in name]
        candidates += [
            mirrored + name[1:]
            for first, mirrored in (("l", "r"), ("r", "l"), ("L", "R"), ("R", "L"))
            if name.startswith(first)
        ]
        for candidate in candidates:
            if candidate != name and candidate in index:
                permutation[i] = index[candidate]
                break
    return permutation


def normalised_keypoints(cameras: Sequence[Camera], keypoints: FloatArray) -> FloatArray:
    """The (C, ..., 2) distorted pixel `keypoints` of the C cameras as (C, ..., 2) ideal
    normalised coordinates (`Camera.undistort_points`)."""
    return np.stack([camera.undistort_points(keypoints[i]) for i, camera in enumerate(cameras)])


def _mirror_ratio(
    cameras: Sequence[Camera],
    keypoints: FloatArray,
    score: FloatArray,
    permutation: IntArray,
    min_score: float,
    min_views: int,
) -> FloatArray:
    """(C, F) error of each camera's mirrored detection relative to its original one, both
    measured against the projection of the triangulation from the other cameras."""
    n_cameras, n_frames, n_keypoints = score.shape
    paired = permutation != np.arange(n_keypoints)
    normalised = normalised_keypoints(cameras, keypoints).reshape(n_cameras, -1, 2)
    extrinsics = np.stack([camera.extrinsic_matrix() for camera in cameras])
    ratio = np.full((n_cameras, n_frames), np.nan)
    for c, camera in enumerate(cameras):
        weights = np.where(score >= min_score, score, 0.0)
        weights[c] = 0.0
        points, _ = triangulate_dlt(
            normalised, weights.reshape(n_cameras, -1), extrinsics, min_views
        )
        projected = camera.project(points.reshape(n_frames, n_keypoints, 3))[:, paired]
        error = np.linalg.norm(projected - keypoints[c][:, paired], axis=-1)
        error_mirrored = np.linalg.norm(
            projected - keypoints[c][:, permutation][:, paired], axis=-1
        )
        valid = np.isfinite(error) & np.isfinite(error_mirrored)
        count = valid.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio[c] = np.where(valid, error_mirrored, 0).sum(axis=1) / np.where(
                valid, error, 0
            ).sum(axis=1)
        ratio[c, count == 0] = np.nan
    return ratio


def correct_left_right_swaps(
    cameras: Sequence[Camera],
    keypoints_px: npt.ArrayLike,
    scores: npt.ArrayLike,
    keypoint_names: Sequence[str],
    min_score: float,
    min_views: int = 2,
    max_ratio: float = 0.5,
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Undo whole-body left/right confusions of single views (common in side views).

    For every camera, the keypoints are triangulated from the other cameras and projected
    into it; the ratio of the mirrored detection's error to the original one says how much
    better exchanging its left and right keypoints would fit. In each round, per frame, only
    the camera with the lowest ratio below `max_ratio` is corrected (best first: a swapped
    camera can make the others' triangulation mirror the body, so a clean camera may also
    look improvable, but less so), and the rounds repeat until nothing changes. Needs at
    least `min_views + 1` cameras (otherwise returns the input unchanged).

    Returns:
        Corrected (C, F, K, 2) keypoints and (C, F, K) scores, and (C, F) True where swapped.
    """
    keypoints = np.array(keypoints_px, dtype=np.float64)
    score = np.array(scores, dtype=np.float64)
    check_shape("keypoints_px", keypoints, (len(cameras), "F", "K", 2))
    check_shape("scores", score, keypoints.shape[:3])
    n_cameras, n_frames, n_keypoints = score.shape
    swapped = np.zeros((n_cameras, n_frames), dtype=bool)
    permutation = mirror_permutation(keypoint_names)
    if n_cameras <= min_views or (permutation == np.arange(n_keypoints)).all():
        return keypoints, score, swapped
    frames = np.arange(n_frames)
    for _ in range(n_cameras):
        ratio = _mirror_ratio(cameras, keypoints, score, permutation, min_score, min_views)
        ratio[swapped | ~np.isfinite(ratio)] = np.inf  # never swap a view back
        best = np.argmin(ratio, axis=0)
        fix = ratio[best, frames] < max_ratio
        if not fix.any():
            break
        cams, fixed_frames = best[fix], frames[fix]
        keypoints[cams, fixed_frames] = keypoints[cams, fixed_frames][:, permutation]
        score[cams, fixed_frames] = score[cams, fixed_frames][:, permutation]
        swapped[cams, fixed_frames] = True
    return keypoints, score, swapped


def triangulate_robust(
    cameras: Sequence[Camera],
    keypoints_px: npt.ArrayLike,
    scores: npt.ArrayLike,
    min_score: float,
    min_views: int = 2,
    max_error_px: float | None = None,
) -> tuple[FloatArray, IntArray, BoolArray]:
    """Weighted DLT that drops, one at a time, the view with the largest reprojection error
    while it exceeds `max_error_px` and more than `min_views` views remain.

    Returns:
        (F, K, 3) points in metres, (F, K) views used and (C, F, K) True where a view was used.
    """
    keypoints = np.asarray(keypoints_px, dtype=np.float64)
    score = np.asarray(scores, dtype=np.float64)
    check_shape("keypoints_px", keypoints, (len(cameras), "F", "K", 2))
    check_shape("scores", score, keypoints.shape[:3])
    n_cameras, n_frames, n_keypoints = score.shape
    normalised = normalised_keypoints(cameras, keypoints).reshape(n_cameras, -1, 2)
    weights = np.where(score >= min_score, score, 0.0).reshape(n_cameras, -1)
    weights[~np.isfinite(normalised).all(axis=-1)] = 0.0
    extrinsics = np.stack([camera.extrinsic_matrix() for camera in cameras])
    flat_keypoints = keypoints.reshape(n_cameras, -1, 2)
    for _ in range(n_cameras - min_views + 1):
        points, n_views = triangulate_dlt(normalised, weights, extrinsics, min_views)
        if max_error_px is None:
            break
        projected = np.stack([camera.project(points) for camera in cameras])
        errors = np.where(weights > 0, np.linalg.norm(projected - flat_keypoints, axis=-1), -np.inf)
        worst = np.argmax(errors, axis=0)
        worst_error = np.take_along_axis(errors, worst[None], axis=0)[0]
        drop = np.isfinite(worst_error) & (worst_error > max_error_px) & (n_views > min_views)
        if not drop.any():
            break
        weights[worst[drop], np.flatnonzero(drop)] = 0.0
    used = (weights > 0) & (n_views >= min_views)[None]
    return (
        points.reshape(n_frames, n_keypoints, 3),
        n_views.reshape(n_frames, n_keypoints),
        used.reshape(n_cameras, n_frames, n_keypoints),
    )
