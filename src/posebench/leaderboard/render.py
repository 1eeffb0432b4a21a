"""Text of the leaderboard's files: CSV (4 decimals) and Markdown (1 decimal)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from posebench.leaderboard.statistics import MEAN_COLUMN, OCB_JOINTS

CSV_FLOAT_FORMAT = "%.4f"
"""Float format of every leaderboard CSV."""

_SCALING_TEXT = {
    "mocap": "Models scaled on motion capture (the dataset's scaled model, OpenCapBench's "
    "default): comparable with OpenCapBench's table.",
    "video": "Models scaled on the video markers of the static trial: not comparable with "
    "OpenCapBench's table, which uses the mocap-scaled model.",
}


def csv_text(table: pd.DataFrame) -> str:
    """``table`` as CSV without the index, floats with 4 decimals, NaN written ``NaN``."""
    text: str = table.to_csv(index=False, float_format=CSV_FLOAT_FORMAT, na_rep="NaN")
    return text


def leaderboard_markdown(
    table: pd.DataFrame, metric: str, n_resamples: int, seed: int, level: float
) -> str:
    """A caption line (metric, aggregation, interval, trials per row, how the models were
    scaled), then a table ``model | setup | <12 published labels> | mean | trials`` with 1
    decimal; the mean column shows its interval as ``5.2 [4.1, 6.3]``.

    ``table`` is :func:`posebench.leaderboard.statistics.leaderboard_table`'s result, made
    with the same ``metric``, ``n_resamples``, ``seed`` and ``level``.
    """
    caption = (
        f"Joint-angle RMSE in degrees (metric `{metric}`): unweighted mean over trials per "
        f"DOF, left and right averaged, mean = mean of the 12 joints; [low, high] = "
        f"{level:.0%} percentile bootstrap interval over trials ({n_resamples} resamples, "
        f"seed {seed}); {_trials_text(table['trials'])}. "
        f"{_SCALING_TEXT.get(str(table['scaling'].iloc[0]), str(table['scaling'].iloc[0]))}"
    )
    header = ["model", "setup", *(joint.label for joint in OCB_JOINTS), MEAN_COLUMN, "trials"]
    lines = [caption, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for record in table.to_dict("records"):
        mean = (
            f"{decimal(record[MEAN_COLUMN])} [{decimal(record[f'{MEAN_COLUMN}_low'])}, "
            f"{decimal(record[f'{MEAN_COLUMN}_high'])}]"
        )
        cells = [
            str(record["model"]),
            str(record["setup"]),
            *(decimal(record[joint.name]) for joint in OCB_JOINTS),
            mean,
            str(record["trials"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def decimal(value: float) -> str:
    """One decimal, or 'n/a' for NaN."""
    return "n/a" if np.isnan(value) else f"{value:.1f}"


def _trials_text(trials: pd.Series) -> str:
    """'16 trials per row', or '12-16 trials per row (column `trials`)' when rows differ."""
    low, high = int(trials.min()), int(trials.max())
    if low == high:
        return f"{low} trials per row"
    return f"{low}-{high} trials per row (column `trials`)"
