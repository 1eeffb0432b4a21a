"""The time base of a trial's frames (OpenCapBench rounds 59.94 fps to 60) and the check of
the video's duration against the ground truth's."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from posebench.evaluation import DURATION_TOLERANCE_S, EvaluationError, duration_check
from posebench.io.mot import write_mot
from posebench.io.trc import read_trc
from posebench.reconstruction import TriangulationSettings, reconstruct
from posebench.stages.evaluate import read_joint_angles
from posebench.stages.triangulate import run
from posebench.views import ReconstructionError, time_base_fps
from test_reconstruction import (
    CAMERA_NAMES,
    EXACT,
    MARKERS,
    clean_views,
    trial_views_of,
    truth_markers,
    write_trial,
)

NTSC = 60000 / 1001  # 59.94 fps, what phones write


def test_time_base_rules() -> None:
    assert time_base_fps(NTSC, {}) == (NTSC, "video header")
    assert time_base_fps(NTSC, {"frame_rate_rule": "header"})[0] == NTSC
    fps, source = time_base_fps(NTSC, {"frame_rate_rule": "rounded"})
    assert fps == 60.0 and "59.9401 fps rounded" in source
    fps, source = time_base_fps(60.0, {"fps": 60, "fps_source": "Config.toml"})
    assert fps == 60.0 and source == "declared in Config.toml"
    with pytest.raises(ReconstructionError, match="frame_rate_rule is 'exact'"):
        time_base_fps(NTSC, {"frame_rate_rule": "exact"})


@pytest.mark.parametrize(("rule", "expected_fps"), [("rounded", 60.0), ("header", NTSC)])
def test_trc_times_follow_the_datasets_rule(tmp_path: Path, rule: str, expected_fps: float) -> None:
    files, calibration = write_trial(
        tmp_path, *clean_views(), fps=NTSC, metadata={"frame_rate_rule": rule}
    )
    settings = TriangulationSettings(filter_cutoff_hz=None, max_reprojection_error_px=None)
    report = run(
        files,
        CAMERA_NAMES,
        calibration,
        "blazepose",
        output_trc=tmp_path / "out" / "markers.trc",
        output_reprojection=tmp_path / "out" / "reprojection.csv",
        output_report=tmp_path / "out" / "report.json",
        settings=settings,
    )
    assert report.video_fps == pytest.approx(NTSC)
    assert report.time_base_fps == pytest.approx(expected_fps)
    trc = read_trc(tmp_path / "out" / "markers.trc")
    # The views were made at j / 60 s: on the rounded base, the 100 Hz samples that fall on a
    # video frame (k divisible by 5) are exact; on the 59.94 fps base every frame after the
    # first is placed up to a millisecond late, which moves the markers by ~0.1 mm.
    on_frames = np.rint(trc.times_s * 100).astype(int) % 5 == 0
    error = np.abs(trc.positions_m - truth_markers(trc.times_s))[on_frames].max()
    if rule == "rounded":
        assert error < 1e-6
    else:
        assert error > 5e-5


def _truth(path: Path, duration_s: float) -> Path:
    times = np.arange(int(round(duration_s * 100)) + 1) / 100
    write_mot(path, pd.DataFrame({"time": times, "knee": 0.0 * times}), name="c", in_degrees=True)
    return path


def test_duration_check(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    truth = read_joint_angles(_truth(tmp_path / "truth.mot", 20.0))
    report = replace(
        reconstruct(trial_views_of(*clean_views()), MARKERS, EXACT).report,
        video_frames=1201,
        video_fps=NTSC,
        time_base_fps=60.0,
    )
    with caplog.at_level(logging.WARNING):
        durations = duration_check(report, truth)
    assert durations == {
        "video_duration_s": pytest.approx(20.0),
        "video_duration_header_fps_s": pytest.approx(1200 / NTSC),
        "truth_duration_s": pytest.approx(20.0),
    }
    assert not caplog.records
    # Twelve frames too many: 0.2 s, more than the tolerance, is reported with both rates.
    with caplog.at_level(logging.WARNING):
        duration_check(replace(report, video_frames=1213), truth)
    assert DURATION_TOLERANCE_S < 0.2
    assert "1213 frames last 20.200 s at 60 fps" in caplog.text
    assert "check the dataset's frame_rate setting" in caplog.text
    assert str(tmp_path / "truth.mot") in caplog.text
    # A report written before the time base was recorded cannot be checked.
    with pytest.raises(EvaluationError, match="no time_base_fps"):
        duration_check(replace(report, time_base_fps=None), truth)
