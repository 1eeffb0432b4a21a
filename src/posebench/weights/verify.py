"""Checks of a checkpoint folder without network access: its files are present and complete,
its config loads, and its keypoints (pose models) or labels (detectors) fit."""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posebench.markersets import MARKER_SETS, get_marker_set
from posebench.weights.spec import (
    CONFIG_FILE,
    PREPROCESSOR_FILE,
    WEIGHTS_FILES,
    WeightsError,
    WeightsKind,
    weights_file_in,
)

# The output convolution of ViTPose's heads (simple and classic decoder): one heatmap per
# keypoint, so its first dimension is the checkpoint's keypoint count.
_HEATMAP_HEAD_WEIGHT = "head.conv.weight"
_DEFAULT_LABEL = re.compile(r"LABEL_(\d+)")


@dataclass(frozen=True)
class CheckpointInfo:
    """What `verify_checkpoint` found in a checkpoint folder."""

    path: Path
    model_type: str
    num_keypoints: int | None
    weights_file: str
    keypoint_names: tuple[str, ...] | None


def verify_checkpoint(
    path: Path, *, kind: WeightsKind, marker_set: str | None = None
) -> CheckpointInfo:
    """Check a checkpoint folder without network access; raise WeightsError if unusable.

    The three files must be present, `config.json` must load with Transformers'
    `AutoConfig`, and a safetensors weights file must be complete. For pose models the
    keypoint count (`config.num_labels`, the channels of the heatmap head) must equal the
    marker set's and, where `config.json`'s `id2label` names the keypoints (not the
    defaults `LABEL_<i>`), the names must equal the marker set's, in order (ignoring
    case). A detector must have a `person` label. `marker_set` is for pose models only.
    """
    if kind == "detector" and marker_set is not None:
        raise ValueError(f"marker_set {marker_set!r} given for a detector checkpoint {path}")
    weights_file = _weights_file(path)
    head_channels = _check_weights_file(path / weights_file)
    config = _load_config(path)
    model_type = str(config.model_type)
    labels = [str(config.id2label[i]) for i in sorted(config.id2label)]
    if kind == "detector":
        if "person" not in {label.casefold() for label in labels}:
            raise WeightsError(
                f"Detector checkpoint {path} has no 'person' label in {CONFIG_FILE} id2label "
                f"(found {labels[:10]}{' ...' if len(labels) > 10 else ''}); use a person "
                "detector trained on COCO, such as PekingU/rtdetr_r50vd_coco_o365."
            )
        return CheckpointInfo(path, model_type, None, weights_file, None)
    num_keypoints = int(config.num_labels)
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
