"""The leaderboard's bar plot. matplotlib is imported by :func:`leaderboard_png`, not by this
module, so that only plotting pays for it."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pandas as pd

from posebench.leaderboard.render import decimal
from posebench.leaderboard.statistics import MEAN_COLUMN, OCB_JOINTS


def leaderboard_png(table: pd.DataFrame, metric: str, level: float) -> bytes:
    """PNG of the 12 joints as grouped bars, one bar per model with its interval as error
    bar, one panel per setup.

    ``table`` is :func:`posebench.leaderboard.statistics.leaderboard_table`'s result, made
    with the same ``metric`` and ``level``.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    setups = sorted(table["setup"].unique())
    all_models = sorted(table["model"].unique())
    colours = plt.get_cmap("tab20" if len(all_models) > 10 else "tab10")
    figure, axes = plt.subplots(
        len(setups), 1, figsize=(15.0, 3.8 * len(setups)), squeeze=False, sharey=True
    )
    for axis, setup in zip(axes[:, 0], setups, strict=True):
        _draw_setup(axis, table[table["setup"] == setup], all_models, colours)
        axis.set_title(f"{setup}: {metric}, error bars {level:.0%} bootstrap interval")
        axis.set_xticks(np.arange(len(OCB_JOINTS)), [joint.label for joint in OCB_JOINTS])
        axis.set_ylabel("RMSE (deg)")
        axis.grid(axis="y", alpha=0.3)
        axis.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def _draw_setup(axis: Any, rows: pd.DataFrame, all_models: list[str], colours: Any) -> None:
    """One setup's bars: one group per joint, one bar per model of ``rows`` with its interval
    as error bar, coloured by the model's place in ``all_models``."""
    positions = np.arange(len(OCB_JOINTS))
    width = 0.8 / len(rows)
    for index, record in enumerate(rows.to_dict("records")):
        values = np.array([record[joint.name] for joint in OCB_JOINTS])
        low = np.array([record[f"{joint.name}_low"] for joint in OCB_JOINTS])
        high = np.array([record[f"{joint.name}_high"] for joint in OCB_JOINTS])
        errors = np.nan_to_num(np.clip(np.vstack([values - low, high - values]), 0.0, None))
        axis.bar(
            positions - 0.4 + width * (index + 0.5),
            values,
            width,
            yerr=errors,
            capsize=2.0,
            color=colours(all_models.index(record["model"]) % colours.N),
            label=f"{record['model']} (mean {decimal(record[MEAN_COLUMN])})",
        )
