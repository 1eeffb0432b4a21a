"""OpenSim's log: into a given file (or only the console) instead of ``./opensim.log``."""

from __future__ import annotations

from pathlib import Path

import opensim as osim

LOG_LEVELS: tuple[str, ...] = ("Off", "Critical", "Error", "Warn", "Info", "Debug", "Trace")


def configure_opensim_logging(log_path: Path | None, level: str = "Warn") -> None:
    """Send OpenSim's log messages to ``log_path`` instead of ``./opensim.log``.

    Call this before any other OpenSim call of the process: a message logged earlier has
    already created ``opensim.log`` in the directory current at that time. Calling it again
    redirects the file sink to the new path. The level also applies to the console sink.

    Args:
        log_path: log file (e.g. the Snakemake rule's log); parents are created; messages are
            appended. None: no file sink, messages only go to the console (stdout), which a
            workflow job redirects into its log (`posebench.logs.log_to_file`).
        level: one of ``LOG_LEVELS``.
    """
    if level not in LOG_LEVELS:
        raise ValueError(f"unknown OpenSim log level {level!r}; expected one of {LOG_LEVELS}.")
    osim.Logger.removeFileSink()
    if log_path is not None:
        log_path = Path(log_path).resolve()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        osim.Logger.addFileSink(str(log_path))
    osim.Logger.setLevelString(level)
