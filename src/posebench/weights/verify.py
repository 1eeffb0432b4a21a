"""Checks of a checkpoint folder without network access: its files are present and complete,
its config loads, and its keypoints (pose models) or labels (detectors) fit.

Three formats (`posebench.weights.spec`): a Transformers folder, checked with Transformers'
`AutoConfig` and the weights file's tensor index; an OpenMMLab folder (one MMEngine config,
one `.pth`), checked with mmengine's `Config.fromfile` and `torch.load` (weights_only, numpy
objects allowed); and an ONNX folder (one `.onnx`), opened with onnxruntime on the CPU to
check its inputs and outputs (`_verify_onnx`). mmengine, torch, transformers and
onnxruntime are imported by the functions that use them.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posebench.io.torch_checkpoint import state_dict_of
from posebench.markersets import MARKER_SETS, get_marker_set
from posebench.weights.spec import (
    CONFIG_FILE,
    PREPROCESSOR_FILE,
    WEIGHTS_FILES,
    WeightsError,
    WeightsFormat,
    WeightsKind,
    onnx_model_file,
    openmmlab_files,
    weights_file_in,
)

# The output convolution of ViTPose's heads (simple and classic decoder): one heatmap per
# keypoint, so its first dimension is the checkpoint's keypoint count.
_HEATMAP_HEAD_WEIGHT = "head.conv.weight"
_DEFAULT_LABEL = re.compile(r"LABEL_(\d+)")
# The output layer of MMPose's heads (one heatmap or SimCC channel per keypoint): MMPose 1.x
# names it `head.`, MMPose 0.x checkpoints (converted by MMPose 1.x on load) `keypoint_head.`.
_MMPOSE_HEAD_WEIGHTS = ("head.final_layer.weight", "keypoint_head.final_layer.weight")
# MMDetection models trained on COCO have 80 classes, `person` first.
_COCO_CLASSES = 80

# The inputs and outputs of OpenMMLab's ONNX exports (MMDeploy): top-down SimCC pose models
# (RTMPose, RTMW) and end-to-end detectors with NMS (YOLOX, RTMDet).
ONNX_INPUT = "input"
SIMCC_OUTPUTS = ("simcc_x", "simcc_y")
DETECTOR_OUTPUTS = ("dets", "labels")
# SimCC bins per input pixel (`simcc_split_ratio` of the RTMPose and RTMW codecs).
SIMCC_SPLIT_RATIO = 2
# `model_type` recorded for ONNX checkpoints: the layout of their outputs.
ONNX_MODEL_TYPES = {"pose": "simcc", "detector": "dets"}


@dataclass(frozen=True)
class CheckpointInfo:
    """What `verify_checkpoint` found in a checkpoint folder."""

    path: Path
    model_type: str
    num_keypoints: int | None
    weights_file: str
    keypoint_names: tuple[str, ...] | None
    # The MMEngine config's file name (format openmmlab only).
    config_file: str | None = None
    # The model's input (height, width) in pixels (format onnx only).
    input_size: tuple[int, int] | None = None


def verify_checkpoint(
    path: Path,
    *,
    kind: WeightsKind,
    marker_set: str | None = None,
    format: WeightsFormat = "transformers",
) -> CheckpointInfo:
    """Check a checkpoint folder without network access; raise WeightsError if unusable.

    Format "transformers": the three files must be present, `config.json` must load with
    Transformers' `AutoConfig`, and a safetensors weights file must be complete. For pose
    models the keypoint count (`config.num_labels`, the channels of the heatmap head) must
    equal the marker set's and, where `config.json`'s `id2label` names the keypoints (not
    the defaults `LABEL_<i>`), the names must equal the marker set's, in order (ignoring
    case). A detector must have a `person` label. `marker_set` is for pose models only.

    Format "openmmlab": see `_verify_openmmlab`. Format "onnx": see `_verify_onnx`.
    """
    if kind == "detector" and marker_set is not None:
        raise ValueError(f"marker_set {marker_set!r} given for a detector checkpoint {path}")
    if format == "openmmlab":
        return _verify_openmmlab(path, kind, marker_set)
    if format == "onnx":
        return _verify_onnx(path, kind, marker_set)
    weights_file = _weights_file(path)
    head_channels = _check_weights_file(path / weights_file)
    hf_config = _load_config(path)
    model_type = str(hf_config.model_type)
    labels = [str(hf_config.id2label[i]) for i in sorted(hf_config.id2label)]
    if kind == "detector":
        if "person" not in {label.casefold() for label in labels}:
            raise WeightsError(
                f"Detector checkpoint {path} has no 'person' label in {CONFIG_FILE} id2label "
                f"(found {labels[:10]}{' ...' if len(labels) > 10 else ''}); use a person "
                "detector trained on COCO, such as PekingU/rtdetr_r50vd_coco_o365."
            )
        return CheckpointInfo(path, model_type, None, weights_file, None)
    num_keypoints = int(hf_config.num_labels)
    if head_channels is not None and head_channels != num_keypoints:
        raise WeightsError(
            f"Checkpoint {path}: {CONFIG_FILE} declares {num_keypoints} keypoints but "
            f"{weights_file} has a {head_channels}-channel heatmap head ({_HEATMAP_HEAD_WEIGHT}); "
            "the files come from different models. Re-download the checkpoint."
        )
    named = not all(_DEFAULT_LABEL.fullmatch(label) for label in labels)
    names = tuple(labels) if named else None
    if marker_set is not None:
        _check_keypoints(path, num_keypoints, names, marker_set)
    return CheckpointInfo(path, model_type, num_keypoints, weights_file, names)


def _weights_file(path: Path) -> str:
    """Raise unless the folder `path` holds the config, a weights file and the preprocessor
    config; return the name of the weights file (the first of WEIGHTS_FILES present)."""
    if not path.is_dir():
        raise WeightsError(
            f"Checkpoint folder {path} does not exist; re-run fetch_weights, or point "
            "weights.local_path at a folder holding "
            f"{CONFIG_FILE}, {' or '.join(WEIGHTS_FILES)} and {PREPROCESSOR_FILE}."
        )
    present = sorted(p.name for p in path.iterdir())
    weights_file = weights_file_in(path)
    for name, found in (
        (CONFIG_FILE, (path / CONFIG_FILE).is_file()),
        (" or ".join(WEIGHTS_FILES), weights_file is not None),
        (PREPROCESSOR_FILE, (path / PREPROCESSOR_FILE).is_file()),
    ):
        if not found:
            raise WeightsError(
                f"Checkpoint {path} has no {name} (found: {present}); the download is "
                "incomplete: re-run fetch_weights (or complete the folder given as "
                "weights.local_path)."
            )
    assert weights_file is not None
    return weights_file


def _keypoint_key(name: str) -> str:
    """A spelling-insensitive form of a keypoint name: case folded, and a leading `l_`/`r_`
    written out, so that `L_Eye` (Hugging Face's COCO configs) matches `left_eye`."""
    key = name.casefold()
    for short, side in (("l_", "left_"), ("r_", "right_")):
        if key.startswith(short):
            return side + key[len(short) :]
    return key


def _check_keypoints(
    path: Path, num_keypoints: int, names: tuple[str, ...] | None, marker_set: str
) -> None:
    expected = get_marker_set(marker_set).keypoints
    if num_keypoints != len(expected):
        fitting = [m.name for m in MARKER_SETS.values() if len(m.keypoints) == num_keypoints]
        fix = (
            f"pick marker_set: {' or '.join(fitting)}"
            if fitting
            else f"no marker set has {num_keypoints} keypoints: add one in posebench/markersets.py"
        )
        raise WeightsError(
            f"Checkpoint {path} predicts {num_keypoints} keypoints but marker set "
            f"{marker_set!r} expects {len(expected)}. Use a checkpoint trained for "
            f"{marker_set!r}, or {fix}."
        )
    if names is None:
        return
    differ = [
        i
        for i, (a, b) in enumerate(zip(names, expected, strict=True))
        if _keypoint_key(a) != _keypoint_key(b)
    ]
    if differ:
        first = differ[0]
        raise WeightsError(
            f"Checkpoint {path} names its keypoints in {CONFIG_FILE} id2label, and {len(differ)} "
            f"differ from marker set {marker_set!r} (first at index {first}: {names[first]!r}, "
            f"expected {expected[first]!r}). Its keypoints are {list(names)}; use the marker "
            "set of this checkpoint, or a checkpoint trained for this marker set."
        )


def _check_weights_file(path: Path) -> int | None:
    """Raise if the weights file is truncated; return the heatmap head's output channels
    when a safetensors file holds that tensor."""
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="numpy") as weights:
                names = weights.keys()
                if _HEATMAP_HEAD_WEIGHT not in names:
                    return None
                return int(weights.get_slice(_HEATMAP_HEAD_WEIGHT).get_shape()[0])
        except SafetensorError as error:
            raise WeightsError(
                f"{path} ({path.stat().st_size} bytes) is not a complete safetensors file "
                f"({error}): a partial download. Delete it and re-run fetch_weights."
            ) from error
    # PyTorch >= 1.6 saves zip archives, whose directory is at the end: a truncated file
    # has none.
    if not zipfile.is_zipfile(path):
        raise WeightsError(
            f"{path} ({path.stat().st_size} bytes) is not a complete PyTorch zip archive: a "
            "partial download or a legacy pickle. Delete it and re-run fetch_weights."
        )
    return None


