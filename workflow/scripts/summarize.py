"""Snakemake adapter: joint-angle statistics, quality row and plot of one trial."""

from pathlib import Path

from posebench.logs import log_to_file
from posebench.stages.summarize import run

log_to_file(snakemake.log[0])
run(
    motion=Path(snakemake.input.motion),
    marker_errors=Path(snakemake.input.marker_errors),
    triangulation_report=Path(snakemake.input.triangulation),
    keys=dict(snakemake.wildcards.items()),
    plot_coordinates=snakemake.params.plot_coordinates,
    output_statistics=Path(snakemake.output.statistics),
    output_quality=Path(snakemake.output.quality),
    output_plot=Path(snakemake.output.plot),
)
