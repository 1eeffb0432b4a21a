"""Stand-ins for mmcv's compiled operators (`mmcv._ext`) when only mmcv-lite is installed.

PyPI has no compiled mmcv wheel for Python 3.11 (only the 2.1.0 source, ~20-50 min to build);
mmcv-lite has no `mmcv._ext`, yet MMPose and MMDetection import `mmcv.ops` (which loads it)
at import time. At run time HRNet top-down inference calls no mmcv operator, and the R-CNN
detectors call two: `nms` and `roi_align` (average pooling). `install` registers a module
`mmcv._ext` whose `nms` and `roi_align_forward` run torchvision's operators of the same
definition (boxes x1, y1, x2, y2 without the legacy +1 offset; RoIAlign with `aligned`), and
whose every other operator raises NotImplementedError naming the operator and the fix (a
compiled mmcv). When a compiled `mmcv._ext` is importable, it is used and nothing is
registered.

`import_stack` does both and imports the packages (an error naming `make setup-mmpose` when
they are missing); `checkpoint_files` and `load_weights` read a checkpoint folder written by
fetch_weights (one MMEngine `config.py` and one `.pth`), checking that the weights fill the
model. `python -m posebench.backends.openmmlab --check` imports the OpenMMLab stack the way the
backends do and prints what it found (the last step of `make setup-mmpose`).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import logging
import sys
import types
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

EXT_MODULE = "mmcv._ext"
SUPPORTED_OPS = ("nms", "roi_align_forward")


class MissingOperatorError(NotImplementedError):
    """A model called an mmcv operator that the torchvision stand-ins do not provide."""


def _nms(bboxes: Any, scores: Any, iou_threshold: float, offset: int = 0) -> Any:
    """mmcv's `nms`: indices of the kept boxes, highest score first."""
    import torchvision

    if offset != 0:
        raise MissingOperatorError(
            f"mmcv nms with offset={offset} (legacy +1 box widths) has no torchvision "
            "equivalent; install a compiled mmcv (README, 'OpenMMLab models')."
        )
    return torchvision.ops.nms(bboxes.float(), scores.float(), float(iou_threshold))


def _roi_align_forward(
    input: Any,
    rois: Any,
    output: Any,
    argmax_y: Any,
    argmax_x: Any,
    *,
    aligned_height: int,
    aligned_width: int,
    spatial_scale: float,
    sampling_ratio: int,
    pool_mode: int,
    aligned: bool,
) -> None:
    """mmcv's `roi_align_forward` for average pooling (pool_mode 1): fills `output`."""
    import torchvision

    if pool_mode != 1:
        raise MissingOperatorError(
            "mmcv roi_align with max pooling has no torchvision equivalent; install a "
            "compiled mmcv (README, 'OpenMMLab models')."
        )
    pooled = torchvision.ops.roi_align(
        input,
        rois.to(input.dtype),
        (int(aligned_height), int(aligned_width)),
        spatial_scale=float(spatial_scale),
        sampling_ratio=int(sampling_ratio),
        aligned=bool(aligned),
    )
    output.copy_(pooled)


def _missing(name: str) -> Callable[..., Any]:
    def operator(*args: Any, **kwargs: Any) -> Any:
        raise MissingOperatorError(
            f"This model calls the mmcv operator {name!r}, which mmcv-lite lacks and posebench's "
            f"torchvision stand-ins do not provide (they cover {', '.join(SUPPORTED_OPS)}: "
            "HRNet and R-CNN detectors). Build the compiled mmcv 2.1.0 into the environment "
            "(README, 'OpenMMLab models') and re-run."
        )

    operator.__name__ = name
    return operator


def _stand_in() -> types.ModuleType:
    module = types.ModuleType(EXT_MODULE, "posebench's torchvision stand-ins for mmcv._ext")
    # A spec without a loader: mmengine's `mmcv_full_available` then reports no compiled mmcv.
    module.__spec__ = importlib.machinery.ModuleSpec(EXT_MODULE, None)
    module.STAND_IN = True  # type: ignore[attr-defined]
    module.nms = _nms  # type: ignore[attr-defined]
    module.roi_align_forward = _roi_align_forward  # type: ignore[attr-defined]

    def __getattr__(name: str) -> Any:  # noqa: N807 - module attribute hook (PEP 562)
        if name.startswith("__"):
            raise AttributeError(name)
        return _missing(name)

    module.__getattr__ = __getattr__  # type: ignore[method-assign]
    return module


