"""Rotation from an OpenCap session's checkerboard (world) frame into OpenSim's frame.

OpenCap calibrates every camera against a checkerboard; its pose in the lab is recorded in
`sessionMetadata.yaml` as `checkerBoard.placement`. The rule (space-fixed rotations
applied in the order written): `backWall`/`Perpendicular` -> about y by +90 deg, then about
z by 180 deg, unless the board is upside down (the first camera's `rotation[1, 1] < 0`),
then about y by -90 deg only; `ground`/`Lying` -> about x by +90 deg, then about y by +90 deg.
`X_opensim = R @ X_board`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
WALL_PLACEMENTS = ("backWall", "Perpendicular")
GROUND_PLACEMENTS = ("ground", "Lying")


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


def board_to_opensim(placement: str, first_camera_rotation: npt.ArrayLike) -> FloatArray:
    """R with `X_opensim = R @ X_board` for a checkerboard `placement`.

    `first_camera_rotation` is the world->camera rotation of the session's first camera,
    used to detect an upside-down wall board.
    """
    if placement in WALL_PLACEMENTS:
        if np.asarray(first_camera_rotation, dtype=np.float64)[1, 1] < 0:
            return rotation_about("y", -90)
        return rotation_about("z", 180) @ rotation_about("y", 90)
    if placement in GROUND_PLACEMENTS:
        return rotation_about("y", 90) @ rotation_about("x", 90)
    raise ValueError(
        f"Unknown checkerBoard placement {placement!r}; expected one of "
        f"{WALL_PLACEMENTS + GROUND_PLACEMENTS}. Check sessionMetadata.yaml."
    )
