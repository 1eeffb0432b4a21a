"""File layouts of the supported datasets: names the adapters read, and the list of source
files each adapter reads (declared as inputs of the workflow's `describe_dataset`).

Only the standard library is imported here, so the workflow's planner can list a dataset's
files without loading the adapters' dependencies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

# OpenCap LabValidation
OPENCAP_VIDEO_SUFFIX = "_syncdWithMocap.avi"
# Synthetic LabValidation subjects: the projected model markers next to each video
ORACLE_KEYPOINTS_SUFFIX = "_oracle_keypoints.npz"
OPENCAP_CALIBRATION_FILE = "cameraIntrinsicsExtrinsics.pickle"
OPENCAP_METADATA_FILE = "sessionMetadata.yaml"
OPENCAP_GROUND_TRUTH_DIR = ("OpenSimData", "Mocap", "IK")
OPENCAP_MOCAP_MODEL = "OpenSimData/Mocap/Model/*.osim"  # glob of the mocap-scaled model
OPENCAP_SCALING = "mocap"  # default `scaling` of the opencap adapter (OpenCapBench's)

# Pose2Sim demo (Demo_SinglePerson)
POSE2SIM_CONFIG_FILE = "Config.toml"
POSE2SIM_CALIBRATION_FILE = ("calibration", "Calib.qca.txt")
POSE2SIM_VIDEO_GLOB = "videos/*.mp4"


def is_selected(value: str, allowed: Sequence[str] | None) -> bool:
    """Whether `value` passes a selection list of the config (None selects everything)."""
    return allowed is None or value in allowed


def opencap_sources(root: Path, options: Mapping[str, Any]) -> list[Path]:
    """Metadata, calibration pickles, videos, ground truth and (`scaling: mocap`) the
    mocap-scaled models of the selected subjects."""
    files: list[Path] = []
    for subject_dir in root.glob("subject*"):
        if not subject_dir.is_dir() or not is_selected(subject_dir.name, options.get("subjects")):
            continue
        metadata = subject_dir / OPENCAP_METADATA_FILE
        if metadata.is_file():
            files.append(metadata)
        for camera_dir in subject_dir.glob("VideoData/Session*/Cam*"):
            files.extend(camera_dir.glob(OPENCAP_CALIBRATION_FILE))
            files.extend(camera_dir.glob(f"*/*{OPENCAP_VIDEO_SUFFIX}"))
        files.extend(subject_dir.joinpath(*OPENCAP_GROUND_TRUTH_DIR).glob("*.mot"))
        if options.get("scaling", OPENCAP_SCALING) == "mocap":
            files.extend(
                p
                for p in subject_dir.glob(options.get("mocap_model", OPENCAP_MOCAP_MODEL))
                if p.is_file()
            )
    return files


def pose2sim_demo_sources(root: Path, options: Mapping[str, Any]) -> list[Path]:
    """The demo's participant file, calibration and videos."""
    candidates = [root / POSE2SIM_CONFIG_FILE, root.joinpath(*POSE2SIM_CALIBRATION_FILE)]
    return [p for p in candidates if p.is_file()] + list(root.glob(POSE2SIM_VIDEO_GLOB))
