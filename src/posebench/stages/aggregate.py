"""Stage `aggregate`: the per-trial statistics and quality CSVs of all trials and models in;
one combined CSV of each out. The leaderboard combines the per-trial score tables the same
way."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from posebench.io.atomic import atomic_output
from posebench.io.errors import read_csv
from posebench.summary import combine_tables


def aggregate_tables(inputs: Sequence[Path], output: Path) -> pd.DataFrame:
    """Concatenate per-trial CSVs (same columns) into one CSV, sorted deterministically."""
    combined = combine_tables([read_csv(path, "per-trial table") for path in inputs])
    with atomic_output(output) as tmp:
        combined.to_csv(tmp, index=False, float_format="%.4f")
    return combined


def run(
    statistics: Sequence[Path],
    quality: Sequence[Path],
    output_statistics: Path,
    output_quality: Path,
) -> None:
    """Write the combined joint-angle statistics and the combined quality table."""
    aggregate_tables(statistics, output_statistics)
    aggregate_tables(quality, output_quality)
