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


# -- Fetched files edited or deleted by the user -----------------------------------------

FAKE_POSE2SIM = {
    "Pose2Sim/Demo_SinglePerson/Config.toml": b"[project]\n",
    "Pose2Sim/Demo_SinglePerson/calibration/Calib.qca.txt": b"calib",
    "Pose2Sim/Demo_SinglePerson/videos/cam01.mp4": b"video",
    "Pose2Sim/OpenSim_Setup/Model.osim": b"<OpenSimDocument/>",
    "Pose2Sim/MarkerAugmenter/model.onnx": b"onnx",
    "Pose2Sim/Other/unused.txt": b"not extracted",
}


@pytest.fixture
def fake_pose2sim(tmp_path: Path) -> tuple[Path, Path, WheelSpec]:
    """A workdir with a small fake pose2sim wheel in its cache and the folder fetched from it:
    (workdir, fetched folder, wheel spec)."""
    cache = tmp_path / "resources" / "cache"
    cache.mkdir(parents=True)
    spec = WheelSpec(
        "pose2sim", "0.0.1", make_wheel(cache / "pose2sim-0.0.1-py3-none-any.whl", FAKE_POSE2SIM)
    )
    dest = tmp_path / "resources" / "pose2sim"
    fetch_pose2sim(dest, cache, spec)
    return tmp_path, dest, spec


@pytest.mark.parametrize("manifest_kept", [True, False])  # Snakemake deletes it before a re-run
def test_fetch_reports_each_changed_file_before_restoring_it(
    fake_pose2sim: tuple[Path, Path, WheelSpec],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    manifest_kept: bool,
) -> None:
    from posebench import fetch
    from posebench.logs import TERMINAL

    workdir, dest, spec = fake_pose2sim
    (dest / "Demo_SinglePerson" / "Config.toml").write_text("[project]\nmass = 90\n")
    (dest / "OpenSim_Setup" / "Model.osim").unlink()
    (dest / "Demo_SinglePerson" / "videos" / "mine.mp4").write_bytes(b"user video")
    if not manifest_kept:
        (dest / MANIFEST_NAME).unlink()
    reported_before_restore: list[bool] = []
    extract = fetch.extract_members

    def spy(*args: object, **kwargs: object) -> dict[str, str]:
        reported_before_restore.append(any(r.levelname == "WARNING" for r in caplog.records))
        return extract(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(fetch, "extract_members", spy)
    with caplog.at_level("INFO", logger="posebench.fetch"):
        fetch_pose2sim(dest, workdir / "resources" / "cache", spec)
    assert reported_before_restore == [True]
    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert getattr(warning, "terminal", False) is TERMINAL["terminal"]
    message = warning.getMessage()
    assert f"changed: {dest / 'Demo_SinglePerson' / 'Config.toml'}" in message
    assert f"missing: {dest / 'OpenSim_Setup' / 'Model.osim'}" in message
    assert f"not fetched, deleted: {dest / 'Demo_SinglePerson' / 'videos' / 'mine.mp4'}" in message
    assert "dataset entry without `fetch:`" in message
    assert "Calib.qca.txt" not in message  # unchanged files are not named
    assert (dest / "Demo_SinglePerson" / "Config.toml").read_bytes() == b"[project]\n"
    assert verify_manifest(dest)


def test_unchanged_folder_is_not_reported(
    fake_pose2sim: tuple[Path, Path, WheelSpec], caplog: pytest.LogCaptureFixture
) -> None:
    workdir, dest, spec = fake_pose2sim
    (dest / MANIFEST_NAME).unlink()  # as Snakemake does before a forced re-run
    with caplog.at_level("INFO", logger="posebench.fetch"):
        fetch_pose2sim(dest, workdir / "resources" / "cache", spec)
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    assert verify_manifest(dest)


def test_terminal_records_reach_the_original_stderr_and_the_log(tmp_path: Path) -> None:
    import subprocess
    import sys

    code = (
        "import logging, sys\n"
        "from posebench.logs import TERMINAL, log_to_file\n"
        "log_to_file(sys.argv[1])\n"
        "logging.getLogger('x').warning('loud one', extra=TERMINAL)\n"
        "logging.getLogger('x').warning('quiet one')\n"
    )
    job_log = tmp_path / "job.log"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(job_log)], capture_output=True, text=True, check=True
    )
    assert proc.stderr == "WARNING: loud one\n"
    text = job_log.read_text()
    assert "loud one" in text and "quiet one" in text


