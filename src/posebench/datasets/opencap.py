"""Adapter for OpenCap's LabValidation layout (the real dataset and synthetic subjects).

Layout read, per `subjectN/` under the dataset root:

- `sessionMetadata.yaml`: `mass_kg`, `height_m`, `checkerBoard.placement`;
- `VideoData/<Session>/Cam<k>/cameraIntrinsicsExtrinsics.pickle`: `intrinsicMat` (3x3),
  `distortion` (1x5), `rotation` (3x3) and `translation` (3x1, millimetres), world
  (checkerboard) -> camera; its `imageSize` is stale, the size is taken from the video;
- `VideoData/<Session>/Cam<k>/<trial>/<trial>_syncdWithMocap.avi`;
- `OpenSimData/Mocap/IK/<trial>.mot`: ground-truth joint angles.

A subject without videos, and a (non-static) trial without ground truth or without a video
in every camera, are reported (log and `skipped`) and left out. Each subject is scaled on
its first `static*` trial of the first session that has one (OpenCap's `Session0`).
"""

from __future__ import annotations

import logging
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from posebench.camera import Camera, save_cameras
from posebench.datasets.layout import (
    OPENCAP_CALIBRATION_FILE,
    OPENCAP_GROUND_TRUTH_DIR,
    OPENCAP_METADATA_FILE,
    OPENCAP_VIDEO_SUFFIX,
    is_selected,
)
from posebench.datasets.opencap_frames import board_to_opensim
from posebench.datasets.sheet import SampleSheetError
from posebench.video import probe_video

log = logging.getLogger(__name__)

STATIC_PREFIX = "static"
NOT_TRIALS = ("extrinsics",)  # calibration recordings, not movements


@dataclass
class Discovery:
    """Rows found and (subject, session, trial, reason) left out."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[tuple[str, str, str, str]] = field(default_factory=list)

    def skip(self, subject: str, session: str, trial: str, reason: str) -> None:
        log.warning("Skipping %s/%s/%s: %s", subject, session, trial, reason)
        self.skipped.append((subject, session, trial, reason))


def activity_of(trial: str) -> str:
    """The movement of a trial: its name without trailing digits (`DJAsym2` -> `DJAsym`)."""
    return re.sub(r"\d+$", "", trial) or trial


def read_metadata(path: Path) -> tuple[float, float | None, str]:
    """Mass (kg), height (m) and checkerboard placement from `sessionMetadata.yaml`."""
    if not path.is_file():
        raise SampleSheetError(f"Session metadata not found: {path} (every subject needs one).")
    try:
        metadata = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise SampleSheetError(f"{path} is not valid YAML: {error}") from error
    mass = metadata.get("mass_kg")
    if not isinstance(mass, int | float) or mass <= 0:
        raise SampleSheetError(f"{path}: mass_kg is {mass!r}; expected a positive number")
    height = metadata.get("height_m")
    placement = (metadata.get("checkerBoard") or {}).get("placement")
    if not isinstance(placement, str):
        raise SampleSheetError(f"{path}: checkerBoard.placement is missing")
    return float(mass), float(height) if isinstance(height, int | float) else None, placement


def read_camera(path: Path, name: str, image_size: tuple[int, int]) -> Camera:
    """A camera from an OpenCap calibration pickle (translation converted to metres)."""
    try:
        with path.open("rb") as handle:
            calibration = pickle.load(handle, encoding="latin1")  # noqa: S301 - dataset file
    except (OSError, pickle.UnpicklingError, EOFError) as error:
        raise SampleSheetError(f"Cannot read calibration {path}: {error}") from error
    missing = [
        k for k in ("intrinsicMat", "distortion", "rotation", "translation") if k not in calibration
    ]
    if missing:
        raise SampleSheetError(f"{path}: calibration lacks {missing}; found {sorted(calibration)}")
    return Camera(
        name=name,
        matrix=np.asarray(calibration["intrinsicMat"], dtype=np.float64),
        distortion=np.asarray(calibration["distortion"], dtype=np.float64).ravel(),
        rotation=np.asarray(calibration["rotation"], dtype=np.float64),
        translation_m=np.asarray(calibration["translation"], dtype=np.float64).ravel() / 1000.0,
        image_size=image_size,
    )


def _camera_dirs(session_dir: Path) -> list[Path]:
    cameras = [
        p
        for p in session_dir.glob("Cam*")
        if p.is_dir() and (p / OPENCAP_CALIBRATION_FILE).is_file()
    ]
    return sorted(cameras, key=lambda p: int(re.sub(r"\D", "", p.name) or 0))


def _describe_session(
    subject_dir: Path,
    session_dir: Path,
    placement: str,
    calibration: Path,
    found: Discovery,
) -> dict[str, list[Path]]:
    """Write the session's calibration; return {trial: videos in camera order}."""
    subject, session = subject_dir.name, session_dir.name
    camera_dirs = _camera_dirs(session_dir)
    if len(camera_dirs) < 2:
        found.skip(subject, session, "*", f"fewer than two calibrated cameras in {session_dir}")
        return {}
    trial_sets = [
        {
            p.name
            for p in cam.iterdir()
            if p.is_dir() and (p / f"{p.name}{OPENCAP_VIDEO_SUFFIX}").is_file()
        }
        for cam in camera_dirs
    ]
    trials: dict[str, list[Path]] = {}
    for trial in sorted(set.union(*trial_sets)):
        if trial in NOT_TRIALS:
            continue
        if not all(trial in names for names in trial_sets):
            found.skip(subject, session, trial, "no video in every camera")
            continue
        trials[trial] = [cam / trial / f"{trial}{OPENCAP_VIDEO_SUFFIX}" for cam in camera_dirs]
    if not trials:
        found.skip(subject, session, "*", "no trial with videos")
        return {}
    first_videos = next(iter(trials.values()))
    cameras = []
    for cam, video in zip(camera_dirs, first_videos, strict=True):
        info = probe_video(video)
        cameras.append(
            read_camera(cam / OPENCAP_CALIBRATION_FILE, cam.name, (info.width, info.height))
        )
    save_cameras(
        calibration,
        cameras,
        metadata={
            "source": str(session_dir),
            "checkerboard_placement": placement,
            "world_to_opensim": board_to_opensim(placement, cameras[0].rotation).tolist(),
        },
    )
    return trials


