"""Model weights: specs, fetching (local folder, Hugging Face cache, offline and unreachable
hub), checkpoint verification, manifests and `posebench verify-models`.

Every test runs against tiny checkpoints built by `model_factory`, with HF_HUB_CACHE in a
temporary folder and HF_ENDPOINT pointing at a closed local port: no real host is contacted.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch
import yaml
from huggingface_hub import constants

from model_factory import build_rtdetr, build_vitpose, fill_hf_cache
from posebench.cli import main
from posebench.io.hashing import sha256_of
from posebench.skeletons import ANATOMICAL_KEYPOINTS, COCO_KEYPOINTS
from posebench.weights import fetch_weights, load_manifest, verify_checkpoint
from posebench.weights.manifest import Manifest
from posebench.weights.spec import MANIFEST_NAME, WeightsError, WeightsSpec

pytestmark = pytest.mark.torch

SYNTHPOSE_REPO = "stanfordmimi/synthpose-vitpose-base-hf"
DETECTOR_REPO = "PekingU/rtdetr_r50vd_coco_o365"
DETECTOR_COMMIT = "457857cec8ac28ddede40ecee9eed2beca321af8"
UNREACHABLE_ENDPOINT = "http://127.0.0.1:9"  # the discard port: nothing listens


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny checkpoints: 52 named anatomical keypoints, 17 unnamed keypoints, a detector."""
    root = tmp_path_factory.mktemp("checkpoints")
    return {
        "anatomical": build_vitpose(root / "anatomical", 52, ANATOMICAL_KEYPOINTS),
        "coco17": build_vitpose(root / "coco17", 17),
        "detector": build_rtdetr(root / "detector"),
    }


