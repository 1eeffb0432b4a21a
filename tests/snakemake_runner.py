"""Run the workflow on a working folder, as every workflow test does."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "config" / "config.yaml"


def run_snakemake(
    workdir: Path,
    *args: str,
    configs: Sequence[Path | str] = (DEFAULT_CONFIG,),
    env: Mapping[str, str] | None = None,
    new_session: bool = False,
) -> subprocess.CompletedProcess[str]:
    """`snakemake --snakefile <repo> --directory workdir --configfile configs... args`, run
    in `workdir` (relative config files are found there) with `env` added to the
    environment; `new_session` gives the run a process group of its own (crash tests kill
    it whole)."""
    command = [
        sys.executable, "-m", "snakemake",
        "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(workdir),
        "--configfile", *map(str, configs),
        *args,
    ]  # fmt: skip
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        cwd=workdir,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        start_new_session=new_session,
    )
