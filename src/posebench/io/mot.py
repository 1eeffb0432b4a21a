"""Read and write OpenSim motion (``.mot``) and storage (``.sto``) files.

Both formats start with a header block ending with a line ``endheader``: an optional first
line with the table's name, then ``key=value`` lines (``version``, ``nRows``, ``nColumns``,
``inDegrees``, ...). A tab-separated table with a ``time`` column follows.

Missing values are written as ``NaN``. OpenSim 4.6's ``TimeSeriesTable``/``STOFileAdapter``
read them as NaN; the legacy ``Storage`` class does not (it merges such rows), so files meant
for ``Storage``-based tools must be finite.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from posebench.io.atomic import write_text
from posebench.io.errors import reading

if TYPE_CHECKING:
    # pandas is imported by read_mot, which builds the table: importing this module (e.g. by
    # `posebench.stages.scale`, which reads no .mot) stays cheap.
    import pandas as pd

_END_HEADER = "endheader"
_DECIMALS = 8


def _in_degrees(header: dict[str, str]) -> bool | None:
    value = header.get("inDegrees")
    return None if value is None else value.strip().lower() == "yes"


@dataclass(frozen=True)
class MotColumns:
    """Contents of a ``.mot``/``.sto`` file as NumPy arrays (`read_mot_columns`), for readers
    that need no table (and so no pandas import): ``labels`` are the column labels, ``time``
    first, and ``values`` is (rows, columns) float64."""

    name: str
    header: dict[str, str]
    labels: tuple[str, ...]
    values: npt.NDArray[np.float64]

    @property
    def in_degrees(self) -> bool | None:
        """The ``inDegrees`` header flag, or None when the header has none."""
        return _in_degrees(self.header)

    def column(self, label: str) -> npt.NDArray[np.float64]:
        """The values of the column `label` (KeyError naming the labels if absent)."""
        if label not in self.labels:
            raise KeyError(f"no column {label!r}; the columns are {list(self.labels)}")
        return self.values[:, self.labels.index(label)]


@dataclass(frozen=True)
class MotData:
    """Contents of a ``.mot``/``.sto`` file.

    Attributes:
        name: the header's first line when it is not a ``key=value`` line, else ``""``.
        header: the header's ``key=value`` pairs as strings (e.g. ``{"inDegrees": "yes"}``).
        table: the data, one row per frame, with a ``time`` column in seconds first and the
            other columns under their file names.
    """

    name: str
    header: dict[str, str]
    table: pd.DataFrame

    @property
    def in_degrees(self) -> bool | None:
        """The ``inDegrees`` header flag, or None when the header has none."""
        return _in_degrees(self.header)


def read_mot(path: Path) -> MotData:
    """Read an OpenSim ``.mot`` or ``.sto`` file.

    Raises:
        UnreadableFileError: (a ValueError) naming the file and how to regenerate it, when
            it is missing or not text, there is no ``endheader`` line, the first column is
            not ``time``, or the header's ``nRows``/``nColumns`` disagree with the table.
    """
    columns = read_mot_columns(path)
    import pandas as pd

    table = pd.DataFrame(columns.values, columns=list(columns.labels))
    return MotData(name=columns.name, header=columns.header, table=table)


def read_mot_columns(path: Path) -> MotColumns:
    """Read an OpenSim ``.mot`` or ``.sto`` file into arrays; the errors of `read_mot`."""
    path = Path(path)
    with reading(path, "OpenSim motion/storage file"):
        return _read_mot(path)


def _read_mot(path: Path) -> MotColumns:
    lines = path.read_text(encoding="utf-8").splitlines()
    try:
        end = next(i for i, line in enumerate(lines) if line.strip() == _END_HEADER)
    except StopIteration:
        raise ValueError(
            f"{path}: no '{_END_HEADER}' line found; expected an OpenSim .mot/.sto header "
            "block ending with 'endheader' before the column labels."
        ) from None
    name = ""
    header: dict[str, str] = {}
    for index, line in enumerate(lines[:end]):
        if "=" in line:
            key, value = line.split("=", 1)
            header[key.strip()] = value.strip()
        elif index == 0:
            name = line.strip()
    body = [line for line in lines[end + 1 :] if line.strip()]
    if not body:
        raise ValueError(f"{path}: no column labels after '{_END_HEADER}'.")
    separator = "\t" if "\t" in body[0] else None
    labels = [label.strip() for label in body[0].split(separator)]
    while labels and not labels[-1]:
        labels.pop()
    if not labels or labels[0].lower() != "time":
        raise ValueError(
            f"{path}: the first column must be 'time', found {labels[:1]}; is this an "
            "OpenSim .mot/.sto file?"
        )
    labels[0] = "time"
    rows = []
    for offset, line in enumerate(body[1:], start=2):
        fields = [field.strip() for field in line.split(separator)]
        if len(fields) > len(labels) and not any(fields[len(labels) :]):
            fields = fields[: len(labels)]
        if len(fields) != len(labels):
            raise ValueError(
                f"{path}: data row {offset - 1} has {len(fields)} fields, expected "
                f"{len(labels)} (one per column label)."
            )
        try:
            rows.append([float(field) if field else np.nan for field in fields])
        except ValueError as exc:
            raise ValueError(f"{path}: data row {offset - 1} is not numeric: {exc}.") from exc
    values = np.array(rows, dtype=np.float64).reshape(len(rows), len(labels))
    _check_counts(path, header, values.shape)
    return MotColumns(name=name, header=header, labels=tuple(labels), values=values)


def _check_counts(path: Path, header: dict[str, str], shape: tuple[int, ...]) -> None:
    """Raise ValueError when the header's nRows/nColumns disagree with the table's shape."""
    for key, found in (("nRows", shape[0]), ("nColumns", shape[1])):
        if key in header and int(header[key]) != found:
            raise ValueError(
                f"{path}: header says {key}={header[key]} but the table has {found}; the "
                "file is truncated or was edited by hand."
            )


def write_mot(path: Path, table: pd.DataFrame, *, name: str, in_degrees: bool) -> None:
    """Write a table as an OpenSim ``.mot`` file.

    Args:
        path: output file; written atomically; missing parent folders are created.
        table: one row per frame with a ``time`` column (seconds, finite, strictly
            increasing) and numeric columns whose names contain no whitespace. ``time`` is
            written first, the other columns in table order.
        name: the header's first line (e.g. ``"Coordinates"``).
        in_degrees: the ``inDegrees`` flag: whether angular columns are in degrees.

    Values are written with a fixed 8 decimals; missing ones as ``NaN``.
    """
    path = Path(path)
    if "time" not in table.columns:
        raise ValueError(
            f"{path}: the table needs a 'time' column in seconds, found columns "
            f"{list(table.columns)}."
        )
    columns = ["time", *[str(c) for c in table.columns if c != "time"]]
    bad = [c for c in columns if not c or any(ch.isspace() for ch in c)]
    if bad or len(set(columns)) != len(columns):
        raise ValueError(
            f"{path}: column names must be unique and contain no whitespace, got {columns}."
        )
    if any(ch in name for ch in "\r\n=") or not name.strip():
        raise ValueError(
            f"{path}: the header name must be one non-empty line without '=', got {name!r}."
        )
    values = table[columns].to_numpy(dtype=np.float64)
    times = values[:, 0]
    if not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
        raise ValueError(
            f"{path}: 'time' must be finite and strictly increasing; sort the table and drop "
            "duplicate or missing times first."
        )
    lines = [
        name.strip(),
        "version=1",
        f"nRows={values.shape[0]}",
        f"nColumns={values.shape[1]}",
        f"inDegrees={'yes' if in_degrees else 'no'}",
        _END_HEADER,
        "\t".join(columns),
    ]
    lines.extend(
        "\t".join("NaN" if np.isnan(v) else f"{v:.{_DECIMALS}f}" for v in row) for row in values
    )
    write_text(path, "\n".join(lines) + "\n")
