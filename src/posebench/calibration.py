"""Readers that turn third-party calibration files into :class:`~posebench.camera.Camera` lists.

Qualisys ``.qca.txt``: intrinsics in sub-pixel units (1/64 pixel), camera pose in millimetres,
camera axes rotated by pi about x relative to OpenCV's; converted here to pixels, metres and
OpenCV's world->camera convention. The distortion coefficients are used as stored, in
OpenCV's normalised-coordinate convention, not divided by 64 (Pose2Sim's reader divides
them, which makes them practically zero). On the Pose2Sim demo, triangulating MediaPipe
keypoints gives a slightly lower median reprojection error with the stored values
(15.92 px) than divided by 64 (15.96 px) or with no distortion (15.96 px); the values
themselves (k1 = -0.046, k2 = 0.14) are typical of a phone-like lens in OpenCV's units.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from posebench.camera import Camera

QUALISYS_SUBPIXELS_PER_PIXEL = 64.0
MILLIMETRES_PER_METRE = 1000.0
# Qualisys camera axes -> OpenCV camera axes: rotation of pi about the camera x axis.
_QUALISYS_TO_OPENCV_AXES = np.diag([1.0, -1.0, -1.0])
_ROTATION_KEYS = ("r11", "r12", "r13", "r21", "r22", "r23", "r31", "r32", "r33")
_DISTORTION_KEYS = (
    "radialDistortion1",
    "radialDistortion2",
    "tangentalDistortion1",
    "tangentalDistortion2",
    "radialDistortion3",
)


def _element(path: Path, serial: str, camera: ET.Element, tag: str) -> ET.Element:
    element = camera.find(tag)
    if element is None:
        raise ValueError(
            f"{path}: camera {serial!r} has no <{tag}> element; expected one per <camera> "
            "in a Qualisys .qca.txt export"
        )
    return element


def _number(path: Path, serial: str, element: ET.Element, key: str) -> float:
    text = element.get(key)
    if text is None:
        raise ValueError(
            f"{path}: camera {serial!r}: <{element.tag}> lacks attribute {key!r}; "
            "re-export the calibration from QTM"
        )
    try:
        value = float(text)
    except ValueError as exc:
        raise ValueError(
            f"{path}: camera {serial!r}: <{element.tag} {key}={text!r}> is not a number"
        ) from exc
    if not np.isfinite(value):
        raise ValueError(
            f"{path}: camera {serial!r}: <{element.tag} {key}={text!r}> is not finite; export "
            "the calibration again from the capture software."
        )
    return value


def _qualisys_camera(path: Path, serial: str, camera: ET.Element) -> Camera:
    view_rotation = camera.get("viewrotation", "0")
    if view_rotation != "0":
        raise ValueError(
            f"{path}: camera {serial!r} has viewrotation={view_rotation!r}, expected '0'; "
            "rotated video views are not supported, export the calibration without view rotation"
        )
    fov = _element(path, serial, camera, "fov_video")
    left, top, right, bottom = (
        _number(path, serial, fov, key) for key in ("left", "top", "right", "bottom")
    )
    intrinsic = _element(path, serial, camera, "intrinsic")
    fx, fy, cu, cv = (
        _number(path, serial, intrinsic, key) / QUALISYS_SUBPIXELS_PER_PIXEL
        for key in ("focalLengthU", "focalLengthV", "centerPointU", "centerPointV")
    )
    if "skew" in intrinsic.attrib and _number(path, serial, intrinsic, "skew") != 0:
        raise ValueError(
            f"{path}: camera {serial!r}: <intrinsic skew={intrinsic.get('skew')!r}>, expected 0; "
            "skewed pixels are not supported"
        )
    matrix = np.array([[fx, 0.0, cu - left], [0.0, fy, cv - top], [0.0, 0.0, 1.0]])
    # Distortion coefficients act on normalised coordinates: no sub-pixel scaling.
    distortion = np.array([_number(path, serial, intrinsic, key) for key in _DISTORTION_KEYS])
    transform = _element(path, serial, camera, "transform")
    # Read row-wise, r11..r33 is world->camera for Qualisys' camera axes (stored as the
    # camera->world matrix by columns).
    world_to_qualisys = np.array(
        [_number(path, serial, transform, key) for key in _ROTATION_KEYS]
    ).reshape(3, 3)
    rotation = _QUALISYS_TO_OPENCV_AXES @ world_to_qualisys
    centre_m = (
        np.array([_number(path, serial, transform, key) for key in ("x", "y", "z")])
        / MILLIMETRES_PER_METRE
    )
    try:
        return Camera(
            name=serial,
            matrix=matrix,
            distortion=distortion,
            rotation=rotation,
            translation_m=-rotation @ centre_m,
            image_size=(int(right - left + 1), int(bottom - top + 1)),
        )
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def read_qualisys_qca(path: str | Path) -> list[Camera]:
    """Read every ``<camera>`` of a Qualisys ``.qca.txt`` XML calibration, in file order.

    Cameras are named by their ``serial`` attribute; inactive cameras are kept. Intrinsics are
    returned in pixels of the ``fov_video`` window, extrinsics world->camera in metres.
    """
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{path}: Qualisys calibration file not found") from exc
    except ET.ParseError as exc:
        raise ValueError(f"{path}: not valid XML ({exc}); expected a Qualisys .qca.txt") from exc
    elements = root.findall("cameras/camera")
    if not elements:
        raise ValueError(
            f"{path}: found no <cameras><camera> elements under <{root.tag}>; "
            "expected a Qualisys .qca.txt calibration"
        )
    cameras = []
    for index, element in enumerate(elements):
        serial = element.get("serial")
        if serial is None:
            raise ValueError(f"{path}: <camera> #{index} lacks attribute 'serial'")
        cameras.append(_qualisys_camera(path, serial, element))
    names = [camera.name for camera in cameras]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"{path}: camera serials {duplicates} occur more than once")
    return cameras
