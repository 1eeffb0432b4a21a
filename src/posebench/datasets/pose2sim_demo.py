"""Adapter for the Pose2Sim demo (`Demo_SinglePerson`): 4 Qualisys-calibrated cameras.

Layout read: `Config.toml` (participant mass and height; the frame rate unless 'auto'),
`calibration/Calib.qca.txt`, `videos/<camera>.mp4`. The demo's world frame is the lab
floor, z up; it is rotated into OpenSim's y-up frame by -90 degrees about x.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from posebench.calibration import read_qualisys_qca
from posebench.camera import save_cameras
from posebench.datasets.layout import (
    POSE2SIM_CALIBRATION_FILE,
    POSE2SIM_CONFIG_FILE,
    POSE2SIM_VIDEO_GLOB,
)
from posebench.datasets.sheet import SampleSheetError, calibration_file

SUBJECT = "P00"
SESSION = "S00"
TRIAL = "balancing"
# (x, y, z) z-up lab frame -> (x, z, -y) OpenSim frame with y up.
Z_UP_TO_OPENSIM = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def _project(config_path: Path) -> tuple[float, float, float | None]:
    """Mass (kg), height (m, NaN for 'auto') and frame rate (fps, None for 'auto') from the
    demo's Config.toml."""
    if not config_path.is_file():
        raise SampleSheetError(f"Pose2Sim demo config not found: {config_path}")
    project = tomllib.loads(config_path.read_text()).get("project", {})
    mass = project.get("participant_mass")
    if not isinstance(mass, int | float) or mass <= 0:
        raise SampleSheetError(
            f"{config_path}: [project] participant_mass is {mass!r}; expected a number in kg"
        )
    height = project.get("participant_height")
    fps = project.get("frame_rate")
    if fps != "auto" and not (isinstance(fps, int | float) and fps > 0):
        raise SampleSheetError(
            f"{config_path}: [project] frame_rate is {fps!r}; expected a number of frames per "
            "second or 'auto'"
        )
    return (
        float(mass),
        float(height) if isinstance(height, int | float) else math.nan,
        float(fps) if isinstance(fps, int | float) else None,
    )


def describe_pose2sim_demo(
    root: Path, dataset: str, calibration_dir: Path, options: Mapping[str, Any]
) -> pd.DataFrame:
    """Describe the demo under `root`; write its calibration JSON under `calibration_dir`.

    The demo has one trial and no ground truth; `options` has nothing to select.
    """
    qca = root.joinpath(*POSE2SIM_CALIBRATION_FILE)
    cameras = read_qualisys_qca(qca)
    video_dir = root / Path(POSE2SIM_VIDEO_GLOB).parent
    videos = {p.stem: p for p in sorted(root.glob(POSE2SIM_VIDEO_GLOB))}
    names = [camera.name for camera in cameras]
    if sorted(videos) != sorted(names):
        raise SampleSheetError(
            f"{root}: calibrated cameras {names} do not match videos {sorted(videos)} in "
            f"{video_dir}. Each camera needs exactly one <camera>.mp4."
        )
    config = root / POSE2SIM_CONFIG_FILE
    mass_kg, height_m, fps = _project(config)
    calibration = calibration_file(calibration_dir, SUBJECT, SESSION)
    save_cameras(
        calibration,
        cameras,
        metadata={
            "source": str(qca),
            "world_to_opensim": Z_UP_TO_OPENSIM.tolist(),
            **({} if fps is None else {"fps": fps, "fps_source": str(config)}),
        },
    )
    rows = [
        {
            "dataset": dataset,
            "subject": SUBJECT,
            "session": SESSION,
            "trial": TRIAL,
            "camera": name,
            "video": str(videos[name]),
            "calibration": str(calibration),
            "mass_kg": mass_kg,
            "height_m": height_m,
            "activity": TRIAL,
            "scaling_session": SESSION,
            "scaling_trial": TRIAL,
            "scaling_model": "",
            "ground_truth": "",
            "evaluate": "no",
        }
        for name in names
    ]
    return pd.DataFrame(rows)
