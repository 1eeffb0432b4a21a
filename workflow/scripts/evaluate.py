"""Snakemake adapter: score one trial's joint angles against its ground truth."""

from pathlib import Path

from posebench.evaluation import duration_check, evaluate_trial, write_trial_scores
from posebench.io.errors import read_json
from posebench.logs import log_to_file
from posebench.markersets import get_marker_set

log_to_file(snakemake.log[0])
settings = snakemake.params.settings
ground_truth = Path(snakemake.input.ground_truth)
scores = evaluate_trial(
    Path(snakemake.input.motion),
    ground_truth,
    prediction_aliases=get_marker_set(snakemake.params.marker_set).coordinate_aliases,
    ground_truth_aliases=snakemake.params.ground_truth_aliases,
    rate_hz=settings["rate_hz"],
    max_lag_frames=settings["max_lag_frames"],
)
durations = duration_check(
    read_json(Path(snakemake.input.triangulation), "triangulation report"),
    ground_truth,
)
write_trial_scores(
    scores, Path(snakemake.output[0]), snakemake.params.trial_keys, trial_columns=durations
)
