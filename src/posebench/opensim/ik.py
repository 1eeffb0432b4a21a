"""Inverse kinematics of a marker trial by OpenSim's InverseKinematicsTool."""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import opensim as osim

from posebench.io.atomic import move_into_place
from posebench.io.mot import read_mot_columns
from posebench.io.trc import read_trc
from posebench.opensim.markers import check_ik_markers, frames_in_range
from posebench.opensim.setups import UNASSIGNED, add_geometry_dir, require_file


@dataclass(frozen=True)
class IkResult:
    """Outcome of :func:`run_inverse_kinematics`.

    Attributes:
        output_motion: the coordinates file (.mot, angles in degrees).
        output_marker_errors: the per-frame marker error file (.sto, metres).
        n_frames: number of frames solved.
        time_range_s: the (start, end) time range solved, in seconds.
        rms_marker_error_m: root mean square over frames of the per-frame RMS marker error.
        max_marker_error_m: largest single marker error over all frames.
    """

    output_motion: Path
    output_marker_errors: Path
    n_frames: int
    time_range_s: tuple[float, float]
    rms_marker_error_m: float
    max_marker_error_m: float


def run_inverse_kinematics(
    *,
    model: Path,
    ik_setup: Path,
    trc: Path,
    output_motion: Path,
    output_marker_errors: Path,
    time_range_s: tuple[float, float] | None = None,
    accuracy: float = 1e-5,
    geometry_dir: Path | None,
) -> IkResult:
    """Run OpenSim inverse kinematics with the marker tasks and weights of a setup file.

    The model, marker file, time range, accuracy, output motion file and results directory
    are set explicitly (absolute paths; a temporary results directory); the setup's
    coordinate file is replaced by ``Unassigned``. Outputs are checked and then moved to
    ``output_motion`` and ``output_marker_errors``.

    Args:
        model: scaled model (.osim).
        ik_setup: InverseKinematicsTool setup file (.xml); its IK tasks and weights are used.
        trc: marker trajectories (.trc).
        output_motion: coordinates file (.mot) to write, angles in degrees.
        output_marker_errors: marker error file (.sto) to write.
        time_range_s: (start, end) in seconds; default the TRC's full range.
        accuracy: IK solver accuracy (dimensionless convergence tolerance).
        geometry_dir: folder of the model's mesh files, added to OpenSim's geometry search
            path; None to leave it alone.

    Raises:
        FileNotFoundError: when an input file is missing.
        ValueError: when the TRC lacks markers of the applied IK tasks, or a frame in the
            time range has none of them.
        RuntimeError: when OpenSim fails or its outputs are missing, of the wrong length,
            not in degrees or not finite.
    """
    for label, file in (("model", model), ("IK setup", ik_setup), ("marker file", trc)):
        require_file(label, file)
    if not (math.isfinite(accuracy) and accuracy > 0):
        raise ValueError(f"accuracy must be a positive number, got {accuracy}.")
    add_geometry_dir(geometry_dir)
    trc_data = read_trc(trc)
    if time_range_s is None:
        time_range_s = (float(trc_data.times_s[0]), float(trc_data.times_s[-1]))
    start_s, end_s = time_range_s
    in_range = frames_in_range(trc_data.times_s, start_s, end_s)
    n_expected = int(in_range.sum())
    if n_expected == 0:
        raise ValueError(
            f"{trc}: no frame in the IK time range {start_s}-{end_s} s (the TRC spans "
            f"{trc_data.times_s[0]}-{trc_data.times_s[-1]} s)."
        )
    tool = osim.InverseKinematicsTool(str(Path(ik_setup).resolve()))
    check_ik_markers(tool, trc_data, Path(trc), Path(ik_setup), in_range)
    context = f"inverse kinematics of {trc} with model {model} and setup {ik_setup}"
    with tempfile.TemporaryDirectory(prefix="posebench_ik_") as tmp:
        tmp_motion = Path(tmp) / Path(output_motion).name
        _configure_ik_tool(
            tool,
            model=model,
            trc=trc,
            time_range_s=(start_s, end_s),
            accuracy=accuracy,
            results_dir=tmp,
            output_motion=tmp_motion,
        )
        tmp_errors = _run_ik_tool(tool, tmp_motion, Path(tmp), context)
        _check_motion(tmp_motion, n_expected, (start_s, end_s), context)
        rms_m, max_m = marker_error_summary(tmp_errors)
        for produced, destination in (
            (tmp_motion, output_motion),
            (tmp_errors, output_marker_errors),
        ):
            move_into_place(produced, destination)
    return IkResult(
        output_motion=Path(output_motion),
        output_marker_errors=Path(output_marker_errors),
        n_frames=n_expected,
        time_range_s=(float(start_s), float(end_s)),
        rms_marker_error_m=rms_m,
        max_marker_error_m=max_m,
    )


