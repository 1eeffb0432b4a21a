"""Bad inputs through Snakemake, as a user meets them: each gives a clear message naming the
file or camera and the fix (or a visible, documented fallback), and leaves nothing wrong in
results/.

One clean run of the Pose2Sim demo placed as user data (a dataset without `fetch:`) is made
once; every case damages a copy of it and runs Snakemake again, so a case re-runs only the
jobs its damage touches.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from posebench.io.atomic import KILL_VARIABLE
from posebench.paths import PATHS
from snakemake_runner import DEFAULT_CONFIG, REPO, run_snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.mediapipe]

UNIT = {
    "dataset": "mine",
    "subject": "P00",
    "session": "S00",
    "trial": "balancing",
    "model": "mediapipe-blazepose",
    "setup": "all",
}
USER_CONFIG = (
    "run: {datasets: [mine], models: [mediapipe-blazepose]}\n"
    "datasets: {mine: {adapter: pose2sim_demo, path: demo}}\n"
)
VIDEOS = Path("demo/videos")
SETUP = Path("resources/pose2sim/OpenSim_Setup")


def unit_path(template: str, **values: str) -> Path:
    return Path(template.format(**{**UNIT, **values}))


def snakemake(
    workdir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the workflow on `workdir` with the user-data config (a process group of its own,
    so that a crash test can kill the whole run)."""
    return run_snakemake(
        workdir,
        "--cores", "2", *args,
        configs=(DEFAULT_CONFIG, "mine.yaml"),
        env=env,
        new_session=True,
    )  # fmt: skip


