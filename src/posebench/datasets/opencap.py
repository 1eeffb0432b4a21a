"""Adapter for OpenCap's LabValidation layout (the real dataset and synthetic subjects).

Layout read, per `subjectN/` under the dataset root:

- `sessionMetadata.yaml`: `mass_kg`, `height_m`, `checkerBoard.placement`;
- `VideoData/<Session>/Cam<k>/cameraIntrinsicsExtrinsics.pickle`: `intrinsicMat` (3x3),
  `distortion` (1x5), `rotation` (3x3) and `translation` (3x1, millimetres), world
  (checkerboard) -> camera; its `imageSize` is stale, the size is taken from the video;
- `VideoData/<Session>/Cam<k>/<trial>/<trial>_syncdWithMocap.avi`;
- `OpenSimData/Mocap/IK/<trial>.mot`: ground-truth joint angles;
- `OpenSimData/Mocap/Model/*.osim`: the subject's mocap-scaled model (`scaling: mocap`).

A subject without videos, with a checkerboard placement its convention has no rule for, or
(with `scaling: mocap`) without exactly one mocap-scaled model, and a (non-static) trial
without ground truth or without a video in every camera, are reported (log and `skipped`)
and left out. Each subject is scaled on its first `static*` trial of the first session that
has one (OpenCap's `Session0`), or (`scaling: mocap`) given its mocap-scaled model.

Dataset options (config `datasets.<name>`), with OpenCapBench's protocol as the default:

- `placement_convention`: `opencapbench` or `opencap-core-2024`
  (`posebench.datasets.opencap_frames`);
- `frame_rate`: `rounded` (OpenCapBench: frame slot j is at j / round(video fps), so
  59.94 fps videos are on a 60 Hz grid) or `header` (j / the header's rate);
- `scaling`: `mocap` (OpenCapBench's default: IK on the dataset's mocap-scaled model, with
  the marker set's markers scaled onto it) or `video` (scaled on the static trial's video
  markers); `mocap_model` is the glob, relative to the subject folder, of that model.
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
    OPENCAP_MOCAP_MODEL,
    OPENCAP_SCALING,
    OPENCAP_VIDEO_SUFFIX,
    is_selected,
)
from posebench.datasets.opencap_frames import (
    DEFAULT_CONVENTION,
    PlacementError,
    board_to_opensim,
    convention_rules,
    placement_rule,
)
from posebench.datasets.sheet import SampleSheetError, calibration_file
from posebench.video import probe_video

log = logging.getLogger(__name__)

STATIC_PREFIX = "static"
NOT_TRIALS = ("extrinsics",)  # calibration recordings, not movements
FRAME_RATE_RULES = ("rounded", "header")
SCALING_MODES = ("mocap", "video")
DEFAULT_OPTIONS: dict[str, str] = {
    "placement_convention": DEFAULT_CONVENTION,
    "frame_rate": "rounded",
    "scaling": OPENCAP_SCALING,
    "mocap_model": OPENCAP_MOCAP_MODEL,
}


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


def read_metadata(path: Path) -> tuple[float, float | None, str | None]:
    """Mass (kg), height (m) and checkerboard placement (None when absent) from
    `sessionMetadata.yaml`."""
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
    return (
        float(mass),
        float(height) if isinstance(height, int | float) else None,
        placement if isinstance(placement, str) else None,
    )


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
    options: Mapping[str, Any],
) -> dict[str, list[Path]]:
    """Write the session's calibration; return {trial: videos in camera order}."""
    subject, session = subject_dir.name, session_dir.name
    camera_dirs = _camera_dirs(session_dir)
    if len(camera_dirs) < 2:
        found.skip(subject, session, "*", f"fewer than two calibrated cameras in {session_dir}")
        return {}
    trials = _session_trials(subject, session, camera_dirs, found)
    if not trials:
        found.skip(subject, session, "*", "no trial with videos")
        return {}
    _write_calibration(
        calibration, session_dir, camera_dirs, next(iter(trials.values())), placement, options
    )
    return trials


def _session_trials(
    subject: str, session: str, camera_dirs: list[Path], found: Discovery
) -> dict[str, list[Path]]:
    """{trial: videos in camera order} of the trials with a video in every camera; the others
    are reported in `found`."""
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
    return trials


def _write_calibration(
    calibration: Path,
    session_dir: Path,
    camera_dirs: list[Path],
    videos: list[Path],
    placement: str,
    options: Mapping[str, Any],
) -> None:
    """Write the session's cameras to `calibration`, each with the image size of its video in
    `videos` (one per camera)."""
    cameras = []
    for cam, video in zip(camera_dirs, videos, strict=True):
        info = probe_video(video)
        cameras.append(
            read_camera(cam / OPENCAP_CALIBRATION_FILE, cam.name, (info.width, info.height))
        )
    convention = str(options["placement_convention"])
    save_cameras(
        calibration,
        cameras,
        metadata={
            "source": str(session_dir),
            "checkerboard_placement": placement,
            "placement_convention": convention,
            "world_to_opensim": board_to_opensim(
                placement, cameras[0].rotation, convention
            ).tolist(),
            "frame_rate_rule": str(options["frame_rate"]),
        },
    )


