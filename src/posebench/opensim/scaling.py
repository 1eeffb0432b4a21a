"""Scaling of an OpenSim model: by OpenSim's ScaleTool on a static trial (`scale_model`), or
a marker set placed on a model scaled elsewhere (`place_markers_on_scaled_model`)."""

from __future__ import annotations

import math
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import opensim as osim
from numpy.typing import NDArray

from posebench.io.atomic import move_into_place
from posebench.io.trc import TrcData, read_trc
from posebench.opensim.markers import check_scaling_markers, scaling_marker_names
from posebench.opensim.setups import UNASSIGNED, add_geometry_dir, require_file
from posebench.reports.kinematics import Factors

#: Plausible range of a body's scale factor (dimensionless, per axis).
SCALE_FACTOR_RANGE: tuple[float, float] = (0.3, 3.0)
#: Relative difference of model and participant mass above which the model may not be the
#: participant's.
MASS_TOLERANCE = 0.1


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
    scale_factors: dict[str, Factors]
    total_mass_kg: float
    time_range_s: tuple[float, float]


def scaling_setup_markers(scaling_setup: Path) -> list[str]:
    """Markers used by the applied measurements of a ScaleTool setup file."""
    return scaling_marker_names(osim.ScaleTool(str(scaling_setup)))


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
    trc_data: TrcData | None = None,
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
            :func:`posebench.timeseries.select_static_window`.
        output_model: scaled model file (.osim) to write.
        geometry_dir: folder of the model's mesh files (.vtp), added to OpenSim's geometry
            search path; None to leave the search path alone.
        trc_data: the contents of ``trc`` when the caller has already read them
            (:func:`posebench.io.trc.read_trc`); None to read them here.

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
        require_file(label, file)
    _check_subject(mass_kg, height_m, time_range_s)
    start_s, end_s = time_range_s
    add_geometry_dir(geometry_dir)

    tool = osim.ScaleTool(str(Path(scaling_setup).resolve()))
    if trc_data is None:
        trc_data = read_trc(trc)
    check_scaling_markers(tool, trc_data, Path(trc), Path(scaling_setup), time_range_s)
    output_model = Path(output_model)
    context = (
        f"scaling {generic_model} with setup {scaling_setup} to markers {trc} "
        f"over {start_s:.6g}-{end_s:.6g} s"
    )
    with tempfile.TemporaryDirectory(prefix="posebench_scale_") as tmp:
        tmp_model = Path(tmp) / output_model.name
        tmp_scales = Path(tmp) / "scale_set.xml"
        _configure_scale_tool(
            tool,
            generic_model=generic_model,
            marker_set=marker_set,
            trc=trc,
            mass_kg=mass_kg,
            height_m=height_m,
            time_range_s=time_range_s,
            output_model=tmp_model,
            output_scales=tmp_scales,
        )
        _run_scale_tool(tool, tmp_model, context)
        total_mass_kg, scale_factors = _check_scaled_model(tmp_model, tmp_scales, context)
        move_into_place(tmp_model, output_model)
    return ScaleResult(
        output_model=output_model,
        scale_factors=scale_factors,
        total_mass_kg=total_mass_kg,
        time_range_s=(float(start_s), float(end_s)),
    )


def _check_subject(
    mass_kg: float, height_m: float | None, time_range_s: tuple[float, float]
) -> None:
    """ValueError unless the mass and height are positive and the time range ordered."""
    if not (math.isfinite(mass_kg) and mass_kg > 0):
        raise ValueError(f"mass_kg must be a positive number of kilograms, got {mass_kg}.")
    if height_m is not None and not (math.isfinite(height_m) and height_m > 0):
        raise ValueError(f"height_m must be a positive number of metres or None, got {height_m}.")
    start_s, end_s = time_range_s
    if not start_s <= end_s:
        raise ValueError(
            f"time_range_s must be (start, end) with start <= end, got {time_range_s}."
        )


def _configure_scale_tool(
    tool: Any,
    *,
    generic_model: Path,
    marker_set: Path,
    trc: Path,
    mass_kg: float,
    height_m: float | None,
    time_range_s: tuple[float, float],
    output_model: Path,
    output_scales: Path,
) -> None:
    """Set the files, subject and time range of an ``opensim.ScaleTool`` (absolute paths;
    the marker placer writes no motion or marker file)."""
    start_s, end_s = time_range_s
    time_range = osim.ArrayDouble()
    time_range.append(float(start_s))
    time_range.append(float(end_s))
    tool.setPathToSubject("")
    tool.setSubjectMass(float(mass_kg))
    tool.setSubjectHeight(-1.0 if height_m is None else 1000.0 * float(height_m))
    model_maker = tool.getGenericModelMaker()
    model_maker.setModelFileName(str(Path(generic_model).resolve()))
    model_maker.setMarkerSetFileName(str(Path(marker_set).resolve()))
    scaler = tool.getModelScaler()
    scaler.setMarkerFileName(str(Path(trc).resolve()))
    scaler.setTimeRange(time_range)
    scaler.setOutputModelFileName(str(output_model))
    scaler.setOutputScaleFileName(str(output_scales))
    placer = tool.getMarkerPlacer()
    placer.setMarkerFileName(str(Path(trc).resolve()))
    placer.setTimeRange(time_range)
    placer.setCoordinateFileName(UNASSIGNED)
    placer.setOutputModelFileName(str(output_model))
    placer.setOutputMotionFileName(UNASSIGNED)
    placer.setOutputMarkerFileName(UNASSIGNED)


