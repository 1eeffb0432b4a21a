"""Snakemake adapter: fetch OpenCap's LaiUhlrich2022 model and set-ups (pinned, verified)."""

from pathlib import Path

from posebench.fetch import fetch_opencap_core
from posebench.logs import log_to_file

log_to_file(snakemake.log[0])
local_copy = snakemake.params.local_copy
fetch_opencap_core(
    Path(snakemake.output.manifest).parent,
    local_copy=Path(local_copy) if local_copy else None,
)
