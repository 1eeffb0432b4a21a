"""Tests of helpers split out of longer functions: the offset search's frame selection and
decision rule, the OpenCap scaling-trial choice, ViTPose option parsing and TRC formatting."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posebench.backends.base import BackendError
from posebench.backends.topdown import parse_options
from posebench.datasets.opencap import _scaling_trial
from posebench.io.trc import _data_lines, _frame_numbers, _header_lines
from posebench.sync import (
    SYNC_MIN_IMPROVEMENT_FRACTION,
    SYNC_MIN_IMPROVEMENT_PX,
    _evaluated_frames,
    _offsets_not_measurable,
    _OffsetSearch,
)


def search(max_offset: int = 2) -> _OffsetSearch:
    """A search holding only what `improvement` reads: candidates and the SYNC_* rules."""
    empty = np.zeros(0)
    return _OffsetSearch(
        cameras=(),
        extrinsics=empty,
        normalised=empty,
        weights=empty,
        observed=empty,
        frames=np.zeros(0, dtype=np.intp),
        candidates=np.arange(-max_offset, max_offset + 1),
        min_views=2,
        min_observations=1,
        min_improvement_fraction=SYNC_MIN_IMPROVEMENT_FRACTION,
        min_improvement_px=SYNC_MIN_IMPROVEMENT_PX,
    )


def test_evaluated_frames_leave_out_the_ends_and_subsample() -> None:
    np.testing.assert_array_equal(_evaluated_frames(120, 8, 500), np.arange(8, 112))
    frames = _evaluated_frames(600, 8, 50)  # 584 frames, every 12th
    np.testing.assert_array_equal(frames, np.arange(8, 592, 12))
    assert frames.size <= 50


def test_offsets_not_measurable_reasons() -> None:
    assert _offsets_not_measurable(4, 120, 8, 2) is None
    assert _offsets_not_measurable(4, 120, 0, 2) == "max_offset is 0"
    assert _offsets_not_measurable(3, 120, 8, 3) == (
        "3 cameras: each needs at least 3 others to triangulate from"
    )
    assert _offsets_not_measurable(4, 16, 8, 2) == "16 frames: fewer than 2 * max_offset + 1 = 17"


def test_an_offset_from_zero_must_be_significant() -> None:
    # candidates -2..2: the error at 0 must drop by 20 % of it and by 1 px
    assert search().improvement(np.array([10.0, 8.0, 10.0, 12.0, 14.0]), 0) == (0.2, -1)
    assert search().improvement(np.array([10.0, 8.5, 10.0, 12.0, 14.0]), 0) is None  # 15 %
    assert search().improvement(np.array([3.0, 2.0, 3.0, 4.0, 5.0]), 0) == (1 / 3, -1)
    assert search().improvement(np.array([3.0, 2.1, 3.0, 4.0, 5.0]), 0) is None  # 0.9 px


def test_a_moved_camera_moves_on_any_improvement() -> None:
    row = np.array([10.0, 9.5, 9.9, 12.0, 14.0])
    assert search().improvement(row, 0) is None
    found = search().improvement(row, -2)
    assert found is not None and found[1] == -1 and found[0] == pytest.approx(0.05)


def test_improvement_ties_go_to_the_offset_nearest_zero() -> None:
    row = np.array([5.0, 10.0, 5.0, 10.0, 5.0])
    assert search().improvement(row, 1) == (0.5, 0)
    assert search().improvement(row, 0) is None  # already at the best


def test_improvement_needs_a_finite_error_at_the_current_offset() -> None:
    assert search().improvement(np.array([1.0, 2.0, np.nan, 4.0, 5.0]), 0) is None
    assert search().improvement(np.full(5, np.nan), 0) is None


def test_scaling_trial_is_the_first_static_trial() -> None:
    videos: list[Path] = []
    sessions = {
        "Session0": {"DJ1": videos, "Static1": videos, "static2": videos},
        "Session1": {"static1": videos},
    }
    assert _scaling_trial(sessions) == ("Session0", "Static1")
    assert _scaling_trial({"Session0": {"DJ1": videos}, "Session1": {}}) is None


def test_top_down_options() -> None:
    assert parse_options("m", "vitpose", {}) == ("auto", "fp32", 32)
    options = {"device": "cpu", "crop_batch_size": 4}
    assert parse_options("m", "mmpose", options) == ("cpu", "fp32", 4)
    with pytest.raises(BackendError, match=r"unknown vitpose options \['batch'\]"):
        parse_options("m", "vitpose", {"batch": 3, "crop_batch_size": 0})
    with pytest.raises(BackendError, match="crop_batch_size=True must be an integer"):
        parse_options("m", "mmpose", {"crop_batch_size": True})
    with pytest.raises(BackendError, match="crop_batch_size=0 must be >= 1"):
        parse_options("m", "vitpose", {"crop_batch_size": 0})


def test_trc_header_and_data_lines() -> None:
    frames = _frame_numbers(Path("x.trc"), None, 2)
    np.testing.assert_array_equal(frames, [1, 2])
    header = _header_lines("x.trc", ("A", "B"), np.array([7, 8]), 59.94, "mm")
    assert header == [
        "PathFileType\t4\t(X/Y/Z)\tx.trc",
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\t"
        "OrigDataStartFrame\tOrigNumFrames",
        "59.940000\t59.940000\t2\t2\tmm\t59.940000\t7\t2",
        "Frame#\tTime\tA\t\t\tB\t\t",
        "\t\tX1\tY1\tZ1\tX2\tY2\tZ2",
    ]
    values = np.array([[1.0, np.nan, 2.5, 0.0, -1.0, 1 / 3]])
    assert _data_lines(np.array([7]), np.array([0.5]), values) == [
        "7\t0.500000\t1.000000\tNaN\t2.500000\t0.000000\t-1.000000\t0.333333"
    ]
    with pytest.raises(ValueError, match=r"frame_numbers must be an integer array of shape \(2,\)"):
        _frame_numbers(Path("x.trc"), np.array([1.0, 2.0]), 2)  # type: ignore[arg-type]
