"""OpenMMLab checkpoints (weights format "openmmlab"): specs, verification of MMPose and
MMDetection folders, URL downloads (from a local HTTP server in a thread), fetching from a
URL or the Hugging Face cache, manifests and `posebench verify-models`.

Checkpoints come from the real configs shipped in the mmpose / mmdet wheels: one random
HRNet-W48 DARK (255 MB) is built per session; other tests save small state dicts holding
only the tensors verification reads. No real host is contacted.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import logging
import os
import re
import shutil
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("mmengine")

import torch
import yaml
from huggingface_hub import constants
from mmengine.config import Config

from file_server import FileServer, serve_files
from posebench.cli import main
from posebench.io.hashing import sha256_of
from posebench.weights import fetch_weights, load_manifest, verify_checkpoint
from posebench.weights.download import download_file, part_file
from posebench.weights.manifest import Manifest
from posebench.weights.openmmlab import resolve_config
from posebench.weights.spec import (
    MANIFEST_NAME,
    WeightsError,
    WeightsSpec,
    name_hash_prefix,
    weights_format,
)

pytestmark = pytest.mark.openmmlab

HRNET_CONFIG = (
    "mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w48_dark-8xb32-210e_coco-384x288.py"
)
FASTER_RCNN_CONFIG = "mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py"
CASCADE_RCNN_CONFIG = "mmdet::cascade_rcnn/cascade-rcnn_r50_fpn_1x_coco.py"
HUB_REPO = "stanfordmimi/synthpose-hrnet-48-mmpose"
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens
HEAD = "head.final_layer.weight"


def load_config(reference: str) -> Any:
    return Config.fromfile(str(resolve_config(reference, "test")))


@dataclass
class Hrnet:
    """The session's HRNet-W48 DARK checkpoints and the pieces small ones are made of."""

    folder: Path  # config.py + a .pth (zip format, MMPose 1.x keys, dataset meta)
    legacy: Path  # config.py + a .pth (legacy format, MMPose 0.x keys)
    config: Any
    dataset_meta: dict[str, Any]


@pytest.fixture(scope="session")
def hrnet(hrnet_coco17: Path, hrnet_coco17_legacy: Path) -> Hrnet:
    """The session's random HRNet-W48 checkpoints (conftest.py), with their config and
    dataset meta."""
    from posebench.io.torch_checkpoint import load_checkpoint

    meta = load_checkpoint(next(hrnet_coco17.glob("*.pth")), mmap=True)["meta"]
    config = Config.fromfile(str(hrnet_coco17 / "config.py"))
    return Hrnet(hrnet_coco17, hrnet_coco17_legacy, config, meta["dataset_meta"])


def small_pose_folder(
    hrnet: Hrnet,
    folder: Path,
    head_channels: int | None = 17,
    *,
    out_channels: int = 17,
    name: str = "pose.pth",
) -> Path:
    """A folder with the HRNet config (head of `out_channels`) and a .pth holding only a
    head of `head_channels` (none if None) and the dataset meta."""
    folder.mkdir(parents=True, exist_ok=True)
    config = hrnet.config.copy()
    config.model.head.out_channels = out_channels
    config.dump(str(folder / "config.py"))
    state = {"backbone.conv1.weight": torch.zeros(64, 3, 3, 3)}
    if head_channels is not None:
        state[HEAD] = torch.zeros(head_channels, 48, 1, 1)
    torch.save({"state_dict": state, "meta": {"dataset_meta": hrnet.dataset_meta}}, folder / name)
    return folder


def detector_folder(
    folder: Path,
    reference: str = FASTER_RCNN_CONFIG,
    *,
    num_classes: int | None = None,
    meta: dict[str, Any] | None = None,
) -> Path:
    """A detector folder: the config (bbox head edited to `num_classes`) and a small .pth."""
    folder.mkdir(parents=True, exist_ok=True)
    config = load_config(reference)
    if num_classes is not None:
        config.model.roi_head.bbox_head.num_classes = num_classes
    config.dump(str(folder / "config.py"))
    checkpoint: dict[str, Any] = {
        "state_dict": {"roi_head.bbox_head.fc_cls.weight": torch.zeros(81, 8)}
    }
    if meta is not None:
        checkpoint["meta"] = meta
    torch.save(checkpoint, folder / "detector.pth")
    return folder


