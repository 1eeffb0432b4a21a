"""Fetching the Pose2Sim wheel: caching, checksum, extraction, manifest."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from posebench.fetch import (
    MANIFEST_NAME,
    FetchError,
    WheelSpec,
    download_wheel,
    extract_members,
    fetch_pose2sim,
    verify_manifest,
)


def make_wheel(path: Path, members: dict[str, bytes]) -> str:
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cached_wheel_with_right_checksum_is_reused(tmp_path: Path) -> None:
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    digest = make_wheel(wheel, {"Demo/a.txt": b"a"})
    # A cached wheel is returned without calling pip (the name does not exist on PyPI).
    assert download_wheel(WheelSpec("demo", "1.0", digest), tmp_path) == wheel


def test_extract_members_selects_files_and_folders(tmp_path: Path) -> None:
    wheel = tmp_path / "w.whl"
    make_wheel(
        wheel,
        {
            "Pkg/keep/one.txt": b"1",
            "Pkg/keep/sub/two.txt": b"2",
            "Pkg/single.txt": b"s",
            "Pkg/skip/three.txt": b"3",
        },
    )
    dest = tmp_path / "out"
    files = extract_members(wheel, "Pkg/", ["keep/", "single.txt"], dest)
    assert sorted(files) == ["keep/one.txt", "keep/sub/two.txt", "single.txt"]
    assert (dest / "keep" / "sub" / "two.txt").read_bytes() == b"2"
    assert not (dest / "skip").exists()
    assert files["single.txt"] == hashlib.sha256(b"s").hexdigest()


def test_extract_missing_member_is_an_error(tmp_path: Path) -> None:
    wheel = tmp_path / "w.whl"
    make_wheel(wheel, {"Pkg/a.txt": b"a"})
    with pytest.raises(FetchError, match="no member 'Pkg/b.txt'"):
        extract_members(wheel, "Pkg/", ["b.txt"], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_manifest_detects_a_modified_file(pose2sim_dir: Path) -> None:
    assert verify_manifest(pose2sim_dir)
    manifest = json.loads((pose2sim_dir / MANIFEST_NAME).read_text())
    assert manifest["source"] == "pose2sim==0.10.49"
    for expected in (
        "Demo_SinglePerson/calibration/Calib.qca.txt",
        "Demo_SinglePerson/videos/cam01.mp4",
        "OpenSim_Setup/Model_Pose2Sim_simple.osim",
        "MarkerAugmenter/LSTM/v0.3_lower/model.onnx",
    ):
        assert expected in manifest["files"]
    assert not any("intrinsics" in name for name in manifest["files"])


def test_fetch_repairs_a_tampered_tree(pose2sim_dir: Path, tmp_path: Path) -> None:
    cache = pose2sim_dir.parent / "cache"
    dest = tmp_path / "pose2sim"
    fetch_pose2sim(dest, cache_dir=cache)
    config = dest / "Demo_SinglePerson" / "Config.toml"
    original = config.read_bytes()
    config.write_text("tampered")
    assert not verify_manifest(dest)
    fetch_pose2sim(dest, cache_dir=cache)
    assert config.read_bytes() == original
    assert verify_manifest(dest)


def test_checksum_mismatch_of_cached_wheel_is_not_used(tmp_path: Path) -> None:
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    make_wheel(wheel, {"a": b"a"})
    spec = WheelSpec("posebench-no-such-distribution", "1.0", "0" * 64)
    with pytest.raises(FetchError, match="pip download posebench-no-such-distribution==1.0"):
        download_wheel(spec, tmp_path)


@pytest.fixture
def file_server(tmp_path: Path):  # type: ignore[no-untyped-def]
    """An HTTP server on 127.0.0.1 serving tmp_path/served (supports Range requests? no:
    plain SimpleHTTPRequestHandler answers 200 with the whole file, which download_file
    must handle by rewriting the partial file)."""
    import functools
    import http.server
    import threading

    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def fake_opencap_core(monkeypatch: pytest.MonkeyPatch, served: Path, url: str) -> dict[str, str]:
    from posebench import fetch

    files = {}
    for path, content in {
        "Models/model.osim": b"<OpenSimDocument/>",
        "IK/Setup_IK.xml": b"<ik/>",
    }.items():
        (served / path).parent.mkdir(parents=True, exist_ok=True)
        (served / path).write_bytes(content)
        files[path] = hashlib.sha256(content).hexdigest()
    monkeypatch.setattr(fetch, "OPENCAP_CORE_FILES", files)
    monkeypatch.setattr(fetch, "RAW_URL", url + "/{path}")
    return files


def test_opencap_core_download_verify_and_resume(
    file_server: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from posebench.fetch import fetch_opencap_core

    served, url = file_server
    files = fake_opencap_core(monkeypatch, served, url)
    dest = tmp_path / "opencap-core"
    dest.mkdir()
    (dest / "model.osim.part").write_bytes(b"<Open")  # an interrupted earlier download
    manifest = json.loads(fetch_opencap_core(dest).read_text())
    assert manifest["files"] == {
        "Setup_IK.xml": files["IK/Setup_IK.xml"],
        "model.osim": files["Models/model.osim"],
    }
    assert (dest / "model.osim").read_bytes() == b"<OpenSimDocument/>"
    assert not (dest / "model.osim.part").exists()
    # A changed file on the server no longer matches the pin.
    (dest / "model.osim").unlink()
    (served / "Models" / "model.osim").write_bytes(b"tampered")
    with pytest.raises(FetchError, match="SHA-256 mismatch"):
        fetch_opencap_core(dest)
    assert not (dest / "model.osim").exists()


def test_opencap_core_offline_and_local_copy(
    file_server: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from posebench.fetch import fetch_opencap_core

    served, url = file_server
    fake_opencap_core(monkeypatch, served, url)
    dest = tmp_path / "opencap-core"
    monkeypatch.setenv("POSEBENCH_OFFLINE", "1")
    with pytest.raises(FetchError, match="POSEBENCH_OFFLINE=1 forbids downloading"):
        fetch_opencap_core(dest)
    fetch_opencap_core(dest, local_copy=served)  # a clone: files found anywhere below
    assert (dest / "Setup_IK.xml").read_bytes() == b"<ik/>"
    with pytest.raises(FetchError, match="has no model.osim"):
        fetch_opencap_core(tmp_path / "other", local_copy=tmp_path / "empty")
    monkeypatch.delenv("POSEBENCH_OFFLINE")
    monkeypatch.setattr("posebench.fetch.RAW_URL", "http://127.0.0.1:9/{path}")  # nothing listens
    with pytest.raises(FetchError, match="Without internet access"):
        fetch_opencap_core(tmp_path / "unreachable")