def _run_scale_tool(tool: Any, output_model: Path, context: str) -> None:
    """Run an ``opensim.ScaleTool``; RuntimeError when it fails or writes no model."""
    try:
        succeeded = tool.run()
    except RuntimeError as exc:
        raise RuntimeError(f"{context} failed in OpenSim: {exc}") from exc
    # ScaleTool.run() returns false whenever the MarkerPlacer is not applied (its
    # processModel returns false at once), even when the ModelScaler succeeded; only
    # with the MarkerPlacer applied does false mean failure.
    if not succeeded and tool.getMarkerPlacer().getApply():
        raise RuntimeError(f"{context}: ScaleTool.run() returned false; see the OpenSim log.")
    if not output_model.is_file():
        raise RuntimeError(
            f"{context}: no scaled model was written (ScaleTool.run() returned "
            f"{succeeded}); check that the setup applies the ModelScaler or the "
            "MarkerPlacer, and see the OpenSim log."
        )


def _check_scaled_model(
    model_file: Path, scale_set_file: Path, context: str
) -> tuple[float, dict[str, Factors]]:
    """Total mass (kg) of the scaled model and the scale factors of its bodies, checked to
    lie in `SCALE_FACTOR_RANGE`."""
    try:
        model = osim.Model(str(model_file))
        total_mass_kg = float(model.getTotalMass(model.initSystem()))
    except RuntimeError as exc:
        raise RuntimeError(f"{context}: the scaled model does not load: {exc}") from exc
    bodies = {model.getBodySet().get(i).getName() for i in range(model.getBodySet().getSize())}
    scale_factors = {
        body: factors
        for body, factors in (
            read_scale_factors(scale_set_file) if scale_set_file.is_file() else {}
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
    return total_mass_kg, scale_factors


def read_scale_factors(scale_set_file: Path) -> dict[str, Factors]:
    """Read the (x, y, z) scale factors per body from a ScaleSet file written by OpenSim."""
    factors: dict[str, Factors] = {}
    for scale in ET.parse(scale_set_file).getroot().iter("Scale"):
        apply = (scale.findtext("apply") or "true").strip().lower() == "true"
        segment = (scale.findtext("segment") or "").strip()
        values = [float(v) for v in (scale.findtext("scales") or "").split()]
        if apply and segment and len(values) == 3:
            factors[segment] = (values[0], values[1], values[2])
    return factors


def geometry_scales(model: Any, label: Path) -> dict[str, NDArray[np.float64]]:
    """Per body of `model` (an ``opensim.Model``), the scale factors of its first attached
    geometry: what OpenSim's ScaleTool multiplied that body's geometry (and markers) by."""
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
) -> tuple[dict[str, Factors], float]:
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
        require_file(label, file)
    add_geometry_dir(geometry_dir)
    model = osim.Model(str(Path(scaled_model).resolve()))
    scaled = geometry_scales(model, Path(scaled_model))
    generic = geometry_scales(osim.Model(str(Path(generic_model).resolve())), generic_model)
    markers = osim.MarkerSet(str(Path(marker_set).resolve()))
    used = _scale_marker_locations(
        markers,
        scaled,
        generic,
        scaled_model=scaled_model,
        generic_model=generic_model,
        marker_set=marker_set,
    )
    model.set_MarkerSet(markers)
    model.finalizeConnections()
    total_mass_kg = _write_model(
        model, Path(output_model), f"placing the markers of {marker_set} on {scaled_model}"
    )
    return dict(sorted(used.items())), total_mass_kg


def _scale_marker_locations(
    markers: Any,
    scaled: dict[str, NDArray[np.float64]],
    generic: dict[str, NDArray[np.float64]],
    *,
    scaled_model: Path,
    generic_model: Path,
    marker_set: Path,
) -> dict[str, Factors]:
    """Scale the location of each marker of an ``opensim.MarkerSet`` by its body's geometry
    scale in the scaled model (`scaled`) relative to the generic one (`generic`); return the
    factors used, per body."""
    used: dict[str, Factors] = {}
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
    return used


def _write_model(model: Any, output_model: Path, context: str) -> float:
    """Write an ``opensim.Model`` to `output_model` once it loads back; return its total
    mass in kilograms."""
    with tempfile.TemporaryDirectory(prefix="posebench_markers_") as tmp:
        tmp_model = Path(tmp) / output_model.name
        try:
            model.initSystem()
            model.printToXML(str(tmp_model))
            written = osim.Model(str(tmp_model))
            total_mass_kg = float(written.getTotalMass(written.initSystem()))
        except RuntimeError as exc:
            raise RuntimeError(f"{context}: the model does not load in OpenSim: {exc}") from exc
        move_into_place(tmp_model, output_model)
    return total_mass_kg


def model_mass_warning(model_mass_kg: float, mass_kg: float) -> str | None:
    """Why a model of `model_mass_kg` may not be the participant's of `mass_kg` (the masses
    differ by more than `MASS_TOLERANCE`), or None."""
    if math.isclose(model_mass_kg, mass_kg, rel_tol=MASS_TOLERANCE):
        return None
    return (
        f"the dataset's model weighs {model_mass_kg:.1f} kg, the participant {mass_kg:.1f} "
        "kg (metadata): is it this subject's model?"
    )
