import os
import re
from pathlib import Path

import pandas as pd
from snakemake.utils import validate

validate(config, schema="../schemas/config.schema.yaml")

# Absolute, because input functions run after parsing, when relative paths no longer
# resolve against this file.
SAMPLES_SCHEMA = str(
    Path(workflow.basedir) / "workflow" / "schemas" / "samples.schema.yaml"
)

# Jobs import the posebench package from this repository's src/, whichever software
# environment (virtualenv, --sdm conda) runs them.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(Path(workflow.basedir) / "src"), os.environ.get("PYTHONPATH")) if p
)


envvars:
    "PYTHONPATH",


def _check_names(kind, selected, defined):
    unknown = [name for name in selected if name not in defined]
    if unknown:
        raise ValueError(
            f"config/config.yaml: run.{kind} names {unknown}, which are not defined under "
            f"`{kind}:`. Valid names: {sorted(defined)}."
        )


_check_names("datasets", config["run"]["datasets"], config["datasets"])
_check_names("models", config["run"]["models"], config["models"])


wildcard_constraints:
    dataset="[^/]+",
    subject="[^/]+",
    session="[^/]+",
    trial="[^/]+",
    camera="[^/]+",
    model="|".join(re.escape(name) for name in config["models"]),


FETCH_OUTPUTS = {"pose2sim": "resources/pose2sim/MANIFEST.json"}


def get_fetch_output(name):
    """The file a fetch rule produces, or nothing when the data is placed by hand."""
    return [FETCH_OUTPUTS[name]] if name else []


def get_dataset_fetch(wildcards):
    return get_fetch_output(config["datasets"][wildcards.dataset].get("fetch"))


def get_opensim_fetch(wildcards):
    return get_fetch_output(config["opensim"].get("fetch"))


def get_model(wildcards):
    return config["models"][wildcards.model]


def get_samples(dataset):
    """The validated sample sheet of `dataset` (after its checkpoint has run)."""
    path = checkpoints.describe_dataset.get(dataset=dataset).output.samples
    samples = pd.read_csv(
        path,
        sep="\t",
        dtype={c: str for c in ["subject", "session", "trial", "camera"]},
    )
    validate(samples, schema=SAMPLES_SCHEMA)
    return samples


def _rows(wildcards, trial=None):
    samples = get_samples(wildcards.dataset)
    rows = samples[
        (samples["subject"] == wildcards.subject)
        & (samples["session"] == wildcards.session)
        & (samples["trial"] == (trial or wildcards.trial))
    ]
    if rows.empty:
        raise ValueError(
            f"No samples for {wildcards.dataset}/{wildcards.subject}/{wildcards.session}/"
            f"{trial or wildcards.trial} in the sample sheet"
        )
    return rows.sort_values("camera")


def get_video(wildcards):
    rows = _rows(wildcards)
    return rows.loc[rows["camera"] == wildcards.camera, "video"].item()


def get_cameras(wildcards):
    return list(_rows(wildcards)["camera"])


def get_keypoint_files(wildcards):
    return expand(
        "results/pose2d/{dataset}/{subject}/{session}/{trial}/{model}/{camera}.npz",
        camera=get_cameras(wildcards),
        **wildcards,
    )


def get_calibration(wildcards):
    return _rows(wildcards)["calibration"].iloc[0]


def get_session_row(wildcards):
    samples = get_samples(wildcards.dataset)
    rows = samples[
        (samples["subject"] == wildcards.subject)
        & (samples["session"] == wildcards.session)
    ]
    return rows.iloc[0]


def get_scaling_trc(wildcards):
    trial = get_session_row(wildcards)["scaling_trial"]
    return (
        f"results/triangulate/{wildcards.dataset}/{wildcards.subject}/{wildcards.session}/"
        f"{trial}/{wildcards.model}/markers.trc"
    )


def get_participant(wildcards):
    row = get_session_row(wildcards)
    height = row["height_m"]
    return {
        "mass_kg": float(row["mass_kg"]),
        "height_m": None if pd.isna(height) else float(height),
    }


def get_units():
    """Every (dataset, subject, session, trial, camera, model) to run, as dicts."""
    for dataset in config["run"]["datasets"]:
        keys = get_samples(dataset)[
            ["dataset", "subject", "session", "trial", "camera"]
        ]
        for row in keys.itertuples(index=False):
            for model in config["run"]["models"]:
                yield {**row._asdict(), "model": model}


def expand_units(pattern):
    """`pattern` filled for every unit; patterns without {camera} give one path per trial."""
    return sorted({pattern.format(**unit) for unit in get_units()})


def get_final_output(wildcards):
    """Every stage's deliverables, so that deleting any of them re-creates it and what
    depends on it."""
    return [
        *expand_units(
            "results/pose2d/{dataset}/{subject}/{session}/{trial}/{model}/{camera}.npz"
        ),
        *expand_units(
            "results/triangulate/{dataset}/{subject}/{session}/{trial}/{model}/markers.trc"
        ),
        *expand_units(
            "results/scale/{dataset}/{subject}/{session}/{model}/scaled.osim"
        ),
        *expand_units(
            "results/ik/{dataset}/{subject}/{session}/{trial}/{model}/joint_angles.mot"
        ),
        *expand_units(
            "results/summary/{dataset}/{subject}/{session}/{trial}/{model}/joint_angles.png"
        ),
        "results/summary/joint_angles.csv",
        "results/summary/trials.csv",
    ]