def _options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The adapter's options with OpenCapBench's protocol as defaults, checked."""
    merged = {**DEFAULT_OPTIONS, **options}
    for key, allowed in (("frame_rate", FRAME_RATE_RULES), ("scaling", SCALING_MODES)):
        if merged[key] not in allowed:
            raise SampleSheetError(
                f"datasets option {key}: {merged[key]!r} is not one of {list(allowed)}."
            )
    try:
        convention_rules(str(merged["placement_convention"]))
    except PlacementError as error:
        raise SampleSheetError(str(error)) from error
    return merged


def _mocap_model(subject_dir: Path, pattern: str) -> tuple[Path | None, str]:
    """The subject's one mocap-scaled model matching `pattern`, or None and why not."""
    matches = sorted(p for p in subject_dir.glob(pattern) if p.is_file())
    if len(matches) == 1:
        return matches[0], ""
    if not matches:
        return None, (
            f"scaling: mocap needs the subject's mocap-scaled model, but nothing matches "
            f"{subject_dir / pattern}; set the dataset's mocap_model pattern, or use "
            "scaling: video"
        )
    return None, (
        f"scaling: mocap needs one mocap-scaled model, but {[m.name for m in matches]} match "
        f"{subject_dir / pattern}; narrow the dataset's mocap_model pattern"
    )


@dataclass(frozen=True)
class _Subject:
    """A subject whose sessions are described: its folder, session folders and metadata, and
    (`scaling: mocap`) its mocap-scaled model."""

    directory: Path
    session_dirs: list[Path]
    mass_kg: float
    height_m: float | None
    placement: str
    scaling_model: Path | None


def _check_subject(
    subject_dir: Path, options: Mapping[str, Any], found: Discovery
) -> _Subject | None:
    """The subject under `subject_dir`, or None (reported in `found`) when it has no videos,
    no checkerboard placement its convention has a rule for, or (`scaling: mocap`) not
    exactly one mocap-scaled model."""
    subject = subject_dir.name
    session_dirs = sorted(p for p in (subject_dir / "VideoData").glob("Session*") if p.is_dir())
    if not session_dirs:
        found.skip(
            subject, "*", "*", f"no videos ({subject_dir / 'VideoData'} is missing or empty)"
        )
        return None
    metadata_file = subject_dir / OPENCAP_METADATA_FILE
    mass_kg, height_m, placement = read_metadata(metadata_file)
    if placement is None:
        found.skip(subject, "*", "*", f"{metadata_file} has no checkerBoard.placement")
        return None
    try:
        placement_rule(placement, str(options["placement_convention"]))
    except PlacementError as error:
        found.skip(subject, "*", "*", f"{metadata_file}: {error}")
        return None
    scaling_model: Path | None = None
    if options["scaling"] == "mocap":
        scaling_model, reason = _mocap_model(subject_dir, str(options["mocap_model"]))
        if scaling_model is None:
            found.skip(subject, "*", "*", reason)
            return None
    return _Subject(subject_dir, session_dirs, mass_kg, height_m, placement, scaling_model)


def _scaling_trial(sessions: Mapping[str, Mapping[str, list[Path]]]) -> tuple[str, str] | None:
    """(session, trial) of the first `static*` trial, or None when there is none."""
    static = [
        (session, trial)
        for session, trials in sessions.items()
        for trial in trials
        if trial.lower().startswith(STATIC_PREFIX)
    ]
    return static[0] if static else None


def _add_subject_rows(
    found: Discovery,
    dataset: str,
    subject: _Subject,
    sessions: Mapping[str, Mapping[str, list[Path]]],
    scaling: tuple[str, str],
    calibration_dir: Path,
    options: Mapping[str, Any],
) -> None:
    """Add to `found` one row per video of the subject's selected trials and of its scaling
    trial; a selected trial without ground truth (other than a static one) is skipped."""
    name = subject.directory.name
    scaling_session, scaling_trial = scaling
    for session, trials in sessions.items():
        for trial, videos in trials.items():
            truth = subject.directory.joinpath(*OPENCAP_GROUND_TRUTH_DIR, f"{trial}.mot")
            is_scaling = (session, trial) == (scaling_session, scaling_trial)
            selected = (
                is_selected(session, options.get("sessions"))
                and is_selected(trial, options.get("trials"))
                and is_selected(activity_of(trial), options.get("activities"))
            )
            if not selected and not is_scaling:
                continue
            has_truth = truth.is_file()
            static = trial.lower().startswith(STATIC_PREFIX)
            if not has_truth and not static:
                found.skip(name, session, trial, f"no ground truth {truth}")
                continue
            evaluate = selected and has_truth and not static
            for video in videos:
                found.rows.append(
                    {
                        "dataset": dataset,
                        "subject": name,
                        "session": session,
                        "trial": trial,
                        "camera": video.parent.parent.name,
                        "video": str(video),
                        "calibration": str(calibration_file(calibration_dir, name, session)),
                        "mass_kg": subject.mass_kg,
                        "height_m": subject.height_m,
                        "activity": activity_of(trial),
                        "scaling_session": scaling_session,
                        "scaling_trial": scaling_trial,
                        "scaling_model": str(subject.scaling_model)
                        if subject.scaling_model
                        else "",
                        "ground_truth": str(truth) if has_truth else "",
                        "evaluate": "yes" if evaluate else "no",
                    }
                )


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
    options = _options(options)
    found = Discovery()
    for subject_dir in subject_dirs:
        name = subject_dir.name
        if not is_selected(name, options.get("subjects")):
            continue
        subject = _check_subject(subject_dir, options, found)
        if subject is None:
            continue
        sessions = {
            s.name: _describe_session(
                subject_dir, s, subject.placement,
                calibration_file(calibration_dir, name, s.name), found, options,
            )
            for s in subject.session_dirs
        }  # fmt: skip
        scaling = _scaling_trial(sessions)
        if scaling is None:
            found.skip(name, "*", "*", "no static trial to scale the model on")
            continue
        _add_subject_rows(found, dataset, subject, sessions, scaling, calibration_dir, options)
    samples = pd.DataFrame(found.rows)
    samples.attrs["skipped"] = found.skipped
    return samples
