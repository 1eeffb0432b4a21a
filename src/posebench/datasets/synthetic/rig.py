"""The synthetic subject's camera rig and checkerboard: virtual cameras on a circle about
the subject, the board frame the calibration is written in, and the check that every marker
is seen by every camera."""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from posebench.camera import Camera, FloatArray
from posebench.datasets.opencap_frames import board_to_opensim

CHECKERBOARD: dict[str, Any] = {
    "placement": "backWall",
    "squareSideLength_mm": 35,
    "black2BlackCornersWidth_n": 4,
    "black2BlackCornersHeight_n": 5,
}
#: Per placement convention and checkerboard placement, the rotation from the board frame
#: into OpenSim's as SciPy Euler angles (lower-case axes: about fixed axes, in order;
#: upper-case: about the rotating body's axes), as OpenCap's own code writes them.
BOARD_EULER_ANGLES: dict[str, dict[str, tuple[str, tuple[float, ...]]]] = {
    "opencapbench": {
        "backWall": ("yz", (90.0, 180.0)),
        "backWall_largeCB": ("y", (-90.0,)),
        "backWall_walking": ("YZ", (-90.0, 180.0)),
        "ground": ("xy", (-90.0, 90.0)),
        "ground_jumps": ("xy", (90.0, 180.0)),
        "ground_gaits": ("xy", (90.0, 90.0)),
    },
    "opencap-core-2024": {
        "backWall": ("yz", (90.0, 180.0)),
        "Perpendicular": ("yz", (90.0, 180.0)),
        "ground": ("xy", (90.0, 90.0)),
        "Lying": ("xy", (90.0, 90.0)),
    },
}

_CAMERA_HEIGHT_RANGE_M = (1.0, 1.3)
_CAMERA_TARGET_HEIGHT_M = 0.9
_FOCAL_RANGE_PX = (1000.0, 1060.0)
_PRINCIPAL_OFFSET_PX = 4.0
_IMAGE_MARGIN_PX = 2.0
# Small, realistic OpenCV distortion (k1 k2 p1 p2 k3): lower and upper bounds per coefficient.
_DISTORTION_RANGE = (
    np.array([0.02, -0.06, -6e-4, -6e-4, 0.0]),
    np.array([0.05, -0.02, 6e-4, 6e-4, 0.02]),
)


class CameraLayoutError(ValueError):
    """A marker projects outside an image or behind a camera."""


def _look_at(centre: FloatArray, target: FloatArray) -> FloatArray:
    """World->camera rotation (OpenCV axes: x right, y down, z forward) of an upright camera
    at ``centre`` looking at ``target``; world y is up."""
    forward = target - centre
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, np.array([0.0, 1.0, 0.0]))
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    return np.stack([right, down, forward])


def synthetic_cameras(
    angles_deg: Sequence[float],
    distance_m: float,
    image_size: tuple[int, int],
    seed: int,
) -> list[Camera]:
    """The virtual cameras, with extrinsics in OpenSim's frame (metres).

    Camera ``k`` (named ``Cam<k>``) is at ``angles_deg[k]`` about the vertical axis from the
    subject's facing direction (+x; positive towards -z), ``distance_m`` from the vertical
    axis through the origin, 1.0-1.3 m high, aimed at (0, 0.9, 0). Focal lengths, principal
    points, heights and distortions vary a little per camera, deterministically given
    ``seed``.
    """
    if not (math.isfinite(distance_m) and distance_m > 0):
        raise ValueError(f"camera_distance_m must be a positive distance, got {distance_m}")
    width, height = (int(v) for v in image_size)
    rng = np.random.default_rng([int(seed), zlib.crc32(b"cameras")])
    target = np.array([0.0, _CAMERA_TARGET_HEIGHT_M, 0.0])
    cameras = []
    for k, angle in enumerate(angles_deg):
        theta = math.radians(float(angle))
        elevation = rng.uniform(*_CAMERA_HEIGHT_RANGE_M)
        centre = np.array([distance_m * math.cos(theta), elevation, -distance_m * math.sin(theta)])
        rotation = _look_at(centre, target)
        focal = rng.uniform(*_FOCAL_RANGE_PX)
        cx, cy = (np.array([width, height]) - 1) / 2 + rng.uniform(
            -_PRINCIPAL_OFFSET_PX, _PRINCIPAL_OFFSET_PX, 2
        )
        matrix = np.array([[focal, 0.0, cx], [0.0, focal, cy], [0.0, 0.0, 1.0]])
        distortion = rng.uniform(*_DISTORTION_RANGE)
        cameras.append(
            Camera(
                name=f"Cam{k}",
                matrix=matrix,
                distortion=distortion,
                rotation=rotation,
                translation_m=-rotation @ centre,
                image_size=(width, height),
            )
        )
    return cameras


