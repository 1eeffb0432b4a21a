"""Tests of OpenSim scaling and inverse kinematics on a synthetic trial.

The trial is made from the generic Pose2Sim model itself: its BlazePose markers are
computed in ground while a few coordinates follow a known smooth motion, after a static
start in the model's default pose. Scaling must then give factors of ~1 and IK must recover
the motion.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import opensim as osim
import pytest

from posebench.io.mot import read_mot
from posebench.io.trc import read_trc, write_trc
from posebench.kinematics import (
    ScaleResult,
    run_inverse_kinematics,
    scale_model,
    select_static_window,
)

RATE_HZ = 100.0
N_FRAMES = 60
N_STATIC = 15
MASS_KG = 70.0
MODEL = "Model_Pose2Sim_simple.osim"
MARKER_SET = "Markers_BlazePose.xml"
SCALING_SETUP = "Scaling_Setup_Pose2Sim_Blazepose.xml"
IK_SETUP = "IK_Setup_Pose2Sim_Blazepose.xml"


@dataclass(frozen=True)
class Trial:
    """A synthetic marker trial and the coordinate values (rad or m) that produced it."""

    trc: Path
    setup_dir: Path
    times_s: np.ndarray
    truth: dict[str, np.ndarray]


pytestmark = pytest.mark.usefixtures("opensim_log")


@pytest.fixture(scope="module")
def trial(pose2sim_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Trial:
    setup_dir = pose2sim_dir / "OpenSim_Setup"
    model = osim.Model(str(setup_dir / MODEL))
    model.updateMarkerSet(osim.MarkerSet(str(setup_dir / MARKER_SET)))
    state = model.initSystem()
    coordinates = model.getCoordinateSet()
    markers = model.getMarkerSet()
    names = [markers.get(i).getName() for i in range(markers.getSize())]

    times = np.arange(N_FRAMES) / RATE_HZ
    # 0 during the static start, then a smooth rise to 1 over 0.4 s.
    ramp = np.clip((times - N_STATIC / RATE_HZ) / 0.4, 0.0, 1.0)
    ramp = 0.5 - 0.5 * np.cos(np.pi * ramp)
    changes = {  # inside the coordinate ranges, so clamping does not alter the truth
        "hip_flexion_r": 0.7 * ramp,
        "knee_angle_r": 1.0 * ramp,
        "ankle_angle_r": 0.25 * ramp,
        "hip_flexion_l": -0.2 * ramp,
        "knee_angle_l": 0.4 * ramp,
        "ankle_angle_l": -0.15 * ramp,
        "pelvis_ty": -0.05 * ramp,
    }
    truth = {
        name: coordinates.get(name).getDefaultValue() + change for name, change in changes.items()
    }
    positions = np.empty((N_FRAMES, len(names), 3))
    for frame in range(N_FRAMES):
        for name, values in truth.items():
            coordinates.get(name).setValue(state, float(values[frame]), False)
        model.realizePosition(state)
        for m, name in enumerate(names):
            location = markers.get(name).getLocationInGround(state)
            positions[frame, m] = [location[0], location[1], location[2]]
    trc = tmp_path_factory.mktemp("trial") / "synthetic.trc"
    write_trc(trc, names, times, positions, data_rate_hz=RATE_HZ)
    return Trial(trc=trc, setup_dir=setup_dir, times_s=times, truth=truth)


def _scale(
    trial: Trial, trc: Path, output_model: Path, scaling_setup: Path | None = None
) -> ScaleResult:
    data = read_trc(trc)
    return scale_model(
        generic_model=trial.setup_dir / MODEL,
        marker_set=trial.setup_dir / MARKER_SET,
        scaling_setup=scaling_setup or trial.setup_dir / SCALING_SETUP,
        trc=trc,
        mass_kg=MASS_KG,
        height_m=1.75,
        time_range_s=select_static_window(data.positions_m, data.times_s, 0.1),
        output_model=output_model,
        geometry_dir=trial.setup_dir / "Geometry",
    )


@pytest.fixture(scope="module")
def scaled(trial: Trial, tmp_path_factory: pytest.TempPathFactory) -> ScaleResult:
    return _scale(trial, trial.trc, tmp_path_factory.mktemp("scaled") / "scaled.osim")


def test_static_window_is_the_still_start(trial: Trial) -> None:
    data = read_trc(trial.trc)
    start, end = select_static_window(data.positions_m, data.times_s, 0.1)
    assert start >= 0.0 and end <= (N_STATIC - 1) / RATE_HZ + 1e-9
    assert end - start == pytest.approx(0.09)


def test_static_window_skips_incomplete_frames() -> None:
    times = np.arange(10) / 10.0
    positions = np.zeros((10, 2, 3))
    positions[:, 0, 0] = np.linspace(0.0, 1.0, 10) ** 2  # slowest at the start
    positions[0:3, 1] = np.nan
    assert select_static_window(positions, times, 0.2) == (0.3, 0.4)
    assert select_static_window(positions, times, 0.01) == (0.3, 0.3)
    positions[5, 0] = np.nan
    with pytest.raises(
        ValueError, match="6 of 10 frames have all markers.* longest run of such frames is 4"
    ):
        select_static_window(positions, times, 0.5)


def test_scaling_recovers_the_generic_model(scaled: ScaleResult) -> None:
    assert scaled.output_model.is_file()
    assert {"pelvis", "femur_r", "tibia_r", "torso", "humerus_l"} <= set(scaled.scale_factors)
    for body, factors in scaled.scale_factors.items():
        assert all(0.95 <= f <= 1.05 for f in factors), (body, factors)
    assert scaled.total_mass_kg == pytest.approx(MASS_KG)
    assert osim.Model(str(scaled.output_model)).getMarkerSet().getSize() == 25


def test_scaling_with_marker_placement(trial: Trial, tmp_path: Path) -> None:
    """With the MarkerPlacer applied, ScaleTool.run()'s return value is checked and its
    model is the output."""
    tree = ET.parse(trial.setup_dir / SCALING_SETUP)
    apply = tree.getroot().find("ScaleTool/MarkerPlacer/apply")
    assert apply is not None and apply.text == "false"
    apply.text = "true"
    # The setup's relative paths do not resolve from tmp_path: scale_model must not use them.
    setup = tmp_path / "setup_with_marker_placement.xml"
    tree.write(setup)
    result = _scale(trial, trial.trc, tmp_path / "placed.osim", scaling_setup=setup)
    assert result.output_model.is_file()
    assert all(0.95 <= f <= 1.05 for fs in result.scale_factors.values() for f in fs)


def test_inverse_kinematics_recovers_the_motion(
    trial: Trial, scaled: ScaleResult, tmp_path: Path
) -> None:
    result = run_inverse_kinematics(
        model=scaled.output_model,
        ik_setup=trial.setup_dir / IK_SETUP,
        trc=trial.trc,
        output_motion=tmp_path / "out" / "ik.mot",
        output_marker_errors=tmp_path / "out" / "ik_marker_errors.sto",
        geometry_dir=trial.setup_dir / "Geometry",
    )
    assert result.n_frames == N_FRAMES
    assert result.time_range_s == pytest.approx((0.0, (N_FRAMES - 1) / RATE_HZ))
    assert result.rms_marker_error_m < 0.01
    assert result.max_marker_error_m < 0.02
    assert result.output_marker_errors.is_file()
    motion = read_mot(result.output_motion).table
    np.testing.assert_allclose(motion["time"], trial.times_s, atol=1e-6)
    for name in ("hip_flexion_r", "knee_angle_r", "hip_flexion_l", "knee_angle_l"):
        error_deg = motion[name].to_numpy() - np.degrees(trial.truth[name])
        assert np.abs(error_deg).max() < 2.0, name


def test_inverse_kinematics_rejects_frames_without_markers(
    trial: Trial, scaled: ScaleResult, tmp_path: Path
) -> None:
    data = read_trc(trial.trc)
    positions = data.positions_m.copy()
    positions[20:23] = np.nan
    trc = tmp_path / "gaps.trc"
    write_trc(trc, data.marker_names, data.times_s, positions, data_rate_hz=RATE_HZ)
    with pytest.raises(
        ValueError,
        match=r"gaps\.trc: 3 frames .* none of the 25 IK markers "
        r"\(Frame# \[21, 22, 23\]\); trim or fill",
    ):
        run_inverse_kinematics(
            model=scaled.output_model,
            ik_setup=trial.setup_dir / IK_SETUP,
            trc=trc,
            output_motion=tmp_path / "ik.mot",
            output_marker_errors=tmp_path / "errors.sto",
            geometry_dir=None,
        )
    assert not (tmp_path / "ik.mot").exists()


def test_wrong_marker_set_is_reported(trial: Trial, scaled: ScaleResult, tmp_path: Path) -> None:
    data = read_trc(trial.trc)
    trc = tmp_path / "coco.trc"
    names = [name.lower() for name in data.marker_names]
    write_trc(trc, names, data.times_s, data.positions_m, data_rate_hz=RATE_HZ)
    with pytest.raises(ValueError, match=r"coco\.trc: markers \['Nose', .* are not in the TRC"):
        run_inverse_kinematics(
            model=scaled.output_model,
            ik_setup=trial.setup_dir / IK_SETUP,
            trc=trc,
            output_motion=tmp_path / "ik.mot",
            output_marker_errors=tmp_path / "errors.sto",
            geometry_dir=None,
        )
    with pytest.raises(
        ValueError,
        match=r"coco\.trc: markers \[.*'LHip'.*\] used by the "
        "measurements",
    ):
        _scale(trial, trc, tmp_path / "scaled.osim")


def test_implausible_scale_factor_is_reported(trial: Trial, tmp_path: Path) -> None:
    data = read_trc(trial.trc)
    trc = tmp_path / "giant.trc"  # e.g. millimetres written as metres
    write_trc(trc, data.marker_names, data.times_s, 4.0 * data.positions_m, data_rate_hz=RATE_HZ)
    with pytest.raises(
        ValueError,
        match=r"body '\w+' got scale factors \(3\.99\d*, .*expected each in \[0\.3, 3\.0\]",
    ):
        _scale(trial, trc, tmp_path / "scaled.osim")
    assert not (tmp_path / "scaled.osim").exists()


def test_logging_goes_to_the_given_file(trial: Trial, tmp_path: Path) -> None:
    """In a fresh process, nothing lands in the working directory or next to the inputs."""
    setup_dir = tmp_path / "setup"
    setup_dir.mkdir()
    for name in (MODEL, MARKER_SET, SCALING_SETUP):
        shutil.copy(trial.setup_dir / name, setup_dir / name)
    work = tmp_path / "work"
    work.mkdir()
    log = tmp_path / "logs" / "scale.log"
    script = textwrap.dedent(
        f"""
        from pathlib import Path
        from posebench.kinematics import configure_opensim_logging, scale_model
        configure_opensim_logging(Path({str(log)!r}), level="Info")
        scale_model(
            generic_model=Path({str(setup_dir / MODEL)!r}),
            marker_set=Path({str(setup_dir / MARKER_SET)!r}),
            scaling_setup=Path({str(setup_dir / SCALING_SETUP)!r}),
            trc=Path({str(trial.trc)!r}), mass_kg=70.0, height_m=None,
            time_range_s=(0.0, 0.09), output_model=Path("scaled.osim"), geometry_dir=None,
        )
        """
    )
    subprocess.run(
        [sys.executable, "-c", script],
        cwd=work,
        check=True,
        env=os.environ.copy(),
        capture_output=True,
        timeout=120,
    )
    assert sorted(p.name for p in work.iterdir()) == ["scaled.osim"]
    assert not (setup_dir / "opensim.log").exists()
    assert "Step 2: Scaling generic model" in log.read_text()
