"""Snakemake adapter: scale the OpenSim model of one subject, session and model, or
(`scaling: mocap`) place the marker set on the dataset's scaled model."""

from pathlib import Path

from posebench.logs import log_to_file
from posebench.opensim.logging import configure_opensim_logging
from posebench.stages.scale import adopt_scaled_model, scale_session

log_to_file(snakemake.log[0])
configure_opensim_logging(None)
participant = snakemake.params.participant
common = {
    "marker_set": snakemake.params.marker_set,
    "setup_dir": Path(snakemake.params.setup_dir),
    "mass_kg": participant["mass_kg"],
    "height_m": participant["height_m"],
    "output_model": Path(snakemake.output.model),
    "output_report": Path(snakemake.output.report),
}
if snakemake.params.scaling == "mocap":
    adopt_scaled_model(scaled_model=Path(snakemake.input.mocap_model), **common)
else:
    scale_session(trc=Path(snakemake.input.trc), window_s=snakemake.params.window_s, **common)
