"""Per-camera time offsets from reprojection errors: the synchronisation check of `triangulate`.

`estimate_camera_offsets` compares each camera's keypoints, read at candidate offsets, with the
projections of the points triangulated from the other cameras; `shift_camera_frames` undoes
an offset. The triangulation itself is `posebench.triangulation`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from posebench.camera import Camera
from posebench.triangulation import (
    BoolArray,
    FloatArray,
    IntArray,
    check_shape,
    normalised_keypoints,
    triangulate_dlt,
)

# Time-offset search (`estimate_camera_offsets`): a camera's best offset counts only when it
# lowers the camera's median reprojection error by at least this fraction AND this many pixels
# (a real lag of k frames moves every moving keypoint by k frames' worth of motion; a noisy
# detector or a still subject changes the median by far less than 20 % between offsets).
SYNC_MIN_IMPROVEMENT_FRACTION = 0.2
SYNC_MIN_IMPROVEMENT_PX = 1.0
# At most this many frames are evaluated per trial (every n-th frame): with 17-52 keypoints
# the median of thousands of observations is stable to ~1 %, far below the 20 % that counts,
# and 5 cameras x 3000 frames x 52 keypoints take about a second.
SYNC_MAX_FRAMES = 500
# A camera with fewer usable observations (keypoints seen by it and by >= min_views others) in
# the evaluated frames is not measured.
SYNC_MIN_OBSERVATIONS = 100


@dataclass(frozen=True)
class CameraOffset:
    """Outcome of `estimate_camera_offsets` for one camera.

    Attributes:
        offset_frames: the camera's time offset in frames (+k: it lags, its frame j shows what
            the other cameras show at frame j - k; -k: it leads), 0 when no offset lowers its
            error clearly, None when it could not be measured (see `not_measured`).
        error_px_at_zero: median reprojection error (px) of its keypoints as recorded against
            the points triangulated from the other cameras.
        error_px_at_offset: the same with its keypoints shifted by `offset_frames`.
        error_px_by_offset: the median error for every candidate offset, -max..+max (NaN where
            too few observations).
        frames: evaluated frames in which it has at least one usable observation.
        observations: usable keypoint observations at offset 0.
        not_measured: why `offset_frames` is None; None when measured.
    """

    offset_frames: int | None
    error_px_at_zero: float | None
    error_px_at_offset: float | None
    error_px_by_offset: tuple[float, ...]
    frames: int
    observations: int
    not_measured: str | None = None


def shift_camera_frames(
    keypoints_px: npt.ArrayLike, scores: npt.ArrayLike, offset_frames: int
) -> tuple[FloatArray, FloatArray]:
    """Undo a camera's time offset: frame i of the result is frame i + `offset_frames` of the
    input (so a camera lagging by +k frames is moved k frames earlier). Frames shifted in from
    beyond the ends have NaN keypoints and score 0.

    Args:
        keypoints_px: (F, K, 2) one camera's keypoints.
        scores: (F, K) their scores.
        offset_frames: the offset reported by `estimate_camera_offsets`.
    """
    keypoints = np.asarray(keypoints_px, dtype=np.float64)
    score = np.asarray(scores, dtype=np.float64)
    check_shape("keypoints_px", keypoints, ("F", "K", 2))
    check_shape("scores", score, keypoints.shape[:2])
    return _shifted(keypoints, offset_frames, np.nan), _shifted(score, offset_frames, 0.0)


def _shifted(array: FloatArray, offset: int, fill: float) -> FloatArray:
    """out[i] = array[i + offset] along the first axis, `fill` where that is outside."""
    out = np.full_like(array, fill)
    n_frames = array.shape[0]
    if abs(offset) >= n_frames:
        return out
    if offset >= 0:
        out[: n_frames - offset] = array[offset:]
    else:
        out[-offset:] = array[: n_frames + offset]
    return out


def estimate_camera_offsets(
    cameras: Sequence[Camera],
    keypoints_px: npt.ArrayLike,
    scores: npt.ArrayLike,
    min_score: float,
    max_offset: int,
    min_views: int = 2,
    *,
    max_frames: int = SYNC_MAX_FRAMES,
    min_improvement_fraction: float = SYNC_MIN_IMPROVEMENT_FRACTION,
    min_improvement_px: float = SYNC_MIN_IMPROVEMENT_PX,
    min_observations: int = SYNC_MIN_OBSERVATIONS,
) -> list[CameraOffset]:
    """Each camera's integer time offset in [-max_offset, +max_offset] frames relative to the
    other cameras, from reprojection errors.

    For a camera, the keypoints are triangulated (DLT, views with score >= `min_score`) from
    the OTHER cameras, projected into it, and compared with its own keypoints read k frames
    later for each candidate k: the robust (median over keypoints and frames) pixel error is
    lowest at its offset. Offset +k means the camera lags: its frame j shows what the others
    show at frame j - k; `shift_camera_frames` undoes it.

    An offset counts only when it lowers the camera's error by `min_improvement_fraction` of
    it AND by `min_improvement_px`; otherwise the camera is reported at 0 (a still subject or
    a noisy detector does not produce one). A camera out of sync also biases the others'
    triangulation (most that of a camera facing it, which sees the same image directions),
    so: (1) every camera is measured against all others; (2) those with a significant offset
    ("suspects") are measured again against the other cameras only, when at least
    max(min_views, 2) of those remain, and shifted by what that finds; (3) greedily, the
    camera whose best offset lowers its error the most (relatively) is shifted and every
    camera measured again against the shifted others, until none improves (a camera already
    shifted moves to any offset that lowers its error; one at 0 only significantly). The
    reported errors are those of the final round: each camera's own keypoints against the
    others with their offsets undone.

    Only frames max_offset..F-1-max_offset are evaluated, so that every candidate offset is
    compared on the same frames; at most `max_frames` of them (every n-th). Offsets are
    relative: a shift shared by all cameras cannot be seen, and an offset is found only when
    the subject moves enough between frames compared with the keypoints' noise.

    Returns:
        One `CameraOffset` per camera; `offset_frames` is None (with the reason) for every
        camera when fewer than `min_views + 1` cameras or fewer than 2 * max_offset + 1 frames
        are given or max_offset is 0, and for a camera with fewer than `min_observations`
        usable keypoints.
    """
    keypoints = np.asarray(keypoints_px, dtype=np.float64)
    score = np.asarray(scores, dtype=np.float64)
    check_shape("keypoints_px", keypoints, (len(cameras), "F", "K", 2))
    check_shape("scores", score, keypoints.shape[:3])
    _check_offset_settings(max_offset, max_frames, min_observations)
    reason = _offsets_not_measurable(len(cameras), score.shape[1], max_offset, min_views)
    if reason is not None:
        return [CameraOffset(None, None, None, (), 0, 0, reason) for _ in cameras]
    search = _OffsetSearch.prepare(
        cameras, keypoints, score, min_score, max_offset, max_frames,
        min_views=min_views, min_observations=min_observations,
        min_improvement_fraction=min_improvement_fraction, min_improvement_px=min_improvement_px,
    )  # fmt: skip
    shifts, table = _shift_suspects(search, search.measure(np.zeros(len(cameras), dtype=np.intp)))
    shifts, table = _shift_greedily(search, shifts, table)
    return _camera_offsets(search, shifts, table)


class _OffsetTable(NamedTuple):
    """Errors of every camera by candidate offset, from one measurement round.

    Attributes:
        errors: (C, O) median pixel errors (NaN with too few observations, and for cameras
            that were not measured).
        observations: (C,) usable observations of each camera at offset 0.
        frames_used: (C,) evaluated frames with an observation of each camera at offset 0.
    """

    errors: FloatArray
    observations: IntArray
    frames_used: IntArray


@dataclass(frozen=True)
class _OffsetSearch:
    """What `estimate_camera_offsets` measures with, prepared once per call.

    Attributes:
        cameras: the C cameras.
        extrinsics: (C, 3, 4) their extrinsic matrices.
        normalised: (C, F, K, 2) undistorted normalised keypoints.
        weights: (C, F, K) scores of usable keypoints, 0 elsewhere.
        observed: (C, F, K, 2) pixel keypoints, NaN where not usable.
        frames: (T,) evaluated frames.
        candidates: (O,) candidate offsets, -max_offset..+max_offset.
        min_views, min_observations, min_improvement_fraction, min_improvement_px: the
            settings of `estimate_camera_offsets`.
    """

    cameras: Sequence[Camera]
    extrinsics: FloatArray
    normalised: FloatArray
    weights: FloatArray
    observed: FloatArray
    frames: IntArray
    candidates: IntArray
    min_views: int
    min_observations: int
    min_improvement_fraction: float
    min_improvement_px: float

    @classmethod
    def prepare(
        cls,
        cameras: Sequence[Camera],
        keypoints: FloatArray,
        scores: FloatArray,
        min_score: float,
        max_offset: int,
        max_frames: int,
        *,
        min_views: int,
        min_observations: int,
        min_improvement_fraction: float,
        min_improvement_px: float,
    ) -> _OffsetSearch:
        """The search over `keypoints` (C, F, K, 2) px with `scores` (C, F, K): a keypoint is
        usable with a positive score >= `min_score` and finite normalised coordinates."""
        normalised = normalised_keypoints(cameras, keypoints)
        usable = (scores >= min_score) & (scores > 0) & np.isfinite(normalised).all(axis=-1)
        return cls(
            cameras=cameras,
            extrinsics=np.stack([camera.extrinsic_matrix() for camera in cameras]),
            normalised=normalised,
            weights=np.where(usable, scores, 0.0),
            observed=np.where(usable[..., None], keypoints, np.nan),
            frames=_evaluated_frames(scores.shape[1], max_offset, max_frames),
            candidates=np.arange(-max_offset, max_offset + 1),
            min_views=min_views,
            min_observations=min_observations,
            min_improvement_fraction=min_improvement_fraction,
            min_improvement_px=min_improvement_px,
        )

    def measure(
        self,
        shifts: IntArray,
        references: BoolArray | None = None,
        targets: Sequence[int] | None = None,
    ) -> _OffsetTable:
        """For every camera c of `targets` (default: all), the median pixel distance between
        its observed keypoints at frames `frames + k` (each candidate k) and the projection of
        the points triangulated at `frames` from the `references` (default: all) other than c,
        each reference d read at `frames + shifts[d]` (NaN with fewer than `min_observations`
        observations, and for cameras that are not targets), with the observations and
        frames used at offset 0.
        """
        n_cameras = len(self.cameras)
        if references is None:
            references = np.ones(n_cameras, dtype=bool)
        read = self.frames[None, :] + shifts[:, None]  # (C, T) frame each camera is read at
        rows = np.arange(n_cameras)[:, None]
        views = self.normalised[rows, read].reshape(n_cameras, -1, 2)
        view_weights = np.where(
            references[:, None], self.weights[rows, read].reshape(n_cameras, -1), 0.0
        )
        table = _OffsetTable(
            np.full((n_cameras, self.candidates.size), np.nan),
            np.zeros(n_cameras, dtype=np.intp),
            np.zeros(n_cameras, dtype=np.intp),
        )
        for c in range(n_cameras) if targets is None else targets:
            others = view_weights.copy()
            others[c] = 0.0
            table.errors[c], table.observations[c], table.frames_used[c] = self._measure_camera(
                c, views, others
            )
        return table

    def _measure_camera(
        self, c: int, views: FloatArray, weights: FloatArray
    ) -> tuple[FloatArray, int, int]:
        """Camera c's (O,) median errors by candidate offset against the points triangulated
        from `views` (C, T * K, 2) with `weights` (C, T * K; zero for c itself), and its
        observations and frames with an observation at offset 0."""
        n_keypoints = self.normalised.shape[2]
        points, _ = triangulate_dlt(views, weights, self.extrinsics, self.min_views)
        projected = self.cameras[c].project(points.reshape(self.frames.size, n_keypoints, 3))
        seen = self.observed[c][self.frames[None, :] + self.candidates[:, None]]  # (O, T, K, 2)
        distance = np.linalg.norm(seen - projected[None], axis=-1).reshape(self.candidates.size, -1)
        valid = np.isfinite(distance)
        counts = valid.sum(axis=1)
        errors = np.full(self.candidates.size, np.nan)
        for index in np.flatnonzero(counts >= self.min_observations):
            errors[index] = float(np.median(distance[index][valid[index]]))
        zero = int(np.flatnonzero(self.candidates == 0)[0])
        frames = valid[zero].reshape(self.frames.size, n_keypoints).any(axis=1).sum()
        return errors, int(counts[zero]), int(frames)

    def improvement(self, row: FloatArray, current: int) -> tuple[float, int] | None:
        """(relative error drop, offset) of a camera's best offset when it beats `current` (the
        offset it is at): significantly when `current` is 0; by any amount when the camera was
        already moved (its first offset can be biased by the other cameras' offsets). Ties go
        to the offset nearest 0."""
        candidates = self.candidates
        order = np.argsort(np.abs(candidates), kind="stable")  # 0, -1, +1, -2, ...
        ranked = np.where(np.isfinite(row[order]), row[order], np.inf)
        best = int(order[np.argmin(ranked)])
        error = row[int(np.flatnonzero(candidates == current)[0])]
        gain = error - row[best]
        if not (np.isfinite(error) and np.isfinite(gain)) or candidates[best] == current:
            return None
        significant = (
            gain >= self.min_improvement_px and gain >= self.min_improvement_fraction * error
        )
        if significant or (current != 0 and gain > 0):
            return float(gain / error) if error > 0 else np.inf, int(candidates[best])
        return None


def _check_offset_settings(max_offset: int, max_frames: int, min_observations: int) -> None:
    """Raise ValueError unless max_offset >= 0 and max_frames, min_observations >= 1."""
    if max_offset < 0 or max_frames < 1 or min_observations < 1:
        raise ValueError(
            f"max_offset={max_offset}, max_frames={max_frames}, min_observations="
            f"{min_observations}: expected max_offset >= 0 and the others >= 1"
        )


def _offsets_not_measurable(
    n_cameras: int, n_frames: int, max_offset: int, min_views: int
) -> str | None:
    """Why no camera's offset can be measured, or None when it can."""
    if max_offset == 0:
        return "max_offset is 0"
    if n_cameras < max(min_views, 2) + 1:
        return (
            f"{n_cameras} cameras: each needs at least {max(min_views, 2)} others to "
            "triangulate from"
        )
    if n_frames < 2 * max_offset + 1:
        return f"{n_frames} frames: fewer than 2 * max_offset + 1 = {2 * max_offset + 1}"
    return None


def _evaluated_frames(n_frames: int, max_offset: int, max_frames: int) -> IntArray:
    """Frames max_offset..F-1-max_offset, every n-th so that at most `max_frames` remain."""
    frames = np.arange(max_offset, n_frames - max_offset)
    return frames[:: -(-frames.size // max_frames)]


def _shift_suspects(search: _OffsetSearch, table: _OffsetTable) -> tuple[IntArray, _OffsetTable]:
    """Shifts from the cameras that look offset in `table` (measured with no shift), each
    measured again against the other cameras only, when at least max(min_views, 2) of those
    remain: two offset cameras facing each other would otherwise mostly see each other's
    offset. Returns the shifts and the table measured with them."""
    n_cameras = len(search.cameras)
    shifts = np.zeros(n_cameras, dtype=np.intp)
    suspects = [c for c in range(n_cameras) if search.improvement(table.errors[c], 0) is not None]
    trusted = ~np.isin(np.arange(n_cameras), suspects)
    if suspects and trusted.sum() >= max(search.min_views, 2):
        against_trusted = search.measure(shifts, trusted, suspects).errors
        for c in suspects:
            found = search.improvement(against_trusted[c], 0)
            shifts[c] = 0 if found is None else found[1]
        if shifts.any():
            table = search.measure(shifts)
    return shifts, table


def _shift_greedily(
    search: _OffsetSearch, shifts: IntArray, table: _OffsetTable
) -> tuple[IntArray, _OffsetTable]:
    """Starting from `shifts` and their `table`, shift one camera at a time (the largest
    relative error drop first) and measure again, until none improves. Returns the final
    shifts and table."""
    shifts = shifts.copy()
    n_cameras = len(search.cameras)
    for _ in range(2 * n_cameras):  # a bound: each round moves one camera
        changes = [
            (found, c)
            for c in range(n_cameras)
            if (found := search.improvement(table.errors[c], int(shifts[c]))) is not None
        ]
        if not changes:
            break
        (_, offset), camera = max(changes)
        shifts[camera] = offset
        table = search.measure(shifts)
    return shifts, table


def _camera_offsets(
    search: _OffsetSearch, shifts: IntArray, table: _OffsetTable
) -> list[CameraOffset]:
    """One `CameraOffset` per camera from the final `shifts` and their `table`."""
    max_offset = int(search.candidates[-1])
    results = []
    for c in range(len(search.cameras)):
        row = table.errors[c]
        at_zero, at_offset = row[max_offset], row[shifts[c] + max_offset]
        measured = bool(np.isfinite(at_zero) and np.isfinite(at_offset))
        results.append(
            CameraOffset(
                offset_frames=int(shifts[c]) if measured else None,
                error_px_at_zero=float(at_zero) if measured else None,
                error_px_at_offset=float(at_offset) if measured else None,
                error_px_by_offset=tuple(map(float, row)),
                frames=int(table.frames_used[c]),
                observations=int(table.observations[c]),
                not_measured=None
                if measured
                else (
                    f"{table.observations[c]} usable observations in {search.frames.size} "
                    f"evaluated frames; at least {search.min_observations} are needed"
                ),
            )
        )
    return results
