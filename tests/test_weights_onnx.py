"""ONNX checkpoints (weights format "onnx", backends rtmpose and yolox): specs, fetching
OpenMMLab's zip archives and bare `.onnx` files from a local HTTP server (resumed, SHA-256
checked or trusted on first use, extracted safely), verification of the models' inputs
and outputs with onnxruntime, manifests, and the registry entries of config/config.yaml.

The models are tiny random ONNX graphs with the real input and output names and shapes
(`onnx.helper`); no real host is contacted.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import stat
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

# onnx builds the test models (the `test` extra); CI installs every extra, so there a
# missing onnx fails the collection instead of skipping the tests.
if os.environ.get("CI", "").lower() != "true":
    pytest.importorskip("onnx")
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from file_server import FileServer, serve_files  # noqa: E402
from onnx_factory import MODEL_FILE, build_rtmpose, build_yolox  # noqa: E402
from posebench.markersets import get_marker_set  # noqa: E402
from posebench.weights import fetch_weights, load_manifest, verify_checkpoint  # noqa: E402
from posebench.weights.manifest import Manifest  # noqa: E402
from posebench.weights.onnx import extract_archive  # noqa: E402
from posebench.weights.spec import (  # noqa: E402
    MANIFEST_NAME,
    WeightsError,
    WeightsSpec,
    weights_format,
)

ROOT = Path(__file__).resolve().parents[1]
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: nothing listens
HALPE26 = len(get_marker_set("halpe26").keypoints)
# OpenMMLab's archives: `zip -r <name>.zip <date>/rtmpose_onnx/<name>` of MMDeploy's work dir.
ARCHIVE_FOLDER = "20230831/rtmpose_onnx/rtmpose-m_simcc-body7_pt-body7-halpe26"
SDK_FILES = ("deploy.json", "pipeline.json", "detail.json")


# --- tiny ONNX models with the real inputs and outputs (tests/onnx_factory.py) ----------


def _built(build: Any, *args: Any, **kwargs: Any) -> bytes:
    """The bytes of the `end2end.onnx` that an onnx_factory builder writes."""
    with tempfile.TemporaryDirectory() as folder:
        return (build(Path(folder) / "m", *args, **kwargs) / MODEL_FILE).read_bytes()


def pose_model(keypoints: int = HALPE26, size: tuple[int, int] = (12, 8), **kwargs: Any) -> bytes:
    """An RTMPose-like model for crops of `size` (height, width): `input` [batch, 3, H, W]
    -> `simcc_x` [batch, K, 2W], `simcc_y` [batch, K, 2H]."""
    height, width = size
    return _built(build_rtmpose, keypoints, input_size=(width, height), **kwargs)


def detector_model(size: int = 8, **kwargs: Any) -> bytes:
    """A YOLOX-like end-to-end model: `input` [1, 3, S, S] -> `dets` [1, N, 5], `labels`
    [1, N]."""
    dets = [[1, 2, 5, 6, 0.9], [0, 0, 3, 3, 0.4]]
    return _built(build_yolox, dets, [0, 0], input_size=(size, size), **kwargs)


def wide_detector_model() -> bytes:
    """A detector whose `dets` hold 6 numbers per box (not an MMDeploy end-to-end export)."""
    graph = helper.make_graph(
        [
            helper.make_node("ReduceMean", ["input"], ["mean"], axes=[1, 2, 3], keepdims=0),
            helper.make_node("Reshape", ["mean", "one"], ["scalar"]),
            helper.make_node("Expand", ["scalar", "dets_shape"], ["dets"]),
            helper.make_node("Cast", ["scalar"], ["label"], to=TensorProto.INT64),
            helper.make_node("Expand", ["label", "labels_shape"], ["labels"]),
        ],
        "wide",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 8, 8])],
        [
            helper.make_tensor_value_info("dets", TensorProto.FLOAT, [1, 4, 6]),
            helper.make_tensor_value_info("labels", TensorProto.INT64, [1, 4]),
        ],
        [
            numpy_helper.from_array(np.array([1], np.int64), "one"),
            numpy_helper.from_array(np.array([1, 4, 6], np.int64), "dets_shape"),
            numpy_helper.from_array(np.array([1, 4], np.int64), "labels_shape"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def sdk_archive(model: bytes, folder: str = ARCHIVE_FOLDER, **extra: bytes) -> bytes:
    """A zip laid out as OpenMMLab's ONNX archives: folder entries, then the model and
    MMDeploy's JSON files in `folder` (plus `extra` files, by relative name)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        parts = folder.split("/") if folder else []
        for depth in range(1, len(parts) + 1):
            archive.writestr("/".join(parts[:depth]) + "/", b"")
        prefix = f"{folder}/" if folder else ""
        archive.writestr(prefix + "end2end.onnx", model)
        for name in SDK_FILES:
            archive.writestr(prefix + name, json.dumps({"name": name}))
        for name, data in extra.items():
            archive.writestr(prefix + name, data)
    return buffer.getvalue()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def onnx_spec(url: str, digest: str | None, kind: Any = "pose", name: str = "rtm") -> WeightsSpec:
    return WeightsSpec.from_config(name, kind, {"url": url, "sha256": digest}, "onnx")


