"""OpenSim scaling and inverse kinematics through the OpenSim 4.6 Python API.

Facts about ``opensim`` 4.6 (PyPI) this module relies on:

* Logging: OpenSim's logger opens its default file sink ``opensim.log`` lazily, on the first
  message, in whatever the current directory is at that moment (loading a model temporarily
  changes into the model file's directory, so the file can appear next to the model).
  ``Logger.removeFileSink()`` before the first message prevents it; ``Logger.addFileSink(path)``
  adds a file sink (a second one is refused with a warning until ``removeFileSink()``);
  ``Logger.setLevelString`` sets the level of all sinks, the console included.
* Paths: a ``ScaleTool`` read from a setup file resolves its generic model, marker set and
  marker files against ``getPathToSubject()`` (the setup file's directory). Here that prefix
  is cleared and every file is given as an absolute path.
* ``InverseKinematicsTool.run()`` writes ``<tool name>_ik_marker_errors.sto`` into its results
  directory when ``report_errors`` is on.
"""

from __future__ import annotations

import logging
import math
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import opensim as osim
from numpy.typing import NDArray

from posebench.io.atomic import atomic_output, move_into_place, write_json
from posebench.io.mot import read_mot
from posebench.io.trc import TrcData, read_trc
from posebench.logs import TERMINAL
from posebench.markersets import MarkerSet, get_marker_set

LOG_LEVELS: tuple[str, ...] = ("Off", "Critical", "Error", "Warn", "Info", "Debug", "Trace")
#: Plausible range of a body's scale factor (dimensionless, per axis).
SCALE_FACTOR_RANGE: tuple[float, float] = (0.3, 3.0)
_UNASSIGNED = "Unassigned"
log = logging.getLogger(__name__)
_TIME_TOLERANCE_S = 1e-6


@dataclass(frozen=True)
class ScaleResult:
    """Outcome of :func:`scale_model`.

    Attributes:
        output_model: the scaled model file.
        scale_factors: per body of the model, the (x, y, z) scale factors applied by the
            ModelScaler (empty when the setup does not apply it).
        total_mass_kg: total mass of the scaled model in kilograms.
        time_range_s: the static time range (start, end) in seconds used for scaling.
    """

    output_model: Path
    scale_factors: dict[str, tuple[float, float, float]]
    total_mass_kg: float
    time_range_s: tuple[float, float]


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


def configure_opensim_logging(log_path: Path | None, level: str = "Warn") -> None:
    """Send OpenSim's log messages to ``log_path`` instead of ``./opensim.log``.

    Call this before any other OpenSim call of the process: a message logged earlier has
    already created ``opensim.log`` in the directory current at that time. Calling it again
    redirects the file sink to the new path. The level also applies to the console sink.

    Args:
        log_path: log file (e.g. the Snakemake rule's log); parents are created; messages are
            appended. None: no file sink, messages only go to the console (stdout), which a
            workflow job redirects into its log (`posebench.logs.log_to_file`).
        level: one of ``LOG_LEVELS``.
    """
    if level not in LOG_LEVELS:
        raise ValueError(f"unknown OpenSim log level {level!r}; expected one of {LOG_LEVELS}.")
    osim.Logger.removeFileSink()
    if log_path is not None:
        log_path = Path(log_path).resolve()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        osim.Logger.addFileSink(str(log_path))
    osim.Logger.setLevelString(level)


