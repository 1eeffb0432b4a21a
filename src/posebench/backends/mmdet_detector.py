"""MMDetection person detectors (detector backend `mmdet`): Faster R-CNN, Cascade Mask R-CNN
with a ConvNeXt backbone (through MMPretrain), or any MMDetection 3.x model with COCO classes.

The weights folder written by fetch_weights holds the detector's MMEngine `config.py` and
its `.pth` (`posebench.backends.openmmlab`). Frames go through the config's own test
pipeline (resize, normalisation) as in MMDetection's `inference_detector`, but a whole
decoded batch at once: one `test_step` per batch. Frames are RGB (`posebench.video`);
MMDetection's pipelines expect BGR like OpenCV (the data preprocessor converts), so each
frame is passed as a BGR view. Boxes come back in image pixels (x1, y1, x2, y2); those
labelled "person" with a score >= the threshold are the candidates
(`posebench.detection.person_candidates`). Class names come from the checkpoint's
`meta.dataset_meta.classes` (MMDetection 3) or `meta.CLASSES` (2.x), else the COCO classes
MMDetection assumes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from posebench.backends.openmmlab import import_stack, inference_config, load_weights
from posebench.detection import (
    PERSON_LABEL,
    DetectionError,
    autocast,
    person_candidates,
    resolve_device,
)


def _class_names(meta: dict[str, Any]) -> list[str]:
    """The detector's class names from the checkpoint's meta, else MMDetection's COCO ones."""
    from mmdet.evaluation import get_classes

    dataset_meta = meta.get("dataset_meta") or {}
    classes = dataset_meta.get("classes") or meta.get("CLASSES") or get_classes("coco")
    return [str(name) for name in classes]


class MMDetPersonDetector:
    """An MMDetection detector from a checkpoint folder, returning person boxes."""

    def __init__(self, weights_dir: Path, name: str, device: str, precision: str) -> None:
        context = f"Detector {name!r}"
        import_stack(context, DetectionError, detector=True)
        from mmdet.registry import MODELS
        from mmdet.utils import get_test_pipeline_cfg
        from mmengine.dataset import Compose
        from mmengine.model.utils import revert_sync_batchnorm

        self.device, self.precision = resolve_device(device, precision, context)
        config, weights = inference_config(weights_dir, "mmdet", context, DetectionError)
        model = revert_sync_batchnorm(MODELS.build(config.model))
        meta = load_weights(model, weights, context, DetectionError)
        classes = _class_names(meta)
        labels = {label.lower(): i for i, label in enumerate(classes)}
        if PERSON_LABEL not in labels:
            raise DetectionError(
                f"{context} ({weights}) has no {PERSON_LABEL!r} class; its classes are "
                f"{classes[:10]}... Use a COCO-trained detector such as Faster R-CNN."
            )
        self.person = labels[PERSON_LABEL]
        model.dataset_meta = {"classes": classes}
        model.cfg = config
        self.model = model.to(self.device).eval()
        pipeline = get_test_pipeline_cfg(config.copy())
        pipeline[0].type = "mmdet.LoadImageFromNDArray"
        self.pipeline = Compose(pipeline)

    def __call__(
        self, frames: list[npt.NDArray[np.uint8]], threshold: float
    ) -> list[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]]:
        """Per frame, the person boxes (n, 4) x1, y1, x2, y2 clipped to the image and their
        scores (n,), keeping scores >= `threshold`."""
        import torch
        from mmengine.dataset import pseudo_collate

        height, width = frames[0].shape[:2]
        samples = [self.pipeline({"img": frame[..., ::-1], "img_id": 0}) for frame in frames]
        with torch.inference_mode(), autocast(self.device, self.precision):
            results = self.model.test_step(pseudo_collate(samples))
        return [
            result_candidates(result, self.person, threshold, (width, height)) for result in results
        ]


def result_candidates(
    result: Any, person: int, threshold: float, image_size: tuple[int, int]
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """The person boxes and scores of one MMDetection result (a `DetDataSample`, as `test_step` and
    `mmdet.apis.inference_detector` return it) at `threshold`, as `person_candidates` gives
    them; `image_size` is (width, height)."""
    found = result.pred_instances
    return person_candidates(
        found.bboxes.float().cpu().numpy(),
        found.scores.float().cpu().numpy(),
        found.labels.cpu().numpy(),
        person,
        threshold,
        image_size,
    )