def has_compiled_ops() -> bool:
    """True when a compiled `mmcv._ext` is installed (importable and not ours)."""
    current = sys.modules.get(EXT_MODULE)
    if current is not None:
        return not getattr(current, "STAND_IN", False)
    try:
        return importlib.util.find_spec(EXT_MODULE) is not None
    except ModuleNotFoundError:  # no mmcv at all
        return False


def install() -> str:
    """Make `mmcv._ext` importable: "compiled" when mmcv's own is installed, else register
    the torchvision stand-ins and return "torchvision"."""
    if has_compiled_ops():
        return "compiled"
    sys.modules.setdefault(EXT_MODULE, _stand_in())
    return "torchvision"


def _without_multimodal_mmpretrain() -> None:
    """Load mmpretrain's `utils.dependency` with WITH_MULTIMODAL = False before mmpretrain.

    mmpretrain 1.2.0 enables its multimodal models (BLIP, CLIP, ...) whenever Transformers
    >= 4.28 is installed, and their modules fail to import under Transformers 5 (functions
    that moved out of `transformers.modeling_utils`), which breaks `import mmpretrain.models`.
    The ConvNeXt backbone needs none of them: the module is executed here with the flag off
    and registered under its name, so mmpretrain's own imports use it."""
    name = "mmpretrain.utils.dependency"
    if name in sys.modules or "mmpretrain" in sys.modules:
        return
    spec = importlib.util.find_spec("mmpretrain")
    if spec is None or spec.submodule_search_locations is None:
        return
    path = Path(next(iter(spec.submodule_search_locations))) / "utils" / "dependency.py"
    module_spec = importlib.util.spec_from_file_location(name, path)
    if module_spec is None or module_spec.loader is None:
        return
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    module.WITH_MULTIMODAL = False  # type: ignore[attr-defined]
    sys.modules[name] = module


SETUP_HINT = (
    "the OpenMMLab stack (mmpose, mmdet, mmcv) is not installed: run `make setup-mmpose` "
    "(README, 'OpenMMLab models')"
)


# The packages the OpenMMLab pose backend imports, and those a detector adds.
POSE_PACKAGES = ("mmengine", "mmcv", "mmpose")
DETECTOR_PACKAGES = ("mmdet", "mmpretrain")


def missing_packages(*, detector: bool = False) -> list[str]:
    """The packages of the stack (`POSE_PACKAGES`, and `DETECTOR_PACKAGES` for a detector)
    that are not installed; nothing is imported."""
    needed = POSE_PACKAGES + (DETECTOR_PACKAGES if detector else ())
    return [name for name in needed if importlib.util.find_spec(name) is None]


def import_stack(context: str, error: type[Exception], *, detector: bool = False) -> None:
    """Import MMPose (and MMDetection with MMPretrain when `detector`) with the operator
    stand-ins installed; raise `error` "<context>: the OpenMMLab stack ... make setup-mmpose"
    when a package is missing."""
    install()
    _without_multimodal_mmpretrain()
    modules = ["mmengine", "mmpose.apis"] + (
        ["mmdet.apis", "mmpretrain.models"] if detector else []
    )
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as cause:
            raise error(f"{context}: {SETUP_HINT} ({type(cause).__name__}: {cause}).") from cause


def checkpoint_files(folder: Path, context: str, error: type[Exception]) -> tuple[Path, Path]:
    """The one MMEngine config (`.py`) and the one checkpoint (`.pth`) of the checkpoint
    folder `folder`, by the rule fetch_weights verified
    (`posebench.weights.verify.openmmlab_folder_files`); `error` with its message otherwise."""
    from posebench.weights.spec import WeightsError
    from posebench.weights.verify import openmmlab_folder_files

    try:
        config, weights = openmmlab_folder_files(folder)
    except WeightsError as cause:
        raise error(f"{context}: {cause}") from cause
    return folder / config, folder / weights