def _load_config(path: Path) -> Any:
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError) as error:
        raise WeightsError(
            f"{path / CONFIG_FILE} does not load with transformers.AutoConfig ({error}); a "
            "partial download or a model type this Transformers version does not know. "
            "Re-run fetch_weights, or upgrade transformers."
        ) from error


# ---------------------------------------------------------------------------------------
# OpenMMLab checkpoints


def load_openmmlab_config(path: Path) -> Any:
    """`mmengine.config.Config.fromfile(path)` (which resolves `_base_` inheritance); raise
    WeightsError when mmengine is missing or the config does not load."""
    try:
        from mmengine.config import Config
    except ImportError as error:
        raise WeightsError(
            f"Cannot load the MMEngine config {path}: the OpenMMLab stack is not installed: "
            "run `make setup-mmpose`."
        ) from error
    try:
        return Config.fromfile(str(path))
    # Config.fromfile raises what executing a config raises (SyntaxError, NameError, ...),
    # FileNotFoundError for a missing `_base_` and ImportError for `custom_imports`.
    except Exception as error:
        raise WeightsError(
            f"{path} does not load with mmengine's Config.fromfile ({type(error).__name__}: "
            f"{error}). Fix the config (its `_base_` files must be next to it), or re-run "
            "fetch_weights."
        ) from error


