"""Randomly initialised OpenMMLab checkpoints for tests, built from the real configs that ship
in the installed mmpose / mmdet wheels, in the folder layout fetch_weights writes (one
MMEngine `config.py`, one `.pth`).

The architectures are the real ones (HRNet-W48 DARK 384x288: 63.6 M parameters, a 255 MB
file; Faster R-CNN R50-FPN: 167 MB), so loading, verification and inference run the code
paths of the released checkpoints; the weights are random (seeded), so the keypoints mean
nothing. Build once per test session (conftest.py's fixtures).

API:
- `wheel_config(package, path)`: a config shipped in `<package>/.mim/configs/<path>`, loaded.
- `build_hrnet(folder, num_keypoints, *, legacy_keys=False, with_meta=True)`: HRNet-W48 DARK
  with a head of `num_keypoints` heatmaps; `legacy_keys` names the head `keypoint_head.`
  as MMPose 0.x checkpoints (OpenCapBench's) do, in PyTorch's legacy (non-zip) format;
  `with_meta` saves the dataset meta (numpy arrays inside) where it fits the head.
- `build_faster_rcnn(folder, scale=..., person_bias=...)`: Faster R-CNN R50-FPN 1x COCO
  whose classifier is biased by `person_bias` towards "person" (class 0) so that random
  proposals come out as person boxes; `scale` replaces the test pipeline's resize
  (1333, 800) to keep CPU tests fast. None for either keeps the config's model.
- `parameter_count(folder)`: the parameters of a folder's checkpoint.

scripts/benchmark_mmpose.py builds its models here too (the config's test scale, no bias).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from posebench.backends.openmmlab import import_stack
from posebench.weights.openmmlab import resolve_config
from posebench.weights.verify import load_openmmlab_config

HRNET_CONFIG = (
    "body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w48_dark-8xb32-210e_coco-384x288.py"
)
FASTER_RCNN_CONFIG = "faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py"
SEED = 0


def wheel_config(package: str, path: str) -> Any:
    """The MMEngine config `path` of the installed `package`'s `.mim/configs`."""
    import_stack("tests", RuntimeError, detector=True)
    return load_openmmlab_config(resolve_config(f"{package}::{path}", "tests"))


def build_hrnet(
    folder: Path, num_keypoints: int, *, legacy_keys: bool = False, with_meta: bool = True
) -> Path:
    """Save a random HRNet-W48 DARK 384x288 with `num_keypoints` heatmaps to `folder`."""
    import_stack("tests", RuntimeError)
    import torch
    from mmpose.apis import init_model

    config = wheel_config("mmpose", HRNET_CONFIG)
    config.model.head.out_channels = num_keypoints
    torch.manual_seed(SEED)
    model = init_model(config, None, device="cpu")
    folder.mkdir(parents=True, exist_ok=True)
    config.dump(str(folder / "config.py"))
    state = model.state_dict()
    if legacy_keys:
        state = {
            ("keypoint_head." + key.removeprefix("head.") if key.startswith("head.") else key): v
            for key, value in state.items()
            for v in (value,)
        }
    meta: dict[str, Any] = {}
    if with_meta and model.dataset_meta["num_keypoints"] == num_keypoints:
        meta["dataset_meta"] = model.dataset_meta
    name = "hrnet_legacy.pth" if legacy_keys else "hrnet.pth"
    torch.save(
        {"state_dict": state, "meta": meta},
        folder / name,
        _use_new_zipfile_serialization=not legacy_keys,
    )
    return folder


def build_faster_rcnn(
    folder: Path,
    scale: tuple[int, int] | None = (667, 400),
    person_bias: float | None = 8.0,
) -> Path:
    """Save a random Faster R-CNN R50-FPN (COCO classes, biased to "person") to `folder`."""
    import_stack("tests", RuntimeError, detector=True)
    import torch
    from mmdet.apis import init_detector

    config = wheel_config("mmdet", FASTER_RCNN_CONFIG)
    for step in config.test_dataloader.dataset.pipeline:
        if step["type"] == "Resize" and scale is not None:
            step["scale"] = scale
    torch.manual_seed(SEED)
    with warnings.catch_warnings(record=True):  # "checkpoint is None, use COCO classes ..."
        model = init_detector(config, None, device="cpu")
    if person_bias is not None:
        with torch.no_grad():  # every box scores as a person
            model.roi_head.bbox_head.fc_cls.bias[0] = person_bias
    folder.mkdir(parents=True, exist_ok=True)
    config.dump(str(folder / "config.py"))
    torch.save(
        {"state_dict": model.state_dict(), "meta": {"dataset_meta": model.dataset_meta}},
        folder / "faster_rcnn_random-00000000.pth",
    )
    return folder


# BatchNorm statistics: state-dict entries that are buffers, not parameters (the only
# buffers of these two models).
_BUFFER_SUFFIXES = ("running_mean", "running_var", "num_batches_tracked")


def parameter_count(folder: Path) -> int:
    """The parameters of the `.pth` in `folder` (its state dict without BatchNorm buffers)."""
    from posebench.io.torch_checkpoint import read_checkpoint, state_dict_of

    [checkpoint] = folder.glob("*.pth")
    state = state_dict_of(read_checkpoint(checkpoint))
    assert state is not None, f"{checkpoint} holds no state dict"
    return sum(value.numel() for key, value in state.items() if not key.endswith(_BUFFER_SUFFIXES))
