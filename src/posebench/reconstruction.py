"""Stage `triangulate`'s core: one trial's checked camera views -> 3D markers.

Steps (on a `posebench.views.TrialViews`): leave out cameras that detect the person in too few
frames (`min_detection_fraction`), undo single cameras' left/right confusions, measure (and
optionally undo) each camera's time offset, undistort and triangulate with
confidence-weighted DLT, record reprojection errors (overall and per camera), fill short gaps,
optionally low-pass filter, resample to the output rate on an integer frame grid, rotate into
OpenSim's y-up frame, trim leading/trailing frames with no marker.

`reconstruct` computes the markers, the reprojection table and the report; it reads and
writes no file (paths are only named in the report). `posebench.views.trial_views` checks the
loaded inputs; `posebench.stages.triangulate` reads them and writes the TRC.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from posebench.camera import Camera
from posebench.logs import TERMINAL
from posebench.markersets import MarkerSet
from posebench.reports.triangulation import (
    CameraQuality,
    CameraSyncReport,
    SyncReport,
    TriangulationReport,
)
from posebench.sync import (
    SYNC_MAX_FRAMES,
    SYNC_MIN_IMPROVEMENT_FRACTION,
    SYNC_MIN_IMPROVEMENT_PX,
    estimate_camera_offsets,
    shift_camera_frames,
)
from posebench.timeseries import fill_gaps, lowpass_butterworth, resample, valid_frame_span
from posebench.triangulation import (
    correct_left_right_swaps,
    reprojection_errors_px,
    triangulate_robust,
)
from posebench.views import ReconstructionError, TrialViews, usable_cameras

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class TriangulationSettings:
    """Settings of the `triangulate` stage (config key `triangulation`)."""

    min_score: float = 0.5
    min_views: int = 2
    max_gap_s: float = 0.2
    filter_cutoff_hz: float | None = 12.0
    filter_order: int = 4
    output_rate_hz: float = 100.0
    max_frame_mismatch: int = 0
    fix_left_right_swaps: bool = True
    max_reprojection_error_px: float | None = 30.0
    min_detection_fraction: float = 0.2
    sync_max_offset_frames: int = 8
    sync_correct: bool = False

    @classmethod
    def from_config(cls, section: Mapping[str, Any]) -> TriangulationSettings:
        """Build from the validated `triangulation` config section (schema fills defaults)."""
        return cls(
            min_score=float(section["min_score"]),
            min_views=int(section["min_views"]),
            max_gap_s=float(section["max_gap_s"]),
            filter_cutoff_hz=(
                float(section["filter"]["cutoff_hz"]) if section["filter"]["enabled"] else None
            ),
            filter_order=int(section["filter"]["order"]),
            output_rate_hz=float(section["output_rate_hz"]),
            max_frame_mismatch=int(section["max_frame_mismatch"]),
            fix_left_right_swaps=bool(section["fix_left_right_swaps"]),
            max_reprojection_error_px=(
                None
                if section["max_reprojection_error_px"] is None
                else float(section["max_reprojection_error_px"])
            ),
            min_detection_fraction=float(section["min_detection_fraction"]),
            sync_max_offset_frames=int(section["sync"]["max_offset_frames"]),
            sync_correct=bool(section["sync"]["correct"]),
        )


def _finite_or_none(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


def _finite_median(values: FloatArray) -> float | None:
    """The median of the finite entries of `values`, or None when there is none."""
    finite = np.isfinite(values)
    return float(np.median(values[finite])) if finite.any() else None


def _fix_swaps(
    cameras: Sequence[Camera],
    keypoints_px: FloatArray,
    scores: FloatArray,
    keypoint_names: Sequence[str],
    settings: TriangulationSettings,
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.bool_]]:
    """With `fix_left_right_swaps`, exchange left and right in the (camera, frame) views
    where one camera confused them (see `correct_left_right_swaps`); return the keypoints,
    scores and the (C, F) swapped views."""
    if not settings.fix_left_right_swaps:
        return keypoints_px, scores, np.zeros(scores.shape[:2], dtype=bool)
    keypoints_px, scores, swapped = correct_left_right_swaps(
        cameras, keypoints_px, scores, keypoint_names, settings.min_score, settings.min_views
    )
    for camera, count in zip(cameras, swapped.sum(axis=1), strict=True):
        if count:
            log.info(
                "%s: left/right exchanged in %d of %d frames", camera.name, count, scores.shape[1]
            )
    return keypoints_px, scores, swapped


def _synchronise(
    cameras: Sequence[Camera],
    keypoints_px: FloatArray,
    scores: FloatArray,
    settings: TriangulationSettings,
) -> tuple[FloatArray, FloatArray, SyncReport]:
    """Measure each camera's time offset against the other cameras (see
    `estimate_camera_offsets`), warn about those with one and, with
    `triangulation.sync.correct`, shift their keypoints; return the (C, F, K, 2) keypoints,
    (C, F, K) scores and the report's `sync` entry."""
    entries: dict[str, CameraSyncReport] = {}
    applied = False
    enabled = settings.sync_max_offset_frames > 0
    if enabled:
        offsets = estimate_camera_offsets(
            cameras, keypoints_px, scores, settings.min_score, settings.sync_max_offset_frames,
            settings.min_views,
        )  # fmt: skip
        keypoints_px, scores = keypoints_px.copy(), scores.copy()
        for index, (camera, found) in enumerate(zip(cameras, offsets, strict=True)):
            entries[camera.name] = CameraSyncReport(
                offset_frames=found.offset_frames,
                error_px_at_zero=_finite_or_none(found.error_px_at_zero),
                error_px_at_offset=_finite_or_none(found.error_px_at_offset),
                error_px_by_offset=tuple(_finite_or_none(e) for e in found.error_px_by_offset),
                frames=found.frames,
                observations=found.observations,
                not_measured=found.not_measured,
            )
            if found.offset_frames is None:
                log.info("%s: time offset not measured (%s)", camera.name, found.not_measured)
                continue
            if found.offset_frames == 0:
                continue
            if settings.sync_correct:
                keypoints_px[index], scores[index] = shift_camera_frames(
                    keypoints_px[index], scores[index], found.offset_frames
                )
                applied = True
            _warn_offset(camera.name, found.offset_frames, found.error_px_at_zero,
                         found.error_px_at_offset, settings.sync_correct)  # fmt: skip
    report = SyncReport(
        enabled=enabled,
        max_offset_frames=settings.sync_max_offset_frames,
        correct=settings.sync_correct,
        applied=applied,
        min_improvement_fraction=SYNC_MIN_IMPROVEMENT_FRACTION,
        min_improvement_px=SYNC_MIN_IMPROVEMENT_PX,
        max_evaluated_frames=SYNC_MAX_FRAMES,
        cameras=entries,
    )
    return keypoints_px, scores, report


