"""Command-line helpers around the workflow: `posebench timings` summarises benchmark files."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import pandas as pd


def stage_timings(benchmark_dir: Path) -> pd.DataFrame:
    """Per rule (the first folder under `benchmark_dir`): jobs, total/mean/max wall seconds
    and the largest resident memory, from Snakemake `benchmark:` files."""
    rows = []
    for path in sorted(benchmark_dir.rglob("*.tsv")):
        table = pd.read_csv(path, sep="\t")
        rule = path.relative_to(benchmark_dir).parts[0]
        rows.append(
            {"rule": rule, "s": float(table["s"].iloc[-1]), "max_rss_mb": table["max_rss"].iloc[-1]}
        )
    if not rows:
        raise SystemExit(f"No benchmark files under {benchmark_dir}; run the workflow first.")
    jobs = pd.DataFrame(rows)
    summary = jobs.groupby("rule", sort=False).agg(
        jobs=("s", "size"),
        total_s=("s", "sum"),
        mean_s=("s", "mean"),
        max_s=("s", "max"),
        max_rss_mb=("max_rss_mb", "max"),
    )
    return summary.reset_index()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="posebench", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    timings = commands.add_parser("timings", help="wall time per stage from benchmark files")
    timings.add_argument("benchmarks", nargs="?", type=Path, default=Path("benchmarks"))
    args = parser.parse_args(argv)
    if args.command == "timings":
        print(stage_timings(args.benchmarks).to_string(index=False, float_format="%.2f"))


if __name__ == "__main__":
    main()
