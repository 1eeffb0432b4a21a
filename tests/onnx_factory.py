"""Tiny ONNX models with the exact inputs and outputs of OpenMMLab's RTMPose/RTMW and YOLOX
exports (MMDeploy), built with `onnx.helper`: no PyTorch, no network, a few KB each.

- `build_rtmpose`: `input` (batch, 3, H, W) -> `simcc_x` (batch, K, 2W), `simcc_y`
  (batch, K, 2H). Random (seeded) weights: the image is average-pooled to 3x4x4, a
  linear layer gives one number a per keypoint, and each SimCC vector is a * P + Q with
  random P and Q, so the arg-maxima move with the crop's content.
- `build_rtmpose_peaks`: the same I/O with constant outputs: zero everywhere except a
  chosen value at a chosen SimCC bin per keypoint and axis, so the decoded keypoints and
  scores are known.
- `build_yolox`: `input` (batch, 3, H, W) -> `dets` (batch, N, 5), `labels` (batch, N)
  int64, constant: the given detections for every image.

Each writes `end2end.onnx` (MMDeploy's file name) into a folder, as fetch_weights leaves it;
the same call writes the same bytes. Opset 17 and IR version 8, which every onnxruntime
the project allows (>= 1.17) reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper

MODEL_FILE = "end2end.onnx"
OPSET = 17
IR_VERSION = 8
SPLIT_RATIO = 2

Dim = int | str


def _save(graph: onnx.GraphProto, folder: Path) -> Path:
    """Check the model and write it to `folder/end2end.onnx`; return the folder."""
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="posebench-tests",
        ir_version=IR_VERSION,
    )
    onnx.checker.check_model(model, full_check=True)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MODEL_FILE).write_bytes(model.SerializeToString(deterministic=True))
    return folder


def _tensor(name: str, array: npt.ArrayLike, dtype: type = np.float32) -> onnx.TensorProto:
    return numpy_helper.from_array(np.ascontiguousarray(array, dtype=dtype), name)


def _batch_shape_nodes(
    prefix: str, tail: Sequence[int]
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto], str]:
    """Nodes computing the shape [batch of `input`, *tail] into the tensor they name."""
    nodes = [
        helper.make_node("Shape", ["input"], [f"{prefix}_input_shape"], start=0, end=1),
        helper.make_node(
            "Concat", [f"{prefix}_input_shape", f"{prefix}_tail"], [f"{prefix}_shape"], axis=0
        ),
    ]
    return nodes, [_tensor(f"{prefix}_tail", list(tail), np.int64)], f"{prefix}_shape"


def _pose_io(
    n_keypoints: int,
    input_size: tuple[int, int],
    batch: Dim,
    output_names: Sequence[str],
    split_ratio: int,
    open_input: bool = False,
) -> tuple[onnx.ValueInfoProto, list[onnx.ValueInfoProto]]:
    """The declared input and outputs; `open_input` leaves the input's H and W symbolic."""
    width, height = input_size
    size: list[Dim] = ["height", "width"] if open_input else [height, width]
    image = helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, *size])
    outputs = [
        helper.make_tensor_value_info(name, TensorProto.FLOAT, [batch, n_keypoints, length])
        for name, length in zip(
            output_names, (split_ratio * width, split_ratio * height), strict=True
        )
    ]
    return image, outputs


def build_rtmpose(
    folder: Path,
    n_keypoints: int,
    *,
    input_size: tuple[int, int] = (48, 64),
    batch: Dim = "batch",
    seed: int = 0,
    output_names: Sequence[str] = ("simcc_x", "simcc_y"),
    split_ratio: int = SPLIT_RATIO,
    open_input: bool = False,
) -> Path:
    """A random RTMPose-like model (module docstring) for crops of `input_size` (width,
    height, each a multiple of 4); `batch` is a fixed size or a symbolic name; `open_input`
    declares the input's H and W symbolic (the model still needs crops of `input_size`;
    the SimCC lengths fix it). The weights depend on `seed`, `n_keypoints` and
    `input_size` only."""
    width, height = input_size
    rng = np.random.default_rng(seed)
    features = 3 * 4 * 4
    dense = rng.normal(0.0, 1.0 / np.sqrt(features), (features, n_keypoints))
    bias = rng.normal(0.0, 0.1, n_keypoints)
    lengths = (split_ratio * width, split_ratio * height)
    slopes = [rng.uniform(-1.0, 1.0, (n_keypoints, length)) for length in lengths]
    offsets = [rng.uniform(0.0, 1.0, (n_keypoints, length)) for length in lengths]
    image, outputs = _pose_io(n_keypoints, input_size, batch, output_names, split_ratio, open_input)
    nodes = [
        helper.make_node(
            "AveragePool",
            ["input"],
            ["pooled"],
            kernel_shape=[height // 4, width // 4],
            strides=[height // 4, width // 4],
        ),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "dense", "bias"], ["per_keypoint"]),
        helper.make_node("Unsqueeze", ["per_keypoint", "last_axis"], ["column"]),
    ]
    initializers = [
        _tensor("dense", dense),
        _tensor("bias", bias),
        _tensor("last_axis", [2], np.int64),
    ]
    for axis, output in enumerate(output_names):
        nodes += [
            helper.make_node("Mul", ["column", f"slope{axis}"], [f"scaled{axis}"]),
            helper.make_node("Add", [f"scaled{axis}", f"offset{axis}"], [output]),
        ]
        initializers += [
            _tensor(f"slope{axis}", slopes[axis]),
            _tensor(f"offset{axis}", offsets[axis]),
        ]
    graph = helper.make_graph(nodes, "rtmpose_random", [image], outputs, initializers)
    return _save(graph, folder)