def digests(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under `folder`, by relative path."""
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*.tmp-*"))


@pytest.fixture(scope="module")
def clean(pose2sim_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished run of the demo as user data; cases work on copies of it."""
    workdir = tmp_path_factory.mktemp("clean")
    shutil.copytree(pose2sim_dir / "Demo_SinglePerson", workdir / "demo")
    shutil.copytree(pose2sim_dir, workdir / "resources" / "pose2sim")
    (workdir / "resources" / "cache").symlink_to(REPO / "resources" / "cache")
    (workdir / "mine.yaml").write_text(USER_CONFIG)
    result = snakemake(workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    # The demo's videos are 1080 px wide, its calibration says 1088 (codec padding): fine.
    for stage in ("describe_dataset", "triangulate", "scale", "inverse_kinematics"):
        for log in (workdir / "logs" / stage).rglob("*.log"):
            assert "WARNING" not in log.read_text(), log
    return workdir


# ---------------------------------------------------------------------------------------
# Damage


def rewrite_video(
    path: Path, edit: Callable[[list[np.ndarray]], list[np.ndarray]], fps: float = 60.0
) -> None:
    """Decode `path`, `edit` its BGR frames, encode them back (MPEG-4 part 2)."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    frames = edit(frames)
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for frame in frames:
        writer.write(frame)
    writer.release()


def half_size(frames: list[np.ndarray]) -> list[np.ndarray]:
    return [cv2.resize(f, (f.shape[1] // 2, f.shape[0] // 2)) for f in frames]


def rotated(frames: list[np.ndarray]) -> list[np.ndarray]:
    return [cv2.rotate(f, cv2.ROTATE_90_CLOCKWISE) for f in frames]


def black(frames: list[np.ndarray]) -> list[np.ndarray]:
    return [np.zeros_like(f) for f in frames]


def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def replace_text(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


def config(extra: str) -> Callable[[Path], None]:
    def edit(workdir: Path) -> None:
        (workdir / "mine.yaml").write_text(USER_CONFIG + extra)

    return edit


# ---------------------------------------------------------------------------------------
# The matrix


@dataclass(frozen=True)
class Case:
    """One bad input: `damage` edits a copy of the clean run; the run then exits with
    `fails` (or succeeds) and prints each of `expected`; the `absent` outputs are not in
    results/ afterwards."""

    damage: Callable[[Path], None]
    expected: tuple[str, ...]
    fails: bool = True
    absent: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    check: Callable[[Path, str], None] | None = None
    unchanged: bool = field(default=False)  # results/ must be exactly as before


def camera_dropped(workdir: Path, output: str) -> None:
    trials = pd.read_csv(workdir / PATHS.all_quality)
    row = trials.iloc[0]
    assert (row["cameras_configured"], row["cameras_used"]) == (4, 3)
    assert row["camera_warnings"].startswith("cam02 dropped: person detected in 0 of 100")
    assert "cam02 dropped" in output  # the warning reaches the terminal


def fetched_file_restored(workdir: Path, output: str) -> None:
    text = (workdir / SETUP / "IK_Setup_Pose2Sim_Blazepose.xml").read_text()
    assert "<!-- my edit -->" not in text


TRIANGULATED = (PATHS.trc, PATHS.triangulation, PATHS.motion, PATHS.quality)

CASES: dict[str, Case] = {
    "half-resolution video": Case(
        lambda w: rewrite_video(w / VIDEOS / "cam02.mp4", half_size),
        ("Camera cam02: the video demo/videos/cam02.mp4 is 540x960 px but the camera was "
         "calibrated (demo/calibration/Calib.qca.txt) at 1088x1920 px;",
         "calibrate the camera at this size"),
        absent=TRIANGULATED,
    ),
    "rotated video": Case(
        lambda w: rewrite_video(w / VIDEOS / "cam02.mp4", rotated),
        ("Camera cam02: the video demo/videos/cam02.mp4 is 1920x1080 px",
         "at 1088x1920 px, so the video is rotated", "unrotated"),
        absent=TRIANGULATED,
    ),
    "one camera sees nothing": Case(
        lambda w: rewrite_video(w / VIDEOS / "cam02.mp4", black),
        ("cam02 dropped: person detected in 0 of 100 frames",),
        fails=False,
        check=camera_dropped,
    ),
    "three cameras see nothing": Case(
        lambda w: [rewrite_video(w / VIDEOS / f"cam0{i}.mp4", black) for i in (1, 2, 3)],
        ("Only 1 of 4 cameras detected the person", "cam01 0%, cam02 0%, cam03 0%, cam04 100%",
         "Check the videos show the person"),
        absent=TRIANGULATED,
    ),
    "shorter video": Case(
        lambda w: rewrite_video(w / VIDEOS / "cam03.mp4", lambda f: f[:90]),
        ("Frame counts differ between cameras", "cam03.npz: 90",
         "triangulation.max_frame_mismatch=0"),
        absent=TRIANGULATED,
    ),
    "truncated video": Case(
        lambda w: truncate(w / VIDEOS / "cam04.mp4", 0.3),
        ("Cannot open video demo/videos/cam04.mp4: not a video OpenCV can decode",
         "Replace it with the camera's original recording"),
        absent=(PATHS.keypoints.replace("{camera}", "cam04"), *TRIANGULATED),
    ),
    "missing video": Case(
        lambda w: (w / VIDEOS / "cam04.mp4").unlink(),
        ("calibrated cameras ['cam01', 'cam02', 'cam03', 'cam04'] do not match videos",
         "Each camera needs exactly one <camera>.mp4"),
        absent=(PATHS.samples,),
    ),
    "NaN focal length": Case(
        lambda w: replace_text(
            w / "demo/calibration/Calib.qca.txt",
            'focalLengthU="107599.671875"',
            'focalLengthU="nan"',
        ),
        ("demo/calibration/Calib.qca.txt: camera 'cam01': <intrinsic focalLengthU='nan'> "
         "is not finite", "export the calibration again"),
        absent=(PATHS.samples,),
    ),
    "participant mass zero": Case(
        lambda w: replace_text(
            w / "demo/Config.toml", "participant_mass = 70.0", "participant_mass = 0.0"
        ),
        ("demo/Config.toml: [project] participant_mass is 0.0; expected a number in kg",),
        absent=(PATHS.samples,),
    ),
    "frame rate other than declared": Case(
        lambda w: replace_text(w / "demo/Config.toml", "frame_rate = 'auto'", "frame_rate = 30"),
        ("Camera cam01: the video demo/videos/cam01.mp4 runs at 60 fps but the dataset "
         "declares 30 fps (demo/Config.toml)", "correct the declared frame rate"),
        absent=TRIANGULATED,
    ),
    "truncated keypoint file": Case(
        lambda w: (truncate(w / unit_path(PATHS.keypoints, camera="cam02")),
                   (w / unit_path(PATHS.triangulation)).unlink()),
        ("Cannot read keypoint file results/pose2d/mine/P00/S00/balancing/mediapipe-blazepose/"
         "cam02.npz", "--forcerun pose2d"),
        absent=TRIANGULATED,
    ),
    "keypoint file of random bytes": Case(
        lambda w: ((w / unit_path(PATHS.keypoints, camera="cam01")).write_bytes(os.urandom(4096)),
                   (w / unit_path(PATHS.triangulation)).unlink()),
        ("Cannot read keypoint file results/pose2d/mine/P00/S00/balancing/mediapipe-blazepose/"
         "cam01.npz", "--forcerun pose2d"),
        absent=TRIANGULATED,
    ),
    "truncated triangulation report": Case(
        lambda w: (truncate(w / unit_path(PATHS.triangulation)),
                   (w / unit_path(PATHS.quality)).unlink()),
        ("Cannot read triangulation report results/triangulate/mine/P00/S00/balancing/"
         "mediapipe-blazepose/all/triangulation.json", "--forcerun triangulate"),
        absent=(PATHS.quality, PATHS.all_quality),
    ),
    "truncated TRC": Case(
        lambda w: (truncate(w / unit_path(PATHS.trc), 0.7), (w / unit_path(PATHS.ik)).unlink()),
        ("Cannot read TRC file results/triangulate/mine/P00/S00/balancing/mediapipe-blazepose/"
         "all/markers.trc", "--forcerun triangulate"),
        absent=(PATHS.motion, PATHS.ik, PATHS.quality),
    ),
    "truncated marker errors": Case(
        lambda w: (truncate(w / unit_path(PATHS.marker_errors), 0.6),
                   (w / unit_path(PATHS.quality)).unlink()),
        ("Cannot read OpenSim motion/storage file results/ik/mine/P00/S00/balancing/"
         "mediapipe-blazepose/all/marker_errors.sto", "--forcerun inverse_kinematics"),
        absent=(PATHS.quality, PATHS.all_quality),
    ),
    "empty per-trial table": Case(
        lambda w: ((w / unit_path(PATHS.quality)).write_text(""),
                   (w / PATHS.all_quality).unlink()),
        ("Cannot read per-trial table results/summary/mine/P00/S00/balancing/"
         "mediapipe-blazepose/all/quality.csv", "--forcerun summarize"),
        absent=(PATHS.all_quality,),
    ),
    "model name escaping the project": Case(
        config(
            "run: {datasets: [mine], models: ['../../../../escaped']}\n"
            "models: {'../../../../escaped': {backend: mediapipe, marker_set: blazepose}}\n"
        ),
        ("config: models has unsafe names ['../../../../escaped']", "Rename them"),
        unchanged=True,
    ),
    "unknown model": Case(
        config("run: {datasets: [mine], models: [mediapipe]}\n"),
        ("run.models names ['mediapipe'], which are not defined", "Valid names: "),
        unchanged=True,
    ),
    "camera missing from the setup": Case(
        config("datasets: {mine: {adapter: pose2sim_demo, path: demo, camera_setups: "
               "{two: [cam01, cam09]}}}\n"),
        ("camera setup 'two' of dataset 'mine' names cameras ['cam09'], which trial "
         "P00/S00/balancing does not have",
         "Fix `datasets: mine: camera_setups: two`"),
        unchanged=True,
    ),
    "fetched OpenSim model deleted": Case(
        lambda w: (w / SETUP / "Model_Pose2Sim_simple.osim").unlink(),
        ("missing: resources/pose2sim/OpenSim_Setup/Model_Pose2Sim_simple.osim",
         "snakemake --forcerun fetch_demo_data"),
        unchanged=True,
    ),
    "fetched set-up edited, then restored": Case(
        lambda w: replace_text(
            w / SETUP / "IK_Setup_Pose2Sim_Blazepose.xml",
            "<IKTaskSet>",
            "<IKTaskSet><!-- my edit -->",
        ),
        ("WARNING: 1 fetched file(s) in resources/pose2sim/",
         "changed: resources/pose2sim/OpenSim_Setup/IK_Setup_Pose2Sim_Blazepose.xml",
         "edits there are reverted"),
        fails=False,
        args=("--forcerun", "fetch_demo_data"),
        check=fetched_file_restored,
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(clean: Path, tmp_path: Path, name: str) -> None:
    case = CASES[name]
    workdir = tmp_path / "work"
    shutil.copytree(clean, workdir, symlinks=True)
    before = digests(workdir / "results")
    case.damage(workdir)
    result = snakemake(workdir, *case.args)
    output = result.stdout + result.stderr
    assert (result.returncode != 0) is case.fails, output[-6000:]
    for text in case.expected:
        assert text in output, f"{text!r} not in:\n{output[-6000:]}"
    for template in case.absent:
        assert not (workdir / unit_path(template, camera="cam01")).exists(), template
    assert temporaries(workdir) == []
    if case.unchanged:
        assert digests(workdir / "results") == before
    if case.check is not None:
        case.check(workdir, output)


def test_kill_at_every_stage_then_rerun_gives_the_clean_result(clean: Path, tmp_path: Path) -> None:
    """`kill -9` of the whole run while each stage writes its output (fault injection in
    posebench.io.atomic), each time re-running the workflow: the final files are
    byte-identical to the clean run's (made in another folder), and no incomplete-job
    marker or temporary file is left."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    for name in ("demo", "resources", "mine.yaml"):
        source = clean / name
        if source.is_dir():
            shutil.copytree(source, workdir / name, symlinks=True)
        else:
            shutil.copy2(source, workdir / name)
    stages = [
        "samples.tsv",  # describe_dataset
        "cam03.npz",  # pose2d
        "triangulation.json",  # triangulate (its last output)
        "scaled.osim",  # scale
        "ik.json",  # inverse_kinematics (its last output)
        "joint_angles.png",  # summarize
        "trials.csv",  # aggregate
    ]
    for pattern in stages:
        killed = snakemake(workdir, env={KILL_VARIABLE: pattern})
        assert killed.returncode == -9, f"{pattern}: {killed.stderr[-3000:]}"
        assert list((workdir / ".snakemake" / "incomplete").iterdir()), pattern
        # A killed run may leave Snakemake's lock: its message says to run --unlock.
        assert snakemake(workdir, "--unlock").returncode == 0
    # A job killed after its last rename, before Snakemake recorded it finished: the
    # marker Snakemake's file-based metadata leaves (name: URL-safe base64 of the path).
    key = unit_path(PATHS.keypoints, camera="cam01").as_posix()
    marker = workdir / ".snakemake" / "incomplete" / base64.urlsafe_b64encode(key.encode()).decode()
    marker.write_text('{"external_jobid": null}')
    final = snakemake(workdir)
    assert final.returncode == 0, final.stderr[-5000:]
    assert digests(workdir / "results") == digests(clean / "results")
    assert list((workdir / ".snakemake" / "incomplete").iterdir()) == []
    assert temporaries(workdir) == []
