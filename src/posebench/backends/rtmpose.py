"""Top-down RTMPose and RTMW (`rtmpose` backend) on ONNX Runtime, without PyTorch or MMPose.

The checkpoint folder (fetch_weights, format "onnx") holds one ONNX model
(`posebench.weights.spec.onnx_model_file`) as MMDeploy exports it for OpenMMLab's releases:
input `input` (batch, 3, H, W) float32 (256x192 or 384x288; the batch may be fixed or
dynamic) and outputs `simcc_x` (batch, K, 2W) and `simcc_y` (batch, K, 2H), one SimCC vector
per keypoint and axis. They are checked when the backend is created (`read_pose_model`:
names, ranks, the split ratio 2 between input and SimCC lengths, K against the marker set),
with errors that name the file and the fix.

Every step below follows MMPose 1.x's RTMPose/RTMW configs and code (the facts, checked
against the installed mmpose 1.3.2), so that the ONNX model sees what it was trained on:

- Crop (`GetBBoxCenterScale`, `TopdownAffine`): the person box's centre, its width and
  height padded by 1.25, then widened or heightened to the input's aspect W:H (3:4); the
  region is warped to W x H by `cv2.warpAffine` (bilinear, black outside the image), so crop
  pixel u is image pixel c - s / 2 + u * s / W on each axis (c: centre, s: region size).
- Colour and normalisation: the configs load images as BGR and their data preprocessor
  converts to RGB (`bgr_to_rgb=True`) before subtracting mean [123.675, 116.28, 103.53] and
  dividing by std [58.395, 57.12, 57.375] (RGB order): the networks were trained on RGB. The
  ONNX export leaves the data preprocessor out, so it is done here, on the RGB frames
  (`posebench.video`) as they are. (rtmlib feeds OpenCV's BGR frames to these models.)
- Decoding (`SimCCLabel.decode` without DARK, `get_simcc_maximum`): the arg-max of each
  SimCC vector divided by the split ratio 2.0 is the keypoint in crop pixels; its score is
  the smaller of the x and y maxima (raw network outputs, not a softmax; rtmlib takes their
  mean instead), and a keypoint whose score is <= 0 has no location. Keypoints go back to
  image pixels through the crop's affine transform (MMPose's `add_pred_to_datasample`).
  Scores are then clipped to [0, 1] as for every top-down backend (`finish_scores`): raw
  maxima above 1 occur and become 1; keypoints with score 0 become NaN.

The per-frame person boxes, frames without a box (NaN keypoints, score 0, the model not
run) and the slot checks are those of every top-down backend (`posebench.backends.topdown`).
`crop_batch_size` crops of different frames go through one `InferenceSession.run` (in
chunks of the model's batch when it is fixed, the last one padded).

Options (config/config.yaml, `models.<name>.options`):

- `device`: "auto" (CUDA when ONNX Runtime has its CUDA provider, i.e. `onnxruntime-gpu` is
  installed and finds CUDA; else the CPU), "cpu", "cuda" or "cuda:N" (an error when ONNX
  Runtime cannot use CUDA);
- `precision`: "fp32" only (the published ONNX models are fp32);
- `crop_batch_size`: person crops per run (default 32); on GPU out-of-memory the chunk is
  retried with half as many, as for the PyTorch top-down backends;
- `threads`: the session's intra-op threads; by default the pose2d job's threads
  (`models.<name>.threads`, what the job reserves: `posebench.backends.registry.
  job_options`), 1 outside a job.

`open_session` (`session_options`: intra-op threads, no spinning between runs) and
`run_batched` are shared with the YOLOX detector (`posebench.backends.yolox_detector`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from posebench.backends.base import BackendError, PoseBackend
from posebench.backends.topdown import OPTIONS as TOPDOWN_OPTIONS
from posebench.backends.topdown import Keypoints, TopDownBackend, finish_scores
from posebench.detection import DEVICES
from posebench.markersets import get_marker_set

log = logging.getLogger(__name__)

INPUT_NAME = "input"
OUTPUT_NAMES = ("simcc_x", "simcc_y")
SIMCC_SPLIT_RATIO = 2.0
BOX_PADDING = 1.25
# MMPose's RTMPose/RTMW data preprocessor, RGB order (bgr_to_rgb=True).
MEAN_RGB = (123.675, 116.28, 103.53)
STD_RGB = (58.395, 57.12, 57.375)

CPU_PROVIDER = "CPUExecutionProvider"
CUDA_PROVIDER = "CUDAExecutionProvider"
# Messages of ONNX Runtime's CUDA allocator when GPU memory runs out.
_OUT_OF_MEMORY = ("out of memory", "failed to allocate memory")

OPTIONS: dict[str, Any] = {**TOPDOWN_OPTIONS, "threads": 1}
FIXES = {
    "halpe26": "26 Halpe keypoints",
    "coco17": "17 COCO keypoints",
    "coco_wholebody": "133 COCO-WholeBody keypoints",
}

Array = npt.NDArray[Any]


@dataclass(frozen=True)
class PoseModel:
    """What an RTMPose/RTMW ONNX model takes and returns: `input_size` (width, height) of
    its crops, `n_keypoints` (K) and `batch`, its fixed batch size or None when dynamic."""

    path: Path
    input_size: tuple[int, int]
    n_keypoints: int
    batch: int | None


# --------------------------------------------------------------------------- sessions


def check_options(
    model_name: str, backend: str, options: Mapping[str, Any], error: type[Exception]
) -> tuple[str, int, int]:
    """(device, crop_batch_size, threads) from `options` over `OPTIONS`; `error` for an
    unknown option, a precision other than fp32, or counts that are not integers >= 1."""
    context = f"Model {model_name!r}"
    unknown = set(options) - set(OPTIONS)
    if unknown:
        raise error(
            f"{context}: unknown {backend} options {sorted(unknown)}; allowed: {sorted(OPTIONS)}."
        )
    settings = {**OPTIONS, **options}
    check_precision(str(settings["precision"]), context, error)
    counts = []
    for key in ("crop_batch_size", "threads"):
        value = settings[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise error(f"{context}: option {key}={value!r} must be an integer >= 1.")
        counts.append(value)
    return str(settings["device"]), counts[0], counts[1]


def check_precision(precision: str, context: str, error: type[Exception]) -> None:
    """`error` unless `precision` is fp32: ONNX Runtime runs the model's own (fp32) weights."""
    if precision != "fp32":
        raise error(
            f"{context}: precision {precision!r} is not available with ONNX Runtime, which runs "
            "the model in the precision it was exported in (fp32 for OpenMMLab's ONNX models); "
            "set precision: fp32 in config/config.yaml."
        )


