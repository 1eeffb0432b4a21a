"""Stage `inverse_kinematics`: OpenSim IK of one trial on its scaled model, writing the
motion (.mot), the marker errors (.sto) and `ik.json`."""

from __future__ import annotations

import tempfile
from pathlib import Path

from posebench.io.atomic import write_json
from posebench.markersets import get_marker_set
from posebench.opensim.ik import run_inverse_kinematics
from posebench.opensim.setups import adapt_ik_setup, geometry_dir, portable
from posebench.reports.kinematics import IkReport


def inverse_kinematics_trial(
    *,
    trc: Path,
    model: Path,
    marker_set: str,
    setup_dir: Path,
    accuracy: float,
    output_motion: Path,
    output_marker_errors: Path,
    output_report: Path,
) -> IkReport:
    """IK of one trial with the marker set's IK set-up, adapted to the marker set
    (`adapt_ik_setup`); the report holds the adaptations and the marker errors."""
    markers = get_marker_set(marker_set)
    files = markers.opensim_paths(Path(setup_dir))
    with tempfile.TemporaryDirectory(prefix="posebench_setup_") as tmp:
        ik_setup = Path(tmp) / files["ik_setup"].name
        dropped = adapt_ik_setup(markers, files["ik_setup"], ik_setup)
        result = run_inverse_kinematics(
            model=model,
            ik_setup=ik_setup,
            trc=trc,
            output_motion=output_motion,
            output_marker_errors=output_marker_errors,
            accuracy=accuracy,
            geometry_dir=geometry_dir(setup_dir),
        )
    report = IkReport(
        trc=portable(trc),
        model=portable(model),
        ik_setup=portable(files["ik_setup"]),
        ik_tasks_left_out=tuple(dropped),
        ik_weights_overridden=dict(sorted(markers.ik_weights.items())),
        accuracy=accuracy,
        frames=result.n_frames,
        time_range_s=result.time_range_s,
        rms_marker_error_m=result.rms_marker_error_m,
        max_marker_error_m=result.max_marker_error_m,
    )
    write_json(output_report, report.to_json())
    return report
