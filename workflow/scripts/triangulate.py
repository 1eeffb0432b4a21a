"""Snakemake adapter: triangulate one trial into a TRC file."""

from pathlib import Path

from posebench.logs import log_to_file
from posebench.reconstruction import TriangulationSettings
from posebench.stages.triangulate import run

log_to_file(snakemake.log[0])
run(
    [Path(p) for p in snakemake.input.keypoints],
    snakemake.params.cameras,
    Path(snakemake.input.calibration),
    snakemake.params.marker_set,
    output_trc=Path(snakemake.output.trc),
    output_reprojection=Path(snakemake.output.reprojection),
    output_report=Path(snakemake.output.report),
    settings=TriangulationSettings.from_config(snakemake.params.settings),
)
