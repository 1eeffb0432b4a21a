"""The top-down `vitpose` backend with tiny random checkpoints (tests/model_factory.py).

The weights are random, so the tests check shapes, gaps, the mapping back to image
pixels, batching invariance, the out-of-memory fallback and the errors.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch
from transformers import (
    VitPoseBackboneConfig,
    VitPoseConfig,
    VitPoseForPoseEstimation,
    VitPoseImageProcessor,
)
from transformers.models.vitpose.modeling_vitpose import VitPoseEstimatorOutput

from model_factory import build_vitpose, write_figure_video
from posebench.backends.base import BackendError
from posebench.backends.registry import create_backend
from posebench.backends.vitpose import VitPoseBackend
from posebench.detection import DetectionTrack, save_detections
from posebench.io.keypoints import load_keypoints
from posebench.stages.pose2d import run as run_pose2d
from posebench.video import iter_frame_slots

pytestmark = pytest.mark.torch

WIDTH, HEIGHT, FRAMES = 320, 240, 12
GAPS = [2, 5, 6]
CPU = {"device": "cpu"}


def figure_box(i: int) -> list[float]:
    x = 100.0 + 5 * i
    return [x - 5, 15.0, x + 55, 205.0]


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_figure_video(tmp_path_factory.mktemp("video") / "cam01.mp4", FRAMES, WIDTH, HEIGHT)


@pytest.fixture(scope="module")
def detections(video: Path) -> Path:
    """Hand-written detections: the figure's box, no person in frames GAPS."""
    boxes = np.array([figure_box(i) for i in range(FRAMES)], np.float32)
    scores = np.full(FRAMES, 0.9, np.float32)
    boxes[GAPS] = np.nan
    scores[GAPS] = 0.0
    path = video.with_suffix(".detections.npz")
    save_detections(path, track(boxes, scores))
    return path


def track(boxes: np.ndarray, scores: np.ndarray, **changes: Any) -> DetectionTrack:
    fields: dict[str, Any] = {
        "boxes": boxes,
        "scores": scores,
        "detector": "hand",
        "score_threshold": 0.8,
        "fps": 30.0,
        "image_size": (WIDTH, HEIGHT),
        "video": "cam01.mp4",
        "frame_count_header": FRAMES,
    }
    return DetectionTrack(**{**fields, **changes})


