"""Speed and memory of the workflow's stages, each as a ratio measured in one run.

Prints one table (issue 14's), each row a ratio of two timings or peaks taken in this run,
alternating, medians of `--repeats`:

1. `triangulate_dlt` on C cameras x F frames x K points versus the per-point loop of
   OpenCap's triangulation, which OpenCapBench runs (`np.vstack` of each camera's DLT rows,
   `np.linalg.svd` of the 4x4 normal matrix, one point at a time). The loop runs on a
   random sample of the points (`--loop-points`) and is scaled to all of them per point:
   its cost is linear in the points.
2. `triangulate_robust` (the path `posebench.reconstruction` uses: undistortion, weighted DLT,
   reprojection errors, worst views dropped above 30 px) versus aniposelib 0.8.0's
   `CameraGroup.triangulate` (undistortion + DLT) on the same pixels. aniposelib is not a
   dependency: it is installed into its own virtual environment (`--cache`) on first use
   and timed there, in a child process; `--no-aniposelib` skips the row.
3. `correct_left_right_swaps` versus one `triangulate_robust` on the same views (with 2% of
   the camera views mirrored).
4. the `pose2d` stage's peak memory and frames/s versus a bare MediaPipe loop
   (`scripts/benchmark_pose_memory.py`, child processes; `--no-pose` skips it).
5. the post-pose demo run versus Pose2Sim (`scripts/benchmark_postpose.py`; `--no-postpose`
   skips it).

and, when a finished run left them (`--benchmarks`, default `benchmarks/`), the wall time of
each stage from Snakemake's benchmark files. This is a script, not a test:

    .venv/bin/python scripts/benchmark_stages.py [--frames 10000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from posebench.camera import Camera
from posebench.skeletons import ANATOMICAL_KEYPOINTS
from posebench.triangulation import (
    correct_left_right_swaps,
    mirror_permutation,
    normalised_keypoints,
    triangulate_dlt,
    triangulate_robust,
    usable_views,
)

FloatArray = npt.NDArray[np.float64]
ROOT = Path(__file__).resolve().parent.parent
ANIPOSELIB = "aniposelib==0.8.0"
MIN_SCORE = 0.5
MAX_ERROR_PX = 30.0
# Calls of each triangulation per round of the aniposelib comparison.
CALLS_PER_ROUND = 3


def ring_cameras(n_cameras: int) -> list[Camera]:
    """Full-HD cameras with lens distortion on a 4 m ring, 1.5 m high, looking at the
    centre 1 m above the floor (z up)."""
    k = np.array([[1400.0, 0.0, 955.0], [0.0, 1405.0, 545.0], [0.0, 0.0, 1.0]])
    distortion = np.array([-0.11, 0.05, 0.001, -0.0007, -0.008])
    target = np.array([0.0, 0.0, 1.0])
    cameras = []
    for index, angle in enumerate(np.linspace(0.0, 2 * np.pi, n_cameras, endpoint=False)):
        centre = np.array([4.0 * np.cos(angle), 4.0 * np.sin(angle), 1.5])
        forward = (target - centre) / np.linalg.norm(target - centre)
        right = np.cross(forward, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        rotation = np.stack([right, np.cross(forward, right), forward])
        cameras.append(
            Camera(f"cam{index}", k, distortion, rotation, -rotation @ centre, (1920, 1080))
        )
    return cameras


def views(
    cameras: list[Camera], n_frames: int, n_points: int, seed: int = 0
) -> tuple[FloatArray, FloatArray]:
    """(C, F, K, 2) keypoints of points moving inside a 1.6 m box, with 2 px of noise, 3%
    gross errors (50-300 px), 2% undetected views; and (C, F, K) scores in 0.2-1."""
    rng = np.random.default_rng(seed)
    base = rng.uniform(-0.6, 0.6, size=(n_points, 3)) + [0.0, 0.0, 1.0]
    t = np.arange(n_frames)[:, None, None] / 60.0
    points = base + 0.2 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6, size=(n_points, 3)))
    keypoints = np.stack([camera.project(points) for camera in cameras])
    keypoints += rng.normal(0.0, 2.0, size=keypoints.shape)
    gross = rng.random(keypoints.shape[:3]) < 0.03
    keypoints[gross] += rng.uniform(50.0, 300.0, size=(int(gross.sum()), 2))
    keypoints[rng.random(keypoints.shape[:3]) < 0.02] = np.nan
    return keypoints, rng.uniform(0.2, 1.0, size=keypoints.shape[:3])


def per_point_loop(points_norm: FloatArray, weights: FloatArray, extrinsics: FloatArray) -> None:
    """OpenCap-style DLT (opencap-core's `nview_linear_triangulation`, which OpenCapBench
    runs): for each point, each camera's two weighted rows stacked with `np.vstack` into D,
    the SVD of D'D, the last singular vector to Euclidean, and the point's confidence (the
    mean non-zero weight)."""
    n_cameras, n_points = weights.shape
    for point in range(n_points):
        system = np.zeros((2 * n_cameras, 4))
        for camera in range(n_cameras):
            x, y = points_norm[camera, point]
            projection = extrinsics[camera]
            block = np.vstack(
                (x * projection[2] - projection[0], y * projection[2] - projection[1])
            )
            system[2 * camera : 2 * camera + 2] = weights[camera, point] * block
        vectors = np.linalg.svd(system.T @ system)[0]
        vectors[:3, -1] / vectors[3, -1]
        nonzero = weights[:, point][weights[:, point] != 0]
        float(np.mean(nonzero)) if nonzero.size >= 2 else 0.0


def timed(function: Callable[[], object]) -> float:
    """Wall seconds of one call."""
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def median_times(functions: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median wall seconds of each function, called alternately `repeats` times."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeats):
        for name, function in functions.items():
            times[name].append(timed(function))
    return {name: statistics.median(values) for name, values in times.items()}


ANIPOSELIB_CHILD = """
import json, sys, time
import numpy as np
from aniposelib.cameras import Camera, CameraGroup
data = np.load(sys.argv[1])
cameras = [
    Camera(matrix=data["matrix"][i], dist=data["distortion"][i], rvec=data["rvec"][i],
           tvec=data["tvec"][i], size=(1920, 1080), name=f"cam{i}")
    for i in range(len(data["matrix"]))
]
group = CameraGroup(cameras)
points = np.where(data["scores"][..., None] >= data["min_score"], data["keypoints"], np.nan)
group.triangulate(points, progress=False)  # compiles (JAX and numba, for these shapes)
times = []
for _ in range(int(sys.argv[2])):
    started = time.perf_counter()
    result = group.triangulate(points, progress=False)
    times.append(time.perf_counter() - started)