# --- a local HTTP server -------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[FileServer]:
    with serve_files() as files:
        yield files


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Network allowed, no proxy for the local server, an empty Hugging Face cache and an
    unreachable hub; returns the cache folder."""
    for name in ("POSEBENCH_OFFLINE", "HF_HUB_OFFLINE", "POSEBENCH_DOWNLOAD_TIMEOUT", "HF_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    cache = tmp_path / "hf-cache"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_ENDPOINT", UNREACHABLE)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    return cache


def payload(size: int = 300_000) -> bytes:
    return bytes(range(256)) * (size // 256) + b"tail"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- specs -----------------------------------------------------------------------------------


def test_weights_format_follows_the_backend() -> None:
    assert [weights_format(b) for b in ("mmpose", "mmdet", "vitpose", "transformers")] == [
        "openmmlab",
        "openmmlab",
        "transformers",
        "transformers",
    ]
    assert name_hash_prefix("hrnet_w48_coco_384x288_dark-e881a4b6_20210203.pth") == "e881a4b6"
    assert name_hash_prefix("faster_rcnn_r50_fpn_1x_coco_20200130-047c8118.pth") == "047c8118"
    assert name_hash_prefix("hrnet-w48_dark.pth") is None


def test_spec_from_config_openmmlab() -> None:
    url = "https://download.openmmlab.com/mmdetection/v2.0/faster_rcnn/faster_rcnn_r50_fpn_1x_coco_20200130-047c8118.pth"
    section = {"url": url, "sha256": "047c8118", "config": FASTER_RCNN_CONFIG}
    spec = WeightsSpec.from_config("faster-rcnn", "detector", section, "openmmlab")
    assert (spec.format, spec.url, spec.sha256, spec.config) == (
        "openmmlab",
        url,
        "047c8118",
        FASTER_RCNN_CONFIG,
    )
    assert spec.source == url
    assert spec.manifest_source() == section
    hub = WeightsSpec.from_config(
        "synthpose-hrnet",
        "pose",
        {"repo_id": HUB_REPO, "revision": "main", "checkpoint": "hrnet-w48_dark.pth"},
        "openmmlab",
    )
    assert hub.manifest_source() == {
        "repo_id": HUB_REPO,
        "revision": "main",
        "checkpoint": "hrnet-w48_dark.pth",
    }
    local = WeightsSpec.from_config("m", "pose", {"local_path": "~/hrnet"}, "openmmlab")
    assert (local.local_path, local.config) == (Path.home() / "hrnet", None)
    # Transformers specs are unchanged (the default format).
    assert WeightsSpec.from_config("m", "pose", {"repo_id": "a/b", "revision": "main"}).format == (
        "transformers"
    )


URL = "https://example.org/models/hrnet_w48_coco_384x288_dark-e881a4b6_20210203.pth"


@pytest.mark.parametrize(
    ("format", "section", "message"),
    [
        ("transformers", {"url": URL, "sha256": "e881a4b6", "config": "x.py"}, "OpenMMLab"),
        ("openmmlab", {"url": URL, "repo_id": "a/b", "revision": "main"}, "exactly one of url"),
        ("openmmlab", {"url": URL, "config": HRNET_CONFIG}, "needs sha256"),
        ("openmmlab", {"url": URL, "sha256": 88140001, "config": HRNET_CONFIG}, "Quote it"),
        ("openmmlab", {"url": URL, "sha256": "e881a4", "config": HRNET_CONFIG}, "8 to 64"),
        ("openmmlab", {"url": URL, "sha256": "0123abcd", "config": HRNET_CONFIG}, "contradicts"),
        ("openmmlab", {"url": URL, "sha256": "e881a4b6"}, "needs config"),
        ("openmmlab", {"url": URL, "sha256": "e881a4b6", "config": "mmfoo::x.py"}, "needs config"),
        ("openmmlab", {"url": "ftp://x/y.pth", "sha256": "e881a4b6", "config": "x.py"}, "http"),
        ("openmmlab", {"url": "https://x/y.bin", "sha256": "e881a4b6", "config": "x.py"}, ".pth"),
        (
            "openmmlab",
            {"url": URL, "sha256": "e881a4b6", "config": "x.py", "revision": "main"},
            "remove",
        ),
        ("openmmlab", {"local_path": "/x", "checkpoint": "a.pth"}, "where none apply"),
        ("openmmlab", {"local_path": "/x", "config": "a.py"}, "where none apply"),
        (
            "openmmlab",
            {"repo_id": "a/b", "revision": "main", "config": "c.json"},
            "not the name of a .py",
        ),
    ],
)
def test_spec_errors_openmmlab(format: Any, section: dict[str, Any], message: str) -> None:
    with pytest.raises(WeightsError, match=message):
        WeightsSpec.from_config("m", "pose", section, format)


def test_prefix_in_the_file_name_must_agree() -> None:
    digest = sha256(b"x")
    section = {"url": URL, "sha256": digest, "config": HRNET_CONFIG}
    with pytest.raises(WeightsError) as error:
        WeightsSpec.from_config("hrnet", "pose", section, "openmmlab")
    assert f"sha256 {digest!r} contradicts the SHA-256 prefix 'e881a4b6'" in str(error.value)


# --- verification ----------------------------------------------------------------------------


def test_local_path_hrnet(hrnet: Hrnet, tmp_path: Path) -> None:
    info = verify_checkpoint(hrnet.folder, kind="pose", marker_set="coco17", format="openmmlab")
    assert (info.model_type, info.num_keypoints) == ("TopdownPoseEstimator", 17)
    assert (info.config_file, info.weights_file) == ("config.py", "hrnet.pth")
    assert zipfile.is_zipfile(hrnet.folder / "hrnet.pth")
    spec = WeightsSpec.from_config("hrnet", "pose", {"local_path": str(hrnet.folder)}, "openmmlab")
    manifest_path = fetch_weights(spec, tmp_path / "dest", marker_set="coco17")
    assert sorted(p.name for p in (tmp_path / "dest").iterdir()) == [MANIFEST_NAME]  # no copy
    raw = json.loads(manifest_path.read_text())
    assert raw["format"] == "openmmlab" and raw["config_file"] == "config.py"
    assert raw["source"] == {"local_path": str(hrnet.folder.resolve())}
    assert (raw["model_type"], raw["num_keypoints"], raw["weights_file"]) == (
        "TopdownPoseEstimator",
        17,
        "hrnet.pth",
    )
    for name in ("config.py", "hrnet.pth"):
        path = hrnet.folder / name
        assert raw["files"][name] == {"size": path.stat().st_size, "sha256": sha256_of(path)}
    assert sorted(raw["files"]) == ["config.py", "hrnet.pth"]
    assert load_manifest(manifest_path).path == hrnet.folder.resolve()
    assert Manifest.from_json(raw, manifest_path).to_json() == raw


def test_legacy_format_with_mmpose0_keys(hrnet: Hrnet) -> None:
    """OpenMMLab's released checkpoints: PyTorch's legacy (non-zip) format, `keypoint_head.`."""
    path = hrnet.legacy / "hrnet_legacy.pth"
    assert not zipfile.is_zipfile(path)
    info = verify_checkpoint(hrnet.legacy, kind="pose", marker_set="coco17", format="openmmlab")
    assert (info.num_keypoints, info.weights_file) == (17, "hrnet_legacy.pth")


def test_keypoint_count_mismatch(hrnet: Hrnet, tmp_path: Path) -> None:
    folder = small_pose_folder(hrnet, tmp_path / "coco17")
    with pytest.raises(WeightsError) as error:
        verify_checkpoint(folder, kind="pose", marker_set="anatomical", format="openmmlab")
    message = str(error.value)
    assert f"Checkpoint {folder} predicts 17 keypoints" in message
    assert "'anatomical' expects 52" in message and "pick marker_set: coco17" in message
    anatomical = small_pose_folder(hrnet, tmp_path / "anatomical", 52, out_channels=52)
    info = verify_checkpoint(anatomical, kind="pose", marker_set="anatomical", format="openmmlab")
    assert info.num_keypoints == 52


def test_head_disagrees_with_config(hrnet: Hrnet, tmp_path: Path) -> None:
    folder = small_pose_folder(hrnet, tmp_path / "mixed", 52, out_channels=17)
    with pytest.raises(WeightsError) as error:
        verify_checkpoint(folder, kind="pose", format="openmmlab")
    message = str(error.value)
    assert "config.py declares 17 keypoints (model.head.out_channels)" in message
    assert "pose.pth has a 52-channel head (head.final_layer.weight)" in message
    assert "different models" in message


def test_keypoints_from_config_without_head_weights(hrnet: Hrnet, tmp_path: Path) -> None:
    folder = small_pose_folder(hrnet, tmp_path / "headless", None)
    info = verify_checkpoint(folder, kind="pose", marker_set="coco17", format="openmmlab")
    assert info.num_keypoints == 17


def test_folder_needs_one_config_and_one_pth(hrnet: Hrnet, tmp_path: Path) -> None:
    folder = small_pose_folder(hrnet, tmp_path / "two")
    shutil.copyfile(folder / "pose.pth", folder / "other.pth")
    with pytest.raises(WeightsError, match=r"holds 2 \.pth files \['other.pth', 'pose.pth'\]"):
        verify_checkpoint(folder, kind="pose", format="openmmlab")
    (folder / "other.pth").unlink()
    (folder / "pose.pth").unlink()
    with pytest.raises(WeightsError, match=r"lacks a PyTorch checkpoint \(\.pth\)"):
        verify_checkpoint(folder, kind="pose", format="openmmlab")
    folder = small_pose_folder(hrnet, tmp_path / "named")
    (folder / "config.py").rename(folder / "hrnet.py")
    shutil.copyfile(folder / "hrnet.py", folder / "other.py")
    # weights.config does not apply to a local folder: the only way out is one .py.
    with pytest.raises(
        WeightsError, match=r"holds 2 \.py files .* ambiguous .*: remove the others"
    ):
        verify_checkpoint(folder, kind="pose", format="openmmlab")
    (folder / "other.py").unlink()
    info = verify_checkpoint(folder, kind="pose", format="openmmlab")
    assert info.config_file == "hrnet.py"
    with pytest.raises(WeightsError, match="does not exist"):
        verify_checkpoint(tmp_path / "nowhere", kind="pose", format="openmmlab")


def test_unreadable_pth(hrnet: Hrnet, tmp_path: Path) -> None:
    folder = small_pose_folder(hrnet, tmp_path / "broken")
    weights = folder / "pose.pth"
    os.truncate(weights, weights.stat().st_size // 2)
    with pytest.raises(WeightsError, match="not a complete PyTorch checkpoint") as error:
        verify_checkpoint(folder, kind="pose", format="openmmlab")
    assert str(weights) in str(error.value) and "re-run fetch_weights" in str(error.value)
    for legacy in (False, True):
        torch.save(
            {"state_dict": {HEAD: torch.zeros(17, 48, 1, 1)}, "args": argparse.Namespace(a=1)},
            weights,
            _use_new_zipfile_serialization=not legacy,
        )
        with pytest.raises(WeightsError, match=r"refuses: \['argparse.Namespace'\]"):
            verify_checkpoint(folder, kind="pose", format="openmmlab")


def test_config_that_does_not_load(
    hrnet: Hrnet, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = small_pose_folder(hrnet, tmp_path / "bad-config")
    (folder / "config.py").write_text("model = dict(type='X'\n")
    with pytest.raises(WeightsError, match="does not load with mmengine's Config.fromfile"):
        verify_checkpoint(folder, kind="pose", format="openmmlab")
    (folder / "config.py").write_text("x = 1\n")
    with pytest.raises(WeightsError, match="defines no `model` with a `type`"):
        verify_checkpoint(folder, kind="pose", format="openmmlab")
    monkeypatch.setitem(__import__("sys").modules, "mmengine.config", None)
    with pytest.raises(WeightsError, match="not installed: run `make setup-mmpose`"):
        verify_checkpoint(folder, kind="pose", format="openmmlab")


@pytest.mark.parametrize(
    ("reference", "num_classes", "meta"),
    [
        (FASTER_RCNN_CONFIG, None, None),
        (CASCADE_RCNN_CONFIG, None, None),
        (FASTER_RCNN_CONFIG, 3, {"dataset_meta": {"classes": ("car", "person", "bike")}}),
        (FASTER_RCNN_CONFIG, None, {"CLASSES": ("person", "bicycle")}),  # MMDetection 2.x
    ],
)
def test_detector_ok(
    tmp_path: Path, reference: str, num_classes: int | None, meta: dict[str, Any] | None
) -> None:
    folder = detector_folder(tmp_path / "det", reference, num_classes=num_classes, meta=meta)
    info = verify_checkpoint(folder, kind="detector", format="openmmlab")
    expected = "CascadeRCNN" if reference == CASCADE_RCNN_CONFIG else "FasterRCNN"
    assert (info.model_type, info.num_keypoints) == (expected, None)


def test_detector_errors(tmp_path: Path) -> None:
    folder = detector_folder(tmp_path / "three", num_classes=3)
    with pytest.raises(WeightsError) as error:
        verify_checkpoint(folder, kind="detector", format="openmmlab")
    assert "does not list its classes" in str(error.value)
    assert "num_classes [3], not 80" in str(error.value)
    meta = {"dataset_meta": {"classes": ("cat", "dog")}}
    folder = detector_folder(tmp_path / "animals", meta=meta)
    with pytest.raises(WeightsError, match=r"have no 'person' \(found \['cat', 'dog'\]\)"):
        verify_checkpoint(folder, kind="detector", format="openmmlab")


# --- downloads -----------------------------------------------------------------------------


@pytest.mark.parametrize("full", [False, True])
def test_download(server: FileServer, tmp_path: Path, full: bool) -> None:
    data = payload()
    server.files["model.pth"] = data
    target = tmp_path / "checkpoint" / "model.pth"
    digest = sha256(data)
    download_file(server.url("model.pth"), target, sha256=digest if full else digest[:8], what="m")
    assert target.read_bytes() == data
    assert not part_file(target).exists()
    assert server.requests == [("/model.pth", None)]
    # In place with the right hash: accepted without a request.
    download_file(server.url("model.pth"), target, sha256=digest, what="m")
    assert len(server.requests) == 1


def test_download_hash_mismatch(server: FileServer, tmp_path: Path) -> None:
    server.files["model.pth"] = payload()
    target = tmp_path / "model.pth"
    with pytest.raises(WeightsError) as error:
        download_file(server.url("model.pth"), target, sha256="0badc0de", what="model 'm'")
    message = str(error.value)
    assert f"has SHA-256 {sha256(payload())}" in message
    assert "0badc0de (weights.sha256)" in message and "was deleted" in message
    assert not target.exists() and not part_file(target).exists()


def test_download_checks_the_prefix_in_the_file_name(server: FileServer, tmp_path: Path) -> None:
    data = payload()
    server.files["model-0badc0de.pth"] = data
    target = tmp_path / "model-0badc0de.pth"
    with pytest.raises(WeightsError) as error:
        download_file(server.url("model-0badc0de.pth"), target, sha256=sha256(data), what="m")
    message = str(error.value)
    assert f"{sha256(data)} (weights.sha256)" in message
    assert "0badc0de (the file name model-0badc0de.pth)" in message


def test_download_resumes_with_range(server: FileServer, tmp_path: Path) -> None:
    data = payload()
    server.files["model.pth"] = data
    target = tmp_path / "model.pth"
    part_file(target).write_bytes(data[:100_000])
    download_file(server.url("model.pth"), target, sha256=sha256(data)[:8], what="m")
    assert target.read_bytes() == data
    assert server.requests == [("/model.pth", "bytes=100000-")]


def test_download_starts_over_without_range_support(server: FileServer, tmp_path: Path) -> None:
    data = payload()
    server.files["model.pth"] = data
    server.ranges = False
    target = tmp_path / "model.pth"
    part_file(target).write_bytes(data[:100_000])
    download_file(server.url("model.pth"), target, sha256=sha256(data)[:8], what="m")
    assert target.read_bytes() == data
    assert server.requests == [("/model.pth", "bytes=100000-")]


def test_download_replaces_a_stale_part(server: FileServer, tmp_path: Path) -> None:
    """A .part of another file: the resumed digest is wrong, so it starts over once."""
    data = payload()
    server.files["model.pth"] = data
    target = tmp_path / "model.pth"
    part_file(target).write_bytes(b"x" * 100_000)
    download_file(server.url("model.pth"), target, sha256=sha256(data)[:8], what="m")
    assert target.read_bytes() == data
    assert server.requests == [("/model.pth", "bytes=100000-"), ("/model.pth", None)]
    # A .part already complete: the server answers 416 and the .part is used.
    target.rename(part_file(target))
    download_file(server.url("model.pth"), target, sha256=sha256(data)[:8], what="m")
    assert target.read_bytes() == data


@pytest.mark.parametrize("variable", ["POSEBENCH_OFFLINE", "HF_HUB_OFFLINE"])
def test_download_offline_fails_at_once(
    server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    data = payload()
    server.files["model.pth"] = data
    monkeypatch.setenv(variable, "1")
    target = tmp_path / "checkpoint" / "model.pth"
    url = server.url("model.pth")
    with pytest.raises(WeightsError) as error:
        download_file(url, target, sha256=sha256(data)[:8], what="model 'm'")
    message = str(error.value)
    assert f"{variable} is set" in message
    assert f"curl -L -C - -o {target} {url}" in message and f"sha256sum {target}" in message
    assert server.requests == []
    # The file downloaded by hand is accepted offline.
    target.parent.mkdir(parents=True)
    target.write_bytes(data)
    download_file(url, target, sha256=sha256(data)[:8], what="model 'm'")
    assert server.requests == []


def test_download_unreachable_or_missing(server: FileServer, tmp_path: Path) -> None:
    target = tmp_path / "model.pth"
    start = time.monotonic()
    with pytest.raises(WeightsError, match="is unreachable") as error:
        download_file(f"{UNREACHABLE}/model.pth", target, sha256="0badc0de", what="m")
    assert time.monotonic() - start < 5
    assert f"curl -L -C - -o {target} {UNREACHABLE}/model.pth" in str(error.value)
    with pytest.raises(WeightsError, match=r"answered 404 .* Fix weights.url"):
        download_file(server.url("absent.pth"), target, sha256="0badc0de", what="m")


def test_download_logs_progress(
    server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    monkeypatch.setattr("posebench.weights.download.PROGRESS_INTERVAL_S", 0.0)
    monkeypatch.setattr("posebench.weights.download.CHUNK_BYTES", 100_000)
    data = payload()
    server.files["model.pth"] = data
    with caplog.at_level(logging.INFO, logger="posebench.weights.download"):
        download_file(server.url("model.pth"), tmp_path / "m.pth", sha256=sha256(data), what="m")
    assert any(
        re.search(r"m.pth.part: [\d.]+ of 0.3 MB \([\d.]+ MB/s\)", r.message)
        for r in caplog.records
    )


# --- fetching ------------------------------------------------------------------------------


def test_resolve_config(tmp_path: Path) -> None:
    import mmpose

    path = resolve_config(HRNET_CONFIG, "m")
    configs = Path(mmpose.__file__).parent / ".mim" / "configs"
    assert path == configs / HRNET_CONFIG.removeprefix("mmpose::") and path.is_file()
    with pytest.raises(WeightsError, match="is not a config of the installed mmdet"):
        resolve_config("mmdet::faster_rcnn/no-such-config.py", "m")
    with pytest.raises(WeightsError, match="is not a file"):
        resolve_config(str(tmp_path / "missing.py"), "m")


def test_fetch_from_url(
    hrnet: Hrnet,
    server: FileServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: Any,
) -> None:
    source = small_pose_folder(hrnet, tmp_path / "source")
    data = (source / "pose.pth").read_bytes()
    name = f"hrnet_w48_coco_384x288_dark-{sha256(data)[:8]}_20210203.pth"
    server.files[name] = data
    section = {"url": server.url(name), "sha256": sha256(data)[:8], "config": HRNET_CONFIG}
    spec = WeightsSpec.from_config("hrnet", "pose", section, "openmmlab")
    dest = tmp_path / "resources" / "hrnet"
    # A file of another checkpoint, left in the folder, is removed.
    (dest / "checkpoint").mkdir(parents=True)
    (dest / "checkpoint" / "old.pth").write_bytes(b"old")
    manifest_path = fetch_weights(spec, dest, marker_set="coco17")
    checkpoint = dest / "checkpoint"
    assert sorted(p.name for p in checkpoint.iterdir()) == ["config.py", name]
    dumped = (checkpoint / "config.py").read_text()
    assert "_base_" not in dumped  # self-contained
    config = Config.fromfile(str(checkpoint / "config.py"))
    assert (config.model.type, config.model.head.out_channels) == ("TopdownPoseEstimator", 17)
    raw = json.loads(manifest_path.read_text())
    assert raw["source"] == section and raw["format"] == "openmmlab"
    assert (raw["path"], raw["commit"], raw["weights_file"]) == ("checkpoint", None, name)
    assert sorted(raw["files"]) == ["config.py", name]
    assert raw["files"][name]["sha256"] == sha256(data)
    manifest = load_manifest(manifest_path)
    assert manifest.path == checkpoint.resolve() and manifest.config_file == "config.py"
    assert Manifest.from_json(raw, manifest_path).to_json() == raw
    # Twice: nothing to do, no request, the same bytes.
    before = manifest_path.read_bytes()
    requests = len(server.requests)
    with caplog.at_level(logging.INFO, logger="posebench.weights"):
        assert fetch_weights(spec, dest, marker_set="coco17").read_bytes() == before
    assert any("nothing to do" in record.message for record in caplog.records)
    assert len(server.requests) == requests
    # Offline without a manifest: the file in place is used; the config is dumped again,
    # to the same bytes.
    manifest_path.unlink()
    monkeypatch.setenv("POSEBENCH_OFFLINE", "1")
    assert fetch_weights(spec, dest, marker_set="coco17").read_bytes() == before
    assert (checkpoint / "config.py").read_text() == dumped
    # The wrong marker set: no manifest.
    manifest_path.unlink()
    with pytest.raises(WeightsError, match="predicts 17 keypoints"):
        fetch_weights(spec, dest, marker_set="anatomical")
    assert not manifest_path.exists()


def test_fetch_from_url_with_a_config_file(
    hrnet: Hrnet, server: FileServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`config` as a path relative to the working directory; a detector."""
    source = detector_folder(tmp_path / "source")
    data = (source / "detector.pth").read_bytes()
    server.files["faster_rcnn.pth"] = data
    monkeypatch.chdir(source)
    section = {"url": server.url("faster_rcnn.pth"), "sha256": sha256(data), "config": "config.py"}
    spec = WeightsSpec.from_config("faster-rcnn", "detector", section, "openmmlab")
    manifest = load_manifest(fetch_weights(spec, tmp_path / "faster-rcnn"))
    assert (manifest.kind, manifest.model_type, manifest.num_keypoints) == (
        "detector",
        "FasterRCNN",
        None,
    )
    with pytest.raises(WeightsError, match="is not a file"):
        fetch_weights(
            WeightsSpec.from_config("x", "detector", {**section, "config": "no.py"}, "openmmlab"),
            tmp_path / "x",
        )
    assert server.requests == [("/faster_rcnn.pth", None)]  # the config is checked first


