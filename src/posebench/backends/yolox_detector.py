"""YOLOX person detector (detector backend `yolox`) on ONNX Runtime: the YOLOX models
OpenMMLab publishes as ONNX with RTMPose (and Pose2Sim and rtmlib use).

The checkpoint folder (fetch_weights, format "onnx") holds one ONNX model
(`posebench.weights.spec.onnx_model_file`): an MMDeploy end-to-end export, non-maximum
suppression included, with input `input` (batch, 3, H, W) float32 and outputs `dets`
(batch, N, 5: x1, y1, x2, y2 in input pixels, score) and `labels` (batch, N). They are
checked when the detector is created. The input size is the model's (640x640 for YOLOX-m);
a model that leaves it open gets 640x640, YOLOX's test size in MMDetection's configs
(logged).

Preprocessing follows MMDetection's YOLOX test pipeline (`configs/yolox/yolox_*_8xb8-300e_
coco.py` of the installed mmdet 3.3.0), which the export expects:

- `Resize` with `keep_ratio=True`: the frame scaled by min(W / width, H / height), sizes
  rounded (mmcv), bilinear;
- `Pad` with `pad_to_square`: placed at the top left of the input, the rest filled with 114;
- the data preprocessor has no mean/std and `bgr_to_rgb=False`, on images loaded by
  OpenCV: the network takes raw 0-255 BGR values. Frames are RGB (`posebench.video`), so
  their channels are reversed. (rtmlib does the same, truncating the resized size.)

Boxes go back to image pixels through the resize factors of each axis (MMDetection's
`scale_factor`, the resized size over the original one). Detections labelled 0 (COCO's
person, also the person class of OpenMMLab's HumanArt YOLOX) with a score >= the threshold
are the candidates (`posebench.detection.person_candidates`: clipped to the image,
non-empty). A whole batch of frames goes through one run when the model's batch is
dynamic; a model with a fixed batch runs in chunks of it.

`device` as for the `rtmpose` backend (`posebench.backends.rtmpose.session_providers`);
`precision` must be fp32. The session uses `threads` intra-op threads: the detect job's
(`detectors.<name>.threads`, passed by `posebench.detection.create_detector`), 1 outside a
job.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from posebench.backends.rtmpose import (
    check_precision,
    open_session,
    run_batched,
    static_dim,
)
from posebench.detection import DetectionError, person_candidates

log = logging.getLogger(__name__)

INPUT_NAME = "input"
OUTPUT_NAMES = ("dets", "labels")
PERSON_LABEL_INDEX = 0
PAD_VALUE = 114
# (width, height) used when the model leaves its input size open: MMDetection's YOLOX
# configs test at img_scale = (640, 640).
DEFAULT_INPUT_SIZE = (640, 640)


@dataclass(frozen=True)
class DetectorModel:
    """What a YOLOX ONNX model takes: `input_size` (width, height) and `batch`, its fixed
    batch size or None when dynamic."""

    path: Path
    input_size: tuple[int, int]
    batch: int | None


def read_detector_model(
    session: Any, model_file: Path, context: str, error: type[Exception] = DetectionError
) -> DetectorModel:
    """The input size and batch of the YOLOX model of `session` (loaded from `model_file`);
    `error`, naming the file, when its inputs and outputs are not an MMDeploy end-to-end
    export's (see the module docstring)."""
    inputs = session.get_inputs()
    outputs = {output.name: output.shape for output in session.get_outputs()}
    shape = inputs[0].shape if len(inputs) == 1 else []
    dets, labels = outputs.get(OUTPUT_NAMES[0]), outputs.get(OUTPUT_NAMES[1])
    if (
        len(inputs) != 1
        or inputs[0].name != INPUT_NAME
        or inputs[0].type != "tensor(float)"
        or len(shape) != 4
        or static_dim(shape[1]) not in (None, 3)
        or dets is None
        or labels is None
        or len(dets) != 3
        or static_dim(dets[2]) not in (None, 5)
        or len(labels) != 2
    ):
        raise error(
            f"{context}: {model_file} takes {[(i.name, i.shape) for i in inputs]} and returns "
            f"{list(outputs.items())}; a YOLOX ONNX model (MMDeploy end-to-end export) takes "
            f"`{INPUT_NAME}` (batch, 3, H, W) float32 and returns `{OUTPUT_NAMES[0]}` "
            f"(batch, N, 5) and `{OUTPUT_NAMES[1]}` (batch, N). Use the ONNX file of "
            "OpenMMLab's release (delete the folder and re-run fetch_weights)."
        )
    height, width = static_dim(shape[2]), static_dim(shape[3])
    if height is None or width is None:
        log.info(
            "%s: %s leaves its input size open; using %dx%d (YOLOX's test size)",
            context, model_file, *DEFAULT_INPUT_SIZE,
        )  # fmt: skip
        width, height = DEFAULT_INPUT_SIZE
    return DetectorModel(path=model_file, input_size=(width, height), batch=static_dim(shape[0]))


