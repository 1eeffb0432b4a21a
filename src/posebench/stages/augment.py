"""Stage `augment`: a trial's triangulated markers in; the same markers followed by the
marker augmenter's (`posebench.augmenter`) out, as a TRC for the OpenSim steps, with
`augment.json`.

The participant's height comes from the dataset's metadata; where it has none, it is
estimated from the segment lengths in the session's scaling trial (`posebench.height`),
logged and recorded in the report.
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path

import numpy as np

from posebench.augmenter import MarkerAugmenter, input_markers
from posebench.height import estimate_height
from posebench.io.atomic import write_json
from posebench.io.trc import TrcData, read_trc, write_trc
from posebench.logs import TERMINAL
from posebench.markersets import MarkerSetError, get_marker_set
from posebench.opensim.setups import portable
from posebench.reports.augmentation import AugmentationReport

log = logging.getLogger(__name__)


def run(
    *,
    trc: Path,
    marker_set: str,
    augmenter_dir: Path,
    mass_kg: float,
    height_m: float | None,
    height_trc: Path | None,
    output_trc: Path,
    output_report: Path,
    threads: int = 1,
) -> AugmentationReport:
    """Augment the markers of `trc` and write `output_trc` and `output_report`."""
    markers = get_marker_set(marker_set)
    if markers.augmenter is None:
        raise MarkerSetError(
            f"Marker set {marker_set!r} has no marker augmenter; the augment stage only runs "
            "for marker sets that name one (e.g. halpe26-lstm)."
        )
    data = read_trc(trc)
    height, source, estimate = _height(height_m, height_trc, trc, data)
    augmenter = MarkerAugmenter(markers.augmenter, Path(augmenter_dir), threads=threads)
    result = augmenter.augment(
        data.marker_names, data.positions_m, height_m=height, mass_kg=mass_kg
    )
    names = data.marker_names + result.marker_names
    positions = np.concatenate([data.positions_m, result.positions_m], axis=1)
    write_trc(
        output_trc,
        names,
        data.times_s,
        positions,
        data_rate_hz=data.data_rate_hz,
        frame_numbers=data.frame_numbers,
    )
    report = AugmentationReport(
        trc=portable(trc),
        marker_set=marker_set,
        augmenter=markers.augmenter,
        augmenter_dir=portable(Path(augmenter_dir)),
        input_markers=input_markers(markers.augmenter),
        output_markers=result.marker_names,
        mass_kg=float(mass_kg),
        height_m=height,
        height_source=source,
        height_estimate=estimate,
        frames=int(len(data.times_s)),
        frames_augmented=result.frames_augmented,
        segments=result.segments,
    )
    write_json(output_report, report.to_json())
    log.info(
        "%s: %d of %d frames augmented in %d run(s); networks %.3f s (%.3f s per 1,000 frames)",
        trc,
        result.frames_augmented,
        report.frames,
        len(result.segments),
        result.seconds,
        1000 * result.seconds / max(result.frames_augmented, 1),
    )
    return report


def _height(
    height_m: float | None, height_trc: Path | None, trc: Path, trc_data: TrcData
) -> tuple[float, str, dict[str, object] | None]:
    """The height to use, its source, and the estimate's details when estimated. The
    scaling trial's markers are read unless they are the trial's own (`trc`, read as
    `trc_data`)."""
    if height_m is not None and np.isfinite(height_m):
        return float(height_m), "metadata", None
    if height_trc is None:
        raise ValueError(
            "The participant's height is unknown and no scaling-trial markers were given to "
            "estimate it from; give the height in the dataset's metadata (height_m)."
        )
    same = Path(height_trc).resolve() == Path(trc).resolve()
    data = trc_data if same else read_trc(height_trc)
    estimate = estimate_height(data.marker_names, data.positions_m, str(height_trc))
    log.warning(
        "The participant's height is not in the dataset's metadata: estimated %.3f m from "
        "%d frames of %s (%s).",
        estimate.height_m,
        estimate.frames,
        height_trc,
        estimate.method,
        extra=TERMINAL,
    )
    return float(estimate.height_m), "estimated", {**asdict(estimate), "trc": portable(height_trc)}
