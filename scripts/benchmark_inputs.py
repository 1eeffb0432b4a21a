"""Inputs and timing shared by the pose benchmarks (scripts/benchmark_vitpose.py,
scripts/benchmark_mmpose.py, scripts/benchmark_rtmpose.py): a synthetic full-HD video and
its detections with one fixed person box per frame, and the best-of-N rate of timed runs.
Imported by those scripts (their folder is on sys.path when they run); PyTorch only for
`best_rates` on CUDA, so that the ONNX Runtime benchmark needs none.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from posebench.detection import DetectionTrack, save_detections

FRAME_WIDTH, FRAME_HEIGHT = 1920, 1080
BOX = (820.0, 140.0, 1100.0, 1000.0)  # x1, y1, x2, y2: a standing person
SEED = 0


def write_inputs(folder: Path, frames: int) -> tuple[Path, Path, list[np.ndarray]]:
    """A synthetic video (its header is what `start_video` checks), its detections with
    BOX in every frame, and the RGB frames in memory (decoding is not measured)."""
    rng = np.random.default_rng(SEED)
    frame = rng.integers(0, 256, (FRAME_HEIGHT, FRAME_WIDTH, 3), dtype=np.uint8)
    video = folder / "synthetic.mp4"
    writer = cv2.VideoWriter(
        str(video), cv2.VideoWriter.fourcc(*"mp4v"), 30.0, (FRAME_WIDTH, FRAME_HEIGHT)
    )
    for _ in range(frames):
        writer.write(frame)
    writer.release()
    detections = folder / "synthetic.detections.npz"
    track = DetectionTrack(
        boxes=np.tile(np.array(BOX, np.float32), (frames, 1)),
        scores=np.ones(frames, np.float32),
        detector="fixed-box",
        score_threshold=0.0,
        fps=30.0,
        image_size=(FRAME_WIDTH, FRAME_HEIGHT),
        video=str(video),
        frame_count_header=frames,
    )
    save_detections(detections, track)
    return video, detections, [frame] * frames


def best_rates(runs: list[Callable[[], Any]], items: int, repeats: int, device: str) -> list[float]:
    """Items per second of the fastest of `repeats` timed runs of each of `runs`; the runs
    alternate within each repeat so that drift of the machine affects them alike."""
    times: list[list[float]] = [[] for _ in runs]
    if device.startswith("cuda"):
        import torch
    for _ in range(repeats):
        for run, spent in zip(runs, times, strict=True):
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            started = time.perf_counter()
            run()
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            spent.append(time.perf_counter() - started)
    return [items / min(spent) for spent in times]