def describe_opencap(
    root: Path, dataset: str, calibration_dir: Path, options: Mapping[str, Any]
) -> pd.DataFrame:
    """Describe the LabValidation-layout dataset under `root`.

    `options` may restrict `subjects`, `sessions`, `trials` and `activities` (lists; all by
    default). Scaling trials are kept even when not selected, but only selected trials with
    ground truth are scored. Left-out subjects and trials are logged and returned in
    `DataFrame.attrs["skipped"]`.
    """
    subject_dirs = sorted(p for p in root.glob("subject*") if p.is_dir())
    if not subject_dirs:
        raise SampleSheetError(
            f"No subject folders (subject2, subject3, ...) in {root}. Download OpenCap's "
            "LabValidation dataset and point `datasets: <name>: path` at the folder holding "
            "the subject folders (see README)."
        )
    found = Discovery()
    for subject_dir in subject_dirs:
        subject = subject_dir.name
        if not is_selected(subject, options.get("subjects")):
            continue
        session_dirs = sorted(p for p in (subject_dir / "VideoData").glob("Session*") if p.is_dir())
        if not session_dirs:
            found.skip(
                subject, "*", "*", f"no videos ({subject_dir / 'VideoData'} is missing or empty)"
            )
            continue
        mass_kg, height_m, placement = read_metadata(subject_dir / OPENCAP_METADATA_FILE)
        sessions = {
            s.name: _describe_session(
                subject_dir, s, placement, calibration_dir / subject / f"{s.name}.json", found
            )
            for s in session_dirs
        }
        static = [
            (session, trial)
            for session, trials in sessions.items()
            for trial in trials
            if trial.lower().startswith(STATIC_PREFIX)
        ]
        if not static:
            found.skip(subject, "*", "*", "no static trial to scale the model on")
            continue
        scaling_session, scaling_trial = static[0]
        for session, trials in sessions.items():
            for trial, videos in trials.items():
                truth = subject_dir.joinpath(*OPENCAP_GROUND_TRUTH_DIR, f"{trial}.mot")
                is_scaling = (session, trial) == (scaling_session, scaling_trial)
                selected = (
                    is_selected(session, options.get("sessions"))
                    and is_selected(trial, options.get("trials"))
                    and is_selected(activity_of(trial), options.get("activities"))
                )
                if not selected and not is_scaling:
                    continue
                if not truth.is_file() and not trial.lower().startswith(STATIC_PREFIX):
                    found.skip(subject, session, trial, f"no ground truth {truth}")
                    continue
                evaluate = (
                    selected and truth.is_file() and not trial.lower().startswith(STATIC_PREFIX)
                )
                for video in videos:
                    found.rows.append(
                        {
                            "dataset": dataset,
                            "subject": subject,
                            "session": session,
                            "trial": trial,
                            "camera": video.parent.parent.name,
                            "video": str(video),
                            "calibration": str(calibration_dir / subject / f"{session}.json"),
                            "mass_kg": mass_kg,
                            "height_m": height_m,
                            "activity": activity_of(trial),
                            "scaling_session": scaling_session,
                            "scaling_trial": scaling_trial,
                            "ground_truth": str(truth) if truth.is_file() else "",
                            "evaluate": "yes" if evaluate else "no",
                        }
                    )
    samples = pd.DataFrame(found.rows)
    samples.attrs["skipped"] = found.skipped
    return samples