def session_providers(device: str, context: str, error: type[Exception]) -> tuple[str, list[Any]]:
    """The device ("cpu" or "cuda[:N]") that `device` ("auto" | "cpu" | "cuda" | "cuda:N")
    means with the installed ONNX Runtime, and the execution providers to ask for. "auto" is
    CUDA when ONNX Runtime has its CUDA provider; "cuda" without it raises `error`."""
    import onnxruntime as ort

    valid = device in ("auto", "cpu", "cuda") or (
        device.startswith("cuda:") and device[5:].isdigit()
    )
    if not valid:
        raise error(f"{context}: device {device!r} is not one of {', '.join(DEVICES)}.")
    available = ort.get_available_providers()
    if device == "auto":
        device = "cuda" if CUDA_PROVIDER in available else "cpu"
    if device == "cpu":
        return device, [CPU_PROVIDER]
    if CUDA_PROVIDER not in available:
        raise error(
            f"{context}: device {device!r} requested but ONNX Runtime {ort.__version__} has no "
            f"CUDA provider (it has {', '.join(available)}). Install the GPU build in its place "
            "(pip uninstall -y onnxruntime && pip install onnxruntime-gpu) on a GPU node, or set "
            "device: auto or cpu in config/config.yaml."
        )
    index = int(device[5:]) if ":" in device else 0
    return device, [(CUDA_PROVIDER, {"device_id": index}), CPU_PROVIDER]


