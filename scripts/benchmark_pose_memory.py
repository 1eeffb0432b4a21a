"""Peak memory and frame rate of the `pose2d` stage versus a bare MediaPipe loop.

Builds (once, cached in a temporary folder) a 600-frame, 1080 x 1920 (width x height:
portrait, as the demo's cameras) 60 fps MPEG-4 video from the real Pose2Sim demo videos
(`resources/pose2sim/Demo_SinglePerson/videos`, fetched with `posebench.fetch.fetch_pose2sim`
as the workflow's `fetch_demo_data` rule does, when absent): each camera forwards then
backwards (continuous motion), cameras one after the other, cropped to 1080 wide (cam03 and
cam04 are 1088). Then runs, each in a child process of its own, alternating, `--repeats` times:

- bare: `cv2.VideoCapture.read` -> BGR to RGB -> `mediapipe.solutions.pose.Pose.process`
  per frame, the results discarded: the model and options of the `mediapipe` backend
  (`posebench.backends.mediapipe_blazepose`: the legacy solution API in video mode, the
  "full" model shipped in mediapipe 0.10.14), in the same thread settings (none set: both
  children inherit this process's environment);
- pose2d: `posebench.stages.pose2d.run` on the same video with the `mediapipe-blazepose`
  model of config/config.yaml (backend, marker set, options, batch_size).

Each child reports its peak resident memory (VmHWM of /proc/self/status, the whole process
lifetime, imports included) and its frames per second from just before the model is created
to the end of the loop (pose2d: the whole `run` call, which also probes the video and saves
the keypoints; mediapipe is imported before it, as in the bare loop), and the CPU time of
the process (all threads) per frame over the same span. The medians and the ratios
pose2d / bare are printed (the frame rates of a loaded machine are noisy: the CPU time shows
whether the stage does more work than the bare loop). Run from the repository root:

    .venv/bin/python scripts/benchmark_pose_memory.py [--frames 600] [--repeats 3]
        [--work-dir DIR]

Another script can call `measure(frames=..., repeats=...)` (or `main([...])`), which returns
the figures as a dict.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config" / "config.yaml"
MODEL = "mediapipe-blazepose"
DEMO = REPO / "resources" / "pose2sim"
DEMO_VIDEOS = DEMO / "Demo_SinglePerson" / "videos"
WIDTH, HEIGHT, FPS = 1080, 1920, 60.0
FOURCC = "mp4v"  # OpenCV's wheels write no H.264; the demo videos are H.264 (one VP9)
KINDS = ("bare", "pose2d")
MEMORY_TARGET, FPS_TARGET = 1.2, 1.0  # pose2d / bare: at most, at least
MIB = 1024 * 1024


def model_entry() -> dict[str, Any]:
    """The `mediapipe-blazepose` entry of config/config.yaml."""
    import yaml

    with CONFIG.open() as stream:
        entry: dict[str, Any] = yaml.safe_load(stream)["models"][MODEL]
    return entry


def pose_arguments(options: Mapping[str, Any]) -> dict[str, Any]:
    """`mediapipe.solutions.pose.Pose` keyword arguments for the backend `options`, with the
    defaults of `posebench.backends.mediapipe_blazepose.MediaPipeBlazePose`."""
    return {
        "static_image_mode": False,
        "model_complexity": int(options.get("model_complexity", 1)),
        "smooth_landmarks": bool(options.get("smooth_landmarks", False)),
        "enable_segmentation": False,
        "min_detection_confidence": float(options.get("min_detection_confidence", 0.5)),
        "min_tracking_confidence": float(options.get("min_tracking_confidence", 0.5)),
    }


# --- The benchmark video ---------------------------------------------------------------


def demo_videos() -> list[Path]:
    """The demo's camera videos, fetched first if absent."""
    if not sorted(DEMO_VIDEOS.glob("cam*.mp4")):
        from posebench.fetch import fetch_pose2sim

        print(f"Fetching the Pose2Sim demo into {DEMO} ...", file=sys.stderr, flush=True)
        fetch_pose2sim(DEMO, cache_dir=REPO / "resources" / "cache")
    videos = sorted(DEMO_VIDEOS.glob("cam*.mp4"))
    if not videos:
        raise SystemExit(f"No cam*.mp4 in {DEMO_VIDEOS} after fetching the Pose2Sim demo.")
    return videos


def demo_frames(videos: Sequence[Path]) -> Iterator[Any]:
    """BGR frames of `videos`, each forwards then backwards, cropped (centred) or resized to
    WIDTH x HEIGHT, endlessly."""
    import cv2

    while True:
        for video in videos:
            capture = cv2.VideoCapture(str(video))
            frames = []
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                height, width = frame.shape[:2]
                if height == HEIGHT and width > WIDTH:
                    left = (width - WIDTH) // 2
                    frame = frame[:, left : left + WIDTH]
                if frame.shape[:2] != (HEIGHT, WIDTH):
                    frame = cv2.resize(frame, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)
                frames.append(frame)
            capture.release()
            if not frames:
                raise SystemExit(f"{video}: no frame decodes.")
            yield from frames
            yield from reversed(frames)


