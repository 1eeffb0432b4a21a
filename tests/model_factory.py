"""Tiny Hugging Face checkpoints for tests, built on the CPU in a few seconds.

The checkpoints have the real architectures (ViTPose, RT-DETR) and the exact files a hub
repository holds (`config.json`, `model.safetensors`, `preprocessor_config.json`), but
few, random weights: they exercise loading, verification and inference code paths, not
accuracy. Builds are seeded, so the same call writes the same bytes.

API:
- `build_vitpose(path, num_keypoints, keypoint_names=None)`: a top-down pose model.
- `build_rtdetr(path)`: a person detector with COCO-style labels (label 0 is "person").
- `fill_hf_cache(cache_dir, repo_id, revision, source)`: place a checkpoint folder in a
  Hugging Face hub cache, as if `snapshot_download` had fetched it; returns the commit.
- `write_figure_video(path, frames, width, height)`: a short video of a figure-like shape
  moving right by 5 px a frame, to run detectors and pose models on.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from transformers import (
    RTDetrConfig,
    RTDetrForObjectDetection,
    RTDetrImageProcessor,
    RTDetrResNetConfig,
    VitPoseBackboneConfig,
    VitPoseConfig,
    VitPoseForPoseEstimation,
    VitPoseImageProcessor,
)

SEED = 0
# Input size of the released ViTPose / SynthPose models: (height, width).
VITPOSE_IMAGE_SIZE = (256, 192)
# The first COCO detection classes, in COCO order; enough for "person" to be label 0.
DETECTOR_LABELS: tuple[str, ...] = ("person", "bicycle", "car", "motorcycle")
_COMMIT_HASH = re.compile(r"[0-9a-f]{40}")


def build_vitpose(
    path: Path, num_keypoints: int, keypoint_names: Sequence[str] | None = None
) -> Path:
    """Save a tiny random `VitPoseForPoseEstimation` with `num_keypoints` heatmaps to `path`.

    `keypoint_names`, when given, become the config's `id2label` (as in checkpoints that
    name their keypoints); otherwise the labels are the defaults `LABEL_<i>`. Returns `path`.
    """
    if keypoint_names is not None and len(keypoint_names) != num_keypoints:
        raise ValueError(f"{len(keypoint_names)} keypoint names for {num_keypoints} keypoints")
    backbone = VitPoseBackboneConfig(
        image_size=list(VITPOSE_IMAGE_SIZE),
        patch_size=[16, 16],
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        mlp_ratio=2,
        # Only used by ViTPose+ (num_experts > 1): must stay below hidden_size * mlp_ratio
        # so that a test can turn this checkpoint into a mixture of experts.
        part_features=16,
    )
    labels = (
        {"id2label": dict(enumerate(keypoint_names))}
        if keypoint_names is not None
        else {"num_labels": num_keypoints}
    )
    config = VitPoseConfig(backbone_config=backbone, **labels)
    torch.manual_seed(SEED)
    VitPoseForPoseEstimation(config).save_pretrained(path)
    height, width = VITPOSE_IMAGE_SIZE
    VitPoseImageProcessor(size={"height": height, "width": width}).save_pretrained(path)
    return path


def build_rtdetr(path: Path) -> Path:
    """Save a tiny random `RTDetrForObjectDetection` (labels `DETECTOR_LABELS`) to `path`."""
    backbone = RTDetrResNetConfig(
        embedding_size=16,
        hidden_sizes=[16, 32, 64, 128],
        depths=[1, 1, 1, 1],
        layer_type="basic",
        # The three feature levels RT-DETR's encoder expects; taken by __post_init__, not a
        # declared field.
        out_features=["stage2", "stage3", "stage4"],  # type: ignore[call-arg]
    )
    config = RTDetrConfig(
        backbone_config=backbone,
        d_model=32,
        encoder_hidden_dim=32,
        encoder_in_channels=[32, 64, 128],
        encoder_ffn_dim=64,
        encoder_attention_heads=2,
        encoder_layers=1,
        decoder_in_channels=[32, 32, 32],
        decoder_ffn_dim=64,
        decoder_attention_heads=2,
        decoder_layers=1,
        num_queries=10,
        num_denoising=0,
        id2label=dict(enumerate(DETECTOR_LABELS)),
    )
    torch.manual_seed(SEED)
    RTDetrForObjectDetection(config).save_pretrained(path)
    RTDetrImageProcessor().save_pretrained(path)
    return path


def fill_hf_cache(cache_dir: Path, repo_id: str, revision: str, source: Path) -> str:
    """Lay out the files of `source` as the hub cache entry of `repo_id` at `revision`.

    Writes `cache_dir/models--<org>--<name>/` with `blobs/<sha256>`, the symlinks
    `snapshots/<commit>/<file>` and, for a branch or tag, `refs/<revision>`, so that
    `huggingface_hub.snapshot_download(repo_id, revision=revision, cache_dir=cache_dir,
    local_files_only=True)` returns the snapshot. The commit is `revision` itself when it
    is a 40-hex commit hash, else derived from the files (deterministic). Returns it.
    """
    repo_dir = cache_dir / f"models--{repo_id.replace('/', '--')}"
    files = sorted(p for p in source.iterdir() if p.is_file())
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}
    if _COMMIT_HASH.fullmatch(revision):
        commit = revision
    else:
        listing = "".join(f"{name}:{digest}\n" for name, digest in digests.items())
        commit = hashlib.sha1(listing.encode()).hexdigest()
        refs = repo_dir / "refs"
        refs.mkdir(parents=True, exist_ok=True)
        (refs / revision).write_text(commit)
    blobs = repo_dir / "blobs"
    snapshot = repo_dir / "snapshots" / commit
    blobs.mkdir(parents=True, exist_ok=True)
    snapshot.mkdir(parents=True, exist_ok=True)
    for path in files:
        blob = blobs / digests[path.name]
        shutil.copyfile(path, blob)
        link = snapshot / path.name
        link.unlink(missing_ok=True)
        link.symlink_to(Path("..", "..", "blobs", blob.name))
    return commit


def write_figure_video(path: Path, frames: int, width: int, height: int) -> Path:
    """A short mp4 of a figure-like shape (head and body) moving right by 5 px a frame."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 30.0, (width, height))
    for i in range(frames):
        image = np.full((height, width, 3), 40, np.uint8)
        x = 100 + 5 * i
        cv2.rectangle(image, (x, 60), (x + 50, 200), (200, 120, 80), -1)
        cv2.circle(image, (x + 25, 40), 18, (220, 200, 180), -1)
        writer.write(image)
    writer.release()
    return path
