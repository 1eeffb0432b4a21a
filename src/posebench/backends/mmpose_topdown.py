"""Top-down MMPose (`mmpose` backend): HRNet and other heatmap models of MMPose 1.x.

The checkpoint folder written by fetch_weights holds the model's MMEngine config
(`config.py`) and its weights (`.pth`); `posebench.backends.openmmlab` imports the stack and
reads them. MMPose does everything between the box and the keypoints, as its own
`inference_topdown` does: the config's test pipeline crops the box (padded, at the model's
aspect ratio) with an affine transform, the model runs on `crop_batch_size` crops of
different frames at once, the flip test runs when the config's `test_cfg.flip_test` says
so, and the config's codec decodes the heatmaps (DARK's sub-pixel refinement for the
`_dark` configs) back to image pixels. Scores are MMPose's keypoint scores (heatmap maxima)
clipped to [0, 1].

Frames are RGB (`posebench.video`); MMPose's pipelines expect BGR like OpenCV (their data
preprocessor converts to RGB), so each frame is passed as a BGR view.

Keypoints: the model must output the keypoints of the configured marker set, in order (the
head's output channels are checked). Flip test needs the dataset's left/right pairs: they
come from the checkpoint's `meta.dataset_meta`, else the config's dataset, as in MMPose;
when neither has as many keypoints as the model (e.g. a custom dataset whose meta file is
not installed), they are derived from the marker set's keypoint names and a log line says so.

fp16/bf16 on CUDA: the forward pass runs under autocast; the heatmaps are cast back to fp32
before decoding so DARK's Taylor refinement keeps full precision.

Options and the GPU out-of-memory fallback: `posebench.backends.topdown`.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from posebench.backends.base import BackendError, PoseBackend
from posebench.backends.openmmlab import import_stack, inference_config, load_weights
from posebench.backends.topdown import Keypoints, TopDownBackend, finish_scores
from posebench.detection import autocast

_SIDES = (("left", "right"), ("l", "r"), ("L", "R"))
_SIDE_TOKEN = re.compile(r"^(left|right|l|r|L|R)(_?)(.+)$")


def flip_indices(names: Sequence[str]) -> list[int]:
    """For each keypoint, the index of its mirror image: the keypoint whose name swaps left
    and right (`left_knee`/`right_knee`, `l_calc`/`r_calc`, `lshoulder`/`rshoulder`), itself
    for keypoints on the midline (`nose`, `C7`)."""
    index = {name: i for i, name in enumerate(names)}
    swap = {a: b for pair in _SIDES for a, b in (pair, pair[::-1])}
    flips = []
    for i, name in enumerate(names):
        match = _SIDE_TOKEN.match(name)
        mirror = None
        if match is not None:
            side, separator, rest = match.groups()
            mirror = index.get(swap[side] + separator + rest)
        flips.append(i if mirror is None else mirror)
    return flips


def _dataset_meta(
    model_name: str, meta: Mapping[str, Any], config: Any, names: Sequence[str]
) -> tuple[dict[str, Any], str]:
    """The dataset meta MMPose needs (flip indices and the keypoint names), and where it came
    from: the checkpoint, the config's dataset, or the marker set."""
    from mmpose.apis.inference import dataset_meta_from_config

    candidates: list[tuple[Any, str]] = [(meta.get("dataset_meta"), "the checkpoint")]
    # A custom dataset's meta file that is not installed raises.
    with contextlib.suppress(OSError, KeyError, ValueError, TypeError):
        candidates.append((dataset_meta_from_config(config, dataset_mode="train"), "the config"))
    for found, source in candidates:
        if isinstance(found, Mapping) and found.get("num_keypoints") == len(names):
            return dict(found), source
    flips = flip_indices(names)
    derived = {
        "dataset_name": f"posebench:{model_name}",
        "num_keypoints": len(names),
        "keypoint_id2name": dict(enumerate(names)),
        "keypoint_name2id": {name: i for i, name in enumerate(names)},
        "flip_indices": flips,
        "flip_pairs": [(i, j) for i, j in enumerate(flips) if i < j],
    }
    return derived, "the marker set's keypoint names"


class MMPoseBackend(TopDownBackend):
    """An MMPose top-down model on the tracked person box of each frame."""

    backend = "mmpose"

    def __init__(
        self, model_name: str, marker_set: str, options: Mapping[str, Any], weights_dir: Path | None
    ) -> None:
        super().__init__(model_name, marker_set, options, weights_dir)
        assert weights_dir is not None  # checked by TopDownBackend
        self._model, self._pipeline, self._meta = self._load(weights_dir)

    def _require_libraries(self) -> None:
        import_stack(f"Model {self.name!r}", BackendError)

    def _load(self, folder: Path) -> tuple[Any, Any, dict[str, Any]]:
        """The model of the checkpoint folder on the device, its test pipeline and meta."""
        from mmengine.dataset import Compose
        from mmengine.model.utils import revert_sync_batchnorm
        from mmpose.models import build_pose_estimator

        context = f"Model {self.name!r}"
        config, weights = inference_config(folder, "mmpose", context, BackendError)
        model = revert_sync_batchnorm(build_pose_estimator(config.model))
        channels = config.model.get("head", {}).get("out_channels")
        if channels is not None and channels != len(self.keypoint_names):
            raise BackendError(
                f"{context}: the config in {folder} builds a head with {channels} keypoints, "
                f"marker set {self.marker_set!r} has {len(self.keypoint_names)}. Set the "
                "model's marker_set in config/config.yaml to the checkpoint's keypoints."
            )
        meta = load_weights(model, weights, context, BackendError)
        dataset_meta, source = _dataset_meta(self.name, meta, config, self.keypoint_names)
        self._log.info("%s: keypoint flip pairs from %s", context, source)
        model.dataset_meta = dataset_meta
        model.cfg = config
        model = model.to(self._device).eval()
        if self._precision != "fp32":
            # Decode heatmaps in fp32: the head's output leaves autocast as float.
            model.head.register_forward_hook(lambda module, args, output: output.float())
        pipeline = Compose(config.test_dataloader.dataset.pipeline)
        return model, pipeline, dataset_meta

    def _forward(
        self, images: Sequence[npt.NDArray[np.uint8]], boxes: npt.NDArray[np.float64]
    ) -> Keypoints:
        import torch
        from mmengine.dataset import pseudo_collate

        samples = []
        for image, box in zip(images, boxes, strict=True):
            info = {
                "img": image[..., ::-1],  # RGB -> BGR, as MMPose's pipelines expect
                "bbox": box[None].astype(np.float32),
                "bbox_score": np.ones(1, dtype=np.float32),
                **self._meta,
            }
            samples.append(self._pipeline(info))
        with torch.inference_mode(), autocast(self._device, self._precision):
            results = self._model.test_step(pseudo_collate(samples))
        keypoints = np.stack([np.asarray(r.pred_instances.keypoints)[0] for r in results])
        scores = np.stack([np.asarray(r.pred_instances.keypoint_scores)[0] for r in results])
        return finish_scores(keypoints, scores)


def create(
    model_name: str, marker_set: str, options: Mapping[str, Any], weights_dir: Path | None
) -> PoseBackend:
    """This backend for `posebench.backends.registry.create_backend`."""
    return MMPoseBackend(model_name, marker_set, options, weights_dir)
