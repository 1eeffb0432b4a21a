import os
import sys
from pathlib import Path

import pandas as pd
from snakemake.utils import validate

from posebench.cleanup import Unfinished, cancel_scheduler_timers, discard_outdated
from posebench.datasets.sheet import SHEET_FORMAT
from posebench.keys import FRAME_ROWS

from posebench.paths import (
    AUGMENTER_DIR,
    CAMERA_KEY,
    DETECTION_KEY,
    FETCH_OUTPUTS,
    PATHS,
    SESSION_KEY,
    SETUP_KEY,
    benchmark_path,
    log_path,
)
from posebench.planning import (
    Plan,
    check_config,
    fetch_forced,
    name_pattern,
    select_models,
)

validate(config, schema="../schemas/config.schema.yaml")
check_config(config)

# run.models may name a model by an alias (`models: <name>: aliases:`, e.g. a Hugging Face
# repo id); from here on everything (the plan, the report) sees the registry names.
MODEL_SELECTION = select_models(config)
for note in MODEL_SELECTION.notes():
    print(f"posebench: {note}", file=sys.stderr)
config["run"]["models"] = list(MODEL_SELECTION.names)

# Absolute, because the sheet is validated after parsing, when relative paths no longer
# resolve against this file.
SAMPLES_SCHEMA = str(
    Path(workflow.basedir) / "workflow" / "schemas" / "samples.schema.yaml"
)


def refetching(fetch):
    """Whether this run re-runs the fetch rule of `fetch` anyway (--forcerun, -F, -f).

    Asked while the DAG is built, when the run's settings are known (None while parsing).
    """
    settings = workflow.dag_settings
    return settings is not None and fetch_forced(
        fetch,
        settings.forcerun,
        settings.targets if settings.forcetargets else (),
        settings.forceall,
    )


# What runs is decided in posebench.planning; each sample sheet is read and validated once.
# Fetched folders are checked against their manifests when first needed (check_fetched).
PLAN = Plan(
    config,
    sample_sheet=lambda dataset: checkpoints.describe_dataset.get(
        dataset=dataset
    ).output.samples,
    validate=lambda rows: validate(pd.DataFrame(rows), schema=SAMPLES_SCHEMA),
    refetching=refetching,
)

# Jobs in their own software environment (--sdm conda) import posebench from src/.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(Path(workflow.basedir) / "src"), os.environ.get("PYTHONPATH")) if p
)


envvars:
    "PYTHONPATH",


wildcard_constraints:
    dataset="[^/]+",
    subject="[^/]+",
    session="[^/]+",
    trial="[^/]+",
    camera="[^/]+",
    setup="[^/]+",
    model=name_pattern(config["models"]),
    detector=name_pattern(config["detectors"]),
    weights=name_pattern(PLAN.weights_names()),


def get_final_output(wildcards):
    return PLAN.final_output()


def get_dataset(wildcards):
    return config["datasets"][wildcards.dataset]


def get_describe_inputs(wildcards):
    return PLAN.describe_inputs(wildcards.dataset)


def get_generator_inputs(wildcards):
    return PLAN.opensim_inputs("pose2sim")


def get_generator_setup_dir(wildcards):
    return PLAN.opensim_setup("pose2sim")["path"]


def get_model(wildcards):
    return PLAN.model(wildcards.model)


def get_detector(wildcards):
    return PLAN.detector(wildcards.detector)


def get_weights_entry(wildcards):
    return PLAN.weights_entry(wildcards.weights)


def get_weights_marker_set(wildcards):
    return config["models"].get(wildcards.weights, {}).get("marker_set")


def get_video(wildcards):
    return PLAN.video(wildcards)


def get_pose2d_inputs(wildcards):
    return PLAN.pose2d_inputs(wildcards)


def get_marker_set(wildcards):
    return PLAN.marker_set(wildcards.model)


def get_cameras(wildcards):
    return PLAN.cameras(wildcards)


def get_keypoint_files(wildcards):
    return PLAN.keypoint_files(wildcards)


def get_calibration(wildcards):
    return PLAN.calibration(wildcards)


def get_scaling_inputs(wildcards):
    return PLAN.scaling_inputs(wildcards)


def get_augment_inputs(wildcards):
    return PLAN.augment_inputs(wildcards)


def get_markers_trc(wildcards):
    return PLAN.markers_trc(wildcards)


def get_scaling_mode(wildcards):
    return PLAN.scaling_mode(wildcards)


def get_scaled_model(wildcards):
    return PLAN.scaled_model(wildcards)


def get_participant(wildcards):
    return PLAN.participant(wildcards)


def get_setup_dir(wildcards):
    return PLAN.setup_dir(wildcards.model)


def get_opensim_inputs(wildcards):
    return PLAN.opensim_inputs(PLAN.setup_source(wildcards.model))


def get_ground_truth(wildcards):
    return PLAN.ground_truth(wildcards)


def get_ground_truth_aliases(wildcards):
    return config["datasets"][wildcards.dataset].get("ground_truth_aliases", {})


def get_evaluation_keys(wildcards):
    return PLAN.evaluation_keys(wildcards)


def get_all_statistics(wildcards):
    return PLAN.expand(PATHS.statistics)


def get_all_quality(wildcards):
    return PLAN.expand(PATHS.quality)


def get_scores(wildcards):
    return PLAN.scores(wildcards.dataset)


def unfinished_jobs():
    """Jobs this run had to run and did not finish (for the onerror hook)."""
    dag = getattr(workflow, "dag", None)
    if dag is None:
        return []
    return [
        Unfinished(
            job.rule.name, dict(job.wildcards_dict), [str(f) for f in job.output]
        )
        for job in dag.needrun_jobs()
    ]


def settle_incomplete_markers():
    """After a successful run, clear Snakemake's incomplete-job markers of outputs that
    exist: every output is written atomically (posebench.io.atomic), so an existing one
    is complete, but Snakemake 9 does not consult the markers of jobs added after a
    checkpoint, so the marker of a job killed after its last rename would stay forever.
    """
    persistence, dag = workflow.persistence, getattr(workflow, "dag", None)
    unmark = getattr(persistence, "_unmark_incomplete", None)
    marked = getattr(persistence, "_filter_incomplete_keys", None)
    if dag is None or unmark is None or marked is None:
        print(
            "posebench: cannot clear stale incomplete-job markers with this Snakemake"
        )
        return
    for key in marked(str(f) for job in dag.jobs for f in job.output):
        if os.path.exists(key):
            unmark(key)
