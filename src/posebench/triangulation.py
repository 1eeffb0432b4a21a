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

    Each point is the smallest eigenvector of its weighted DLT normal matrix (`_solve`): the
    same point as the smallest right singular vector of the weighted DLT system.

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
    check_min_views(min_views)
    coords, view_weight = usable_views(points, weight)
    n_views = (view_weight > 0).sum(axis=0)
    result = np.full((points.shape[1], 3), np.nan)
    for block in _blocks(points.shape[1]):
        terms = _view_terms(coords[:, block], view_weight[:, block], projections)
        result[block] = _solve(terms.sum(axis=0), n_views[block] >= min_views)
    return result, n_views


def check_min_views(min_views: int) -> None:
    """Raise ValueError unless `min_views` >= 2."""
    if min_views < 2:
        raise ValueError(f"min_views is {min_views}, expected >= 2 (two views fix a 3D point)")


def usable_views(points_norm: FloatArray, weights: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The (C, N, 2) coordinates with 0 and the (C, N) weights with 0 wherever a view is not
    usable: weight <= 0 or NaN, or coordinates not finite."""
    usable = (weights > 0) & np.all(np.isfinite(points_norm), axis=-1)  # NaN compares False
    return np.where(usable[..., None], points_norm, 0.0), np.where(usable, weights, 0.0)


# The 10 entries of a symmetric 4x4 matrix, as (row, column) of its upper triangle.
_UPPER = ((0, 0), (0, 1), (0, 2), (0, 3), (1, 1), (1, 2), (1, 3), (2, 2), (2, 3), (3, 3))
# Points per block: the solver's ~150 array operations then run on data that stays in the
# CPU's caches, and each costs little Python overhead. Measured on 4 cameras (medians of 4,
# scripts/benchmark_stages.py's data): triangulate_dlt on 520,000 points 0.43 s with blocks
# of 2,048, 0.29 s with 16,384 (about the same up to 65,536); triangulate_robust on 104,000
# points 0.26 s and 0.18 s.
_BLOCK = 16384
# The largest angle (radians) between a solution and the exact eigenvector (`_converged`);
# points that miss it are solved again with LAPACK's symmetric eigensolver.
_EIGEN_TOLERANCE = 1e-10


def _blocks(n_points: int) -> list[slice]:
    """Consecutive slices of at most `_BLOCK` points covering `n_points`."""
    return [slice(start, start + _BLOCK) for start in range(0, n_points, _BLOCK)]


def _view_terms(coords: FloatArray, weight: FloatArray, projections: FloatArray) -> FloatArray:
    """(C, 10, N): each view's share of the N points' 4x4 DLT normal matrices (`_UPPER`
    entries), the sum of w^2 r r' / |r|^2 over its two rows r = x P3 - P1 and y P3 - P2
    (unit rows, as the DLT system's rows are normalised for conditioning). `coords`
    (C, N, 2) must be finite; views with `weight` 0 contribute 0."""
    n_cameras, n_points = weight.shape
    terms = np.zeros((n_cameras, len(_UPPER), n_points))
    for camera in range(n_cameras):
        projection = projections[camera]
        for axis in range(2):
            rows = coords[camera, :, axis] * projection[2][:, None] - projection[axis][:, None]
            rows *= weight[camera] / np.sqrt(np.einsum("kn,kn->n", rows, rows))
            for entry, (a, b) in enumerate(_UPPER):
                terms[camera, entry] += rows[a] * rows[b]
    return terms


def _solve(normal: FloatArray, solvable: BoolArray) -> FloatArray:
    """(N, 3) points from the (10, N) normal matrices M = A'A of their weighted DLT systems
    A (NaN where not `solvable`).

    The point is M's eigenvector of the smallest eigenvalue (A's smallest right singular
    vector). For a positive semi-definite M the adjugate adj(M) has the same eigenvectors,
    that one with the largest eigenvalue: its column of largest diagonal entry is already
    close to it (exact for a noise-free, rank-3 M), and products with adj(M) refine it (each
    reduces the other components by lambda_min / lambda_i). After four, the points whose
    vector may be further than `_EIGEN_TOLERANCE` from the eigenvector get eight more, and
    those still not within it (near-degenerate views) are solved with `numpy.linalg.eigh`.
    """
    adjugate = _adjugate_symmetric(normal)
    diagonal = np.stack([adjugate[i, i] for i in range(4)])
    column = np.argmax(np.abs(diagonal), axis=0)
    vector = np.take_along_axis(adjugate, column[None, None, :], axis=1)[:, 0, :]
    full = _symmetric(normal)
    with np.errstate(invalid="ignore", divide="ignore"):  # unsolvable points: 0
        vector = _power_iterations(adjugate, vector, 4)
        retry = np.flatnonzero(solvable & ~_converged(full, adjugate, vector))
        if retry.size:  # slower convergence: a gross error in a view
            slow, slow_full = adjugate[:, :, retry], full[:, :, retry]
            vector[:, retry] = _power_iterations(slow, vector[:, retry], 8)
            retry = retry[~_converged(slow_full, slow, vector[:, retry])]
    if retry.size:
        _, eigenvectors = np.linalg.eigh(full[:, :, retry].transpose(2, 0, 1))
        vector[:, retry] = eigenvectors[:, :, 0].T
    with np.errstate(invalid="ignore", divide="ignore"):
        points = (vector[:3] / vector[3]).T
    points[~solvable] = np.nan
    return points


def _solve_affine(normal: FloatArray, solvable: BoolArray) -> FloatArray:
    """(N, 3) points X minimising the algebraic error [X, 1]' M [X, 1] of the (10, N) normal
    matrices M (the DLT with the homogeneous coordinate fixed to 1 rather than the vector's
    norm): the 3x3 system M[:3, :3] X = -M[:3, 3] by Cramer's rule. NaN where not
    `solvable`."""
    m00, m01, m02, m03, m11, m12, m13, m22, m23, _ = normal
    c00, c01, c02 = m11 * m22 - m12 * m12, m02 * m12 - m01 * m22, m01 * m12 - m02 * m11
    c11, c12, c22 = m00 * m22 - m02 * m02, m01 * m02 - m00 * m12, m00 * m11 - m01 * m01
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = -1.0 / (m00 * c00 + m01 * c01 + m02 * c02)
        points = np.stack(
            [
                (c00 * m03 + c01 * m13 + c02 * m23) * scale,
                (c01 * m03 + c11 * m13 + c12 * m23) * scale,
                (c02 * m03 + c12 * m13 + c22 * m23) * scale,
            ],
            axis=-1,
        )
    points[~solvable] = np.nan
    return points


def _power_iterations(matrices: FloatArray, vector: FloatArray, count: int) -> FloatArray:
    """(4, N) unit vectors after `count` products of the (4, N) `vector` with the (4, 4, N)
    `matrices`."""
    for _ in range(count):
        vector = np.einsum("ikn,kn->in", matrices, vector)
        vector = vector / np.sqrt(np.einsum("kn,kn->n", vector, vector))
    return vector


def _converged(full: FloatArray, adjugate: FloatArray, vector: FloatArray) -> BoolArray:
    """(N,) True where the (4, N) unit `vector` is within `_EIGEN_TOLERANCE` radians of the
    eigenvector of the smallest eigenvalue of the (4, 4, N) `full` matrices M (`adjugate`:
    theirs). The angle is at most |M v - lambda v| / (lambda_2 - lambda) (lambda = v'M v),
    and lambda_2 >= lambda_2 lambda_3 lambda_4 / trace(M)^2 ~ v'adj(M) v / trace(M)^2."""
    product = np.einsum("ikn,kn->in", full, vector)
    value = np.einsum("kn,kn->n", vector, product)
    residual = product - value * vector
    trace = full[0, 0] + full[1, 1] + full[2, 2] + full[3, 3]
    second = np.einsum("kn,kn->n", vector, np.einsum("ikn,kn->in", adjugate, vector)) / trace**2
    gap = second - value
    return np.asarray(
        (gap > 0) & (np.einsum("kn,kn->n", residual, residual) <= (_EIGEN_TOLERANCE * gap) ** 2)
    )


def _symmetric(normal: FloatArray) -> FloatArray:
    """(4, 4, N) full matrices from their (10, N) `_UPPER` entries."""
    full = np.empty((4, 4, normal.shape[1]))
    for entry, (a, b) in enumerate(_UPPER):
        full[a, b] = full[b, a] = normal[entry]
    return full


def _adjugate_symmetric(normal: FloatArray) -> FloatArray:
    """(4, 4, N) adjugates of the symmetric matrices given by their (10, N) `_UPPER` entries,
    from the 2x2 minors of the first two and the last two rows (Laplace expansion)."""
    m00, m01, m02, m03, m11, m12, m13, m22, m23, m33 = normal
    s0, s1, s2 = m00 * m11 - m01 * m01, m00 * m12 - m01 * m02, m00 * m13 - m01 * m03
    s3, s4, s5 = m01 * m12 - m11 * m02, m01 * m13 - m11 * m03, m02 * m13 - m12 * m03
    c5, c4, c3 = m22 * m33 - m23 * m23, m12 * m33 - m13 * m23, m12 * m23 - m13 * m22
    c2, c1 = m02 * m33 - m03 * m23, m02 * m23 - m03 * m22
    adjugate = np.empty((4, 4, normal.shape[1]))
    adjugate[0, 0] = m11 * c5 - m12 * c4 + m13 * c3
    adjugate[0, 1] = adjugate[1, 0] = -m01 * c5 + m02 * c4 - m03 * c3
    adjugate[0, 2] = adjugate[2, 0] = m13 * s5 - m23 * s4 + m33 * s3
    adjugate[0, 3] = adjugate[3, 0] = -m12 * s5 + m22 * s4 - m23 * s3
    adjugate[1, 1] = m00 * c5 - m02 * c2 + m03 * c1
    adjugate[1, 2] = adjugate[2, 1] = -m03 * s5 + m23 * s2 - m33 * s1
    adjugate[1, 3] = adjugate[3, 1] = m02 * s5 - m22 * s2 + m23 * s1
    adjugate[2, 2] = m03 * s4 - m13 * s2 + m33 * s0
    adjugate[2, 3] = adjugate[3, 2] = -m02 * s4 + m12 * s2 - m23 * s0
    adjugate[3, 3] = m02 * s3 - m12 * s1 + m22 * s0
    return adjugate


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
    normalised: FloatArray,
    weights: FloatArray,
    permutation: IntArray,
    min_views: int,
) -> FloatArray:
    """(C, F) error of each camera's mirrored detection relative to its original one, both
    measured against the projection of the triangulation from the other cameras, over the
    keypoints that have a counterpart.

    `keypoints` and `normalised` are (C, F, K, 2) pixel and ideal coordinates, `weights`
    (C, F, K) the views' weights (0: not usable). The other cameras' normal matrices are
    summed from each view's share (`_view_terms`), computed once, and solved with the
    homogeneous coordinate fixed to 1 (`_solve_affine`: a third of `_solve`'s work; on views
    with pixel noise and no gross errors the two agree to hundredths of a millimetre, under
    a millimetre at worst, and the ratio, a sum over the paired keypoints, is only compared
    with `max_ratio`).
    """
    n_cameras, n_frames = weights.shape[:2]
    paired = np.flatnonzero(permutation != np.arange(permutation.size))
    extrinsics = np.stack([camera.extrinsic_matrix() for camera in cameras])
    ratio = np.full((n_cameras, n_frames), np.nan)
    per_block = max(1, _BLOCK // paired.size)
    for start in range(0, n_frames, per_block):
        chunk = slice(start, start + per_block)
        pixels = keypoints[:, chunk][:, :, paired]  # (C, f, P, 2)
        mirrored = keypoints[:, chunk][:, :, permutation[paired]]
        coords, weight = usable_views(
            normalised[:, chunk][:, :, paired].reshape(n_cameras, -1, 2),
            weights[:, chunk][:, :, paired].reshape(n_cameras, -1),
        )
        terms = _view_terms(coords, weight, extrinsics)
        n_views = (weight > 0).sum(axis=0)
        for c, camera in enumerate(cameras):
            others = [other for other in range(n_cameras) if other != c]
            points = _solve_affine(
                terms[others].sum(axis=0), n_views - (weight[c] > 0) >= min_views
            ).reshape(*pixels.shape[1:3], 3)
            projected = camera.project(points)
            error = np.linalg.norm(projected - pixels[c], axis=-1)
            error_mirrored = np.linalg.norm(projected - mirrored[c], axis=-1)
            valid = np.isfinite(error) & np.isfinite(error_mirrored)
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio[c, chunk] = np.where(
                    valid.any(axis=1),
                    np.where(valid, error_mirrored, 0).sum(axis=1)
                    / np.where(valid, error, 0).sum(axis=1),
                    np.nan,
                )
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
    look improvable, but less so), and the rounds repeat until nothing changes (only the
    frames corrected in a round are measured again: the others' ratios stay as they were).
    Needs at least `min_views + 1` cameras (otherwise returns the input unchanged).

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
    # Undistortion is per point: the undistorted keypoints are exchanged with the pixels.
    normalised = normalised_keypoints(cameras, keypoints)
    ratio = np.full((n_cameras, n_frames), np.inf)
    changed = np.arange(n_frames)
    for _ in range(n_cameras):
        weights = np.where(score[:, changed] >= min_score, score[:, changed], 0.0)
        ratio[:, changed] = _mirror_ratio(
            cameras, keypoints[:, changed], normalised[:, changed], weights, permutation, min_views
        )
        ratio[swapped | ~np.isfinite(ratio)] = np.inf  # never swap a view back
        best = np.argmin(ratio, axis=0)
        fix = ratio[best, np.arange(n_frames)] < max_ratio
        if not fix.any():
            break
        cams, changed = best[fix], np.flatnonzero(fix)
        for array in (keypoints, normalised, score):
            array[cams, changed] = array[cams, changed][:, permutation]
        swapped[cams, changed] = True
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

    Each round solves again only the points that lost a view in the previous one (the
    others, and their errors, would not change).

    Returns:
        (F, K, 3) points in metres, (F, K) views used and (C, F, K) True where a view was used.
    """
    keypoints = np.asarray(keypoints_px, dtype=np.float64)
    score = np.asarray(scores, dtype=np.float64)
    check_shape("keypoints_px", keypoints, (len(cameras), "F", "K", 2))
    check_shape("scores", score, keypoints.shape[:3])
    check_min_views(min_views)
    n_cameras, n_frames, n_keypoints = score.shape
    coords, weights = usable_views(
        normalised_keypoints(cameras, keypoints).reshape(n_cameras, -1, 2),
        np.where(score >= min_score, score, 0.0).reshape(n_cameras, -1),
    )
    extrinsics = np.stack([camera.extrinsic_matrix() for camera in cameras])
    flat_keypoints = keypoints.reshape(n_cameras, -1, 2)
    points = np.full((coords.shape[1], 3), np.nan)
    n_views = (weights > 0).sum(axis=0)
    for block in _blocks(coords.shape[1]):
        points[block] = _robust_block(
            cameras, coords[:, block], weights[:, block], flat_keypoints[:, block], extrinsics,
            n_views[block], min_views, max_error_px,
        )  # fmt: skip
    used = (weights > 0) & (n_views >= min_views)[None]
    return (
        points.reshape(n_frames, n_keypoints, 3),
        n_views.reshape(n_frames, n_keypoints),
        used.reshape(n_cameras, n_frames, n_keypoints),
    )


def _robust_block(
    cameras: Sequence[Camera],
    coords: FloatArray,
    weights: FloatArray,
    keypoints: FloatArray,
    extrinsics: FloatArray,
    n_views: IntArray,
    min_views: int,
    max_error_px: float | None,
) -> FloatArray:
    """`triangulate_robust` on one block of (C, N) views; sets dropped views' `weights` to 0
    and lowers their points' `n_views` in place, returns the (N, 3) points."""
    terms = _view_terms(coords, weights, extrinsics)
    points = _solve(terms.sum(axis=0), n_views >= min_views)
    if max_error_px is None:
        return points
    # Squared reprojection errors: the same worst view, compared with the squared limit.
    errors = np.full(weights.shape, -np.inf)
    todo = np.arange(weights.shape[1])
    for _ in range(len(cameras) - min_views):
        for c, camera in enumerate(cameras):
            offset = camera.project(points[todo]) - keypoints[c, todo]
            errors[c, todo] = np.where(
                weights[c, todo] > 0, np.einsum("ni,ni->n", offset, offset), -np.inf
            )
        worst = np.argmax(errors[:, todo], axis=0)
        worst_error = errors[worst, todo]
        drop = (
            np.isfinite(worst_error) & (worst_error > max_error_px**2) & (n_views[todo] > min_views)
        )
        if not drop.any():
            break
        todo, cams = todo[drop], worst[drop]
        weights[cams, todo] = 0.0
        terms[cams, :, todo] = 0.0
        n_views[todo] -= 1
        points[todo] = _solve(terms[:, :, todo].sum(axis=0), n_views[todo] >= min_views)
    return points
