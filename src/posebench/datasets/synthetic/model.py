"""The OpenSim model that generates a synthetic subject: loading it with a marker set,
measuring its standing geometry and computing its markers in ground."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import opensim as osim

from posebench.camera import FloatArray
from posebench.datasets.synthetic.motions import BodyModel
from posebench.opensim.setups import add_geometry_dir, require_file

# Markers closest to the floor in standing; the static pose puts the lowest at this height.
_FOOT_MARKERS = (
    "r_toe_study",
    "r_5meta_study",
    "r_calc_study",
    "L_toe_study",
    "L_5meta_study",
    "L_calc_study",
)
_FLOOR_CLEARANCE_M = 0.01
_NEEDED_COORDINATES = {"pelvis_tx", "pelvis_ty", "pelvis_tz", "knee_angle_r", "knee_angle_l"}


@dataclass
class GeneratingModel:
    """The generating OpenSim model with its marker set, its state and its
    :class:`BodyModel`."""

    model: Any  # opensim.Model
    state: Any  # SimTK::State
    coordinates: list[Any]
    markers: list[Any]
    marker_names: tuple[str, ...]
    body: BodyModel

    def set_pose(self, pose: Mapping[str, float]) -> None:
        """Set every coordinate to ``pose[name]`` and realize the positions."""
        values = (pose[name] for name in self.body.coordinate_names)
        _set_coordinates(self.model, self.state, self.coordinates, values)

    def marker_positions(self, values: Mapping[str, FloatArray]) -> FloatArray:
        """(T, M, 3) marker positions in ground for (T,) coordinate series."""
        n_samples = len(next(iter(values.values())))
        table = np.stack([values[name] for name in self.body.coordinate_names], axis=1)
        out = np.empty((n_samples, len(self.markers), 3))
        for i in range(n_samples):
            _set_coordinates(self.model, self.state, self.coordinates, table[i])
            for j, marker in enumerate(self.markers):
                out[i, j] = marker.getLocationInGround(self.state).to_numpy()
        return out

    def write(self, path: Path) -> None:
        """Write the model with its marker set (.osim), in the default pose."""
        self.set_pose(self.body.defaults)
        self.model.printToXML(str(path))


def load_model(
    model_path: Path,
    marker_set: Path,
    geometry_dir: Path | None,
    extra_marker_sets: Sequence[Path] = (),
) -> GeneratingModel:
    """Load ``model_path`` (.osim) with the markers of ``marker_set`` (.xml), then those of
    ``extra_marker_sets`` it does not have yet (a marker of the same name must be the same
    marker: same body and location).

    Args:
        model_path: a gait model (Pose2Sim/OpenCap style: pelvis translations, knee angles).
        marker_set: the markers put on the model; it must have the OpenCap ``_study`` foot
            markers.
        geometry_dir: the model's mesh folder, added to OpenSim's geometry search path; None
            to leave the search path alone.

    Raises:
        FileNotFoundError: when the model or the marker set does not exist.
        ValueError: when the foot markers or the needed coordinates are missing.
    """
    add_geometry_dir(geometry_dir)
    for label, path in (("model", model_path), ("marker set", marker_set)):
        require_file(label, path)
    for path in extra_marker_sets:
        require_file("marker set", path)
    model = osim.Model(str(model_path))
    model.updateMarkerSet(osim.MarkerSet(str(marker_set)))
    for path in extra_marker_sets:
        _add_markers(model, Path(path))
    model.finalizeConnections()
    state = model.initSystem()
    coordinate_set = model.getCoordinateSet()
    coordinates = [coordinate_set.get(i) for i in range(coordinate_set.getSize())]
    names = tuple(c.getName() for c in coordinates)
    marker_set_obj = model.getMarkerSet()
    markers = [marker_set_obj.get(i) for i in range(marker_set_obj.getSize())]
    marker_names = tuple(m.getName() for m in markers)
    missing = [name for name in _FOOT_MARKERS if name not in marker_names]
    if missing:
        raise ValueError(
            f"{marker_set}: the synthetic subject needs the foot markers {missing} (OpenCap "
            "`_study` markers, as in Pose2Sim's Markers_LSTM.xml)"
        )
    rotational = tuple(c.getMotionType() == osim.Coordinate.Rotational for c in coordinates)
    defaults = {c.getName(): float(c.getDefaultValue()) for c in coordinates}
    ranges = {c.getName(): (float(c.getRangeMin()), float(c.getRangeMax())) for c in coordinates}
    if not set(names) >= _NEEDED_COORDINATES:
        raise ValueError(
            f"{model_path}: the synthetic subject needs the coordinates "
            f"{sorted(_NEEDED_COORDINATES)} of a gait model (Pose2Sim/OpenCap style), the model "
            f"has {list(names)}"
        )
    # The default pose.
    _set_coordinates(model, state, coordinates, (defaults[name] for name in names))
    body = _standing_body(model, state, markers, marker_names, names, rotational, defaults, ranges)
    return GeneratingModel(model, state, coordinates, markers, marker_names, body)


def _add_markers(model: Any, path: Path) -> None:
    """Add the markers of the marker set file ``path`` that ``model`` lacks; ValueError for
    a marker the model has with another body or location."""
    extra = osim.MarkerSet(str(path))
    existing = model.getMarkerSet()
    for i in range(extra.getSize()):
        marker = extra.get(i)
        name = marker.getName()
        if not existing.contains(name):
            model.addMarker(marker.clone())
            continue
        have = existing.get(name)
        same_body = have.getParentFrameName() == marker.getParentFrameName()
        offset = np.abs(have.get_location().to_numpy() - marker.get_location().to_numpy())
        if not same_body or offset.max() > 1e-9:
            raise ValueError(
                f"{path}: marker {name!r} differs from the model's marker of that name "
                f"({marker.getParentFrameName()} vs {have.getParentFrameName()})"
            )


def _set_coordinates(
    model: Any, state: Any, coordinates: list[Any], values: Iterable[float]
) -> None:
    """Set each coordinate of ``coordinates`` to its value in ``values`` (same order), then
    realize the positions of ``model`` in ``state``."""
    for coordinate, value in zip(coordinates, values, strict=True):
        coordinate.setValue(state, float(value), False)
    model.realizePosition(state)


def _standing_body(
    model: Any,
    state: Any,
    markers: list[Any],
    marker_names: tuple[str, ...],
    names: tuple[str, ...],
    rotational: tuple[bool, ...],
    defaults: dict[str, float],
    ranges: dict[str, tuple[float, float]],
) -> BodyModel:
    """The :class:`BodyModel` of a model whose state is realized in the default pose."""
    feet = [marker_names.index(name) for name in _FOOT_MARKERS]
    lowest = min(float(markers[i].getLocationInGround(state).to_numpy()[1]) for i in feet)
    bodies = model.getBodySet()

    def origin(name: str) -> FloatArray:
        return np.asarray(bodies.get(name).getPositionInGround(state).to_numpy()[:2])

    pelvis = origin("pelvis")
    hip_offset, thigh, shank = {}, {}, {}
    for side in ("r", "l"):
        hip, knee, ankle = origin(f"femur_{side}"), origin(f"tibia_{side}"), origin(f"talus_{side}")
        hip_offset[side] = hip - pelvis
        thigh[side] = knee - hip
        shank[side] = ankle - knee
    return BodyModel(
        coordinate_names=names,
        rotational=rotational,
        defaults=defaults,
        ranges=ranges,
        standing_pelvis_ty=defaults["pelvis_ty"] + _FLOOR_CLEARANCE_M - lowest,
        hip_offset=hip_offset,
        thigh=thigh,
        shank=shank,
    )