@pytest.fixture(scope="module")
def synthpose(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_vitpose(tmp_path_factory.mktemp("weights") / "synthpose-tiny", 52)


@pytest.fixture(scope="module")
def coco(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_vitpose(tmp_path_factory.mktemp("weights") / "vitpose-coco-tiny", 17)


def pose2d(
    video: Path, output: Path, weights: Path, marker_set: str, detections: Path, **options: Any
) -> None:
    run_pose2d(
        video,
        output,
        model_name=weights.name,
        backend="vitpose",
        marker_set=marker_set,
        options={**CPU, **options},
        batch_size=5,
        weights_dir=weights,
        detections=detections,
    )


def crop_region(box: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Centre and half-size of the image region ViTPose sees for `box` (x1, y1, x2, y2):
    the box widened to the 192:256 input aspect ratio and padded by 25 %."""
    x1, y1, x2, y2 = box
    width, height = x2 - x1, y2 - y1
    aspect = 192 / 256
    if width > aspect * height:
        height = width / aspect
    else:
        width = height * aspect
    centre = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
    return centre, 1.25 * np.array([width, height]) / 2


def test_synthpose_top_down_through_pose2d(
    video: Path, detections: Path, synthpose: Path, tmp_path: Path
) -> None:
    output = tmp_path / "synthpose.npz"
    pose2d(video, output, synthpose, "anatomical", detections)
    result = load_keypoints(output)
    assert result.keypoints_px.shape == (FRAMES, 52, 2)
    assert result.image_size == (WIDTH, HEIGHT)
    assert np.isnan(result.keypoints_px[GAPS]).all()
    assert (result.scores[GAPS] == 0).all()
    present = [i for i in range(FRAMES) if i not in GAPS]
    assert result.detected_frames()[present].all()
    assert ((result.scores >= 0) & (result.scores <= 1)).all()
    for i in present:
        centre, half = crop_region(figure_box(i))
        points = result.keypoints_px[i][result.scores[i] > 0]
        assert len(points) > 0
        # DARK refinement may move a maximum by a heatmap pixel or so past the crop edge.
        assert (np.abs(points - centre) <= 1.1 * half).all(), f"frame {i}"


def test_heatmap_peaks_map_back_to_image_pixels(
    video: Path, detections: Path, coco: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Known heatmaps (a Gaussian per keypoint at a chosen heatmap pixel) give keypoints at
    the matching place of each frame's box: boxes reach the processor in the right format."""
    backend = create_backend("vitpose", "coco-tiny", "coco17", CPU, coco)
    assert isinstance(backend, VitPoseBackend)
    rows, cols = 64, 48  # heatmap size: the 256x192 input / 4
    peaks = [
        (int(r), int(c))
        for r, c in zip(np.linspace(3, 60, 17), np.linspace(44, 3, 17), strict=True)
    ]
    grid_r, grid_c = np.mgrid[0:rows, 0:cols]
    heatmaps = np.stack(
        [0.9 * np.exp(-((grid_r - r) ** 2 + (grid_c - c) ** 2) / 8.0) for r, c in peaks]
    )

    def known(pixel_values: torch.Tensor, **kwargs: Any) -> VitPoseEstimatorOutput:
        batch = torch.from_numpy(heatmaps).float().expand(len(pixel_values), -1, -1, -1)
        return VitPoseEstimatorOutput(heatmaps=batch)

    monkeypatch.setattr(backend._model, "forward", known)
    backend.start_video(video, detections)
    slots, frames = zip(*iter_frame_slots(video), strict=True)
    assert slots == tuple(range(FRAMES))
    keypoints, scores = backend.predict(frames, slots)
    assert np.isnan(keypoints[GAPS]).all() and (scores[GAPS] == 0).all()
    present = [i for i in range(FRAMES) if i not in GAPS]
    np.testing.assert_allclose(scores[present], 0.9, atol=1e-3)
    fractions = np.array([[c / (cols - 1), r / (rows - 1)] for r, c in peaks])
    for i in present:
        centre, half = crop_region(figure_box(i))
        expected = centre - half + fractions * 2 * half
        np.testing.assert_allclose(keypoints[i], expected, atol=0.5, err_msg=f"frame {i}")


def test_crop_batch_size_does_not_change_results(
    video: Path, detections: Path, coco: Path, tmp_path: Path
) -> None:
    one, many = tmp_path / "one.npz", tmp_path / "many.npz"
    pose2d(video, one, coco, "coco17", detections, crop_batch_size=1)
    pose2d(video, many, coco, "coco17", detections, crop_batch_size=32)
    a, b = load_keypoints(one), load_keypoints(many)
    assert a.keypoints_px.shape == (FRAMES, 17, 2)
    np.testing.assert_array_equal(np.isnan(a.keypoints_px), np.isnan(b.keypoints_px))
    np.testing.assert_allclose(a.keypoints_px, b.keypoints_px, atol=1e-4, equal_nan=True)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-5)


def test_out_of_memory_halves_the_crop_batch(
    video: Path,
    detections: Path,
    coco: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    slots, frames = zip(*iter_frame_slots(video), strict=True)
    backend = create_backend("vitpose", "coco-tiny", "coco17", CPU, coco)
    assert isinstance(backend, VitPoseBackend)
    backend.start_video(video, detections)
    expected = backend.predict(frames, slots)

    forward = backend._model.forward
    sizes: list[int] = []

    def limited(pixel_values: torch.Tensor, **kwargs: Any) -> Any:
        sizes.append(len(pixel_values))
        if len(pixel_values) > 4:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return forward(pixel_values=pixel_values, **kwargs)

    monkeypatch.setattr(backend._model, "forward", limited)
    backend.start_video(video, detections)
    with caplog.at_level(logging.WARNING, logger="posebench.backends.vitpose"):
        keypoints, scores = backend.predict(frames, slots)
    np.testing.assert_allclose(keypoints, expected[0], atol=1e-4, equal_nan=True)
    np.testing.assert_allclose(scores, expected[1], atol=1e-5)
    # 9 crops (12 frames, 3 gaps): all 9 at once fail, then chunks of 4, 4 and 1.
    assert sizes == [9, 4, 4, 1]
    assert "out of GPU memory with 9 crops per forward pass; retrying with crop_batch_size=4" in (
        caplog.text
    )

    def always_oom(pixel_values: torch.Tensor, **kwargs: Any) -> Any:
        raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")

    monkeypatch.setattr(backend._model, "forward", always_oom)
    backend.start_video(video, detections)
    with pytest.raises(BackendError, match="Lower crop_batch_size / batch_size of this model"):
        backend.predict(frames, slots)


def test_checkpoint_must_match_marker_set(coco: Path) -> None:
    with pytest.raises(BackendError, match="outputs 17 keypoints, marker set 'anatomical' has 52"):
        create_backend("vitpose", "coco-tiny", "anatomical", CPU, coco)


def test_detections_are_required_and_must_fit_the_video(
    video: Path, coco: Path, tmp_path: Path
) -> None:
    output = tmp_path / "o.npz"
    with pytest.raises(BackendError, match=r"top-down and needs the person detections of .*cam01"):
        pose2d(video, output, coco, "coco17", None)  # type: ignore[arg-type]
    with pytest.raises(BackendError, match=r"Detection file .*absent.npz does not exist"):
        pose2d(video, output, coco, "coco17", tmp_path / "absent.npz")
    boxes = np.array([figure_box(i) for i in range(FRAMES)], np.float32)
    scores = np.full(FRAMES, 0.9, np.float32)
    other_size = tmp_path / "other_size.npz"
    save_detections(other_size, track(boxes, scores, image_size=(640, 480)))
    with pytest.raises(BackendError, match=r"is for 640x480 images, video .* is 320x240"):
        pose2d(video, output, coco, "coco17", other_size)
    other_length = tmp_path / "other_length.npz"
    save_detections(other_length, track(boxes[:10], scores[:10], frame_count_header=10))
    with pytest.raises(BackendError, match=r"video of 10 frames \(header\).* has 12"):
        pose2d(video, output, coco, "coco17", other_length)
    assert not output.exists()


def test_option_and_weight_errors(coco: Path, tmp_path: Path) -> None:
    with pytest.raises(BackendError, match=r"unknown vitpose options \['batch'\]; allowed: "):
        create_backend("vitpose", "m", "coco17", {"batch": 3}, coco)
    with pytest.raises(BackendError, match="crop_batch_size=0 must be >= 1"):
        create_backend("vitpose", "m", "coco17", {"crop_batch_size": 0}, coco)
    with pytest.raises(BackendError, match="crop_batch_size='8' must be an integer"):
        create_backend("vitpose", "m", "coco17", {"crop_batch_size": "8"}, coco)
    with pytest.raises(BackendError, match="device 'tpu' is not one of"):
        create_backend("vitpose", "m", "coco17", {"device": "tpu"}, coco)
    with pytest.raises(BackendError, match="Model 'm' needs weights; run fetch_weights"):
        create_backend("vitpose", "m", "coco17", CPU, None)
    with pytest.raises(BackendError, match="cannot load a ViTPose checkpoint from .*empty"):
        (tmp_path / "empty").mkdir()
        create_backend("vitpose", "m", "coco17", CPU, tmp_path / "empty")


def test_mixture_of_experts_checkpoint_uses_expert_zero(
    video: Path, detections: Path, tmp_path: Path
) -> None:
    """ViTPose+ checkpoints need a dataset index; the backend passes the COCO expert."""
    weights = tmp_path / "vitpose-plus-tiny"
    backbone: dict[str, Any] = {
        "image_size": [256, 192],
        "hidden_size": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "mlp_ratio": 2,
        "num_experts": 2,
        "part_features": 8,
        "out_indices": [1],
    }
    labels: dict[str, Any] = {"num_labels": 17}
    config = VitPoseConfig(backbone_config=VitPoseBackboneConfig(**backbone), **labels)
    VitPoseForPoseEstimation(config).save_pretrained(weights)
    VitPoseImageProcessor().save_pretrained(weights)
    output = tmp_path / "plus.npz"
    pose2d(video, output, weights, "coco17", detections)
    assert load_keypoints(output).detected_frames().sum() == FRAMES - len(GAPS)
