"""Stage `triangulate`: one trial's keypoint files and calibration in; its markers (TRC),
reprojection errors (CSV) and `triangulation.json` out.

The checks of the inputs are `posebench.views` and the computation is
`posebench.reconstruction`; this module reads the inputs and writes the files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from posebench.camera import load_camera_file
from posebench.io.atomic import atomic_output
from posebench.io.keypoints import load_keypoints
from posebench.io.trc import write_trc
from posebench.markersets import MarkerSet, get_marker_set
from posebench.reconstruction import Reconstruction, TriangulationSettings, reconstruct
from posebench.reports.triangulation import TriangulationReport
from posebench.views import TrialViews, check_camera_count, select_cameras, trial_views


def run(
    keypoint_files: Sequence[Path],
    camera_names: Sequence[str],
    calibration: Path,
    marker_set: str,
    *,
    output_trc: Path,
    output_reprojection: Path,
    output_report: Path,
    settings: TriangulationSettings,
) -> TriangulationReport:
    """Triangulate one trial (one keypoint file per camera of `camera_names`) and write the
    TRC, the reprojection CSV and the JSON report; return the report."""
    check_camera_count(keypoint_files, camera_names, settings.min_views)
    markers = get_marker_set(marker_set)
    trial = _read_trial(keypoint_files, camera_names, calibration, markers, settings)
    result = reconstruct(trial, markers, settings)
    _write_outputs(result, output_trc, output_reprojection, output_report)
    return result.report


def _read_trial(
    keypoint_files: Sequence[Path],
    camera_names: Sequence[str],
    calibration: Path,
    markers: MarkerSet,
    settings: TriangulationSettings,
) -> TrialViews:
    """Read the keypoint files and the cameras of the camera file `calibration`, and check
    them (`posebench.views.trial_views`)."""
    calibrated, metadata = load_camera_file(calibration)
    cameras = select_cameras(calibrated, camera_names, calibration)
    views = [load_keypoints(path) for path in keypoint_files]
    for view, path in zip(views, keypoint_files, strict=True):
        markers.check_keypoints(view.keypoint_names, f"Keypoint file {path}")
    return trial_views(
        cameras, views, keypoint_files, metadata, calibration, settings.max_frame_mismatch
    )


def _write_outputs(
    result: Reconstruction, output_trc: Path, output_reprojection: Path, output_report: Path
) -> None:
    """Write the reprojection CSV, the TRC and the report, each atomically."""
    with atomic_output(output_reprojection) as tmp:
        result.reprojection.to_csv(tmp, index=False, float_format="%.4f")
    write_trc(
        output_trc,
        result.marker_names,
        result.times_s,
        result.positions_m,
        data_rate_hz=result.data_rate_hz,
        frame_numbers=result.frame_numbers,
    )
    result.report.write(output_report)
