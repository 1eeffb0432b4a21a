"""Atomic file output: every writer of the package goes through `atomic_output`.

A file is written under a temporary name in its own folder and renamed onto its final
name only once it is complete, so a job killed at any moment leaves either the previous
file, no file, or the complete new one, never a truncated file that a re-run would trust.
Temporary files are hidden (`.name.tmp-<pid>.suffix`, the suffix kept so that writers
choosing a format by extension still work) and leftovers of killed jobs are removed by
the next write of the same file.

Fault injection for crash tests: when the environment variable
`POSEBENCH_KILL_DURING_WRITE` holds a glob matching the output's file name, the process
group is killed with SIGKILL halfway through that write (the temporary file holds half
of the bytes), as a power cut or `kill -9` of the whole run would do.
"""

from __future__ import annotations

import fnmatch
import json
import os
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

KILL_VARIABLE = "POSEBENCH_KILL_DURING_WRITE"
_TMP_MARK = ".tmp-"


def temporary_name(path: Path) -> Path:
    """The hidden temporary file `path` is written to before the rename."""
    return path.with_name(f".{path.stem}{_TMP_MARK}{os.getpid()}{path.suffix}")


def _remove_leftovers(path: Path) -> None:
    for leftover in path.parent.glob(f".{path.stem}{_TMP_MARK}*{path.suffix}"):
        leftover.unlink(missing_ok=True)


def _maybe_kill(path: Path, tmp: Path) -> None:
    pattern = os.environ.get(KILL_VARIABLE)
    if not pattern or not fnmatch.fnmatch(path.name, pattern):
        return
    size = tmp.stat().st_size
    with tmp.open("r+b") as handle:
        handle.truncate(size // 2)
    os.killpg(os.getpgid(0), signal.SIGKILL)


@contextmanager
def atomic_output(path: Path | str) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it onto `path` when the block ends
    without error (after flushing it to disk), delete it when the block raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(path)
    tmp = temporary_name(path)
    try:
        yield tmp
        if not tmp.is_file():
            raise FileNotFoundError(f"{tmp} was not written; {path} is left as it was.")
        _maybe_kill(path, tmp)
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path | str, text: str) -> None:
    """Write `text` (UTF-8) to `path` atomically."""
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: Path | str, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: Path | str, content: Any) -> None:
    """Write `content` as indented JSON with sorted keys to `path` atomically."""
    write_text(path, json.dumps(content, indent=2, sort_keys=True) + "\n")


def move_into_place(source: Path | str, path: Path | str) -> None:
    """Move a finished file (possibly on another file system) onto `path` atomically."""
    with atomic_output(path) as tmp:
        shutil.copyfile(source, tmp)
    Path(source).unlink()


@contextmanager
def atomic_directory(path: Path | str) -> Iterator[Path]:
    """Yield a temporary folder next to `path`; it replaces `path` (and all it held) when
    the block ends without error, and is deleted when the block raises."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in path.parent.glob(f".{path.name}{_TMP_MARK}*"):
        shutil.rmtree(leftover, ignore_errors=True)
    tmp = path.with_name(f".{path.name}{_TMP_MARK}{os.getpid()}")
    tmp.mkdir()
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        tmp.rename(path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