def _warn_offset(
    name: str,
    offset: int,
    error_px_at_zero: float | None,
    error_px_at_offset: float | None,
    corrected: bool,
) -> None:
    """Warn that camera `name` is `offset` frames out of step, and what was done about it."""
    if corrected:
        action = (
            f"its keypoints were shifted {abs(offset)} frame(s) "
            f"{'earlier' if offset > 0 else 'later'} before triangulation "
            "(triangulation.sync.correct: true)"
        )
    else:
        action = (
            "check that the videos are synchronised, or set triangulation.sync.correct: "
            "true in config/config.yaml to shift its keypoints before triangulation"
        )
    log.warning(
        "%s is %d frame(s) %s the other cameras (its frame j shows what they show at frame "
        "j %s %d): its median reprojection error is %.1f px as recorded and %.1f px "
        "shifted by %+d frames; %s.",
        name, abs(offset), "behind" if offset > 0 else "ahead of",
        "-" if offset > 0 else "+", abs(offset), error_px_at_zero,
        error_px_at_offset, offset, action,
        extra=TERMINAL,
    )  # fmt: skip


def _reprojection_table(
    errors_px: npt.NDArray[np.float64],
    keypoint_names: Sequence[str],
    marker_of: dict[str, str],
    triangulated: npt.NDArray[np.bool_],
) -> pd.DataFrame:
    """Per keypoint: mean/median reprojection error (px), observations used, and the
    fraction of frames in which it was triangulated."""
    flat = errors_px.transpose(2, 0, 1).reshape(len(keypoint_names), -1)
    observations = np.isfinite(flat).sum(axis=1)
    with np.errstate(invalid="ignore"):
        mean = np.where(
            observations > 0, np.nansum(flat, axis=1) / np.maximum(observations, 1), np.nan
        )
    # float64 turns None (no finite error) into NaN.
    median = np.array([_finite_median(row) for row in flat], dtype=np.float64)
    return pd.DataFrame(
        {
            "keypoint": list(keypoint_names),
            "marker": [marker_of.get(name, "") for name in keypoint_names],
            "mean_error_px": mean,
            "median_error_px": median,
            "observations": observations,
            "triangulated_fraction": triangulated.mean(axis=0),
        }
    )


