"""Tests of OpenSim scaling and inverse kinematics on a synthetic trial, of the set-up
adaptation to a marker set and of the stages' reports.

The trial is made from the generic Pose2Sim model itself: its BlazePose markers are
computed in ground while a few coordinates follow a known smooth motion, after a static
start in the model's default pose. Scaling must then give factors of ~1 and IK must recover
the motion. The set-up adaptation and the reports are tested on in-memory content.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import opensim as osim
import pytest

from posebench.io.errors import UnreadableFileError
from posebench.io.mot import read_mot
from posebench.io.trc import read_trc, write_trc
from posebench.markersets import get_marker_set
from posebench.opensim.ik import run_inverse_kinematics
from posebench.opensim.scaling import ScaleResult, scale_model
from posebench.opensim.setups import adapt_ik_tree, adapt_scaling_tree
from posebench.reports.kinematics import (
    IkReport,
    MocapScalingReport,
    VideoScalingReport,
    read_scaling_report,
    scaling_report_from_json,
)
from posebench.stages.inverse_kinematics import inverse_kinematics_trial
from posebench.stages.scale import scale_session
from posebench.timeseries import select_static_window

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
    # In a process of its own, as a workflow job runs it: once (1 of 3 clean-clone CI runs,
    # not reproducible since), in the long-lived test process that had loaded ONNX Runtime,
    # torch and MediaPipe before, OpenSim's MarkerPlacer failed with std::bad_alloc.
    script = textwrap.dedent(
        f"""
        import json
        from pathlib import Path
        from posebench.io.trc import read_trc
        from posebench.opensim.scaling import scale_model
        from posebench.timeseries import select_static_window
        setup_dir = Path({str(trial.setup_dir)!r})
        data = read_trc(Path({str(trial.trc)!r}))
        result = scale_model(
            generic_model=setup_dir / {MODEL!r},
            marker_set=setup_dir / {MARKER_SET!r},
            scaling_setup=Path({str(setup)!r}),
            trc=Path({str(trial.trc)!r}),
            mass_kg={MASS_KG!r},
            height_m=1.75,
            time_range_s=select_static_window(data.positions_m, data.times_s, 0.1),
            output_model=Path({str(tmp_path / "placed.osim")!r}),
            geometry_dir=setup_dir / "Geometry",
        )
        print("RESULT", json.dumps([str(result.output_model), result.scale_factors]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    model, factors = json.loads(line.removeprefix("RESULT "))
    assert model == str(tmp_path / "placed.osim") and Path(model).is_file()
    assert all(0.95 <= f <= 1.05 for fs in factors.values() for f in fs)


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
        from posebench.opensim.logging import configure_opensim_logging
        from posebench.opensim.scaling import scale_model
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


def test_stages_write_the_reports_they_return(trial: Trial, tmp_path: Path) -> None:
    scaling = scale_session(
        trc=trial.trc,
        marker_set="blazepose",
        setup_dir=trial.setup_dir,
        mass_kg=MASS_KG,
        height_m=None,
        window_s=0.1,
        output_model=tmp_path / "scale" / "scaled.osim",
        output_report=tmp_path / "scale" / "scaling.json",
    )
    assert read_scaling_report(tmp_path / "scale" / "scaling.json") == scaling
    assert isinstance(scaling, VideoScalingReport) and scaling.height_m is None
    assert scaling.static_window_s[1] <= (N_STATIC - 1) / RATE_HZ + 1e-9
    assert scaling.scaling_setup_changes == {
        "replaced": (),
        "dropped_pairs": (),
        "switched_off": (),
    }
    ik = inverse_kinematics_trial(
        trc=trial.trc,
        model=tmp_path / "scale" / "scaled.osim",
        marker_set="blazepose",
        setup_dir=trial.setup_dir,
        accuracy=1e-5,
        output_motion=tmp_path / "ik" / "joint_angles.mot",
        output_marker_errors=tmp_path / "ik" / "marker_errors.sto",
        output_report=tmp_path / "ik" / "ik.json",
    )
    assert IkReport.read(tmp_path / "ik" / "ik.json") == ik
    assert ik.frames == N_FRAMES and ik.rms_marker_error_m < 0.01


IK_SETUP_XML = """<OpenSimDocument><InverseKinematicsTool name="ik"><IKTaskSet><objects>
<IKMarkerTask name="LHip"><apply>true</apply><weight>1</weight></IKMarkerTask>
<IKMarkerTask name="RKnee"><apply>true</apply></IKMarkerTask>
<IKMarkerTask name="Gone"><apply>true</apply><weight>1</weight></IKMarkerTask>
<IKCoordinateTask name="lumbar"><apply>true</apply></IKCoordinateTask>
<IKCoordinateTask name="off"><apply>false</apply></IKCoordinateTask>
</objects></IKTaskSet></InverseKinematicsTool></OpenSimDocument>"""

SCALING_SETUP_XML = """<OpenSimDocument><ScaleTool name="s"><ModelScaler><MeasurementSet><objects>
<Measurement name="femur"><apply>true</apply><MarkerPairSet><objects>
<MarkerPair><markers> LHip LKnee</markers></MarkerPair>
<MarkerPair><markers> Gone LKnee</markers></MarkerPair>
</objects></MarkerPairSet></Measurement>
<Measurement name="arm"><apply>true</apply><MarkerPairSet><objects>
<MarkerPair><markers> Gone LWrist</markers></MarkerPair>
</objects></MarkerPairSet></Measurement>
<Measurement name="pelvis"><apply>true</apply><MarkerPairSet><objects>
<MarkerPair><markers> A B</markers></MarkerPair>
</objects></MarkerPairSet></Measurement>
</objects></MeasurementSet></ModelScaler>
<MarkerPlacer><IKTaskSet><objects>
<IKMarkerTask name="LHip"/><IKMarkerTask name="Gone"/>
</objects></IKTaskSet></MarkerPlacer></ScaleTool></OpenSimDocument>"""


def test_ik_setup_adaptation() -> None:
    markers = replace(
        get_marker_set("blazepose"),
        ik_weights={"LHip": 2.5, "RKnee": 0.5},
        ik_coordinate_tasks=False,
    )
    tree = ET.ElementTree(ET.fromstring(IK_SETUP_XML))
    assert adapt_ik_tree(markers, tree) == ["Gone", "lumbar"]  # "off" was already off
    tasks = {task.get("name"): task for task in tree.iter("IKMarkerTask")}
    assert set(tasks) == {"LHip", "RKnee"}
    assert tasks["LHip"].findtext("weight") == "2.5"
    assert tasks["RKnee"].findtext("weight") == "0.5"
    assert [task.findtext("apply") for task in tree.iter("IKCoordinateTask")] == ["false"] * 2


def test_scaling_setup_adaptation() -> None:
    markers = replace(get_marker_set("blazepose"), scaling_pairs={"pelvis": (("RHip", "LHip"),)})
    tree = ET.ElementTree(ET.fromstring(SCALING_SETUP_XML))
    assert adapt_scaling_tree(markers, tree) == {
        "replaced": ["pelvis"],
        "dropped_pairs": ["femur: Gone LKnee", "arm: Gone LWrist"],
        "switched_off": ["arm"],
    }
    measurements = {m.get("name"): m for m in tree.iter("Measurement")}
    pairs = {
        name: [pair.findtext("markers") for pair in m.iter("MarkerPair")]
        for name, m in measurements.items()
    }
    assert pairs == {"femur": [" LHip LKnee"], "arm": [], "pelvis": [" RHip LHip"]}
    assert [m.findtext("apply") for m in measurements.values()] == ["true", "false", "true"]
    assert [task.get("name") for task in tree.iter("IKMarkerTask")] == ["LHip"]


def _reports() -> list[VideoScalingReport | MocapScalingReport | IkReport]:
    video = VideoScalingReport(
        trc="results/triangulate/a/markers.trc",
        marker_set="blazepose",
        opensim_files={"model": "resources/m.osim"},
        scaling_setup_changes={"replaced": ("pelvis",), "dropped_pairs": (), "switched_off": ()},
        mass_kg=70,
        height_m=None,
        scaling_markers=("LHip", "RHip"),
        static_window_s=(0.45, 0.94),
        model_mass_kg=70.00000000000001,
        scale_factors={"pelvis": (0.94003, 0.94003, 0.94003)},
    )
    mocap = MocapScalingReport(
        scaled_model_source="data/s.osim",
        marker_set="anatomical",
        opensim_files={"model": "resources/m.osim"},
        mass_kg=95.0,
        height_m=1.75,
        model_mass_kg=70.0,
        marker_scale_factors={"femur_r": (1.0, 1.1, 1.2)},
        warning="the model weighs 70.0 kg",
    )
    ik = IkReport(
        trc="results/triangulate/a/markers.trc",
        model="results/scale/a/scaled.osim",
        ik_setup="resources/ik.xml",
        ik_tasks_left_out=("Gone",),
        ik_weights_overridden={"LHip": 2.5},
        accuracy=1e-5,
        frames=166,
        time_range_s=(0.0, 1.65),
        rms_marker_error_m=0.029,
        max_marker_error_m=0.09,
    )
    return [video, mocap, replace(mocap, warning=None), ik]


@pytest.mark.parametrize("report", _reports(), ids=["video", "mocap", "mocap_ok", "ik"])
def test_reports_round_trip_through_json(
    report: VideoScalingReport | MocapScalingReport | IkReport,
) -> None:
    content = json.loads(json.dumps(report.to_json(), sort_keys=True))
    assert content == report.to_json()  # lists for tuples: what a reader of the file sees
    assert type(report).from_json(content) == report
    if not isinstance(report, IkReport):
        assert scaling_report_from_json(content) == report


def test_mocap_report_has_a_warning_only_when_there_is_one() -> None:
    _, warned, fine, _ = _reports()
    assert warned.to_json()["warning"] == "the model weighs 70.0 kg"
    assert "warning" not in fine.to_json()


def test_reports_name_the_file_they_cannot_read(tmp_path: Path) -> None:
    ik = _reports()[-1].to_json()
    del ik["frames"]
    path = tmp_path / "ik.json"
    path.write_text(json.dumps(ik))
    with pytest.raises(UnreadableFileError, match=r"ik\.json: the IK report lacks frames"):
        IkReport.read(path)
    path.write_text(json.dumps({**_reports()[0].to_json(), "scaling_mode": "magic"}))
    with pytest.raises(UnreadableFileError, match=r"scaling_mode is 'magic'"):
        read_scaling_report(path)
    with pytest.raises(ValueError, match="expected 'video'"):
        VideoScalingReport.from_json(_reports()[1].to_json())


def test_motion_check_names_the_non_finite_coordinates(tmp_path: Path) -> None:
    """The IK result check (read without pandas) names the rows, unit and coordinates."""
    import pandas as pd

    from posebench.io.mot import write_mot
    from posebench.opensim.ik import _check_motion, marker_error_summary

    table = pd.DataFrame(
        {"time": [0.0, 0.01], "knee_angle_r": [1.0, np.nan], "hip_flexion_r": [1.0, 2.0]}
    )
    motion = tmp_path / "angles.mot"
    write_mot(motion, table, name="Coordinates", in_degrees=True)
    with pytest.raises(RuntimeError, match=r"IK: non-finite values in coordinates \['knee"):
        _check_motion(motion, 2, (0.0, 0.01), "IK")
    with pytest.raises(RuntimeError, match="the motion has 2 rows, expected 3"):
        _check_motion(motion, 3, (0.0, 0.02), "IK")
    write_mot(motion, table.fillna(0.0), name="Coordinates", in_degrees=False)
    with pytest.raises(RuntimeError, match="inDegrees=no"):
        _check_motion(motion, 2, (0.0, 0.01), "IK")
    errors = tmp_path / "errors.sto"
    write_mot(
        errors,
        pd.DataFrame(
            {
                "time": [0.0, 0.01],
                "marker_error_RMS": [0.03, 0.04],
                "marker_error_max": [0.05, 0.07],
            }
        ),
        name="errors",
        in_degrees=False,
    )
    rms, largest = marker_error_summary(errors)
    assert rms == pytest.approx(np.sqrt((0.03**2 + 0.04**2) / 2))
    assert largest == pytest.approx(0.07)
