"""Static checks of the workflow and the package: Snakemake lint, snakefmt, ruff, mypy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "snakemake", "--lint", "--snakefile", "Snakefile"],
        [str(BIN / "snakefmt"), "--check", "Snakefile", "workflow/rules"],
        [str(BIN / "ruff"), "check", "src", "tests", "workflow/scripts", "scripts"],
        [str(BIN / "ruff"), "format", "--check", "src", "tests", "workflow/scripts", "scripts"],
        [str(BIN / "mypy"), "src"],
    ],
    ids=["snakemake-lint", "snakefmt", "ruff-check", "ruff-format", "mypy"],
)
def test_static_check(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=False)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