def select_static_window(
    positions_m: NDArray[np.floating], times_s: NDArray[np.floating], window_s: float
) -> tuple[float, float]:
    """Find the stillest window in which every marker is present, for static scaling.

    Args:
        positions_m: (T, M, 3) positions in metres of the markers that scaling uses; NaN
            where missing.
        times_s: (T,) strictly increasing times in seconds; the frame rate is taken from the
            median time step.
        window_s: window length in seconds; it spans ``max(1, round(window_s * rate))``
            frames.

    Returns:
        (start, end) times in seconds of the first and last frame of the window whose frames
        all have every marker and whose mean marker speed (m/s) is lowest; the earliest such
        window on ties.

    Raises:
        ValueError: when the arguments are inconsistent or no window has all markers in all
            of its frames.
    """
    positions = np.asarray(positions_m, dtype=np.float64)
    times = np.asarray(times_s, dtype=np.float64)
    if positions.ndim != 3 or positions.shape[2] != 3 or times.shape != positions.shape[:1]:
        raise ValueError(
            f"positions_m must be (T, M, 3) and times_s (T,), got {positions.shape} and "
            f"{times.shape}."
        )
    if times.size < 1 or not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
        raise ValueError("times_s must be non-empty, finite and strictly increasing.")
    if not (math.isfinite(window_s) and window_s > 0):
        raise ValueError(f"window_s must be a positive number of seconds, got {window_s}.")
    rate_hz = 1.0 / float(np.median(np.diff(times))) if times.size > 1 else 1.0
    n_window = max(1, round(window_s * rate_hz))
    complete = np.all(np.isfinite(positions), axis=(1, 2))
    # Mean marker speed over each interval between consecutive frames (NaN if incomplete).
    speeds = np.full(times.size, np.nan)
    if times.size > 1:
        steps = np.linalg.norm(np.diff(positions, axis=0), axis=2).mean(axis=1)
        speeds[:-1] = steps / np.diff(times)
    best_start, best_cost = -1, math.inf
    for start in range(times.size - n_window + 1):
        if not complete[start : start + n_window].all():
            continue
        inside = speeds[start : start + n_window - 1]
        if n_window == 1:
            around = speeds[max(start - 1, 0) : start + 1]
            inside = around[np.isfinite(around)]
        cost = float(inside.mean()) if inside.size else 0.0
        if cost < best_cost:
            best_start, best_cost = start, cost
    if best_start < 0:
        raise ValueError(
            f"no window of {n_window} frames ({window_s} s at {rate_hz:.6g} Hz) has all "
            f"{positions.shape[1]} markers present: {int(complete.sum())} of {times.size} "
            f"frames have all markers, the longest run of such frames is "
            f"{_longest_run(complete)} frames. Use a shorter window or better marker data."
        )
    return float(times[best_start]), float(times[best_start + n_window - 1])


def _longest_run(mask: NDArray[np.bool_]) -> int:
    """Length of the longest run of True values in a 1-D boolean array."""
    longest = current = 0
    for value in mask:
        current = current + 1 if value else 0
        longest = max(longest, current)
    return longest