def session_options(threads: int) -> Any:
    """`onnxruntime.SessionOptions` with `threads` intra-op threads, one inter-op thread, and
    threads that sleep between runs instead of spinning: between two runs the job crops and
    decodes on the CPU, and decodes video in a background thread, which spinning threads
    would slow down (scripts/benchmark_rtmpose.py: 0.96 instead of 0.91 of the bare loop's
    rate at one crop per run on 2 CPUs, the bare loop itself no slower)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def open_session(
    model_file: Path, device: str, threads: int, context: str, error: type[Exception]
) -> tuple[Any, str]:
    """An `onnxruntime.InferenceSession` on `model_file` with `session_options(threads)` on
    `device` (`session_providers`), and the device it runs on. `error` names the file when
    it cannot be loaded, and when "cuda" was asked for but ONNX Runtime could not start CUDA
    (with "auto" that falls back to the CPU, logged)."""
    import onnxruntime as ort

    device, providers = session_providers(device, context, error)
    options = session_options(threads)
    try:
        session = ort.InferenceSession(str(model_file), options, providers=providers)
    except Exception as cause:  # onnxruntime raises its own exception types
        raise error(
            f"{context}: cannot load the ONNX model {model_file} ({type(cause).__name__}: "
            f"{cause}). Delete {model_file.parent} and re-run the fetch_weights rule."
        ) from cause
    if device != "cpu" and CUDA_PROVIDER not in session.get_providers():
        raise error(
            f"{context}: ONNX Runtime has a CUDA provider but could not start it for "
            f"{model_file} (CUDA or cuDNN libraries missing or not matching onnxruntime-gpu; "
            "its log above says which). Fix the CUDA installation or set device: cpu."
        )
    return session, device


def run_batched(
    session: Any, input_name: str, batch: Array, fixed_batch: int | None, outputs: Sequence[str]
) -> list[Array]:
    """The `outputs` of `session` on `batch` (n, ...): one run for a dynamic batch, else
    runs of `fixed_batch` items, the last one padded with zeros."""
    if fixed_batch is None or len(batch) == fixed_batch:
        return list(session.run(list(outputs), {input_name: batch}))
    parts: list[list[Array]] = []
    for start in range(0, len(batch), fixed_batch):
        chunk = batch[start : start + fixed_batch]
        size = len(chunk)
        if size < fixed_batch:
            padding = np.zeros((fixed_batch - size, *chunk.shape[1:]), dtype=chunk.dtype)
            chunk = np.concatenate([chunk, padding])
        parts.append([result[:size] for result in session.run(list(outputs), {input_name: chunk})])
    return [np.concatenate(results) for results in zip(*parts, strict=True)]


def is_out_of_memory(error: BaseException) -> bool:
    """True for ONNX Runtime's error when the GPU allocator runs out of memory."""
    message = str(error).lower()
    return any(text in message for text in _OUT_OF_MEMORY)


def static_dim(value: Any) -> int | None:
    """A dimension of an ONNX Runtime shape as an int, None when symbolic or unknown."""
    return value if isinstance(value, int) and value > 0 else None


# --------------------------------------------------------------------------- the model