def _verify_openmmlab(path: Path, kind: WeightsKind, marker_set: str | None) -> CheckpointInfo:
    """Check an OpenMMLab folder (`openmmlab_folder_files`): its config loads and declares
    a `model.type`, and its `.pth` loads with weights_only.

    Pose models: the keypoint count is the first dimension of the head's output layer
    (`_MMPOSE_HEAD_WEIGHTS`), else the config's `model.head.out_channels`; the two must agree,
    and equal the marker set's. Detectors: the checkpoint's classes (`meta.dataset_meta.classes`
    or `meta.CLASSES`) must include `person`; without them the config's bbox heads must have
    80 classes (COCO, where person is class 0).
    """
    config_file, weights_file = openmmlab_folder_files(path)
    model = load_openmmlab_config(path / config_file).get("model")
    if not isinstance(model, Mapping) or not isinstance(model.get("type"), str):
        raise WeightsError(
            f"{path / config_file} defines no `model` with a `type`; it is not the config of "
            "an MMPose or MMDetection model. Use the config the checkpoint was trained with."
        )
    checkpoint = _load_pth(path / weights_file)
    state = state_dict_of(checkpoint)
    if state is None:
        raise WeightsError(
            f"{path / weights_file} holds a {type(checkpoint).__name__}, not a state dict (or a "
            "mapping with `state_dict`); it is not an OpenMMLab checkpoint."
        )
    model_type = str(model["type"])
    if kind == "detector":
        _check_person_classes(path, config_file, weights_file, model, checkpoint)
        return CheckpointInfo(path, model_type, None, weights_file, None, config_file)
    num_keypoints = _openmmlab_keypoints(path, config_file, weights_file, model, state)
    if marker_set is not None:
        _check_keypoints(path, num_keypoints, None, marker_set)
    return CheckpointInfo(path, model_type, num_keypoints, weights_file, None, config_file)