def inference_config(
    folder: Path, scope: str, context: str, error: type[Exception]
) -> tuple[Any, Path]:
    """The MMEngine config of the checkpoint folder `folder`, set up for inference (no
    download of pre-training weights, no training settings, `scope`'s registries the default
    unless the config names its own), and the path of its `.pth`."""
    from mmengine.registry import init_default_scope

    from posebench.weights.spec import WeightsError
    from posebench.weights.verify import load_openmmlab_config

    config_file, weights = checkpoint_files(folder, context, error)
    try:
        config = load_openmmlab_config(config_file)
    except WeightsError as cause:
        raise error(f"{context}: {cause}") from cause
    if "init_cfg" in config.model.get("backbone", {}):
        config.model.backbone.init_cfg = None
    config.model.train_cfg = None
    init_default_scope(config.get("default_scope", scope))
    return config, weights


def load_weights(model: Any, path: Path, context: str, error: type[Exception]) -> dict[str, Any]:
    """Load the checkpoint `path` into `model` (its load hooks convert older key names, e.g.
    MMPose 0.x heads) and return the checkpoint's `meta` ({} when absent). Raises `error` when
    the file cannot be read safely or leaves parameters of the model unset (a checkpoint of
    another architecture); keys the model does not use are logged."""
    from posebench.io.torch_checkpoint import CheckpointError, read_checkpoint, state_dict_of

    try:
        checkpoint = read_checkpoint(path)
    except CheckpointError as cause:
        if cause.refused:
            raise error(
                f"{context}: {path} holds objects other than tensors and numpy data "
                f"({', '.join(cause.refused)}); it is not loaded, because loading it could "
                "run code. Re-save its state_dict, or use the official checkpoint."
            ) from cause
        raise error(
            f"{context}: cannot read {path} ({cause.reason}); a partial download? Delete it "
            "and re-run fetch_weights."
        ) from cause
    state = state_dict_of(checkpoint)
    if state is None:
        raise error(f"{context}: {path} holds no state_dict; it is not a model checkpoint.")
    state = {key.removeprefix("module."): value for key, value in state.items()}
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as cause:  # shape mismatches
        first = str(cause).strip().splitlines()[-1].strip()
        raise error(
            f"{context}: the weights in {path} do not fit the model its config builds "
            f"({first}): config and checkpoint belong to different models. Fix the model's "
            "weights.config or checkpoint."
        ) from cause
    if result.missing_keys:
        raise error(
            f"{context}: {path} lacks {len(result.missing_keys)} parameters of the model its "
            f"config builds (first: {result.missing_keys[:3]}): config and checkpoint belong "
            "to different models. Fix the model's weights.config or checkpoint."
        )
    if result.unexpected_keys:
        logging.getLogger(__name__).warning(
            "%s: %d entries of %s are not used by the model (first: %s)",
            context, len(result.unexpected_keys), path, result.unexpected_keys[:3],
        )  # fmt: skip
    meta = checkpoint.get("meta") or {}
    return dict(meta) if isinstance(meta, Mapping) else {}


def _check() -> int:
    """Import the OpenMMLab stack as the backends do; print the versions and the operators."""
    ops = install()
    _without_multimodal_mmpretrain()
    versions = {}
    for package in ("mmengine", "mmcv", "mmdet", "mmpose", "mmpretrain", "xtcocotools"):
        versions[package] = getattr(importlib.import_module(package), "__version__", "?")
    importlib.import_module("mmpose.apis")
    importlib.import_module("mmdet.apis")
    importlib.import_module("mmpretrain.models")
    print(
        "OpenMMLab stack ready: "
        + ", ".join(f"{name} {version}" for name, version in versions.items())
        + f"; mmcv operators: {ops}"
    )
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["--check"]:
        sys.exit("usage: python -m posebench.backends.openmmlab --check")
    sys.exit(_check())
