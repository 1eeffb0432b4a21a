"""Snakemake adapter: combine the per-trial tables of all trials and models."""

from pathlib import Path

from posebench.logs import log_to_file
from posebench.stages.aggregate import run

log_to_file(snakemake.log[0])
run(
    [Path(p) for p in snakemake.input.statistics],
    [Path(p) for p in snakemake.input.quality],
    Path(snakemake.output.statistics),
    Path(snakemake.output.quality),
)
