"""Read and write OpenSim TRC marker files.

A TRC file is tab-separated text: five header lines (file type, metadata names, metadata
values, marker names, coordinate names) followed by one row per frame with the frame number,
the time in seconds and X Y Z for every marker, in the file's length unit.

Missing marker coordinates are written as ``NaN``. OpenSim's ``TRCFileAdapter`` (4.6) reads
both ``NaN`` and empty fields as missing, but it rejects a row whose trailing fields are empty
(its tokenizer drops them and then counts too few columns), so empty fields are not safe for
the last marker. :func:`read_trc` accepts both spellings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from posebench.io.atomic import write_text
from posebench.io.errors import reading

#: Length units a TRC file may declare, with their size in metres.
UNIT_TO_M: dict[str, float] = {"m": 1.0, "cm": 0.01, "mm": 0.001}

_METADATA_NAMES: tuple[str, ...] = (
    "DataRate",
    "CameraRate",
    "NumFrames",
    "NumMarkers",
    "Units",
    "OrigDataRate",
    "OrigDataStartFrame",
    "OrigNumFrames",
)
_N_HEADER_LINES = 5
_DECIMALS = 6


@dataclass(frozen=True)
class TrcData:
    """Contents of a TRC file.

    Attributes:
        marker_names: marker labels, in file order (M).
        frame_numbers: the ``Frame#`` column (T,), integers.
        times_s: the ``Time`` column in seconds (T,).
        positions: marker positions (T, M, 3) in the file's ``units``; NaN where missing.
        data_rate_hz: the ``DataRate`` header value in hertz.
        units: the file's length unit (``"m"``, ``"cm"`` or ``"mm"``).
    """

    marker_names: tuple[str, ...]
    frame_numbers: NDArray[np.int64]
    times_s: NDArray[np.float64]
    positions: NDArray[np.float64]
    data_rate_hz: float
    units: str

    @property
    def positions_m(self) -> NDArray[np.float64]:
        """Marker positions (T, M, 3) converted to metres."""
        return self.positions * UNIT_TO_M[self.units]


def write_trc(
    path: Path,
    marker_names: Sequence[str],
    times_s: NDArray[np.floating],
    positions_m: NDArray[np.floating],
    *,
    data_rate_hz: float,
    units: str = "m",
    frame_numbers: NDArray[np.integer] | None = None,
) -> None:
    """Write marker trajectories as an OpenSim-readable TRC file.

    Args:
        path: output file; written atomically; missing parent folders are created.
        marker_names: M unique marker labels without whitespace.
        times_s: (T,) strictly increasing, finite times in seconds.
        positions_m: (T, M, 3) positions in metres; NaN marks a missing marker. They are
            converted to ``units`` on writing.
        data_rate_hz: sampling rate in hertz, written as DataRate, CameraRate and
            OrigDataRate.
        units: length unit of the file, ``"m"``, ``"cm"`` or ``"mm"``.
        frame_numbers: (T,) integer frame numbers; default 1..T.

    Values are written with a fixed 6 decimals; missing ones as ``NaN``.
    """
    path = Path(path)
    names = tuple(marker_names)
    times = np.asarray(times_s, dtype=np.float64)
    positions = np.asarray(positions_m, dtype=np.float64)
    _check_write_inputs(path, names, times, positions, data_rate_hz, units)
    frames = _frame_numbers(path, frame_numbers, times.shape[0])
    values = positions / UNIT_TO_M[units]
    lines = _header_lines(path.name, names, frames, data_rate_hz, units)
    lines.extend(_data_lines(frames, times, values.reshape(times.shape[0], 3 * len(names))))
    write_text(path, "\n".join(lines) + "\n")


def _frame_numbers(
    path: Path, frame_numbers: NDArray[np.integer] | None, n_frames: int
) -> NDArray[np.integer]:
    """`frame_numbers`, checked to be (n_frames,) integers, or 1..n_frames when None."""
    if frame_numbers is None:
        return np.arange(1, n_frames + 1, dtype=np.int64)
    frames = np.asarray(frame_numbers)
    if frames.shape != (n_frames,) or not np.issubdtype(frames.dtype, np.integer):
        raise ValueError(
            f"{path}: frame_numbers must be an integer array of shape ({n_frames},), "
            f"got dtype {frames.dtype} and shape {frames.shape}; pass one integer frame "
            "number per time, or None for 1..T."
        )
    return frames


def _header_lines(
    file_name: str,
    names: tuple[str, ...],
    frames: NDArray[np.integer],
    data_rate_hz: float,
    units: str,
) -> list[str]:
    """The five header lines of a TRC file named `file_name` with markers `names` and frame
    numbers `frames`."""
    n_frames = frames.shape[0]
    rate = f"{data_rate_hz:.{_DECIMALS}f}"
    return [
        f"PathFileType\t4\t(X/Y/Z)\t{file_name}",
        "\t".join(_METADATA_NAMES),
        "\t".join(
            [
                rate,
                rate,
                str(n_frames),
                str(len(names)),
                units,
                rate,
                str(int(frames[0])),
                str(n_frames),
            ]
        ),
        "Frame#\tTime\t" + "\t".join(f"{name}\t\t" for name in names),
        "\t\t" + "\t".join(f"X{i}\tY{i}\tZ{i}" for i in range(1, len(names) + 1)),
    ]


def _data_lines(
    frames: NDArray[np.integer], times: NDArray[np.float64], values: NDArray[np.float64]
) -> list[str]:
    """One line per frame: frame number, time and the (T, 3M) `values`, fixed decimals, NaN
    for missing ones."""
    lines = []
    for frame, time, row in zip(frames, times, values, strict=True):
        fields = [str(int(frame)), f"{time:.{_DECIMALS}f}"]
        fields.extend("NaN" if math.isnan(v) else f"{v:.{_DECIMALS}f}" for v in row)
        lines.append("\t".join(fields))
    return lines


def _check_write_inputs(
    path: Path,
    names: tuple[str, ...],
    times: NDArray[np.float64],
    positions: NDArray[np.float64],
    data_rate_hz: float,
    units: str,
) -> None:
    """Raise ValueError when the arguments of :func:`write_trc` are inconsistent."""
    if units not in UNIT_TO_M:
        raise ValueError(
            f"{path}: unsupported TRC units {units!r}; expected one of {sorted(UNIT_TO_M)}."
        )
    if not (math.isfinite(data_rate_hz) and data_rate_hz > 0):
        raise ValueError(f"{path}: data_rate_hz must be a positive number, got {data_rate_hz}.")
    if len(set(names)) != len(names) or not names:
        raise ValueError(f"{path}: marker names must be unique and non-empty, got {list(names)}.")
    bad = [name for name in names if not name or any(ch.isspace() for ch in name)]
    if bad:
        raise ValueError(
            f"{path}: marker names must not be empty or contain whitespace (TRC is "
            f"tab-separated), got {bad}; rename those markers."
        )
    if times.ndim != 1 or times.shape[0] == 0:
        raise ValueError(
            f"{path}: times_s must be 1-D (T,) with at least one frame, got shape {times.shape}."
        )
    expected = (times.shape[0], len(names), 3)
    if positions.shape != expected:
        raise ValueError(
            f"{path}: positions_m must have shape (T, M, 3) = {expected} for {len(names)} "
            f"markers and {times.shape[0]} times, got {positions.shape}."
        )
    if not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
        raise ValueError(
            f"{path}: times_s must be finite and strictly increasing; got values from "
            f"{np.nanmin(times)} to {np.nanmax(times)} with non-increasing or non-finite "
            "entries. Sort or drop duplicate frames first."
        )
    if np.any(np.isinf(positions)):
        raise ValueError(
            f"{path}: positions_m contains infinite values; use NaN for missing markers."
        )


def read_trc(path: Path) -> TrcData:
    """Read a TRC file (as written by :func:`write_trc`, OpenSim or Pose2Sim).

    Empty fields and ``NaN``/``nan`` are read as missing (NaN); blank lines are skipped.

    Raises:
        UnreadableFileError: (a ValueError) naming the file and how to regenerate it, when
            it is missing or not text, the header is malformed, the marker count or units
            disagree with the header, or a data row has the wrong number of fields.
    """
    path = Path(path)
    with reading(path, "TRC file"):
        return _read_trc(path)


def _read_trc(path: Path) -> TrcData:
    lines = path.read_text(encoding="utf-8").splitlines()
    meta, names = _read_header(path, lines)
    frames, times, rows = _read_rows(path, lines, len(names))
    positions = np.array(rows, dtype=np.float64).reshape(len(rows), len(names), 3)
    return TrcData(
        marker_names=names,
        frame_numbers=np.array(frames, dtype=np.int64),
        times_s=np.array(times, dtype=np.float64),
        positions=positions,
        data_rate_hz=float(meta["DataRate"]),
        units=meta["Units"],
    )


def _read_header(path: Path, lines: list[str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """The metadata (name: value) and marker names of the header lines of `path`, checked:
    DataRate, NumMarkers and Units present, known Units, and as many names as NumMarkers."""
    if len(lines) < _N_HEADER_LINES:
        raise ValueError(
            f"{path}: a TRC file needs {_N_HEADER_LINES} header lines, found {len(lines)} "
            "lines in total."
        )
    meta_names = [field.strip() for field in lines[1].split("\t")]
    meta_values = [field.strip() for field in lines[2].split("\t")]
    meta = dict(zip(meta_names, meta_values, strict=False))
    missing = [name for name in ("DataRate", "NumMarkers", "Units") if name not in meta]
    if missing:
        raise ValueError(
            f"{path}: header line 2 lacks {missing}; expected the names "
            f"{list(_METADATA_NAMES)} (found {meta_names})."
        )
    units = meta["Units"]
    if units not in UNIT_TO_M:
        raise ValueError(
            f"{path}: unsupported Units {units!r} in header line 3; expected one of "
            f"{sorted(UNIT_TO_M)}."
        )
    label_fields = [field.strip() for field in lines[3].split("\t")]
    if label_fields[:2] != ["Frame#", "Time"]:
        raise ValueError(
            f"{path}: header line 4 must start with 'Frame#<TAB>Time', found {label_fields[:2]}."
        )
    names = tuple(field for field in label_fields[2:] if field)
    if len(names) != int(meta["NumMarkers"]):
        raise ValueError(
            f"{path}: header says NumMarkers={meta['NumMarkers']} but line 4 names "
            f"{len(names)} markers {list(names)}."
        )
    return meta, names


def _read_rows(
    path: Path, lines: list[str], n_markers: int
) -> tuple[list[int], list[float], list[list[float]]]:
    """Frame numbers, times and 3 * `n_markers` coordinates of each data line of `path`
    (after the header), skipping blank lines; empty fields are NaN and empty trailing fields
    are dropped."""
    n_fields = 2 + 3 * n_markers
    frames: list[int] = []
    times: list[float] = []
    rows: list[list[float]] = []
    for line_number, line in enumerate(lines[_N_HEADER_LINES:], start=_N_HEADER_LINES + 1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) > n_fields and not any(f.strip() for f in fields[n_fields:]):
            fields = fields[:n_fields]
        if len(fields) != n_fields:
            raise ValueError(
                f"{path}: line {line_number} has {len(fields)} tab-separated fields, expected "
                f"{n_fields} (Frame#, Time and X Y Z for {n_markers} markers)."
            )
        try:
            frames.append(int(fields[0]))
            times.append(float(fields[1]))
            rows.append([float(f) if f.strip() else math.nan for f in fields[2:]])
        except ValueError as exc:
            raise ValueError(f"{path}: line {line_number} is not numeric: {exc}.") from exc
    return frames, times, rows
