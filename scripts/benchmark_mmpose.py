"""Throughput of the `mmpose` backend and the `mmdet` detector versus MMPose's and
MMDetection's own inference APIs on the same models.

Builds, from the configs that ship in the installed mmpose / mmdet wheels, a randomly
initialised HRNet-W48 DARK 384x288 (flip test on, as in the config) and a Faster R-CNN R50-FPN
1x (the config's test scale, 1333x800; nothing is downloaded), saves each as a checkpoint
folder (config.py + .pth), and for each device measures, after a warm-up, the best of
`--repeats` timed runs (backend and bare runs alternate) of

- pose, person crops per second: `MMPoseBackend.predict` on synthetic 1920x1080 frames with a
  fixed person box per frame (its detection file written with `save_detections`; the
  `start_video` call is not timed), for each crop batch size, versus a bare loop of
  `mmpose.apis.inference_topdown(model, bgr_frame, box[None])`, one call per crop, on the
  backend's own model object and the same crops;
- detector, images per second: posebench's `mmdet` detector (`create_detector`) on batches of
  `--det-batch` frames versus a bare loop of `mmdet.apis.inference_detector(model, bgr_frame)`,
  one frame at a time, on the detector's own model object and the same frames.

The bare loops get BGR frames converted beforehand (posebench's frames are RGB; the backends
pass BGR views), and run under the same autocast as the backends for fp16/bf16. The ratio is
backend / bare (>= 1: the backend is faster; the goal is >= 0.9). On CUDA both fp32 and
`--precision` (fp16 by default) are measured. This is a script, not a test:

    .venv/bin/python scripts/benchmark_mmpose.py [--device cpu|cuda|all] [--repeats 2]
        [--batch-sizes 1,8,32] [--crops 16] [--det-frames 4] [--det-batch 2]
        [--precision fp16|bf16|fp32]

CPU defaults are small: HRNet-W48 with flip test takes ~0.6 s per crop and Faster R-CNN ~3 s
per full-HD frame on two cores. On a GPU, raise --crops (e.g. 256) and --det-frames (e.g. 32).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import logging
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from benchmark_inputs import BOX, FRAME_HEIGHT, FRAME_WIDTH, best_rates, write_inputs

from posebench.backends.openmmlab import has_compiled_ops, import_stack
from posebench.detection import autocast, create_detector

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the random checkpoints of the tests

from openmmlab_factory import build_faster_rcnn, build_hrnet, parameter_count  # noqa: E402

DET_THRESHOLD = 0.05  # Faster R-CNN's own test score threshold: every box it returns counts

Row = tuple[str, str, str, int, float, float]  # task, device, precision, batch, backend, bare


def release(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def bench_pose(
    device: str,
    precision: str,
    weights: Path,
    inputs: tuple[Path, Path, list[np.ndarray]],
    batch_sizes: list[int],
    repeats: int,
) -> list[Row]:
    from mmpose.apis import inference_topdown

    from posebench.backends.mmpose_topdown import MMPoseBackend

    video, detections, frames = inputs
    crops = len(frames)
    bgr = frames[0][..., ::-1].copy()  # every frame is the same image
    bgr_frames = [bgr] * crops
    box = np.array(BOX, np.float32)
    rows = []
    for size in batch_sizes:
        options = {"device": device, "precision": precision, "crop_batch_size": size}
        backend = MMPoseBackend("hrnet-w48-dark-random", "coco17", options, weights)
        model = backend._model
        backend.start_video(video, detections)

        def full_path(backend: MMPoseBackend = backend, count: int = crops) -> Any:
            return backend.predict(frames[:count], list(range(count)))

        def bare(model: Any = model, count: int = crops) -> Any:
            with autocast(device, precision):
                return [inference_topdown(model, image, box[None]) for image in bgr_frames[:count]]

        keypoints, _ = full_path(count=min(size, crops))  # warm-up
        reference = bare(count=1)[0][0].pred_instances.keypoints[0]
        difference = np.nanmax(np.abs(keypoints[0] - reference))
        backend_rate, bare_rate = best_rates([full_path, bare], crops, repeats, device)
        rows.append(("pose", device, precision, size, backend_rate, bare_rate))
        print(
            f"  pose {device} {precision} crop_batch={size}: backend {backend_rate:.2f} crops/s, "
            f"bare {bare_rate:.2f} crops/s, ratio {backend_rate / bare_rate:.2f} "
            f"(warm-up keypoints of crop 0 differ by at most {difference:.2g} px)",
            flush=True,
        )
        backend.close()
        del backend, model, full_path, bare
        release(device)
    return rows


def bench_detector(
    device: str,
    precision: str,
    weights: Path,
    frames: list[np.ndarray],
    batch: int,
    repeats: int,
) -> Row:
    from mmdet.apis import inference_detector

    from posebench.backends.mmdet_detector import MMDetPersonDetector, result_candidates

    detector = create_detector("mmdet", weights, "faster-rcnn-random", device, precision)
    assert isinstance(detector, MMDetPersonDetector)
    model = detector.model
    count = len(frames)
    bgr = frames[0][..., ::-1].copy()
    bgr_frames = [bgr] * count

    def full_path(count: int = count) -> Any:
        return [
            found
            for start in range(0, count, batch)
            for found in detector(frames[start : min(start + batch, count)], DET_THRESHOLD)
        ]

    def bare(count: int = count) -> Any:
        with autocast(device, precision):
            return [inference_detector(model, image) for image in bgr_frames[:count]]

    boxes = full_path(count=min(batch, count))[0][0]  # warm-up
    reference = result_candidates(
        bare(count=1)[0], detector.person, DET_THRESHOLD, (FRAME_WIDTH, FRAME_HEIGHT)
    )[0]
    backend_rate, bare_rate = best_rates([full_path, bare], count, repeats, device)
    print(
        f"  detector {device} {precision} batch={batch}: backend {backend_rate:.2f} images/s, "
        f"bare {bare_rate:.2f} images/s, ratio {backend_rate / bare_rate:.2f} (warm-up person "
        f"boxes of frame 0 at score >= {DET_THRESHOLD}: backend {len(boxes)}, bare "
        f"{len(reference)})",
        flush=True,
    )
    return ("detector", device, precision, batch, backend_rate, bare_rate)


def versions() -> str:
    found = []
    for package in ("mmpose", "mmdet", "mmcv-lite", "mmcv", "mmengine", "mmpretrain"):
        try:
            found.append(f"{package} {importlib.metadata.version(package)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return ", ".join(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--device",
        choices=["cpu", "cuda", "all"],
        default="all",
        help="all: the CPU, and CUDA when available (default)",
    )
    parser.add_argument(
        "--precision",
        choices=["fp32", "fp16", "bf16"],
        default="fp16",
        help="mixed precision measured on CUDA besides fp32 (default fp16; the CPU runs fp32)",
    )
    parser.add_argument("--repeats", type=int, default=2, help="timed runs; the best counts")
    parser.add_argument("--batch-sizes", default="1,8,32", help="comma-separated crop batches")
    parser.add_argument("--crops", type=int, default=16, help="pose crops per timed run")
    parser.add_argument("--det-frames", type=int, default=4, help="detector frames per run")
    parser.add_argument("--det-batch", type=int, default=2, help="detector frames per call")
    args = parser.parse_args()
    batch_sizes = [int(size) for size in args.batch_sizes.split(",")]
    if min(args.repeats, args.crops, args.det_frames, args.det_batch, *batch_sizes) < 1:
        parser.error("--repeats, --crops, --batch-sizes, --det-frames, --det-batch must be >= 1")
    runs = [("cpu", "fp32")] if args.device in ("cpu", "all") else []
    if args.device == "cuda" or (args.device == "all" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            parser.error("--device cuda: PyTorch sees no CUDA GPU")
        runs.append(("cuda", "fp32"))
        if args.precision != "fp32":
            runs.append(("cuda", args.precision))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warnings.filterwarnings("ignore", category=UserWarning)  # mmcv-lite / mmengine notices

    started = time.perf_counter()
    import_stack("benchmark", RuntimeError, detector=True)  # before any mmpose / mmdet import
    ops = "compiled mmcv ops" if has_compiled_ops() else "torchvision stand-ins for mmcv ops"
    gpu = f", CUDA {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no CUDA"
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads{gpu}; {versions()}; "
        f"{ops}; load average {os.getloadavg()[0]:.1f} (other busy processes skew the rates)",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench_mmpose_") as tmp:
        folder = Path(tmp)
        hrnet_parameters = parameter_count(build_hrnet(folder / "hrnet", 17))
        detector = build_faster_rcnn(folder / "faster_rcnn", scale=None, person_bias=None)
        detector_parameters = parameter_count(detector)
        inputs = write_inputs(folder, args.crops)
        det_frames = [inputs[2][0]] * args.det_frames
        print(
            f"HRNet-W48 DARK 384x288 (random weights, {hrnet_parameters / 1e6:.1f} M parameters, "
            f"flip test), {args.crops} crops per run; Faster R-CNN R50-FPN 1x (random weights, "
            f"{detector_parameters / 1e6:.1f} M parameters, test scale 1333x800), "
            f"{args.det_frames} frames per run; {FRAME_WIDTH}x{FRAME_HEIGHT} frames, best of "
            f"{args.repeats}; set-up {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        rows: list[Row] = []
        for device, precision in runs:
            rows += bench_pose(
                device, precision, folder / "hrnet", inputs, batch_sizes, args.repeats
            )
            rows.append(
                bench_detector(
                    device,
                    precision,
                    folder / "faster_rcnn",
                    det_frames,
                    args.det_batch,
                    args.repeats,
                )
            )
            release(device)  # the detector is gone with bench_detector's frame
    print()
    for task, device, precision, size, backend_rate, bare_rate in rows:
        unit, batch = ("crops/s", "crop_batch") if task == "pose" else ("images/s", "batch")
        label = f"{task} {device} {precision} {batch}={size}:"
        print(
            f"{label:<32} backend {backend_rate:>8.2f} {unit:<8}  bare {bare_rate:>8.2f} "
            f"{unit:<8}  ratio {backend_rate / bare_rate:.2f}"
        )
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
