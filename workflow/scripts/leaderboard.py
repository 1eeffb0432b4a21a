"""Snakemake adapter: leaderboard and breakdowns of one dataset's scores."""

from pathlib import Path

from posebench.logs import log_to_file
from posebench.stages.leaderboard import run

log_to_file(snakemake.log[0])
settings = snakemake.params.settings
run(
    [Path(p) for p in snakemake.input],
    scores=Path(snakemake.output.scores),
    csv=Path(snakemake.output.csv),
    markdown=Path(snakemake.output.markdown),
    plot=Path(snakemake.output.plot),
    breakdowns=Path(snakemake.output.breakdowns),
    metric=settings["metric"],
    n_resamples=settings["bootstrap_resamples"],
    seed=settings["seed"],
)
