"""Snakemake adapter: run the marker augmenter on one trial's triangulated markers."""

from pathlib import Path

from posebench.logs import log_to_file
from posebench.stages.augment import run

log_to_file(snakemake.log[0])
participant = snakemake.params.participant
height_trc = snakemake.input.get("height_trc")
run(
    trc=Path(snakemake.input.trc),
    marker_set=snakemake.params.marker_set,
    augmenter_dir=Path(snakemake.params.augmenter_dir),
    mass_kg=participant["mass_kg"],
    height_m=participant["height_m"],
    height_trc=Path(height_trc) if height_trc else None,
    output_trc=Path(snakemake.output.trc),
    output_report=Path(snakemake.output.report),
    threads=snakemake.threads,
)
