"""Joint-angle statistics, plots and aggregation: the stage `summarize` on files and its
functions on loaded inputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from posebench.io.errors import UnreadableFileError
from posebench.io.mot import MotData, read_mot, write_mot
from posebench.reconstruction import reconstruct
from posebench.reports.triangulation import TriangulationReport
from posebench.stages.aggregate import aggregate_tables
from posebench.stages.summarize import run
from posebench.summary import (
    SummaryError,
    camera_offsets,
    joint_angle_png,
    joint_angle_statistics,
    trial_quality,
)
from test_reconstruction import EXACT, MARKERS, clean_views, trial_views_of

LATER_KEYS = ("cameras_configured", "cameras_used", "cameras_dropped", "camera_quality")
"""Keys of `triangulation.json` that reports written before the camera checks lack (those
written before the synchronisation check also lack `sync` and the time base)."""


def report_content(**changes: Any) -> dict[str, Any]:
    """A current `triangulation.json` (of the synthetic trial of `test_reconstruction`) with
    `changes`."""
    report = reconstruct(trial_views_of(*clean_views()), MARKERS, EXACT).report
    return {**report.to_json(), **changes}


def sync_content(offsets: dict[str, int | None]) -> dict[str, Any]:
    """A report's `sync` entry with these cameras' offsets."""
    entry = {
        "error_px_at_zero": 1.0,
        "error_px_at_offset": 1.0,
        "error_px_by_offset": [1.0],
        "frames": 10,
        "observations": 100,
        "not_measured": None,
    }
    return {
        "enabled": True,
        "max_offset_frames": 8,
        "correct": False,
        "applied": False,
        "min_improvement_fraction": 0.2,
        "min_improvement_px": 1.0,
        "max_evaluated_frames": 500,
        "cameras": {name: {**entry, "offset_frames": k} for name, k in offsets.items()},
    }


def write_motion(path: Path) -> None:
    time = np.arange(50) / 100
    write_mot(
        path,
        pd.DataFrame(
            {
                "time": time,
                "pelvis_tx": 0.1 * time,
                "knee_angle_r": 30 + 10 * np.sin(2 * np.pi * time),
                "knee_angle_l": np.full(50, 20.0),
                "hip_flexion_r": np.linspace(0, 40, 50),
            }
        ),
        name="ik",
        in_degrees=True,
    )


def test_summarize_trial(tmp_path: Path) -> None:
    motion = tmp_path / "ik.mot"
    write_motion(motion)
    errors = tmp_path / "errors.sto"
    write_mot(
        errors,
        pd.DataFrame(
            {
                "time": [0.0, 0.01],
                "marker_error_RMS": [0.01, 0.03],
                "marker_error_max": [0.02, 0.05],
            }
        ),
        name="errors",
        in_degrees=False,
    )
    report = tmp_path / "triangulation.json"
    report.write_text(
        json.dumps(
            report_content(
                cameras=["a", "b"],
                cameras_configured=["a", "b", "c"],
                cameras_used=["a", "b"],
                cameras_dropped={"c": "c dropped: person detected in 0 of 30 frames"},
                sync=sync_content({"a": 0, "b": 3, "c": None}),
                video_frames=30,
                output_frames=50,
                mean_reprojection_error_px=4.5,
            )
        )
    )
    keys = {"dataset": "d", "subject": "s", "session": "S", "trial": "t", "model": "m"}
    run(
        motion=motion, marker_errors=errors, triangulation_report=report, keys=keys,
        plot_coordinates=["knee_angle", "hip_flexion"], output_statistics=tmp_path / "stats.csv",
        output_quality=tmp_path / "quality.csv", output_plot=tmp_path / "plot.png",
    )  # fmt: skip
    stats = pd.read_csv(tmp_path / "stats.csv").set_index("coordinate")
    assert stats.loc["knee_angle_l", "mean"] == pytest.approx(20.0)
    assert stats.loc["hip_flexion_r", "range"] == pytest.approx(40.0)
    assert stats.loc["pelvis_tx", "unit"] == "m"
    assert stats.loc["knee_angle_r", "unit"] == "deg"
    assert (stats["model"] == "m").all()
    quality = pd.read_csv(tmp_path / "quality.csv")
    assert list(quality.columns[5:10]) == [
        "cameras_configured",
        "cameras_used",
        "camera_warnings",
        "camera_offsets_frames",
        "video_frames",
    ]
    assert quality["cameras_configured"].iloc[0] == 3 and quality["cameras_used"].iloc[0] == 2
    assert quality["camera_warnings"].iloc[0] == "c dropped: person detected in 0 of 30 frames"
    assert quality["camera_offsets_frames"].iloc[0] == "b:+3"
    assert quality["ik_marker_rms_m_mean"].iloc[0] == pytest.approx(0.02)
    assert quality["ik_marker_max_m"].iloc[0] == pytest.approx(0.05)
    assert (tmp_path / "plot.png").read_bytes()[:4] == b"\x89PNG"


def test_trial_quality_without_dropped_cameras() -> None:
    errors = pd.DataFrame({"time": [0.0]})
    current = report_content(cameras=["a", "b"], cameras_configured=["a", "b"],
                             cameras_used=["a", "b"], cameras_dropped={},
                             sync=sync_content({"a": 0, "b": 0}))  # fmt: skip
    without_sync = {**current, "sync": {**sync_content({}), "enabled": False}}
    # written before the cameras were checked (and before the synchronisation check)
    older = {k: v for k, v in current.items() if k not in (*LATER_KEYS, "sync")}
    for content in (current, without_sync, older):
        row = trial_quality(TriangulationReport.from_json(content), errors, {"trial": "t"})
        assert (row["cameras_configured"], row["cameras_used"]) == (2, 2)
        assert row["camera_warnings"] == "" and row["camera_offsets_frames"] == ""
        assert row["video_frames"] == 60 and np.isnan(row["ik_marker_rms_m_mean"])


def test_quality_needs_a_complete_report(tmp_path: Path) -> None:
    motion, errors = tmp_path / "ik.mot", tmp_path / "errors.sto"
    write_motion(motion)
    write_mot(errors, pd.DataFrame({"time": [0.0]}), name="errors", in_degrees=False)
    report = tmp_path / "triangulation.json"
    content = report_content()
    del content["output_frames"]
    report.write_text(json.dumps(content))
    with pytest.raises(UnreadableFileError, match="lacks output_frames") as error:
        run(
            motion=motion, marker_errors=errors, triangulation_report=report, keys={},
            plot_coordinates=None, output_statistics=tmp_path / "stats.csv",
            output_quality=tmp_path / "quality.csv", output_plot=tmp_path / "plot.png",
        )  # fmt: skip
    assert str(report) in str(error.value)


def test_camera_offsets_lists_the_non_zero_ones() -> None:
    cameras = {"Cam0": 0, "Cam1": 3, "Cam2": None, "Cam3": -2}
    sync = TriangulationReport.from_json(report_content(sync=sync_content(cameras))).sync
    assert camera_offsets(sync) == "Cam1:+3; Cam3:-2"
    assert camera_offsets(None) == ""


def _angles(table: pd.DataFrame, in_degrees: str = "yes") -> MotData:
    return MotData(name="ik", header={"inDegrees": in_degrees}, table=table)


def test_statistics_of_a_table() -> None:
    time = np.arange(5) / 100
    table = pd.DataFrame({"time": time, "pelvis_ty": 0.9 + time, "knee_angle_r": [0, 1, 2, 3, 4]})
    stats = joint_angle_statistics(_angles(table), {"trial": "t"}, "ik.mot")
    assert list(stats.columns) == [
        "trial", "coordinate", "unit", "frames", "mean", "std", "min", "max", "range"
    ]  # fmt: skip
    assert list(stats["unit"]) == ["m", "deg"] and list(stats["frames"]) == [5, 5]
    assert stats.loc[1, "mean"] == 2.0 and stats.loc[1, "range"] == 4.0
    with pytest.raises(SummaryError, match=r"ik\.mot: expected inDegrees=yes, found no"):
        joint_angle_statistics(_angles(table, "no"), {}, "ik.mot")


def test_plot_needs_a_known_coordinate(tmp_path: Path) -> None:
    motion = tmp_path / "ik.mot"
    write_motion(motion)
    table = read_mot(motion).table
    assert joint_angle_png(table, "t", ["knee_angle"], motion)[:4] == b"\x89PNG"
    with pytest.raises(SummaryError, match="none of the coordinates"):
        joint_angle_png(table, "t", ["elbow_flex"], motion)


def test_aggregate_sorts_deterministically(tmp_path: Path) -> None:
    a = tmp_path / "a.csv"
    b = tmp_path / "b.csv"
    pd.DataFrame({"trial": ["t2"], "model": ["m"], "coordinate": ["x"], "mean": [1.0]}).to_csv(
        a, index=False
    )
    pd.DataFrame({"trial": ["t1"], "model": ["m"], "coordinate": ["x"], "mean": [2.0]}).to_csv(
        b, index=False
    )
    combined = aggregate_tables([a, b], tmp_path / "all.csv")
    assert list(combined["trial"]) == ["t1", "t2"]
    with pytest.raises(SummaryError):
        aggregate_tables([], tmp_path / "none.csv")
