"""Atomic output: a write either completes or leaves the previous file untouched."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from posebench.io.atomic import (
    KILL_VARIABLE,
    atomic_directory,
    atomic_output,
    move_into_place,
    write_json,
    write_text,
)


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_write_replaces_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "report.json"
    write_json(target, {"b": 1, "a": [1, 2]})
    write_json(target, {"b": 2})
    assert target.read_text() == '{\n  "b": 2\n}\n'
    assert hidden(target.parent) == []


def test_failing_writer_keeps_the_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "markers.trc"
    write_text(target, "complete\n")
    with pytest.raises(RuntimeError, match="disk full"), atomic_output(target) as tmp:
        tmp.write_text("trunc")
        raise RuntimeError("disk full")
    assert target.read_text() == "complete\n"
    assert hidden(tmp_path) == []


def test_writer_that_writes_nothing_is_an_error(tmp_path: Path) -> None:
    with (
        pytest.raises(FileNotFoundError, match="was not written"),
        atomic_output(tmp_path / "x.csv"),
    ):
        pass
    assert list(tmp_path.iterdir()) == []


def test_the_suffix_is_kept_for_writers_that_choose_a_format_by_it(tmp_path: Path) -> None:
    with atomic_output(tmp_path / "plot.png") as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path and tmp.name.startswith(".")
        tmp.write_bytes(b"png")
    assert (tmp_path / "plot.png").read_bytes() == b"png"


def test_leftovers_of_a_killed_writer_are_removed_by_the_next_write(tmp_path: Path) -> None:
    (tmp_path / ".scores.tmp-12345.csv").write_text("half")
    (tmp_path / ".other.tmp-12345.csv").write_text("not ours")
    write_text(tmp_path / "scores.csv", "a,b\n")
    assert hidden(tmp_path) == [".other.tmp-12345.csv"]


def test_move_into_place_across_folders(tmp_path: Path) -> None:
    source = tmp_path / "elsewhere" / "model.osim"
    source.parent.mkdir()
    source.write_text("<OpenSimDocument/>")
    move_into_place(source, tmp_path / "out" / "model.osim")
    assert (tmp_path / "out" / "model.osim").read_text() == "<OpenSimDocument/>"
    assert not source.exists()


def test_directory_is_replaced_as_a_whole(tmp_path: Path) -> None:
    target = tmp_path / "breakdowns"
    target.mkdir()
    (target / "stale.csv").write_text("old")
    with pytest.raises(ValueError), atomic_directory(target) as staging:
        (staging / "new.csv").write_text("half")
        raise ValueError
    assert sorted(p.name for p in target.iterdir()) == ["stale.csv"]
    with atomic_directory(target) as staging:
        (staging / "new.csv").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["new.csv"]
    assert hidden(tmp_path) == []


def test_kill_during_write_leaves_no_trusted_file(tmp_path: Path) -> None:
    """The fault-injection variable kills the whole process group mid-write (as `kill -9`
    of a run would): the target is never created, only a hidden half-written temporary."""
    target = tmp_path / "triangulation.json"
    code = (
        "from posebench.io.atomic import write_json;"
        f"write_json({str(target)!r}, {{'values': list(range(1000))}})"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, KILL_VARIABLE: "triangulation.*"},
        start_new_session=True,
        check=False,
    )
    assert result.returncode == -signal.SIGKILL
    assert not target.exists()
    (leftover,) = tmp_path.iterdir()
    assert leftover.name.startswith(".triangulation.tmp-")
    assert 0 < leftover.stat().st_size < len(str(list(range(1000))))
    write_json(target, {"values": [1]})
    assert [p.name for p in tmp_path.iterdir()] == ["triangulation.json"]