np.save(sys.argv[3], result)
print(json.dumps(times))
"""


def aniposelib_python(cache: Path) -> Path:
    """The Python of a virtual environment with aniposelib 0.8.0, made on first use."""
    environment = cache / "aniposelib-0.8.0"
    python = environment / "bin" / "python"
    if not (environment / ".installed").exists():
        print(f"Installing {ANIPOSELIB} into {environment} (once) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(environment)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", ANIPOSELIB], check=True)
        (environment / ".installed").touch()
    return python


def aniposelib_times(
    python: Path, cameras: list[Camera], keypoints: FloatArray, scores: FloatArray, repeats: int
) -> tuple[list[float], FloatArray]:
    """aniposelib's wall seconds per `CameraGroup.triangulate` of the (C, N, 2) keypoints
    (views below MIN_SCORE as NaN), and its (N, 3) points."""
    import cv2

    with tempfile.TemporaryDirectory() as folder:
        data, result = Path(folder) / "views.npz", Path(folder) / "points.npy"
        np.savez(
            data,
            matrix=np.stack([camera.matrix for camera in cameras]),
            distortion=np.stack([camera.distortion for camera in cameras]),
            rvec=np.stack([cv2.Rodrigues(camera.rotation)[0].ravel() for camera in cameras]),
            tvec=np.stack([camera.translation_m for camera in cameras]),
            keypoints=keypoints,
            scores=scores,
            min_score=MIN_SCORE,
        )
        output = subprocess.run(
            [str(python), "-c", ANIPOSELIB_CHILD, str(data), str(repeats), str(result)],
            check=True,
            capture_output=True,
            text=True,
        )
        return json.loads(output.stdout.strip().splitlines()[-1]), np.load(result)


def triangulation_rows(args: argparse.Namespace) -> list[tuple[str, str, str, float]]:
    """Rows (what, project, baseline, ratio baseline / project) of the triangulation stage."""
    cameras = ring_cameras(args.cameras)
    keypoints, scores = views(cameras, args.frames, args.points)
    n_points = args.frames * args.points
    normalised, weights = usable_views(  # undetected views: weight 0 at (0, 0)
        normalised_keypoints(cameras, keypoints).reshape(args.cameras, -1, 2),
        np.where(scores >= MIN_SCORE, scores, 0.0).reshape(args.cameras, -1),
    )
    extrinsics = np.stack([camera.extrinsic_matrix() for camera in cameras])
    sample = np.random.default_rng(1).choice(n_points, size=min(args.loop_points, n_points))
    rows: list[tuple[str, str, str, float]] = []

    times = median_times(
        {
            "dlt": lambda: triangulate_dlt(normalised, weights, extrinsics),
            "loop": lambda: per_point_loop(normalised[:, sample], weights[:, sample], extrinsics),
        },
        args.repeats,
    )
    loop = times["loop"] * n_points / sample.size
    rows.append(
        (
            f"triangulate_dlt, {args.cameras} cams x {args.frames} frames x {args.points} points",
            f"{times['dlt']:.3f} s",
            f"per-point loop {loop:.1f} s ({1e6 * loop / n_points:.1f} us/point)",
            loop / times["dlt"],
        )
    )

    frames = min(args.frames, args.aniposelib_frames)
    subset_keypoints, subset_scores = keypoints[:, :frames], scores[:, :frames]
    robust = lambda: triangulate_robust(  # noqa: E731
        cameras, subset_keypoints, subset_scores, MIN_SCORE, 2, MAX_ERROR_PX
    )
    if args.aniposelib:
        python = aniposelib_python(args.cache)
        flat = subset_keypoints.reshape(args.cameras, -1, 2)
        flat_scores = subset_scores.reshape(args.cameras, -1)
        # Rounds alternate between the two, so that both see the same machine load: per
        # round, the median of CALLS_PER_ROUND calls of ours, then of theirs (in a child
        # process, after a warm-up call on the same arrays: aniposelib's JAX code compiles
        # per shape, and its first calls after that are still slower than later ones).
        robust()
        our_times, theirs = [], []
        for _ in range(args.repeats):
            our_times.append(statistics.median(timed(robust) for _ in range(CALLS_PER_ROUND)))
            their_times, their_points = aniposelib_times(
                python, cameras, flat, flat_scores, CALLS_PER_ROUND
            )
            theirs.append(statistics.median(their_times))
        ours = statistics.median(our_times)
        plain = triangulate_robust(cameras, subset_keypoints, subset_scores, MIN_SCORE, 2)[0]
        agreement = np.nanmedian(np.linalg.norm(plain.reshape(-1, 3) - their_points, axis=1))
        rows.append(
            (
                f"triangulate_robust vs aniposelib, {frames} frames x {args.points} points",
                f"{ours:.3f} s",
                f"aniposelib {statistics.median(theirs):.3f} s "
                f"(plain DLT agrees to {1e3 * agreement:.2f} mm)",
                statistics.median(theirs) / ours,
            )
        )

    swap_keypoints, swap_scores = keypoints[:, :frames].copy(), scores[:, :frames].copy()
    names = list(ANATOMICAL_KEYPOINTS[: args.points])
    permutation = mirror_permutation(names)
    mirrored = np.random.default_rng(2).random(swap_scores.shape[:2]) < 0.02
    swap_keypoints[mirrored] = swap_keypoints[mirrored][:, permutation]
    swap_scores[mirrored] = swap_scores[mirrored][:, permutation]
    times = median_times(
        {
            "swaps": lambda: correct_left_right_swaps(
                cameras, swap_keypoints, swap_scores, names, MIN_SCORE
            ),
            "robust": lambda: triangulate_robust(
                cameras, swap_keypoints, swap_scores, MIN_SCORE, 2, MAX_ERROR_PX
            ),
        },
        args.repeats,
    )
    rows.append(
        (
            f"correct_left_right_swaps, {frames} frames, 2% of views mirrored",
            f"{times['swaps']:.3f} s",
            f"one triangulate_robust {times['robust']:.3f} s",
            times["swaps"] / times["robust"],
        )
    )
    return rows


def stage_walls(folder: Path) -> list[tuple[str, int, float]]:
    """Per rule: (rule, jobs, median wall s) from Snakemake's benchmark files in `folder`
    (`benchmarks/<rule>/...`)."""
    walls: dict[str, list[float]] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            lines = path.read_text().splitlines()
            if len(lines) >= 2 and lines[0].startswith("s\t"):
                rule = path.relative_to(folder).parts[0]
                walls.setdefault(rule, []).append(float(lines[1].split("\t")[0]))
    return [(rule, len(v), statistics.median(v)) for rule, v in sorted(walls.items())]


def optional_rows(args: argparse.Namespace) -> list[tuple[str, str, str, float]]:
    """The pose2d-memory and post-pose rows, from their scripts (skipped when asked)."""
    rows: list[tuple[str, str, str, float]] = []
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    if args.pose:
        import benchmark_pose_memory

        memory: dict[str, Any] = benchmark_pose_memory.measure(repeats=args.repeats)
        rows.append(
            (
                "pose2d peak memory (600 frames, 1080x1920)",
                f"{memory['stage_peak_mib']:.0f} MiB",
                f"bare MediaPipe loop {memory['bare_peak_mib']:.0f} MiB",
                memory["stage_peak_mib"] / memory["bare_peak_mib"],
            )
        )
        rows.append(
            (
                "pose2d frames/s",
                f"{memory['stage_fps']:.1f} fps",
                f"bare MediaPipe loop {memory['bare_fps']:.1f} fps",
                memory["stage_fps"] / memory["bare_fps"],
            )
        )
    if args.postpose:
        import benchmark_postpose

        postpose: dict[str, Any] = benchmark_postpose.measure(repeats=args.repeats)
        for key, label in (
            ("pose2sim_lean_wall_s", "Pose2Sim, no plots or C3D"),
            ("pose2sim_wall_s", "Pose2Sim, demo settings"),
        ):
            if postpose.get(key):
                rows.append(
                    (
                        "post-pose demo run (whole processes)",
                        f"{postpose['posebench_wall_s']:.1f} s",
                        f"{label} {postpose[key]:.1f} s",
                        postpose["posebench_wall_s"] / postpose[key],
                    )
                )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--frames", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=52)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--loop-points", type=int, default=20_000)
    parser.add_argument("--aniposelib-frames", type=int, default=2_000)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "posebench-bench")
    parser.add_argument("--no-aniposelib", dest="aniposelib", action="store_false")
    parser.add_argument("--no-pose", dest="pose", action="store_false")
    parser.add_argument("--no-postpose", dest="postpose", action="store_false")
    parser.add_argument("--benchmarks", type=Path, default=ROOT / "benchmarks")
    args = parser.parse_args()

    rows = triangulation_rows(args) + optional_rows(args)
    print(f"\n{'what':72s} {'project':>12s}  {'ratio':>7s}  baseline")
    for what, ours, baseline, ratio in rows:
        print(f"{what:72s} {ours:>12s}  {ratio:6.2f}x  {baseline}")
    print(
        "\nratio: baseline time / project time for the triangulation rows (higher is "
        "better), project / baseline for the swap, memory and post-pose rows (lower is "
        "better) and frames/s (higher is better)."
    )
    walls = stage_walls(args.benchmarks) if args.benchmarks.is_dir() else []
    if walls:
        print(f"\nPer-stage wall from {args.benchmarks} (median s per job):")
        for rule, jobs, wall in walls:
            print(f"  {rule:24s} {jobs:5d} jobs  {wall:8.2f} s")
    print(f"\nReproduce: {Path(sys.executable).name} {' '.join(sys.argv)}")


if __name__ == "__main__":
    main()
