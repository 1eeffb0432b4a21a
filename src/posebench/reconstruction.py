"""Stage `triangulate`'s core: the 2D keypoints of one trial's cameras -> 3D markers.

Steps: check the cameras agree (keypoints, frame rate, frame count), leave out cameras that
detect the person in too few frames (`min_detection_fraction`), undistort and triangulate
with confidence-weighted DLT, record reprojection errors (overall and per camera), fill
short gaps, optionally low-pass filter, resample to the output rate on an integer frame grid,
rotate into OpenSim's y-up frame, trim leading/trailing frames with no marker.

`trial_views` checks the loaded inputs and `reconstruct` computes the markers, the
reprojection table and the report; neither reads nor writes a file (paths are only named in
messages and the report). `posebench.stages.triangulate` reads the inputs and writes the TRC.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from posebench.camera import Camera
from posebench.io.keypoints import KeypointFileError, Keypoints2D
from posebench.logs import TERMINAL
from posebench.markersets import MarkerSet
from posebench.reports.triangulation import (
    CameraQuality,
    CameraSyncReport,
    SyncReport,
    TriangulationReport,
)
from posebench.timeseries import fill_gaps, lowpass_butterworth, resample, valid_frame_span
from posebench.triangulation import (
    SYNC_MAX_FRAMES,
    SYNC_MIN_IMPROVEMENT_FRACTION,
    SYNC_MIN_IMPROVEMENT_PX,
    correct_left_right_swaps,
    estimate_camera_offsets,
    reprojection_errors_px,
    shift_camera_frames,
    triangulate_robust,
)

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class ReconstructionError(RuntimeError):
    """The trial cannot be reconstructed; the message names the files and the fix."""


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


def check_camera_count(
    keypoint_files: Sequence[Path], camera_names: Sequence[str], min_views: int
) -> None:
    """One keypoint file per camera, and at least `min_views` cameras."""
    if len(keypoint_files) != len(camera_names):
        raise ReconstructionError(
            f"{len(keypoint_files)} keypoint files for {len(camera_names)} cameras"
        )
    if len(camera_names) < min_views:
        raise ReconstructionError(
            f"Only {len(camera_names)} camera(s) {list(camera_names)}; triangulation needs at "
            f"least min_views={min_views}."
        )


def select_cameras(
    calibrated: Sequence[Camera], camera_names: Sequence[str], calibration: Path
) -> list[Camera]:
    """The cameras named `camera_names`, in that order, of those calibrated in the camera
    file `calibration`."""
    by_name = {camera.name: camera for camera in calibrated}
    missing = [name for name in camera_names if name not in by_name]
    if missing:
        raise ReconstructionError(
            f"Cameras {missing} have keypoints but no calibration in {calibration} "
            f"(calibrated: {sorted(by_name)})."
        )
    return [by_name[name] for name in camera_names]


def _world_to_opensim(metadata: Mapping[str, Any], calibration: Path) -> npt.NDArray[np.float64]:
    """The session's rotation from the calibration world frame into OpenSim's frame, from
    the `metadata` of the camera file `calibration`."""
    rotation = np.asarray(metadata.get("world_to_opensim", np.nan), dtype=np.float64)
    if rotation.shape != (3, 3) or not np.allclose(rotation @ rotation.T, np.eye(3), atol=1e-6):
        raise ReconstructionError(
            f"{calibration}: metadata.world_to_opensim must be a 3x3 rotation matrix; "
            f"found {rotation.tolist()}. The dataset adapter writes it."
        )
    return rotation


def _padded(size: int) -> int:
    """`size` rounded up to a multiple of 16, as video codecs pad frames (H.264 macroblocks)."""
    return -(-size // 16) * 16


def same_image_size(video: Sequence[int], calibrated: Sequence[int]) -> bool:
    """Whether a video's (width, height) fits a calibration's: equal, or differing only by
    codec padding (the larger side is the smaller rounded up to a multiple of 16)."""
    return all(
        a == b or _padded(min(a, b)) == max(a, b) for a, b in zip(video, calibrated, strict=True)
    )


def _check_against_calibration(
    cameras: Sequence[Camera],
    views: Sequence[Keypoints2D],
    files: Sequence[Path],
    metadata: Mapping[str, Any],
    calibration: Path,
) -> None:
    """Each video's image size (and frame rate, where the calibration's `metadata` declares
    one) must be those the camera was calibrated for: pixel coordinates of another size are
    meaningless."""
    source, declared_fps = metadata.get("source", calibration), metadata.get("fps")
    for camera, view, path in zip(cameras, views, files, strict=True):
        video = view.metadata.get("video", path)
        if not same_image_size(view.image_size, camera.image_size):
            (width, height), (cal_width, cal_height) = view.image_size, camera.image_size
            rotated = same_image_size((height, width), camera.image_size)
            raise ReconstructionError(
                f"Camera {camera.name}: the video {video} is {width}x{height} px but the "
                f"camera was calibrated ({source}) at {cal_width}x{cal_height} px"
                f"{', so the video is rotated' if rotated else ''}; its keypoints cannot be "
                "triangulated. Use the camera's original, full-size and unrotated video, or "
                "calibrate the camera at this size, then run snakemake again."
            )
        if declared_fps is not None and not np.isclose(view.fps, declared_fps, rtol=0.01):
            declared_in = metadata.get("fps_source", source)
            raise ReconstructionError(
                f"Camera {camera.name}: the video {video} runs at {view.fps:g} fps but the "
                f"dataset declares {declared_fps:g} fps ({declared_in}). Use the original "
                "video or correct the declared frame rate, then run snakemake again."
            )


def time_base_fps(video_fps: float, metadata: Mapping[str, Any]) -> tuple[float, str]:
    """The frame rate that places frame slot j at t = j / fps, and where it comes from.

    From the calibration's `metadata`: the dataset's declared rate (`fps`, already checked
    to be within 1% of the video's) where it declares one; the video's rate rounded to an
    integer where the dataset's `frame_rate_rule` is `rounded` (OpenCapBench's protocol for
    LabValidation: 59.94 fps videos on a 60 Hz grid); else the video header's rate.
    """
    declared = metadata.get("fps")
    if declared is not None:
        return float(declared), f"declared in {metadata.get('fps_source', 'the calibration')}"
    rule = metadata.get("frame_rate_rule", "header")
    if rule == "rounded":
        return float(
            round(video_fps)
        ), f"video header {video_fps:g} fps rounded (frame_rate: rounded)"
    if rule != "header":
        raise ReconstructionError(
            f"calibration metadata frame_rate_rule is {rule!r}; expected 'rounded' or 'header'. "
            "The dataset adapter writes it: describe the dataset again."
        )
    return float(video_fps), "video header"


def _check_views(
    views: Sequence[Keypoints2D], files: Sequence[Path], max_frame_mismatch: int
) -> int:
    """Check the views agree; return the common number of frames."""
    names = views[0].keypoint_names
    for view, path in zip(views, files, strict=True):
        if view.keypoint_names != names:
            raise KeypointFileError(
                f"{path} has keypoints {view.keypoint_names[:3]}... but {files[0]} has "
                f"{names[:3]}...; all cameras of a trial must come from the same model."
            )
        if not np.isclose(view.fps, views[0].fps, rtol=1e-3):
            raise ReconstructionError(
                f"Frame rates differ: {path} is {view.fps} fps, {files[0]} is {views[0].fps} fps."
            )
    counts = [view.n_frames for view in views]
    if max(counts) - min(counts) > max_frame_mismatch:
        listing = ", ".join(f"{p.name}: {n}" for p, n in zip(files, counts, strict=True))
        raise ReconstructionError(
            f"Frame counts differ between cameras ({listing}), by more than "
            f"triangulation.max_frame_mismatch={max_frame_mismatch}. The videos must be "
            "synchronised and trimmed alike; raise max_frame_mismatch to truncate to the "
            "shortest."
        )
    if max(counts) != min(counts):
        log.warning("Frame counts differ (%s); truncating to %d frames", counts, min(counts))
    return min(counts)


@dataclass(frozen=True)
class TrialViews:
    """One trial's keypoints, checked against each other and the calibration.

    Attributes:
        cameras: the configured cameras, in order.
        keypoint_names: the keypoints' names (the same for every camera).
        keypoints_px: (C, F, K, 2) pixel coordinates, NaN where not detected.
        scores: (C, F, K) confidences.
        detected: (C, F) whether the camera detected the person in the frame.
        video_fps: the videos' frame rate from their headers.
        time_base_fps: the rate placing frame slot j at j / fps (`time_base_fps`).
        time_base_source: where `time_base_fps` comes from.
        world_to_opensim: (3, 3) rotation from the calibration's world frame to OpenSim's.
        keypoint_files: the files the keypoints come from, one per camera (named in messages
            and the report).
    """

    cameras: tuple[Camera, ...]
    keypoint_names: tuple[str, ...]
    keypoints_px: FloatArray
    scores: FloatArray
    detected: BoolArray
    video_fps: float
    time_base_fps: float
    time_base_source: str
    world_to_opensim: FloatArray
    keypoint_files: tuple[Path, ...]

    @property
    def camera_names(self) -> list[str]:
        return [camera.name for camera in self.cameras]

    @property
    def n_frames(self) -> int:
        return int(self.keypoints_px.shape[1])

    @property
    def folder(self) -> Path:
        """The folder of the keypoint files, named in messages."""
        return self.keypoint_files[0].parent


def trial_views(
    cameras: Sequence[Camera],
    views: Sequence[Keypoints2D],
    keypoint_files: Sequence[Path],
    metadata: Mapping[str, Any],
    calibration: Path,
    max_frame_mismatch: int,
) -> TrialViews:
    """Check one keypoint set per camera (`views`, read from `keypoint_files`) against the
    cameras and the `metadata` of the camera file `calibration`, and stack them, truncated
    to the common number of frames."""
    _check_against_calibration(cameras, views, keypoint_files, metadata, calibration)
    n_frames = _check_views(views, keypoint_files, max_frame_mismatch)
    fps, fps_source = time_base_fps(views[0].fps, metadata)
    return TrialViews(
        cameras=tuple(cameras),
        keypoint_names=views[0].keypoint_names,
        keypoints_px=np.stack([v.keypoints_px[:n_frames] for v in views]).astype(np.float64),
        scores=np.stack([v.scores[:n_frames] for v in views]).astype(np.float64),
        detected=np.stack([v.detected_frames()[:n_frames] for v in views]),
        video_fps=views[0].fps,
        time_base_fps=fps,
        time_base_source=fps_source,
        world_to_opensim=_world_to_opensim(metadata, calibration),
        keypoint_files=tuple(keypoint_files),
    )


def _usable_cameras(
    camera_names: Sequence[str],
    detected: npt.NDArray[np.bool_],
    settings: TriangulationSettings,
    folder: Path,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.float64], dict[str, str]]:
    """Cameras that detected the person in enough of the (C, F) frames, the fraction of
    frames with a detection per camera, and why the others are dropped. Raises when fewer
    than `min_views` remain."""
    fraction = detected.mean(axis=1) if detected.shape[1] else np.zeros(len(camera_names))
    usable = fraction >= settings.min_detection_fraction
    dropped: dict[str, str] = {}
    for name, count, share in zip(camera_names, detected.sum(axis=1), fraction, strict=True):
        if share < settings.min_detection_fraction:
            dropped[name] = (
                f"{name} dropped: person detected in {count} of {detected.shape[1]} frames "
                f"({share:.0%}; min_detection_fraction {settings.min_detection_fraction:g})"
            )
            log.warning(
                "%s; it is left out of triangulation. Check its video shows the person, or "
                "lower triangulation.min_detection_fraction.",
                dropped[name],
                extra=TERMINAL,
            )
    if usable.sum() < settings.min_views:
        listing = ", ".join(
            f"{name} {share:.0%}" for name, share in zip(camera_names, fraction, strict=True)
        )
        raise ReconstructionError(
            f"Only {usable.sum()} of {len(camera_names)} cameras detected the person in at "
            f"least {settings.min_detection_fraction:.0%} of the frames of {folder} "
            f"(frames with a detection: {listing}), but triangulation needs "
            f"min_views={settings.min_views}. Check the videos show the person, or lower "
            "triangulation.min_detection_fraction or triangulation.min_views."
        )
    return usable, fraction, dropped


def _finite_or_none(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


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
    median = np.array(
        [np.median(row[np.isfinite(row)]) if np.isfinite(row).any() else np.nan for row in flat]
    )
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
        data_rate_hz: the TRC's rate.
        reprojection: per keypoint, its reprojection errors (`reprojection_error.csv`).
        report: the trial's `triangulation.json`.
    """

    marker_names: tuple[str, ...]
    times_s: FloatArray
    positions_m: FloatArray
    frame_numbers: npt.NDArray[np.int_]
    data_rate_hz: float
    reprojection: pd.DataFrame
    report: TriangulationReport


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
    usable, detection_fraction, cameras_dropped = _usable_cameras(
        trial.camera_names, trial.detected, settings, trial.folder
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
    _log_result(report, len(cameras))
    grid_index = np.rint(grid.times_s * settings.output_rate_hz).astype(int)
    return Reconstruction(
        marker_names=markers.marker_names,
        times_s=grid.times_s[grid.kept],
        positions_m=grid.positions_m[grid.kept],
        frame_numbers=grid_index[grid.kept] + 1,
        data_rate_hz=settings.output_rate_hz,
        reprojection=reprojection,
        report=report,
    )


def _rejected_fraction(
    keypoints_px: FloatArray, scores: FloatArray, used: BoolArray, min_score: float
) -> float:
    """The fraction of confident (C, F, K) views that triangulation left out."""
    confident = (scores >= min_score) & np.isfinite(keypoints_px).all(axis=-1)
    return float((confident & ~used).sum() / max(int(confident.sum()), 1))


def _log_result(report: TriangulationReport, n_cameras: int) -> None:
    log.info(
        "Triangulated %d frames at %.0f fps from %d cameras -> %d frames at %.0f Hz; "
        "mean reprojection error %.2f px",
        report.video_frames, report.time_base_fps, n_cameras, report.output_frames,
        report.output_rate_hz, report.mean_reprojection_error_px or float("nan"),
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
        name: float(np.median(row[np.isfinite(row)])) if np.isfinite(row).any() else None
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
