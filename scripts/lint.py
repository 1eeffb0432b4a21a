"""The static checks, in one place: `make lint` runs them all, tests/test_quality.py runs each
as one test, so the two never drift apart.

    python scripts/lint.py            # run every check; exit status 1 if any fails
    python scripts/lint.py mypy ruff-check   # only these
    python scripts/lint.py --list     # the names and commands

The tools are taken from the environment of the Python that runs this script (`.venv/bin`).
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
PYTHON_SOURCES = ("src", "tests", "workflow/scripts", "scripts")

CHECKS: dict[str, tuple[str, ...]] = {
    "snakemake-lint": (sys.executable, "-m", "snakemake", "--lint", "--snakefile", "Snakefile"),
    "snakefmt": (str(BIN / "snakefmt"), "--check", "Snakefile", "workflow/rules"),
    "ruff-check": (str(BIN / "ruff"), "check", *PYTHON_SOURCES),
    "ruff-format": (str(BIN / "ruff"), "format", "--check", *PYTHON_SOURCES),
    "mypy": (str(BIN / "mypy"), "src"),
}


def run_check(name: str) -> subprocess.CompletedProcess[str]:
    """Run the check `name` in the repository root; its output is captured."""
    return subprocess.run(CHECKS[name], capture_output=True, text=True, cwd=REPO, check=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help=f"checks to run (default: all of {list(CHECKS)})")
    parser.add_argument("--list", action="store_true", help="print the checks and exit")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in CHECKS]
    if unknown:
        parser.error(f"unknown checks {unknown}; known: {list(CHECKS)}")
    if args.list:
        for name, command in CHECKS.items():
            print(f"{name}: {shlex.join(command)}")
        return 0
    failed = []
    for name in args.names or CHECKS:
        start = time.perf_counter()
        result = run_check(name)
        seconds = time.perf_counter() - start
        if result.returncode == 0:
            print(f"ok      {name} ({seconds:.1f} s)")
        else:
            failed.append(name)
            print(f"FAILED  {name} ({seconds:.1f} s): {shlex.join(CHECKS[name])}")
            print(result.stdout + result.stderr, end="")
    if failed:
        print(f"{len(failed)} check(s) failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