@pytest.fixture(autouse=True)
def hub_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face cache and an unreachable hub; returns the cache folder."""
    cache = tmp_path / "hf-cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_ENDPOINT", UNREACHABLE_ENDPOINT)
    for name in ("HF_HUB_OFFLINE", "HF_HUB_ETAG_TIMEOUT", "HF_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    return cache


def hub_spec(name: str = "synthpose", revision: str = "main") -> WeightsSpec:
    return WeightsSpec.from_config(name, "pose", {"repo_id": SYNTHPOSE_REPO, "revision": revision})


def copy_checkpoint(source: Path, dest: Path) -> Path:
    shutil.copytree(source, dest)
    return dest


# --- specs -------------------------------------------------------------------------------


def test_spec_from_config() -> None:
    spec = hub_spec()
    assert (spec.repo_id, spec.revision, spec.local_path) == (SYNTHPOSE_REPO, "main", None)
    assert spec.source == f"{SYNTHPOSE_REPO}@main"
    local = WeightsSpec.from_config("m", "pose", {"local_path": "~/models/vitpose"})
    assert local.local_path == Path.home() / "models" / "vitpose"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"repo_id": "a/b", "revision": "main", "local_path": "/x"}, "exactly one of"),
        ({}, "exactly one of"),
        ({"repo_id": "a/b"}, "needs a revision"),
        ({"repo_id": "nameonly", "revision": "main"}, "<org>/<name>"),
        ({"local_path": "/x", "revision": "main"}, "only applies to repo_id"),
        ({"repo": "a/b"}, "unknown keys"),
    ],
)
def test_spec_errors(section: dict[str, str], message: str) -> None:
    with pytest.raises(WeightsError, match=message):
        WeightsSpec.from_config("m", "pose", section)


# --- local folders and verification ------------------------------------------------------


def test_local_path_manifest(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    source = checkpoints["anatomical"]
    spec = WeightsSpec.from_config("synthpose", "pose", {"local_path": str(source)})
    manifest_path = fetch_weights(spec, tmp_path / "dest", marker_set="anatomical")
    assert manifest_path == tmp_path / "dest" / MANIFEST_NAME
    assert sorted(p.name for p in (tmp_path / "dest").iterdir()) == [MANIFEST_NAME]  # no copy
    raw = json.loads(manifest_path.read_text())
    assert raw["source"] == {"local_path": str(source.resolve())}
    assert raw["path"] == str(source.resolve())
    assert (raw["name"], raw["kind"], raw["commit"]) == ("synthpose", "pose", None)
    assert (raw["model_type"], raw["num_keypoints"]) == ("vitpose", 52)
    assert raw["weights_file"] == "model.safetensors"
    assert sorted(raw["files"]) == ["config.json", "model.safetensors", "preprocessor_config.json"]
    for name, entry in raw["files"].items():
        assert entry == {"size": (source / name).stat().st_size, "sha256": sha256_of(source / name)}
    # Deterministic: written again from scratch, the manifest has the same bytes.
    first = manifest_path.read_bytes()
    manifest_path.unlink()
    assert fetch_weights(spec, tmp_path / "dest", marker_set="anatomical").read_bytes() == first
    assert load_manifest(manifest_path).path == source.resolve()
    # The dataclass writes back the JSON it was read from.
    assert Manifest.from_json(raw, manifest_path).to_json() == raw


@pytest.mark.parametrize(
    ("checkpoint", "marker_set", "count", "names"),
    [
        ("anatomical", "anatomical", 52, ANATOMICAL_KEYPOINTS),
        ("anatomical", "anatomical-lai2022", 52, ANATOMICAL_KEYPOINTS),
        ("coco17", "coco17", 17, None),
    ],
)
def test_verify_pose_checkpoint(
    checkpoints: dict[str, Path],
    checkpoint: str,
    marker_set: str,
    count: int,
    names: tuple[str, ...] | None,
) -> None:
    info = verify_checkpoint(checkpoints[checkpoint], kind="pose", marker_set=marker_set)
    assert (info.model_type, info.num_keypoints, info.keypoint_names) == ("vitpose", count, names)
    assert info.weights_file == "model.safetensors"


def test_verify_detector_checkpoint(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    info = verify_checkpoint(checkpoints["detector"], kind="detector")
    assert (info.model_type, info.num_keypoints) == ("rt_detr", None)
    config = json.loads((checkpoints["detector"] / "config.json").read_text())
    config["id2label"] = {"0": "cat", "1": "dog"}
    config["label2id"] = {"cat": 0, "dog": 1}
    broken = copy_checkpoint(checkpoints["detector"], tmp_path / "animals")
    (broken / "config.json").write_text(json.dumps(config))
    with pytest.raises(WeightsError, match=r"no 'person' label .*'cat', 'dog'"):
        verify_checkpoint(broken, kind="detector")


def test_keypoint_count_mismatch(checkpoints: dict[str, Path]) -> None:
    with pytest.raises(WeightsError) as error:
        verify_checkpoint(checkpoints["coco17"], kind="pose", marker_set="anatomical")
    message = str(error.value)
    assert str(checkpoints["coco17"]) in message
    assert "predicts 17 keypoints" in message and "'anatomical' expects 52" in message
    assert "pick marker_set: coco17" in message


def test_keypoint_name_mismatch(tmp_path: Path) -> None:
    swapped = list(COCO_KEYPOINTS)
    swapped[1], swapped[2] = swapped[2], swapped[1]
    path = build_vitpose(tmp_path / "swapped", 17, swapped)
    with pytest.raises(WeightsError, match=r"2 differ .*index 1: 'right_eye', expected 'left_eye'"):
        verify_checkpoint(path, kind="pose", marker_set="coco17")
    # Case is not significant.
    upper = build_vitpose(tmp_path / "upper", 17, [k.upper() for k in COCO_KEYPOINTS])
    assert verify_checkpoint(upper, kind="pose", marker_set="coco17").num_keypoints == 17


def test_truncated_safetensors(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    path = copy_checkpoint(checkpoints["coco17"], tmp_path / "partial")
    weights = path / "model.safetensors"
    os.truncate(weights, weights.stat().st_size // 2)
    with pytest.raises(WeightsError, match="not a complete safetensors file") as error:
        verify_checkpoint(path, kind="pose", marker_set="coco17")
    assert str(weights) in str(error.value) and "re-run fetch_weights" in str(error.value)


@pytest.mark.parametrize(
    "missing", ["config.json", "preprocessor_config.json", "model.safetensors"]
)
def test_missing_file(checkpoints: dict[str, Path], tmp_path: Path, missing: str) -> None:
    path = copy_checkpoint(checkpoints["coco17"], tmp_path / "partial")
    (path / missing).unlink()
    with pytest.raises(WeightsError, match="re-run fetch_weights") as error:
        verify_checkpoint(path, kind="pose", marker_set="coco17")
    assert f"{path} has no {missing}" in str(error.value)


def test_pytorch_bin_only_without_safetensors(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    from safetensors.torch import load_file

    path = copy_checkpoint(checkpoints["coco17"], tmp_path / "bin")
    torch.save(load_file(path / "model.safetensors"), path / "pytorch_model.bin")
    # Both present: the safetensors file is the one used.
    assert verify_checkpoint(path, kind="pose").weights_file == "model.safetensors"
    (path / "model.safetensors").unlink()
    assert verify_checkpoint(path, kind="pose").weights_file == "pytorch_model.bin"
    os.truncate(path / "pytorch_model.bin", 1000)
    with pytest.raises(WeightsError, match="pytorch_model.bin .* not a complete PyTorch zip"):
        verify_checkpoint(path, kind="pose")


def test_head_disagreeing_with_config(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    path = copy_checkpoint(checkpoints["coco17"], tmp_path / "mixed")
    shutil.copyfile(checkpoints["anatomical"] / "config.json", path / "config.json")
    with pytest.raises(WeightsError, match="declares 52 keypoints but .* 17-channel heatmap head"):
        verify_checkpoint(path, kind="pose")


def test_load_manifest_errors(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="not found; run the fetch_weights step"):
        load_manifest(tmp_path / MANIFEST_NAME)
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(WeightsError, match="is not valid JSON"):
        load_manifest(tmp_path / MANIFEST_NAME)
    (tmp_path / MANIFEST_NAME).write_text('{"name": "x"}')
    with pytest.raises(WeightsError, match=r"lacks \['files', 'kind', 'path'"):
        load_manifest(tmp_path / MANIFEST_NAME)
    entries = {"config.json": {"size": 10}}
    content = {"name": "x", "kind": "pose", "source": {"local_path": "/x"}, "path": "/x"}
    (tmp_path / MANIFEST_NAME).write_text(
        json.dumps({**content, "weights_file": "model.safetensors", "files": entries})
    )
    with pytest.raises(WeightsError, match=r"records 'config.json' as \{'size': 10\}"):
        load_manifest(tmp_path / MANIFEST_NAME)


# --- the hub: cache, offline, unreachable --------------------------------------------------


def forbid_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("the hub was contacted")

    monkeypatch.setattr("huggingface_hub.HfApi.model_info", fail)


@pytest.mark.parametrize("offline", [True, False])
def test_fetch_from_hf_cache(
    checkpoints: dict[str, Path],
    hub_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    offline: bool,
) -> None:
    commit = fill_hf_cache(hub_env, SYNTHPOSE_REPO, "main", checkpoints["anatomical"])
    if offline:
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    forbid_network(monkeypatch)
    dest = tmp_path / "resources" / "synthpose"
    manifest = load_manifest(fetch_weights(hub_spec(), dest, marker_set="anatomical"))
    assert manifest.commit == commit
    assert manifest.source == {"repo_id": SYNTHPOSE_REPO, "revision": "main"}
    assert manifest.path == (dest / "checkpoint").resolve()
    assert manifest.num_keypoints == 52
    for name, entry in manifest.files.items():
        assert sha256_of(dest / "checkpoint" / name) == entry.sha256
        assert entry.sha256 == sha256_of(checkpoints["anatomical"] / name)
    # A verified manifest is kept as it is: no cache or hub needed any more.
    shutil.rmtree(hub_env)
    before = (dest / MANIFEST_NAME).read_bytes()
    assert fetch_weights(hub_spec(), dest).read_bytes() == before


def test_fetch_detector_at_pinned_commit_from_cache(
    checkpoints: dict[str, Path], hub_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill_hf_cache(hub_env, DETECTOR_REPO, DETECTOR_COMMIT, checkpoints["detector"])
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = WeightsSpec.from_config(
        "rtdetr-r50", "detector", {"repo_id": DETECTOR_REPO, "revision": DETECTOR_COMMIT}
    )
    manifest = load_manifest(fetch_weights(spec, tmp_path / "rtdetr-r50"))
    assert (manifest.kind, manifest.commit) == ("detector", DETECTOR_COMMIT)
    assert manifest.num_keypoints is None
    assert "num_keypoints" not in json.loads((tmp_path / "rtdetr-r50" / MANIFEST_NAME).read_text())


def assert_manual_guidance(message: str, dest: Path) -> None:
    assert "model 'synthpose'" in message
    assert f"{SYNTHPOSE_REPO} at revision main" in message
    assert (
        f"hf download {SYNTHPOSE_REPO} config.json preprocessor_config.json model.safetensors "
        f"--revision main --local-dir {dest / 'checkpoint'}"
    ) in message
    assert "set weights.local_path of 'synthpose'" in message


def test_offline_and_absent_fails_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    forbid_network(monkeypatch)
    dest = tmp_path / "synthpose"
    start = time.monotonic()
    with pytest.raises(WeightsError, match="HF_HUB_OFFLINE is set") as error:
        fetch_weights(hub_spec(), dest)
    assert time.monotonic() - start < 5
    assert_manual_guidance(str(error.value), dest)
    assert not (dest / MANIFEST_NAME).exists()


def test_unreachable_hub_fails_at_once(tmp_path: Path) -> None:
    dest = tmp_path / "synthpose"
    start = time.monotonic()
    unreachable = r"the hub \(http://127.0.0.1:9\) is unreachable"
    with pytest.raises(WeightsError, match=unreachable) as error:
        fetch_weights(hub_spec(), dest)
    assert time.monotonic() - start < 5
    assert_manual_guidance(str(error.value), dest)


def test_incomplete_cache_entry_is_not_used(
    checkpoints: dict[str, Path], hub_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cache entry holding only config.json (a config looked up earlier) is not enough."""
    partial = tmp_path / "config-only"
    partial.mkdir()
    shutil.copyfile(checkpoints["anatomical"] / "config.json", partial / "config.json")
    fill_hf_cache(hub_env, SYNTHPOSE_REPO, "main", partial)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsError, match="not in the Hugging Face cache"):
        fetch_weights(hub_spec(), tmp_path / "synthpose")


