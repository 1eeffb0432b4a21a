"""Start-up cost of each workflow job: the wall time of its adapter script's `posebench`
imports in a fresh interpreter, and which heavy packages they load.

Every Snakemake job is a new Python process running one script of `workflow/scripts/`, so
this is paid once per job. With `--before SRC` (the `src/` folder of another checkout, e.g.
a `git worktree` of an older commit) both versions are timed in alternation, so machine
noise hits them alike.

    .venv/bin/python scripts/benchmark_imports.py [--runs 5] [--before /tmp/old/src]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = (
    "scipy.signal", "scipy.stats", "scipy.interpolate", "pandas", "matplotlib.pyplot",
    "opensim", "cv2", "torch", "mediapipe",
)  # fmt: skip


def stage_imports(scripts: Path = REPO / "workflow" / "scripts") -> dict[str, str]:
    """{script stem: its `posebench` import lines joined into one line of Python}."""
    stages = {}
    for script in sorted(scripts.glob("*.py")):
        lines = script.read_text(encoding="utf-8").splitlines()
        imports = [line for line in lines if re.match(r"(from|import) posebench", line)]
        stages[script.stem] = "; ".join(imports)
    return stages


def wall_s(code: str, src: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(src)}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    return time.perf_counter() - start


def heavy_modules(code: str, src: Path) -> list[str]:
    env = {**os.environ, "PYTHONPATH": str(src)}
    probe = code + "; import sys; print(' '.join(sys.modules))"
    loaded = set(
        subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
        ).stdout.split()
    )
    return [name for name in HEAVY if name in loaded]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per stage (median)")
    parser.add_argument("--before", type=Path, help="src/ of another checkout to compare")
    args = parser.parse_args(argv)
    after = REPO / "src"
    sources = ([args.before] if args.before else []) + [after]
    baseline = statistics.median(wall_s("pass", after) for _ in range(args.runs))
    print(f"python -c pass: {1000 * baseline:.0f} ms; median of {args.runs} runs per cell")
    columns = ["before ms", "after ms"] if args.before else ["ms"]
    print("| stage | " + " | ".join(columns) + " | heavy modules loaded |")
    print("|---|" + "---|" * len(columns) + "---|")
    for stage, code in stage_imports().items():
        times: list[list[float]] = [[] for _ in sources]
        for _ in range(args.runs):
            for k, src in enumerate(sources):
                times[k].append(wall_s(code, src))
        cells = [f"{1000 * statistics.median(t):.0f}" for t in times]
        loaded = [", ".join(heavy_modules(code, src)) or "-" for src in sources]
        print(f"| {stage} | " + " | ".join(cells) + " | " + " → ".join(loaded) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
