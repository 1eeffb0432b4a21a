"""What every top-down backend shares: the person box of each frame slot from the video's
detection file, options, and person crops run in chunks that shrink on GPU out-of-memory.

A subclass loads its model and implements `_forward(images, boxes)`: keypoints (n, K, 2) in
image pixels and scores (n, K) in [0, 1] for one box (x1, y1, x2, y2) per RGB image, NaN
keypoints where the score is 0. Frames without a box give NaN keypoints and score 0 without
running the model.

Options (config/config.yaml, `models.<name>.options`):

- `device`: "auto" (CUDA when available), "cpu", "cuda" or "cuda:N";
- `precision`: "fp32", "fp16" or "bf16" (mixed precision on CUDA; fp32 on the CPU);
- `crop_batch_size`: person crops per forward pass (default 32).

GPU memory: if a forward pass runs out of GPU memory, the chunk is retried with half the
crop batch (down to 1), a warning names the new size, and the smaller size is kept for the
rest of the video. If one crop at a time still does not fit, the error asks to lower
`crop_batch_size` / `batch_size` of the model in config/config.yaml.

Multi-GPU nodes: Snakemake's `gpu` resource only counts GPUs, it does not choose one. Give
each job its own GPU through CUDA_VISIBLE_DEVICES (the cluster's GPU binding, or a profile /
`--default-resources` setting of the executor) so that "auto" and "cuda" mean that GPU.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from posebench.backends.base import BackendError, FrameBatch, PoseBackend, slot_indices
from posebench.detection import DetectionError, DetectionTrack, load_detections, resolve_device
from posebench.markersets import get_marker_set
from posebench.video import probe_video

Keypoints = tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]

OPTIONS: dict[str, Any] = {"device": "auto", "precision": "fp32", "crop_batch_size": 32}


def parse_options(
    model_name: str, backend: str, options: Mapping[str, Any]
) -> tuple[str, str, int]:
    """(device, precision, crop_batch_size) from the model's `options` over the defaults;
    BackendError for an unknown option or a crop_batch_size that is not an integer >= 1."""
    unknown = set(options) - set(OPTIONS)
    if unknown:
        raise BackendError(
            f"Model {model_name!r}: unknown {backend} options {sorted(unknown)}; "
            f"allowed: {sorted(OPTIONS)}."
        )
    settings = {**OPTIONS, **options}
    crop_batch_size = settings["crop_batch_size"]
    if isinstance(crop_batch_size, bool) or not isinstance(crop_batch_size, int):
        raise BackendError(
            f"Model {model_name!r}: option crop_batch_size={crop_batch_size!r} must be an "
            "integer >= 1."
        )
    if crop_batch_size < 1:
        raise BackendError(
            f"Model {model_name!r}: option crop_batch_size={crop_batch_size} must be >= 1."
        )
    return str(settings["device"]), str(settings["precision"]), crop_batch_size


def _out_of_memory_errors() -> tuple[type[BaseException], ...]:
    """The exceptions PyTorch raises when GPU memory runs out."""
    import torch

    return (
        torch.cuda.OutOfMemoryError,
        getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError),
    )


def finish_scores(
    keypoints: npt.NDArray[Any], scores: npt.NDArray[Any]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """float32 keypoints and scores clipped to [0, 1] (NaN scores 0); keypoints that are not
    finite get score 0, and keypoints with score 0 become NaN."""
    keypoints = keypoints.astype(np.float32)
    scores = np.clip(np.nan_to_num(scores.astype(np.float32), nan=0.0), 0.0, 1.0)
    scores[~np.isfinite(keypoints).all(axis=-1)] = 0.0
    keypoints[scores <= 0] = np.nan
    return keypoints, scores


class TopDownBackend(PoseBackend):
    """A pose model run on the tracked person box of each frame (see the module docstring)."""

    backend: str  # the backend's name in messages, e.g. "vitpose"

    def __init__(
        self, model_name: str, marker_set: str, options: Mapping[str, Any], weights_dir: Path | None
    ) -> None:
        device, precision, crop_batch_size = parse_options(model_name, self.backend, options)
        if weights_dir is None:
            raise BackendError(
                f"Model {model_name!r} needs weights; run fetch_weights (give the model "
                "`weights:` in config/config.yaml)."
            )
        self.name = model_name
        self.marker_set = marker_set
        self.keypoint_names = get_marker_set(marker_set).keypoints
        self._log = logging.getLogger(type(self).__module__)
        self._require_libraries()
        self._device, self._precision = resolve_device(
            device, precision, f"Model {model_name!r}", BackendError
        )
        self._crop_batch_size = crop_batch_size
        self._out_of_memory = _out_of_memory_errors()
        self._track: DetectionTrack | None = None
        self._video: Path | None = None
        self._detections: Path | None = None

    @abstractmethod
    def _require_libraries(self) -> None:
        """BackendError naming the model and the install command when a library is missing."""

    @abstractmethod
    def _forward(
        self, images: Sequence[npt.NDArray[np.uint8]], boxes: npt.NDArray[np.float64]
    ) -> Keypoints:
        """Keypoints (n, K, 2) and scores (n, K) for one x1, y1, x2, y2 box per RGB image."""

    def start_video(self, video: Path, detections: Path | None = None) -> None:
        if detections is None:
            raise BackendError(
                f"Model {self.name!r} is top-down and needs the person detections of {video} "
                "(output of the detect rule); the model needs a `detector:` in "
                "config/config.yaml."
            )
        try:
            track = load_detections(detections)
        except DetectionError as error:
            raise BackendError(f"Model {self.name!r}: {error}") from error
        info = probe_video(video)
        if track.image_size != (info.width, info.height):
            raise BackendError(
                f"{detections} is for {track.image_size[0]}x{track.image_size[1]} images, "
                f"video {video} is {info.width}x{info.height}: the detections belong to "
                "another video. Delete the file and re-run the detect rule."
            )
        if track.frame_count_header != info.frame_count_header:
            raise BackendError(
                f"{detections} is for a video of {track.frame_count_header} frames (header), "
                f"video {video} has {info.frame_count_header}: the detections belong to "
                "another video. Delete the file and re-run the detect rule."
            )
        if track.n_frames < info.frame_count_header:
            raise BackendError(
                f"{detections} holds {track.n_frames} frame slots, video {video} has at least "
                f"{info.frame_count_header} (its header's frame count): the detections belong "
                "to another video or were written before frames were placed on their slots. "
                "Delete the file and re-run the detect rule."
            )
        self._track = track
        self._video = video
        self._detections = detections

    def predict(self, frames: FrameBatch, slots: Sequence[int]) -> Keypoints:
        if self._track is None:
            raise BackendError(f"{type(self).__name__}.predict called before start_video")
        index = slot_indices(frames, slots, f"Model {self.name!r}")
        if index.size and index.max() >= self._track.n_frames:
            raise BackendError(
                f"{self._video} has a frame at slot {index.max()} but its detections "
                f"{self._detections} hold {self._track.n_frames} frame slots: they belong to "
                "another video. Delete the file and re-run the detect rule."
            )
        keypoints = np.full((len(frames), len(self.keypoint_names), 2), np.nan, dtype=np.float32)
        scores = np.zeros((len(frames), len(self.keypoint_names)), dtype=np.float32)
        found = np.flatnonzero(self._track.found()[index])
        if found.size:
            boxes = self._track.boxes[index[found]].astype(np.float64)
            keypoints[found], scores[found] = self._estimate([frames[int(i)] for i in found], boxes)
        return keypoints, scores

    def end_video(self, n_slots: int) -> None:
        if self._track is not None and n_slots != self._track.n_frames:
            raise BackendError(
                f"{self._detections} holds {self._track.n_frames} frame slots, video "
                f"{self._video} has {n_slots}: the detections belong to another video. Delete "
                "the file and re-run the detect rule."
            )

    def _estimate(
        self, images: Sequence[npt.NDArray[np.uint8]], boxes: npt.NDArray[np.float64]
    ) -> Keypoints:
        """Keypoints (n, K, 2) and scores (n, K) for one person box per image,
        `crop_batch_size` crops per forward pass, halving it on GPU out-of-memory."""
        import torch

        keypoints: list[npt.NDArray[np.float32]] = []
        scores: list[npt.NDArray[np.float32]] = []
        start = 0
        while start < len(images):
            size = min(self._crop_batch_size, len(images) - start)
            try:
                chunk = self._forward(images[start : start + size], boxes[start : start + size])
            except self._out_of_memory as error:
                if size == 1:
                    raise BackendError(
                        f"Model {self.name!r}: out of GPU memory on {self._device} even with one "
                        "crop per forward pass. Lower crop_batch_size / batch_size of this model "
                        "in config/config.yaml, use a smaller model, or a GPU with more memory."
                    ) from error
                chunk = None
            if chunk is None:  # out of memory; retried outside the handler so memory is freed
                self._crop_batch_size = size // 2
                self._log.warning(
                    "Model %r: out of GPU memory with %d crops per forward pass; retrying with "
                    "crop_batch_size=%d (lower it in config/config.yaml to avoid the retries).",
                    self.name, size, self._crop_batch_size,
                )  # fmt: skip
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
                continue
            keypoints.append(chunk[0])
            scores.append(chunk[1])
            start += len(chunk[0])
        return np.concatenate(keypoints), np.concatenate(scores)

    def close(self) -> None:
        self._track = None
