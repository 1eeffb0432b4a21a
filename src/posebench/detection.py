"""Person detection for top-down pose models: the core of the rule `detect` (its shell, which
opens the video and the detector and writes the detection file, is `posebench.stages.detect`).

An object detector (RT-DETR through Transformers' `AutoModelForObjectDetection`, loaded
from a local weights folder: `PersonDetector`) runs over every decodable frame of a camera
video. Per frame the boxes labelled "person" with a score of at least `score_threshold` are
candidates (OpenCapBench used 0.8), and `track_person` follows a single subject through
them (`select_box`): the first frame with any person starts the track at its best box;
later frames continue it with the candidate overlapping the last kept box the most (IoU >=
0.1) and otherwise jump to the best candidate. Frames without a candidate are gaps (NaN box,
score 0).

The track has one row per frame slot of the video (`track_on_slots`; `posebench.video`: slot
j is the frame at t = j / fps); slots the video lacks (dropped frames) hold a NaN box and
score 0, like gaps, and do not break the track (it continues from the last kept box).

Detection file (one per detector and video): a NumPy archive with `boxes` (F, 4) float32
x1, y1, x2, y2 in pixels of the original image, `scores` (F,) float32, and `meta`, a JSON
string with `format_version`, `detector`, `score_threshold`, `fps`, `image_size`
[width, height], `n_frames` (frame slots), `frame_count_header` (the container's
count), `video`, `track_jumps` and `slots` (`posebench.video.SlotSummary.metadata`: slot
count, missing slots and their first indices, timestamps or decode order; absent in files
written before frames were placed on slots). It is written atomically.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt

from posebench.io.archive import read_archive, write_archive
from posebench.progress import Progress
from posebench.video import Frame, SlotBatch, SlotSummary, VideoInfo

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

ProcessorT = TypeVar("ProcessorT")
ModelT = TypeVar("ModelT")

FORMAT_VERSION = 1
PERSON_LABEL = "person"
TRACK_MIN_IOU = 0.1
DEVICES = ("auto", "cpu", "cuda", "cuda:N")
PRECISIONS = ("fp32", "fp16", "bf16")


class DetectionError(RuntimeError):
    """Detection could not run, or a detection file is missing, malformed or does not
    belong to the video; the message names the file and the fix."""


@dataclass(frozen=True)
class DetectionTrack:
    """The tracked person box of every frame slot of one video.

    `boxes` is (slots, 4) x1, y1, x2, y2 in pixels, NaN on slots without a person or
    without a frame; `scores` is (slots,) in [0, 1], 0 on those slots. `image_size` is
    (width, height); `frame_count_header` is the video header's frame count, which
    identifies the video. `slots` is the video's `SlotSummary.metadata()` (empty for tracks
    not made by `track_on_slots`).
    """

    boxes: npt.NDArray[np.float32]
    scores: npt.NDArray[np.float32]
    detector: str
    score_threshold: float
    fps: float
    image_size: tuple[int, int]
    video: str
    frame_count_header: int
    track_jumps: int = 0
    slots: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        frames = self.boxes.shape[0]
        if self.boxes.shape != (frames, 4) or self.scores.shape != (frames,):
            raise DetectionError(
                f"Detections of {self.video}: boxes {self.boxes.shape} and scores "
                f"{self.scores.shape} must be (frames, 4) and (frames,)."
            )
        found = self.found()
        if not np.all(found | np.isnan(self.boxes).all(axis=1)):
            raise DetectionError(
                f"Detections of {self.video}: each box must be all finite or all NaN."
            )
        if np.any(self.scores[~found] != 0) or np.any(~(self.scores[found] >= 0)):
            raise DetectionError(
                f"Detections of {self.video}: frames without a box (NaN) must have score 0 "
                "and frames with one a score >= 0."
            )
        boxes = self.boxes[found]
        if np.any(boxes[:, 2] <= boxes[:, 0]) or np.any(boxes[:, 3] <= boxes[:, 1]):
            raise DetectionError(
                f"Detections of {self.video}: every box needs x2 > x1 and y2 > y1."
            )

    @property
    def n_frames(self) -> int:
        return int(self.boxes.shape[0])

    def found(self) -> npt.NDArray[np.bool_]:
        """Frames with a person box."""
        return np.asarray(np.isfinite(self.boxes).all(axis=1))


def save_detections(path: Path, track: DetectionTrack) -> None:
    """Write `track` to `path` (.npz) atomically."""
    meta = {
        "format_version": FORMAT_VERSION,
        "detector": track.detector,
        "score_threshold": track.score_threshold,
        "fps": track.fps,
        "image_size": list(track.image_size),
        "n_frames": track.n_frames,
        "video": track.video,
        "frame_count_header": track.frame_count_header,
        "track_jumps": track.track_jumps,
        "slots": track.slots,
    }
    arrays = {"boxes": track.boxes.astype(np.float32), "scores": track.scores.astype(np.float32)}
    write_archive(path, arrays, meta)


def load_detections(path: Path) -> DetectionTrack:
    """Read a file written by `save_detections`, with errors that name the file."""
    arrays, meta = read_archive(
        path,
        ["boxes", "scores"],
        format_version=FORMAT_VERSION,
        error=DetectionError,
        kind="detection file",
        rule="detect",
    )
    boxes, scores = arrays["boxes"], arrays["scores"]
    try:
        track = DetectionTrack(
            boxes=boxes.astype(np.float32),
            scores=scores.astype(np.float32),
            detector=str(meta["detector"]),
            score_threshold=float(meta["score_threshold"]),
            fps=float(meta["fps"]),
            image_size=(int(meta["image_size"][0]), int(meta["image_size"][1])),
            video=str(meta["video"]),
            frame_count_header=int(meta["frame_count_header"]),
            track_jumps=int(meta["track_jumps"]),
            slots=dict(meta.get("slots", {})),  # absent in files of format 1 before slots
        )
        frames = int(meta["n_frames"])
    except (KeyError, IndexError, ValueError, TypeError, DetectionError) as error:
        raise DetectionError(
            f"Detection file {path} is malformed ({type(error).__name__}: {error}). Delete it "
            "and re-run the detect rule."
        ) from error
    if track.n_frames != frames:
        raise DetectionError(
            f"{path}: meta says {frames} frames, arrays hold {track.n_frames}. Delete it and "
            "re-run the detect rule."
        )
    return track


def box_iou(box: npt.ArrayLike, boxes: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Intersection over union of one x1, y1, x2, y2 box with each of `boxes` (n, 4)."""
    one = np.asarray(box, dtype=np.float64).reshape(1, 4)
    many = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    width = np.clip(np.minimum(one[:, 2], many[:, 2]) - np.maximum(one[:, 0], many[:, 0]), 0, None)
    height = np.clip(np.minimum(one[:, 3], many[:, 3]) - np.maximum(one[:, 1], many[:, 1]), 0, None)
    intersection = width * height
    union = _area(one) + _area(many) - intersection
    return np.asarray(np.where(union > 0, intersection / np.maximum(union, 1e-12), 0.0))