def read_pose_model(
    session: Any, model_file: Path, context: str, error: type[Exception] = BackendError
) -> PoseModel:
    """The input size, keypoint count and batch of the RTMPose/RTMW model of `session`
    (loaded from `model_file`); `error`, naming the file, when its inputs or outputs are not
    those of an MMDeploy SimCC export (see the module docstring). The input size is the
    input's H and W, or, where the input leaves them open, the SimCC lengths / 2."""
    expected = (
        f"an RTMPose/RTMW ONNX model takes `{INPUT_NAME}` (batch, 3, H, W) float32 and returns "
        f"`{OUTPUT_NAMES[0]}` (batch, K, 2W) and `{OUTPUT_NAMES[1]}` (batch, K, 2H)"
    )
    inputs = session.get_inputs()
    outputs = {output.name: output.shape for output in session.get_outputs()}
    found = (
        f"{model_file} takes {[(i.name, i.shape) for i in inputs]} and returns "
        f"{list(outputs.items())}"
    )
    fix = "Use the ONNX file of OpenMMLab's release (delete the folder and re-run fetch_weights)."
    shape = inputs[0].shape if len(inputs) == 1 else []
    if (
        len(inputs) != 1
        or inputs[0].name != INPUT_NAME
        or inputs[0].type != "tensor(float)"
        or len(shape) != 4
        or static_dim(shape[1]) not in (None, 3)
        or any(len(outputs.get(name, ())) != 3 for name in OUTPUT_NAMES)
    ):
        raise error(f"{context}: {found}; {expected}. {fix}")
    simcc_x, simcc_y = (outputs[name] for name in OUTPUT_NAMES)
    if any(static_dim(dim) is None for dim in (*simcc_x[1:], *simcc_y[1:])):
        raise error(
            f"{context}: {found}: the keypoint count and SimCC lengths of the outputs are "
            f"open (ONNX Runtime's shape inference did not fix them). {fix}"
        )
    height, width = static_dim(shape[2]), static_dim(shape[3])
    lengths = (int(simcc_x[2]), int(simcc_y[2]))
    width = width or round(lengths[0] / SIMCC_SPLIT_RATIO)
    height = height or round(lengths[1] / SIMCC_SPLIT_RATIO)
    wanted = (round(SIMCC_SPLIT_RATIO * width), round(SIMCC_SPLIT_RATIO * height))
    if simcc_x[1] != simcc_y[1] or lengths != wanted:
        raise error(
            f"{context}: {found}; for a {width}x{height} input (W x H) the SimCC outputs "
            f"must be (batch, K, {wanted[0]}) and (batch, K, {wanted[1]}) (split ratio "
            f"{SIMCC_SPLIT_RATIO:g}). {fix}"
        )
    return PoseModel(
        path=model_file,
        input_size=(width, height),
        n_keypoints=int(simcc_x[1]),
        batch=static_dim(shape[0]),
    )


def check_keypoint_count(
    model: PoseModel, marker_set: str, context: str, error: type[Exception]
) -> None:
    """`error` unless the model outputs as many keypoints as `marker_set` has."""
    count = len(get_marker_set(marker_set).keypoints)
    if model.n_keypoints != count:
        choices = ", ".join(f"{name}: {what}" for name, what in FIXES.items())
        raise error(
            f"{context}: the ONNX model {model.path} outputs {model.n_keypoints} keypoints, "
            f"marker set {marker_set!r} has {count}. Set the model's marker_set in "
            f"config/config.yaml to the model's keypoints ({choices})."
        )


# --------------------------------------------------------------------------- crops