def frame_count(video: Path) -> int:
    """Frames that actually decode from `video`."""
    import cv2

    capture = cv2.VideoCapture(str(video))
    count = 0
    while capture.grab():
        count += 1
    capture.release()
    return count


def benchmark_video(frames: int, work_dir: Path) -> Path:
    """The `frames`-frame benchmark video in `work_dir`, written unless already there."""
    import cv2

    target = work_dir / f"pose2sim_demo_{frames}f_{WIDTH}x{HEIGHT}_{FOURCC}.mp4"
    if target.is_file() and frame_count(target) == frames:
        return target
    work_dir.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.stem}.partial.mp4")
    writer = cv2.VideoWriter(str(partial), cv2.VideoWriter_fourcc(*FOURCC), FPS, (WIDTH, HEIGHT))
    if not writer.isOpened():
        raise SystemExit(f"OpenCV cannot write {FOURCC} video to {partial}.")
    print(f"Writing {frames} frames of the demo to {target} ...", file=sys.stderr, flush=True)
    source = demo_frames(demo_videos())
    for _ in range(frames):
        writer.write(next(source))
    writer.release()
    if frame_count(partial) != frames:
        raise SystemExit(f"{partial}: {frame_count(partial)} frames decode, expected {frames}.")
    partial.replace(target)
    return target


# --- The children ------------------------------------------------------------------------


def memory_mib(field: str) -> float:
    """`field` (VmHWM: peak, VmRSS: now) of /proc/self/status in MiB; the peak from
    getrusage where /proc is not there."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024 / MIB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MIB


def run_bare(video: Path, entry: Mapping[str, Any]) -> dict[str, float]:
    """The bare MediaPipe loop over `video` (see the module docstring)."""
    os.environ.setdefault("GLOG_minloglevel", "2")  # as the backend
    import contextlib
    import io

    import cv2
    import mediapipe as mp

    after_imports = memory_mib("VmRSS")
    started, cpu_started = time.perf_counter(), time.process_time()
    with contextlib.redirect_stderr(io.StringIO()):  # as the backend
        pose = mp.solutions.pose.Pose(**pose_arguments(entry.get("options", {})))
    capture = cv2.VideoCapture(str(video))
    frames = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        pose.process(frame)
        frames += 1
    capture.release()
    pose.close()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return {"frames": frames, "seconds": seconds, "cpu_s": cpu, "imports": after_imports}


def run_pose2d(video: Path, entry: Mapping[str, Any]) -> dict[str, float]:
    """`posebench.stages.pose2d.run` on `video` with the model `entry`."""
    import importlib

    from posebench.backends.registry import BACKENDS
    from posebench.stages import pose2d

    # Imported before the clock starts, as in the bare loop (`run` imports the backend).
    importlib.import_module(BACKENDS[entry["backend"]])
    importlib.import_module("mediapipe")

    after_imports = memory_mib("VmRSS")
    with tempfile.TemporaryDirectory() as tmp:
        started, cpu_started = time.perf_counter(), time.process_time()
        result = pose2d.run(
            video, Path(tmp) / "keypoints.npz", model_name=MODEL, backend=entry["backend"],
            marker_set=entry["marker_set"], options=entry.get("options", {}),
            batch_size=entry.get("batch_size", 16),
        )  # fmt: skip
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    frames = int(result.metadata["slots"]["decoded_frames"])
    return {"frames": frames, "seconds": seconds, "cpu_s": cpu, "imports": after_imports}


def child(kind: str, video: Path) -> None:
    """Run one measurement (`kind`) in this process and print it as one JSON line."""
    entry = model_entry()
    figures = run_bare(video, entry) if kind == "bare" else run_pose2d(video, entry)
    figures["peak_mib"] = memory_mib("VmHWM")
    figures["fps"] = figures["frames"] / figures["seconds"]
    figures["cpu_ms_per_frame"] = 1000 * figures["cpu_s"] / figures["frames"]
    print(json.dumps(figures))


def measure_once(kind: str, video: Path) -> dict[str, float]:
    """Run `kind` in a child process; its figures."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", kind, str(video)]
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} child failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    figures: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return figures


# --- The benchmark -----------------------------------------------------------------------


