"""Snakemake adapter: score one trial's joint angles against its ground truth."""

from pathlib import Path

from posebench.evaluation import evaluate_trial, write_trial_scores
from posebench.logs import log_to_file
from posebench.markersets import get_marker_set

log_to_file(snakemake.log[0])
settings = snakemake.params.settings
scores = evaluate_trial(
    Path(snakemake.input.motion),
    Path(snakemake.input.ground_truth),
    prediction_aliases=get_marker_set(snakemake.params.marker_set).coordinate_aliases,
    ground_truth_aliases=snakemake.params.ground_truth_aliases,
    rate_hz=settings["rate_hz"],
    max_lag_frames=settings["max_lag_frames"],
)
write_trial_scores(scores, Path(snakemake.output[0]), snakemake.params.trial_keys)
