"""Writes a computed synthetic subject in OpenCap's LabValidation layout: videos, oracle
keypoints, calibration pickles, ground-truth .mot, mocap .trc, model and session metadata."""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import yaml

from posebench.camera import Camera, FloatArray
from posebench.datasets.layout import (
    OPENCAP_CALIBRATION_FILE,
    OPENCAP_GROUND_TRUTH_DIR,
    OPENCAP_METADATA_FILE,
    OPENCAP_VIDEO_SUFFIX,
    ORACLE_KEYPOINTS_SUFFIX,
)
from posebench.datasets.synthetic.core import SyntheticData, SyntheticTrial, TrialData
from posebench.datasets.synthetic.motions import ACTIVITY_DURATIONS_S, BodyModel
from posebench.datasets.synthetic.rig import CHECKERBOARD
from posebench.io.atomic import write_bytes, write_text
from posebench.io.hashing import sha256_of
from posebench.io.keypoints import Keypoints2D, save_keypoints
from posebench.io.mot import write_mot
from posebench.io.trc import write_trc

ORACLE_MODEL = "projection"
#: The generator's name in ``sessionMetadata.yaml`` (``generator: module``).
GENERATOR_NAME = "posebench.datasets.synthetic"
_VIDEO_BACKGROUND_BGR = (24, 24, 24)
_VIDEO_DOT_BGR = (80, 220, 255)
_VIDEO_DOT_RADIUS_PX = 3


@dataclass(frozen=True)
class SyntheticSubject:
    """What :func:`posebench.datasets.synthetic.generate_subject` wrote.

    Attributes:
        subject_dir: ``root/<subject>``.
        subject: the subject's folder name and ``subjectID``.
        trials: the trials, in generation order.
        cameras: camera folder names (``Cam0`` ...), in the order of ``camera_angles_deg``.
        marker_names: OpenSim marker names, in marker-set order (the keypoint order of the
            oracle files and the marker order of the TRC files).
        coordinate_names: model coordinates, in model order (the columns of the .mot files).
        fps: video frame rate, Hz.
        mocap_rate_hz: rate of the .mot and .trc files, Hz.
        image_size: (width, height) of the videos, pixels.
        mass_kg: subject mass written to the metadata.
        height_m: subject height written to the metadata.
        seed: the motions' seed.
    """

    subject_dir: Path
    subject: str
    trials: tuple[SyntheticTrial, ...]
    cameras: tuple[str, ...]
    marker_names: tuple[str, ...]
    coordinate_names: tuple[str, ...]
    fps: float
    mocap_rate_hz: float
    image_size: tuple[int, int]
    mass_kg: float
    height_m: float
    seed: int

    def trial(self, name: str) -> SyntheticTrial:
        """The trial called ``name``; KeyError naming the available ones otherwise."""
        for trial in self.trials:
            if trial.name == name:
                return trial
        raise KeyError(f"no trial {name!r}; generated: {[t.name for t in self.trials]}")

    def video(self, trial: str, camera: str) -> Path:
        """The video of ``trial`` seen by ``camera``."""
        session = self.trial(trial).session
        folder = self.subject_dir / "VideoData" / session / camera / trial
        return folder / f"{trial}{OPENCAP_VIDEO_SUFFIX}"

    def oracle_keypoints(self, trial: str, camera: str) -> Path:
        """The projected markers of ``trial`` in ``camera``."""
        video = self.video(trial, camera)
        return video.with_name(f"{trial}{ORACLE_KEYPOINTS_SUFFIX}")

    def calibration(self, session: str, camera: str) -> Path:
        """The calibration pickle of ``camera`` in ``session``."""
        return self.subject_dir / "VideoData" / session / camera / OPENCAP_CALIBRATION_FILE

    def ground_truth_motion(self, trial: str) -> Path:
        """The generating coordinates of ``trial`` (.mot, degrees)."""
        return self.subject_dir.joinpath(*OPENCAP_GROUND_TRUTH_DIR, f"{trial}.mot")

    def mocap_markers(self, trial: str) -> Path:
        """The markers of ``trial`` in OpenSim's frame (.trc, metres)."""
        return self.subject_dir / "MarkerData" / "Mocap" / f"{trial}.trc"

    def model(self) -> Path:
        """The generating model with its marker set (.osim)."""
        return self.subject_dir / "OpenSimData" / "Mocap" / "Model" / f"{self.subject}_scaled.osim"

    def metadata(self) -> Path:
        """The session metadata (.yaml)."""
        return self.subject_dir / OPENCAP_METADATA_FILE


