"""Stage `scale`: the model IK tracks, scaled on the video's static window
(`scale_session`) or, with `scaling: mocap`, the dataset's scaled model with the marker set
placed on it (`adopt_scaled_model`); either writes the model and `scaling.json`."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from posebench.io.atomic import write_json
from posebench.io.trc import read_trc
from posebench.logs import TERMINAL
from posebench.markersets import get_marker_set
from posebench.opensim.markers import scaling_window
from posebench.opensim.scaling import (
    model_mass_warning,
    place_markers_on_scaled_model,
    scale_model,
    scaling_setup_markers,
)
from posebench.opensim.setups import adapt_scaling_setup, geometry_dir, portable
from posebench.reports.kinematics import MocapScalingReport, VideoScalingReport

log = logging.getLogger(__name__)


def scale_session(
    *,
    trc: Path,
    marker_set: str,
    setup_dir: Path,
    mass_kg: float,
    height_m: float | None,
    window_s: float,
    output_model: Path,
    output_report: Path,
) -> VideoScalingReport:
    """Scale the marker set's OpenSim model on the stillest window of `trc`.

    The scaling set-up is first adapted to the marker set (`adapt_scaling_setup`). The
    window is the stillest `window_s` in which every marker of the scaling measurements is
    present; it, the adaptations, the participant and the scale factors go to
    `output_report` (JSON).
    """
    markers = get_marker_set(marker_set)
    files = markers.opensim_paths(Path(setup_dir))
    with tempfile.TemporaryDirectory(prefix="posebench_setup_") as tmp:
        scaling_setup = Path(tmp) / files["scaling_setup"].name
        changes = adapt_scaling_setup(markers, files["scaling_setup"], scaling_setup)
        names = scaling_setup_markers(scaling_setup)
        trc_data = read_trc(trc)
        window = scaling_window(
            trc_data,
            names,
            window_s,
            trc=trc,
            setup=files["scaling_setup"],
            marker_set=marker_set,
        )
        result = scale_model(
            generic_model=files["model"],
            marker_set=files["markers"],
            scaling_setup=scaling_setup,
            trc=trc,
            mass_kg=mass_kg,
            height_m=height_m,
            time_range_s=window,
            output_model=output_model,
            geometry_dir=geometry_dir(setup_dir),
            trc_data=trc_data,
        )
    report = VideoScalingReport(
        trc=portable(trc),
        marker_set=marker_set,
        opensim_files={role: portable(path) for role, path in files.items()},
        scaling_setup_changes={change: tuple(items) for change, items in changes.items()},
        mass_kg=mass_kg,
        height_m=height_m,
        scaling_markers=tuple(names),
        static_window_s=result.time_range_s,
        model_mass_kg=result.total_mass_kg,
        scale_factors=dict(sorted(result.scale_factors.items())),
    )
    write_json(output_report, report.to_json())
    return report


def adopt_scaled_model(
    *,
    scaled_model: Path,
    marker_set: str,
    setup_dir: Path,
    mass_kg: float,
    height_m: float | None,
    output_model: Path,
    output_report: Path,
) -> MocapScalingReport:
    """`scaling: mocap`: the dataset's scaled model (OpenCapBench's default, the subject's
    model scaled on motion capture) with the marker set's markers placed on it
    (`place_markers_on_scaled_model`); the report says so, and warns when the model's mass
    is not the participant's."""
    markers = get_marker_set(marker_set)
    files = markers.opensim_paths(Path(setup_dir))
    factors, total_mass_kg = place_markers_on_scaled_model(
        scaled_model=scaled_model,
        generic_model=files["model"],
        marker_set=files["markers"],
        output_model=output_model,
        geometry_dir=geometry_dir(setup_dir),
    )
    warning = model_mass_warning(total_mass_kg, mass_kg)
    if warning is not None:
        log.warning("%s: %s", scaled_model, warning, extra=TERMINAL)
    report = MocapScalingReport(
        scaled_model_source=portable(scaled_model),
        marker_set=marker_set,
        opensim_files={role: portable(path) for role, path in files.items()},
        mass_kg=mass_kg,
        height_m=height_m,
        model_mass_kg=total_mass_kg,
        marker_scale_factors=factors,
        warning=warning,
    )
    write_json(output_report, report.to_json())
    return report
