"""Unreadable files: one error type whose message names the file and how to get it back.

Every reader of an intermediate format (npz, TRC, MOT/STO, JSON, CSV) runs inside
`reading`, which turns whatever a missing, truncated or foreign file raises (OSError,
ValueError, a zip, zlib or Unicode error, EOFError, KeyError) into `UnreadableFileError`
naming the file and, for files the workflow writes, the rule that regenerates it.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

CORRUPTION = (
    OSError,
    ValueError,
    KeyError,
    EOFError,
    zipfile.BadZipFile,
    zlib.error,
    UnicodeDecodeError,
)


class UnreadableFileError(ValueError):
    """A file is missing or cannot be read; the message names it and the fix."""


class MissingFileError(UnreadableFileError, FileNotFoundError):
    """The file does not exist (also a FileNotFoundError)."""


def regenerate_hint(path: Path | str, rule: str | None = None, *, missing: bool = False) -> str:
    """How to get `path` back: the rule that writes it (found from the path, else `rule`),
    or where it comes from."""
    from posebench.paths import producing_rule

    rule = producing_rule(path) or rule
    if rule is None:
        action = "run snakemake again" if missing else "delete it and run snakemake again"
        return (
            f"If the workflow wrote it, {action}; if it is input data, restore it from its source."
        )
    action = "run snakemake again" if missing else "delete the file and run snakemake again"
    return f"The rule {rule} writes it: {action} (or add `--forcerun {rule}`)."


def unreadable_message(
    path: Path | str, kind: str, problem: object, rule: str | None = None
) -> str:
    """`Cannot read <kind> <path>: <problem>. <hint>` (the path is not repeated)."""
    text = str(problem).removeprefix(f"{path}: ").rstrip(".")
    if "allow_pickle" in text:  # numpy's words for "not an .npy/.npz file"
        text = "it is not a NumPy archive"
    return f"Cannot read {kind} {path}: {text}. {regenerate_hint(path, rule)}"


@contextmanager
def reading(
    path: Path | str,
    kind: str,
    *,
    rule: str | None = None,
    error: type[Exception] | None = None,
) -> Iterator[None]:
    """Turn any error raised while reading `path` into `UnreadableFileError` (a missing
    file: `MissingFileError`), or into `error` when given; `rule` is named when the path
    does not say which rule writes the file."""
    try:
        yield
    except UnreadableFileError:
        raise
    except FileNotFoundError as problem:
        hint = regenerate_hint(path, rule, missing=True)
        raise (error or MissingFileError)(
            f"{kind.capitalize()} {path} does not exist. {hint}"
        ) from problem
    except CORRUPTION as problem:
        message = unreadable_message(path, kind, problem, rule)
        raise (error or UnreadableFileError)(message) from problem


def read_json(path: Path | str, kind: str = "JSON file") -> Any:
    """The content of a JSON file, or `UnreadableFileError`."""
    with reading(path, kind):
        return json.loads(Path(path).read_text(encoding="utf-8"))


def read_csv(path: Path | str, kind: str = "CSV table", **options: Any) -> pd.DataFrame:
    """`pandas.read_csv(path, **options)`, or `UnreadableFileError`; an empty file too."""
    import pandas as pd

    with reading(path, kind):
        return pd.read_csv(path, **options)