def describe_subject(subject_dir: Path, data: SyntheticData) -> SyntheticSubject:
    """Where :func:`write_subject` puts ``data`` under ``subject_dir``."""
    settings = data.settings
    return SyntheticSubject(
        subject_dir=subject_dir,
        subject=settings.subject,
        trials=tuple(trial.trial for trial in data.trials),
        cameras=tuple(camera.name for camera in data.cameras),
        marker_names=data.marker_names,
        coordinate_names=data.body.coordinate_names,
        fps=float(settings.fps),
        mocap_rate_hz=float(settings.mocap_rate_hz),
        image_size=settings.image_size,
        mass_kg=float(settings.mass_kg),
        height_m=float(settings.height_m),
        seed=int(settings.seed),
    )


def write_subject(
    root: Path,
    data: SyntheticData,
    *,
    model_file: Path,
    marker_set_file: Path,
    write_model: Callable[[Path], None],
    extra_marker_set_files: Sequence[Path] = (),
) -> SyntheticSubject:
    """Write ``data`` under ``root/<subject>``.

    Args:
        root: dataset folder (the parent of the subject folder).
        data: the computed subject.
        model_file, marker_set_file: the generating model and marker set, named and hashed
            in the metadata.
        extra_marker_set_files: marker sets whose markers were added, named and hashed too.
        write_model: writes the generating model (.osim) to the path it is given.
    """
    subject = describe_subject(Path(root) / data.settings.subject, data)
    for trial in data.trials:
        _write_trial(subject, data, trial)
    write_calibrations(subject, data.cameras)
    subject.model().parent.mkdir(parents=True, exist_ok=True)
    write_model(subject.model())
    write_metadata(
        subject,
        data,
        model_file=model_file,
        marker_set_file=marker_set_file,
        extra_marker_set_files=extra_marker_set_files,
    )
    return subject


def _write_trial(subject: SyntheticSubject, data: SyntheticData, trial_data: TrialData) -> None:
    """The .mot, the .trc, and per camera the video and the oracle keypoints of a trial."""
    settings, name = data.settings, trial_data.trial.name
    mot = subject.ground_truth_motion(name)
    table = mot_table(data.body, trial_data.mocap_times_s, trial_data.coordinates)
    write_mot(mot, table, name="Coordinates", in_degrees=True)
    trc = subject.mocap_markers(name)
    write_trc(
        trc,
        data.marker_names,
        trial_data.mocap_times_s,
        trial_data.markers_m,
        data_rate_hz=settings.mocap_rate_hz,
    )
    for camera, camera_pixels in zip(data.cameras, trial_data.pixels, strict=True):
        video = subject.video(name, camera.name)
        write_video(video, camera_pixels, settings.fps, subject.image_size)
        save_keypoints(
            subject.oracle_keypoints(name, camera.name),
            Keypoints2D(
                keypoints_px=camera_pixels.astype(np.float32),
                scores=np.ones(camera_pixels.shape[:2], dtype=np.float32),
                keypoint_names=data.marker_names,
                fps=float(settings.fps),
                image_size=subject.image_size,
                model=ORACLE_MODEL,
                metadata={
                    "synthetic": True,
                    "subject": subject.subject,
                    "trial": name,
                    "camera": camera.name,
                    "seed": int(settings.seed),
                },
            ),
        )


def mot_table(
    body: BodyModel, times_s: FloatArray, coordinates: Mapping[str, FloatArray]
) -> pd.DataFrame:
    """The .mot table of coordinate series: time, then every coordinate in model order,
    angles in degrees."""
    columns: dict[str, FloatArray] = {"time": times_s}
    for name, rotational in zip(body.coordinate_names, body.rotational, strict=True):
        columns[name] = np.degrees(coordinates[name]) if rotational else coordinates[name]
    return pd.DataFrame(columns)


