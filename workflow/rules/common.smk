import os
import re
import sys
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


sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from posebench.markersets import MARKER_SETS


def _check_names(kind, selected, defined):
    unknown = [name for name in selected if name not in defined]
    if unknown:
        raise ValueError(
            f"config: run.{kind} names {unknown}, which are not defined under "
            f"`{kind}:`. Valid names: {sorted(defined)}."
        )


_check_names("datasets", config["run"]["datasets"], config["datasets"])
_check_names("models", config["run"]["models"], config["models"])


def _check_generated_paths():
    for name, dataset in config["datasets"].items():
        expected = f"resources/synthetic/{name}"
        if "generate" in dataset and dataset["path"] != expected:
            raise ValueError(
                f"config: dataset {name!r} is generated, so its path must be {expected!r} "
                f"(found {dataset['path']!r})."
            )


_check_generated_paths()


def _check_model_registry():
    overlap = sorted(set(config["models"]) & set(config["detectors"]))
    if overlap:
        raise ValueError(
            f"config: {overlap} are both models and detectors; names must be unique "
            "(weights land in resources/models/<name>/)."
        )
    for name, model in config["models"].items():
        detector = model.get("detector")
        if detector is not None and detector not in config["detectors"]:
            raise ValueError(
                f"config: model {name!r} uses detector {detector!r}, which is not defined "
                f"under `detectors:` (defined: {sorted(config['detectors'])})."
            )
        if model["backend"] == "vitpose" and (
            detector is None or "weights" not in model
        ):
            raise ValueError(
                f"config: model {name!r} (backend vitpose) needs `weights:` and `detector:`."
            )


_check_model_registry()


wildcard_constraints:
    dataset="[^/]+",
    subject="[^/]+",
    session="[^/]+",
    trial="[^/]+",
    camera="[^/]+",
    setup="[^/]+",
    model="|".join(re.escape(name) for name in config["models"]),
    detector="|".join(re.escape(name) for name in config["detectors"]) or "(?!)",
    weights="|".join(
        re.escape(name)
        for name, entry in {**config["models"], **config["detectors"]}.items()
        if "weights" in entry
    )
    or "(?!)",


FETCH_OUTPUTS = {
    "pose2sim": "resources/pose2sim/MANIFEST.json",
    "opencap-core": "resources/opencap-core/MANIFEST.json",
}


def _check_fetched_setups():
    for name, setup in config["opensim"]["setups"].items():
        fetch = setup.get("fetch")
        if fetch and not setup["path"].startswith(
            str(Path(FETCH_OUTPUTS[fetch]).parent)
        ):
            raise ValueError(
                f"config: opensim.setups.{name} is fetched by {fetch!r}, so its path must lie "
                f"in {Path(FETCH_OUTPUTS[fetch]).parent}/ (found {setup['path']!r})."
            )


_check_fetched_setups()


def get_fetch_output(name):
    """The file a fetch rule produces, or nothing when the data is placed by hand."""
    return [FETCH_OUTPUTS[name]] if name else []


def get_dataset_inputs(wildcards):
    """What must exist before a dataset can be described: fetched or generated files."""
    dataset = config["datasets"][wildcards.dataset]
    if "generate" in dataset:
        return [f"resources/synthetic/{wildcards.dataset}/generated.json"]
    return get_fetch_output(dataset.get("fetch"))


def get_opensim_setup(source):
    """The `opensim.setups` entry of a marker set's source, with a clear error if absent."""
    setups = config["opensim"]["setups"]
    if source not in setups:
        raise ValueError(
            f"config: a marker set needs OpenSim files from {source!r}, which is not under "
            f"opensim.setups (defined: {sorted(setups)})."
        )
    return setups[source]


def get_setup_source(wildcards):
    return MARKER_SETS[get_marker_set(wildcards)].setup_source


def get_setup_dir(wildcards):
    return get_opensim_setup(get_setup_source(wildcards))["path"]


def get_opensim_fetch(wildcards):
    return get_fetch_output(get_opensim_setup(get_setup_source(wildcards)).get("fetch"))


def get_model(wildcards):
    return config["models"][wildcards.model]


def get_weights_entry(wildcards):
    """(kind, config section) of the model or detector whose weights are fetched."""
    if wildcards.weights in config["models"]:
        return {
            "kind": "pose",
            "section": config["models"][wildcards.weights]["weights"],
        }
    return {
        "kind": "detector",
        "section": config["detectors"][wildcards.weights]["weights"],
    }


def get_detector(wildcards):
    return config["detectors"][wildcards.detector]


def get_pose2d_inputs(wildcards):
    """The video, and for models that need them the weights manifest and detections."""
    model = get_model(wildcards)
    inputs = {"video": get_video(wildcards)}
    if "weights" in model:
        inputs["weights"] = f"resources/models/{wildcards.model}/weights.json"
    if model.get("detector"):
        inputs["detections"] = (
            f"results/detections/{model['detector']}/{wildcards.dataset}/{wildcards.subject}/"
            f"{wildcards.session}/{wildcards.trial}/{wildcards.camera}.npz"
        )
    return inputs


def get_marker_set(wildcards):
    return get_model(wildcards)["marker_set"]


def get_samples(dataset):
    """The validated sample sheet of `dataset` (after its checkpoint has run)."""
    path = checkpoints.describe_dataset.get(dataset=dataset).output.samples
    samples = pd.read_csv(
        path,
        sep="\t",
        dtype={
            c: str
            for c in [
                "subject",
                "session",
                "trial",
                "camera",
                "scaling_session",
                "scaling_trial",
            ]
        },
        keep_default_na=False,
        na_values={"height_m": [""]},
    )
    validate(samples, schema=SAMPLES_SCHEMA)
    return samples


