"""Snakemake adapter: score one trial's joint angles against its ground truth."""

from pathlib import Path

from posebench.logs import log_to_file
from posebench.stages.evaluate import run

log_to_file(snakemake.log[0])
settings = snakemake.params.settings
run(
    motion=Path(snakemake.input.motion),
    ground_truth=Path(snakemake.input.ground_truth),
    triangulation=Path(snakemake.input.triangulation),
    output=Path(snakemake.output[0]),
    keys=snakemake.params.trial_keys,
    marker_set=snakemake.params.marker_set,
    ground_truth_aliases=snakemake.params.ground_truth_aliases,
    rate_hz=settings["rate_hz"],
    max_lag_frames=settings["max_lag_frames"],
)