def _area(boxes: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.asarray((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))


def select_box(
    boxes: npt.ArrayLike,
    scores: npt.ArrayLike,
    previous: npt.ArrayLike | None,
    min_iou: float = TRACK_MIN_IOU,
) -> tuple[int | None, bool]:
    """Pick the candidate (`boxes` (n, 4) x1, y1, x2, y2, `scores` (n,)) that continues
    the track whose last kept box is `previous` (None before the first).

    Returns (index, jumped): the candidate with the highest IoU with `previous` if that
    IoU is >= `min_iou` (ties: higher score); otherwise the highest-score candidate (ties:
    larger area), and `jumped` is True when a previous box existed. (None, False) when
    there is no candidate.
    """
    candidates = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    confidence = np.asarray(scores, dtype=np.float64).reshape(-1)
    if len(candidates) == 0:
        return None, False
    if previous is not None:
        overlaps = box_iou(previous, candidates)
        best = int(np.lexsort((confidence, overlaps))[-1])
        if overlaps[best] >= min_iou:
            return best, False
    return int(np.lexsort((_area(candidates), confidence))[-1]), previous is not None


def resolve_device(
    device: str, precision: str, context: str, error: type[Exception] = DetectionError
) -> tuple[str, str]:
    """The torch device and precision to use for `device` ("auto" | "cpu" | "cuda" |
    "cuda:N") and `precision` ("fp32" | "fp16" | "bf16"). "auto" is CUDA when available;
    fp16/bf16 apply on CUDA only (on the CPU a warning is logged and fp32 is used).
    Invalid or unavailable choices raise `error`, whose message starts with `context`."""
    import torch

    if precision not in PRECISIONS:
        raise error(f"{context}: precision {precision!r} is not one of {', '.join(PRECISIONS)}.")
    valid = device in ("auto", "cpu", "cuda") or (
        device.startswith("cuda:") and device[5:].isdigit()
    )
    if not valid:
        raise error(f"{context}: device {device!r} is not one of {', '.join(DEVICES)}.")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise error(
                f"{context}: device {device!r} requested but PyTorch sees no CUDA GPU; set "
                "device: auto or cpu in config/config.yaml, or run on a GPU node."
            )
        index = int(device[5:]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise error(
                f"{context}: device {device!r} requested but only "
                f"{torch.cuda.device_count()} GPU(s) are visible (CUDA_VISIBLE_DEVICES)."
            )
    elif precision != "fp32":
        log.warning("%s: precision %s needs CUDA; using fp32 on the CPU.", context, precision)
        precision = "fp32"
    return device, precision


def autocast(device: str, precision: str) -> contextlib.AbstractContextManager[Any]:
    """Mixed precision for fp16/bf16 on CUDA; no-op for fp32."""
    import torch

    if precision == "fp32":
        return contextlib.nullcontext()
    dtype: torch.dtype = torch.float16 if precision == "fp16" else torch.bfloat16
    return torch.autocast(device_type="cuda", dtype=dtype)


def load_pretrained(
    load_processor: Callable[..., ProcessorT],
    load_model: Callable[..., ModelT],
    weights_dir: Path,
    context: str,
    what: str,
    error: type[Exception] = DetectionError,
) -> tuple[ProcessorT, ModelT]:
    """The image processor and the model saved in `weights_dir`, read without network access
    by `load_processor` and `load_model` (Transformers' `from_pretrained` of their classes).
    When they cannot be read (OSError, ValueError), raises `error` with the message
    "<context>: cannot load <what> from <weights_dir>: <cause>. Delete the folder and re-run
    the fetch_weights rule."."""
    try:
        processor = load_processor(weights_dir, local_files_only=True)
        model = load_model(weights_dir, local_files_only=True)
    except (OSError, ValueError) as cause:
        raise error(
            f"{context}: cannot load {what} from {weights_dir}: {cause}. Delete the folder and "
            "re-run the fetch_weights rule."
        ) from cause
    return processor, model


class PersonDetector:
    """An object detector from a local Transformers checkpoint, returning person boxes."""

    def __init__(self, weights_dir: Path, name: str, device: str, precision: str) -> None:
        try:
            from transformers import AutoImageProcessor, AutoModelForObjectDetection
        except ImportError as error:
            raise DetectionError(
                f"Detector {name!r} needs PyTorch and Transformers: pip install -e '.[vitpose]'."
            ) from error
        if not weights_dir.is_dir():
            raise DetectionError(
                f"Detector {name!r}: weights folder {weights_dir} not found; run the "
                "fetch_weights rule for it."
            )
        context = f"Detector {name!r}"
        self.device, self.precision = resolve_device(device, precision, context)
        self.processor, model = load_pretrained(
            AutoImageProcessor.from_pretrained,
            AutoModelForObjectDetection.from_pretrained,
            weights_dir,
            context,
            "an object detector",
        )
        self.model = model.eval().to(self.device)
        labels = {str(label).lower(): int(i) for i, label in model.config.id2label.items()}
        if PERSON_LABEL not in labels:
            raise DetectionError(
                f"Detector {name!r} ({weights_dir}) has no {PERSON_LABEL!r} label; its labels "
                f"are {sorted(labels)[:10]}... Use a COCO-trained detector such as RT-DETR."
            )
        self.person = labels[PERSON_LABEL]

    def __call__(
        self, frames: list[npt.NDArray[np.uint8]], threshold: float
    ) -> list[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]]:
        """Per frame, the person boxes (n, 4) x1, y1, x2, y2 clipped to the image and their
        scores (n,), keeping scores >= `threshold`."""
        import torch

        height, width = frames[0].shape[:2]
        inputs = self.processor(images=frames, return_tensors="pt")
        with torch.inference_mode(), autocast(self.device, self.precision):
            outputs = self.model(pixel_values=inputs["pixel_values"].to(self.device))
        # Every query is kept here (threshold below any score): the processor keeps
        # scores > threshold, the detection stage scores >= threshold.
        results = self.processor.post_process_object_detection(
            outputs, threshold=-1.0, target_sizes=[(height, width)] * len(frames)
        )
        return [
            person_candidates(
                result["boxes"].float().cpu().numpy(),
                result["scores"].float().cpu().numpy(),
                result["labels"].cpu().numpy(),
                self.person,
                threshold,
                (width, height),
            )
            for result in results
        ]


def person_candidates(
    boxes: npt.NDArray[Any],
    scores: npt.NDArray[Any],
    labels: npt.NDArray[Any],
    person: int,
    threshold: float,
    image_size: tuple[int, int],
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """The boxes (n, 4) x1, y1, x2, y2 of one image's detections labelled `person` with a
    score >= `threshold`, clipped to the image (`image_size` width, height) and non-empty
    after clipping, and their scores (n,), as float32."""
    width, height = image_size
    limits = np.array([width, height, width, height], dtype=np.float32)
    boxes = np.clip(boxes.astype(np.float32), 0.0, limits)
    scores = scores.astype(np.float32)
    keep = (
        (labels == person)
        & (scores >= threshold)
        & (boxes[:, 2] > boxes[:, 0])
        & (boxes[:, 3] > boxes[:, 1])
    )
    return boxes[keep], scores[keep]


DETECTOR_BACKENDS: dict[str, str] = {
    "transformers": "posebench.detection:PersonDetector",
    "mmdet": "posebench.backends.mmdet_detector:MMDetPersonDetector",
    "yolox": "posebench.backends.yolox_detector:YOLOXPersonDetector",
}
"""Detector backend (config `detectors.<name>.backend`, default transformers) -> the class,
imported only when used."""

JOB_THREADS_DETECTORS = frozenset({"yolox"})
"""Detector backends whose class takes the detect job's `threads` (ONNX Runtime's intra-op
threads; `detectors.<name>.threads`, what the job reserves)."""


def create_detector(
    backend: str, weights_dir: Path, name: str, device: str, precision: str, threads: int = 1
) -> Detector:
    """The person detector `name` of `backend` from its weights folder `weights_dir`
    (`threads`: the job's, used by the backends of JOB_THREADS_DETECTORS)."""
    import importlib

    if backend not in DETECTOR_BACKENDS:
        raise DetectionError(
            f"Detector {name!r}: unknown backend {backend!r}; available: "
            f"{', '.join(sorted(DETECTOR_BACKENDS))}."
        )
    module, _, attribute = DETECTOR_BACKENDS[backend].partition(":")
    extra = {"threads": threads} if backend in JOB_THREADS_DETECTORS else {}
    detector: Detector = getattr(importlib.import_module(module), attribute)(
        weights_dir, name, device, precision, **extra
    )
    return detector


Detector = Callable[
    [list[Frame], float], list[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]]
]
"""Per frame of a batch, the person boxes (n, 4) x1, y1, x2, y2 and scores (n,) that reach
the threshold given; a `PersonDetector` is one."""


@dataclass(frozen=True)
class FrameBoxes:
    """The tracked person box of each decoded frame, in decode order: `boxes` (frames, 4),
    NaN where no candidate reached the threshold, `scores` (frames,), 0 there; `track_jumps`
    counts the frames where the track left the last kept box for a non-overlapping one."""

    boxes: npt.NDArray[np.float32]
    scores: npt.NDArray[np.float32]
    track_jumps: int

    @property
    def n_frames(self) -> int:
        return int(self.scores.shape[0])


def track_person(
    batches: Iterable[SlotBatch],
    detector: Detector,
    score_threshold: float,
    progress: Progress | None = None,
) -> FrameBoxes:
    """Run `detector` on every batch of `batches` and follow one person through the
    candidates of each frame (`select_box`; see the module docstring).

    `progress`, if given, is called after each batch with the number of frames so far and
    the batch's last slot.
    """
    boxes: list[npt.NDArray[np.float32]] = []
    scores: list[float] = []
    previous: npt.NDArray[np.float32] | None = None
    jumps = 0
    for batch in batches:
        for frame_boxes, frame_scores in detector([frame for _, frame in batch], score_threshold):
            index, jumped = select_box(frame_boxes, frame_scores, previous)
            if index is None:
                boxes.append(np.full(4, np.nan, dtype=np.float32))
                scores.append(0.0)
            else:
                previous = frame_boxes[index]
                boxes.append(previous)
                scores.append(float(frame_scores[index]))
                jumps += jumped
        if progress is not None:
            progress(len(boxes), batch[-1][0])
    stacked = np.stack(boxes) if boxes else np.empty((0, 4))
    return FrameBoxes(
        boxes=stacked.astype(np.float32), scores=np.array(scores, np.float32), track_jumps=jumps
    )


def track_on_slots(
    frames: FrameBoxes,
    summary: SlotSummary,
    info: VideoInfo,
    *,
    detector_name: str,
    score_threshold: float,
) -> DetectionTrack:
    """The track of a video, one row per frame slot of `summary` (NaN box and score 0 on the
    missing slots), with the video's frame rate, image size and header frame count (`info`)."""
    return DetectionTrack(
        boxes=summary.on_slots(frames.boxes, np.nan),
        scores=summary.on_slots(frames.scores, 0.0),
        detector=detector_name,
        score_threshold=float(score_threshold),
        fps=info.fps,
        image_size=(info.width, info.height),
        video=str(info.path),
        frame_count_header=info.frame_count_header,
        track_jumps=frames.track_jumps,
        slots=summary.metadata(),
    )
