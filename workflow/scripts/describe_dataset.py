"""Snakemake adapter: run the dataset's adapter and write its sample sheet."""

from pathlib import Path

from posebench.datasets import describe_dataset
from posebench.logs import log_to_file

log_to_file(snakemake.log[0])
dataset = snakemake.params.dataset
describe_dataset(
    adapter=dataset["adapter"],
    root=Path(dataset["path"]),
    dataset=snakemake.wildcards.dataset,
    samples_path=Path(snakemake.output.samples),
    calibration_dir=Path(snakemake.output.calibration),
    skipped_path=Path(snakemake.output.skipped),
    options=dataset,
)
