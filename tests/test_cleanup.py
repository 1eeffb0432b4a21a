"""After a failed run, the outputs of jobs that did not finish are removed (results/ only)."""

from __future__ import annotations

import io
import threading
from pathlib import Path

from posebench.cleanup import Unfinished, cancel_scheduler_timers, discard_outdated, outdated
from posebench.paths import PATHS

KEYS = {"subject": "P0", "session": "S0", "trial": "t", "model": "m", "setup": "all"}


def make(workdir: Path, *templates: str, dataset: str) -> list[Path]:
    paths = []
    for template in templates:
        path = workdir / template.format(dataset=dataset, camera="c1", **KEYS)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("old")
        paths.append(path)
    return paths


def test_outputs_of_unfinished_jobs_are_removed_and_listed(tmp_path: Path) -> None:
    trc, report = make(tmp_path, PATHS.trc, PATHS.triangulation, dataset="a")
    (keep,) = make(tmp_path, PATHS.keypoints, dataset="a")
    weights = tmp_path / "resources/models/m/weights.json"
    weights.parent.mkdir(parents=True)
    weights.write_text("{}")
    jobs = [
        Unfinished("triangulate", {"dataset": "a"}, [str(trc.relative_to(tmp_path)), "x/y"]),
        Unfinished("fetch_weights", {"weights": "m"}, ["resources/models/m/weights.json"]),
    ]
    stream = io.StringIO()
    removed = discard_outdated(jobs, tmp_path, stream)
    assert removed == [trc]
    assert not trc.exists() and report.exists() and keep.exists() and weights.exists()
    assert stream.getvalue().startswith("posebench: removed 1 outdated result(s)")
    assert str(trc.relative_to(tmp_path)) in stream.getvalue()


def test_a_dataset_whose_sheet_failed_loses_all_its_results(tmp_path: Path) -> None:
    mine = make(
        tmp_path,
        PATHS.keypoints, PATHS.trc, PATHS.motion, PATHS.scaled_model, PATHS.leaderboard_csv,
        PATHS.calibration,
        dataset="a",
    )  # fmt: skip
    other = make(tmp_path, PATHS.keypoints, PATHS.trc, dataset="b")
    combined = make(tmp_path, PATHS.all_quality, PATHS.all_statistics, dataset="-")
    found = outdated([Unfinished("describe_dataset", {"dataset": "a"}, [])], tmp_path)
    assert set(mine) | set(combined) <= set(found)
    assert not set(other) & set(found)
    discard_outdated([Unfinished("describe_dataset", {"dataset": "a"}, [])], tmp_path)
    assert all(p.exists() for p in other)
    assert not any(p.exists() for p in mine + combined)


def test_nothing_to_remove_prints_nothing(tmp_path: Path) -> None:
    stream = io.StringIO()
    assert (
        discard_outdated([Unfinished("pose2d", {}, ["results/none.npz"])], tmp_path, stream) == []
    )
    assert stream.getvalue() == ""


def test_cancel_scheduler_timers_cancels_only_the_schedulers() -> None:
    """The scheduler's pending wake-up timers are cancelled (so the process need not wait
    for them); a timer of other code keeps running."""
    fired: list[str] = []

    def wake() -> None:
        fired.append("scheduler")

    def other() -> None:
        fired.append("other")

    wake.__module__ = "snakemake.scheduling.job_scheduler"
    schedulers = [threading.Timer(30, wake) for _ in range(3)]
    mine = threading.Timer(0.2, other)
    for timer in (*schedulers, mine):
        timer.start()
    assert cancel_scheduler_timers() == 3
    for timer in schedulers:
        timer.join(timeout=5)
        assert not timer.is_alive()
    mine.join(timeout=5)
    assert fired == ["other"]
    assert cancel_scheduler_timers() == 0
