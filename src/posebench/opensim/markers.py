"""A marker trial (TRC) checked against the markers an OpenSim tool uses.

OpenSim 4.6 skips a scaling measurement, or solves an IK frame badly, without failing when
markers are missing; these checks fail first, naming the TRC and the markers. The tools are
passed in (``opensim.ScaleTool``, ``opensim.InverseKinematicsTool``); this module does not
import OpenSim.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from posebench.io.trc import TrcData
from posebench.timeseries import select_static_window

TIME_TOLERANCE_S = 1e-6
"""Frames this close to the ends of a time range are inside it (absorbs float rounding)."""


def frames_in_range(
    times_s: NDArray[np.floating], start_s: float, end_s: float
) -> NDArray[np.bool_]:
    """Which frames lie in [start_s, end_s], within `TIME_TOLERANCE_S`."""
    return (times_s >= start_s - TIME_TOLERANCE_S) & (times_s <= end_s + TIME_TOLERANCE_S)


def scaling_marker_names(tool: Any) -> list[str]:
    """Markers used by the applied measurements of a ScaleTool (``opensim.ScaleTool``)."""
    scaler = tool.getModelScaler()
    needed: set[str] = set()
    if scaler.getApply():
        measurements = scaler.getMeasurementSet()
        for i in range(measurements.getSize()):
            measurement = measurements.get(i)
            if not measurement.getApply():
                continue
            for j in range(measurement.getNumMarkerPairs()):
                pair = measurement.getMarkerPair(j)
                needed.update((pair.getMarkerName(0), pair.getMarkerName(1)))
    return sorted(needed)


def scaling_window(
    trc_data: TrcData, names: list[str], window_s: float, *, trc: Path, setup: Path, marker_set: str
) -> tuple[float, float]:
    """The stillest `window_s` of `trc_data` in which every marker of `names` (the scaling
    markers of `setup`) is present (`select_static_window`); ValueError naming the markers
    the TRC lacks."""
    absent = [name for name in names if name not in trc_data.marker_names]
    if absent:
        raise ValueError(
            f"{trc}: markers {absent} needed by {setup} are not in the "
            f"TRC; the marker set {marker_set!r} does not match this scaling set-up."
        )
    columns = [trc_data.marker_names.index(name) for name in names]
    return select_static_window(trc_data.positions_m[:, columns], trc_data.times_s, window_s)


def check_scaling_markers(
    tool: Any, trc_data: TrcData, trc: Path, setup: Path, time_range_s: tuple[float, float]
) -> None:
    """Check that the TRC has every marker of the applied measurements in every frame of
    the time range. ``tool`` is an ``opensim.ScaleTool``."""
    needed = set(scaling_marker_names(tool))
    missing = sorted(needed - set(trc_data.marker_names))
    if missing:
        raise ValueError(
            f"{trc}: markers {missing} used by the measurements of {setup} are not in the TRC "
            f"(it has {list(trc_data.marker_names)}); use the setup matching the pose model's "
            "marker set."
        )
    start_s, end_s = time_range_s
    in_range = frames_in_range(trc_data.times_s, start_s, end_s)
    if not in_range.any():
        raise ValueError(
            f"{trc}: no frame in the scaling time range {start_s}-{end_s} s (the TRC spans "
            f"{trc_data.times_s[0]}-{trc_data.times_s[-1]} s)."
        )
    names = sorted(needed)
    window = trc_data.positions[in_range][:, [trc_data.marker_names.index(n) for n in names]]
    gaps = {
        name: int(count)
        for name, count in zip(names, (~np.isfinite(window).all(axis=2)).sum(axis=0), strict=True)
        if count
    }
    if gaps:
        # OpenSim 4.6 skips a measurement (with only a warning, leaving the bodies unscaled)
        # when one of its markers is missing in any frame of the time range.
        raise ValueError(
            f"{trc}: markers needed for scaling are missing in some of the {window.shape[0]} "
            f"frames of {start_s}-{end_s} s (marker: frames missing) {gaps}; OpenSim would "
            "skip their measurements. Choose a window where all are present "
            "(select_static_window)."
        )


def ik_marker_names(tool: Any) -> list[str]:
    """Markers of the applied IK marker tasks of an ``opensim.InverseKinematicsTool``, in
    task order."""
    tasks = tool.getIKTaskSet()
    return [
        tasks.get(i).getName()
        for i in range(tasks.getSize())
        if tasks.get(i).getConcreteClassName() == "IKMarkerTask" and tasks.get(i).getApply()
    ]


def check_ik_markers(
    tool: Any, trc_data: TrcData, trc: Path, setup: Path, in_range: NDArray[np.bool_]
) -> None:
    """Check that the TRC has the applied IK marker tasks and no frame without any of them.
    ``tool`` is an ``opensim.InverseKinematicsTool``."""
    markers = ik_marker_names(tool)
    missing = [name for name in markers if name not in trc_data.marker_names]
    if missing:
        raise ValueError(
            f"{trc}: markers {missing} of the IK tasks in {setup} are not in the TRC (it has "
            f"{list(trc_data.marker_names)}); use the setup matching the pose model's marker "
            "set."
        )
    columns = [trc_data.marker_names.index(name) for name in markers]
    present = np.any(np.all(np.isfinite(trc_data.positions[:, columns]), axis=2), axis=1)
    empty = np.flatnonzero(in_range & ~present)
    if empty.size:
        frames = trc_data.frame_numbers[empty]
        raise ValueError(
            f"{trc}: {empty.size} frames in the IK time range have none of the "
            f"{len(markers)} IK markers (Frame# {frames[:10].tolist()}"
            f"{' ...' if empty.size > 10 else ''}); trim or fill them before IK."
        )
