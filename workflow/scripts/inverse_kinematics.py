"""Snakemake adapter: OpenSim inverse kinematics of one trial."""

from pathlib import Path

from posebench.logs import log_to_file
from posebench.opensim.logging import configure_opensim_logging
from posebench.stages.inverse_kinematics import inverse_kinematics_trial

log_to_file(snakemake.log[0])
configure_opensim_logging(None)
inverse_kinematics_trial(
    trc=Path(snakemake.input.trc),
    model=Path(snakemake.input.model),
    marker_set=snakemake.params.marker_set,
    setup_dir=Path(snakemake.params.setup_dir),
    accuracy=snakemake.params.accuracy,
    output_motion=Path(snakemake.output.motion),
    output_marker_errors=Path(snakemake.output.marker_errors),
    output_report=Path(snakemake.output.report),
)