def build_rtmpose_peaks(
    folder: Path,
    peaks: npt.ArrayLike,
    values: npt.ArrayLike,
    *,
    input_size: tuple[int, int] = (48, 64),
    batch: Dim = "batch",
) -> Path:
    """An RTMPose-like model whose outputs ignore the image: keypoint k's `simcc_x` is 0
    except `values[k, 0]` at bin `peaks[k, 0]`, its `simcc_y` 0 except `values[k, 1]` at bin
    `peaks[k, 1]` (`peaks` and `values` (K, 2))."""
    peak_bins = np.asarray(peaks, dtype=np.int64)
    peak_values = np.asarray(values, dtype=np.float32)
    n_keypoints = len(peak_bins)
    width, height = input_size
    image, outputs = _pose_io(n_keypoints, input_size, batch, ("simcc_x", "simcc_y"), SPLIT_RATIO)
    nodes: list[onnx.NodeProto] = []
    initializers: list[onnx.TensorProto] = []
    for axis, (name, length) in enumerate(
        zip(("simcc_x", "simcc_y"), (SPLIT_RATIO * width, SPLIT_RATIO * height), strict=True)
    ):
        constant = np.zeros((1, n_keypoints, length), np.float32)
        constant[0, np.arange(n_keypoints), peak_bins[:, axis]] = peak_values[:, axis]
        shape_nodes, shape_tensors, shape = _batch_shape_nodes(name, [n_keypoints, length])
        nodes += [*shape_nodes, helper.make_node("Expand", [f"{name}_value", shape], [name])]
        initializers += [*shape_tensors, _tensor(f"{name}_value", constant)]
    graph = helper.make_graph(nodes, "rtmpose_peaks", [image], outputs, initializers)
    return _save(graph, folder)


def build_yolox(
    folder: Path,
    dets: npt.ArrayLike,
    labels: npt.ArrayLike,
    *,
    input_size: tuple[int, int] = (640, 640),
    batch: Dim = 1,
    output_names: Sequence[str] = ("dets", "labels"),
    open_input: bool = False,
) -> Path:
    """A YOLOX-like end-to-end model returning the detections `dets` (N, 5: x1, y1, x2, y2
    in input pixels, score) and `labels` (N,) for every image of its batch; `open_input`
    declares the input's H and W symbolic."""
    boxes = np.asarray(dets, dtype=np.float32).reshape(-1, 5)
    classes = np.asarray(labels, dtype=np.int64).reshape(-1)
    count = len(boxes)
    width, height = input_size
    size: list[Dim] = ["height", "width"] if open_input else [height, width]
    image = helper.make_tensor_value_info("input", TensorProto.FLOAT, [batch, 3, *size])
    outputs = [
        helper.make_tensor_value_info(output_names[0], TensorProto.FLOAT, [batch, count, 5]),
        helper.make_tensor_value_info(output_names[1], TensorProto.INT64, [batch, count]),
    ]
    box_nodes, box_tensors, box_shape = _batch_shape_nodes("dets", [count, 5])
    label_nodes, label_tensors, label_shape = _batch_shape_nodes("labels", [count])
    nodes = [
        *box_nodes,
        *label_nodes,
        helper.make_node("Expand", ["dets_value", box_shape], [output_names[0]]),
        helper.make_node("Expand", ["labels_value", label_shape], [output_names[1]]),
    ]
    initializers = [
        *box_tensors,
        *label_tensors,
        _tensor("dets_value", boxes[None]),
        _tensor("labels_value", classes[None], np.int64),
    ]
    graph = helper.make_graph(nodes, "yolox_constant", [image], outputs, initializers)
    return _save(graph, folder)
