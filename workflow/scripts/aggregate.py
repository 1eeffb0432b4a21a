"""Snakemake adapter: combine the per-trial tables of all trials and models."""

from pathlib import Path

from posebench.logs import log_to_file
from posebench.summary import aggregate_tables

log_to_file(snakemake.log[0])
aggregate_tables([Path(p) for p in snakemake.input.statistics], Path(snakemake.output.statistics))
aggregate_tables([Path(p) for p in snakemake.input.quality], Path(snakemake.output.quality))