def openmmlab_folder_files(path: Path) -> tuple[str, str]:
    """The names of the one MMEngine config (`.py`) and the one checkpoint (`.pth`) of the
    OpenMMLab folder `path` (the OpenMMLab backends load the same two); raise WeightsError
    when the folder is missing or holds none or several of either."""
    content = "one MMEngine config (.py) and one PyTorch checkpoint (.pth)"
    if not path.is_dir():
        raise WeightsError(
            f"Checkpoint folder {path} does not exist; re-run fetch_weights, or point "
            f"weights.local_path at a folder holding {content}."
        )
    present = sorted(p.name for p in path.iterdir() if p.is_file())
    where = f"Checkpoint folder {path}"
    found = openmmlab_files(present, config=None, checkpoint=None, where=where)
    if found is not None:
        return found
    if not any(name.endswith(".py") for name in present):
        missing = "an MMEngine config (.py)"
    else:
        missing = "a PyTorch checkpoint (.pth)"
    raise WeightsError(
        f"{where} lacks {missing} (found: {present}); it must hold {content}. The download "
        "is incomplete: re-run fetch_weights (or complete the folder given as "
        "weights.local_path)."
    )


def _load_pth(path: Path) -> Any:
    """The content of the `.pth` file `path`, loaded with weights_only (numpy objects
    allowed); raise WeightsError when it is incomplete or holds other objects."""
    from posebench.io.torch_checkpoint import CheckpointError, read_checkpoint

    try:
        return read_checkpoint(path)
    except CheckpointError as error:
        if error.refused:
            raise WeightsError(
                f"{path} holds objects that a weights-only load refuses: {error.refused}. "
                "Loading it would run code from the file; re-save its weights (torch.save of "
                "{'state_dict': model.state_dict()}) or use the official checkpoint."
            ) from error
        raise WeightsError(
            f"{path} ({path.stat().st_size} bytes) is not a complete PyTorch checkpoint "
            f"({error.reason}): a partial download. Delete it and re-run fetch_weights."
        ) from error


def _openmmlab_keypoints(
    path: Path,
    config_file: str,
    weights_file: str,
    model: Mapping[str, Any],
    state: Mapping[str, Any],
) -> int:
    """The keypoint count of an MMPose checkpoint (see `_verify_openmmlab`)."""
    head = model.get("head")
    declared = head.get("out_channels") if isinstance(head, Mapping) else None
    key = next((name for name in _MMPOSE_HEAD_WEIGHTS if name in state), None)
    if key is None:
        if not isinstance(declared, int):
            raise WeightsError(
                f"Checkpoint {path}: {weights_file} has no head output layer "
                f"({' or '.join(_MMPOSE_HEAD_WEIGHTS)}) and {config_file} no integer "
                f"model.head.out_channels (found {declared!r}), so its keypoint count is "
                "unknown; it is not an MMPose top-down model."
            )
        return declared
    shape = getattr(state[key], "shape", ())
    if not shape:
        raise WeightsError(f"Checkpoint {path}: {key} in {weights_file} is not a tensor.")
    channels = int(shape[0])
    if declared is not None and declared != channels:
        raise WeightsError(
            f"Checkpoint {path}: {config_file} declares {declared} keypoints "
            f"(model.head.out_channels) but {weights_file} has a {channels}-channel head "
            f"({key}); the files come from different models. Use the config the checkpoint "
            "was trained with (or re-run fetch_weights)."
        )
    return channels