def get_setups(dataset):
    """{setup name: cameras or None (all)} of a dataset."""
    return config["datasets"][dataset].get("camera_setups") or {"all": None}


def _setup_rows(rows, dataset, setup):
    cameras = get_setups(dataset)[setup]
    if cameras is None:
        return rows
    absent = sorted(set(cameras) - set(rows["camera"]))
    if absent:
        raise ValueError(
            f"config: camera setup {setup!r} of dataset {dataset!r} names cameras {absent}, "
            f"which trial {rows['trial'].iloc[0]} does not have (it has "
            f"{sorted(set(rows['camera']))})."
        )
    return rows[rows["camera"].isin(cameras)]


def _trial_rows(wildcards, session=None, trial=None):
    samples = get_samples(wildcards.dataset)
    session = session or wildcards.session
    trial = trial or wildcards.trial
    rows = samples[
        (samples["subject"] == wildcards.subject)
        & (samples["session"] == session)
        & (samples["trial"] == trial)
    ]
    if rows.empty:
        raise ValueError(
            f"No samples for {wildcards.dataset}/{wildcards.subject}/{session}/{trial}"
        )
    return rows.sort_values("camera")


def get_video(wildcards):
    rows = _trial_rows(wildcards)
    return rows.loc[rows["camera"] == wildcards.camera, "video"].item()


def get_cameras(wildcards):
    """Cameras of the trial in the wildcards' camera setup."""
    rows = _setup_rows(_trial_rows(wildcards), wildcards.dataset, wildcards.setup)
    return list(rows["camera"])


def get_keypoint_files(wildcards):
    return [
        f"results/pose2d/{wildcards.dataset}/{wildcards.subject}/{wildcards.session}/"
        f"{wildcards.trial}/{wildcards.model}/{camera}.npz"
        for camera in get_cameras(wildcards)
    ]


def get_calibration(wildcards):
    return _trial_rows(wildcards)["calibration"].iloc[0]


def get_session_row(wildcards):
    samples = get_samples(wildcards.dataset)
    rows = samples[
        (samples["subject"] == wildcards.subject)
        & (samples["session"] == wildcards.session)
    ]
    return rows.iloc[0]


def get_scaling_trc(wildcards):
    row = get_session_row(wildcards)
    return (
        f"results/triangulate/{wildcards.dataset}/{wildcards.subject}/"
        f"{row['scaling_session']}/{row['scaling_trial']}/{wildcards.model}/"
        f"{wildcards.setup}/markers.trc"
    )


def get_participant(wildcards):
    row = get_session_row(wildcards)
    height = row["height_m"]
    return {
        "mass_kg": float(row["mass_kg"]),
        "height_m": None if pd.isna(height) else float(height),
    }


def get_ground_truth(wildcards):
    return _trial_rows(wildcards)["ground_truth"].iloc[0]


def get_evaluation_keys(wildcards):
    row = _trial_rows(wildcards).iloc[0]
    return {
        "dataset": wildcards.dataset,
        "setup": wildcards.setup,
        "subject": wildcards.subject,
        "session": wildcards.session,
        "trial": wildcards.trial,
        "activity": row["activity"],
        "model": wildcards.model,
    }


def get_units(dataset=None, evaluated_only=False):
    """Every (dataset, subject, session, trial, setup, camera, model) to run, as dicts."""
    for name in [dataset] if dataset else config["run"]["datasets"]:
        samples = get_samples(name)
        if evaluated_only:
            samples = samples[samples["evaluate"] == "yes"]
        for (subject, session, trial), rows in samples.groupby(
            ["subject", "session", "trial"]
        ):
            for setup in get_setups(name):
                for camera in _setup_rows(rows, name, setup)["camera"]:
                    for model in config["run"]["models"]:
                        yield {
                            "dataset": name,
                            "subject": subject,
                            "session": session,
                            "trial": trial,
                            "setup": setup,
                            "camera": camera,
                            "model": model,
                        }


def expand_units(pattern, **kwargs):
    """`pattern` filled for every unit; keys it lacks collapse (one path per trial...)."""
    return sorted({pattern.format(**unit) for unit in get_units(**kwargs)})


def get_scores(wildcards):
    return expand_units(
        "results/evaluation/{dataset}/{subject}/{session}/{trial}/{model}/{setup}/scores.csv",
        dataset=wildcards.dataset,
        evaluated_only=True,
    )


def get_leaderboards():
    """Leaderboards of the datasets that have trials with ground truth."""
    return [
        f"results/{dataset}/leaderboard.md"
        for dataset in config["run"]["datasets"]
        if (get_samples(dataset)["evaluate"] == "yes").any()
    ]


def get_final_output(wildcards):
    """Every stage's deliverables, so that deleting any of them re-creates it and what
    depends on it."""
    return [
        *expand_units(
            "results/pose2d/{dataset}/{subject}/{session}/{trial}/{model}/{camera}.npz"
        ),
        *expand_units(
            "results/triangulate/{dataset}/{subject}/{session}/{trial}/{model}/{setup}/markers.trc"
        ),
        *expand_units(
            "results/scale/{dataset}/{subject}/{session}/{model}/{setup}/scaled.osim"
        ),
        *expand_units(
            "results/ik/{dataset}/{subject}/{session}/{trial}/{model}/{setup}/joint_angles.mot"
        ),
        *expand_units(
            "results/summary/{dataset}/{subject}/{session}/{trial}/{model}/{setup}/joint_angles.png"
        ),
        "results/summary/joint_angles.csv",
        "results/summary/trials.csv",
        *get_leaderboards(),
    ]
