"""Throughput of the `rtmpose` backend versus a bare ONNX Runtime loop on the same crops.

Builds, with `onnx.helper`, a random model of RTMPose-m's size and I/O (nothing is
downloaded): `input` (batch, 3, 256, 192) -> five stride-2 stages of 3x3 convolutions and
ReLUs (32, 64, 160, 320 and 640 channels; 3, 4, 1, 5 and 3 convolutions) -> a 1x1
convolution to 26 keypoints on the 8x6 map -> linear layers to `simcc_x` (batch, 26, 384)
and `simcc_y` (batch, 26, 512): 13.9 M parameters and 1.95 GMACs per crop, RTMPose-m's
13.93 M and 1.95 G (its CSPNeXt layers differ; the cost is what is matched). Then, for each
crop batch size, it times person crops per second of

- backend: `RTMPoseBackend.predict` on full-HD RGB frames with one person box each (crop by
  affine warp, normalise, one `InferenceSession.run` per `crop_batch_size` crops, SimCC
  decoding, back to image pixels; the frames are in memory, decoding is not measured);
- bare: `InferenceSession.run` over the same crops, already pre-processed, in batches of the
  same size, on a session with the same options (`session_options`: intra-op threads, one
  inter-op thread, no spinning) and providers;

alternating the two within each repeat, and prints the medians and their ratio (backend /
bare; the goal is >= 0.9). This is a script, not a test:

    .venv/bin/python scripts/benchmark_rtmpose.py [--device cpu|cuda] [--threads 2]
        [--batch-sizes 1,8,32] [--crops 64] [--repeats 5]

`--device cuda` needs `onnxruntime-gpu` in place of `onnxruntime`.
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from benchmark_inputs import BOX, FRAME_HEIGHT, FRAME_WIDTH, SEED, write_inputs
from onnx import TensorProto, helper, numpy_helper

from posebench.backends.rtmpose import (
    INPUT_NAME,
    OUTPUT_NAMES,
    RTMPoseBackend,
    crop_images,
    normalise_crops,
    session_options,
    session_providers,
)
from posebench.markersets import get_marker_set

INPUT_WIDTH, INPUT_HEIGHT = 192, 256
KEYPOINTS = 26  # Halpe26
# (output channels, 3x3 convolutions) per stride-2 stage; the first convolution of each has
# stride 2.
STAGES = ((32, 3), (64, 4), (160, 1), (320, 5), (640, 3))
HIDDEN = 256  # the SimCC head's hidden width (RTMCC's GAU width)


def build_model(path: Path) -> tuple[int, int]:
    """Write the random RTMPose-m-sized model (module docstring) to `path`; return its
    parameter count and multiply-accumulates per crop."""
    rng = np.random.default_rng(SEED)
    nodes: list[onnx.NodeProto] = []
    weights: list[onnx.TensorProto] = []
    params = macs = 0

    def tensor(name: str, shape: tuple[int, ...], fan_in: int) -> str:
        nonlocal params
        array = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape).astype(np.float32)
        weights.append(numpy_helper.from_array(array, name))
        params += array.size
        return name

    height, width, channels, current = INPUT_HEIGHT, INPUT_WIDTH, 3, INPUT_NAME
    index = 0
    for out_channels, count in STAGES:
        for repeat in range(count):
            stride = 2 if repeat == 0 else 1
            height, width = height // stride, width // stride
            name = f"conv{index}"
            kernel = tensor(f"{name}.w", (out_channels, channels, 3, 3), channels * 9)
            bias = tensor(f"{name}.b", (out_channels,), channels * 9)
            nodes += [
                helper.make_node(
                    "Conv",
                    [current, kernel, bias],
                    [f"{name}.out"],
                    kernel_shape=[3, 3],
                    strides=[stride, stride],
                    pads=[1, 1, 1, 1],
                ),
                helper.make_node("Relu", [f"{name}.out"], [f"{name}.act"]),
            ]
            macs += channels * out_channels * 9 * height * width
            channels, current, index = out_channels, f"{name}.act", index + 1
    cells = height * width  # 8x6
    kernel = tensor("head.w", (KEYPOINTS, channels, 1, 1), channels)
    bias = tensor("head.b", (KEYPOINTS,), channels)
    macs += channels * KEYPOINTS * cells
    hidden_w = tensor("hidden.w", (cells, HIDDEN), cells)
    hidden_b = tensor("hidden.b", (HIDDEN,), cells)
    macs += KEYPOINTS * cells * HIDDEN
    shape = numpy_helper.from_array(np.array([0, KEYPOINTS, cells], np.int64), "head.shape")
    weights.append(shape)
    nodes += [
        helper.make_node("Conv", [current, kernel, bias], ["head.out"], kernel_shape=[1, 1]),
        helper.make_node("Reshape", ["head.out", "head.shape"], ["head.flat"]),
        helper.make_node("MatMul", ["head.flat", hidden_w], ["hidden.mm"]),
        helper.make_node("Add", ["hidden.mm", hidden_b], ["hidden.out"]),
        helper.make_node("Relu", ["hidden.out"], ["hidden.act"]),
    ]
    lengths = (2 * INPUT_WIDTH, 2 * INPUT_HEIGHT)
    for output, length in zip(OUTPUT_NAMES, lengths, strict=True):
        matrix = tensor(f"{output}.w", (HIDDEN, length), HIDDEN)
        offset = tensor(f"{output}.b", (length,), HIDDEN)
        nodes += [
            helper.make_node("MatMul", ["hidden.act", matrix], [f"{output}.mm"]),
            helper.make_node("Add", [f"{output}.mm", offset], [output]),
        ]
        macs += KEYPOINTS * HIDDEN * length
    graph = helper.make_graph(
        nodes,
        "rtmpose_m_sized",
        [
            helper.make_tensor_value_info(
                INPUT_NAME, TensorProto.FLOAT, ["batch", 3, INPUT_HEIGHT, INPUT_WIDTH]
            )
        ],
        [
            helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", KEYPOINTS, length])
            for name, length in zip(OUTPUT_NAMES, lengths, strict=True)
        ],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return params, macs


def median_rates(runs: list[Callable[[], Any]], items: int, repeats: int) -> list[float]:
    """Items per second of the median of `repeats` timed runs of each of `runs`; the runs
    alternate within each repeat so that drift of the machine affects them alike."""
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(repeats):
        for run, spent in zip(runs, times, strict=True):
            started = time.perf_counter()
            run()
            spent.append(time.perf_counter() - started)
    return [items / statistics.median(spent) for spent in times]


def bench(
    model_file: Path,
    device: str,
    threads: int,
    inputs: tuple[Path, Path, list[np.ndarray]],
    batch_size: int,
    repeats: int,
) -> tuple[float, float]:
    """(backend crops/s, bare crops/s) at `batch_size` crops per run."""
    video, detections, frames = inputs
    count = len(frames)
    options = {"device": device, "crop_batch_size": batch_size, "threads": threads}
    backend = RTMPoseBackend("rtmpose-m-random", "halpe26", options, model_file.parent)
    backend.start_video(video, detections)
    _, providers = session_providers(device, "benchmark", SystemExit)
    session = ort.InferenceSession(str(model_file), session_options(threads), providers=providers)
    crops, _, _ = crop_images(frames, np.tile(BOX, (count, 1)), (INPUT_WIDTH, INPUT_HEIGHT))
    batches = [
        normalise_crops(crops[start : start + batch_size]) for start in range(0, count, batch_size)
    ]
    slots = list(range(count))

    def full_path() -> None:
        backend.predict(frames, slots)

    def bare_loop() -> None:
        for batch in batches:
            session.run(list(OUTPUT_NAMES), {INPUT_NAME: batch})

    full_path()  # warm-up: first runs allocate
    bare_loop()
    backend_rate, bare_rate = median_rates([full_path, bare_loop], count, repeats)
    backend.close()
    return backend_rate, bare_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count() or 1, help="intra-op threads (all CPUs)"
    )
    parser.add_argument("--batch-sizes", default="1,8,32", help="comma-separated crop batches")
    parser.add_argument("--crops", type=int, default=64, help="crops per timed run")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs each; medians count")
    args = parser.parse_args()
    batch_sizes = [int(size) for size in args.batch_sizes.split(",")]
    if min(args.repeats, args.crops, args.threads, *batch_sizes) < 1:
        parser.error("--repeats, --crops, --threads and --batch-sizes must be >= 1")
    if len(get_marker_set("halpe26").keypoints) != KEYPOINTS:
        raise SystemExit("marker set halpe26 no longer has 26 keypoints")
    session_providers(args.device, "--device", SystemExit)  # exits when CUDA is missing

    with tempfile.TemporaryDirectory(prefix="bench_rtmpose_") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        model_file = folder / "weights" / "end2end.onnx"
        params, macs = build_model(model_file)
        inputs = write_inputs(folder, args.crops)
        print(
            f"RTMPose-m-sized model (random weights, {params / 1e6:.2f} M parameters, "
            f"{macs / 1e9:.2f} GMACs per crop, input {INPUT_HEIGHT}x{INPUT_WIDTH}, "
            f"{KEYPOINTS} keypoints); {args.crops} crops of {FRAME_WIDTH}x{FRAME_HEIGHT} frames "
            f"per timed run, median of {args.repeats}, alternating; onnxruntime "
            f"{ort.__version__} on {args.device}, {args.threads} intra-op threads, "
            f"{os.cpu_count()} CPUs; set-up {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        rows = []
        for size in batch_sizes:
            backend_rate, bare_rate = bench(
                model_file, args.device, args.threads, inputs, size, args.repeats
            )
            rows.append((size, backend_rate, bare_rate))
            print(f"  crop_batch_size={size}: done", flush=True)
    print()
    header = (
        f"{'device':<7} {'crop batch':>10} {'backend crops/s':>16} {'bare crops/s':>13} "
        f"{'backend/bare':>13} {'overhead ms/crop':>17}"
    )
    print(header)
    print("-" * len(header))
    for size, backend_rate, bare_rate in rows:
        overhead_ms = 1000 * (1 / backend_rate - 1 / bare_rate)
        print(
            f"{args.device:<7} {size:>10} {backend_rate:>16.2f} {bare_rate:>13.2f} "
            f"{backend_rate / bare_rate:>13.3f} {overhead_ms:>17.2f}"
        )
    print()
    arguments = [
        *("--device", args.device, "--threads", str(args.threads)),
        *("--batch-sizes", args.batch_sizes, "--crops", str(args.crops)),
        *("--repeats", str(args.repeats)),
    ]
    print("Reproduce: .venv/bin/python scripts/benchmark_rtmpose.py " + shlex.join(arguments))


if __name__ == "__main__":
    main()
