"""Snakemake adapter: leaderboard and breakdowns of one dataset's scores."""

from pathlib import Path

from posebench.leaderboard import write_breakdowns, write_leaderboard
from posebench.logs import log_to_file
from posebench.summary import aggregate_tables

log_to_file(snakemake.log[0])
settings = snakemake.params.settings
scores = aggregate_tables([Path(p) for p in snakemake.input], Path(snakemake.output.scores))
write_leaderboard(
    scores,
    Path(snakemake.output.csv),
    Path(snakemake.output.markdown),
    Path(snakemake.output.plot),
    metric=settings["metric"],
    n_resamples=settings["bootstrap_resamples"],
    seed=settings["seed"],
)
write_breakdowns(
    scores,
    Path(snakemake.output.breakdowns),
    metric=settings["metric"],
    n_resamples=settings["bootstrap_resamples"],
    seed=settings["seed"],
)
