"""Pinhole camera with OpenCV distortion (world->camera extrinsics in metres) and its JSON file.

Projection: ``x_cam = R @ X_world + t``, then distortion (k1 k2 p1 p2 k3) of the normalised
coordinates, then ``K``; all image coordinates are in pixels, all lengths in metres.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import cv2
import numpy as np
import numpy.typing as npt

from posebench.io.atomic import write_json
from posebench.io.errors import read_json

FloatArray = npt.NDArray[np.float64]

N_DISTORTION = 5
ROTATION_TOLERANCE = 1e-5  # accepts rotations printed with 6 decimals
# Undistortion (`Camera.undistort_points`): Newton's method on the distortion model, in
# blocks of points, until every residual (normalised coordinates) is below the tolerance;
# points that do not converge, or land beyond the fold of the model (where it stops being
# one-to-one), are left to OpenCV's fixed-point iteration, run until the residual is
# negligible (OpenCV's default is 5 fixed steps).
_NEWTON_TOLERANCE = 1e-13
_NEWTON_MAX_ITERATIONS = 10
_NEWTON_BLOCK = 16384
_UNDISTORT_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 200, 1e-12)
_DICT_KEYS = ("name", "matrix", "distortion", "rotation", "translation_m", "image_size")


def _as_finite(name: str, field: str, value: Any, shape: tuple[int, ...]) -> FloatArray:
    array = np.array(value, dtype=np.float64)
    if array.shape != shape:
        raise ValueError(
            f"camera {name!r}: {field} has shape {array.shape}, expected {shape}; "
            f"pass a {shape} array"
        )
    if not np.all(np.isfinite(array)):
        raise ValueError(
            f"camera {name!r}: {field} contains non-finite values {array.tolist()}; "
            "expected finite numbers; fix the calibration"
        )
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class Camera:
    """One calibrated camera; arrays are converted to read-only float64 copies on creation.

    Attributes:
        name: camera identifier (unique within a calibration).
        matrix: (3, 3) intrinsic matrix K in pixels, zero skew.
        distortion: (5,) OpenCV coefficients k1 k2 p1 p2 k3; shorter input is zero-padded.
        rotation: (3, 3) world->camera rotation.
        translation_m: (3,) world->camera translation in metres.
        image_size: (width, height) in pixels.
    """

    name: str
    matrix: FloatArray
    distortion: FloatArray
    rotation: FloatArray
    translation_m: FloatArray
    image_size: tuple[int, int]

    def __post_init__(self) -> None:
        name = self.name
        matrix = _as_finite(name, "matrix", self.matrix, (3, 3))
        pattern = np.array([[1, 0, 1], [0, 1, 1], [0, 0, 1]], dtype=bool)
        if (
            matrix[0, 0] <= 0
            or matrix[1, 1] <= 0
            or np.any(matrix[~pattern] != 0)
            or matrix[2, 2] != 1
        ):
            raise ValueError(
                f"camera {name!r}: intrinsic matrix {matrix.tolist()} is not of the form "
                "[[fx, 0, cx], [0, fy, cy], [0, 0, 1]] with fx, fy > 0 pixels (zero skew); "
                "fix the calibration"
            )
        distortion = np.ravel(np.array(self.distortion, dtype=np.float64))
        if distortion.size > N_DISTORTION:
            raise ValueError(
                f"camera {name!r}: {distortion.size} distortion coefficients found, expected at "
                f"most {N_DISTORTION} (k1 k2 p1 p2 k3); higher-order models are not supported"
            )
        distortion = np.pad(distortion, (0, N_DISTORTION - distortion.size))
        rotation = _as_finite(name, "rotation", self.rotation, (3, 3))
        orthogonality_error = float(np.max(np.abs(rotation @ rotation.T - np.eye(3))))
        determinant = float(np.linalg.det(rotation))
        if orthogonality_error > ROTATION_TOLERANCE or determinant <= 0:
            raise ValueError(
                f"camera {name!r}: rotation is not a proper rotation matrix "
                f"(max |R R^T - I| = {orthogonality_error:.3g}, det = {determinant:.6g}; "
                f"expected <= {ROTATION_TOLERANCE:g} and +1); pass a world->camera rotation"
            )
        size = tuple(int(v) for v in self.image_size)
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(
                f"camera {name!r}: image_size {tuple(self.image_size)} is not a (width, height) "
                "pair of positive pixel counts"
            )
        object.__setattr__(self, "matrix", matrix)
        object.__setattr__(self, "distortion", _as_finite(name, "distortion", distortion, (5,)))
        object.__setattr__(self, "rotation", rotation)
        object.__setattr__(
            self, "translation_m", _as_finite(name, "translation_m", self.translation_m, (3,))
        )
        object.__setattr__(self, "image_size", size)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Camera):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def extrinsic_matrix(self) -> FloatArray:
        """(3, 4) world->camera matrix [R | t], translation in metres."""
        return np.hstack([self.rotation, self.translation_m[:, None]])

    def projection_matrix(self) -> FloatArray:
        """(3, 4) projection matrix K [R | t] mapping homogeneous metres to homogeneous pixels."""
        return self.matrix @ self.extrinsic_matrix()

    def center_m(self) -> FloatArray:
        """(3,) camera centre in world coordinates, metres (-R^T t)."""
        return -self.rotation.T @ self.translation_m

    def project(self, points_m: npt.ArrayLike) -> FloatArray:
        """Project (..., 3) world points in metres to (..., 2) distorted pixel coordinates.

        NaN input gives NaN output. Points at or behind the camera plane are not visible; their
        values follow the same formulas and carry no meaning.
        """
        points = np.asarray(points_m, dtype=np.float64)
        if points.shape[-1:] != (3,):
            raise ValueError(
                f"camera {self.name!r}: points to project have shape {points.shape}, "
                "expected (..., 3) world coordinates in metres"
            )
        cam = points @ self.rotation.T + self.translation_m
        x = cam[..., 0] / cam[..., 2]
        y = cam[..., 1] / cam[..., 2]
        k1, k2, p1, p2, k3 = self.distortion
        r2 = x * x + y * y
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        k = self.matrix
        u = k[0, 0] * xd + k[0, 2]
        v = k[1, 1] * yd + k[1, 2]
        return np.stack([u, v], axis=-1)

    def undistort_points(self, points_px: npt.ArrayLike) -> FloatArray:
        """Map (..., 2) distorted pixel coordinates to (..., 2) normalised ideal coordinates.

        The result is (X/Z, Y/Z) in the camera frame (dimensionless). Rows with any NaN (or
        infinite) coordinate are NaN.
        """
        points = np.asarray(points_px, dtype=np.float64)
        if points.shape[-1:] != (2,):
            raise ValueError(
                f"camera {self.name!r}: points to undistort have shape {points.shape}, "
                "expected (..., 2) pixel coordinates"
            )
        flat = points.reshape(-1, 2)
        k = self.matrix
        # NaN rows go through Newton's method as NaN (they hold up no block) and stay NaN.
        distorted = (flat - k[:2, 2]) / np.diag(k)[:2]
        ideal = np.empty_like(distorted)
        solved = np.empty(len(distorted), dtype=bool)
        for start in range(0, len(distorted), _NEWTON_BLOCK):
            block = slice(start, start + _NEWTON_BLOCK)
            ideal[block], solved[block] = undistort_newton(distorted[block], self.distortion)
        finite = np.isfinite(distorted).all(axis=1)
        ideal[~finite] = np.nan  # a row with one NaN (or infinite) coordinate
        unsolved = np.flatnonzero(~solved & finite)
        if unsolved.size:
            ideal[unsolved] = cv2.undistortPoints(
                np.ascontiguousarray(flat[unsolved]).reshape(-1, 1, 2),
                k,
                self.distortion,
                criteria=_UNDISTORT_CRITERIA,
            ).reshape(-1, 2)
        return ideal.reshape(points.shape)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable representation (lists of floats, metres, pixels)."""
        return {
            "name": self.name,
            "matrix": self.matrix.tolist(),
            "distortion": self.distortion.tolist(),
            "rotation": self.rotation.tolist(),
            "translation_m": self.translation_m.tolist(),
            "image_size": list(self.image_size),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Camera:
        """Build a camera from :meth:`to_dict` output; raises ValueError naming missing keys."""
        missing = [key for key in _DICT_KEYS if key not in d]
        if missing:
            raise ValueError(
                f"camera entry {d.get('name', '<unnamed>')!r} lacks keys {missing}; "
                f"expected all of {list(_DICT_KEYS)}"
            )
        return cls(
            name=str(d["name"]),
            matrix=np.asarray(d["matrix"], dtype=np.float64),
            distortion=np.asarray(d["distortion"], dtype=np.float64),
            rotation=np.asarray(d["rotation"], dtype=np.float64),
            translation_m=np.asarray(d["translation_m"], dtype=np.float64),
            image_size=cast(tuple[int, int], tuple(d["image_size"])),
        )


def undistort_newton(
    distorted: FloatArray,
    distortion: FloatArray,
    tolerance: float = _NEWTON_TOLERANCE,
    max_iterations: int = _NEWTON_MAX_ITERATIONS,
) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
    """Invert OpenCV's distortion (k1 k2 p1 p2 k3) of (n, 2) distorted normalised
    coordinates by Newton's method, started one fixed-point step from the distorted point
    (x = x_d / radial(x_d)); NaN rows stay NaN and do not converge.

    Returns the ideal coordinates (n, 2) and which converged: residual below `tolerance`
    and the model's Jacobian positive there (inside its fold, where OpenCV's fixed-point
    iteration converges to the same point). The others are to be solved another way.
    """
    k1, k2, p1, p2, k3 = (float(c) for c in distortion)
    xd, yd = distorted[:, 0], distorted[:, 1]
    # inf and NaN rows give NaN quietly; they do not converge
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        r2 = xd * xd + yd * yd
        start = 1 / (1 + r2 * (k1 + r2 * (k2 + r2 * k3)))
        x, y = xd * start, yd * start
        for iteration in range(max_iterations + 1):
            x2, y2, xy = x * x, y * y, x * y
            r2 = x2 + y2
            radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
            fx = x * radial + 2 * p1 * xy + p2 * (r2 + 2 * x2) - xd
            fy = y * radial + p1 * (r2 + 2 * y2) + 2 * p2 * xy - yd
            # d(radial)/d(x) = x * slope, d(radial)/d(y) = y * slope
            slope = 2 * (k1 + r2 * (2 * k2 + 3 * k3 * r2))
            jxx = radial + x2 * slope + 2 * p1 * y + 6 * p2 * x
            jyy = radial + y2 * slope + 6 * p1 * y + 2 * p2 * x
            jxy = xy * slope + 2 * (p1 * x + p2 * y)
            det = jxx * jyy - jxy * jxy
            residual = np.maximum(np.abs(fx), np.abs(fy))
            # NaN (a diverged point) is not >= tolerance: it holds up no one, and does not
            # converge.
            if iteration == max_iterations or not np.any(residual >= tolerance):
                break
            x = x - (jyy * fx - jxy * fy) / det
            y = y - (jxx * fy - jxy * fx) / det
    converged = (residual < tolerance) & (det > 0) & (jxx > 0) & (jyy > 0)
    return np.column_stack([x, y]), converged


def _check_unique_names(path: Path, cameras: Sequence[Camera]) -> None:
    names = [camera.name for camera in cameras]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(
            f"{path}: camera names {duplicates} occur more than once; names must be unique"
        )


def save_cameras(
    path: str | Path, cameras: Sequence[Camera], metadata: Mapping[str, Any] | None = None
) -> None:
    """Write cameras to JSON ``{"cameras": [...], "metadata": {...}}`` (sorted keys, indent 2)."""
    path = Path(path)
    _check_unique_names(path, cameras)
    document = {
        "cameras": [camera.to_dict() for camera in cameras],
        "metadata": dict(metadata or {}),
    }
    write_json(path, document)


def load_camera_file(path: str | Path) -> tuple[list[Camera], dict[str, Any]]:
    """Read a file written by :func:`save_cameras`: its cameras and its ``metadata`` (an
    empty dict when the file has none); errors name the file and the bad entry."""
    path = Path(path)
    document = read_json(path, "camera file")
    entries = document.get("cameras") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        found = "no 'cameras' key" if entries is None else f"'cameras' = {entries!r:.60}"
        raise ValueError(
            f"{path}: found {found}; expected a non-empty list of cameras under key 'cameras' "
            "(the format written by save_cameras)"
        )
    cameras = []
    for index, entry in enumerate(entries):
        try:
            cameras.append(Camera.from_dict(entry))
        except (TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"{path}: camera #{index}: {exc}") from exc
    _check_unique_names(path, cameras)
    return cameras, document.get("metadata", {})


def load_cameras(path: str | Path) -> list[Camera]:
    """Read the cameras of a file written by :func:`save_cameras` (see
    :func:`load_camera_file`)."""
    return load_camera_file(path)[0]
