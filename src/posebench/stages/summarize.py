"""Stage `summarize`: one trial's IK result, IK marker errors and triangulation report in; its
joint-angle statistics (CSV), quality row (CSV) and joint-angle plot (PNG) out.

The figures are computed by `posebench.summary`; this module reads the inputs and writes the
files. The rule `aggregate` combines the per-trial CSVs (`posebench.stages.aggregate`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from posebench.io.atomic import atomic_output, write_bytes
from posebench.io.mot import read_mot
from posebench.reports.triangulation import TriangulationReport
from posebench.summary import (
    DEFAULT_PLOT_COORDINATES,
    joint_angle_png,
    joint_angle_statistics,
    plot_title,
    trial_quality,
)


def run(
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
    """Write a trial's statistics CSV, one-row quality CSV and joint-angle plot."""
    angles = read_mot(motion)
    statistics = joint_angle_statistics(angles, keys, motion)
    with atomic_output(output_statistics) as tmp:
        statistics.to_csv(tmp, index=False, float_format="%.4f")
    report = TriangulationReport.read(triangulation_report)
    quality = trial_quality(report, read_mot(marker_errors).table, keys)
    with atomic_output(output_quality) as tmp:
        pd.DataFrame([quality]).to_csv(tmp, index=False, float_format="%.6f")
    coordinates = plot_coordinates or DEFAULT_PLOT_COORDINATES
    write_bytes(output_plot, joint_angle_png(angles.table, plot_title(keys), coordinates, motion))
