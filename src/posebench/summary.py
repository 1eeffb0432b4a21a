"""Stages `summarize` and `aggregate`: joint-angle statistics, plots and combined tables.

The functions here compute from loaded inputs (a `.mot`'s content, the triangulation
report, tables); `posebench.stages.summarize` reads a trial's files and writes its outputs,
`posebench.stages.aggregate` combines the per-trial tables.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from posebench.keys import RESULT_KEYS

if TYPE_CHECKING:
    from posebench.io.mot import MotData
    from posebench.reports.triangulation import SyncReport, TriangulationReport

TRANSLATION = re.compile(r"_t[xyz]$")
DEFAULT_PLOT_COORDINATES = (
    "hip_flexion",
    "hip_adduction",
    "hip_rotation",
    "knee_angle",
    "ankle_angle",
    "subtalar_angle",
)
TITLE_KEYS = ("subject", "session", "trial", "model")
"""Keys of a trial shown, in this order, in its plot's title."""


class SummaryError(ValueError):
    """A summary input is missing or inconsistent."""


def joint_angle_statistics(
    motion: MotData, keys: Mapping[str, str], source: Path | str
) -> pd.DataFrame:
    """One row per coordinate of an IK result (`motion`, read from `source`): unit, frames,
    mean, std, min, max, range; `keys` are prepended as columns."""
    if motion.in_degrees is False:
        raise SummaryError(
            f"{source}: expected inDegrees=yes, found {motion.header.get('inDegrees')}"
        )
    values = motion.table.drop(columns="time")
    if values.empty:
        raise SummaryError(f"{source}: no coordinates")
    stats = pd.DataFrame(
        {
            "coordinate": values.columns,
            "unit": ["m" if TRANSLATION.search(c) else "deg" for c in values.columns],
            "frames": values.notna().sum().to_numpy(),
            "mean": values.mean().to_numpy(),
            "std": values.std(ddof=0).to_numpy(),
            "min": values.min().to_numpy(),
            "max": values.max().to_numpy(),
        }
    )
    stats["range"] = stats["max"] - stats["min"]
    for column, value in reversed(list(keys.items())):
        stats.insert(0, column, value)
    return stats


def plot_title(keys: Mapping[str, str]) -> str:
    """A trial's plot title: its `TITLE_KEYS` values joined by ` / `."""
    return " / ".join(keys[k] for k in TITLE_KEYS if k in keys)


def joint_angle_png(
    table: pd.DataFrame,
    title: str,
    coordinates: Sequence[str],
    source: Path | str,
) -> bytes:
    """PNG plot of right/left pairs of `coordinates` (base names without _r/_l) over time,
    from the table of an IK result read from `source`."""
    # matplotlib is imported here, not at module level: the `aggregate` stage never plots.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    present = [c for c in coordinates if f"{c}_r" in table or f"{c}_l" in table or c in table]
    if not present:
        raise SummaryError(
            f"{source} has none of the coordinates to plot {list(coordinates)}; "
            "check summary.plot_coordinates in config/config.yaml"
        )
    columns = 3 if len(present) > 2 else len(present)
    rows = int(np.ceil(len(present) / columns))
    width_in, height_in = 4.2 * columns, 3.0 * rows
    figure, axes = plt.subplots(
        rows, columns, figsize=(width_in, height_in), squeeze=False, sharex=True
    )
    for axis, base in zip(axes.flat, present, strict=False):
        for suffix, colour, label in (
            ("_r", "tab:red", "right"),
            ("_l", "tab:blue", "left"),
            ("", "k", None),
        ):
            name = base + suffix
            if name in table:
                axis.plot(table["time"], table[name], color=colour, label=label or name, lw=1.4)
        axis.set_title(base.replace("_", " "))
        axis.set_ylabel("angle (deg)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8, loc="best")
    for axis in axes.flat[len(present) :]:
        axis.set_visible(False)
    for axis in axes[-1]:
        axis.set_xlabel("time (s)")
    figure.suptitle(title)
    # Fixed margins in inches (room for the tick labels, axis labels and the title):
    # `tight_layout` would measure the text by drawing the figure once more.
    figure.subplots_adjust(
        left=0.75 / width_in,
        right=1 - 0.15 / width_in,
        bottom=0.55 / height_in,
        top=1 - 0.65 / height_in,
        wspace=0.35,
        hspace=0.35,
    )
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return buffer.getvalue()


def camera_offsets(sync: SyncReport | None) -> str:
    """The non-zero time offsets of a triangulation report's cameras as `Cam1:+3; Cam4:-2`
    (offset +k: the camera lags k frames); empty when there are none or the report predates
    the synchronisation check (`sync` None)."""
    if sync is None:
        return ""
    return "; ".join(
        f"{name}:{entry.offset_frames:+d}"
        for name, entry in sync.cameras.items()
        if entry.offset_frames
    )


def trial_quality(
    report: TriangulationReport, marker_errors: pd.DataFrame, keys: Mapping[str, str]
) -> dict[str, object]:
    """One row of quality figures for a trial: cameras configured and used (with why any were
    dropped), cameras' time offsets, reprojection errors (from its triangulation report) and
    IK marker errors (the table of its marker-error `.sto`)."""
    rms = marker_errors.get("marker_error_RMS")
    maximum = marker_errors.get("marker_error_max")
    return {
        **keys,
        "cameras_configured": len(report.cameras_configured),
        "cameras_used": len(report.cameras_used),
        "camera_warnings": "; ".join(report.cameras_dropped.values()),
        "camera_offsets_frames": camera_offsets(report.sync),
        "video_frames": report.video_frames,
        "output_frames": report.output_frames,
        "mean_reprojection_error_px": report.mean_reprojection_error_px,
        "ik_marker_rms_m_mean": float(rms.mean()) if rms is not None else np.nan,
        "ik_marker_max_m": float(maximum.max()) if maximum is not None else np.nan,
    }


def combine_tables(tables: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate per-trial tables (same columns), sorted deterministically by their key
    columns."""
    if not tables:
        raise SummaryError("No per-trial tables to aggregate")
    combined = pd.concat(tables, ignore_index=True)
    key_columns = [c for c in (*RESULT_KEYS, "model", "coordinate", "dof") if c in combined]
    return combined.sort_values(key_columns, kind="stable").reset_index(drop=True)
