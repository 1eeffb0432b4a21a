"""Joint-angle statistics, plots and aggregation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from posebench.io.mot import write_mot
from posebench.summary import SummaryError, aggregate_tables, summarize_trial


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
            {
                "cameras": ["a", "b"],
                "cameras_configured": ["a", "b", "c"],
                "cameras_used": ["a", "b"],
                "cameras_dropped": {"c": "c dropped: person detected in 0 of 30 frames"},
                "sync": {
                    "cameras": {
                        "a": {"offset_frames": 0},
                        "b": {"offset_frames": 3},
                        "c": {"offset_frames": None, "not_measured": "dropped"},
                    }
                },
                "video_frames": 30,
                "output_frames": 50,
                "mean_reprojection_error_px": 4.5,
            }
        )
    )
    keys = {"dataset": "d", "subject": "s", "session": "S", "trial": "t", "model": "m"}
    summarize_trial(
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


def test_trial_quality_without_dropped_cameras(tmp_path: Path) -> None:
    from posebench.summary import trial_quality

    errors = tmp_path / "errors.sto"
    write_mot(errors, pd.DataFrame({"time": [0.0]}), name="errors", in_degrees=False)
    report = tmp_path / "triangulation.json"
    base = {"video_frames": 3, "output_frames": 3, "mean_reprojection_error_px": None}
    for extra in (  # current reports, and one written before cameras were checked
        {"cameras": ["a", "b"], "cameras_configured": ["a", "b"], "cameras_used": ["a", "b"],
         "cameras_dropped": {}, "sync": {"cameras": {"a": {"offset_frames": 0},
                                                     "b": {"offset_frames": 0}}}},
        {"cameras": ["a", "b"], "sync": {"enabled": False, "cameras": {}}},
        {"cameras": ["a", "b"]},
    ):  # fmt: skip
        report.write_text(json.dumps({**base, **extra}))
        row = trial_quality(report, errors, {"trial": "t"})
        assert (row["cameras_configured"], row["cameras_used"]) == (2, 2)
        assert row["camera_warnings"] == "" and row["camera_offsets_frames"] == ""


def test_camera_offsets_lists_the_non_zero_ones() -> None:
    from posebench.summary import camera_offsets

    cameras = {"Cam0": 0, "Cam1": 3, "Cam2": None, "Cam3": -2}
    report = {"sync": {"cameras": {k: {"offset_frames": v} for k, v in cameras.items()}}}
    assert camera_offsets(report) == "Cam1:+3; Cam3:-2"


def test_plot_needs_a_known_coordinate(tmp_path: Path) -> None:
    from posebench.summary import plot_joint_angles

    motion = tmp_path / "ik.mot"
    write_motion(motion)
    with pytest.raises(SummaryError, match="none of the coordinates"):
        plot_joint_angles(motion, tmp_path / "p.png", "t", ["elbow_flex"])


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