def write_video(path: Path, pixels: FloatArray, fps: float, image_size: tuple[int, int]) -> None:
    """MJPG video of (F, M, 2) projected markers as dots on a dark background."""
    width, height = image_size
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter.fourcc(*"MJPG"), float(fps), (width, height)
    )
    if not writer.isOpened():
        raise RuntimeError(f"OpenCV cannot write an MJPG video to {path}")
    background = np.empty((height, width, 3), dtype=np.uint8)
    background[:] = _VIDEO_BACKGROUND_BGR
    shift = 4  # sub-pixel dot centres
    try:
        for frame_pixels in pixels:
            image = background.copy()
            for u, v in np.round(frame_pixels * (1 << shift)).astype(np.int64):
                cv2.circle(
                    image,
                    (int(u), int(v)),
                    _VIDEO_DOT_RADIUS_PX << shift,
                    _VIDEO_DOT_BGR,
                    -1,
                    cv2.LINE_AA,
                    shift,
                )
            writer.write(image)
    finally:
        writer.release()


def calibration_pickle(camera: Camera) -> dict[str, Any]:
    """The OpenCap calibration dict of a board-frame camera (translation in millimetres)."""
    width, height = camera.image_size
    return {
        "intrinsicMat": np.array(camera.matrix, dtype=np.float64),
        "distortion": np.array(camera.distortion, dtype=np.float64).reshape(1, 5),
        "rotation": np.array(camera.rotation, dtype=np.float64),
        "translation": (1000.0 * np.array(camera.translation_m, dtype=np.float64)).reshape(3, 1),
        # Stale on purpose, like OpenCap's: (height, width), readers take the video's size.
        "imageSize": np.array([[float(height)], [float(width)]]),
    }


def write_calibrations(subject: SyntheticSubject, cameras: tuple[Camera, ...]) -> None:
    """One calibration pickle per camera in every session of the subject's trials."""
    for session in sorted({trial.session for trial in subject.trials}):
        for camera in cameras:
            path = subject.calibration(session, camera.name)
            write_bytes(path, pickle.dumps(calibration_pickle(camera), protocol=4))


def write_metadata(
    subject: SyntheticSubject,
    data: SyntheticData,
    *,
    model_file: Path,
    marker_set_file: Path,
    extra_marker_set_files: Sequence[Path] = (),
) -> None:
    """``sessionMetadata.yaml``: OpenCap's keys, then the generator's settings and inputs."""
    settings = data.settings
    activities = settings.activities
    metadata: dict[str, Any] = {
        "subjectID": settings.subject,
        "mass_kg": float(settings.mass_kg),
        "height_m": float(settings.height_m),
        "openSimModel": Path(model_file).stem,
        "checkerBoard": {**CHECKERBOARD, "placement": settings.placement},
        "synthetic": True,
        "generator": {
            "module": GENERATOR_NAME,
            "seed": int(settings.seed),
            "fps": float(settings.fps),
            "mocap_rate_hz": float(settings.mocap_rate_hz),
            "image_size": list(settings.image_size),
            "camera_angles_deg": [float(a) for a in settings.camera_angles_deg],
            "camera_distance_m": float(settings.camera_distance_m),
            "activities": list(activities),
            "placement_convention": settings.placement_convention,
            "durations_s": {a: ACTIVITY_DURATIONS_S[a] for a in activities},
            "model_file": Path(model_file).name,
            "model_sha256": sha256_of(model_file),
            "marker_set_file": Path(marker_set_file).name,
            "marker_set_sha256": sha256_of(marker_set_file),
        },
    }
    if extra_marker_set_files:
        metadata["generator"]["extra_marker_sets"] = {
            Path(path).name: sha256_of(path) for path in extra_marker_set_files
        }
    write_text(subject.metadata(), yaml.safe_dump(metadata, sort_keys=False))