def test_manual_download_is_used_offline(
    checkpoints: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The files copied to <dest>/checkpoint, as the error message says, are accepted."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    dest = tmp_path / "synthpose"
    copy_checkpoint(checkpoints["anatomical"], dest / "checkpoint")
    manifest = load_manifest(fetch_weights(hub_spec(), dest, marker_set="anatomical"))
    assert manifest.commit is None  # a branch: the commit of the copied files is unknown
    assert manifest.path == (dest / "checkpoint").resolve()


def test_fetch_rejects_wrong_marker_set(
    checkpoints: dict[str, Path], hub_env: Path, tmp_path: Path
) -> None:
    fill_hf_cache(hub_env, SYNTHPOSE_REPO, "main", checkpoints["coco17"])
    with pytest.raises(WeightsError, match="predicts 17 keypoints"):
        fetch_weights(hub_spec(), tmp_path / "synthpose", marker_set="anatomical")
    assert not (tmp_path / "synthpose" / MANIFEST_NAME).exists()


# --- posebench verify-models ---------------------------------------------------------------


def write_config(path: Path, models: dict[str, dict[str, object]], detectors: dict) -> Path:
    config = {"run": {"datasets": ["d"], "models": list(models)}, "models": models}
    config["detectors"] = detectors
    path.write_text(yaml.safe_dump(config))
    return path


def verify_models(configfile: Path, resources: Path) -> tuple[int, dict[str, str]]:
    """Exit code and {model: its output line} of `posebench verify-models`."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(
            ["verify-models", "--configfile", str(configfile), "--resources", str(resources)]
        )
    header, *lines = out.getvalue().splitlines()
    assert header.split()[:3] == ["model", "backend", "marker"]
    return code, {line.split()[0]: line for line in lines}


def test_verify_models_cli(
    checkpoints: dict[str, Path], hub_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    resources = tmp_path / "resources" / "models"
    detector = {"rtdetr-r50": {"weights": {"repo_id": DETECTOR_REPO, "revision": DETECTOR_COMMIT}}}
    synthpose = {"repo_id": SYNTHPOSE_REPO, "revision": "main"}
    models: dict[str, dict[str, object]] = {
        "mediapipe-blazepose": {"backend": "mediapipe", "marker_set": "blazepose"},
        "local-anatomical": {
            "backend": "vitpose",
            "marker_set": "anatomical",
            "weights": {"local_path": str(checkpoints["anatomical"])},
            "detector": "rtdetr-r50",
        },
    }
    # The detector's weights were fetched (from the cache, offline).
    fill_hf_cache(hub_env, DETECTOR_REPO, DETECTOR_COMMIT, checkpoints["detector"])
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    fetch_weights(
        WeightsSpec.from_config("rtdetr-r50", "detector", detector["rtdetr-r50"]["weights"]),
        resources / "rtdetr-r50",
    )
    forbid_network(monkeypatch)
    ready = write_config(tmp_path / "ready.yaml", models, detector)
    code, rows = verify_models(ready, resources)
    assert code == 0
    assert rows["mediapipe-blazepose"].rstrip().endswith("ready (no weights)")
    assert "33" in rows["mediapipe-blazepose"]
    assert rows["local-anatomical"].rstrip().endswith("ready")
    assert str(checkpoints["anatomical"]) in rows["local-anatomical"]
    assert " 52 " in rows["local-anatomical"]
    assert rows["rtdetr-r50"].rstrip().endswith("ready")
    assert f"{DETECTOR_REPO}@{DETECTOR_COMMIT}" in rows["rtdetr-r50"]
    assert str((resources / "rtdetr-r50" / "checkpoint").resolve()) in rows["rtdetr-r50"]

    models["hub-missing"] = {"backend": "vitpose", "marker_set": "anatomical", "weights": synthpose}
    models["wrong-marker-set"] = {
        "backend": "vitpose",
        "marker_set": "anatomical",
        "weights": {"local_path": str(checkpoints["coco17"])},
    }
    models["absent-folder"] = {
        "backend": "vitpose",
        "marker_set": "coco17",
        "weights": {"local_path": str(tmp_path / "nowhere")},
    }
    mixed = write_config(tmp_path / "mixed.yaml", models, detector)
    code, rows = verify_models(mixed, resources)
    assert code == 1
    manifest = resources / "hub-missing" / MANIFEST_NAME
    command = f"snakemake -c1 --configfile {mixed} {manifest}"
    assert rows["hub-missing"].endswith(f"missing (run: {command})")
    assert f"{SYNTHPOSE_REPO}@main" in rows["hub-missing"]
    assert "invalid: Checkpoint" in rows["wrong-marker-set"]
    mismatch = "predicts 17 keypoints but marker set 'anatomical' expects 52"
    assert mismatch in rows["wrong-marker-set"]
    assert f"missing (no folder {tmp_path / 'nowhere'}" in rows["absent-folder"]
    assert rows["mediapipe-blazepose"].rstrip().endswith("ready (no weights)")
    # Nothing was downloaded.
    assert not (resources / "hub-missing").exists()


def test_verify_models_detects_broken_download(
    checkpoints: dict[str, Path], hub_env: Path, tmp_path: Path
) -> None:
    resources = tmp_path / "resources"
    fill_hf_cache(hub_env, SYNTHPOSE_REPO, "main", checkpoints["anatomical"])
    synthpose = {"repo_id": SYNTHPOSE_REPO, "revision": "main"}
    fetch_weights(hub_spec("synthpose"), resources / "synthpose", marker_set="anatomical")
    weights = resources / "synthpose" / "checkpoint" / "model.safetensors"
    os.truncate(weights, 1000)
    config = write_config(
        tmp_path / "c.yaml",
        {"synthpose": {"backend": "vitpose", "marker_set": "anatomical", "weights": synthpose}},
        {},
    )
    code, rows = verify_models(config, resources)
    assert code == 1
    assert f"invalid: {weights} changed since" in rows["synthpose"]


def test_keypoint_names_match_across_spellings(tmp_path: Path) -> None:
    """Hugging Face's COCO ViTPose configs spell keypoints `Nose`, `L_Eye`, `R_Shoulder`."""
    from posebench.skeletons import COCO_KEYPOINTS

    hub_style = [
        "_".join(
            part.capitalize()
            for part in name.replace("left_", "L_").replace("right_", "R_").split("_")
        )
        for name in COCO_KEYPOINTS
    ]
    assert hub_style[:3] == ["Nose", "L_Eye", "R_Eye"]
    path = build_vitpose(tmp_path / "coco", 17, keypoint_names=hub_style)
    assert verify_checkpoint(path, kind="pose", marker_set="coco17").num_keypoints == 17
