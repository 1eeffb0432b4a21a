"""Stages `summarize` and `aggregate`: joint-angle statistics, plots and combined tables."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from posebench.io.atomic import atomic_output
from posebench.io.errors import read_csv, read_json
from posebench.io.mot import read_mot

TRANSLATION = re.compile(r"_t[xyz]$")
DEFAULT_PLOT_COORDINATES = (
    "hip_flexion",
    "hip_adduction",
    "hip_rotation",
    "knee_angle",
    "ankle_angle",
    "subtalar_angle",
)


class SummaryError(ValueError):
    """A summary input is missing or inconsistent."""


def joint_angle_statistics(mot: Path, keys: Mapping[str, str]) -> pd.DataFrame:
    """One row per coordinate of an IK `.mot`: unit, frames, mean, std, min, max, range."""
    motion = read_mot(mot)
    if motion.header.get("inDegrees", "yes").lower() != "yes":
        raise SummaryError(f"{mot}: expected inDegrees=yes, found {motion.header.get('inDegrees')}")
    values = motion.table.drop(columns="time")
    if values.empty:
        raise SummaryError(f"{mot}: no coordinates")
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


def plot_joint_angles(
    mot: Path, output: Path, title: str, coordinates: Sequence[str] = DEFAULT_PLOT_COORDINATES
) -> None:
    """Plot right/left pairs of `coordinates` (base names without _r/_l) over time."""
    # matplotlib is imported here, not at module level: the `aggregate` stage never plots.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = read_mot(mot).table
    present = [c for c in coordinates if f"{c}_r" in table or f"{c}_l" in table or c in table]
    if not present:
        raise SummaryError(
            f"{mot} has none of the coordinates to plot {list(coordinates)}; "
            "check summary.plot_coordinates in config/config.yaml"
        )
    columns = 3 if len(present) > 2 else len(present)
    rows = int(np.ceil(len(present) / columns))
    figure, axes = plt.subplots(
        rows, columns, figsize=(4.2 * columns, 3.0 * rows), squeeze=False, sharex=True
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
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(output) as tmp:
        figure.savefig(tmp, dpi=110)
    plt.close(figure)


def camera_offsets(report: Mapping[str, object]) -> str:
    """The non-zero time offsets of a triangulation report's cameras as `Cam1:+3; Cam4:-2`
    (offset +k: the camera lags k frames); empty when there are none or the report predates
    the synchronisation check."""
    sync = report.get("sync")
    cameras = sync.get("cameras", {}) if isinstance(sync, Mapping) else {}
    return "; ".join(
        f"{name}:{entry['offset_frames']:+d}"
        for name, entry in cameras.items()
        if entry.get("offset_frames")
    )


def trial_quality(
    triangulation_report: Path, marker_errors: Path, keys: Mapping[str, str]
) -> dict[str, object]:
    """One row of quality figures for a trial: cameras configured and used (with why any were
    dropped), cameras' time offsets, reprojection and IK marker errors."""
    report = read_json(triangulation_report, "triangulation report")
    errors = read_mot(marker_errors).table
    rms = errors.get("marker_error_RMS")
    maximum = errors.get("marker_error_max")
    used = report.get("cameras_used", report["cameras"])  # reports before camera checks
    return {
        **keys,
        "cameras_configured": len(report.get("cameras_configured", used)),
        "cameras_used": len(used),
        "camera_warnings": "; ".join(report.get("cameras_dropped", {}).values()),
        "camera_offsets_frames": camera_offsets(report),
        "video_frames": report["video_frames"],
        "output_frames": report["output_frames"],
        "mean_reprojection_error_px": report["mean_reprojection_error_px"],
        "ik_marker_rms_m_mean": float(rms.mean()) if rms is not None else np.nan,
        "ik_marker_max_m": float(maximum.max()) if maximum is not None else np.nan,
    }


def aggregate_tables(inputs: Sequence[Path], output: Path) -> pd.DataFrame:
    """Concatenate per-trial CSVs (same columns) into one CSV, sorted deterministically."""
    if not inputs:
        raise SummaryError("No per-trial tables to aggregate")
    tables = [read_csv(path, "per-trial table") for path in inputs]
    combined = pd.concat(tables, ignore_index=True)
    key_columns = [
        c
        for c in ("dataset", "setup", "subject", "session", "trial", "model", "coordinate", "dof")
        if c in combined
    ]
    combined = combined.sort_values(key_columns, kind="stable").reset_index(drop=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(output) as tmp:
        combined.to_csv(tmp, index=False, float_format="%.4f")
    return combined


def summarize_trial(
    *,
    motion: Path,
    marker_errors: Path,
    triangulation_report: Path,
    keys: Mapping[str, str],
    plot_coordinates: Sequence[str] | None,
    output_statistics: Path,
    output_quality: Path,
    output_plot: Path,
) -> None:
    """Stage `summarize`: statistics CSV, one-row quality CSV and joint-angle plot."""
    statistics = joint_angle_statistics(motion, keys)
    output_statistics.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(output_statistics) as tmp:
        statistics.to_csv(tmp, index=False, float_format="%.4f")
    quality = trial_quality(triangulation_report, marker_errors, keys)
    with atomic_output(output_quality) as tmp:
        pd.DataFrame([quality]).to_csv(tmp, index=False, float_format="%.6f")
    title = " / ".join(keys[k] for k in ("subject", "session", "trial", "model") if k in keys)
    plot_joint_angles(motion, output_plot, title, plot_coordinates or DEFAULT_PLOT_COORDINATES)