def crop_regions(
    boxes: npt.ArrayLike, input_size: tuple[int, int], padding: float = BOX_PADDING
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Centres (n, 2) and sizes (n, 2, width and height) of the image regions the crops of
    `boxes` (n, 4: x1, y1, x2, y2) cover: each box padded by `padding` and widened or
    heightened to the aspect of `input_size` (width, height)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    centres = (boxes[:, :2] + boxes[:, 2:]) / 2
    sizes = (boxes[:, 2:] - boxes[:, :2]) * padding
    aspect = input_size[0] / input_size[1]
    width, height = sizes[:, 0], sizes[:, 1]
    wide = width > height * aspect
    sizes = np.where(
        wide[:, None],
        np.column_stack([width, width / aspect]),
        np.column_stack([height * aspect, height]),
    )
    return centres, sizes


def warp_matrices(
    centres: npt.NDArray[np.float64], sizes: npt.NDArray[np.float64], input_size: tuple[int, int]
) -> npt.NDArray[np.float64]:
    """The affine transforms (n, 2, 3) from image pixels to crop pixels: the region of each
    centre and size onto the `input_size` (width, height) crop (MMPose's `get_warp_matrix`
    without rotation)."""
    scale = input_size[0] / sizes[:, 0]  # = input height / region height (same aspect)
    matrices = np.zeros((len(centres), 2, 3))
    matrices[:, 0, 0] = matrices[:, 1, 1] = scale
    matrices[:, :, 2] = np.asarray(input_size, dtype=np.float64) / 2 - scale[:, None] * centres
    return matrices


def crop_images(
    images: Sequence[npt.NDArray[np.uint8]],
    boxes: npt.ArrayLike,
    input_size: tuple[int, int],
) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The crops (n, height, width, 3) of one box per image, in the images' channel order,
    and the centres and sizes of their regions (`crop_regions`)."""
    import cv2

    centres, sizes = crop_regions(boxes, input_size)
    width, height = input_size
    crops = np.empty((len(images), height, width, 3), dtype=np.uint8)
    matrices = warp_matrices(centres, sizes, input_size)
    for i, (image, matrix) in enumerate(zip(images, matrices, strict=True)):
        crops[i] = cv2.warpAffine(
            image,
            matrix,
            (width, height),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=(0, 0, 0),
        )
    return crops, centres, sizes


def normalise_crops(crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    """RGB crops (n, H, W, 3) as the network input (n, 3, H, W): (value - mean) / std per
    channel, with MMPose's RGB mean and std."""
    planes = np.ascontiguousarray(crops.transpose(0, 3, 1, 2))  # uint8: the cheap copy
    mean = np.asarray(MEAN_RGB, dtype=np.float32)[:, None, None]
    batch = np.subtract(planes, mean, dtype=np.float32)
    batch *= (1.0 / np.asarray(STD_RGB, dtype=np.float32))[:, None, None]
    return batch


def decode_simcc(
    simcc_x: npt.ArrayLike, simcc_y: npt.ArrayLike, split_ratio: float = SIMCC_SPLIT_RATIO
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float32]]:
    """Keypoints (n, K, 2) in crop pixels and scores (n, K) from SimCC vectors (n, K, Lx)
    and (n, K, Ly): arg-max / `split_ratio`, score the smaller of the two maxima (MMPose's
    `get_simcc_maximum`); keypoints whose score is <= 0 are NaN."""
    x = np.asarray(simcc_x, dtype=np.float32)
    y = np.asarray(simcc_y, dtype=np.float32)
    locations = np.stack([x.argmax(axis=-1), y.argmax(axis=-1)], axis=-1) / split_ratio
    scores = np.minimum(x.max(axis=-1), y.max(axis=-1))
    locations[scores <= 0] = np.nan
    return locations, scores


def crop_to_image(
    points: npt.NDArray[np.float64],
    centres: npt.NDArray[np.float64],
    sizes: npt.NDArray[np.float64],
    input_size: tuple[int, int],
) -> npt.NDArray[np.float64]:
    """Crop pixels (n, K, 2) back to image pixels: c - s / 2 + u * s / input size."""
    unit = sizes / np.asarray(input_size, dtype=np.float64)
    return np.asarray(points * unit[:, None] + (centres - sizes / 2)[:, None])


# --------------------------------------------------------------------------- backend


