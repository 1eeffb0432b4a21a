"""Tests for gap filling, Butterworth filtering, resampling, valid spans and the static-window
search of time series."""

from __future__ import annotations

import numpy as np
import pytest

from posebench.timeseries import (
    fill_gaps,
    lowpass_butterworth,
    resample,
    select_static_window,
    valid_frame_span,
)

RATE_HZ = 100.0
TIME_S = np.arange(300) / RATE_HZ


def test_fill_gaps_interpolates_short_interior_gaps() -> None:
    sine = np.sin(2 * np.pi * 1.0 * TIME_S)
    x = np.stack([sine, np.cos(2 * np.pi * 1.0 * TIME_S)], axis=1)[:, :, None]  # (T, 2, 1)
    x[:3, 0] = np.nan  # leading
    x[50:55, 0] = np.nan  # 5 samples: filled
    x[100:112, 0] = np.nan  # 12 samples: too long
    x[295:, 0] = np.nan  # trailing
    x[220:226, 1] = np.nan  # 6 samples: filled
    original = x.copy()
    filled = fill_gaps(x, max_gap=6)
    np.testing.assert_array_equal(x, original)  # input untouched
    assert filled.shape == x.shape
    np.testing.assert_allclose(filled[50:55, 0, 0], sine[50:55], atol=2e-3)
    np.testing.assert_allclose(
        filled[220:226, 1, 0], np.cos(2 * np.pi * TIME_S[220:226]), atol=2e-3
    )
    assert np.isnan(filled[:3, 0]).all() and np.isnan(filled[295:, 0]).all()
    assert np.isnan(filled[100:112, 0]).all()
    finite = np.isfinite(original)
    np.testing.assert_array_equal(filled[finite], original[finite])


