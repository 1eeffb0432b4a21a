"""Snakemake adapter: fetch and verify the weights of one model or detector."""

from pathlib import Path

from posebench.logs import log_to_file
from posebench.weights import fetch_weights
from posebench.weights.spec import WeightsSpec

log_to_file(snakemake.log[0])
entry = snakemake.params.entry
output = Path(snakemake.output[0])
fetch_weights(
    WeightsSpec.from_config(
        snakemake.wildcards.weights,
        entry["kind"],
        entry["section"],
        entry.get("format", "transformers"),
    ),
    output.parent,
    marker_set=snakemake.params.marker_set,
)