@dataclass(frozen=True)
class Reconstruction:
    """What `reconstruct` computes for one trial.

    Attributes:
        marker_names: the TRC's markers, in order.
        times_s: (T,) times of the TRC's frames.
        positions_m: (T, M, 3) marker positions in OpenSim's frame, NaN where invalid.
        frame_numbers: (T,) the TRC's frame numbers (1 + the output-grid index).
        reprojection: per keypoint, its reprojection errors (`reprojection_error.csv`).
        report: the trial's `triangulation.json`.
    """

    marker_names: tuple[str, ...]
    times_s: FloatArray
    positions_m: FloatArray
    frame_numbers: npt.NDArray[np.int_]
    reprojection: pd.DataFrame
    report: TriangulationReport

    @property
    def data_rate_hz(self) -> float:
        """The TRC's rate: the report's `output_rate_hz`."""
        return self.report.output_rate_hz


@dataclass(frozen=True)
class _OutputGrid:
    """Markers on the output grid (`_on_output_grid`): all frames from the first to the last
    with a marker are `first..last`, of which `kept` have one."""

    times_s: FloatArray
    positions_m: FloatArray
    first: int
    last: int
    kept: npt.NDArray[np.intp]
    max_gap_frames: int
    gap_filled_samples: int


def _on_output_grid(
    marker_points: FloatArray, trial: TrialViews, settings: TriangulationSettings
) -> _OutputGrid:
    """Fill short gaps of the (F, M, 3) markers, low-pass filter, resample to the output
    rate, rotate into OpenSim's frame and find the frames to write."""
    fps = trial.time_base_fps
    raw_valid = np.isfinite(marker_points).all(axis=-1)
    max_gap = int(round(settings.max_gap_s * fps))
    filled = fill_gaps(marker_points, max_gap) if max_gap > 0 else marker_points
    if settings.filter_cutoff_hz is not None:
        filled = lowpass_butterworth(filled, fps, settings.filter_cutoff_hz, settings.filter_order)
    times, resampled = resample(filled, fps, settings.output_rate_hz)
    opensim_points = resampled @ trial.world_to_opensim.T

    span = valid_frame_span(opensim_points)
    if span is None:
        raise ReconstructionError(
            f"No marker could be triangulated in any frame of {trial.folder}: "
            f"fewer than {settings.min_views} cameras saw the person with score >= "
            f"{settings.min_score}. Check the videos show the person, or lower "
            "triangulation.min_score."
        )
    first, last = span
    # OpenSim's IK cannot solve a frame without any marker: such frames inside the trial
    # (longer gaps than max_gap_s) are left out of the TRC and counted in the report.
    has_marker = np.asarray(np.isfinite(opensim_points).all(axis=-1).any(axis=-1))
    return _OutputGrid(
        times_s=times,
        positions_m=opensim_points,
        first=first,
        last=last,
        kept=np.flatnonzero(has_marker[first : last + 1]) + first,
        max_gap_frames=max_gap,
        gap_filled_samples=int(np.isfinite(filled).all(axis=-1).sum() - raw_valid.sum()),
    )


