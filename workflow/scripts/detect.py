"""Snakemake adapter: person detections of one camera video with one detector."""

from pathlib import Path

from posebench.logs import log_to_file
from posebench.stages.detect import run
from posebench.weights import load_manifest

log_to_file(snakemake.log[0])
detector = snakemake.params.detector
options = detector.get("options", {})
run(
    Path(snakemake.input.video),
    load_manifest(Path(snakemake.input.weights)).path,
    Path(snakemake.output[0]),
    detector_name=snakemake.wildcards.detector,
    backend=detector.get("backend", "transformers"),
    score_threshold=detector["score_threshold"],
    batch_size=detector["batch_size"],
    device=options.get("device", "auto"),
    precision=options.get("precision", "fp32"),
    threads=snakemake.threads,
)
