"""The workflow's planner (posebench.planning) without Snakemake: config checks, the
sample-sheet index, run units, per-job inputs and what describe_dataset declares."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd
import pytest
import yaml

from posebench.cli import model_status
from posebench.datasets.index import SampleIndex
from posebench.datasets.sheet import SampleSheetError, write_samples
from posebench.paths import PATHS
from posebench.planning import Plan, PlanError, check_config, select_models

REPO = Path(__file__).resolve().parents[1]
CAMERAS = ["Cam0", "Cam1", "Cam2", "Cam3"]
TRIALS = {"Session0": ["static1", "squats1", "DJ1"], "Session1": ["walking1"]}


def base_config() -> dict[str, Any]:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["datasets"]["lab"] = {
        "adapter": "opencap",
        "path": "data/lab",
        "camera_setups": {"2-cameras": ["Cam1", "Cam3"], "3-cameras": ["Cam0", "Cam1", "Cam3"]},
    }
    config["run"] = {"datasets": ["lab"], "models": ["mediapipe-blazepose", "vitpose-base-coco"]}
    return config


def sheet_rows(subjects: tuple[str, ...] = ("subject2", "subject3")) -> pd.DataFrame:
    rows = []
    for subject in subjects:
        for session, trials in TRIALS.items():
            for trial in trials:
                for camera in CAMERAS:
                    scored = not trial.startswith("static")
                    rows.append(
                        {
                            "dataset": "lab", "subject": subject, "session": session,
                            "trial": trial, "camera": camera,
                            "video": f"data/{subject}/{session}/{camera}/{trial}.avi",
                            "calibration": f"calib/{subject}/{session}.json",
                            "mass_kg": 70.0 if subject == "subject2" else 81.5,
                            "height_m": 1.8 if subject == "subject2" else float("nan"),
                            "activity": trial.rstrip("0123456789"),
                            "scaling_session": "Session0", "scaling_trial": "static1",
                            "scaling_model": "",
                            "ground_truth": f"gt/{subject}/{trial}.mot" if scored else "",
                            "evaluate": "yes" if scored else "no",
                        }
                    )  # fmt: skip
    return pd.DataFrame(rows)


@pytest.fixture
def sheet(tmp_path: Path) -> Path:
    path = tmp_path / "samples.tsv"
    write_samples(path, sheet_rows())
    return path


class CountingSheet:
    """The sample_sheet callback of a Plan, counting how often it is asked."""

    def __init__(self, path: Path) -> None:
        self.path, self.calls = path, 0

    def __call__(self, dataset: str) -> str:
        self.calls += 1
        return str(self.path)


def keys(**values: str) -> SimpleNamespace:
    return SimpleNamespace(**{"dataset": "lab", **values})


def test_the_sheet_is_read_once_and_looked_up_by_trial(sheet: Path) -> None:
    located = CountingSheet(sheet)
    validated: list[int] = []
    plan = Plan(base_config(), located, validate=lambda rows: validated.append(len(rows)))
    for _ in range(50):
        wildcards = keys(subject="subject3", session="Session0", trial="DJ1", camera="Cam2")
        assert plan.video(wildcards) == "data/subject3/Session0/Cam2/DJ1.avi"
    plan.final_output()
    assert located.calls == 1
    assert validated == [2 * 4 * 4]  # the JSON-schema hook saw every row, once


def test_trial_lookups(sheet: Path) -> None:
    plan = Plan(base_config(), CountingSheet(sheet))
    squats = keys(subject="subject2", session="Session0", trial="squats1")
    trial = plan.trial(squats)
    assert trial.cameras == tuple(CAMERAS)
    assert trial.evaluate and trial.activity == "squats"
    assert plan.calibration(squats) == "calib/subject2/Session0.json"
    assert plan.ground_truth(squats) == "gt/subject2/squats1.mot"
    walking = keys(subject="subject3", session="Session1", trial="walking1")
    assert plan.participant(walking) == {"mass_kg": 81.5, "height_m": None}
    assert plan.participant(squats) == {"mass_kg": 70.0, "height_m": 1.8}
    with pytest.raises(SampleSheetError, match="no trial lab/subject2/Session0/jumps9"):
        plan.trial(keys(subject="subject2", session="Session0", trial="jumps9"))
    with pytest.raises(PlanError, match="No camera 'Cam7'"):
        plan.video(keys(subject="subject2", session="Session0", trial="DJ1", camera="Cam7"))


def test_mocap_scaling_reads_the_datasets_model(tmp_path: Path) -> None:
    rows = sheet_rows()
    rows.loc[rows["subject"] == "subject2", "scaling_model"] = "data/subject2/mocap.osim"
    path = tmp_path / "samples.tsv"
    write_samples(path, rows)
    plan = Plan(base_config(), CountingSheet(path))
    mocap = keys(subject="subject2", session="Session1", trial="walking1", model="m", setup="s")
    assert plan.scaling_mode(mocap) == "mocap"
    assert plan.scaling_inputs(mocap) == {"mocap_model": "data/subject2/mocap.osim"}
    assert plan.evaluation_keys(mocap)["scaling"] == "mocap"
    video = keys(subject="subject3", session="Session1", trial="walking1", model="m", setup="s")
    assert plan.scaling_mode(video) == "video"
    assert plan.evaluation_keys(video)["scaling"] == "video"
    # One session, one model: a sheet naming two for a session is refused.
    rows.loc[(rows["subject"] == "subject2") & (rows["trial"] == "DJ1"), "scaling_model"] = "x"
    with pytest.raises(SampleSheetError, match="one scaling model"):
        write_samples(tmp_path / "broken.tsv", rows)


def test_setups_choose_cameras_and_files(sheet: Path) -> None:
    plan = Plan(base_config(), CountingSheet(sheet))
    wildcards = keys(
        subject="subject2", session="Session1", trial="walking1", model="m", setup="3-cameras"
    )
    assert plan.cameras(wildcards) == ["Cam0", "Cam1", "Cam3"]
    assert plan.keypoint_files(wildcards) == [
        f"results/pose2d/lab/subject2/Session1/walking1/m/{camera}.npz"
        for camera in ("Cam0", "Cam1", "Cam3")
    ]
    # Every session is scaled on the subject's static trial, per model and setup, and
    # Session1's trials are tracked with that one model.
    wildcards.model = "mediapipe-blazepose"
    assert plan.scaling_inputs(wildcards) == {
        "trc": "results/triangulate/lab/subject2/Session0/static1/mediapipe-blazepose/"
        "3-cameras/markers.trc"
    }
    assert plan.markers_trc(wildcards) == (
        "results/triangulate/lab/subject2/Session1/walking1/mediapipe-blazepose/3-cameras/"
        "markers.trc"
    )
    assert plan.scaling_mode(wildcards) == "video"
    assert plan.scaled_model(wildcards) == (
        "results/scale/lab/subject2/Session0/mediapipe-blazepose/3-cameras/scaled.osim"
    )
    config = base_config()
    config["datasets"]["lab"]["camera_setups"]["wide"] = ["Cam0", "Cam9"]
    with pytest.raises(PlanError, match=r"camera setup 'wide' of dataset 'lab' names .*Cam9"):
        Plan(config, CountingSheet(sheet)).cameras(keys(**{**vars(wildcards), "setup": "wide"}))


def test_augmented_marker_sets_go_through_the_augment_stage(sheet: Path) -> None:
    plan = Plan(base_config(), CountingSheet(sheet), refetching=lambda fetch: True)
    model = "mediapipe-blazepose-lstm"
    assert plan.augmenter(model) == "lstm-v0.3" and plan.augmenter("mediapipe-blazepose") is None
    walking = keys(
        subject="subject2", session="Session1", trial="walking1", model=model, setup="2-cameras"
    )
    # Scaling and IK read the augmented markers, of the static trial and of the trial.
    prefix = f"results/augment/lab/subject2/Session0/static1/{model}/2-cameras"
    assert plan.scaling_inputs(walking) == {"trc": f"{prefix}/markers.trc"}
    assert plan.markers_trc(walking) == (
        f"results/augment/lab/subject2/Session1/walking1/{model}/2-cameras/markers.trc"
    )
    # The augmenter reads the triangulated markers and its networks; with no height in the
    # sheet (subject3), also the static trial's triangulated markers to estimate it from.
    trc = f"results/triangulate/lab/subject2/Session1/walking1/{model}/2-cameras/markers.trc"
    assert plan.augment_inputs(walking) == {
        "trc": trc,
        "augmenter": "resources/pose2sim/MANIFEST.json",
    }
    walking.subject = "subject3"
    assert plan.augment_inputs(walking)["height_trc"] == (
        f"results/triangulate/lab/subject3/Session0/static1/{model}/2-cameras/markers.trc"
    )


def test_pose2d_inputs_name_weights_and_detections(sheet: Path) -> None:
    plan = Plan(base_config(), CountingSheet(sheet))
    common = {"subject": "subject2", "session": "Session0", "trial": "DJ1", "camera": "Cam1"}
    assert plan.pose2d_inputs(keys(model="mediapipe-blazepose", **common)) == {
        "video": "data/subject2/Session0/Cam1/DJ1.avi"
    }
    assert plan.pose2d_inputs(keys(model="vitpose-base-coco", **common)) == {
        "video": "data/subject2/Session0/Cam1/DJ1.avi",
        "weights": "resources/models/vitpose-base-coco/weights.json",
        "detections": "results/detections/rtdetr-r50/lab/subject2/Session0/DJ1/Cam1.npz",
    }


def test_run_units(sheet: Path) -> None:
    plan = Plan(base_config(), CountingSheet(sheet))
    keypoints = plan.expand(PATHS.keypoints)
    # Cam2 is in no camera setup, so it is never run; 2 subjects x 4 trials x 3 cameras x 2.
    assert len(keypoints) == 2 * 4 * 3 * 2
    assert not any("/Cam2.npz" in path for path in keypoints)
    assert len(plan.expand(PATHS.trc)) == 2 * 4 * 2 * 2
    # One scaled model per subject, setup and model: both sessions use Session0's static1.
    scaled = plan.expand(PATHS.scaled_model, scaling_only=True)
    assert len(scaled) == 2 * 2 * 2
    assert all("/Session0/" in path for path in scaled)
    assert set(scaled) <= set(plan.final_output())
    scores = plan.scores("lab")
    assert len(scores) == 2 * 3 * 2 * 2  # the static trial is not scored
    assert not any("static1" in path for path in scores)
    final = plan.final_output()
    assert final[-1] == "results/lab/leaderboard.md"
    assert {"results/summary/joint_angles.csv", "results/summary/trials.csv"} <= set(final)
    assert len(final) == len(set(final))


def test_no_leaderboard_without_scored_trials(tmp_path: Path) -> None:
    rows = sheet_rows(("subject2",))
    rows["evaluate"] = "no"
    write_samples(tmp_path / "samples.tsv", rows)
    plan = Plan(base_config(), CountingSheet(tmp_path / "samples.tsv"))
    assert not any("leaderboard" in path for path in plan.final_output())


def test_all_cameras_without_setups(sheet: Path) -> None:
    config = base_config()
    del config["datasets"]["lab"]["camera_setups"]
    plan = Plan(config, CountingSheet(sheet))
    assert plan.setups("lab") == {"all": None}
    assert {Path(p).stem for p in plan.expand(PATHS.keypoints)} == set(CAMERAS)
    assert all("/all/markers.trc" in p for p in plan.expand(PATHS.trc))


def test_broken_sheets_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "samples.tsv"
    rows = sheet_rows(("subject2",))
    write_samples(path, rows)
    text = path.read_text().splitlines()
    path.write_text("\n".join([*text, text[1]]) + "\n")  # a repeated row
    with pytest.raises(SampleSheetError, match=rf"{path}: duplicated sample keys"):
        SampleIndex.read(path, "lab")
    path.write_text("\n".join([text[0].replace("mass_kg", "mass"), *text[1:]]) + "\n")
    with pytest.raises(SampleSheetError, match=r"missing columns \['mass_kg'\]"):
        SampleIndex.read(path, "lab")
    with pytest.raises(SampleSheetError, match="not found"):
        SampleIndex.read(tmp_path / "absent.tsv", "lab")
    write_samples(path, rows)
    with pytest.raises(
        SampleSheetError, match=r"rows of dataset\(s\) \['lab'\] in the sheet of 'other'"
    ):
        SampleIndex.read(path, "other")


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda c: c["models"].update({"../../tmp/x": {}}) or c["run"].update(models=[]),
            r"models has unsafe names \['../../tmp/x'\]",
        ),
        (lambda c: c["datasets"].update({".lab": {}}), r"datasets has unsafe names \['.lab'\]"),
        (lambda c: c["detectors"].update({"x y": {}}), r"detectors has unsafe names \['x y'\]"),
        (
            lambda c: c["datasets"]["lab"]["camera_setups"].update({"../2": ["Cam1", "Cam3"]}),
            r"datasets.lab.camera_setups has unsafe names \['../2'\]",
        ),
        (
            lambda c: c["datasets"]["lab"].update(subjects=["subject2/.."]),
            r"datasets.lab.subjects has unsafe names",
        ),
        (
            lambda c: c["opensim"]["setups"].update({"/abs": {"path": "x"}}),
            r"opensim.setups has unsafe names \['/abs'\]",
        ),
    ],
)
def test_unsafe_names_are_rejected(edit: Any, message: str) -> None:
    config = base_config()
    edit(config)
    with pytest.raises(PlanError, match=message + ".*may hold only letters, digits"):
        check_config(config)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["run"].update(models=["nope"]), r"run.models names \['nope'\]"),
        # run.models entries may be aliases, so a `/` is no unsafe name there: it names no model.
        (
            lambda c: c["run"].update(models=["a/b"]),
            r"run.models names \['a/b'\], which are not defined under `models:`",
        ),
        (lambda c: c["run"].update(datasets=["nope"]), r"run.datasets names \['nope'\]"),
        (
            lambda c: c["models"]["vitpose-base-coco"].update(detector="yolo"),
            "uses detector 'yolo', which is not defined",
        ),
        (
            lambda c: c["models"]["vitpose-base-coco"].pop("detector"),
            r"\(backend vitpose\) needs `weights:` and `detector:`",
        ),
        (
            lambda c: c["detectors"].update({"oracle": c["detectors"]["rtdetr-r50"]}),
            "are both models and detectors",
        ),
        (
            lambda c: c["datasets"]["lab"].update(generate={}),
            "is generated, so its path must be 'resources/synthetic/lab'",
        ),
        (
            lambda c: c["opensim"]["setups"]["pose2sim"].update(path="elsewhere"),
            "fetched by 'pose2sim', so its path must lie in resources/pose2sim/",
        ),
    ],
)
def test_config_cross_checks(edit: Any, message: str) -> None:
    config = base_config()
    check_config(config)
    broken = copy.deepcopy(config)
    edit(broken)
    with pytest.raises(PlanError, match=message):
        check_config(broken)


def test_registries(sheet: Path) -> None:
    config = base_config()
    plan = Plan(config, CountingSheet(sheet))
    assert "rtdetr-r50" in plan.weights_names()
    assert "mediapipe-blazepose" not in plan.weights_names()
    assert plan.weights_entry("rtdetr-r50")["kind"] == "detector"
    assert plan.weights_entry("vitpose-base-coco")["kind"] == "pose"
    assert plan.setup_dir("mediapipe-blazepose") == "resources/pose2sim/OpenSim_Setup"
    assert plan.opensim_inputs("pose2sim") == ["resources/pose2sim/MANIFEST.json"]
    del config["opensim"]["setups"]["pose2sim"]
    with pytest.raises(PlanError, match="opensim.setups has no such entry"):
        plan.setup_dir("mediapipe-blazepose")


def test_describe_inputs(tmp_path: Path) -> None:
    """Data placed by hand: every file the adapter reads; fetched/generated: the manifest."""
    config = base_config()
    root = tmp_path / "lab"
    config["datasets"]["lab"]["path"] = str(root)
    config["datasets"]["lab"]["subjects"] = ["subject2"]
    plan = Plan(config, CountingSheet(tmp_path / "unused.tsv"))
    assert plan.describe_inputs("lab") == []  # no folder: describe_dataset names it
    expected = []
    for subject in ("subject2", "subject3"):
        subject_dir = root / subject
        files = [
            subject_dir / "sessionMetadata.yaml",
            subject_dir / "VideoData/Session0/Cam0/cameraIntrinsicsExtrinsics.pickle",
            subject_dir / "VideoData/Session0/Cam0/squats1/squats1_syncdWithMocap.avi",
            subject_dir / "OpenSimData/Mocap/IK/squats1.mot",
        ]
        for file in files:
            file.parent.mkdir(parents=True, exist_ok=True)
            file.write_text("x")
        (subject_dir / "VideoData/Session0/Cam0/squats1/notes.txt").write_text("not read")
        if subject == "subject2":
            expected = [str(f) for f in files]
    assert plan.describe_inputs("lab") == sorted(expected)
    assert plan.describe_inputs("pose2sim-demo") == ["resources/pose2sim/MANIFEST.json"]
    config["datasets"]["synth"] = {
        "adapter": "opencap",
        "path": "resources/synthetic/synth",
        "generate": {},
    }
    assert plan.describe_inputs("synth") == ["resources/synthetic/synth/generated.json"]


# --- run.models: names and aliases ------------------------------------------------------

SYNTHPOSE_ALIASES = {
    "yonigozlan/synthpose-vitpose-base-hf": "synthpose-vitpose-base",
    "stanfordmimi/synthpose-vitpose-base-hf": "synthpose-vitpose-base",
    "yonigozlan/synthpose-vitpose-huge-hf": "synthpose-vitpose-huge",
    "stanfordmimi/synthpose-vitpose-huge-hf": "synthpose-vitpose-huge",
}


@pytest.mark.parametrize(("alias", "model"), SYNTHPOSE_ALIASES.items())
def test_model_alias_selects_the_registry_model(sheet: Path, alias: str, model: str) -> None:
    """The Hugging Face repos of OpenCapBench's guide select the SynthPose entries, whose
    results are stored under the registry name."""
    config = base_config()
    config["run"]["models"] = [alias, "mediapipe-blazepose"]
    check_config(config)
    selection = select_models(config)
    assert selection.names == (model, "mediapipe-blazepose")
    assert selection.resolved == {alias: model}
    assert selection.notes() == [
        f"run.models: {alias!r} is an alias of model {model!r}; its results are stored "
        f"under {model!r}."
    ]
    plan = Plan(config, CountingSheet(sheet))
    assert plan.run_models == (model, "mediapipe-blazepose")
    models_in_paths = {Path(path).parts[-2] for path in plan.expand(PATHS.keypoints)}
    assert models_in_paths == {model, "mediapipe-blazepose"}
    assert "aliases" not in plan.model(model)  # no job parameter: editing aliases reruns nothing
    assert plan.model(model)["marker_set"] == "anatomical"


def test_model_named_twice_runs_once() -> None:
    config = base_config()
    config["run"]["models"] = [
        "stanfordmimi/synthpose-vitpose-base-hf",
        "synthpose-vitpose-base",
        "yonigozlan/synthpose-vitpose-base-hf",
    ]
    check_config(config)
    assert select_models(config).names == ("synthpose-vitpose-base",)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda c: c["models"]["vitpose-base-coco"].update(
                aliases=["yonigozlan/synthpose-vitpose-base-hf"]
            ),
            "alias 'yonigozlan/synthpose-vitpose-base-hf' is given to model "
            "'synthpose-vitpose-base' and again to model 'vitpose-base-coco'",
        ),
        (
            lambda c: c["models"]["vitpose-base-coco"].update(aliases=["mediapipe-blazepose"]),
            "alias 'mediapipe-blazepose' of model 'vitpose-base-coco' is also the name of a "
            "model under `models:`. Remove it from `models: vitpose-base-coco: aliases:`",
        ),
    ],
)
def test_colliding_aliases_are_config_errors(edit: Any, message: str, sheet: Path) -> None:
    config = base_config()
    edit(config)
    with pytest.raises(PlanError, match=re.escape(message)):
        check_config(config)
    with pytest.raises(PlanError, match=re.escape(message)):
        Plan(config, CountingSheet(sheet)).expand(PATHS.keypoints)


def test_unknown_model_lists_names_and_aliases() -> None:
    config = base_config()
    config["run"]["models"] = ["yonigozlan/synthpose-vitpose-large-hf"]
    with pytest.raises(PlanError) as error:
        check_config(config)
    message = str(error.value)
    assert "run.models names ['yonigozlan/synthpose-vitpose-large-hf']" in message
    assert "'synthpose-vitpose-base'" in message and "'mediapipe-blazepose'" in message
    assert "aliases: " in message and "'yonigozlan/synthpose-vitpose-huge-hf'" in message


def test_verify_models_resolves_aliases_as_the_workflow(tmp_path: Path) -> None:
    """`posebench verify-models` reads run.models through the same resolution."""
    config = base_config()
    config["models"]["mediapipe-blazepose"]["aliases"] = ["google/blazepose-full"]
    config["run"]["models"] = ["google/blazepose-full", "mediapipe-blazepose", "nope"]
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    rows = model_status(configfile, tmp_path / "models")
    assert [(row["model"], row["status"]) for row in rows] == [
        ("mediapipe-blazepose (alias google/blazepose-full)", "ready (no weights)"),
        ("nope", f"invalid: not defined under `models:` in {configfile}"),
    ]
    config["models"]["vitpose-base-coco"]["aliases"] = ["google/blazepose-full"]
    configfile.write_text(yaml.safe_dump(config))
    with pytest.raises(SystemExit, match="is given to model 'mediapipe-blazepose' and again"):
        model_status(configfile, tmp_path / "models")