def test_fetch_from_hf_cache(
    hrnet: Hrnet, clean_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from model_factory import fill_hf_cache

    repo = small_pose_folder(hrnet, tmp_path / "repo", name="hrnet-w48_dark.pth")
    (repo / "config.py").rename(repo / "td-hm_hrnet-w48_dark-8xb32-210e_synthpose_inference.py")
    (repo / "README.md").write_text("SynthPose\n")
    commit = fill_hf_cache(clean_env, HUB_REPO, "main", repo)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = WeightsSpec.from_config(
        "synthpose-hrnet", "pose", {"repo_id": HUB_REPO, "revision": "main"}, "openmmlab"
    )
    dest = tmp_path / "resources" / "synthpose-hrnet"
    manifest = load_manifest(fetch_weights(spec, dest, marker_set="coco17"))
    assert (manifest.commit, manifest.format) == (commit, "openmmlab")
    assert manifest.source == {"repo_id": HUB_REPO, "revision": "main"}
    assert sorted(manifest.files) == ["config.py", "hrnet-w48_dark.pth"]
    assert sorted(p.name for p in (dest / "checkpoint").iterdir()) == [
        "config.py",
        "hrnet-w48_dark.pth",
    ]
    assert manifest.files["hrnet-w48_dark.pth"].sha256 == sha256_of(repo / "hrnet-w48_dark.pth")
    # Two .pth files in the repository: ambiguous unless weights.checkpoint names one.
    shutil.copyfile(repo / "hrnet-w48_dark.pth", repo / "other.pth")
    fill_hf_cache(clean_env, HUB_REPO, "v2", repo)
    spec = WeightsSpec.from_config(
        "synthpose-hrnet", "pose", {"repo_id": HUB_REPO, "revision": "v2"}, "openmmlab"
    )
    with pytest.raises(WeightsError, match="name the one to use as weights.checkpoint") as error:
        fetch_weights(spec, tmp_path / "v2")
    assert "'hrnet-w48_dark.pth', 'other.pth'" in str(error.value)
    section = {"repo_id": HUB_REPO, "revision": "v2", "checkpoint": "other.pth"}
    spec = WeightsSpec.from_config("synthpose-hrnet", "pose", section, "openmmlab")
    assert load_manifest(fetch_weights(spec, tmp_path / "v2")).weights_file == "other.pth"


def test_hub_offline_and_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = WeightsSpec.from_config(
        "synthpose-hrnet", "pose", {"repo_id": HUB_REPO, "revision": "main"}, "openmmlab"
    )
    with pytest.raises(WeightsError) as error:
        fetch_weights(spec, tmp_path / "synthpose-hrnet")
    message = str(error.value)
    assert (
        f"hf download {HUB_REPO} --include '*.py' '*.pth' --revision main "
        f"--local-dir {tmp_path / 'synthpose-hrnet' / 'hub'}"
    ) in message
    assert "one MMEngine config (.py) and one PyTorch checkpoint (.pth)" in message


def test_transformers_manifest_has_no_format_key(tmp_path: Path) -> None:
    manifest = Manifest(
        name="m",
        kind="pose",
        source={"repo_id": "a/b", "revision": "main"},
        commit=None,
        path=Path("checkpoint"),
        model_type="vitpose",
        weights_file="model.safetensors",
        files={},
    )
    assert "format" not in manifest.to_json() and "config_file" not in manifest.to_json()


# --- posebench verify-models ---------------------------------------------------------------


def test_verify_models_cli(hrnet: Hrnet, tmp_path: Path) -> None:
    detector = detector_folder(tmp_path / "faster-rcnn")
    config = {
        "run": {"datasets": ["d"], "models": ["hrnet", "hrnet-wrong"]},
        "models": {
            "hrnet": {
                "backend": "mmpose",
                "marker_set": "coco17",
                "weights": {"local_path": str(hrnet.folder)},
                "detector": "faster-rcnn",
            },
            "hrnet-wrong": {
                "backend": "mmpose",
                "marker_set": "anatomical",
                "weights": {"local_path": str(hrnet.folder)},
                "detector": "faster-rcnn",
            },
        },
        "detectors": {
            "faster-rcnn": {"backend": "mmdet", "weights": {"local_path": str(detector)}}
        },
    }
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(
            ["verify-models", "--configfile", str(configfile), "--resources", str(tmp_path)]
        )
    rows = {line.split()[0]: line for line in out.getvalue().splitlines()[1:]}
    assert code == 1
    assert rows["hrnet"].rstrip().endswith("ready") and " 17 " in rows["hrnet"]
    assert rows["faster-rcnn"].rstrip().endswith("ready")
    assert "predicts 17 keypoints but marker set 'anatomical' expects 52" in rows["hrnet-wrong"]
