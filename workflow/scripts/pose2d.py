"""Snakemake adapter: 2D keypoints of one camera video with one model."""

from pathlib import Path

from posebench.logs import log_to_file
from posebench.stages.pose2d import run
from posebench.weights import load_manifest

log_to_file(snakemake.log[0])
model = snakemake.params.model
weights = snakemake.input.get("weights")
detections = snakemake.input.get("detections")
run(
    Path(snakemake.input.video),
    Path(snakemake.output[0]),
    model_name=snakemake.wildcards.model,
    backend=model["backend"],
    marker_set=model["marker_set"],
    options=model.get("options", {}),
    batch_size=model.get("batch_size", 16),
    weights_dir=load_manifest(Path(weights)).path if weights else None,
    detections=Path(detections) if detections else None,
    threads=snakemake.threads,
)