class RTMPoseBackend(TopDownBackend):
    """An RTMPose/RTMW ONNX model on the tracked person box of each frame (module docstring)."""

    backend = "rtmpose"

    def __init__(
        self, model_name: str, marker_set: str, options: Mapping[str, Any], weights_dir: Path | None
    ) -> None:
        # TopDownBackend.__init__ resolves the device and out-of-memory errors with PyTorch,
        # which ONNX Runtime does not need; the attributes its box handling uses
        # (start_video, predict, end_video) are set here instead.
        device, crop_batch_size, threads = check_options(
            model_name, self.backend, options, BackendError
        )
        if weights_dir is None:
            raise BackendError(
                f"Model {model_name!r} needs weights; run fetch_weights (give the model "
                "`weights:` in config/config.yaml)."
            )
        self.name = model_name
        self.marker_set = marker_set
        self.keypoint_names = get_marker_set(marker_set).keypoints
        self._log = log
        self._require_libraries()
        self._crop_batch_size = crop_batch_size
        self._track = None
        self._video = None
        self._detections = None
        context = f"Model {model_name!r}"
        model_file = _model_file(weights_dir, context)
        self._session, self._device = open_session(
            model_file, device, threads, context, BackendError
        )
        self._model = read_pose_model(self._session, model_file, context)
        check_keypoint_count(self._model, marker_set, context, BackendError)

    @property
    def input_size(self) -> tuple[int, int]:
        """The model's crop size (width, height)."""
        return self._model.input_size

    def _require_libraries(self) -> None:
        try:
            import cv2  # noqa: F401
            import onnxruntime  # noqa: F401
        except ImportError as error:
            raise BackendError(
                f"Model {self.name!r}: the rtmpose backend needs onnxruntime and OpenCV "
                "(pip install -e . installs both)."
            ) from error

    def _forward(
        self, images: Sequence[npt.NDArray[np.uint8]], boxes: npt.NDArray[np.float64]
    ) -> Keypoints:
        crops, centres, sizes = crop_images(images, boxes, self.input_size)
        simcc_x, simcc_y = run_batched(
            self._session, INPUT_NAME, normalise_crops(crops), self._model.batch, OUTPUT_NAMES
        )
        points, scores = decode_simcc(simcc_x, simcc_y)
        return finish_scores(crop_to_image(points, centres, sizes, self.input_size), scores)

    def _estimate(
        self, images: Sequence[npt.NDArray[np.uint8]], boxes: npt.NDArray[np.float64]
    ) -> Keypoints:
        """`_forward` on `crop_batch_size` crops at a time, halving it when the GPU runs out
        of memory (as `TopDownBackend._estimate` does for PyTorch)."""
        keypoints: list[npt.NDArray[np.float32]] = []
        scores: list[npt.NDArray[np.float32]] = []
        start = 0
        while start < len(images):
            size = min(self._crop_batch_size, len(images) - start)
            try:
                chunk = self._forward(images[start : start + size], boxes[start : start + size])
            except Exception as error:  # onnxruntime raises its own exception types
                if self._device == "cpu" or not is_out_of_memory(error):
                    raise
                if size == 1:
                    raise BackendError(
                        f"Model {self.name!r}: out of GPU memory on {self._device} even with one "
                        "crop per run. Use a smaller model or a GPU with more memory."
                    ) from error
                self._crop_batch_size = size // 2
                self._log.warning(
                    "Model %r: out of GPU memory with %d crops per run; retrying with "
                    "crop_batch_size=%d (lower it in config/config.yaml to avoid the retries).",
                    self.name, size, self._crop_batch_size,
                )  # fmt: skip
                continue
            keypoints.append(chunk[0])
            scores.append(chunk[1])
            start += size
        return np.concatenate(keypoints), np.concatenate(scores)

    def close(self) -> None:
        super().close()
        self._session = None


def _model_file(weights_dir: Path, context: str) -> Path:
    """The ONNX model of the checkpoint folder, BackendError when there is none or several."""
    from posebench.weights.spec import WeightsError, onnx_model_file

    try:
        return onnx_model_file(weights_dir)
    except WeightsError as error:
        raise BackendError(f"{context}: {error}") from error


def create(
    model_name: str, marker_set: str, options: Mapping[str, Any], weights_dir: Path | None
) -> PoseBackend:
    """This backend for `posebench.backends.registry.create_backend`."""
    return RTMPoseBackend(model_name, marker_set, options, weights_dir)
