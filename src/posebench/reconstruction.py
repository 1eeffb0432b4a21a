"""Stage `triangulate`: per-camera 2D keypoints of one trial -> 3D markers in a TRC file.

Steps: check the cameras agree (keypoints, frame rate, frame count), leave out cameras that
detect the person in too few frames (`min_detection_fraction`), undistort and triangulate
with confidence-weighted DLT, record reprojection errors (overall and per camera), fill
short gaps, optionally low-pass filter, resample to the output rate on an integer frame grid,
rotate into OpenSim's y-up frame, trim leading/trailing frames with no marker, write the TRC.
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

from posebench.camera import Camera, load_cameras
from posebench.io.atomic import atomic_output, write_json
from posebench.io.errors import read_json
from posebench.io.keypoints import KeypointFileError, Keypoints2D, load_keypoints
from posebench.io.trc import write_trc
from posebench.logs import TERMINAL
from posebench.markersets import get_marker_set
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


def _select_cameras(calibration: Path, camera_names: Sequence[str]) -> list[Camera]:
    by_name = {camera.name: camera for camera in load_cameras(calibration)}
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


def _synchronise(
    cameras: Sequence[Camera],
    keypoints_px: npt.NDArray[np.float64],
    scores: npt.NDArray[np.float64],
    settings: TriangulationSettings,
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], dict[str, Any]]:
    """Measure each camera's time offset against the other cameras (see
    `estimate_camera_offsets`), warn about those with one and, with
    `triangulation.sync.correct`, shift their keypoints; return the (C, F, K, 2) keypoints,
    (C, F, K) scores and the report's `sync` entry."""
    report: dict[str, Any] = {
        "enabled": settings.sync_max_offset_frames > 0,
        "max_offset_frames": settings.sync_max_offset_frames,
        "correct": settings.sync_correct,
        "applied": False,
        "min_improvement_fraction": SYNC_MIN_IMPROVEMENT_FRACTION,
        "min_improvement_px": SYNC_MIN_IMPROVEMENT_PX,
        "max_evaluated_frames": SYNC_MAX_FRAMES,
        "cameras": {},
    }
    if not report["enabled"]:
        return keypoints_px, scores, report
    offsets = estimate_camera_offsets(
        cameras, keypoints_px, scores, settings.min_score, settings.sync_max_offset_frames,
        settings.min_views,
    )  # fmt: skip
    keypoints_px, scores = keypoints_px.copy(), scores.copy()
    for index, (camera, found) in enumerate(zip(cameras, offsets, strict=True)):
        report["cameras"][camera.name] = {
            "offset_frames": found.offset_frames,
            "error_px_at_zero": _finite_or_none(found.error_px_at_zero),
            "error_px_at_offset": _finite_or_none(found.error_px_at_offset),
            "error_px_by_offset": [_finite_or_none(e) for e in found.error_px_by_offset],
            "frames": found.frames,
            "observations": found.observations,
            "not_measured": found.not_measured,
        }
        if found.offset_frames is None:
            log.info("%s: time offset not measured (%s)", camera.name, found.not_measured)
            continue
        offset = found.offset_frames
        if offset == 0:
            continue
        if settings.sync_correct:
            keypoints_px[index], scores[index] = shift_camera_frames(
                keypoints_px[index], scores[index], offset
            )
            report["applied"] = True
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
            camera.name, abs(offset), "behind" if offset > 0 else "ahead of",
            "-" if offset > 0 else "+", abs(offset), found.error_px_at_zero,
            found.error_px_at_offset, offset, action,
            extra=TERMINAL,
        )  # fmt: skip
    return keypoints_px, scores, report


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


