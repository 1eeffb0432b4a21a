"""Snakemake adapter: generate a synthetic subject in OpenCap's LabValidation layout."""

from pathlib import Path

from posebench.datasets.synthetic import generate_dataset
from posebench.logs import log_to_file
from posebench.opensim.logging import configure_opensim_logging

log_to_file(snakemake.log[0])
configure_opensim_logging(None)
generate_dataset(
    Path(snakemake.output[0]),
    setup_dir=Path(snakemake.params.setup_dir),
    settings=snakemake.params.settings,
)