def measure(frames: int = 600, repeats: int = 3, work_dir: Path | None = None) -> dict[str, Any]:
    """Build (or reuse) the benchmark video, run bare and pose2d alternately `repeats` times
    each, and return the figures: per kind the runs and the medians of peak memory (MiB),
    frames/s, CPU ms per frame and RSS after imports (MiB), the medians also as `bare_peak_mib`,
    `stage_peak_mib`, `bare_fps`, `stage_fps`; the ratios pose2d / bare (`memory_ratio`,
    `fps_ratio`, and `fps_ratio_paired`: the median of each round's ratio); the video and
    settings. Progress lines go to stderr."""
    if frames < 1 or repeats < 1:
        raise ValueError(f"frames ({frames}) and repeats ({repeats}) must be >= 1")
    work_dir = work_dir or Path(tempfile.gettempdir()) / "posebench-benchmark-pose-memory"
    video = benchmark_video(frames, work_dir)
    runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in KINDS}
    for round_ in range(repeats):
        for kind in KINDS:
            figures = measure_once(kind, video)
            runs[kind].append(figures)
            print(
                f"  run {round_ + 1}/{repeats} {kind:>6}: peak {figures['peak_mib']:.0f} MiB, "
                f"{figures['fps']:.2f} frames/s, {figures['cpu_ms_per_frame']:.1f} CPU ms/frame",
                file=sys.stderr,
                flush=True,
            )
    for kind in KINDS:
        decoded = {int(run["frames"]) for run in runs[kind]}
        if decoded != {frames}:
            raise SystemExit(f"{kind} processed {sorted(decoded)} frames, expected {frames}.")
    medians = {
        kind: {
            key: statistics.median(run[key] for run in runs[kind])
            for key in ("peak_mib", "fps", "cpu_ms_per_frame", "imports")
        }
        for kind in KINDS
    }
    entry = model_entry()
    return {
        "video": str(video),
        "frames": frames,
        "size": (WIDTH, HEIGHT),
        "codec": FOURCC,
        "repeats": repeats,
        "batch_size": entry.get("batch_size", 16),
        "options": entry.get("options", {}),
        "runs": runs,
        "medians": medians,
        "bare_peak_mib": medians["bare"]["peak_mib"],
        "stage_peak_mib": medians["pose2d"]["peak_mib"],
        "bare_fps": medians["bare"]["fps"],
        "stage_fps": medians["pose2d"]["fps"],
        "memory_ratio": medians["pose2d"]["peak_mib"] / medians["bare"]["peak_mib"],
        "fps_ratio": medians["pose2d"]["fps"] / medians["bare"]["fps"],
        # Each round's pose2d run over the bare run just before it: less exposed to the
        # load of the machine drifting between rounds than the ratio of the medians.
        "fps_ratio_paired": statistics.median(
            stage["fps"] / bare["fps"]
            for bare, stage in zip(runs["bare"], runs["pose2d"], strict=True)
        ),
    }


def report(figures: Mapping[str, Any], argv: Sequence[str]) -> str:
    """The figures of `measure` as a table, with the command that reproduces them."""
    medians = figures["medians"]
    width, height = figures["size"]
    memory, fps = figures["memory_ratio"], figures["fps_ratio"]
    cpu = medians["pose2d"]["cpu_ms_per_frame"] / medians["bare"]["cpu_ms_per_frame"]
    lines = [
        f"pose2d vs bare MediaPipe loop: {figures['frames']} frames, {width}x{height} "
        f"(width x height) {figures['codec']}, median of {figures['repeats']} runs each "
        f"(batch_size {figures['batch_size']}, options {dict(figures['options'])})",
        f"{'':>22} {'peak RSS (MiB)':>15} {'frames/s':>9} {'CPU ms/frame':>13} "
        f"{'RSS after imports (MiB)':>24}",
    ]
    for kind, label in (("bare", "bare loop"), ("pose2d", "pose2d.run")):
        row = medians[kind]
        lines.append(
            f"{label:>22} {row['peak_mib']:>15.0f} {row['fps']:>9.2f} "
            f"{row['cpu_ms_per_frame']:>13.1f} {row['imports']:>24.0f}"
        )
    lines += [
        f"{'pose2d / bare':>22} {memory:>14.2f}x {fps:>8.2f}x {cpu:>12.2f}x",
        f"{'frames/s, paired':>22} {'':>15} {figures['fps_ratio_paired']:>8.2f}x  (median of "
        "each round's pose2d / bare)",
        f"targets: memory <= {MEMORY_TARGET}x: {'met' if memory <= MEMORY_TARGET else 'NOT met'}"
        f"; frames/s >= {FPS_TARGET}x: {'met' if fps >= FPS_TARGET else 'NOT met'}",
        "reproduce: .venv/bin/python scripts/benchmark_pose_memory.py " + " ".join(argv),
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Parse `argv` (default: the command line), run `measure`, print the table; return the
    figures (empty in a child process)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=600, help="frames of the video (600)")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each kind (3)")
    parser.add_argument(
        "--work-dir", type=Path, default=None,
        help="folder of the cached video (default: <tmp>/posebench-benchmark-pose-memory)",
    )  # fmt: skip
    parser.add_argument("--child", nargs=2, metavar=("KIND", "VIDEO"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, video = args.child
        if kind not in KINDS:
            parser.error(f"--child KIND must be one of {KINDS}")
        child(kind, Path(video))
        return {}
    figures = measure(args.frames, args.repeats, args.work_dir)
    shown = [f"--frames {args.frames}", f"--repeats {args.repeats}"]
    if args.work_dir is not None:
        shown.append(f"--work-dir {args.work_dir}")
    print(report(figures, shown))
    return figures


if __name__ == "__main__":
    main()