def local_spec(folder: Path, kind: Any = "pose", name: str = "rtm") -> WeightsSpec:
    return WeightsSpec.from_config(name, kind, {"local_path": str(folder)}, "onnx")


# --- a local HTTP server ------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[FileServer]:
    with serve_files("onnx_sdk/") as files:
        yield files


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Network allowed, and no proxy for the local server."""
    for name in ("POSEBENCH_OFFLINE", "HF_HUB_OFFLINE", "POSEBENCH_DOWNLOAD_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


@pytest.fixture(scope="module")
def halpe_model() -> bytes:
    return pose_model()


@pytest.fixture(scope="module")
def halpe_archive(halpe_model: bytes) -> bytes:
    return sdk_archive(halpe_model)


# --- specs --------------------------------------------------------------------------------


def test_weights_format_follows_the_backend() -> None:
    assert weights_format("rtmpose") == "onnx"
    assert weights_format("yolox") == "onnx"
    assert weights_format("mmpose") == "openmmlab"
    assert weights_format("vitpose") == "transformers"


def test_spec_from_config_onnx() -> None:
    url = "https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/onnx_sdk/m.zip"
    pinned = onnx_spec(url, "ab" * 32)
    assert (pinned.format, pinned.url, pinned.sha256) == ("onnx", url, "ab" * 32)
    assert not pinned.trust_on_first_use
    assert pinned.manifest_source() == {"url": url, "sha256": "ab" * 32}
    trusted = onnx_spec(url, None)
    assert trusted.trust_on_first_use
    assert trusted.manifest_source() == {"url": url}
    bare = onnx_spec("https://example.org/models/pose.onnx", "cd" * 32)
    assert bare.url is not None and bare.url.endswith(".onnx")
    local = local_spec(Path("/models/rtm"))
    assert local.local_path == Path("/models/rtm") and not local.trust_on_first_use


URL = "https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/onnx_sdk/rtmpose-m_simcc-body7_pt-body7-halpe26_700e-256x192-4d3e73dd_20230605.zip"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"url": URL}, "url needs sha256.*sha256: null"),
        ({"url": URL, "sha256": "4d3e73dd"}, "prefix of the SHA-256 of the .pth"),
        ({"url": URL, "sha256": "AB" * 32}, "64 lower-case hex digits"),
        ({"url": URL, "sha256": 12345678}, "not the full SHA-256"),
        ({"url": "ftp://host/m.zip", "sha256": None}, "not an http"),
        ({"url": "https://host/m.pth", "sha256": None}, "neither a .zip archive nor a .onnx"),
        ({"url": URL, "sha256": None, "config": "x.py"}, "unknown keys \\['config'\\]"),
        ({"repo_id": "a/b", "revision": "main"}, "unknown keys \\['repo_id', 'revision'\\]"),
        ({"url": URL, "sha256": None, "local_path": "/x"}, "exactly one of url or local_path"),
        ({"sha256": None}, "exactly one of url or local_path"),
        ({"local_path": "/x", "sha256": "ab" * 32}, "sets \\['sha256'\\] with local_path"),
    ],
)
def test_spec_errors_onnx(section: dict[str, Any], message: str) -> None:
    with pytest.raises(WeightsError, match=message):
        WeightsSpec.from_config("rtm", "pose", section, "onnx")


def test_transformers_backend_rejects_onnx_keys() -> None:
    with pytest.raises(WeightsError, match="OpenMMLab and ONNX checkpoints only"):
        WeightsSpec.from_config("m", "pose", {"url": URL, "sha256": None}, "transformers")


# --- verification -------------------------------------------------------------------------


def model_folder(folder: Path, *models: tuple[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in models:
        (folder / name).write_bytes(data)
    return folder


def test_verify_pose_model(halpe_model: bytes, tmp_path: Path) -> None:
    folder = model_folder(tmp_path / "m", ("end2end.onnx", halpe_model), ("deploy.json", b"{}"))
    info = verify_checkpoint(folder, kind="pose", marker_set="halpe26", format="onnx")
    assert (info.model_type, info.num_keypoints, info.weights_file) == ("simcc", 26, "end2end.onnx")
    assert info.input_size == (12, 8)
    # The same model under another name, with a fixed batch: still one .onnx.
    other = model_folder(tmp_path / "n", ("rtmpose.onnx", pose_model(batch=1)))
    assert verify_checkpoint(other, kind="pose", format="onnx").num_keypoints == 26


def test_verify_input_size_from_the_outputs(tmp_path: Path) -> None:
    """A model whose input height and width are dynamic: the SimCC lengths fix them."""
    model = pose_model(size=(12, 8))
    proto = onnx.load_from_string(model)
    for axis in (2, 3):
        proto.graph.input[0].type.tensor_type.shape.dim[axis].dim_param = f"d{axis}"
    folder = model_folder(tmp_path / "m", ("m.onnx", proto.SerializeToString()))
    assert verify_checkpoint(folder, kind="pose", format="onnx").input_size == (12, 8)


def test_verify_keypoint_count_against_the_marker_set(tmp_path: Path) -> None:
    folder = model_folder(tmp_path / "m", ("end2end.onnx", pose_model(keypoints=17)))
    with pytest.raises(WeightsError, match="predicts 17 keypoints but marker set 'halpe26'") as e:
        verify_checkpoint(folder, kind="pose", marker_set="halpe26", format="onnx")
    assert "pick marker_set: coco17" in str(e.value)
    info = verify_checkpoint(folder, kind="pose", marker_set="coco17", format="onnx")
    assert info.num_keypoints == 17


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            lambda: pose_model(output_names=("heatmaps", "simcc_y")),
            "returns heatmaps .*'simcc_x'",
        ),
        (lambda: pose_model(split_ratio=3), "simcc_y has 36 bins for an input 12 px in height"),
        (lambda: detector_model(), "'simcc_x' and 'simcc_y'"),
    ],
)
def test_verify_pose_model_errors(model: Any, message: str, tmp_path: Path) -> None:
    folder = model_folder(tmp_path / "m", ("end2end.onnx", model()))
    with pytest.raises(WeightsError, match=message) as error:
        verify_checkpoint(folder, kind="pose", format="onnx")
    assert str(folder / "end2end.onnx") in str(error.value)


def test_verify_corrupt_model(halpe_model: bytes, tmp_path: Path) -> None:
    for name, data in (("truncated", halpe_model[: len(halpe_model) // 2]), ("junk", b"x" * 99)):
        folder = model_folder(tmp_path / name, ("end2end.onnx", data))
        with pytest.raises(WeightsError, match="does not load with onnxruntime") as error:
            verify_checkpoint(folder, kind="pose", format="onnx")
        assert str(folder / "end2end.onnx") in str(error.value)
        assert "re-run fetch_weights" in str(error.value)


def test_verify_local_path_needs_exactly_one_onnx(halpe_model: bytes, tmp_path: Path) -> None:
    empty = model_folder(tmp_path / "empty", ("deploy.json", b"{}"))
    with pytest.raises(WeightsError, match="holds 0 .onnx files"):
        verify_checkpoint(empty, kind="pose", format="onnx")
    two = model_folder(tmp_path / "two", ("a.onnx", halpe_model), ("b.onnx", halpe_model))
    with pytest.raises(WeightsError, match=r"holds 2 .onnx files \['a.onnx', 'b.onnx'\]"):
        verify_checkpoint(two, kind="pose", format="onnx")
    with pytest.raises(WeightsError, match="does not exist"):
        verify_checkpoint(tmp_path / "missing", kind="pose", format="onnx")
    # fetch_weights verifies a local_path in place and records it.
    one = model_folder(tmp_path / "one", ("end2end.onnx", halpe_model))
    manifest = load_manifest(
        fetch_weights(local_spec(one), tmp_path / "dest", marker_set="halpe26")
    )
    assert manifest.path == one and manifest.source == {"local_path": str(one)}
    assert manifest.download is None and manifest.input_size == (12, 8)


def test_verify_detector(tmp_path: Path) -> None:
    folder = model_folder(tmp_path / "d", ("end2end.onnx", detector_model(size=16)))
    info = verify_checkpoint(folder, kind="detector", format="onnx")
    assert (info.model_type, info.num_keypoints, info.input_size) == ("dets", None, (16, 16))
    wrong = model_folder(tmp_path / "w", ("end2end.onnx", wide_detector_model()))
    with pytest.raises(WeightsError, match=r"dets is \[1, 4, 6\]"):
        verify_checkpoint(wrong, kind="detector", format="onnx")
    renamed = model_folder(
        tmp_path / "r", ("end2end.onnx", detector_model(output_names=("dets", "scores")))
    )
    with pytest.raises(WeightsError, match="returns dets .*, scores .*'dets' and 'labels'"):
        verify_checkpoint(renamed, kind="detector", format="onnx")
    pose = model_folder(tmp_path / "p", ("end2end.onnx", pose_model()))
    with pytest.raises(WeightsError, match="returns 'dets' and 'labels'"):
        verify_checkpoint(pose, kind="detector", format="onnx")


# --- archives -----------------------------------------------------------------------------


def test_extract_strips_the_folders_of_the_files(halpe_model: bytes, tmp_path: Path) -> None:
    for folder in (ARCHIVE_FOLDER, "one-folder", ""):
        archive = tmp_path / "a.zip"
        archive.write_bytes(sdk_archive(halpe_model, folder, **{"sub/extra.txt": b"x"}))
        target = tmp_path / f"out-{len(folder)}"
        target.mkdir()
        files = extract_archive(archive, target, "model 'm'")
        assert files == sorted(["end2end.onnx", *SDK_FILES, "sub/extra.txt"])
        assert (target / "end2end.onnx").read_bytes() == halpe_model


def unsafe_archive(name: str, *, symlink: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("m/end2end.onnx", b"model")
        info = zipfile.ZipInfo(name)
        if symlink:
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd" if symlink else "data")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("member", "symlink", "problem"),
    [
        ("m/../../evil.json", False, "a '..' component"),
        ("/tmp/evil.json", False, "an absolute path"),
        ("C:/evil.json", False, "an absolute path"),
        ("m\\..\\..\\evil.json", False, "a '..' component"),
        ("m/link.json", True, "a symbolic link"),
    ],
)
def test_extract_refuses_unsafe_members(
    member: str, symlink: bool, problem: str, tmp_path: Path
) -> None:
    archive = tmp_path / "a.zip"
    archive.write_bytes(unsafe_archive(member, symlink=symlink))
    target = tmp_path / "out" / "staging"
    target.mkdir(parents=True)
    with pytest.raises(WeightsError, match=f"member with {problem}"):
        extract_archive(archive, target, "model 'm'")
    assert not any(target.iterdir())
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["a.zip", "out", "staging"]


def test_extract_errors(halpe_model: bytes, tmp_path: Path) -> None:
    target = tmp_path / "out"
    target.mkdir()
    archive = tmp_path / "a.zip"
    archive.write_bytes(b"not a zip")
    with pytest.raises(WeightsError, match="not a readable zip archive"):
        extract_archive(archive, target, "m")
    archive.write_bytes(sdk_archive(halpe_model, **{"second.onnx": halpe_model}))
    with pytest.raises(
        WeightsError, match=r"holds 2 .onnx files \['end2end.onnx', 'second.onnx'\]"
    ):
        extract_archive(archive, target, "m")
    # A damaged member (stored, so that its bytes are found): its CRC-32 does not match.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as stored:
        stored.writestr("m/end2end.onnx", b"0123456789" * 100)
    data = buffer.getvalue().replace(b"0123456789", b"9876543210", 1)
    archive.write_bytes(data)
    with pytest.raises(WeightsError, match="Bad CRC-32.*corrupt"):
        extract_archive(archive, target, "m")


# --- fetching -----------------------------------------------------------------------------


def test_fetch_archive(server: FileServer, halpe_archive: bytes, tmp_path: Path) -> None:
    server.files["rtm.zip"] = halpe_archive
    spec = onnx_spec(server.url("rtm.zip"), sha256(halpe_archive))
    dest = tmp_path / "rtm"
    manifest_path = fetch_weights(spec, dest, marker_set="halpe26")
    checkpoint = dest / "checkpoint"
    assert sorted(path.name for path in checkpoint.iterdir()) == sorted(
        ["end2end.onnx", *SDK_FILES]
    )
    assert (dest / "rtm.zip").read_bytes() == halpe_archive  # kept for offline rebuilds
    content = json.loads(manifest_path.read_text())
    assert content["format"] == "onnx" and content["model_type"] == "simcc"
    assert content["source"] == {"url": spec.url, "sha256": sha256(halpe_archive)}
    assert content["num_keypoints"] == 26 and content["weights_file"] == "end2end.onnx"
    assert content["input_size"] == {"height": 12, "width": 8}
    assert content["download"] == {
        "file": "rtm.zip",
        "size": len(halpe_archive),
        "sha256": sha256(halpe_archive),
    }
    assert sorted(content["files"]) == sorted(["end2end.onnx", *SDK_FILES])
    assert "config_file" not in content and content["path"] == "checkpoint"
    # Round trip, and a second fetch does nothing (no request, same manifest bytes).
    manifest = load_manifest(manifest_path)
    assert Manifest.from_json(manifest.to_json(), manifest_path).to_json() == manifest.to_json()
    assert manifest.input_size == (12, 8) and manifest.path == checkpoint.resolve()
    requests, before = len(server.requests), manifest_path.read_bytes()
    fetch_weights(spec, dest, marker_set="halpe26")
    assert len(server.requests) == requests and manifest_path.read_bytes() == before
    # A damaged checkpoint is rebuilt from the archive in place, without network access.
    (checkpoint / "end2end.onnx").write_bytes(b"damaged")
    fetch_weights(spec, dest, marker_set="halpe26")
    assert len(server.requests) == requests
    assert manifest_path.read_bytes() == before


def test_fetch_wrong_sha256(server: FileServer, halpe_archive: bytes, tmp_path: Path) -> None:
    server.files["rtm.zip"] = halpe_archive
    dest = tmp_path / "rtm"
    with pytest.raises(WeightsError, match="does not start with") as error:
        fetch_weights(onnx_spec(server.url("rtm.zip"), "0" * 64), dest, marker_set="halpe26")
    assert sha256(halpe_archive) in str(error.value)
    assert not (dest / "checkpoint").exists() and not (dest / MANIFEST_NAME).exists()
    assert not (dest / "rtm.zip").exists() and not (dest / "rtm.zip.part").exists()


def test_fetch_resumes(server: FileServer, halpe_archive: bytes, tmp_path: Path) -> None:
    server.files["rtm.zip"] = halpe_archive
    dest = tmp_path / "rtm"
    dest.mkdir()
    (dest / "rtm.zip.part").write_bytes(halpe_archive[:1000])
    fetch_weights(onnx_spec(server.url("rtm.zip"), sha256(halpe_archive)), dest)
    assert server.requests == [("/onnx_sdk/rtm.zip", "bytes=1000-")]
    assert (dest / "rtm.zip").read_bytes() == halpe_archive
    assert (dest / "checkpoint" / "end2end.onnx").is_file()


def test_fetch_removes_stale_files(server: FileServer, halpe_model: bytes, tmp_path: Path) -> None:
    first = sdk_archive(halpe_model, **{"old.json": b"{}"})
    second = sdk_archive(pose_model(keypoints=26, size=(16, 12)))
    server.files.update({"first.zip": first, "second.zip": second})
    dest = tmp_path / "rtm"
    fetch_weights(onnx_spec(server.url("first.zip"), sha256(first)), dest)
    assert (dest / "checkpoint" / "old.json").is_file()
    (dest / "other.onnx.part").write_bytes(b"partial")
    (dest / ".checkpoint-new-crashed").mkdir()
    (dest / "notes.txt").write_text("kept")
    manifest = load_manifest(
        fetch_weights(onnx_spec(server.url("second.zip"), sha256(second)), dest)
    )
    assert sorted(path.name for path in dest.iterdir()) == sorted(
        ["checkpoint", "second.zip", MANIFEST_NAME, "notes.txt"]
    )
    assert not (dest / "checkpoint" / "old.json").exists()
    assert manifest.input_size == (16, 12)


def test_fetch_bare_onnx(server: FileServer, tmp_path: Path) -> None:
    model = detector_model(size=16)
    server.files["yolox.onnx"] = model
    spec = onnx_spec(server.url("yolox.onnx"), sha256(model), kind="detector", name="yolox")
    manifest = load_manifest(fetch_weights(spec, tmp_path / "yolox"))
    assert [path.name for path in manifest.path.iterdir()] == ["yolox.onnx"]
    assert manifest.model_type == "dets" and manifest.num_keypoints is None
    assert manifest.input_size == (16, 16) and manifest.files["yolox.onnx"].sha256 == sha256(model)


def test_fetch_refuses_a_traversing_archive(server: FileServer, tmp_path: Path) -> None:
    data = unsafe_archive("m/../../../evil.onnx")
    server.files["evil.zip"] = data
    dest = tmp_path / "models" / "rtm"
    with pytest.raises(WeightsError, match="a '..' component"):
        fetch_weights(onnx_spec(server.url("evil.zip"), sha256(data)), dest)
    assert not (dest / "checkpoint").exists()
    assert [path.name for path in tmp_path.rglob("*.onnx")] == []
    assert sorted(path.name for path in dest.iterdir()) == ["evil.zip"]  # no staging left


def test_fetch_offline_fails_at_once(
    server: FileServer, halpe_archive: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.files["rtm.zip"] = halpe_archive
    monkeypatch.setenv("POSEBENCH_OFFLINE", "1")
    url = server.url("rtm.zip")
    dest = tmp_path / "rtm"
    with pytest.raises(WeightsError) as error:
        fetch_weights(onnx_spec(url, sha256(halpe_archive)), dest)
    message = str(error.value)
    target = dest / "rtm.zip"
    assert url in message and f"curl -L -C - -o {target} {url}" in message
    assert f"sha256sum {target}" in message and f"SHA-256 is {sha256(halpe_archive)}" in message
    assert "weights.local_path of 'rtm'" in message and "unzip rtm.zip" in message
    assert server.requests == []
    # The archive downloaded by hand is used offline.
    target.write_bytes(halpe_archive)
    assert load_manifest(fetch_weights(onnx_spec(url, sha256(halpe_archive)), dest)).download
    assert server.requests == []


def test_fetch_unreachable_names_the_url(tmp_path: Path) -> None:
    url = f"{UNREACHABLE}/onnx_sdk/rtm.zip"
    with pytest.raises(WeightsError, match="is unreachable") as error:
        fetch_weights(onnx_spec(url, "ab" * 32), tmp_path / "rtm")
    assert f"curl -L -C - -o {tmp_path / 'rtm' / 'rtm.zip'} {url}" in str(error.value)
    assert "weights.local_path" in str(error.value)


def test_trust_on_first_use(
    server: FileServer,
    halpe_archive: bytes,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.files["rtm.zip"] = halpe_archive
    url, digest = server.url("rtm.zip"), sha256(halpe_archive)
    dest = tmp_path / "rtm"
    with caplog.at_level(logging.WARNING):
        manifest = load_manifest(fetch_weights(onnx_spec(url, None), dest))
    warnings = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "trust on first use" in warnings and "trusted on first use" in warnings
    assert f'sha256: "{digest}"' in warnings
    assert manifest.source == {"url": url}
    assert manifest.download is not None and manifest.download.sha256 == digest
    # Pinning the recorded digest re-checks the archive in place: no download.
    requests = len(server.requests)
    pinned = load_manifest(fetch_weights(onnx_spec(url, digest), dest))
    assert pinned.source == {"url": url, "sha256": digest}
    assert len(server.requests) == requests
    # Unpinned again: every run warns, even with nothing to do.
    fetch_weights(onnx_spec(url, None), dest)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        fetch_weights(onnx_spec(url, None), dest)
    assert any("not pinned" in r.getMessage() for r in caplog.records)
    assert len(server.requests) == requests


def test_trusted_corrupt_archive_fails(server: FileServer, tmp_path: Path) -> None:
    server.files["rtm.zip"] = b"PK\x03\x04 not really a zip"
    with pytest.raises(WeightsError, match="not a readable zip archive.*Delete it"):
        fetch_weights(onnx_spec(server.url("rtm.zip"), None), tmp_path / "rtm")


def test_manifest_rejects_a_malformed_input_size(tmp_path: Path, halpe_model: bytes) -> None:
    folder = model_folder(tmp_path / "m", ("end2end.onnx", halpe_model))
    path = fetch_weights(local_spec(folder), tmp_path / "dest")
    content = json.loads(path.read_text())
    content["input_size"] = [8, 6]
    path.write_text(json.dumps(content))
    with pytest.raises(WeightsError, match="input_size"):
        load_manifest(path)


# --- the registry -------------------------------------------------------------------------


def test_registry_entries() -> None:
    """The RTMPose/RTMW models and the YOLOX detector of config/config.yaml: valid specs of
    OpenMMLab's ONNX archives, each SHA-256 pinned in full or explicitly trusted on first
    use, and not run by default."""
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    entries = {
        name: (kind, entry)
        for kind, section in (("pose", config["models"]), ("detector", config["detectors"]))
        for name, entry in section.items()
        if entry.get("backend") in ("rtmpose", "yolox")
    }
    expected = {
        "rtmpose-m-halpe26": "halpe26",
        "rtmpose-x-halpe26": "halpe26",
        "rtmpose-m-body": "coco17",
        "rtmw-l": "coco_wholebody",
        "rtmw-x": "coco_wholebody",
        "yolox-m": None,
    }
    assert {name: entry.get("marker_set") for name, (_, entry) in entries.items()} == expected
    for name, (kind, entry) in entries.items():
        spec = WeightsSpec.from_config(
            name, kind, entry["weights"], weights_format(entry["backend"])
        )
        assert spec.url is not None and spec.url.startswith("https://download.openmmlab.com/")
        assert spec.url.endswith(".zip") and "/onnx_sdk/" in spec.url
        assert "sha256" in entry["weights"]
        if kind == "pose":
            assert entry["detector"] == "yolox-m"
    assert not set(entries) & set(config["run"]["models"])


def test_verify_models_cli(halpe_model: bytes, tmp_path: Path) -> None:
    import contextlib

    from posebench.cli import main

    pose = model_folder(tmp_path / "rtm", ("end2end.onnx", halpe_model))
    detector = model_folder(tmp_path / "yolox", ("end2end.onnx", detector_model()))
    models = {
        name: {
            "backend": "rtmpose",
            "marker_set": marker_set,
            "weights": {"local_path": str(pose)},
            "detector": "yolox",
        }
        for name, marker_set in (("rtm", "halpe26"), ("rtm-wrong", "coco17"))
    }
    config = {
        "run": {"datasets": ["d"], "models": ["rtm", "rtm-wrong"]},
        "models": models,
        "detectors": {"yolox": {"backend": "yolox", "weights": {"local_path": str(detector)}}},
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
    assert rows["rtm"].rstrip().endswith("ready") and " 26 " in rows["rtm"]
    assert rows["yolox"].rstrip().endswith("ready")
    assert "predicts 26 keypoints but marker set 'coco17' expects 17" in rows["rtm-wrong"]
