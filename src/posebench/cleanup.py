"""After a failed run, no outdated result is left looking valid.

Snakemake deletes a job's old outputs just before the job runs, so a run that stops at an
error leaves the old outputs of every job it still had to run: a trial whose new video
was rejected keeps the joint angles of its old video, and `trials.csv` its old row.
`discard_outdated` (the Snakefile's `onerror:` hook) deletes them, under `results/` only,
and says so on the terminal; the next run makes them again from the current inputs. A
dataset whose sample sheet could not be made loses all its results: which of its trials
still exist is not known.
"""

from __future__ import annotations

import re
import shutil
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TextIO

from posebench.paths import PATHS

RESULTS = "results"


@dataclass(frozen=True)
class Unfinished:
    """A job the run had to run and did not finish: its rule, wildcards and outputs."""

    rule: str
    wildcards: Mapping[str, str]
    outputs: Sequence[str]


def dataset_results(dataset: str, workdir: Path = Path()) -> list[Path]:
    """Every existing result of `dataset` under results/, and the tables combining all
    datasets."""
    found: set[Path] = set()
    for field in fields(PATHS):
        template: str = getattr(PATHS, field.name)
        if not template.startswith(f"{RESULTS}/"):
            continue
        if "{dataset}" not in template:
            found.add(workdir / template)
            continue
        pattern = re.sub(r"\{(?!dataset\})\w+\}", "*", template).format(dataset=dataset)
        found.update(workdir.glob(pattern))
    return sorted(path for path in found if path.exists())


def outdated(jobs: Iterable[Unfinished], workdir: Path = Path()) -> list[Path]:
    """The existing results/ files and folders of `jobs` (and of datasets whose
    `describe_dataset` job is among them)."""
    found: set[Path] = set()
    for job in jobs:
        if job.rule == "describe_dataset":
            found.update(dataset_results(job.wildcards["dataset"], workdir))
        found.update(workdir / output for output in job.outputs)
    return sorted(
        path
        for path in found
        if path.exists() and path.relative_to(workdir).parts[:1] == (RESULTS,)
    )


def discard_outdated(
    jobs: Iterable[Unfinished], workdir: Path = Path(), stream: TextIO | None = None
) -> list[Path]:
    """Delete `outdated(jobs)` and list them on `stream` (stderr); return them."""
    paths = outdated(jobs, workdir)
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    if paths:
        stream = stream or sys.stderr
        shown = [str(path.relative_to(workdir)) for path in paths[:10]]
        more = f"\n  ... and {len(paths) - 10} more" if len(paths) > 10 else ""
        print(
            f"posebench: removed {len(paths)} outdated result(s) of jobs that did not finish "
            "because of the error(s) above; the next run makes them again:\n  "
            + "\n  ".join(shown)
            + more,
            file=stream,
        )
    return paths


# The module whose timers wake Snakemake's job scheduler.
SCHEDULER_MODULE = "snakemake.scheduling.job_scheduler"


def cancel_scheduler_timers(module: str = SCHEDULER_MODULE) -> int:
    """Cancel the pending wake-up timers of Snakemake's job scheduler; returns how many.

    With a job rate limit (Snakemake's default) every round of the scheduler starts a
    `threading.Timer` that wakes it again a timespan later. The timers are not daemon
    threads, so after the last job the interpreter waits for the last of them (up to a
    second) before it exits. Called from the `onsuccess:`/`onerror:` hooks, when the
    scheduler has stopped; timers started by other code (their function defined outside
    `module`) are left alone.
    """
    cancelled = 0
    for thread in threading.enumerate():
        function = getattr(thread, "function", None)
        if (
            isinstance(thread, threading.Timer)
            and thread.is_alive()
            and getattr(function, "__module__", None) == module
        ):
            thread.cancel()
            cancelled += 1
    return cancelled
