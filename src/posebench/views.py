"""A trial's camera views, checked before triangulation.

Checks: one keypoint file per calibrated camera; each video's image size and frame rate
against the calibration; the same keypoints, frame rate and (up to `max_frame_mismatch`)
frame count in every camera; the time base of the frames; the cameras that detect the person
in enough frames to be used (`usable_cameras`).

`trial_views` stacks the loaded keypoints into a `TrialViews`; nothing here reads or writes a
file (paths are only named in messages). `posebench.reconstruction` triangulates the views.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from posebench.camera import Camera
from posebench.io.keypoints import KeypointFileError, Keypoints2D
from posebench.logs import TERMINAL

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


class ReconstructionError(RuntimeError):
    """The trial cannot be reconstructed; the message names the files and the fix."""


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


def usable_cameras(
    trial: TrialViews, min_detection_fraction: float, min_views: int
) -> tuple[BoolArray, FloatArray, dict[str, str]]:
    """The (C,) cameras of `trial` that detected the person in at least
    `min_detection_fraction` of its frames, the fraction of frames with a detection per
    camera, and why the others are dropped. Raises when fewer than `min_views` remain."""
    camera_names, detected = trial.camera_names, trial.detected
    fraction = detected.mean(axis=1) if detected.shape[1] else np.zeros(len(camera_names))
    usable = fraction >= min_detection_fraction
    dropped: dict[str, str] = {}
    for name, count, share in zip(camera_names, detected.sum(axis=1), fraction, strict=True):
        if share < min_detection_fraction:
            dropped[name] = (
                f"{name} dropped: person detected in {count} of {detected.shape[1]} frames "
                f"({share:.0%}; min_detection_fraction {min_detection_fraction:g})"
            )
            log.warning(
                "%s; it is left out of triangulation. Check its video shows the person, or "
                "lower triangulation.min_detection_fraction.",
                dropped[name],
                extra=TERMINAL,
            )
    if usable.sum() < min_views:
        listing = ", ".join(
            f"{name} {share:.0%}" for name, share in zip(camera_names, fraction, strict=True)
        )
        raise ReconstructionError(
            f"Only {usable.sum()} of {len(camera_names)} cameras detected the person in at "
            f"least {min_detection_fraction:.0%} of the frames of {trial.folder} "
            f"(frames with a detection: {listing}), but triangulation needs "
            f"min_views={min_views}. Check the videos show the person, or lower "
            "triangulation.min_detection_fraction or triangulation.min_views."
        )
    return usable, fraction, dropped