def letterbox(
    frame: npt.NDArray[np.uint8], input_size: tuple[int, int], out: npt.NDArray[np.float32]
) -> tuple[float, float]:
    """Write the network input of the RGB `frame` (height, width, 3) into `out` (3, H, W):
    resized to fit `input_size` (width, height) keeping its aspect, at the top left, padded
    with 114, BGR, 0-255. Returns the resize factors (x, y): resized size / frame size."""
    import cv2

    height, width = frame.shape[:2]
    ratio = min(input_size[0] / width, input_size[1] / height)
    # mmcv's rescale_size rounds: int(size * ratio + 0.5).
    new_width = min(input_size[0], int(width * ratio + 0.5))
    new_height = min(input_size[1], int(height * ratio + 0.5))
    resized = cv2.resize(frame, (new_width, new_height), interpolation=cv2.INTER_LINEAR)
    out.fill(PAD_VALUE)
    for channel in range(3):  # RGB -> BGR
        out[channel, :new_height, :new_width] = resized[..., 2 - channel]
    return new_width / width, new_height / height


class YOLOXPersonDetector:
    """A YOLOX ONNX model from a checkpoint folder, returning person boxes (module docstring)."""

    def __init__(
        self, weights_dir: Path, name: str, device: str, precision: str, threads: int = 1
    ) -> None:
        from posebench.weights.spec import WeightsError, onnx_model_file

        context = f"Detector {name!r}"
        try:
            import cv2  # noqa: F401
            import onnxruntime  # noqa: F401
        except ImportError as error:
            raise DetectionError(
                f"{context}: the yolox detector needs onnxruntime and OpenCV (pip install -e .)."
            ) from error
        check_precision(precision, context, DetectionError)
        if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
            raise DetectionError(f"{context}: threads={threads!r} must be an integer >= 1.")
        try:
            model_file = onnx_model_file(weights_dir)
        except WeightsError as error:
            raise DetectionError(f"{context}: {error}") from error
        self.session, self.device = open_session(
            model_file, device, threads, context, DetectionError
        )
        self.model = read_detector_model(self.session, model_file, context)
        self.person = PERSON_LABEL_INDEX

    def __call__(
        self, frames: list[npt.NDArray[np.uint8]], threshold: float
    ) -> list[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]]:
        """Per frame, the person boxes (n, 4) x1, y1, x2, y2 clipped to the image and their
        scores (n,), keeping scores >= `threshold`."""
        if not frames:
            return []
        width, height = self.model.input_size
        batch = np.empty((len(frames), 3, height, width), dtype=np.float32)
        factors = np.array(
            [
                letterbox(frame, (width, height), out)
                for frame, out in zip(frames, batch, strict=True)
            ]
        )
        dets, labels = run_batched(self.session, INPUT_NAME, batch, self.model.batch, OUTPUT_NAMES)
        results = []
        for frame, frame_dets, frame_labels, (fx, fy) in zip(
            frames, dets, labels, factors, strict=True
        ):
            boxes = frame_dets[:, :4].astype(np.float64) / np.array([fx, fy, fx, fy])
            results.append(
                person_candidates(
                    boxes,
                    frame_dets[:, 4],
                    frame_labels,
                    self.person,
                    threshold,
                    (frame.shape[1], frame.shape[0]),
                )
            )
        return results