def test_job_log_records_where_a_cluster_job_ran(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from posebench.logs import job_placement

    assert job_placement({"HOME": "/root"}) is None  # a workstation: no line
    line = job_placement({"SLURM_JOB_ID": "17", "CUDA_VISIBLE_DEVICES": "1"})
    assert line is not None and line.endswith("SLURM_JOB_ID=17, CUDA_VISIBLE_DEVICES=1")
    code = "import sys\nfrom posebench.logs import log_to_file\nlog_to_file(sys.argv[1])\n"
    job_log = tmp_path / "job.log"
    env = {**os.environ, "SLURM_JOB_ID": "42", "CUDA_VISIBLE_DEVICES": "0"}
    subprocess.run([sys.executable, "-c", code, str(job_log)], check=True, env=env)
    assert "job placement: host " in job_log.read_text()
    assert "SLURM_JOB_ID=42, CUDA_VISIBLE_DEVICES=0" in job_log.read_text()


def test_missing_or_resized_fetched_file_stops_planning_naming_file_and_rule(
    fake_pose2sim: tuple[Path, Path, WheelSpec], monkeypatch: pytest.MonkeyPatch
) -> None:
    from posebench.planning import Plan, PlanError, check_fetched

    workdir, dest, _ = fake_pose2sim
    monkeypatch.chdir(workdir)
    check_fetched("pose2sim")  # intact
    check_fetched("opencap-core")  # not fetched yet: nothing to check
    (dest / "OpenSim_Setup" / "Model.osim").unlink()
    (dest / "Demo_SinglePerson" / "Config.toml").write_text("[project]\nmass = 90\n")
    with pytest.raises(PlanError) as error:
        check_fetched("pose2sim")
    message = str(error.value)
    assert "missing: resources/pose2sim/OpenSim_Setup/Model.osim" in message
    assert "changed (size differs): resources/pose2sim/Demo_SinglePerson/Config.toml" in message
    assert "snakemake --forcerun fetch_demo_data" in message
    assert "Calib.qca.txt" not in message
    # Through the plan (what the getters of describe_dataset and scale call) ...
    plan = Plan({}, sample_sheet=str)
    with pytest.raises(PlanError, match="Model.osim"):
        plan.fetch_output("pose2sim")
    assert plan.fetch_output(None) == []
    # ... unless this run re-fetches anyway (--forcerun fetch_demo_data).
    refetched = Plan({}, sample_sheet=str, refetching=lambda fetch: fetch == "pose2sim")
    assert refetched.fetch_output("pose2sim") == ["resources/pose2sim/MANIFEST.json"]


def test_fetch_forced() -> None:
    from posebench.planning import fetch_forced

    assert fetch_forced("pose2sim", ["fetch_demo_data"])
    assert fetch_forced("pose2sim", ["./resources/pose2sim/MANIFEST.json"])
    assert fetch_forced("pose2sim", [], ["resources/pose2sim/MANIFEST.json"])
    assert fetch_forced("pose2sim", [], forceall=True)
    assert not fetch_forced("pose2sim", ["fetch_opencap_core", "scale"])
    assert not fetch_forced("opencap-core", ["fetch_demo_data"])


@pytest.mark.workflow
def test_workflow_stops_on_a_deleted_fetched_file_and_the_fetch_rule_reports_it(
    tmp_path: Path,
) -> None:
    """Snakemake itself: the dry run names the file and the rule; the forced fetch restores it
    and says so on the terminal."""
    import shutil
    import subprocess

    from snakemake_runner import REPO, run_snakemake

    (tmp_path / "resources").mkdir()
    shutil.copytree(REPO / "resources" / "cache", tmp_path / "resources" / "cache")

    def snakemake(*args: str) -> subprocess.CompletedProcess[str]:
        return run_snakemake(tmp_path, "--cores", "1", *args, env={"POSEBENCH_OFFLINE": "1"})

    manifest = "resources/pose2sim/MANIFEST.json"
    assert snakemake(manifest).returncode == 0
    model = "resources/pose2sim/OpenSim_Setup/Model_Pose2Sim_simple.osim"
    (tmp_path / model).unlink()
    dry = snakemake("-n")
    assert dry.returncode != 0
    shown = dry.stdout + dry.stderr  # a dry run reports on stdout
    assert f"missing: {model}" in shown
    assert "snakemake --forcerun fetch_demo_data" in shown
    fixed = snakemake("--forcerun", "fetch_demo_data", "--", manifest)
    assert fixed.returncode == 0, fixed.stderr
    assert f"missing: {model}" in fixed.stderr  # the terminal, not only the job log
    assert f"missing: {model}" in (tmp_path / "logs" / "fetch_demo_data.log").read_text()
    assert (tmp_path / model).is_file()
    assert snakemake("-n").returncode == 0