def _configure_ik_tool(
    tool: Any,
    *,
    model: Path,
    trc: Path,
    time_range_s: tuple[float, float],
    accuracy: float,
    results_dir: str,
    output_motion: Path,
) -> None:
    """Set the files, time range and accuracy of an ``opensim.InverseKinematicsTool``
    (absolute paths; marker errors reported, marker locations not)."""
    start_s, end_s = time_range_s
    tool.set_model_file(str(Path(model).resolve()))
    tool.setMarkerDataFileName(str(Path(trc).resolve()))
    tool.setCoordinateFileName(UNASSIGNED)
    tool.setStartTime(float(start_s))
    tool.setEndTime(float(end_s))
    tool.set_accuracy(float(accuracy))
    tool.set_report_errors(True)
    tool.set_report_marker_locations(False)
    tool.setResultsDir(results_dir)
    tool.setOutputMotionFileName(str(output_motion))


def _run_ik_tool(tool: Any, motion: Path, results_dir: Path, context: str) -> Path:
    """Run an ``opensim.InverseKinematicsTool``; return the marker error file it wrote into
    `results_dir`, or RuntimeError when it fails or `motion` or that file is missing."""
    try:
        succeeded = tool.run()
    except RuntimeError as exc:
        raise RuntimeError(f"{context} failed in OpenSim: {exc}") from exc
    if not succeeded:
        raise RuntimeError(f"{context}: InverseKinematicsTool.run() returned false.")
    errors = results_dir / f"{tool.getName()}_ik_marker_errors.sto"
    for produced in (motion, errors):
        if not produced.is_file():
            raise RuntimeError(f"{context}: OpenSim wrote no {produced.name}.")
    return errors


def _check_motion(
    motion_file: Path, n_expected: int, time_range_s: tuple[float, float], context: str
) -> None:
    """RuntimeError unless the IK motion is in degrees, has `n_expected` rows (the TRC
    frames in `time_range_s`) and only finite values."""
    start_s, end_s = time_range_s
    motion = read_mot_columns(motion_file)
    values = motion.values
    if motion.in_degrees is not True:
        raise RuntimeError(
            f"{context}: the motion's header has inDegrees={motion.header.get('inDegrees')}"
            ", expected yes."
        )
    if len(values) != n_expected:
        raise RuntimeError(
            f"{context}: the motion has {len(values)} rows, expected {n_expected} "
            f"(TRC frames in {start_s}-{end_s} s)."
        )
    if not np.all(np.isfinite(values)):
        columns = np.flatnonzero(~np.isfinite(values).all(axis=0))
        bad = [motion.labels[index] for index in columns]
        raise RuntimeError(f"{context}: non-finite values in coordinates {bad}.")


def marker_error_summary(marker_errors: Path) -> tuple[float, float]:
    """Root mean square over frames of the per-frame RMS marker error, and the largest
    marker error, in metres, of an IK marker error file (.sto)."""
    errors = read_mot_columns(marker_errors)
    rms_m = float(np.sqrt(np.mean(errors.column("marker_error_RMS") ** 2)))
    largest = errors.column("marker_error_max")
    # NaN rows are skipped, as pandas' max does.
    max_m = float(np.nanmax(largest)) if np.isfinite(largest).any() else float("nan")
    return rms_m, max_m
