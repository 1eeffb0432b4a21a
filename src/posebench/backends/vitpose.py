"""Top-down ViTPose (`vitpose` backend): SynthPose and COCO ViTPose checkpoints.

The person box of each frame comes from the video's detection file (`posebench.detection`,
given to `start_video`; one row per frame slot of the video, indexed by the slot of each
frame); frames without a box give NaN keypoints and score 0 without running the model.
The box is cropped and resized to the model input by Transformers'
`VitPoseImageProcessor` (boxes in COCO format: top-left x, top-left y, width, height),
`VitPoseForPoseEstimation` predicts heatmaps, and `post_process_pose_estimation` maps
their maxima back to image pixels. Scores are heatmap maxima clipped to [0, 1]. The
checkpoint (a local folder written by the fetch_weights rule) must output exactly the
keypoints of the configured marker set, in the same order.

Options (`device`, `precision`, `crop_batch_size`), the GPU out-of-memory fallback and the
per-frame boxes are those of every top-down backend: `posebench.backends.topdown`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from posebench.backends.base import BackendError, PoseBackend
from posebench.backends.topdown import Keypoints, TopDownBackend, finish_scores
from posebench.detection import autocast, load_pretrained

if TYPE_CHECKING:
    import torch
    from transformers import VitPoseForPoseEstimation, VitPoseImageProcessor


def _load_checkpoint(
    model_name: str, marker_set: str, n_keypoints: int, weights_dir: Path
) -> tuple[VitPoseImageProcessor, VitPoseForPoseEstimation]:
    """The image processor and model saved in `weights_dir`; BackendError when they cannot be
    loaded or the model does not output the `n_keypoints` keypoints of `marker_set`."""
    from transformers import VitPoseForPoseEstimation, VitPoseImageProcessor

    processor, model = load_pretrained(
        VitPoseImageProcessor.from_pretrained,
        VitPoseForPoseEstimation.from_pretrained,
        weights_dir,
        f"Model {model_name!r}",
        "a ViTPose checkpoint",
        BackendError,
    )
    count = model.config.num_labels
    if count != n_keypoints:
        raise BackendError(
            f"Model {model_name!r}: the checkpoint in {weights_dir} outputs {count} "
            f"keypoints, marker set {marker_set!r} has {n_keypoints}. Set the "
            "model's marker_set in config/config.yaml to the checkpoint's keypoints "
            "(anatomical: 52 SynthPose keypoints, coco17: 17 COCO keypoints)."
        )
    return processor, model


class VitPoseBackend(TopDownBackend):
    """ViTPose heatmaps on the tracked person box of each frame."""

    backend = "vitpose"

    def __init__(
        self, model_name: str, marker_set: str, options: Mapping[str, Any], weights_dir: Path | None
    ) -> None:
        super().__init__(model_name, marker_set, options, weights_dir)
        assert weights_dir is not None  # checked by TopDownBackend
        self._processor, model = _load_checkpoint(
            model_name, marker_set, len(self.keypoint_names), weights_dir
        )
        self._model = model.eval().to(self._device)
        # ViTPose+ (mixture of experts) checkpoints: expert 0 is the COCO one.
        self._moe = getattr(model.config.backbone_config, "num_experts", 1) > 1

    def _require_libraries(self) -> None:
        try:
            import torch  # noqa: F401
            from transformers import VitPoseForPoseEstimation, VitPoseImageProcessor  # noqa: F401
        except ImportError as error:
            raise BackendError(
                f"Model {self.name!r}: the vitpose backend needs PyTorch and Transformers "
                "(pip install -e '.[vitpose]')."
            ) from error

    def _forward(
        self, images: Sequence[npt.NDArray[np.uint8]], boxes: npt.NDArray[np.float64]
    ) -> Keypoints:
        import torch
        from transformers.models.vitpose.modeling_vitpose import VitPoseEstimatorOutput

        # The image processor takes COCO boxes: top-left x, top-left y, width, height.
        coco = np.column_stack([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]])
        per_image = [[box] for box in coco.tolist()]
        inputs = self._processor.preprocess(
            list(images),
            boxes=per_image,
            input_data_format="channels_last",
            return_tensors="pt",
        )
        pixel_values: torch.Tensor = inputs["pixel_values"].to(self._device)
        extra = {}
        if self._moe:
            extra["dataset_index"] = torch.zeros(
                len(images), dtype=torch.long, device=pixel_values.device
            )
        with torch.inference_mode(), autocast(self._device, self._precision):
            heatmaps = self._model(pixel_values=pixel_values, **extra).heatmaps
        results = self._processor.post_process_pose_estimation(
            VitPoseEstimatorOutput(heatmaps=heatmaps.float()), boxes=per_image
        )
        keypoints = np.stack([result[0]["keypoints"].numpy() for result in results])
        scores = np.stack([result[0]["scores"].numpy().reshape(-1) for result in results])
        return finish_scores(keypoints, scores)


def create(
    model_name: str, marker_set: str, options: Mapping[str, Any], weights_dir: Path | None
) -> PoseBackend:
    """This backend for `posebench.backends.registry.create_backend`."""
    return VitPoseBackend(model_name, marker_set, options, weights_dir)
