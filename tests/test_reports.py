"""The reports of `posebench.reports`: JSON round trips, the exact JSON each kind writes, and
errors naming a missing key. Values are those of the Pose2Sim demo trial, shortened."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import pytest

from posebench.io.atomic import write_json
from posebench.reports.augmentation import AugmentationReport
from posebench.reports.fields import (
    dataclass_from_json,
    dataclass_to_json,
    json_keys,
    require_keys,
    to_json_value,
)
from posebench.reports.kinematics import (
    IkReport,
    MocapScalingReport,
    VideoScalingReport,
    scaling_report_from_json,
)
from posebench.reports.triangulation import (
    CameraQuality,
    CameraSyncReport,
    SyncReport,
    TriangulationReport,
)

QUALITY = CameraQuality(detection_fraction=1.0, median_reprojection_error_px=13.935989786327042)
DROPPED_QUALITY = CameraQuality(detection_fraction=0.11, median_reprojection_error_px=None)
CAMERA_SYNC = CameraSyncReport(
    offset_frames=0,
    error_px_at_zero=28.584501867894446,
    error_px_at_offset=28.584501867894446,
    error_px_by_offset=(31.900927211294803, None, 28.584501867894446),
    frames=84,
    observations=2771,
    not_measured=None,
)
UNMEASURED_SYNC = CameraSyncReport(
    offset_frames=None,
    error_px_at_zero=None,
    error_px_at_offset=None,
    error_px_by_offset=(),
    frames=0,
    observations=0,
    not_measured="fewer than 10 usable frames",
)
SYNC = SyncReport(
    enabled=True,
    max_offset_frames=1,
    correct=False,
    applied=False,
    min_improvement_fraction=0.2,
    min_improvement_px=1.0,
    max_evaluated_frames=500,
    cameras={"cam01": CAMERA_SYNC, "cam02": UNMEASURED_SYNC},
)
TRIANGULATION = TriangulationReport(
    cameras_configured=("cam01", "cam02", "cam03"),
    cameras_used=("cam01", "cam02"),
    cameras_dropped={"cam03": "person detected in 11 of 100 frames"},
    camera_quality={"cam01": QUALITY, "cam03": DROPPED_QUALITY},
    keypoint_files=("pose2d/cam01.npz", "pose2d/cam02.npz", "pose2d/cam03.npz"),
    video_fps=60.0,
    time_base_fps=60.0,
    time_base_source="video header",
    video_frames=100,
    output_rate_hz=100.0,
    output_frames=166,
    dropped_empty_frames=0,
    trimmed_leading_frames=1,
    trimmed_trailing_frames=2,
    start_time_s=0.0,
    gap_filled_samples=3,
    max_gap_frames=12,
    filter_cutoff_hz=12.0,
    left_right_swapped_frames={"cam01": 0, "cam02": 30},
    sync=SYNC,
    views_rejected_fraction=0.032567494391583504,
    mean_reprojection_error_px=12.712518391807386,
    marker_valid_fraction={"LAnkle": 1.0, "LBigToe": 0.98},
)
VIDEO_SCALING = VideoScalingReport(
    trc="results/triangulate/pose2sim-demo/balancing/markers.trc",
    marker_set="blazepose",
    opensim_files={
        "model": "resources/pose2sim/Model_Pose2Sim_simple.osim",
        "scaling_setup": "resources/pose2sim/Scaling_Setup_Pose2Sim_Blazepose.xml",
    },
    scaling_setup_changes={
        "dropped_pairs": ("femur: LHip LKnee",),
        "replaced": (),
        "switched_off": ("arm",),
    },
    mass_kg=70,
    height_m=None,
    scaling_markers=("LAnkle", "LKnee", "LHip"),
    static_window_s=(0.45, 0.94),
    model_mass_kg=70.00000000000001,
    scale_factors={"femur_l": (1.00809, 1.00809, 1.00809), "pelvis": (0.94003, 0.94, 0.9)},
)
MOCAP_SCALING = MocapScalingReport(
    scaled_model_source="data/opencap/subject2/OpenSimData/Model/LaiUhlrich2022_scaled.osim",
    marker_set="anatomical",
    opensim_files={"model": "resources/opencap/LaiUhlrich2022.osim"},
    mass_kg=62.5,
    height_m=1.68,
    model_mass_kg=75.3,
    marker_scale_factors={"pelvis": (1.02, 0.98, 1.0), "tibia_l": (1.05, 1.05, 1.05)},
    warning="the scaled model weighs 75.3 kg, not 62.5 kg",
)
IK = IkReport(
    trc="results/triangulate/pose2sim-demo/balancing/markers.trc",
    model="results/scale/pose2sim-demo/scaled.osim",
    ik_setup="resources/pose2sim/IK_Setup_Pose2Sim_Blazepose.xml",
    ik_tasks_left_out=("LEye", "Nose"),
    ik_weights_overridden={"LHeel": 5.0, "RHeel": 5.0},
    accuracy=1e-05,
    frames=166,
    time_range_s=(0.0, 1.65),
    rms_marker_error_m=0.02922445651429148,
    max_marker_error_m=0.0927032,
)

CAMERA_SYNC_JSON = {
    "offset_frames": 0,
    "error_px_at_zero": 28.584501867894446,
    "error_px_at_offset": 28.584501867894446,
    "error_px_by_offset": [31.900927211294803, None, 28.584501867894446],
    "frames": 84,
    "observations": 2771,
    "not_measured": None,
}
TRIANGULATION_JSON = {
    "cameras": ["cam01", "cam02"],
    "cameras_configured": ["cam01", "cam02", "cam03"],
    "cameras_used": ["cam01", "cam02"],
    "cameras_dropped": {"cam03": "person detected in 11 of 100 frames"},
    "camera_quality": {
        "cam01": {"detection_fraction": 1.0, "median_reprojection_error_px": 13.935989786327042},
        "cam03": {"detection_fraction": 0.11, "median_reprojection_error_px": None},
    },
    "keypoint_files": ["pose2d/cam01.npz", "pose2d/cam02.npz", "pose2d/cam03.npz"],
    "video_fps": 60.0,
    "time_base_fps": 60.0,
    "time_base_source": "video header",
    "video_frames": 100,
    "output_rate_hz": 100.0,
    "output_frames": 166,
    "dropped_empty_frames": 0,
    "trimmed_leading_frames": 1,
    "trimmed_trailing_frames": 2,
    "start_time_s": 0.0,
    "gap_filled_samples": 3,
    "max_gap_frames": 12,
    "filter_cutoff_hz": 12.0,
    "left_right_swapped_frames": {"cam01": 0, "cam02": 30},
    "sync": {
        "enabled": True,
        "max_offset_frames": 1,
        "correct": False,
        "applied": False,
        "min_improvement_fraction": 0.2,
        "min_improvement_px": 1.0,
        "max_evaluated_frames": 500,
        "cameras": {
            "cam01": CAMERA_SYNC_JSON,
            "cam02": {
                "offset_frames": None,
                "error_px_at_zero": None,
                "error_px_at_offset": None,
                "error_px_by_offset": [],
                "frames": 0,
                "observations": 0,
                "not_measured": "fewer than 10 usable frames",
            },
        },
    },
    "views_rejected_fraction": 0.032567494391583504,
    "mean_reprojection_error_px": 12.712518391807386,
    "marker_valid_fraction": {"LAnkle": 1.0, "LBigToe": 0.98},
}
VIDEO_SCALING_JSON = {
    "scaling_mode": "video",
    "trc": "results/triangulate/pose2sim-demo/balancing/markers.trc",
    "marker_set": "blazepose",
    "opensim_files": {
        "model": "resources/pose2sim/Model_Pose2Sim_simple.osim",
        "scaling_setup": "resources/pose2sim/Scaling_Setup_Pose2Sim_Blazepose.xml",
    },
    "scaling_setup_changes": {
        "dropped_pairs": ["femur: LHip LKnee"],
        "replaced": [],
        "switched_off": ["arm"],
    },
    "mass_kg": 70,
    "height_m": None,
    "scaling_markers": ["LAnkle", "LKnee", "LHip"],
    "static_window_s": [0.45, 0.94],
    "model_mass_kg": 70.00000000000001,
    "scale_factors": {"femur_l": [1.00809, 1.00809, 1.00809], "pelvis": [0.94003, 0.94, 0.9]},
}
MOCAP_SCALING_JSON = {
    "scaling_mode": "mocap",
    "scaled_model_source": "data/opencap/subject2/OpenSimData/Model/LaiUhlrich2022_scaled.osim",
    "marker_set": "anatomical",
    "opensim_files": {"model": "resources/opencap/LaiUhlrich2022.osim"},
    "mass_kg": 62.5,
    "height_m": 1.68,
    "model_mass_kg": 75.3,
    "marker_scale_factors": {"pelvis": [1.02, 0.98, 1.0], "tibia_l": [1.05, 1.05, 1.05]},
    "warning": "the scaled model weighs 75.3 kg, not 62.5 kg",
}
IK_JSON = {
    "trc": "results/triangulate/pose2sim-demo/balancing/markers.trc",
    "model": "results/scale/pose2sim-demo/scaled.osim",
    "ik_setup": "resources/pose2sim/IK_Setup_Pose2Sim_Blazepose.xml",
    "ik_tasks_left_out": ["LEye", "Nose"],
    "ik_weights_overridden": {"LHeel": 5.0, "RHeel": 5.0},
    "accuracy": 1e-05,
    "frames": 166,
    "time_range_s": [0.0, 1.65],
    "rms_marker_error_m": 0.02922445651429148,
    "max_marker_error_m": 0.0927032,
}

Entry = CameraQuality | CameraSyncReport | SyncReport
"""A report entry, read with the place it stands at."""
Report = (
    TriangulationReport | VideoScalingReport | MocapScalingReport | IkReport | AugmentationReport
)
"""A report of a whole file."""

ENTRIES: dict[str, Entry] = {
    "quality": QUALITY,
    "dropped_quality": DROPPED_QUALITY,
    "camera_sync": CAMERA_SYNC,
    "unmeasured_sync": UNMEASURED_SYNC,
    "sync": SYNC,
}
AUGMENTATION = AugmentationReport(
    trc="results/triangulate/pose2sim-demo/P00/S00/balancing/m/all/markers.trc",
    marker_set="blazepose-lstm",
    augmenter="lstm-v0.3",
    augmenter_dir="resources/pose2sim/MarkerAugmenter/LSTM",
    input_markers=("Neck", "RHip", "LHip"),
    output_markers=("r.ASIS_study", "L.ASIS_study"),
    mass_kg=70.0,
    height_m=1.7261,
    height_source="estimated",
    height_estimate={"height_m": 1.7261, "window_s": [0.1, 0.6], "method": "..."},
    frames=201,
    frames_augmented=196,
    segments=((0, 100), (105, 201)),
)
AUGMENTATION_JSON = {
    "trc": "results/triangulate/pose2sim-demo/P00/S00/balancing/m/all/markers.trc",
    "marker_set": "blazepose-lstm",
    "augmenter": "lstm-v0.3",
    "augmenter_dir": "resources/pose2sim/MarkerAugmenter/LSTM",
    "input_markers": ["Neck", "RHip", "LHip"],
    "output_markers": ["r.ASIS_study", "L.ASIS_study"],
    "mass_kg": 70.0,
    "height_m": 1.7261,
    "height_source": "estimated",
    "height_estimate": {"height_m": 1.7261, "window_s": [0.1, 0.6], "method": "..."},
    "frames": 201,
    "frames_augmented": 196,
    "segments": [[0, 100], [105, 201]],
}
REPORTS: dict[str, Report] = {
    "triangulation": TRIANGULATION,
    "triangulation_unsynchronised": replace(TRIANGULATION, sync=None, filter_cutoff_hz=None),
    "video_scaling": VIDEO_SCALING,
    "mocap_scaling": MOCAP_SCALING,
    "mocap_scaling_without_warning": replace(MOCAP_SCALING, warning=None, height_m=None),
    "ik": IK,
    "augmentation": AUGMENTATION,
    "augmentation_from_metadata": replace(
        AUGMENTATION, height_source="metadata", height_estimate=None
    ),
}
EXACT_JSON: dict[str, tuple[Report | Entry, dict[str, Any]]] = {
    "triangulation": (TRIANGULATION, TRIANGULATION_JSON),
    "video_scaling": (VIDEO_SCALING, VIDEO_SCALING_JSON),
    "mocap_scaling": (MOCAP_SCALING, MOCAP_SCALING_JSON),
    "ik": (IK, IK_JSON),
    "augmentation": (AUGMENTATION, AUGMENTATION_JSON),
    "camera_sync": (CAMERA_SYNC, CAMERA_SYNC_JSON),
}


def _through_a_file(content: dict[str, Any]) -> Any:
    """`content` as a reader of the written file gets it back."""
    return json.loads(json.dumps(content, indent=2, sort_keys=True))


# ------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("name", sorted(REPORTS))
def test_report_round_trip(name: str) -> None:
    report = REPORTS[name]
    content = _through_a_file(report.to_json())
    assert content == report.to_json()  # lists for tuples: what a reader of the file sees
    assert type(report).from_json(content) == report
    if isinstance(report, TriangulationReport):
        assert TriangulationReport.from_json(content, require_all=True) == report
    if isinstance(report, VideoScalingReport | MocapScalingReport):
        assert scaling_report_from_json(content) == report


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_entry_round_trip(name: str) -> None:
    entry = ENTRIES[name]
    content = _through_a_file(entry.to_json())
    assert content == entry.to_json()
    assert type(entry).from_json(content, "the entry") == entry


def test_reports_read_from_json_hold_tuples() -> None:
    report = TriangulationReport.from_json(_through_a_file(TRIANGULATION_JSON))
    assert report.cameras_used == ("cam01", "cam02")
    assert report.sync is not None
    assert report.sync.cameras["cam01"].error_px_by_offset == CAMERA_SYNC.error_px_by_offset
    scaling = VideoScalingReport.from_json(_through_a_file(VIDEO_SCALING_JSON))
    assert scaling.scaling_setup_changes["switched_off"] == ("arm",)
    assert scaling.scale_factors["pelvis"] == (0.94003, 0.94, 0.9)
    assert IkReport.from_json(_through_a_file(IK_JSON)).time_range_s == (0.0, 1.65)


# ------------------------------------------------------------------------ the exact JSON


@pytest.mark.parametrize("name", sorted(EXACT_JSON))
def test_report_writes_exactly_this_json(name: str) -> None:
    report, expected = EXACT_JSON[name]
    content = report.to_json()
    assert content == expected  # lists, not tuples
    # ints stay ints and floats floats, which `==` does not tell apart
    assert json.dumps(content, sort_keys=True) == json.dumps(expected, sort_keys=True)


def test_triangulation_report_file_bytes(tmp_path: Path) -> None:
    path = tmp_path / "triangulation.json"
    TRIANGULATION.write(path)
    assert path.read_text() == json.dumps(TRIANGULATION_JSON, indent=2, sort_keys=True) + "\n"


@pytest.mark.parametrize("name", ["video_scaling", "mocap_scaling", "ik"])
def test_kinematics_report_file_bytes(name: str, tmp_path: Path) -> None:
    report, expected = EXACT_JSON[name]
    path = tmp_path / "report.json"
    write_json(path, report.to_json())
    assert path.read_text() == json.dumps(expected, indent=2, sort_keys=True) + "\n"


def test_mocap_report_writes_a_warning_only_when_there_is_one() -> None:
    content = replace(MOCAP_SCALING, warning=None).to_json()
    assert content == {key: v for key, v in MOCAP_SCALING_JSON.items() if key != "warning"}
    assert MocapScalingReport.from_json(content).warning is None


def test_triangulation_report_writes_the_cameras_used_as_cameras() -> None:
    content = TRIANGULATION.to_json()
    assert content["cameras"] == content["cameras_used"] == ["cam01", "cam02"]
    assert content["cameras"] is not content["cameras_used"]


# ------------------------------------------------------------------------ missing keys


def _without(content: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in content.items() if k != key}


LATER_KEYS: tuple[str, ...] = ("cameras_configured", "cameras_used", "cameras_dropped")
LATER_KEYS += ("camera_quality", "time_base_fps", "time_base_source", "sync")
"""Keys of `triangulation.json` that older reports lack."""


@pytest.mark.parametrize("key", sorted(set(TRIANGULATION_JSON) - set(LATER_KEYS)))
def test_triangulation_report_names_a_missing_key(key: str) -> None:
    with pytest.raises(ValueError, match=rf"^the report lacks {key}$"):
        TriangulationReport.from_json(_without(TRIANGULATION_JSON, key))


@pytest.mark.parametrize("key", LATER_KEYS)
def test_triangulation_report_requires_later_keys_only_when_asked(key: str) -> None:
    older = _without(TRIANGULATION_JSON, key)
    TriangulationReport.from_json(older)
    with pytest.raises(ValueError, match=rf"^the report lacks {key}$"):
        TriangulationReport.from_json(older, require_all=True)


def test_triangulation_report_names_a_missing_key_of_an_entry() -> None:
    content = json.loads(json.dumps(TRIANGULATION_JSON))
    del content["sync"]["cameras"]["cam02"]["observations"]
    with pytest.raises(ValueError, match=r"^the report's sync\.cameras\.cam02 lacks observations$"):
        TriangulationReport.from_json(content)
    content = json.loads(json.dumps(TRIANGULATION_JSON))
    del content["camera_quality"]["cam03"]["detection_fraction"]
    with pytest.raises(ValueError, match=r"camera_quality\.cam03 lacks detection_fraction$"):
        TriangulationReport.from_json(content)
    content = json.loads(json.dumps(TRIANGULATION_JSON))
    del content["sync"]["max_offset_frames"]
    with pytest.raises(ValueError, match=r"^the report's sync lacks max_offset_frames$"):
        TriangulationReport.from_json(content)


@pytest.mark.parametrize(
    ("cls", "content", "where"),
    [
        (VideoScalingReport, VIDEO_SCALING_JSON, "the video scaling report"),
        (MocapScalingReport, _without(MOCAP_SCALING_JSON, "warning"), "the mocap scaling report"),
        (IkReport, IK_JSON, "the IK report"),
    ],
    ids=["video_scaling", "mocap_scaling", "ik"],
)
def test_kinematics_reports_name_a_missing_key(
    cls: type[VideoScalingReport | MocapScalingReport | IkReport],
    content: dict[str, Any],
    where: str,
) -> None:
    for key in content:
        with pytest.raises(ValueError, match=rf"^{where} lacks {key}$"):
            cls.from_json(_without(content, key))


def test_report_that_is_not_an_object_is_refused() -> None:
    with pytest.raises(ValueError, match="^the IK report is a JSON list, expected an object$"):
        IkReport.from_json([IK_JSON])
    with pytest.raises(ValueError, match=r"^here\.cameras is a JSON list, expected an object$"):
        SyncReport.from_json({**SYNC.to_json(), "cameras": []}, "here")


# ------------------------------------------------------------------------ the helpers


@dataclass(frozen=True)
class _Pair:
    kind: ClassVar[str] = "pair"
    name: str
    values: tuple[int, ...]
    nested: dict[str, CameraQuality]
    note: str | None = None


def test_json_keys_are_the_fields_without_class_variables() -> None:
    assert json_keys(_Pair) == ("name", "values", "nested", "note")
    assert json_keys(_Pair, optional=("note",)) == ("name", "values", "nested")
    assert "scaling_mode" not in json_keys(VideoScalingReport)
    assert "_LATER_KEYS" not in json_keys(TriangulationReport)
    assert set(json_keys(TriangulationReport)) == set(TRIANGULATION_JSON) - {"cameras"}


def test_json_values_and_back() -> None:
    pair = _Pair("a", (1, 2), {"cam": QUALITY})
    assert to_json_value((1, (2, 3))) == [1, [2, 3]]
    assert to_json_value({"a": (1.5,)}) == {"a": [1.5]}
    assert to_json_value(QUALITY) == QUALITY.to_json()
    assert dataclass_to_json(pair) == {
        "name": "a",
        "values": [1, 2],
        "nested": {"cam": QUALITY.to_json()},
        "note": None,
    }
    fields = require_keys(
        {"name": "a", "values": [1, 2], "nested": {}}, json_keys(_Pair, optional=("note",)), "x"
    )
    assert dataclass_from_json(_Pair, fields, values=(1, 2), nested={}, note=None) == replace(
        pair, nested={}
    )