def _check_person_classes(
    path: Path,
    config_file: str,
    weights_file: str,
    model: Mapping[str, Any],
    checkpoint: Any,
) -> None:
    """Raise unless the MMDetection checkpoint detects people (see `_verify_openmmlab`)."""
    meta = checkpoint.get("meta") if isinstance(checkpoint, Mapping) else None
    classes = None
    if isinstance(meta, Mapping):
        dataset_meta = meta.get("dataset_meta")
        if isinstance(dataset_meta, Mapping):
            classes = dataset_meta.get("classes")
        if classes is None:
            classes = meta.get("CLASSES")
    if classes is not None:
        labels = [str(label) for label in classes]
        if "person" not in {label.casefold() for label in labels}:
            raise WeightsError(
                f"Detector checkpoint {path}: the classes of {weights_file} have no 'person' "
                f"(found {labels[:10]}{' ...' if len(labels) > 10 else ''}); use a person "
                "detector trained on COCO, such as MMDetection's Faster R-CNN."
            )
        return
    counts = _bbox_head_classes(model)
    if not counts or any(count != _COCO_CLASSES for count in counts):
        raise WeightsError(
            f"Detector checkpoint {path}: {weights_file} does not list its classes "
            f"(meta.dataset_meta.classes or meta.CLASSES) and the bbox heads of {config_file} "
            f"have num_classes {counts or 'nowhere'}, not {_COCO_CLASSES} (COCO, where class 0 "
            "is person), so whether it detects people is unknown. Use a detector trained on "
            "COCO with its own config."
        )


def _bbox_head_classes(model: Mapping[str, Any]) -> list[Any]:
    """`num_classes` of the bbox heads of an MMDetection model config: `roi_head.bbox_head`
    (a dict, or a list of dicts for Cascade R-CNN) and `bbox_head` (one-stage detectors)."""
    roi_head = model.get("roi_head")
    heads: list[Any] = []
    if isinstance(roi_head, Mapping):
        bbox_head = roi_head.get("bbox_head")
        heads += bbox_head if isinstance(bbox_head, list) else [bbox_head]
    heads.append(model.get("bbox_head"))
    return [
        head["num_classes"] for head in heads if isinstance(head, Mapping) and "num_classes" in head
    ]


# ---------------------------------------------------------------------------------------
# ONNX checkpoints


def _verify_onnx(path: Path, kind: WeightsKind, marker_set: str | None) -> CheckpointInfo:
    """Check an ONNX folder (`onnx_model_file`: exactly one `.onnx` in it) by opening the
    model with onnxruntime on the CPU (no inference).

    The model must take one float input named `input`, [batch, 3, H, W]. Pose models must
    return `simcc_x` [batch, K, 2W] and `simcc_y` [batch, K, 2H] (SimCC, split ratio 2):
    K is their keypoint count and must equal the marker set's; H and W come from the input,
    or from the outputs where the input leaves them dynamic (one of the two must fix them).
    Detectors must return `dets` [batch, N, 5] (box and score) and `labels` [batch, N].
    Dynamic dimensions (batch, N) are allowed.
    """
    model = onnx_model_file(path)
    inputs, outputs = _onnx_signature(model)
    expected = SIMCC_OUTPUTS if kind == "pose" else DETECTOR_OUTPUTS
    fix = (
        "Use OpenMMLab's ONNX export of the model (MMDeploy's SDK archive, as rtmlib and "
        "Pose2Sim download it), or re-export it with MMDeploy."
    )
    if list(inputs) != [ONNX_INPUT] or not set(expected) <= set(outputs):
        raise WeightsError(
            f"{model} takes {_describe_io(inputs)} and returns {_describe_io(outputs)}; "
            f"a {'pose model' if kind == 'pose' else 'detector'} for this backend takes one "
            f"input {ONNX_INPUT!r} and returns {' and '.join(map(repr, expected))}. {fix}"
        )
    dtype, shape = inputs[ONNX_INPUT]
    if dtype != "tensor(float)" or len(shape) != 4 or shape[1] not in (3, None):
        raise WeightsError(
            f"{model}: input {ONNX_INPUT!r} is {dtype} {_dims(shape)}, expected a float32 "
            f"image batch [batch, 3, height, width]. {fix}"
        )
    height, width = shape[2], shape[3]
    if kind == "detector":
        _check_detector_outputs(model, outputs, fix)
        size = (height, width) if height is not None and width is not None else None
        return CheckpointInfo(path, ONNX_MODEL_TYPES[kind], None, model.name, None, input_size=size)
    num_keypoints, size = _simcc_geometry(model, outputs, height, width, fix)
    if marker_set is not None:
        _check_keypoints(path, num_keypoints, None, marker_set)
    return CheckpointInfo(
        path, ONNX_MODEL_TYPES[kind], num_keypoints, model.name, None, input_size=size
    )