def board_rotation(placement: str = "backWall", convention: str = "opencapbench") -> FloatArray:
    """R with X_opensim = R @ X_board for a board with `placement` under `convention`
    (:data:`BOARD_EULER_ANGLES`; a wall board the right way up)."""
    from scipy.spatial.transform import Rotation

    try:
        sequence, angles = BOARD_EULER_ANGLES[convention][placement]
    except KeyError:
        raise ValueError(
            f"no synthetic board for placement {placement!r} under convention {convention!r}; "
            f"known: { {c: sorted(t) for c, t in BOARD_EULER_ANGLES.items()} }"
        ) from None
    matrix = Rotation.from_euler(sequence, angles, degrees=True).as_matrix()
    return np.asarray(np.round(matrix, 12), dtype=np.float64)


def to_board_frame(camera: Camera, r_b2o: FloatArray) -> Camera:
    """The same camera with extrinsics in the checkerboard (world) frame, given the board ->
    OpenSim rotation ``r_b2o`` (:func:`board_rotation`)."""
    return Camera(
        name=camera.name,
        matrix=camera.matrix,
        distortion=camera.distortion,
        rotation=camera.rotation @ r_b2o,
        translation_m=camera.translation_m,
        image_size=camera.image_size,
    )


def board_cameras(
    angles_deg: Sequence[float],
    distance_m: float,
    image_size: tuple[int, int],
    seed: int,
    placement: str = "backWall",
    convention: str = "opencapbench",
) -> tuple[list[Camera], FloatArray]:
    """The :func:`synthetic_cameras` in the frame of a board with ``placement``, and the
    board -> OpenSim rotation (:func:`board_rotation`).

    Raises:
        CameraLayoutError: when OpenCap's rule for the placement, applied to the first
            camera, would not recover OpenSim's frame (the board looks upside down to it).
    """
    cameras_os = synthetic_cameras(angles_deg, distance_m, image_size, seed)
    r_b2o = board_rotation(placement, convention)
    cameras = [to_board_frame(camera, r_b2o) for camera in cameras_os]
    if not np.allclose(
        board_to_opensim(placement, cameras[0].rotation, convention), r_b2o, atol=1e-9
    ):
        raise CameraLayoutError(
            f"with a {placement!r} board the first camera looks upside down to OpenCap's rule "
            f"({convention}), which would then not recover OpenSim's frame; check "
            "camera_angles_deg"
        )
    return cameras, r_b2o


def project_in_image(
    cameras: Sequence[Camera], points_board: FloatArray, context: str
) -> tuple[FloatArray, float]:
    """Project (T, M, 3) board-frame points; raise CameraLayoutError unless every one lies
    in front of every camera and inside its image (with a small margin).

    Returns (C, T, M, 2) pixels and the smallest margin to an image border, in pixels.
    """
    projections = []
    smallest = math.inf
    for camera in cameras:
        depth = (points_board @ camera.rotation.T + camera.translation_m)[..., 2]
        pixels = camera.project(points_board)
        width, height = camera.image_size
        margin = np.minimum.reduce(
            [
                pixels[..., 0],
                pixels[..., 1],
                width - 1 - pixels[..., 0],
                height - 1 - pixels[..., 1],
            ]
        )
        margin = np.where(depth > 0.1, margin, -np.inf)
        if not np.all(margin >= _IMAGE_MARGIN_PX):
            frame, marker = np.unravel_index(int(np.argmin(margin)), margin.shape)
            raise CameraLayoutError(
                f"{context}: in {camera.name} the marker #{marker} of frame {frame} projects to "
                f"{pixels[frame, marker].round(1).tolist()} px (depth {depth[frame, marker]:.2f} "
                f"m), outside the {width}x{height} image (margin {_IMAGE_MARGIN_PX} px); move the "
                "cameras back (camera_distance_m) or reduce the motion."
            )
        smallest = min(smallest, float(margin.min()))
        projections.append(pixels)
    return np.stack(projections), smallest
