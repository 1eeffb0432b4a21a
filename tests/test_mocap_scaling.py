"""`scaling: mocap`: the dataset's scaled model with the marker set placed on its bones.

Checked against OpenSim's own scaling (the markers must land where `Model.scale` puts
them) and, on a synthetic subject whose mocap model is the truth, through IK: the exact
markers of a trial must give back the generating joint angles.
"""

from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import opensim as osim
import pytest

from posebench.datasets.synthetic import generate_subject
from posebench.markersets import get_marker_set
from posebench.opensim.scaling import place_markers_on_scaled_model
from posebench.reports.kinematics import IkReport, read_scaling_report
from posebench.stages.evaluate import evaluate_trial
from posebench.stages.inverse_kinematics import inverse_kinematics_trial
from posebench.stages.scale import adopt_scaled_model

MODEL = "Model_Pose2Sim_simple.osim"
MARKERS = "Markers_LSTM.xml"


pytestmark = pytest.mark.usefixtures("opensim_log")


@pytest.fixture(scope="module")
def setup_dir(pose2sim_dir: Path) -> Path:
    return pose2sim_dir / "OpenSim_Setup"


@pytest.fixture(scope="module")
def scaled_by_opensim(
    setup_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The generic model with its LSTM markers scaled by OpenSim with random per-body
    factors; returns the model file, the factors and OpenSim's marker locations."""
    model = osim.Model(str(setup_dir / MODEL))
    model.updateMarkerSet(osim.MarkerSet(str(setup_dir / MARKERS)))
    model.finalizeConnections()
    state = model.initSystem()
    scales = osim.ScaleSet()
    rng = np.random.default_rng(3)
    factors = {}
    for i in range(model.getBodySet().getSize()):
        body = model.getBodySet().get(i).getName()
        factors[body] = rng.uniform(0.85, 1.2, 3)
        scale = osim.Scale()
        scale.setSegmentName(body)
        scale.setScaleFactors(osim.Vec3(*factors[body]))
        scale.setApply(True)
        scales.cloneAndAppend(scale)
    assert model.scale(state, scales, True, 80.0)
    markers = model.getMarkerSet()
    locations = {
        markers.get(i).getName(): markers.get(i).get_location().to_numpy()
        for i in range(markers.getSize())
    }
    path = tmp_path_factory.mktemp("scaled") / "scaled.osim"
    model.printToXML(str(path))
    return path, factors, locations


def test_markers_land_where_opensim_scales_them(
    setup_dir: Path, scaled_by_opensim: tuple[Path, dict, dict], tmp_path: Path
) -> None:
    scaled, factors, expected = scaled_by_opensim
    output = tmp_path / "with_markers.osim"
    used, _ = place_markers_on_scaled_model(
        scaled_model=scaled,
        generic_model=setup_dir / MODEL,
        marker_set=setup_dir / MARKERS,
        output_model=output,
        geometry_dir=setup_dir / "Geometry",
    )
    # The hands' geometry is scaled 0.85 in the generic model: factors are relative to it.
    for body, found in used.items():
        np.testing.assert_allclose(found, factors[body], rtol=1e-12)
    model = osim.Model(str(output))
    model.initSystem()
    markers = model.getMarkerSet()
    assert markers.getSize() == len(expected)
    for name, location in expected.items():
        np.testing.assert_allclose(
            markers.get(name).get_location().to_numpy(), location, atol=1e-12
        )


def test_a_marker_on_a_body_the_model_lacks_is_an_error(
    setup_dir: Path, scaled_by_opensim: tuple[Path, dict, dict], tmp_path: Path
) -> None:
    tree = ET.parse(setup_dir / MARKERS)
    marker = next(tree.iter("Marker"))
    name = marker.get("name")
    frame = marker.find("socket_parent_frame")
    assert frame is not None
    frame.text = "/bodyset/skull"
    broken = tmp_path / "markers.xml"
    tree.write(broken)
    with pytest.raises(ValueError, match=rf"Marker '{name}' .* is on body 'skull'"):
        place_markers_on_scaled_model(
            scaled_model=scaled_by_opensim[0],
            generic_model=setup_dir / MODEL,
            marker_set=broken,
            output_model=tmp_path / "out.osim",
            geometry_dir=None,
        )
    assert not (tmp_path / "out.osim").exists()


def test_mocap_scaling_tracks_the_subjects_own_model(
    setup_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    subject = generate_subject(
        tmp_path / "lab",
        model=setup_dir / MODEL,
        marker_set=setup_dir / MARKERS,
        geometry_dir=setup_dir / "Geometry",
        activities=("squats",),
        camera_angles_deg=(-45, 0, 45),
        mass_kg=70.0,
    )
    model, report_path = tmp_path / "scale" / "scaled.osim", tmp_path / "scale" / "scaling.json"
    with caplog.at_level(logging.WARNING):
        report = adopt_scaled_model(
            scaled_model=subject.model(),
            marker_set="anatomical",
            setup_dir=setup_dir,
            mass_kg=95.0,  # not the model's 70 kg: reported
            height_m=1.75,
            output_model=model,
            output_report=report_path,
        )
    assert read_scaling_report(report_path) == report
    assert json.loads(report_path.read_text())["scaling_mode"] == report.scaling_mode == "mocap"
    assert report.scaled_model_source.endswith("subject2_scaled.osim")
    assert all(f == (1.0, 1.0, 1.0) for f in report.marker_scale_factors.values())
    assert report.warning is not None and "is it this subject's model?" in report.warning
    assert "is it this subject's model?" in caplog.text

    # IK of the trial's exact markers on that model gives back the generating angles.
    motion = tmp_path / "ik" / "joint_angles.mot"
    ik = inverse_kinematics_trial(
        trc=subject.mocap_markers("squats1"),
        model=model,
        marker_set="anatomical",
        setup_dir=setup_dir,
        accuracy=1e-5,
        output_motion=motion,
        output_marker_errors=tmp_path / "ik" / "errors.sto",
        output_report=tmp_path / "ik" / "ik.json",
    )
    assert IkReport.read(tmp_path / "ik" / "ik.json") == ik
    assert ik.ik_tasks_left_out  # the anatomical set switches the lumbar prior off
    aliases = get_marker_set("anatomical").coordinate_aliases
    scores = evaluate_trial(
        motion,
        subject.ground_truth_motion("squats1"),
        prediction_aliases=aliases,
        ground_truth_aliases=aliases,
    )
    # The floor is IK's convergence with 29 markers (subtalar is the least determined).
    assert (scores["lag_frames"] == 0).all()
    assert scores["rmse_deg_unshifted"].mean() < 0.2, scores
    assert scores["rmse_deg_unshifted"].max() < 0.5, scores
