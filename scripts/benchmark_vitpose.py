"""Throughput of the `vitpose` backend versus the bare ViTPose forward pass.

Builds a randomly initialised ViTPose-B-sized model (Transformers' VitPose defaults: hidden
size 768, 12 layers, 256x192 input; nothing is downloaded), then for each device and crop
batch size measures person crops per second of

- backend: `VitPoseBackend.predict` on synthetic frames with a fixed person box per frame
  (crop + resize + normalise by the image processor, the model, heatmap post-processing);
- model: the bare `model(pixel_values)` loop over the same number of pre-processed crops,

after a warm-up, and prints both rates and their ratio (model / backend: how much slower
the full path is than the network alone). This is a script, not a test:

    .venv/bin/python scripts/benchmark_vitpose.py [--device cpu|cuda|all] [--repeats 2]
        [--batch-sizes 1,8,32] [--crops 32] [--precision fp32|fp16|bf16]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers
from benchmark_inputs import BOX, FRAME_HEIGHT, FRAME_WIDTH, best_rates, write_inputs
from transformers import (
    VitPoseBackboneConfig,
    VitPoseConfig,
    VitPoseForPoseEstimation,
    VitPoseImageProcessor,
)

from posebench.backends.vitpose import VitPoseBackend
from posebench.detection import autocast
from posebench.skeletons import COCO_KEYPOINTS


def build_model(folder: Path) -> VitPoseForPoseEstimation:
    """A random ViTPose-B with 17 keypoint heatmaps, saved to `folder` for the backend."""
    # Keyword arguments the typed config signatures do not list; out_indices: the last layer.
    extra: dict[str, Any] = {"out_indices": [12]}
    backbone = VitPoseBackboneConfig(**extra)
    if (backbone.hidden_size, backbone.num_hidden_layers) != (768, 12):
        raise SystemExit(
            f"VitPoseBackboneConfig defaults are hidden size {backbone.hidden_size}, "
            f"{backbone.num_hidden_layers} layers; this benchmark expects ViTPose-B (768, 12)."
        )
    labels: dict[str, Any] = {"num_labels": len(COCO_KEYPOINTS)}
    config = VitPoseConfig(backbone_config=backbone, **labels)
    torch.manual_seed(0)
    model = VitPoseForPoseEstimation(config).eval()
    model.save_pretrained(folder)
    VitPoseImageProcessor().save_pretrained(folder)
    return model


def bench_device(
    device: str,
    precision: str,
    model: torch.nn.Module,
    weights: Path,
    inputs: tuple[Path, Path, list[np.ndarray]],
    batch_sizes: list[int],
    repeats: int,
) -> list[tuple[str, int, float, float]]:
    video, detections, frames = inputs
    crops = len(frames)
    processor = VitPoseImageProcessor.from_pretrained(weights)
    boxes = [[[BOX[0], BOX[1], BOX[2] - BOX[0], BOX[3] - BOX[1]]]] * crops  # COCO x, y, w, h
    pixel_values = processor.preprocess(frames, boxes=boxes, return_tensors="pt")["pixel_values"]
    pixel_values = pixel_values.to(device)
    model.to(device)
    rows = []
    for size in batch_sizes:
        options = {"device": device, "precision": precision, "crop_batch_size": size}
        backend = VitPoseBackend("vitpose-b-random", "coco17", options, weights)

        def full_path(backend: VitPoseBackend = backend, count: int = crops) -> None:
            backend.start_video(video, detections)
            backend.predict(frames[:count], list(range(count)))

        def bare_model(size: int = size, count: int = crops) -> None:
            with torch.inference_mode(), autocast(device, precision):
                for start in range(0, count, size):
                    model(pixel_values=pixel_values[start : min(start + size, count)])

        warm_up = min(size, crops)
        full_path(count=warm_up)
        bare_model(count=warm_up)
        [backend_rate] = best_rates([full_path], crops, repeats, device)
        [model_rate] = best_rates([bare_model], crops, repeats, device)
        rows.append((device, size, backend_rate, model_rate))
        print(
            f"  {device} crop_batch_size={size}: backend {backend_rate:.2f} crops/s, "
            f"model {model_rate:.2f} crops/s",
            flush=True,
        )
        backend.close()
    model.to("cpu")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--device",
        choices=["cpu", "cuda", "all"],
        default="all",
        help="all: the CPU, and CUDA when available (default)",
    )
    parser.add_argument("--precision", choices=["fp32", "fp16", "bf16"], default="fp32")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs; the best counts")
    parser.add_argument("--batch-sizes", default="1,8,32", help="comma-separated crop batches")
    parser.add_argument("--crops", type=int, default=32, help="crops per timed run")
    args = parser.parse_args()
    batch_sizes = [int(size) for size in args.batch_sizes.split(",")]
    if args.repeats < 1 or args.crops < 1 or min(batch_sizes) < 1:
        parser.error("--repeats, --crops and --batch-sizes must be >= 1")
    devices = ["cpu"] if args.device in ("cpu", "all") else []
    if args.device == "cuda" or (args.device == "all" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            parser.error("--device cuda: PyTorch sees no CUDA GPU")
        devices.append("cuda")
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    with tempfile.TemporaryDirectory(prefix="bench_vitpose_") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        model = build_model(folder / "weights")
        inputs = write_inputs(folder, args.crops)
        print(
            f"ViTPose-B (random weights, {sum(p.numel() for p in model.parameters()) / 1e6:.1f} "
            f"M parameters, input 256x192), {args.crops} crops of {FRAME_WIDTH}x{FRAME_HEIGHT} "
            f"frames per run, best of {args.repeats}; torch {torch.__version__}, "
            f"{torch.get_num_threads()} CPU threads; set-up {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        rows = []
        for device in devices:
            precision = args.precision if device == "cuda" else "fp32"
            rows += bench_device(
                device, precision, model, folder / "weights", inputs, batch_sizes, args.repeats
            )
    print()
    header = (
        f"{'device':<7} {'crop batch':>10} {'backend crops/s':>16} {'model crops/s':>14} "
        f"{'ratio':>6} {'overhead ms/crop':>17}"
    )
    print(header)
    print("-" * len(header))
    for device, size, backend_rate, model_rate in rows:
        overhead_ms = 1000 * (1 / backend_rate - 1 / model_rate)
        print(
            f"{device:<7} {size:>10} {backend_rate:>16.2f} {model_rate:>14.2f} "
            f"{model_rate / backend_rate:>6.2f} {overhead_ms:>17.1f}"
        )


if __name__ == "__main__":
    main()
