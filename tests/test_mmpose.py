"""The OpenMMLab backends with random checkpoints built from the real configs
(tests/openmmlab_factory.py): the `mmpose` top-down backend against MMPose's own
`inference_topdown`, the `mmdet` person detector against `inference_detector`, the operator
stand-ins for mmcv-lite, and the errors. The weights are random, so the tests compare with
the libraries' own inference on the same model, not with true keypoints."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mmpose")

from model_factory import write_figure_video
from openmmlab_factory import build_hrnet, wheel_config
from posebench.backends import openmmlab
from posebench.backends.base import BackendError
from posebench.backends.mmpose_topdown import MMPoseBackend, flip_indices
from posebench.backends.registry import create_backend
from posebench.detection import DetectionError, DetectionTrack, create_detector, save_detections
from posebench.skeletons import ANATOMICAL_KEYPOINTS, COCO_KEYPOINTS
from posebench.video import iter_frame_slots

pytestmark = pytest.mark.openmmlab

CPU = {"device": "cpu", "crop_batch_size": 3}
WIDTH, HEIGHT, FRAMES = 320, 240, 5


def image(seed: int) -> np.ndarray:
    return (np.random.default_rng(seed).random((HEIGHT, WIDTH, 3)) * 255).astype(np.uint8)


BOXES = np.array([[60, 20, 160, 220], [100, 10, 220, 230], [30, 40, 130, 200], [0, 0, 320, 240]])


def test_keypoints_equal_mmpose_inference_topdown(hrnet_coco17: Path) -> None:
    from mmpose.apis import inference_topdown

    backend = create_backend("mmpose", "hrnet", "coco17", CPU, hrnet_coco17)
    assert isinstance(backend, MMPoseBackend)
    images = [image(i) for i in range(len(BOXES))]
    keypoints, scores = backend._estimate(images, BOXES.astype(np.float64))
    assert keypoints.shape == (4, 17, 2) and scores.shape == (4, 17)
    for i, (rgb, box) in enumerate(zip(images, BOXES, strict=True)):
        # MMPose's API takes OpenCV's BGR images.
        [reference] = inference_topdown(backend._model, rgb[..., ::-1].copy(), box[None])
        expected = reference.pred_instances.keypoints[0]
        expected_scores = reference.pred_instances.keypoint_scores[0]
        shown = expected_scores > 0
        np.testing.assert_allclose(keypoints[i][shown], expected[shown], atol=1e-3)
        np.testing.assert_allclose(scores[i], np.clip(expected_scores, 0, 1), atol=1e-6)
        assert np.isnan(keypoints[i][~shown]).all()


def test_flip_test_follows_the_config(hrnet_coco17: Path) -> None:
    backend = create_backend("mmpose", "hrnet", "coco17", CPU, hrnet_coco17)
    assert isinstance(backend, MMPoseBackend)
    assert backend._model.cfg.model.test_cfg.flip_test is True
    assert backend._meta["flip_indices"][5:7] == [6, 5]  # left/right shoulder
    assert backend._model.cfg.model.head.decoder.unbiased is True  # DARK


def test_mmpose_0x_checkpoint_loads_into_the_1x_model(hrnet_coco17: Path, tmp_path: Path) -> None:
    legacy = build_hrnet(tmp_path / "legacy", 17, legacy_keys=True)
    a = create_backend("mmpose", "a", "coco17", CPU, hrnet_coco17)
    b = create_backend("mmpose", "b", "coco17", CPU, legacy)
    images = [image(7)]
    boxes = BOXES[:1].astype(np.float64)
    np.testing.assert_array_equal(a._estimate(images, boxes)[1], b._estimate(images, boxes)[1])


def test_crop_batch_size_does_not_change_results(hrnet_coco17: Path) -> None:
    images = [image(i) for i in range(len(BOXES))]
    boxes = BOXES.astype(np.float64)
    one = create_backend(
        "mmpose", "a", "coco17", {"device": "cpu", "crop_batch_size": 1}, hrnet_coco17
    )
    four = create_backend(
        "mmpose", "b", "coco17", {"device": "cpu", "crop_batch_size": 4}, hrnet_coco17
    )
    a, b = one._estimate(images, boxes), four._estimate(images, boxes)
    np.testing.assert_allclose(a[0], b[0], atol=1e-3)
    np.testing.assert_allclose(a[1], b[1], atol=1e-5)


def test_predict_follows_the_detection_track(hrnet_coco17: Path, tmp_path: Path) -> None:
    video = write_figure_video(tmp_path / "cam01.mp4", FRAMES, WIDTH, HEIGHT)
    boxes = np.array([[40.0 + 5 * i, 15, 120 + 5 * i, 205] for i in range(FRAMES)], np.float32)
    scores = np.full(FRAMES, 0.9, np.float32)
    boxes[2], scores[2] = np.nan, 0.0
    detections = tmp_path / "cam01.npz"
    save_detections(
        detections,
        DetectionTrack(
            boxes=boxes, scores=scores, detector="hand", score_threshold=0.8, fps=30.0,
            image_size=(WIDTH, HEIGHT), video=str(video), frame_count_header=FRAMES,
        ),
    )  # fmt: skip
    backend = create_backend("mmpose", "hrnet", "coco17", CPU, hrnet_coco17)
    slots, frames = zip(*iter_frame_slots(video), strict=True)
    backend.start_video(video, detections)
    keypoints, found = backend.predict(frames, slots)
    backend.end_video(len(slots))
    assert keypoints.shape == (FRAMES, 17, 2)
    assert np.isnan(keypoints[2]).all() and (found[2] == 0).all()
    assert (found[[0, 1, 3, 4]] > 0).any(axis=1).all()


def test_flip_indices_from_keypoint_names() -> None:
    coco = flip_indices(COCO_KEYPOINTS)
    assert coco == [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    anatomical = flip_indices(ANATOMICAL_KEYPOINTS)
    named = dict(
        zip(ANATOMICAL_KEYPOINTS, (ANATOMICAL_KEYPOINTS[i] for i in anatomical), strict=True)
    )
    assert named["rshoulder"] == "lshoulder" and named["l_calc"] == "r_calc"
    assert named["r_ASIS"] == "l_ASIS" and named["r_big_toe"] == "l_big_toe"
    assert named["sternum"] == "sternum" and named["C7"] == "C7"
    assert sorted(anatomical) == list(range(52))  # a permutation: every pair found


def test_custom_keypoints_without_dataset_meta_use_the_marker_set(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = build_hrnet(tmp_path / "synthpose", 52, with_meta=False)
    with caplog.at_level(logging.INFO, logger="posebench.backends.mmpose_topdown"):
        backend = create_backend("mmpose", "synthpose", "anatomical", CPU, folder)
    assert isinstance(backend, MMPoseBackend)
    assert "flip pairs from the marker set's keypoint names" in caplog.text
    assert backend._meta["num_keypoints"] == 52
    keypoints, _ = backend._estimate([image(3)], BOXES[:1].astype(np.float64))
    assert keypoints.shape == (1, 52, 2)


def test_errors_name_the_fix(hrnet_coco17: Path, faster_rcnn: Path, tmp_path: Path) -> None:
    with pytest.raises(
        BackendError, match="head with 17 keypoints, marker set 'anatomical' has 52"
    ):
        create_backend("mmpose", "hrnet", "anatomical", CPU, hrnet_coco17)
    # A checkpoint of another model: the detector's weights under the HRNet config.
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    shutil.copy(hrnet_coco17 / "config.py", mixed / "config.py")
    (mixed / "detector.pth").symlink_to(next(faster_rcnn.glob("*.pth")))
    with pytest.raises(BackendError, match="config and checkpoint belong to different models"):
        create_backend("mmpose", "hrnet", "coco17", CPU, mixed)
    (mixed / "second.pth").write_bytes(b"")
    with pytest.raises(BackendError, match=r"holds 2 \.pth files .*: remove the others"):
        create_backend("mmpose", "hrnet", "coco17", CPU, mixed)
    with pytest.raises(BackendError, match="needs weights; run fetch_weights"):
        create_backend("mmpose", "hrnet", "coco17", CPU, None)


def test_missing_stack_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    real = importlib.import_module

    def without_mmpose(name: str, package: str | None = None) -> object:
        if name.startswith("mmpose"):
            raise ModuleNotFoundError("No module named 'mmpose'")
        return real(name, package)

    monkeypatch.setattr(openmmlab.importlib, "import_module", without_mmpose)
    with pytest.raises(BackendError, match="run `make setup-mmpose`"):
        openmmlab.import_stack("Model 'hrnet'", BackendError)


def test_detector_boxes_equal_mmdet_inference_detector(faster_rcnn: Path) -> None:
    from mmdet.apis import inference_detector

    detector = create_detector("mmdet", faster_rcnn, "frcnn", "cpu", "fp32")
    frames = [image(11), image(12)]
    found = detector(frames, 0.5)
    assert len(found) == 2
    for rgb, (boxes, scores) in zip(frames, found, strict=True):
        reference = inference_detector(detector.model, rgb[..., ::-1].copy()).pred_instances
        keep = (reference.labels == detector.person) & (reference.scores >= 0.5)
        expected = reference.bboxes[keep].numpy().clip(0, [WIDTH, HEIGHT, WIDTH, HEIGHT])
        valid = (expected[:, 2] > expected[:, 0]) & (expected[:, 3] > expected[:, 1])
        assert len(boxes) > 0
        np.testing.assert_allclose(boxes, expected[valid], atol=1e-3)
        np.testing.assert_allclose(scores, reference.scores[keep].numpy()[valid], atol=1e-6)


def test_detector_without_person_class_is_refused(faster_rcnn: Path, tmp_path: Path) -> None:
    import torch

    from posebench.io.torch_checkpoint import load_checkpoint

    folder = tmp_path / "no-person"
    folder.mkdir()
    shutil.copy(faster_rcnn / "config.py", folder / "config.py")
    checkpoint = load_checkpoint(next(faster_rcnn.glob("*.pth")))
    checkpoint["meta"]["dataset_meta"] = {"classes": ["cat", "dog"] + ["x"] * 78}
    torch.save(checkpoint, folder / "animals.pth")
    with pytest.raises(DetectionError, match="has no 'person' class"):
        create_detector("mmdet", folder, "animals", "cpu", "fp32")


def test_operator_stand_ins_match_torchvision() -> None:
    import torch
    import torchvision
    from mmcv.ops import RoIAlign, nms

    generator = torch.Generator().manual_seed(0)
    corners = torch.rand(50, 2, generator=generator) * 100
    boxes = torch.cat([corners, corners + 5 + torch.rand(50, 2, generator=generator) * 40], 1)
    scores = torch.rand(50, generator=generator)
    _, keep = nms(boxes, scores, 0.5)
    assert torch.equal(keep, torchvision.ops.nms(boxes, scores, 0.5))
    features = torch.rand(2, 8, 32, 32, generator=generator)
    rois = torch.tensor([[0, 1.5, 2.0, 20.0, 30.0], [1, 0.0, 0.0, 31.0, 31.0]])
    pooled = RoIAlign(7, spatial_scale=0.5, sampling_ratio=0, aligned=True)(features, rois)
    reference = torchvision.ops.roi_align(features, rois, 7, 0.5, 0, aligned=True)
    assert torch.equal(pooled, reference)
    if not openmmlab.has_compiled_ops():
        ext = importlib_ext()
        with pytest.raises(openmmlab.MissingOperatorError, match="'nms_rotated'.*make|README"):
            ext.nms_rotated()


def importlib_ext() -> object:
    import importlib

    return importlib.import_module(openmmlab.EXT_MODULE)


def test_verify_models_names_the_missing_stack(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    from posebench.cli import model_status
    from snakemake_runner import DEFAULT_CONFIG

    config = tmp_path / "config.yaml"
    text = DEFAULT_CONFIG.read_text().replace(
        "models: [mediapipe-blazepose]", "models: [hrnet-w48-coco, mediapipe-blazepose]"
    )
    config.write_text(text)
    real = importlib.util.find_spec

    def hidden(name: str, *args: object) -> object:
        return None if name.split(".")[0] in ("mmpose", "mmdet") else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", hidden)
    rows = {row["model"]: row["status"] for row in model_status(config, tmp_path)}
    assert rows["hrnet-w48-coco"] == (
        "missing software (mmpose not installed): run `make setup-mmpose`"
    )
    assert rows["faster-rcnn-r50"].startswith("missing software (mmpose, mmdet not installed)")
    assert rows["mediapipe-blazepose"] == "ready (no weights)"


def test_wholebody_config_gives_its_own_flip_pairs() -> None:
    from posebench.backends.mmpose_topdown import _dataset_meta
    from posebench.skeletons import COCO_WHOLEBODY_KEYPOINTS

    config = wheel_config(
        "mmpose",
        "wholebody_2d_keypoint/topdown_heatmap/coco-wholebody/"
        "td-hm_hrnet-w48_dark-8xb32-210e_coco-wholebody-384x288.py",
    )
    assert config.model.head.out_channels == 133
    meta, source = _dataset_meta("wholebody", {}, config, COCO_WHOLEBODY_KEYPOINTS)
    assert source == "the config"
    names = [meta["keypoint_id2name"][i] for i in range(133)]
    assert tuple(names) == COCO_WHOLEBODY_KEYPOINTS
    flips = meta["flip_indices"]
    assert names[flips[names.index("left_heel")]] == "right_heel"
    assert sorted(flips) == list(range(133))


def test_convnext_cascade_detector_runs(tmp_path: Path) -> None:
    """The ConvNeXt-T Cascade Mask R-CNN (backbone from MMPretrain, mask head, RoIAlign
    through the stand-ins) from its real config, random weights, a small test scale."""
    import torch
    from mmdet.apis import init_detector

    config = wheel_config(
        "mmdet",
        "convnext/cascade-mask-rcnn_convnext-t-p4-w7_fpn_4conv1fc-giou_amp-ms-crop-3x_coco.py",
    )
    for step in config.test_dataloader.dataset.pipeline:
        if step["type"] == "Resize":
            step["scale"] = (320, 240)
    torch.manual_seed(0)
    model = init_detector(config, None, device="cpu")
    assert type(model.backbone).__module__.startswith("mmpretrain")
    with torch.no_grad():
        for head in model.roi_head.bbox_head:
            head.fc_cls.bias[0] = 8.0  # every box scores as a person
    config.dump(str(tmp_path / "config.py"))
    torch.save({"state_dict": model.state_dict(), "meta": {}}, tmp_path / "convnext.pth")
    detector = create_detector("mmdet", tmp_path, "convnext", "cpu", "fp32")
    [(boxes, scores)] = detector([image(5)], 0.5)
    assert len(boxes) > 0 and (scores >= 0.5).all()
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 2] <= WIDTH).all()
