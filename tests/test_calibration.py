"""Tests for the Qualisys .qca.txt calibration reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posebench.calibration import read_qualisys_qca

# cam01 of the Pose2Sim demo calibration (Demo_SinglePerson/calibration/Calib.qca.txt).
TRANSFORM = (
    'r11="0.5536380477336265" r12="0.8046719867383512" r13="0.2144479094331626" '
    'r21="-0.4345300743838753" r22="0.05946489349975602" r23="0.8986921279821063" '
    'r31="0.7104002579937896" r32="-0.5907342212870501" r33="0.3825762057979294" '
    'x="1460.2323709212087" y="-1909.1590482454608" z="1896.5058524092062"'
)
INTRINSIC = (
    'centerPointU="34110.316406" centerPointV="60680.792969" focalLengthU="107599.671875" '
    'focalLengthV="107588.828125" focallength="9.314096596679686" radialDistortion1="-0.046183" '
    'radialDistortion2="0.139983" radialDistortion3="0.000000" skew="0.000000" '
    'tangentalDistortion1="0.000608" tangentalDistortion2="0.00069"'
)


def camera_xml(
    serial: str,
    fov: str = 'left="0" top="0" right="1087" bottom="1919"',
    transform: str = TRANSFORM,
    intrinsic: str = INTRINSIC,
) -> str:
    return (
        f'<camera active="1" serial="{serial}" viewrotation="0">'
        f'<fov_marker left="0" top="0" right="1087" bottom="1919"/>'
        f"<fov_video {fov}/><transform {transform}/><intrinsic {intrinsic}/></camera>"
    )


def write_qca(path: Path, *cameras: str) -> Path:
    path.write_text(
        "<?xml version='1.0' encoding='ASCII'?>\n<calibration type=\"regular\">"
        f"<cameras>{''.join(cameras)}</cameras></calibration>\n"
    )
    return path


def test_demo_camera_matches_hand_computed_values(tmp_path: Path) -> None:
    (camera,) = read_qualisys_qca(write_qca(tmp_path / "calib.qca.txt", camera_xml("cam01")))
    assert camera.name == "cam01"
    assert camera.image_size == (1088, 1920)
    np.testing.assert_allclose(
        camera.matrix,
        [[1681.244873, 0.0, 532.973694], [0.0, 1681.075439, 948.137390], [0.0, 0.0, 1.0]],
        atol=1e-5,
    )
    np.testing.assert_array_equal(camera.distortion, [-0.046183, 0.139983, 0.000608, 0.00069, 0.0])
    np.testing.assert_allclose(camera.translation_m, [0.32110, 0.95633, 2.89071], atol=1e-5)
    np.testing.assert_allclose(camera.center_m(), [1.4602324, -1.9091590, 1.8965059], atol=1e-7)


def test_demo_camera_looks_at_the_origin_upright(tmp_path: Path) -> None:
    (camera,) = read_qualisys_qca(write_qca(tmp_path / "calib.qca.txt", camera_xml("cam01")))
    floor_origin, above_origin = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    assert (camera.extrinsic_matrix() @ np.append(floor_origin, 1.0))[2] > 0  # in front
    (u0, v0), (_, v1) = camera.project(np.stack([floor_origin, above_origin]))
    width, height = camera.image_size
    assert 0 < u0 < width and 0 < v0 < height
    assert v1 < v0  # world z is up: the point above the origin is higher in the image


def test_fov_offset_shifts_principal_point_and_sets_size(tmp_path: Path) -> None:
    fov = 'left="10" top="20" right="1077" bottom="1899"'
    path = write_qca(tmp_path / "calib.qca.txt", camera_xml("a"), camera_xml("b", fov=fov))
    full, cropped = read_qualisys_qca(path)
    assert [full.name, cropped.name] == ["a", "b"]
    assert cropped.image_size == (1068, 1880)
    np.testing.assert_allclose(cropped.matrix[:2, 2], full.matrix[:2, 2] - [10.0, 20.0])
    np.testing.assert_array_equal(cropped.rotation, full.rotation)


def test_missing_attribute_names_file_camera_and_attribute(tmp_path: Path) -> None:
    intrinsic = INTRINSIC.replace('focalLengthV="107588.828125" ', "")
    path = write_qca(tmp_path / "bad.qca.txt", camera_xml("cam07", intrinsic=intrinsic))
    with pytest.raises(
        ValueError, match=r"bad.qca.txt: camera 'cam07': <intrinsic> lacks attribute 'focalLengthV'"
    ):
        read_qualisys_qca(path)


def test_malformed_files_are_rejected(tmp_path: Path) -> None:
    no_cameras = tmp_path / "empty.qca.txt"
    no_cameras.write_text("<calibration><cameras/></calibration>")
    with pytest.raises(ValueError, match="empty.qca.txt: found no <cameras><camera>"):
        read_qualisys_qca(no_cameras)
    not_xml = tmp_path / "garbage.qca.txt"
    not_xml.write_text("serial=cam01")
    with pytest.raises(ValueError, match="garbage.qca.txt: not valid XML"):
        read_qualisys_qca(not_xml)
    no_transform = tmp_path / "notransform.qca.txt"
    no_transform.write_text(
        camera_xml("cam02")
        .join(["<calibration><cameras>", "</cameras></calibration>"])
        .replace(f"<transform {TRANSFORM}/>", "")
    )
    with pytest.raises(ValueError, match="notransform.qca.txt: camera 'cam02' has no <transform>"):
        read_qualisys_qca(no_transform)
    with pytest.raises(FileNotFoundError, match="absent.qca.txt"):
        read_qualisys_qca(tmp_path / "absent.qca.txt")


def test_rotated_view_is_rejected(tmp_path: Path) -> None:
    xml = camera_xml("cam03").replace('viewrotation="0"', 'viewrotation="90"')
    with pytest.raises(ValueError, match=r"camera 'cam03' has viewrotation='90', expected '0'"):
        read_qualisys_qca(write_qca(tmp_path / "rot.qca.txt", xml))


def test_non_rotation_transform_is_rejected(tmp_path: Path) -> None:
    transform = TRANSFORM.replace('r11="0.5536380477336265"', 'r11="0.6"')
    path = write_qca(tmp_path / "skewed.qca.txt", camera_xml("cam04", transform=transform))
    with pytest.raises(ValueError, match="skewed.qca.txt: camera 'cam04': rotation is not"):
        read_qualisys_qca(path)


def test_skewed_pixels_are_rejected(tmp_path: Path) -> None:
    intrinsic = INTRINSIC.replace('skew="0.000000"', 'skew="0.5"')
    path = write_qca(tmp_path / "skew.qca.txt", camera_xml("cam05", intrinsic=intrinsic))
    with pytest.raises(ValueError, match=r"camera 'cam05': <intrinsic skew='0.5'>, expected 0"):
        read_qualisys_qca(path)
