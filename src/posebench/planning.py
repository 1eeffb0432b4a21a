"""What the workflow runs: config cross-checks, run units and each job's inputs (the paths
of the files they name are in `posebench.paths`).

Snakemake's `workflow/rules/common.smk` only calls this module: its getters look rows up
in a `Plan`, which reads and validates each dataset's sample sheet once and indexes it by
(subject, session, trial), so a getter costs a dictionary look-up whatever the size of the
dataset. Nothing here imports Snakemake; the sample sheet's location (a checkpoint output)
is passed in as a function.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from posebench.datasets.index import SampleIndex, Trial
from posebench.keys import RECORDING_KEYS, SCORE_KEYS
from posebench.names import RULE as NAME_RULE
from posebench.names import unsafe_names
from posebench.paths import (
    FETCH_OUTPUTS,
    FETCH_RULES,
    PATHS,
)

# Backends of top-down models: they need weights and a person detector.
TOP_DOWN_BACKENDS = ("vitpose", "mmpose", "rtmpose")


class PlanError(ValueError):
    """The configuration or a sample sheet cannot be planned; the message says the fix."""


# ---------------------------------------------------------------------------------------
# Config cross-checks (what the JSON schema cannot express)


def check_config(config: Mapping[str, Any]) -> None:
    """Raise `PlanError` for unsafe names, names that refer to nothing, model aliases that
    collide and inconsistent sections."""
    _check_safe_names(config)
    _check_names("datasets", config["run"]["datasets"], config["datasets"])
    selection = select_models(config)
    _check_names("models", selection.names, config["models"], selection.aliases)
    for name, dataset in config["datasets"].items():
        expected = PATHS.generated.format(dataset=name).rsplit("/", 1)[0]
        if "generate" in dataset and dataset["path"] != expected:
            raise PlanError(
                f"config: dataset {name!r} is generated, so its path must be {expected!r} "
                f"(found {dataset['path']!r})."
            )
    detectors = config.get("detectors", {})
    overlap = sorted(set(config["models"]) & set(detectors))
    if overlap:
        raise PlanError(
            f"config: {overlap} are both models and detectors; names must be unique "
            "(weights land in resources/models/<name>/)."
        )
    for name, model in config["models"].items():
        detector = model.get("detector")
        if detector is not None and detector not in detectors:
            raise PlanError(
                f"config: model {name!r} uses detector {detector!r}, which is not defined "
                f"under `detectors:` (defined: {sorted(detectors)})."
            )
        top_down = model["backend"] in TOP_DOWN_BACKENDS
        if top_down and (detector is None or "weights" not in model):
            raise PlanError(
                f"config: model {name!r} (backend {model['backend']}) needs `weights:` and "
                "`detector:`."
            )
    for name, setup in config["opensim"]["setups"].items():
        fetch = setup.get("fetch")
        folder = FETCH_OUTPUTS[fetch].rsplit("/", 1)[0] if fetch else None
        if folder and not setup["path"].startswith(folder):
            raise PlanError(
                f"config: opensim.setups.{name} is fetched by {fetch!r}, so its path must lie "
                f"in {folder}/ (found {setup['path']!r})."
            )


def _check_safe_names(config: Mapping[str, Any]) -> None:
    """Every name that becomes a path component must be safe (`posebench.names`)."""
    groups: dict[str, Iterable[object]] = {
        "datasets": config["datasets"],
        "models": config["models"],
        "detectors": config.get("detectors", {}),
        "opensim.setups": config["opensim"]["setups"],
        "run.datasets": config["run"]["datasets"],
        # run.models may hold aliases (e.g. Hugging Face repo ids, with a `/`): what they
        # resolve to are names of `models:`, checked above; unknown ones by _check_names.
    }
    for name, dataset in config["datasets"].items():
        groups[f"datasets.{name}.camera_setups"] = dataset.get("camera_setups", {})
        for key in ("subjects", "sessions", "trials"):
            groups[f"datasets.{name}.{key}"] = dataset.get(key, [])
        for setup, cameras in dataset.get("camera_setups", {}).items():
            groups[f"datasets.{name}.camera_setups.{setup}"] = cameras
    for where, names in groups.items():
        bad = unsafe_names(names)
        if bad:
            raise PlanError(
                f"config: {where} has unsafe names {bad}; names become folder names, so "
                f"they may hold only {NAME_RULE}. Rename them in config/config.yaml."
            )


def _check_names(
    kind: str,
    selected: Sequence[str],
    defined: Mapping[str, Any],
    aliases: Mapping[str, str] | None = None,
) -> None:
    unknown = [name for name in selected if name not in defined]
    if unknown:
        also = f", or one of their aliases: {sorted(aliases)}" if aliases else ""
        raise PlanError(
            f"config: run.{kind} names {unknown}, which are not defined under "
            f"`{kind}:`. Valid names: {sorted(defined)}{also}."
        )


# ---------------------------------------------------------------------------------------
# Models to run: `run.models` may name a model by one of its `aliases:`


@dataclass(frozen=True)
class ModelSelection:
    """`run.models` resolved against the model registry (see `resolve_models`).

    `names`: the models to run, by registry name, in the order of `run.models`, each once;
    a name that is neither a model nor an alias is kept as written (`check_config` reports
    it). `resolved`: {alias: model name} of the aliases `run.models` used. `aliases`: every
    alias of the registry, {alias: model name}.
    """

    names: tuple[str, ...]
    resolved: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    def notes(self) -> list[str]:
        """One line per alias used, saying which model it selected."""
        return [
            f"run.models: {alias!r} is an alias of model {name!r}; its results are stored "
            f"under {name!r}."
            for alias, name in self.resolved.items()
        ]


def model_aliases(models: Mapping[str, Any]) -> dict[str, str]:
    """{alias: model name} from the `aliases:` lists of the model registry `models`.

    Raises `PlanError` when an alias is also a model's name, or is given twice (to two
    models, or twice to one), since `run.models` could then not say which model it means.
    """
    aliases: dict[str, str] = {}
    for name, entry in models.items():
        given = entry.get("aliases") if isinstance(entry, Mapping) else None
        for alias in map(str, given or ()):
            if alias in models:
                raise PlanError(
                    f"config: alias {alias!r} of model {name!r} is also the name of a model "
                    f"under `models:`. Remove it from `models: {name}: aliases:`."
                )
            if alias in aliases:
                raise PlanError(
                    f"config: alias {alias!r} is given to model {aliases[alias]!r} and again "
                    f"to model {name!r}; an alias must select one model. Keep it in one "
                    "`aliases:` list under `models:`."
                )
            aliases[alias] = name
    return aliases


def resolve_models(selected: Iterable[str], models: Mapping[str, Any]) -> ModelSelection:
    """`selected` (the names of `run.models`) with aliases replaced by the model names of
    the registry `models`, in order, each model once (a model named both ways runs once).
    Raises `PlanError` for colliding aliases (`model_aliases`); unknown names are kept."""
    aliases = model_aliases(models)
    names: dict[str, None] = {}
    resolved: dict[str, str] = {}
    for name in selected:
        if name not in models and name in aliases:
            resolved[name] = aliases[name]
            name = aliases[name]
        names[name] = None
    return ModelSelection(tuple(names), resolved, aliases)


def select_models(config: Mapping[str, Any]) -> ModelSelection:
    """The models `run.models` of `config` selects (`resolve_models`)."""
    return resolve_models(config["run"]["models"], config["models"])


def name_pattern(names: Iterable[str]) -> str:
    """A regular expression matching exactly `names` (one that matches nothing if empty)."""
    return "|".join(re.escape(name) for name in names) or "(?!)"


# ---------------------------------------------------------------------------------------
# Fetched data: checked against its manifest when the workflow starts


def fetch_forced(
    fetch: str, forcerun: Iterable[str], forced_targets: Iterable[str] = (), forceall: bool = False
) -> bool:
    """Whether a run re-runs the fetch rule of `fetch` anyway: `--forceall`, `--forcerun`
    naming the rule or its manifest, or `--force` with one of those as target."""
    named = {FETCH_RULES[fetch], FETCH_OUTPUTS[fetch]}
    asked = {os.path.normpath(str(item)) for item in (*forcerun, *forced_targets)}
    return forceall or bool(named & asked)


def check_fetched(fetch: str) -> None:
    """Raise `PlanError` naming every file of the fetched folder of `fetch` that is missing
    or whose size differs from its manifest, and the rule that restores them.

    Cheap (one `stat` per file, no hashing), for every start of the workflow: Snakemake
    re-runs a fetch rule only when its manifest is missing, so without this a deleted file
    would go unnoticed until a job fails on it. Nothing to check before the first fetch.

    An error rather than an automatic re-fetch: a Snakefile cannot ask Snakemake to re-run
    a job whose output exists, a dry run must not change files, and a re-fetch replaces the
    whole folder, discarding the user's edits there, which the user should decide to do.
    The fix is one command, and that fetch job then lists every file it restores.
    """
    from posebench.fetch import USER_DATA_ADVICE, check_manifest

    manifest = FETCH_OUTPUTS[fetch]
    folder, rule = manifest.rsplit("/", 1)[0], FETCH_RULES[fetch]
    check = check_manifest(Path(folder), hashes=False)
    if check is None or not (check.missing or check.changed):
        return
    raise PlanError(
        "\n".join(
            [
                f"{len(check.missing) + len(check.changed)} fetched file(s) in {folder}/ are "
                f"missing or were changed since rule {rule} fetched them:",
                *(f"  missing: {folder}/{rel}" for rel in check.missing),
                *(f"  changed (size differs): {folder}/{rel}" for rel in check.changed),
                f"Restore them with `snakemake --forcerun {rule}` (it lists what it replaces), "
                f"or delete {manifest} and run again.",
                USER_DATA_ADVICE,
            ]
        )
    )


# ---------------------------------------------------------------------------------------
# The plan: what runs, and each job's inputs and parameters


class Plan:
    """The workflow's decisions for one config: run units, inputs and parameters per job.

    `sample_sheet(dataset)` returns the path of the dataset's sheet, or raises when it is
    not written yet (in Snakemake: the describe_dataset checkpoint's output). Each sheet is
    read once per Plan. Methods taking `keys` accept any object with the wildcards as
    attributes (Snakemake's `wildcards`).
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        sample_sheet: Callable[[str], str],
        validate: Callable[[list[dict[str, Any]]], None] | None = None,
        refetching: Callable[[str], bool] | None = None,
    ) -> None:
        self.config = config
        self._sample_sheet = sample_sheet
        self._validate = validate
        self._indices: dict[str, SampleIndex] = {}
        # `refetching(fetch)`: whether this run re-runs that fetch rule anyway (then its
        # folder is not checked: the fetch job reports what it restores).
        self._refetching = refetching or (lambda fetch: False)
        self._fetch_checked: set[str] = set()

    # -- registries -------------------------------------------------------------------

    @cached_property
    def run_models(self) -> tuple[str, ...]:
        """The models of `run.models`, by registry name (aliases resolved)."""
        return select_models(self.config).names

    def model(self, name: str) -> Mapping[str, Any]:
        """The registry entry of model `name`, without its `aliases:` (other names for it in
        `run.models`: editing them changes no output, so no job's parameters)."""
        entry = self.config["models"][name]
        return {key: value for key, value in entry.items() if key != "aliases"}

    def detector(self, name: str) -> Mapping[str, Any]:
        return self.config["detectors"][name]  # type: ignore[no-any-return]

    def weights_names(self) -> list[str]:
        """Models and detectors whose weights are fetched."""
        entries = {**self.config["models"], **self.config.get("detectors", {})}
        return [name for name, entry in entries.items() if "weights" in entry]

    def weights_entry(self, name: str) -> dict[str, Any]:
        """{kind, section} of the model or detector whose weights `name` are fetched, and
        `format` when it is not "transformers" (the format follows the backend:
        `posebench.weights.spec.weights_format`; detectors default to backend transformers).
        Leaving the default out keeps the fetch_weights rule's params, and so its outputs,
        as they were before OpenMMLab weights existed."""
        from posebench.weights.spec import weights_format

        if name in self.config["models"]:
            kind, entry = "pose", self.config["models"][name]
            backend = entry["backend"]
        else:
            kind, entry = "detector", self.config["detectors"][name]
            backend = entry.get("backend", "transformers")
        found: dict[str, Any] = {"kind": kind, "section": entry["weights"]}
        weights = weights_format(backend)
        if weights != "transformers":
            found["format"] = weights
        return found

    def marker_set(self, model: str) -> str:
        return str(self.model(model)["marker_set"])

    def opensim_setup(self, source: str) -> Mapping[str, Any]:
        """The `opensim.setups` entry named `source`, with a clear error if absent."""
        setups = self.config["opensim"]["setups"]
        if source not in setups:
            raise PlanError(
                f"config: OpenSim files from {source!r} are needed, but opensim.setups has "
                f"no such entry (defined: {sorted(setups)})."
            )
        return setups[source]  # type: ignore[no-any-return]

    def setup_source(self, model: str) -> str:
        from posebench.markersets import get_marker_set

        return get_marker_set(self.marker_set(model)).setup_source

    def setup_dir(self, model: str) -> str:
        return str(self.opensim_setup(self.setup_source(model))["path"])

    def fetch_output(self, fetch: str | None) -> list[str]:
        """The manifest a fetch rule writes, or nothing when the data is placed by hand.

        The fetched folder is checked first (once per Plan): see `check_fetched`.
        """
        if not fetch:
            return []
        if fetch not in self._fetch_checked:
            if not self._refetching(fetch):
                check_fetched(fetch)
            self._fetch_checked.add(fetch)
        return [FETCH_OUTPUTS[fetch]]

    def local_copy(self, source: str) -> str | None:
        """The folder to copy `source`'s OpenSim files from instead of downloading them."""
        return self.config["opensim"]["setups"].get(source, {}).get("local_copy")  # type: ignore[no-any-return]

    def opensim_inputs(self, source: str) -> list[str]:
        return self.fetch_output(self.opensim_setup(source).get("fetch"))

    # -- datasets ---------------------------------------------------------------------

    def setups(self, dataset: str) -> dict[str, list[str] | None]:
        """{setup name: cameras, or None for all} of a dataset."""
        return self.config["datasets"][dataset].get("camera_setups") or {"all": None}

    def describe_inputs(self, dataset: str) -> list[str]:
        """What describe_dataset reads, so that editing any of it describes the dataset again.

        Fetched and generated data are represented by their manifest (they are verified as a
        whole); data placed by hand by every file the adapter reads: participant metadata,
        calibration files, videos and ground truth.
        """
        entry = self.config["datasets"][dataset]
        if "generate" in entry:
            return [PATHS.generated.format(dataset=dataset)]
        if entry.get("fetch"):
            return self.fetch_output(entry["fetch"])
        from posebench.datasets import source_files

        return [str(p) for p in source_files(entry["adapter"], Path(entry["path"]), entry)]

    def index(self, dataset: str) -> SampleIndex:
        try:
            return self._indices[dataset]
        except KeyError:
            index = SampleIndex.read(self._sample_sheet(dataset), dataset, self._validate)
            self._indices[dataset] = index
            return index

    def trial(self, keys: Any) -> Trial:
        return self.index(keys.dataset).trial(keys.subject, keys.session, keys.trial)

    def setup_cameras(self, trial: Trial, setup: str) -> tuple[str, ...]:
        """Cameras of `trial` in camera setup `setup` (all of them for None)."""
        cameras = self.setups(trial.dataset)[setup]
        if cameras is None:
            return trial.cameras
        absent = sorted(set(cameras) - set(trial.cameras))
        if absent:
            raise PlanError(
                f"config: camera setup {setup!r} of dataset {trial.dataset!r} names cameras "
                f"{absent}, which trial {trial.subject}/{trial.session}/{trial.trial} does not "
                f"have (it has {list(trial.cameras)}). Fix `datasets: {trial.dataset}: "
                f"camera_setups: {setup}` in the config."
            )
        return tuple(c for c in trial.cameras if c in cameras)

    # -- per-job inputs and parameters --------------------------------------------------

    def video(self, keys: Any) -> str:
        trial = self.trial(keys)
        try:
            return trial.videos[keys.camera]
        except KeyError:
            raise PlanError(
                f"No camera {keys.camera!r} in trial {trial.subject}/{trial.session}/"
                f"{trial.trial} of dataset {trial.dataset!r} (cameras: {list(trial.cameras)})."
            ) from None

    def cameras(self, keys: Any) -> list[str]:
        return list(self.setup_cameras(self.trial(keys), keys.setup))

    def keypoint_files(self, keys: Any) -> list[str]:
        values = _values(keys)
        return [PATHS.keypoints.format(**{**values, "camera": c}) for c in self.cameras(keys)]

    def pose2d_inputs(self, keys: Any) -> dict[str, str]:
        """The video, and for models that need them the weights manifest and detections."""
        model = self.model(keys.model)
        inputs = {"video": self.video(keys)}
        if "weights" in model:
            inputs["weights"] = PATHS.weights.format(weights=keys.model)
        if model.get("detector"):
            inputs["detections"] = PATHS.detections.format(
                **_values(keys), detector=model["detector"]
            )
        return inputs

    def calibration(self, keys: Any) -> str:
        return self.trial(keys).calibration

    def scaling_mode(self, keys: Any) -> str:
        """`mocap` when the dataset provides the subject's scaled model (sample sheet column
        `scaling_model`, from the dataset's `scaling: mocap`), else `video`."""
        session = self.index(keys.dataset).session(keys.subject, keys.session)
        return "mocap" if session.scaling_model else "video"

    def scaling_inputs(self, keys: Any) -> dict[str, str]:
        """What the scale job reads: the dataset's scaled model (`mocap`), or the markers
        (`markers_trc`) of the session's scaling trial (`video`)."""
        session = self.index(keys.dataset).session(keys.subject, keys.session)
        if session.scaling_model:
            return {"mocap_model": session.scaling_model}
        return {
            "trc": self.markers_trc(
                keys, session=session.scaling_session, trial=session.scaling_trial
            )
        }

    def augmenter(self, model: str) -> str | None:
        """The marker augmenter of the model's marker set, or None."""
        from posebench.markersets import get_marker_set

        return get_marker_set(self.marker_set(model)).augmenter

    def markers_trc(self, keys: Any, **overrides: str) -> str:
        """The markers the OpenSim steps read: the augmented TRC for a marker set with an
        augmenter, else the triangulated one; `overrides` replace wildcards (session,
        trial)."""
        template = PATHS.augmented_trc if self.augmenter(keys.model) else PATHS.trc
        return template.format(**{**_values(keys), **overrides})

    def augment_inputs(self, keys: Any) -> dict[str, str]:
        """What the augment job reads: the trial's triangulated markers, the augmenter's
        networks (Pose2Sim's data) and, when the participant's height is unknown, the
        triangulated markers of the scaling trial it is estimated from."""
        inputs = {"trc": PATHS.trc.format(**_values(keys))}
        inputs["augmenter"] = self.fetch_output("pose2sim")[0]
        if self.participant(keys)["height_m"] is None:
            trial = self.trial(keys)
            session = self.index(keys.dataset).session(keys.subject, trial.scaling_session)
            inputs["height_trc"] = PATHS.trc.format(
                **{
                    **_values(keys),
                    "session": session.scaling_session,
                    "trial": session.scaling_trial,
                }
            )
        return inputs

    def scaled_model(self, keys: Any) -> str:
        """The model a trial's IK tracks: scaled once per subject on the scaling trial of the
        trial's session (OpenCap: Session0's static trial, shared by Session1)."""
        trial = self.trial(keys)
        return PATHS.scaled_model.format(**{**_values(keys), "session": trial.scaling_session})

    def participant(self, keys: Any) -> dict[str, float | None]:
        session = self.index(keys.dataset).session(keys.subject, keys.session)
        return {"mass_kg": session.mass_kg, "height_m": session.height_m}

    def ground_truth(self, keys: Any) -> str:
        return self.trial(keys).ground_truth

    def evaluation_keys(self, keys: Any) -> dict[str, str]:
        """A value for each of `posebench.keys.SCORE_KEYS`, in that order: the trial's
        activity, its scaling mode and, for the other keys, the wildcards of `keys`."""
        derived = {"activity": self.trial(keys).activity, "scaling": self.scaling_mode(keys)}
        return {key: derived[key] if key in derived else getattr(keys, key) for key in SCORE_KEYS}

    # -- run units ----------------------------------------------------------------------

    def expand(
        self,
        pattern: str,
        dataset: str | None = None,
        evaluated_only: bool = False,
        scaling_only: bool = False,
    ) -> list[str]:
        """`pattern` filled for every run unit, sorted and without repeats.

        The units are every (dataset, subject, session, trial, setup, camera, model) of
        `run:`; fields the pattern lacks collapse (a pattern without `{camera}` gives one
        path per trial and setup). Cameras outside every setup are not run. `evaluated_only`
        keeps trials scored against ground truth, `scaling_only` the trials models are
        scaled on.
        """
        fields = {name for _, name, _, _ in string.Formatter().parse(pattern) if name}
        models = self.run_models if "model" in fields else ("",)
        paths: set[str] = set()
        for name in [dataset] if dataset else self.config["run"]["datasets"]:
            setups = self.setups(name)
            for trial in self.index(name):
                if evaluated_only and not trial.evaluate:
                    continue
                if scaling_only and (trial.session, trial.trial) != (
                    trial.scaling_session,
                    trial.scaling_trial,
                ):
                    continue
                values = {key: getattr(trial, key) for key in RECORDING_KEYS}
                per_setup = {s: self.setup_cameras(trial, s) for s in setups}
                if "setup" not in fields:  # one group: the cameras of any setup
                    per_setup = {"": tuple({c for cams in per_setup.values() for c in cams})}
                for setup, cameras in per_setup.items():
                    for camera in cameras if "camera" in fields else ("",):
                        for model in models:
                            paths.add(
                                pattern.format(**values, setup=setup, camera=camera, model=model)
                            )
        return sorted(paths)

    def has_scored_trials(self, dataset: str) -> bool:
        return any(trial.evaluate for trial in self.index(dataset).trials.values())

    def scores(self, dataset: str) -> list[str]:
        return self.expand(PATHS.scores, dataset=dataset, evaluated_only=True)

    def leaderboards(self) -> list[str]:
        """Leaderboards of the datasets that have trials with ground truth."""
        return [
            PATHS.leaderboard_md.format(dataset=dataset)
            for dataset in self.config["run"]["datasets"]
            if self.has_scored_trials(dataset)
        ]

    def final_output(self) -> list[str]:
        """Every output of every stage, so that deleting any of them (or a job killed
        between writing two of its outputs) re-creates it and what depends on it."""
        return [
            *self.expand(PATHS.keypoints),
            *self.expand(PATHS.trc),
            *self.expand(PATHS.reprojection),
            *self.expand(PATHS.triangulation),
            *self.expand(PATHS.scaled_model, scaling_only=True),
            *self.expand(PATHS.scaling, scaling_only=True),
            *self.expand(PATHS.motion),
            *self.expand(PATHS.marker_errors),
            *self.expand(PATHS.ik),
            *self.expand(PATHS.statistics),
            *self.expand(PATHS.quality),
            *self.expand(PATHS.plot),
            PATHS.all_statistics,
            PATHS.all_quality,
            *self.leaderboards(),
        ]


def _values(keys: Any) -> dict[str, str]:
    """The wildcards of `keys` as a dict (Snakemake's `wildcards`, a mapping or a namespace)."""
    items = keys.items() if hasattr(keys, "items") else vars(keys).items()
    return {str(k): str(v) for k, v in items}