def reconstruct(
    trial: TrialViews, markers: MarkerSet, settings: TriangulationSettings
) -> Reconstruction:
    """Triangulate one trial's views into the markers of `markers`, on the output grid in
    OpenSim's frame, with the reprojection table and the report."""
    usable, detection_fraction, cameras_dropped = usable_cameras(
        trial, settings.min_detection_fraction, settings.min_views
    )
    cameras = [camera for camera, ok in zip(trial.cameras, usable, strict=True) if ok]
    keypoints_px, scores, swapped = _fix_swaps(
        cameras, trial.keypoints_px[usable], trial.scores[usable], trial.keypoint_names, settings
    )
    keypoints_px, scores, sync = _synchronise(cameras, keypoints_px, scores, settings)
    points_m, _, used = triangulate_robust(
        cameras, keypoints_px, scores, settings.min_score, settings.min_views,
        settings.max_reprojection_error_px,
    )  # fmt: skip
    errors = reprojection_errors_px(cameras, points_m, keypoints_px, used)
    triangulated = np.asarray(np.isfinite(points_m).all(axis=-1))
    reprojection = _reprojection_table(errors, trial.keypoint_names, markers.markers, triangulated)
    grid = _on_output_grid(markers.marker_positions(points_m), trial, settings)
    used_names = [camera.name for camera in cameras]
    report = TriangulationReport(
        cameras_configured=tuple(trial.camera_names),
        cameras_used=tuple(used_names),
        cameras_dropped=cameras_dropped,
        camera_quality=_camera_quality(trial.camera_names, detection_fraction, used_names, errors),
        keypoint_files=tuple(str(p) for p in trial.keypoint_files),
        video_fps=trial.video_fps,
        time_base_fps=trial.time_base_fps,
        time_base_source=trial.time_base_source,
        video_frames=trial.n_frames,
        output_rate_hz=settings.output_rate_hz,
        output_frames=int(grid.kept.size),
        dropped_empty_frames=int(grid.last - grid.first + 1 - grid.kept.size),
        trimmed_leading_frames=int(grid.first),
        trimmed_trailing_frames=int(len(grid.times_s) - 1 - grid.last),
        start_time_s=float(grid.times_s[grid.first]),
        gap_filled_samples=grid.gap_filled_samples,
        max_gap_frames=grid.max_gap_frames,
        filter_cutoff_hz=settings.filter_cutoff_hz,
        left_right_swapped_frames=dict(zip(used_names, map(int, swapped.sum(axis=1)), strict=True)),
        sync=sync,
        views_rejected_fraction=_rejected_fraction(keypoints_px, scores, used, settings.min_score),
        mean_reprojection_error_px=(
            float(np.nanmean(errors)) if np.isfinite(errors).any() else None
        ),
        marker_valid_fraction=_valid_fraction(markers, grid.positions_m[grid.kept]),
    )
    _log_result(report)
    grid_index = np.rint(grid.times_s * settings.output_rate_hz).astype(int)
    return Reconstruction(
        marker_names=markers.marker_names,
        times_s=grid.times_s[grid.kept],
        positions_m=grid.positions_m[grid.kept],
        frame_numbers=grid_index[grid.kept] + 1,
        reprojection=reprojection,
        report=report,
    )


def _rejected_fraction(
    keypoints_px: FloatArray, scores: FloatArray, used: BoolArray, min_score: float
) -> float:
    """The fraction of confident (C, F, K) views that triangulation left out."""
    confident = (scores >= min_score) & np.isfinite(keypoints_px).all(axis=-1)
    return float((confident & ~used).sum() / max(int(confident.sum()), 1))


def _log_result(report: TriangulationReport) -> None:
    log.info(
        "Triangulated %d frames at %.0f fps from %d cameras -> %d frames at %.0f Hz; "
        "mean reprojection error %.2f px",
        report.video_frames, report.time_base_fps, len(report.cameras_used),
        report.output_frames, report.output_rate_hz,
        report.mean_reprojection_error_px or float("nan"),
    )  # fmt: skip


def _camera_quality(
    camera_names: Sequence[str],
    detection_fraction: FloatArray,
    used_names: Sequence[str],
    errors_px: FloatArray,
) -> dict[str, CameraQuality]:
    """Per configured camera: its detection fraction and the median of its (C_used, F, K)
    reprojection errors (None when dropped or without a finite error)."""
    median_error_px = {
        name: _finite_median(row)
        for name, row in zip(used_names, errors_px.reshape(len(used_names), -1), strict=True)
    }
    return {
        name: CameraQuality(
            detection_fraction=float(fraction),
            median_reprojection_error_px=median_error_px.get(name),
        )
        for name, fraction in zip(camera_names, detection_fraction, strict=True)
    }


def _valid_fraction(markers: MarkerSet, positions_m: FloatArray) -> dict[str, float]:
    """Per marker, the fraction of the (T, M, 3) frames where it is valid."""
    valid = np.asarray(np.isfinite(positions_m).all(axis=-1))
    return {name: float(valid[:, i].mean()) for i, name in enumerate(markers.marker_names)}
