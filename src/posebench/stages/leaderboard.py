"""Stage `leaderboard`: one dataset's per-trial scores in; the leaderboard (CSV, Markdown,
PNG) and the breakdown tables out.

The aggregation is :mod:`posebench.leaderboard.statistics`, the text
:mod:`posebench.leaderboard.render` and the plot :mod:`posebench.leaderboard.plot`; this
module reads the scores and writes the files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from posebench.io.atomic import atomic_directory, write_bytes, write_text
from posebench.leaderboard.plot import leaderboard_png
from posebench.leaderboard.render import csv_text, leaderboard_markdown
from posebench.leaderboard.statistics import DEFAULT_METRIC, breakdown_tables, leaderboard_table
from posebench.stages.aggregate import aggregate_tables

BREAKDOWN_FILES: tuple[str, ...] = (
    "joint_table_by_activity.csv",
    "joint_table_by_subject.csv",
    "paired_comparisons.csv",
)
"""Files of the breakdowns folder: by activity, by subject, paired comparisons."""


def run(
    inputs: Sequence[Path],
    *,
    scores: Path,
    csv: Path,
    markdown: Path,
    plot: Path,
    breakdowns: Path,
    metric: str = DEFAULT_METRIC,
    n_resamples: int = 2000,
    seed: int = 0,
) -> None:
    """Concatenate the per-trial score CSVs `inputs` into `scores`, then write the
    leaderboard (`csv`, `markdown`, `plot`) and the breakdowns into `breakdowns`."""
    table = aggregate_tables(list(inputs), scores)
    write_leaderboard(table, csv, markdown, plot, metric=metric, n_resamples=n_resamples, seed=seed)
    write_breakdowns(table, breakdowns, metric=metric, n_resamples=n_resamples, seed=seed)


def write_leaderboard(
    scores: pd.DataFrame,
    output_csv: Path,
    output_md: Path,
    output_plot: Path,
    metric: str = DEFAULT_METRIC,
    n_resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Write the model x setup leaderboard as CSV, Markdown and a bar plot (PNG).

    * CSV: :func:`posebench.leaderboard.statistics.leaderboard_table` (4 decimals).
    * Markdown: :func:`posebench.leaderboard.render.leaderboard_markdown`.
    * PNG: :func:`posebench.leaderboard.plot.leaderboard_png`.

    Returns:
        The CSV's table.
    """
    table = leaderboard_table(scores, metric, n_resamples, seed, level)
    write_text(output_csv, csv_text(table))
    write_text(output_md, leaderboard_markdown(table, metric, n_resamples, seed, level))
    write_bytes(output_plot, leaderboard_png(table, metric, level))
    return table


def write_breakdowns(
    scores: pd.DataFrame,
    output_dir: Path,
    metric: str = DEFAULT_METRIC,
    n_resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> list[Path]:
    """Write :func:`posebench.leaderboard.statistics.breakdown_tables` as CSVs (4 decimals) into
    ``output_dir``, which is replaced as a whole; the files are :data:`BREAKDOWN_FILES`.

    Returns:
        The written paths, in the order of :data:`BREAKDOWN_FILES`.
    """
    tables = breakdown_tables(scores, metric, n_resamples, seed, level)
    texts = [csv_text(table) for table in (tables.by_activity, tables.by_subject, tables.paired)]
    output_dir = Path(output_dir)
    with atomic_directory(output_dir) as staging:
        for name, text in zip(BREAKDOWN_FILES, texts, strict=True):
            (staging / name).write_text(text, encoding="utf-8")
    return [output_dir / name for name in BREAKDOWN_FILES]
