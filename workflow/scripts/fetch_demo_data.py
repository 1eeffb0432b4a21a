"""Snakemake adapter: fetch the Pose2Sim demo and OpenSim set-up (posebench.fetch)."""

from pathlib import Path

from posebench.fetch import fetch_pose2sim
from posebench.logs import log_to_file

log_to_file(snakemake.log[0])
manifest = Path(snakemake.output.manifest)
fetch_pose2sim(manifest.parent, cache_dir=Path(snakemake.params.cache))