def scale_model(
    *,
    generic_model: Path,
    marker_set: Path,
    scaling_setup: Path,
    trc: Path,
    mass_kg: float,
    height_m: float | None,
    time_range_s: tuple[float, float],
    output_model: Path,
    geometry_dir: Path | None,
) -> ScaleResult:
    """Scale a generic OpenSim model to a subject with the ScaleTool of a setup file.

    The setup file provides the measurements, manual scales, the marker placer's tasks and
    the apply flags; every file, the time range and the subject's mass and height are
    overridden with the arguments (absolute paths, so the working directory and the setup
    file's location do not matter). The marker placer's coordinate file and output motion
    and marker files are set to ``Unassigned``: the static pose is solved from the markers
    alone and only the model is written. The model is written to a temporary directory and
    moved to ``output_model`` only once it has been checked.

    Args:
        generic_model: the unscaled model (.osim).
        marker_set: marker set file (.xml) that replaces the generic model's markers.
        scaling_setup: ScaleTool setup file (.xml).
        trc: static marker trial (.trc).
        mass_kg: subject mass in kilograms (the scaled model's total mass).
        height_m: subject height in metres (informational; written in millimetres as the
            setup's ``height`` element documents), or None if unknown.
        time_range_s: (start, end) of the static trial in seconds, e.g. from
            :func:`select_static_window`.
        output_model: scaled model file (.osim) to write.
        geometry_dir: folder of the model's mesh files (.vtp), added to OpenSim's geometry
            search path; None to leave the search path alone.

    Raises:
        FileNotFoundError: when an input file is missing.
        ValueError: when the arguments are implausible, the TRC lacks markers the
            measurements need in the time range, or a scale factor is outside
            ``SCALE_FACTOR_RANGE``.
        RuntimeError: when OpenSim's ScaleTool fails or its output is missing or unreadable.
    """
    for label, file in (
        ("generic model", generic_model),
        ("marker set", marker_set),
        ("scaling setup", scaling_setup),
        ("marker file", trc),
    ):
        _require_file(label, file)
    if not (math.isfinite(mass_kg) and mass_kg > 0):
        raise ValueError(f"mass_kg must be a positive number of kilograms, got {mass_kg}.")
    if height_m is not None and not (math.isfinite(height_m) and height_m > 0):
        raise ValueError(f"height_m must be a positive number of metres or None, got {height_m}.")
    start_s, end_s = time_range_s
    if not start_s <= end_s:
        raise ValueError(
            f"time_range_s must be (start, end) with start <= end, got {time_range_s}."
        )
    if geometry_dir is not None:
        osim.ModelVisualizer.addDirToGeometrySearchPaths(str(Path(geometry_dir).resolve()))

    tool = osim.ScaleTool(str(Path(scaling_setup).resolve()))
    _check_scaling_markers(tool, read_trc(trc), Path(trc), Path(scaling_setup), time_range_s)
    time_range = osim.ArrayDouble()
    time_range.append(float(start_s))
    time_range.append(float(end_s))
    output_model = Path(output_model)
    with tempfile.TemporaryDirectory(prefix="posebench_scale_") as tmp:
        tmp_model = Path(tmp) / output_model.name
        tmp_scales = Path(tmp) / "scale_set.xml"
        tool.setPathToSubject("")
        tool.setSubjectMass(float(mass_kg))
        tool.setSubjectHeight(-1.0 if height_m is None else 1000.0 * float(height_m))
        model_maker = tool.getGenericModelMaker()
        model_maker.setModelFileName(str(Path(generic_model).resolve()))
        model_maker.setMarkerSetFileName(str(Path(marker_set).resolve()))
        scaler = tool.getModelScaler()
        scaler.setMarkerFileName(str(Path(trc).resolve()))
        scaler.setTimeRange(time_range)
        scaler.setOutputModelFileName(str(tmp_model))
        scaler.setOutputScaleFileName(str(tmp_scales))
        placer = tool.getMarkerPlacer()
        placer.setMarkerFileName(str(Path(trc).resolve()))
        placer.setTimeRange(time_range)
        placer.setCoordinateFileName(_UNASSIGNED)
        placer.setOutputModelFileName(str(tmp_model))
        placer.setOutputMotionFileName(_UNASSIGNED)
        placer.setOutputMarkerFileName(_UNASSIGNED)
        context = (
            f"scaling {generic_model} with setup {scaling_setup} to markers {trc} "
            f"over {start_s:.6g}-{end_s:.6g} s"
        )
        try:
            succeeded = tool.run()
        except RuntimeError as exc:
            raise RuntimeError(f"{context} failed in OpenSim: {exc}") from exc
        # ScaleTool.run() returns false whenever the MarkerPlacer is not applied (its
        # processModel returns false at once), even when the ModelScaler succeeded; only
        # with the MarkerPlacer applied does false mean failure.
        if not succeeded and placer.getApply():
            raise RuntimeError(f"{context}: ScaleTool.run() returned false; see the OpenSim log.")
        if not tmp_model.is_file():
            raise RuntimeError(
                f"{context}: no scaled model was written (ScaleTool.run() returned "
                f"{succeeded}); check that the setup applies the ModelScaler or the "
                "MarkerPlacer, and see the OpenSim log."
            )
        try:
            model = osim.Model(str(tmp_model))
            total_mass_kg = float(model.getTotalMass(model.initSystem()))
        except RuntimeError as exc:
            raise RuntimeError(f"{context}: the scaled model does not load: {exc}") from exc
        bodies = {model.getBodySet().get(i).getName() for i in range(model.getBodySet().getSize())}
        scale_factors = {
            body: factors
            for body, factors in (
                _read_scale_factors(tmp_scales) if tmp_scales.is_file() else {}
            ).items()
            if body in bodies
        }
        low, high = SCALE_FACTOR_RANGE
        for body, factors in scale_factors.items():
            if not all(math.isfinite(f) and low <= f <= high for f in factors):
                raise ValueError(
                    f"{context}: body {body!r} got scale factors {factors}, expected each in "
                    f"[{low}, {high}]; check the TRC's units and marker names, and that the "
                    "time range holds a static pose."
                )
        move_into_place(tmp_model, output_model)
    return ScaleResult(
        output_model=output_model,
        scale_factors=scale_factors,
        total_mass_kg=total_mass_kg,
        time_range_s=(float(start_s), float(end_s)),
    )


