"""Tests of the TRC and MOT readers/writers, cross-checked with OpenSim 4.6's own readers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import opensim as osim
import pandas as pd
import pytest

from posebench.io.mot import read_mot, read_mot_columns, write_mot
from posebench.io.trc import read_trc, write_trc

MARKERS = ("Nose", "LHip", "RHip")


pytestmark = pytest.mark.usefixtures("opensim_log")


def _trajectories(n_frames: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """Times (s) at 50 Hz and positions (m) with marker 0 missing in frame 1 and the last
    marker (the end of the row) missing in frame 3."""
    times = np.arange(n_frames) / 50.0
    rng = np.random.default_rng(0)
    positions = rng.uniform(-1.0, 2.0, size=(n_frames, len(MARKERS), 3)).round(6)
    positions[1, 0] = np.nan
    positions[3, -1] = np.nan
    return times, positions


def test_trc_read_by_opensim(tmp_path: Path) -> None:
    times, positions = _trajectories()
    path = tmp_path / "markers.trc"
    write_trc(path, MARKERS, times, positions, data_rate_hz=50.0)

    table = osim.TimeSeriesTableVec3(str(path))  # parsed by TRCFileAdapter
    assert table.getNumRows() == len(times)
    assert list(table.getColumnLabels()) == list(MARKERS)
    assert table.getTableMetaDataAsString("Units") == "m"
    assert float(table.getTableMetaDataAsString("DataRate")) == 50.0
    np.testing.assert_allclose(np.array(table.getIndependentColumn()), times, atol=1e-9)
    read_back = np.array(
        [
            [[table.getRowAtIndex(t)[m][k] for k in range(3)] for m in range(len(MARKERS))]
            for t in range(len(times))
        ]
    )
    np.testing.assert_allclose(read_back, positions, atol=1e-9)  # NaN compare equal here
    assert np.isnan(read_back[1, 0]).all() and np.isnan(read_back[3, -1]).all()


def test_trc_round_trip_in_millimetres(tmp_path: Path) -> None:
    times, positions = _trajectories()
    path = tmp_path / "markers.trc"
    write_trc(
        path,
        MARKERS,
        times,
        positions,
        data_rate_hz=50.0,
        units="mm",
        frame_numbers=np.arange(10, 10 + len(times)),
    )

    data = read_trc(path)
    assert data.marker_names == MARKERS
    assert data.units == "mm" and data.data_rate_hz == 50.0
    np.testing.assert_array_equal(data.frame_numbers, np.arange(10, 15))
    np.testing.assert_allclose(data.times_s, times, atol=1e-9)
    np.testing.assert_allclose(data.positions, positions * 1000.0, atol=1e-6)
    np.testing.assert_allclose(data.positions_m, positions, atol=1e-9)
    table = osim.TimeSeriesTableVec3(str(path))
    assert table.getTableMetaDataAsString("Units") == "mm"
    assert table.getTableMetaDataAsString("OrigDataStartFrame") == "10"


def test_trc_format_is_fixed(tmp_path: Path) -> None:
    path = tmp_path / "one.trc"
    write_trc(
        path,
        ["A", "B"],
        np.array([0.0, 0.01]),
        np.array([[[1.0, 2.0, 3.0], [np.nan] * 3], [[0.5, 0.25, 0.125], [4, 5, 6]]]),
        data_rate_hz=100.0,
    )
    assert path.read_text().splitlines() == [
        "PathFileType\t4\t(X/Y/Z)\tone.trc",
        (
            "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\t"
            "OrigDataStartFrame\tOrigNumFrames"
        ),
        "100.000000\t100.000000\t2\t2\tm\t100.000000\t1\t2",
        "Frame#\tTime\tA\t\t\tB\t\t",
        "\t\tX1\tY1\tZ1\tX2\tY2\tZ2",
        "1\t0.000000\t1.000000\t2.000000\t3.000000\tNaN\tNaN\tNaN",
        "2\t0.010000\t0.500000\t0.250000\t0.125000\t4.000000\t5.000000\t6.000000",
    ]


def test_read_trc_accepts_empty_fields(tmp_path: Path) -> None:
    path = tmp_path / "empty.trc"
    path.write_text(
        "PathFileType\t4\t(X/Y/Z)\tempty.trc\n"
        "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits\tOrigDataRate\t"
        "OrigDataStartFrame\tOrigNumFrames\n"
        "30\t30\t2\t2\tm\t30\t1\t2\n"
        "Frame#\tTime\tA\t\t\tB\t\t\t\n"
        "\t\tX1\tY1\tZ1\tX2\tY2\tZ2\t\n"
        "\n"
        "1\t0.0\t\t\t\t4\t5\t6\t\n"
        "2\t0.033333\t1\t2\t3\tnan\tnan\tnan\n"
    )
    data = read_trc(path)
    assert data.marker_names == ("A", "B")
    assert np.isnan(data.positions[0, 0]).all() and np.isnan(data.positions[1, 1]).all()
    np.testing.assert_array_equal(data.positions[0, 1], [4, 5, 6])


def test_read_trc_names_file_and_line(tmp_path: Path) -> None:
    times, positions = _trajectories()
    path = tmp_path / "bad.trc"
    write_trc(path, MARKERS, times, positions, data_rate_hz=50.0)
    lines = path.read_text().splitlines()
    lines[6] = "\t".join(lines[6].split("\t")[:-2])
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"bad\.trc: line 7 has 9 .*expected 11"):
        read_trc(path)


def test_write_trc_rejects_bad_input(tmp_path: Path) -> None:
    times, positions = _trajectories()
    with pytest.raises(ValueError, match=r"shape \(T, M, 3\) = \(5, 2, 3\)"):
        write_trc(tmp_path / "x.trc", MARKERS[:2], times, positions, data_rate_hz=50.0)
    with pytest.raises(ValueError, match="whitespace"):
        write_trc(tmp_path / "x.trc", ["a b", "c", "d"], times, positions, data_rate_hz=50.0)
    with pytest.raises(ValueError, match="units"):
        write_trc(tmp_path / "x.trc", MARKERS, times, positions, data_rate_hz=50.0, units="in")
    with pytest.raises(ValueError, match="strictly increasing"):
        write_trc(tmp_path / "x.trc", MARKERS, times[::-1], positions, data_rate_hz=50.0)


def _coordinates() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "knee_angle_r": [1.5, 10.25, np.nan],
            "time": [0.0, 0.01, 0.02],
            "pelvis_ty": [0.94, 0.93, 0.92],
        }
    )


def test_mot_round_trip_and_read_by_opensim(tmp_path: Path) -> None:
    path = tmp_path / "coords.mot"
    write_mot(path, _coordinates(), name="Coordinates", in_degrees=True)

    mot = read_mot(path)
    assert mot.name == "Coordinates"
    assert mot.in_degrees is True
    assert mot.header["nRows"] == "3" and mot.header["nColumns"] == "3"
    assert list(mot.table.columns) == ["time", "knee_angle_r", "pelvis_ty"]
    pd.testing.assert_frame_equal(mot.table, _coordinates()[list(mot.table.columns)])

    table = osim.TimeSeriesTable(str(path))
    assert table.getNumRows() == 3
    assert list(table.getColumnLabels()) == ["knee_angle_r", "pelvis_ty"]
    assert table.getTableMetaDataAsString("inDegrees") == "yes"
    np.testing.assert_allclose(np.array(table.getIndependentColumn()), [0.0, 0.01, 0.02])
    knee = table.getDependentColumn("knee_angle_r").to_numpy()
    np.testing.assert_allclose(knee, [1.5, 10.25, np.nan])


def test_read_mot_of_opensim_sto(tmp_path: Path) -> None:
    table = osim.TimeSeriesTable()
    table.setColumnLabels(["marker_error_RMS", "marker_error_max"])
    table.appendRow(0.0, osim.RowVector([0.001, 0.002]))
    table.appendRow(0.5, osim.RowVector([0.003, 0.004]))
    table.addTableMetaDataString("inDegrees", "no")
    path = tmp_path / "errors.sto"
    osim.STOFileAdapter.write(table, str(path))

    sto = read_mot(path)
    assert sto.in_degrees is False
    assert list(sto.table.columns) == ["time", "marker_error_RMS", "marker_error_max"]
    np.testing.assert_allclose(sto.table.to_numpy(), [[0.0, 0.001, 0.002], [0.5, 0.003, 0.004]])

    columns = read_mot_columns(path)  # the same file as arrays, without pandas
    assert columns.in_degrees is False
    assert columns.labels == ("time", "marker_error_RMS", "marker_error_max")
    np.testing.assert_array_equal(columns.values, sto.table.to_numpy())
    np.testing.assert_array_equal(columns.column("marker_error_max"), [0.002, 0.004])
    with pytest.raises(KeyError, match="marker_error_RMS"):
        columns.column("marker_error_mean")


def test_mot_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "noheader.mot"
    path.write_text("time\ta\n0\t1\n")
    with pytest.raises(ValueError, match=r"noheader\.mot: no 'endheader'"):
        read_mot(path)
    path = tmp_path / "short.mot"
    write_mot(path, _coordinates(), name="Coordinates", in_degrees=False)
    path.write_text("\n".join(path.read_text().splitlines()[:-1]) + "\n")
    with pytest.raises(ValueError, match=r"short\.mot: header says nRows=3 but the table has 2"):
        read_mot(path)
    with pytest.raises(ValueError, match=r"short\.mot: header says nRows=3 but the table has 2"):
        read_mot_columns(path)
    with pytest.raises(ValueError, match="'time' column"):
        write_mot(path, _coordinates().drop(columns="time"), name="x", in_degrees=True)
