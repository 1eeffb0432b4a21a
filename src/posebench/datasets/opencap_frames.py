"""Rotation from an OpenCap session's checkerboard (world) frame into OpenSim's frame.

OpenCap calibrates every camera against a checkerboard; its pose in the lab is recorded in
`sessionMetadata.yaml` as `checkerBoard.placement`. Which rotation a placement means is a
*convention*, and two are in use; each is a table below (data, not code), selected per
dataset with `datasets.<name>.placement_convention`:

- `opencapbench` (default): the rules OpenCapBench scores LabValidation with, including its
  legacy placements `backWall_largeCB`, `backWall_walking`, `ground_jumps`, `ground_gaits`.
  `ground` is about x by -90 deg, then about y by +90 deg.
- `opencap-core-2024`: opencap-core's rules since December 2024 (after LabValidation was
  recorded), with the newer names `Perpendicular` and `Lying`: `ground`/`Lying` is about x
  by +90 deg, then about y by +90 deg, which flips y and z of a ground-board subject
  compared with `opencapbench`.

A rule is a list of rotations about OpenSim's fixed axes, applied in the order written, so
`X_opensim = R @ X_board` with `R = R_last @ ... @ R_first`. A wall board can hang upside
down: where a rule has an `upside_down` list, it is used when the session's first camera
has `rotation[1, 1] < 0` (world->camera rotation), as both conventions detect it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Rotations = tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class PlacementRule:
    """Rotations (axis, degrees) about fixed axes, in order; `upside_down` replaces them
    when the board is detected upside down (None: the rule does not depend on it)."""

    rotations: Rotations
    upside_down: Rotations | None = None


_WALL = PlacementRule((("y", 90.0), ("z", 180.0)), upside_down=(("y", -90.0),))

PLACEMENT_CONVENTIONS: dict[str, dict[str, PlacementRule]] = {
    "opencapbench": {
        "backWall": _WALL,
        "backWall_largeCB": PlacementRule((("y", -90.0),)),
        # Body-fixed Y by -90 then Z by 180 = fixed-axis z by 180, then y by -90.
        "backWall_walking": PlacementRule((("z", 180.0), ("y", -90.0))),
        "ground": PlacementRule((("x", -90.0), ("y", 90.0))),
        "ground_jumps": PlacementRule((("x", 90.0), ("y", 180.0))),
        "ground_gaits": PlacementRule((("x", 90.0), ("y", 90.0))),
    },
    "opencap-core-2024": {
        "backWall": _WALL,
        "Perpendicular": _WALL,
        "ground": PlacementRule((("x", 90.0), ("y", 90.0))),
        "Lying": PlacementRule((("x", 90.0), ("y", 90.0))),
    },
}
DEFAULT_CONVENTION = "opencapbench"


class PlacementError(ValueError):
    """A placement or convention that has no rule; the message lists the known ones."""


def rotation_about(axis: str, degrees: float) -> FloatArray:
    """Right-handed rotation matrix about the x, y or z axis."""
    c, s = np.cos(np.radians(degrees)), np.sin(np.radians(degrees))
    c, s = round(c, 15), round(s, 15)
    matrices = {
        "x": [[1, 0, 0], [0, c, -s], [0, s, c]],
        "y": [[c, 0, s], [0, 1, 0], [-s, 0, c]],
        "z": [[c, -s, 0], [s, c, 0], [0, 0, 1]],
    }
    if axis not in matrices:
        raise ValueError(f"axis must be 'x', 'y' or 'z', got {axis!r}")
    return np.array(matrices[axis], dtype=np.float64)


def convention_rules(convention: str) -> dict[str, PlacementRule]:
    """The placement rules of `convention`; PlacementError naming the known conventions."""
    if convention not in PLACEMENT_CONVENTIONS:
        raise PlacementError(
            f"Unknown placement convention {convention!r}; known: "
            f"{sorted(PLACEMENT_CONVENTIONS)} (datasets.<name>.placement_convention)."
        )
    return PLACEMENT_CONVENTIONS[convention]


def placement_rule(placement: str, convention: str = DEFAULT_CONVENTION) -> PlacementRule:
    """The rule of `placement` under `convention`; PlacementError naming the known ones."""
    rules = convention_rules(convention)
    if placement not in rules:
        raise PlacementError(
            f"checkerBoard.placement {placement!r} has no rule in the {convention!r} "
            f"convention (known: {sorted(rules)}); other conventions: "
            + ", ".join(
                f"{name}: {sorted(table)}"
                for name, table in sorted(PLACEMENT_CONVENTIONS.items())
                if name != convention
            )
        )
    return rules[placement]


def board_to_opensim(
    placement: str,
    first_camera_rotation: npt.ArrayLike,
    convention: str = DEFAULT_CONVENTION,
) -> FloatArray:
    """R with `X_opensim = R @ X_board` for a checkerboard `placement` under `convention`.

    `first_camera_rotation` is the world->camera rotation of the session's first camera,
    used to detect an upside-down wall board.
    """
    rule = placement_rule(placement, convention)
    rotations = rule.rotations
    if (
        rule.upside_down is not None
        and np.asarray(first_camera_rotation, dtype=np.float64)[1, 1] < 0
    ):
        rotations = rule.upside_down
    result = np.eye(3)
    for axis, degrees in rotations:
        result = rotation_about(axis, degrees) @ result
    return result
