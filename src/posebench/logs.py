"""Send everything a job prints — Python logging, warnings and native libraries' output
(OpenSim, MediaPipe write straight to file descriptors 1 and 2) — into its log file."""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

# `log.warning(message, extra=TERMINAL)`: the message goes to the log file and also to the
# terminal (the stderr of the Snakemake process), for what a user must not miss.
TERMINAL = {"terminal": True}
_terminal: TextIO | None = None


def log_to_file(path: Path | str, level: int = logging.INFO) -> None:
    """Redirect stdout/stderr (at the descriptor level) and the root logger to `path`.

    Records logged with `extra=TERMINAL` are also written to the stderr the process had.
    """
    global _terminal
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    if _terminal is None:
        _terminal = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8")
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(descriptor, 1)
    os.dup2(descriptor, 2)
    os.close(descriptor)
    stream = open(path, "a", buffering=1, encoding="utf-8")  # noqa: SIM115 - lives for the job
    sys.stdout = sys.stderr = stream
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=stream,
        force=True,
    )
    logging.captureWarnings(True)
    terminal = logging.StreamHandler(_terminal)
    terminal.addFilter(lambda record: getattr(record, "terminal", False))
    terminal.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    logging.getLogger().addHandler(terminal)
    placement = job_placement()
    if placement:
        logging.getLogger(__name__).info("%s", placement)


# Set by Slurm (and other schedulers) in a job; the GPU variable also by users.
PLACEMENT_VARIABLES = ("SLURM_JOB_ID", "CUDA_VISIBLE_DEVICES")


def job_placement(environ: Mapping[str, str] | None = None) -> str | None:
    """Where this job runs, for a log read after a cluster run: the host, the Slurm job and
    the GPUs it may use; None on a workstation where neither variable is set."""
    environ = os.environ if environ is None else environ
    if not any(name in environ for name in PLACEMENT_VARIABLES):
        return None
    parts = [f"host {socket.gethostname()}"]
    parts += [f"{name}={environ[name]}" for name in PLACEMENT_VARIABLES if name in environ]
    return "job placement: " + ", ".join(parts)