def test_fill_gaps_boundaries_and_validation() -> None:
    x = np.array([0.0, np.nan, np.nan, 3.0, np.nan, 5.0])
    np.testing.assert_allclose(fill_gaps(x, max_gap=1), [0.0, np.nan, np.nan, 3.0, 4.0, 5.0])
    np.testing.assert_allclose(fill_gaps(x, max_gap=2), [0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    np.testing.assert_array_equal(fill_gaps(x, max_gap=0), x)
    assert np.isnan(fill_gaps(np.full((4, 2), np.nan), max_gap=3)).all()
    with pytest.raises(ValueError, match="max_gap is -1"):
        fill_gaps(x, max_gap=-1)


def test_lowpass_keeps_slow_and_removes_fast_components() -> None:
    time_s = np.arange(1000) / RATE_HZ
    slow = np.sin(2 * np.pi * 1.0 * time_s)
    fast = 0.5 * np.sin(2 * np.pi * 40.0 * time_s)
    x = np.stack([slow + fast, slow], axis=-1)
    filtered = lowpass_butterworth(x, RATE_HZ, cutoff_hz=6.0)
    assert filtered.shape == x.shape
    interior = slice(50, -50)  # the edge transients of the padded filter decay within 0.5 s
    np.testing.assert_allclose(filtered[interior, 0], slow[interior], atol=1e-4)
    np.testing.assert_allclose(filtered[interior, 1], slow[interior], atol=1e-4)


def test_lowpass_never_spreads_nan_and_skips_short_runs() -> None:
    rng = np.random.default_rng(5)
    x = np.sin(2 * np.pi * TIME_S)[:, None] + rng.normal(0.0, 0.1, size=(300, 3))
    x[150, 0] = np.nan
    x[:290, 1] = np.nan  # a 10-sample run: too short to filter
    x[:, 2] = np.nan
    filtered = lowpass_butterworth(x, RATE_HZ, cutoff_hz=6.0)
    np.testing.assert_array_equal(np.isnan(filtered), np.isnan(x))
    np.testing.assert_array_equal(filtered[290:, 1], x[290:, 1])
    alone = lowpass_butterworth(x[151:, 0], RATE_HZ, cutoff_hz=6.0)
    np.testing.assert_allclose(filtered[151:, 0], alone)
    assert np.std(filtered[151:, 0] - np.sin(2 * np.pi * TIME_S[151:])) < 0.05


def test_lowpass_rejects_cutoff_above_nyquist() -> None:
    with pytest.raises(ValueError, match=r"cutoff 60.0 Hz .* Nyquist frequency 50.0 Hz"):
        lowpass_butterworth(np.zeros(100), RATE_HZ, cutoff_hz=60.0)


def test_resample_linear_ramp_is_exact() -> None:
    ramp = 2.0 + 3.0 * np.arange(61) / 60.0  # 1 s at 60 Hz, value = 2 + 3 t
    x = np.stack([ramp, -ramp], axis=-1)[:, None, :]  # (T, 1, 2)
    times, out = resample(x, 60.0, 100.0)
    np.testing.assert_array_equal(times, np.arange(101) / 100.0)
    assert out.shape == (101, 1, 2)
    np.testing.assert_allclose(out[:, 0, 0], 2.0 + 3.0 * times, atol=1e-12)
    np.testing.assert_allclose(out[:, 0, 1], -(2.0 + 3.0 * times), atol=1e-12)


def test_resample_aligns_on_the_output_grid() -> None:
    ramp = np.arange(30, dtype=np.float64)  # 60 Hz, value = sample index
    times, out = resample(ramp, 60.0, 100.0, start_time_s=0.013)
    np.testing.assert_array_equal(times, np.arange(2, 50) / 100.0)  # 0.02 .. 0.49 s
    np.testing.assert_allclose(out, (times - 0.013) * 60.0, atol=1e-12)
    grid_times, _ = resample(ramp, 60.0, 100.0, start_time_s=0.05)
    assert grid_times[0] == 0.05 and grid_times[-1] == 0.53
    down_times, down = resample(np.arange(100.0), 100.0, 30.0)
    np.testing.assert_array_equal(down_times, np.arange(30) / 30.0)
    np.testing.assert_allclose(down, down_times * 100.0, atol=1e-12)


def test_resample_propagates_nan_from_bracketing_samples() -> None:
    x = np.arange(13, dtype=np.float64)  # 60 Hz over 0.2 s
    x[6] = np.nan  # input at 0.1 s
    x[7] = np.nan  # input at 0.1167 s
    x[9] = np.nan  # input at 0.15 s, leaving sample 8 isolated
    times, out = resample(x, 60.0, 100.0)
    indices = np.round(times * 100).astype(int)
    # Output k sits at input position 0.6 k: k = 9 (5.4) .. 16 (9.6) touch samples 6, 7 or 9.
    np.testing.assert_array_equal(np.isnan(out), (indices >= 9) & (indices <= 16))
    finite = ~np.isnan(out)
    np.testing.assert_allclose(out[finite], times[finite] * 60.0, atol=1e-12)


def test_resample_keeps_isolated_sample_on_grid() -> None:
    x = np.array([np.nan, np.nan, 7.0, np.nan, np.nan])  # 50 Hz: 7.0 at 0.04 s
    times, out = resample(x, 50.0, 100.0)
    np.testing.assert_array_equal(np.isnan(out), times != 0.04)
    assert out[times == 0.04] == 7.0


def test_valid_frame_span() -> None:
    x = np.full((10, 2, 3), np.nan)
    assert valid_frame_span(x) is None
    x[2, 1, 0] = 1.0
    x[7, 0, 2] = 2.0
    assert valid_frame_span(x) == (2, 7)


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


def test_static_window_is_the_stillest_and_the_earliest_on_ties() -> None:
    times = np.arange(8) / 4.0  # 4 Hz
    positions = np.zeros((8, 1, 3))
    positions[:, 0, 1] = [0.0, 1.0, 2.0, 2.0, 2.0, 3.0, 3.0, 3.0]  # still over 2-4 and 5-7
    assert select_static_window(positions, times, 0.5) == (0.5, 0.75)  # 2 frames
    assert select_static_window(positions, times, 0.75) == (0.5, 1.0)  # 3 frames: 2-4
    assert select_static_window(positions[:1], times[:1], 1.0) == (0.0, 0.0)


@pytest.mark.parametrize(
    ("positions", "times", "window_s", "message"),
    [
        (np.zeros((4, 2)), np.arange(4.0), 1.0, r"must be \(T, M, 3\)"),
        (np.zeros((4, 2, 3)), np.arange(3.0), 1.0, r"must be \(T, M, 3\)"),
        (np.zeros((3, 2, 3)), np.array([0.0, 2.0, 1.0]), 1.0, "strictly increasing"),
        (np.zeros((0, 2, 3)), np.zeros(0), 1.0, "non-empty"),
        (np.zeros((3, 2, 3)), np.arange(3.0), 0.0, "positive number of seconds"),
        (np.zeros((3, 2, 3)), np.arange(3.0), float("nan"), "positive number of seconds"),
    ],
)
def test_static_window_rejects_inconsistent_arguments(
    positions: np.ndarray, times: np.ndarray, window_s: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        select_static_window(positions, times, window_s)