def reconstruct_trial(
    keypoint_files: Sequence[Path],
    camera_names: Sequence[str],
    calibration: Path,
    marker_set: str,
    *,
    output_trc: Path,
    output_reprojection: Path,
    output_report: Path,
    settings: TriangulationSettings,
) -> dict[str, Any]:
    """Triangulate one trial and write the TRC, reprojection CSV and a JSON report."""
    if len(keypoint_files) != len(camera_names):
        raise ReconstructionError(
            f"{len(keypoint_files)} keypoint files for {len(camera_names)} cameras"
        )
    if len(camera_names) < settings.min_views:
        raise ReconstructionError(
            f"Only {len(camera_names)} camera(s) {list(camera_names)}; triangulation needs at "
            f"least min_views={settings.min_views}."
        )
    markers = get_marker_set(marker_set)
    cameras = _select_cameras(calibration, camera_names)
    views = [load_keypoints(path) for path in keypoint_files]
    for view, path in zip(views, keypoint_files, strict=True):
        markers.check_keypoints(view.keypoint_names, f"Keypoint file {path}")
    metadata = read_json(calibration, "camera file").get("metadata", {})
    _check_against_calibration(cameras, views, keypoint_files, metadata, calibration)
    n_frames = _check_views(views, keypoint_files, settings.max_frame_mismatch)
    fps, fps_source = time_base_fps(views[0].fps, metadata)

    keypoints_px = np.stack([v.keypoints_px[:n_frames] for v in views]).astype(np.float64)
    scores = np.stack([v.scores[:n_frames] for v in views]).astype(np.float64)
    detected = np.stack([v.detected_frames()[:n_frames] for v in views])
    usable, detection_fraction, cameras_dropped = _usable_cameras(
        camera_names, detected, settings, keypoint_files[0].parent
    )
    used_names = [name for name, ok in zip(camera_names, usable, strict=True) if ok]
    cameras = [camera for camera, ok in zip(cameras, usable, strict=True) if ok]
    keypoints_px, scores = keypoints_px[usable], scores[usable]
    swapped = np.zeros(scores.shape[:2], dtype=bool)
    if settings.fix_left_right_swaps:
        keypoints_px, scores, swapped = correct_left_right_swaps(
            cameras, keypoints_px, scores, views[0].keypoint_names, settings.min_score,
            settings.min_views,
        )  # fmt: skip
        for name, count in zip(used_names, swapped.sum(axis=1), strict=True):
            if count:
                log.info("%s: left/right exchanged in %d of %d frames", name, count, n_frames)
    keypoints_px, scores, sync = _synchronise(cameras, keypoints_px, scores, settings)
    points_m, n_views, used = triangulate_robust(
        cameras, keypoints_px, scores, settings.min_score, settings.min_views,
        settings.max_reprojection_error_px,
    )  # fmt: skip
    confident = (scores >= settings.min_score) & np.isfinite(keypoints_px).all(axis=-1)
    errors = reprojection_errors_px(cameras, points_m, keypoints_px, used)
    triangulated = np.asarray(np.isfinite(points_m).all(axis=-1))
    reprojection = _reprojection_table(
        errors, views[0].keypoint_names, markers.markers, triangulated
    )
    with atomic_output(output_reprojection) as tmp:
        reprojection.to_csv(tmp, index=False, float_format="%.4f")

    marker_points = markers.marker_positions(points_m)
    raw_valid = np.isfinite(marker_points).all(axis=-1)
    max_gap = int(round(settings.max_gap_s * fps))
    filled = fill_gaps(marker_points, max_gap) if max_gap > 0 else marker_points
    if settings.filter_cutoff_hz is not None:
        filled = lowpass_butterworth(filled, fps, settings.filter_cutoff_hz, settings.filter_order)
    times, resampled = resample(filled, fps, settings.output_rate_hz)
    world_to_opensim = _world_to_opensim(metadata, calibration)
    opensim_points = resampled @ world_to_opensim.T

    span = valid_frame_span(opensim_points)
    if span is None:
        raise ReconstructionError(
            f"No marker could be triangulated in any frame of {keypoint_files[0].parent}: "
            f"fewer than {settings.min_views} cameras saw the person with score >= "
            f"{settings.min_score}. Check the videos show the person, or lower "
            "triangulation.min_score."
        )
    first, last = span
    # OpenSim's IK cannot solve a frame without any marker: such frames inside the trial
    # (longer gaps than max_gap_s) are left out of the TRC and counted in the report.
    has_marker = np.asarray(np.isfinite(opensim_points).all(axis=-1).any(axis=-1))
    kept = np.flatnonzero(has_marker[first : last + 1]) + first
    grid_index = np.rint(times * settings.output_rate_hz).astype(int)
    write_trc(
        output_trc,
        markers.marker_names,
        times[kept],
        opensim_points[kept],
        data_rate_hz=settings.output_rate_hz,
        frame_numbers=grid_index[kept] + 1,
    )
    valid_out = np.asarray(np.isfinite(opensim_points[kept]).all(axis=-1))
    median_error_px = {
        name: float(np.median(row[np.isfinite(row)])) if np.isfinite(row).any() else None
        for name, row in zip(used_names, errors.reshape(len(used_names), -1), strict=True)
    }
    report: dict[str, Any] = {
        "cameras": used_names,
        "cameras_configured": list(camera_names),
        "cameras_used": used_names,
        "cameras_dropped": cameras_dropped,
        "camera_quality": {
            name: {
                "detection_fraction": float(fraction),
                "median_reprojection_error_px": median_error_px.get(name),
            }
            for name, fraction in zip(camera_names, detection_fraction, strict=True)
        },
        "keypoint_files": [str(p) for p in keypoint_files],
        "video_fps": views[0].fps,
        "time_base_fps": fps,
        "time_base_source": fps_source,
        "video_frames": n_frames,
        "output_rate_hz": settings.output_rate_hz,
        "output_frames": int(kept.size),
        "dropped_empty_frames": int(last - first + 1 - kept.size),
        "trimmed_leading_frames": int(first),
        "trimmed_trailing_frames": int(len(times) - 1 - last),
        "start_time_s": float(times[first]),
        "gap_filled_samples": int(np.isfinite(filled).all(axis=-1).sum() - raw_valid.sum()),
        "max_gap_frames": max_gap,
        "filter_cutoff_hz": settings.filter_cutoff_hz,
        "left_right_swapped_frames": dict(
            zip(used_names, map(int, swapped.sum(axis=1)), strict=True)
        ),
        "sync": sync,
        "views_rejected_fraction": float((confident & ~used).sum() / max(int(confident.sum()), 1)),
        "mean_reprojection_error_px": float(np.nanmean(errors))
        if np.isfinite(errors).any()
        else None,
        "marker_valid_fraction": {
            name: float(valid_out[:, i].mean()) for i, name in enumerate(markers.marker_names)
        },
    }
    write_json(output_report, report)
    log.info(
        "Triangulated %d frames at %.0f fps from %d cameras -> %d frames at %.0f Hz; "
        "mean reprojection error %.2f px",
        n_frames, fps, len(cameras), report["output_frames"], settings.output_rate_hz,
        report["mean_reprojection_error_px"] or float("nan"),
    )  # fmt: skip
    return report