def _require_file(label: str, path: Path) -> None:
    """Raise FileNotFoundError naming ``label`` when ``path`` is not a file."""
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"{label} {path} does not exist (resolved: {Path(path).resolve()})."
        )


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


def _check_scaling_markers(
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
    in_range = (trc_data.times_s >= start_s - _TIME_TOLERANCE_S) & (
        trc_data.times_s <= end_s + _TIME_TOLERANCE_S
    )
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


def _read_scale_factors(scale_set_file: Path) -> dict[str, tuple[float, float, float]]:
    """Read the (x, y, z) scale factors per body from a ScaleSet file written by OpenSim."""
    factors: dict[str, tuple[float, float, float]] = {}
    for scale in ET.parse(scale_set_file).getroot().iter("Scale"):
        apply = (scale.findtext("apply") or "true").strip().lower() == "true"
        segment = (scale.findtext("segment") or "").strip()
        values = [float(v) for v in (scale.findtext("scales") or "").split()]
        if apply and segment and len(values) == 3:
            factors[segment] = (values[0], values[1], values[2])
    return factors


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
        _require_file(label, file)
    if not (math.isfinite(accuracy) and accuracy > 0):
        raise ValueError(f"accuracy must be a positive number, got {accuracy}.")
    if geometry_dir is not None:
        osim.ModelVisualizer.addDirToGeometrySearchPaths(str(Path(geometry_dir).resolve()))
    trc_data = read_trc(trc)
    if time_range_s is None:
        time_range_s = (float(trc_data.times_s[0]), float(trc_data.times_s[-1]))
    start_s, end_s = time_range_s
    in_range = (trc_data.times_s >= start_s - _TIME_TOLERANCE_S) & (
        trc_data.times_s <= end_s + _TIME_TOLERANCE_S
    )
    n_expected = int(in_range.sum())
    if n_expected == 0:
        raise ValueError(
            f"{trc}: no frame in the IK time range {start_s}-{end_s} s (the TRC spans "
            f"{trc_data.times_s[0]}-{trc_data.times_s[-1]} s)."
        )
    tool = osim.InverseKinematicsTool(str(Path(ik_setup).resolve()))
    _check_ik_markers(tool, trc_data, Path(trc), Path(ik_setup), in_range)
    context = f"inverse kinematics of {trc} with model {model} and setup {ik_setup}"
    with tempfile.TemporaryDirectory(prefix="posebench_ik_") as tmp:
        tmp_motion = Path(tmp) / Path(output_motion).name
        tool.set_model_file(str(Path(model).resolve()))
        tool.setMarkerDataFileName(str(Path(trc).resolve()))
        tool.setCoordinateFileName(_UNASSIGNED)
        tool.setStartTime(float(start_s))
        tool.setEndTime(float(end_s))
        tool.set_accuracy(float(accuracy))
        tool.set_report_errors(True)
        tool.set_report_marker_locations(False)
        tool.setResultsDir(tmp)
        tool.setOutputMotionFileName(str(tmp_motion))
        try:
            succeeded = tool.run()
        except RuntimeError as exc:
            raise RuntimeError(f"{context} failed in OpenSim: {exc}") from exc
        if not succeeded:
            raise RuntimeError(f"{context}: InverseKinematicsTool.run() returned false.")
        tmp_errors = Path(tmp) / f"{tool.getName()}_ik_marker_errors.sto"
        for produced in (tmp_motion, tmp_errors):
            if not produced.is_file():
                raise RuntimeError(f"{context}: OpenSim wrote no {produced.name}.")
        motion = read_mot(tmp_motion)
        values = motion.table.to_numpy()
        if motion.in_degrees is not True:
            raise RuntimeError(
                f"{context}: the motion's header has inDegrees={motion.header.get('inDegrees')}"
                ", expected yes."
            )
        if len(motion.table) != n_expected:
            raise RuntimeError(
                f"{context}: the motion has {len(motion.table)} rows, expected {n_expected} "
                f"(TRC frames in {start_s}-{end_s} s)."
            )
        if not np.all(np.isfinite(values)):
            bad = [str(c) for c in motion.table.columns if not np.isfinite(motion.table[c]).all()]
            raise RuntimeError(f"{context}: non-finite values in coordinates {bad}.")
        errors = read_mot(tmp_errors).table
        rms_m = float(np.sqrt(np.mean(errors["marker_error_RMS"].to_numpy() ** 2)))
        max_m = float(errors["marker_error_max"].max())
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


def _check_ik_markers(
    tool: Any, trc_data: TrcData, trc: Path, setup: Path, in_range: NDArray[np.bool_]
) -> None:
    """Check that the TRC has the applied IK marker tasks and no frame without any of them.
    ``tool`` is an ``opensim.InverseKinematicsTool``."""
    tasks = tool.getIKTaskSet()
    markers = [
        tasks.get(i).getName()
        for i in range(tasks.getSize())
        if tasks.get(i).getConcreteClassName() == "IKMarkerTask" and tasks.get(i).getApply()
    ]
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


def _geometry_dir(setup_dir: Path) -> Path | None:
    geometry = Path(setup_dir) / "Geometry"
    return geometry if geometry.is_dir() else None


def _portable(path: Path) -> str:
    """`path` relative to the working directory (the project) when it lies inside it, so
    that reports do not depend on where the project is."""
    path = Path(path)
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _marker_pair(first: str, second: str) -> ET.Element:
    pair = ET.Element("MarkerPair")
    ET.SubElement(pair, "markers").text = f" {first} {second}"
    return pair


def adapt_ik_setup(marker_set: MarkerSet, setup: Path, output: Path) -> list[str]:
    """Write `setup` to `output` keeping only IK marker tasks of markers in `marker_set`,
    with its `ik_weights`, and without coordinate tasks if the set says so; return the
    names of the tasks left out or switched off."""
    tree = ET.parse(setup)
    dropped = []
    available = set(marker_set.marker_names)
    for objects in tree.iter("objects"):
        if not marker_set.ik_coordinate_tasks:
            for task in objects.findall("IKCoordinateTask"):
                apply = task.find("apply")
                if apply is None:
                    apply = ET.SubElement(task, "apply")
                if apply.text is None or apply.text.strip() != "false":
                    dropped.append(task.get("name", ""))
                apply.text = "false"
        for task in list(objects.findall("IKMarkerTask")):
            name = task.get("name", "")
            if name not in available:
                objects.remove(task)
                dropped.append(name)
            elif name in marker_set.ik_weights:
                weight = task.find("weight")
                if weight is None:
                    weight = ET.SubElement(task, "weight")
                weight.text = f"{marker_set.ik_weights[name]:g}"
    with atomic_output(output) as tmp:
        tree.write(tmp, encoding="UTF-8", xml_declaration=True)
    return sorted(dropped)


def adapt_scaling_setup(marker_set: MarkerSet, setup: Path, output: Path) -> dict[str, Any]:
    """Write `setup` to `output` adapted to `marker_set`: measurements named in its
    `scaling_pairs` get those pairs; other pairs using markers the set lacks are left out,
    and a measurement left without pairs is switched off (its bodies stay unscaled).
    Marker-placer tasks of absent markers are removed. Returns what was changed."""
    tree = ET.parse(setup)
    available = set(marker_set.marker_names)
    changes: dict[str, Any] = {"replaced": [], "dropped_pairs": [], "switched_off": []}
    for measurement in tree.iter("Measurement"):
        name = measurement.get("name", "")
        objects = measurement.find("MarkerPairSet/objects")
        if objects is None:
            continue
        if name in marker_set.scaling_pairs:
            for pair in list(objects):
                objects.remove(pair)
            for first, second in marker_set.scaling_pairs[name]:
                objects.append(_marker_pair(first, second))
            changes["replaced"].append(name)
            continue
        for pair in list(objects.findall("MarkerPair")):
            markers = (pair.findtext("markers") or "").split()
            if not set(markers) <= available:
                objects.remove(pair)
                changes["dropped_pairs"].append(f"{name}: {' '.join(markers)}")
        if not objects.findall("MarkerPair"):
            apply = measurement.find("apply")
            if apply is not None and apply.text and apply.text.strip() == "true":
                apply.text = "false"
                changes["switched_off"].append(name)
    for placer in tree.iter("MarkerPlacer"):
        for objects in placer.iter("objects"):
            for task in list(objects.findall("IKMarkerTask")):
                if task.get("name", "") not in available:
                    objects.remove(task)
    with atomic_output(output) as tmp:
        tree.write(tmp, encoding="UTF-8", xml_declaration=True)
    return changes


def scale_session(
    *,
    trc: Path,
    marker_set: str,
    setup_dir: Path,
    mass_kg: float,
    height_m: float | None,
    window_s: float,
    output_model: Path,
    output_report: Path,
) -> ScaleResult:
    """Stage `scale`: scale the marker set's OpenSim model on the stillest window of `trc`.

    The scaling set-up is first adapted to the marker set (`adapt_scaling_setup`). The
    window is the stillest `window_s` in which every marker of the scaling measurements is
    present; it, the adaptations, the participant and the scale factors go to
    `output_report` (JSON).
    """
    markers = get_marker_set(marker_set)
    files = markers.opensim_paths(Path(setup_dir))
    with tempfile.TemporaryDirectory(prefix="posebench_setup_") as tmp:
        scaling_setup = Path(tmp) / files["scaling_setup"].name
        changes = adapt_scaling_setup(markers, files["scaling_setup"], scaling_setup)
        names = scaling_marker_names(osim.ScaleTool(str(scaling_setup)))
        data = read_trc(trc)
        absent = [name for name in names if name not in data.marker_names]
        if absent:
            raise ValueError(
                f"{trc}: markers {absent} needed by {files['scaling_setup']} are not in the "
                f"TRC; the marker set {marker_set!r} does not match this scaling set-up."
            )
        columns = [data.marker_names.index(name) for name in names]
        window = select_static_window(data.positions_m[:, columns], data.times_s, window_s)
        result = scale_model(
            generic_model=files["model"],
            marker_set=files["markers"],
            scaling_setup=scaling_setup,
            trc=trc,
            mass_kg=mass_kg,
            height_m=height_m,
            time_range_s=window,
            output_model=output_model,
            geometry_dir=_geometry_dir(setup_dir),
        )
    write_json(
        output_report,
        {
            "scaling_mode": "video",
            "trc": _portable(trc),
            "marker_set": marker_set,
            "opensim_files": {role: _portable(path) for role, path in files.items()},
            "scaling_setup_changes": changes,
            "mass_kg": mass_kg,
            "height_m": height_m,
            "scaling_markers": names,
            "static_window_s": list(result.time_range_s),
            "model_mass_kg": result.total_mass_kg,
            "scale_factors": {body: list(f) for body, f in sorted(result.scale_factors.items())},
        },
    )
    return result


def _geometry_scales(model: Any, label: Path) -> dict[str, NDArray[np.float64]]:
    """Per body of `model`, the scale factors of its first attached geometry: what OpenSim's
    ScaleTool multiplied that body's geometry (and markers) by."""
    scales = {}
    bodies = model.getBodySet()
    for i in range(bodies.getSize()):
        body = bodies.get(i)
        if body.getPropertyByName("attached_geometry").size() == 0:
            continue
        scales[body.getName()] = np.asarray(
            body.get_attached_geometry(0).get_scale_factors().to_numpy(), dtype=np.float64
        )
    if not scales:
        raise ValueError(f"{label}: no body has attached geometry to read scale factors from.")
    return scales


def place_markers_on_scaled_model(
    *,
    scaled_model: Path,
    generic_model: Path,
    marker_set: Path,
    output_model: Path,
    geometry_dir: Path | None,
) -> tuple[dict[str, tuple[float, float, float]], float]:
    """Write `scaled_model` with the markers of `marker_set` (defined on `generic_model`)
    in place of its own, each marker's location scaled by its body's scale factors.

    A body's scale factors are those of its geometry in `scaled_model` divided by those in
    `generic_model`, which is how OpenSim's ScaleTool moves markers when it scales a body
    (`marker placer` adjustments to a static trial are not made: the markers sit where the
    generic marker set puts them on the scaled bones). The two models must share the bodies
    the markers are on. Returns the factors used, per body, and the total mass of the written
    model (kg).

    Raises:
        FileNotFoundError: an input is missing.
        ValueError: a marker's body is missing from either model or has no geometry, or a
            factor lies outside `SCALE_FACTOR_RANGE`.
        RuntimeError: the resulting model does not load in OpenSim.
    """
    for label, file in (
        ("scaled model", scaled_model),
        ("generic model", generic_model),
        ("marker set", marker_set),
    ):
        _require_file(label, file)
    if geometry_dir is not None:
        osim.ModelVisualizer.addDirToGeometrySearchPaths(str(Path(geometry_dir).resolve()))
    model = osim.Model(str(Path(scaled_model).resolve()))
    scaled = _geometry_scales(model, Path(scaled_model))
    generic = _geometry_scales(osim.Model(str(Path(generic_model).resolve())), generic_model)
    markers = osim.MarkerSet(str(Path(marker_set).resolve()))
    used: dict[str, tuple[float, float, float]] = {}
    low, high = SCALE_FACTOR_RANGE
    for i in range(markers.getSize()):
        marker = markers.get(i)
        body = marker.getParentFrameName().rsplit("/", 1)[-1]
        if body not in scaled or body not in generic:
            where = scaled_model if body not in scaled else generic_model
            raise ValueError(
                f"Marker {marker.getName()!r} of {marker_set} is on body {body!r}, which "
                f"{where} lacks (or has no geometry); the dataset's scaled model and the "
                "marker set's model must share their bodies. Use scaling: video for this "
                "dataset, or a marker set made for its model."
            )
        factors = scaled[body] / generic[body]
        if not np.all(np.isfinite(factors) & (factors >= low) & (factors <= high)):
            raise ValueError(
                f"{scaled_model}: body {body!r} is scaled by {factors.round(3).tolist()} "
                f"relative to {generic_model}, outside [{low}, {high}]; is it a scaled "
                "version of the same model?"
            )
        used[body] = (float(factors[0]), float(factors[1]), float(factors[2]))
        location = np.asarray(marker.get_location().to_numpy(), dtype=np.float64) * factors
        marker.set_location(osim.Vec3(*location.tolist()))
    model.set_MarkerSet(markers)
    model.finalizeConnections()
    context = f"placing the markers of {marker_set} on {scaled_model}"
    with tempfile.TemporaryDirectory(prefix="posebench_markers_") as tmp:
        tmp_model = Path(tmp) / Path(output_model).name
        try:
            model.initSystem()
            model.printToXML(str(tmp_model))
            written = osim.Model(str(tmp_model))
            total_mass_kg = float(written.getTotalMass(written.initSystem()))
        except RuntimeError as exc:
            raise RuntimeError(f"{context}: the model does not load in OpenSim: {exc}") from exc
        move_into_place(tmp_model, Path(output_model))
    return dict(sorted(used.items())), total_mass_kg


def adopt_scaled_model(
    *,
    scaled_model: Path,
    marker_set: str,
    setup_dir: Path,
    mass_kg: float,
    height_m: float | None,
    output_model: Path,
    output_report: Path,
) -> dict[str, Any]:
    """Stage `scale` with `scaling: mocap`: the dataset's scaled model (OpenCapBench's
    default, the subject's model scaled on motion capture) with the marker set's markers
    placed on it (`place_markers_on_scaled_model`); the report says so."""
    markers = get_marker_set(marker_set)
    files = markers.opensim_paths(Path(setup_dir))
    factors, total_mass_kg = place_markers_on_scaled_model(
        scaled_model=scaled_model,
        generic_model=files["model"],
        marker_set=files["markers"],
        output_model=output_model,
        geometry_dir=_geometry_dir(setup_dir),
    )
    report: dict[str, Any] = {
        "scaling_mode": "mocap",
        "scaled_model_source": _portable(scaled_model),
        "marker_set": marker_set,
        "opensim_files": {role: _portable(path) for role, path in files.items()},
        "mass_kg": mass_kg,
        "height_m": height_m,
        "model_mass_kg": total_mass_kg,
        "marker_scale_factors": {body: list(f) for body, f in factors.items()},
    }
    if not math.isclose(total_mass_kg, mass_kg, rel_tol=0.1):
        report["warning"] = (
            f"the dataset's model weighs {total_mass_kg:.1f} kg, the participant {mass_kg:.1f} "
            "kg (metadata): is it this subject's model?"
        )
        log.warning("%s: %s", scaled_model, report["warning"], extra=TERMINAL)
    write_json(output_report, report)
    return report


def inverse_kinematics_trial(
    *,
    trc: Path,
    model: Path,
    marker_set: str,
    setup_dir: Path,
    accuracy: float,
    output_motion: Path,
    output_marker_errors: Path,
    output_report: Path,
) -> IkResult:
    """Stage `inverse_kinematics`: IK of one trial with the marker set's IK set-up, adapted
    to the marker set (`adapt_ik_setup`)."""
    markers = get_marker_set(marker_set)
    files = markers.opensim_paths(Path(setup_dir))
    with tempfile.TemporaryDirectory(prefix="posebench_setup_") as tmp:
        ik_setup = Path(tmp) / files["ik_setup"].name
        dropped = adapt_ik_setup(markers, files["ik_setup"], ik_setup)
        result = run_inverse_kinematics(
            model=model,
            ik_setup=ik_setup,
            trc=trc,
            output_motion=output_motion,
            output_marker_errors=output_marker_errors,
            accuracy=accuracy,
            geometry_dir=_geometry_dir(setup_dir),
        )
    write_json(
        output_report,
        {
            "trc": _portable(trc),
            "model": _portable(model),
            "ik_setup": _portable(files["ik_setup"]),
            "ik_tasks_left_out": dropped,
            "ik_weights_overridden": dict(sorted(markers.ik_weights.items())),
            "accuracy": accuracy,
            "frames": result.n_frames,
            "time_range_s": list(result.time_range_s),
            "rms_marker_error_m": result.rms_marker_error_m,
            "max_marker_error_m": result.max_marker_error_m,
        },
    )
    return result
