"""Versioned NumPy archives (.npz): named arrays plus a JSON `meta` entry.

Written atomically (a temporary file, then a rename) and deterministically (fixed zip
timestamps), so the same content always gives the same bytes. `np.load` reads them.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from posebench.io.atomic import atomic_output
from posebench.io.errors import reading, regenerate_hint

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def write_archive(
    path: Path, arrays: Mapping[str, npt.NDArray[Any]], meta: Mapping[str, Any]
) -> None:
    """Write `arrays` and `meta` (JSON, sorted keys) to `path` atomically and reproducibly."""
    entries = {**arrays, "meta": np.array(json.dumps(meta, sort_keys=True))}
    with atomic_output(path) as tmp, zipfile.ZipFile(tmp, "w") as archive:
        for name, array in entries.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, buffer.getvalue())


def read_archive(
    path: Path,
    names: Sequence[str],
    *,
    format_version: int,
    error: type[Exception],
    kind: str,
    rule: str,
) -> tuple[dict[str, npt.NDArray[Any]], dict[str, Any]]:
    """Read the arrays `names` and the meta of `path`; `error` (naming the file, the `kind`
    of file and the `rule` that re-creates it) when missing, unreadable or of another
    format version."""
    with (
        reading(path, kind, rule=rule, error=error),
        np.load(path, allow_pickle=False) as archive,
    ):
        arrays = {name: archive[name] for name in names}
        meta = json.loads(str(archive["meta"]))
    if meta.get("format_version") != format_version:
        raise error(
            f"{path} has format version {meta.get('format_version')}, expected "
            f"{format_version}. {regenerate_hint(path, rule)}"
        )
    return arrays, meta