Signature = dict[str, tuple[str, list[int | None]]]


def _onnx_signature(model: Path) -> tuple[Signature, Signature]:
    """{name: (element type, shape)} of the inputs and of the outputs of the ONNX model;
    None for a dynamic dimension. WeightsError when onnxruntime cannot load it."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    # Loading is all that is needed: skip the graph optimisations.
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception types
        raise WeightsError(
            f"{model} ({model.stat().st_size} bytes) does not load with onnxruntime "
            f"({type(error).__name__}: {error}): a corrupt or incomplete file, or a model "
            "needing operators this onnxruntime lacks. Delete the checkpoint folder and "
            "re-run fetch_weights (or fix the folder given as weights.local_path)."
        ) from error

    def signature(nodes: Any) -> Signature:
        return {
            node.name: (
                str(node.type),
                [dim if isinstance(dim, int) else None for dim in node.shape],
            )
            for node in nodes
        }

    return signature(session.get_inputs()), signature(session.get_outputs())


def _dims(shape: list[int | None]) -> str:
    return "[" + ", ".join("?" if dim is None else str(dim) for dim in shape) + "]"


def _describe_io(nodes: Signature) -> str:
    return ", ".join(f"{name} {_dims(shape)}" for name, (_, shape) in nodes.items()) or "nothing"


def _simcc_geometry(
    model: Path, outputs: Signature, height: int | None, width: int | None, fix: str
) -> tuple[int, tuple[int, int]]:
    """The keypoint count and the input (height, width) of a SimCC pose model, checked
    against its outputs (see `_verify_onnx`)."""
    (x_type, x_shape), (y_type, y_shape) = (outputs[name] for name in SIMCC_OUTPUTS)
    if len(x_shape) != 3 or len(y_shape) != 3 or "float" not in x_type + y_type:
        raise WeightsError(
            f"{model}: simcc_x is {x_type} {_dims(x_shape)} and simcc_y {y_type} "
            f"{_dims(y_shape)}, expected float [batch, keypoints, bins]. {fix}"
        )
    counts = {dim for dim in (x_shape[1], y_shape[1]) if dim is not None}
    if len(counts) != 1:
        raise WeightsError(
            f"{model}: simcc_x {_dims(x_shape)} and simcc_y {_dims(y_shape)} do not fix one "
            f"keypoint count (their second dimension). {fix}"
        )
    size = []
    for axis, pixels, bins, output in (
        ("height", height, y_shape[2], "simcc_y"),
        ("width", width, x_shape[2], "simcc_x"),
    ):
        if bins is not None and pixels is not None and bins != SIMCC_SPLIT_RATIO * pixels:
            raise WeightsError(
                f"{model}: {output} has {bins} bins for an input {pixels} px in {axis}; "
                f"SimCC models (split ratio {SIMCC_SPLIT_RATIO}) have {SIMCC_SPLIT_RATIO} bins "
                f"per pixel, {SIMCC_SPLIT_RATIO * pixels}. {fix}"
            )
        if pixels is None and bins is not None and bins % SIMCC_SPLIT_RATIO == 0:
            pixels = bins // SIMCC_SPLIT_RATIO
        if pixels is None:
            raise WeightsError(
                f"{model}: neither the input {_dims([height, width])} nor {output} "
                f"{_dims(x_shape if output == 'simcc_x' else y_shape)} fixes the input "
                f"{axis}; the backend needs a fixed input size. {fix}"
            )
        size.append(pixels)
    return counts.pop(), (size[0], size[1])


def _check_detector_outputs(model: Path, outputs: Signature, fix: str) -> None:
    """Raise unless `dets` is [batch, N, 5] and `labels` [batch, N] (see `_verify_onnx`)."""
    (_, dets), (_, labels) = (outputs[name] for name in DETECTOR_OUTPUTS)
    if len(dets) != 3 or dets[2] not in (5, None) or len(labels) != 2:
        raise WeightsError(
            f"{model}: dets is {_dims(dets)} and labels {_dims(labels)}, expected dets "
            "[batch, boxes, 5] (x1, y1, x2, y2, score) and labels [batch, boxes]: an "
            f"end-to-end detector with NMS. {fix}"
        )
