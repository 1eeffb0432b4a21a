"""The `rtmpose` backend and the `yolox` detector (ONNX Runtime) with tiny ONNX models of the
real inputs and outputs (tests/onnx_factory.py).

Checked: SimCC decoding and the crop's affine transform (known peaks land on known image
pixels, for non-square and off-centre boxes), the colour order and normalisation, batching
invariance, frames without a person, the GPU out-of-memory fallback, the construction
errors, YOLOX's letterbox input and the boxes it gives back, and detect -> pose2d ->
triangulate on the first frames of the Pose2Sim demo.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

# onnx builds the test models (the `test` extra); CI installs every extra, so there a
# missing onnx fails the collection instead of skipping the tests.
if os.environ.get("CI", "").lower() != "true":
    pytest.importorskip("onnx")

from onnx_factory import MODEL_FILE, build_rtmpose, build_rtmpose_peaks, build_yolox
from posebench.backends import rtmpose
from posebench.backends.base import BackendError
from posebench.backends.registry import create_backend
from posebench.backends.rtmpose import (
    MEAN_RGB,
    STD_RGB,
    RTMPoseBackend,
    crop_images,
    crop_regions,
    crop_to_image,
    decode_simcc,
    normalise_crops,
)
from posebench.backends.yolox_detector import YOLOXPersonDetector
from posebench.calibration import read_qualisys_qca
from posebench.camera import save_cameras
from posebench.datasets.pose2sim_demo import Z_UP_TO_OPENSIM
from posebench.detection import (
    DetectionError,
    DetectionTrack,
    create_detector,
    load_detections,
    save_detections,
)
from posebench.io.keypoints import load_keypoints
from posebench.io.trc import read_trc
from posebench.markersets import get_marker_set
from posebench.reconstruction import TriangulationSettings
from posebench.stages import detect, pose2d, triangulate
from posebench.video import iter_frame_slots

WIDTH, HEIGHT, FRAMES = 320, 240, 8
GAPS = [2, 5]
CPU = {"device": "cpu"}
HALPE26 = len(get_marker_set("halpe26").keypoints)
COCO17 = len(get_marker_set("coco17").keypoints)


def figure_box(i: int) -> list[float]:
    """Frame i's box: tall and narrow, the last ones reaching past the right edge."""
    x = 150.0 + 20 * i
    return [x, 20.0, x + 40, 200.0]


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("video") / "cam01.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 30.0, (WIDTH, HEIGHT))
    rng = np.random.default_rng(1)
    for _ in range(FRAMES):
        writer.write(rng.integers(0, 255, (HEIGHT, WIDTH, 3), dtype=np.uint8))
    writer.release()
    return path


@pytest.fixture(scope="module")
def detections(video: Path) -> Path:
    boxes = np.array([figure_box(i) for i in range(FRAMES)], np.float32)
    scores = np.full(FRAMES, 0.9, np.float32)
    boxes[GAPS], scores[GAPS] = np.nan, 0.0
    path = video.with_suffix(".detections.npz")
    save_detections(
        path,
        DetectionTrack(
            boxes=boxes,
            scores=scores,
            detector="hand",
            score_threshold=0.5,
            fps=30.0,
            image_size=(WIDTH, HEIGHT),
            video=str(video),
            frame_count_header=FRAMES,
        ),
    )
    return path


@pytest.fixture(scope="module")
def frames(video: Path) -> tuple[tuple[int, ...], tuple[np.ndarray, ...]]:
    slots, images = zip(*iter_frame_slots(video), strict=True)
    return slots, images


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("weights")


def backend(folder: Path, marker_set: str = "halpe26", **options: Any) -> RTMPoseBackend:
    created = create_backend("rtmpose", "rtm-tiny", marker_set, {**CPU, **options}, folder)
    assert isinstance(created, RTMPoseBackend)
    return created


class RecordingSession:
    """An ONNX Runtime session that records the batch of each run and, when `fail_above`
    is set, fails like ONNX Runtime's CUDA allocator on bigger batches."""

    def __init__(self, session: Any, fail_above: int | None = None) -> None:
        self.session = session
        self.fail_above = fail_above
        self.inputs: list[np.ndarray] = []

    def run(self, names: Sequence[str], feeds: dict[str, np.ndarray]) -> Any:
        (batch,) = feeds.values()
        self.inputs.append(batch.copy())
        if self.fail_above is not None and len(batch) > self.fail_above:
            raise RuntimeError(
                "[ONNXRuntimeError] : 6 : RUNTIME_EXCEPTION : Non-zero status code returned "
                "while running Conv node. Failed to allocate memory for requested buffer"
            )
        return self.session.run(names, feeds)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.session, name)


# --------------------------------------------------------------------------- factory


def test_factory_writes_the_same_small_files(tmp_path: Path) -> None:
    for build in (
        lambda folder: build_rtmpose(folder, HALPE26, seed=3),
        lambda folder: build_rtmpose_peaks(folder, [[1, 2], [3, 4]], [[0.5, 0.5], [1, 1]]),
        lambda folder: build_yolox(folder, [[1, 2, 3, 4, 0.5]], [0]),
    ):
        first, second = build(tmp_path / "a"), build(tmp_path / "b")
        data = (first / MODEL_FILE).read_bytes()
        assert data == (second / MODEL_FILE).read_bytes()
        assert len(data) < 100_000


# --------------------------------------------------------------------------- decoding


def test_decode_simcc_takes_arg_max_over_split_ratio_and_min_score() -> None:
    simcc_x = np.zeros((2, 3, 96), np.float32)
    simcc_y = np.zeros((2, 3, 128), np.float32)
    simcc_x[0, :, [5, 40, 95]] = np.diag([0.8, 1.7, 0.3])  # keypoint k peaks at its bin
    simcc_y[0, :, [0, 77, 127]] = np.diag([0.6, 1.2, 0.9])
    simcc_x[1] = -1.0  # nothing positive: no location
    simcc_y[1, :, 9] = 2.0
    points, scores = decode_simcc(simcc_x, simcc_y)
    np.testing.assert_array_equal(points[0], [[2.5, 0.0], [20.0, 38.5], [47.5, 63.5]])
    np.testing.assert_allclose(scores[0], [0.6, 1.2, 0.3])  # the smaller maximum
    assert np.isnan(points[1]).all()
    np.testing.assert_array_equal(scores[1], -1.0)


def test_crop_regions_pad_and_take_the_input_aspect() -> None:
    boxes = [[100, 50, 160, 290], [0, 0, 400, 100]]  # tall, then wide
    centres, sizes = crop_regions(boxes, (192, 256))
    np.testing.assert_allclose(centres, [[130, 170], [200, 50]])
    # 60x240 padded to 75x300, widened to 3:4; 400x100 padded to 500x125, heightened.
    np.testing.assert_allclose(sizes, [[225, 300], [500, 500 / 0.75]])
    points = np.array([[[0, 0], [192, 256], [96, 128]]] * 2, np.float64)
    np.testing.assert_allclose(
        crop_to_image(points, centres, sizes, (192, 256)),
        [
            [[17.5, 20], [242.5, 320], [130, 170]],
            [[-50, 50 - 500 / 0.75 / 2], [450, 50 + 500 / 0.75 / 2], [200, 50]],
        ],
    )


def test_crops_sample_the_padded_box_and_keep_the_channel_order() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (300, 200, 3), dtype=np.uint8)
    # Regions of 96x128 (twice the 48x64 input): crop pixel (u, v) is image pixel
    # (left + 2u, top + 2v), which bilinear sampling returns exactly.
    centre = np.array([[100.0, 120.0], [20.0, 250.0]])  # inside; over the left and bottom edges
    half = np.array([96.0, 128.0]) / 2 / 1.25
    boxes = np.hstack([centre - half, centre + half])
    crops, centres, sizes = crop_images([image, image], boxes, (48, 64))
    np.testing.assert_allclose(sizes, [[96, 128]] * 2)
    assert crops.shape == (2, 64, 48, 3) and crops.dtype == np.uint8
    np.testing.assert_array_equal(crops[0], image[56:184:2, 52:148:2])
    # The second region starts at x = -28 and ends at y = 314: black outside the image.
    np.testing.assert_array_equal(crops[1][:57, 14:], image[186:300:2, 0:68:2])
    assert (crops[1][:, :14] == 0).all() and (crops[1][57:] == 0).all()


def test_normalisation_uses_mmposes_rgb_mean_and_std() -> None:
    crops = np.zeros((2, 4, 3, 3), np.uint8)
    crops[0] = (200, 100, 50)  # R, G, B
    crops[1] = (0, 255, 128)
    batch = normalise_crops(crops)
    assert batch.shape == (2, 3, 4, 3) and batch.dtype == np.float32
    for i in range(2):
        expected = (crops[i, 0, 0].astype(np.float64) - MEAN_RGB) / STD_RGB
        np.testing.assert_allclose(batch[i, :, 0, 0], expected, rtol=1e-6)
        assert (batch[i] == batch[i, :, :1, :1]).all()


def test_known_peaks_land_on_known_image_pixels(
    video: Path, detections: Path, frames: Any, weights: Path
) -> None:
    """A model whose SimCC outputs are constant: keypoint k's x peak at bin 7 + 22k, its y
    peak at bin 500 - 29k, at a 192x256 input, through crop, run, decode and back."""
    bins = np.array([[7 + 22 * k, 500 - 29 * k] for k in range(COCO17)])
    values = np.tile([0.9, 0.6], (COCO17, 1))
    values[3] = [1.4, 2.0]  # raw maxima above 1: score clipped to 1
    values[5] = [0.7, -0.2]  # y maximum <= 0: no keypoint
    folder = build_rtmpose_peaks(weights / "peaks", bins, values, input_size=(192, 256))
    model = backend(folder, "coco17")
    assert model.input_size == (192, 256)
    model.start_video(video, detections)
    slots, images = frames
    keypoints, scores = model.predict(images, slots)
    present = [i for i in range(FRAMES) if i not in GAPS]
    assert np.isnan(keypoints[GAPS]).all() and (scores[GAPS] == 0).all()
    expected_scores = np.full(COCO17, 0.6)
    expected_scores[3], expected_scores[5] = 1.0, 0.0
    np.testing.assert_allclose(scores[present], np.tile(expected_scores, (len(present), 1)))
    for i in present:
        x1, y1, x2, y2 = figure_box(i)  # 40x180: padded to 50x225, widened to 168.75x225
        left, top = (x1 + x2) / 2 - 168.75 / 2, (y1 + y2) / 2 - 225 / 2
        expected = np.column_stack(
            [left + bins[:, 0] / 2 * 168.75 / 192, top + bins[:, 1] / 2 * 225 / 256]
        )
        expected[5] = np.nan
        np.testing.assert_allclose(keypoints[i], expected, atol=1e-3, err_msg=f"frame {i}")
    assert keypoints[7, 16, 0] > WIDTH  # the last box reaches past the edge, so do keypoints


# --------------------------------------------------------------------------- batching


def test_batched_crops_equal_one_at_a_time(
    video: Path, detections: Path, frames: Any, weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slots, images = frames
    dynamic = build_rtmpose(weights / "dynamic", HALPE26, seed=7)
    results, runs = {}, {}
    for label, folder, size in (
        ("one", dynamic, 1),
        ("batched", dynamic, 4),
        ("fixed-1", build_rtmpose(weights / "fixed1", HALPE26, seed=7, batch=1), 32),
        ("fixed-4", build_rtmpose(weights / "fixed4", HALPE26, seed=7, batch=4), 32),
    ):
        model = backend(folder, crop_batch_size=size)
        recorder = RecordingSession(model._session)
        monkeypatch.setattr(model, "_session", recorder)
        model.start_video(video, detections)
        results[label] = model.predict(images, slots)
        runs[label] = [len(batch) for batch in recorder.inputs]
    present = FRAMES - len(GAPS)  # frames without a box are not run
    assert runs == {"one": [1] * present, "batched": [4, 2], "fixed-1": [1] * present,
                    "fixed-4": [4, 4]}  # fmt: skip
    keypoints, scores = results["one"]
    assert keypoints.shape == (FRAMES, HALPE26, 2) and scores.shape == (FRAMES, HALPE26)
    assert np.isnan(keypoints[GAPS]).all() and (scores[GAPS] == 0).all()
    assert (scores[[i for i in range(FRAMES) if i not in GAPS]] > 0).any()
    for label in ("batched", "fixed-1", "fixed-4"):
        np.testing.assert_allclose(results[label][0], keypoints, atol=1e-4, err_msg=label)
        np.testing.assert_allclose(results[label][1], scores, atol=1e-5, err_msg=label)


def test_the_network_sees_rgb_crops_normalised(
    video: Path, detections: Path, frames: Any, weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    slots, images = frames
    model = backend(build_rtmpose(weights / "rgb", HALPE26), crop_batch_size=64)
    recorder = RecordingSession(model._session)
    monkeypatch.setattr(model, "_session", recorder)
    model.start_video(video, detections)
    model.predict(images, slots)
    present = [i for i in range(FRAMES) if i not in GAPS]
    crops, _, _ = crop_images(
        [images[i] for i in present], [figure_box(i) for i in present], (48, 64)
    )
    (batch,) = recorder.inputs
    np.testing.assert_allclose(batch, normalise_crops(crops), atol=1e-6)
    red = crops[..., 0].astype(np.float32)
    np.testing.assert_allclose(batch[:, 0], (red - MEAN_RGB[0]) / STD_RGB[0], rtol=1e-5)


def test_out_of_memory_halves_the_crop_batch(
    video: Path,
    detections: Path,
    frames: Any,
    weights: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    slots, images = frames
    folder = build_rtmpose(weights / "oom", HALPE26)
    expected = backend(folder)
    expected.start_video(video, detections)
    reference = expected.predict(images, slots)
    model = backend(folder, crop_batch_size=32)
    recorder = RecordingSession(model._session, fail_above=2)
    monkeypatch.setattr(model, "_session", recorder)
    monkeypatch.setattr(model, "_device", "cuda")  # the fallback is for GPUs only
    model.start_video(video, detections)
    with caplog.at_level(logging.WARNING, logger="posebench.backends.rtmpose"):
        keypoints, scores = model.predict(images, slots)
    assert [len(batch) for batch in recorder.inputs] == [6, 3] + [1] * 6
    assert "retrying with crop_batch_size=3" in caplog.text
    assert "crop_batch_size=1" in caplog.text
    np.testing.assert_allclose(keypoints, reference[0], atol=1e-4)
    np.testing.assert_allclose(scores, reference[1], atol=1e-5)
    recorder.fail_above = 0
    with pytest.raises(BackendError, match="out of GPU memory on cuda even with one crop"):
        model.predict(images, slots)
    monkeypatch.setattr(model, "_device", "cpu")  # on the CPU the error is not caught
    with pytest.raises(RuntimeError, match="Failed to allocate"):
        model.predict(images, slots)


# --------------------------------------------------------------------------- errors


def test_construction_errors_name_the_file_and_the_fix(
    weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    coco = build_rtmpose(weights / "coco", COCO17)
    with pytest.raises(BackendError, match=r"outputs 17 keypoints, marker set 'halpe26' has 26"):
        backend(coco)
    named = build_rtmpose(weights / "names", HALPE26, output_names=("heatmaps", "simcc_y"))
    with pytest.raises(
        BackendError, match=r"end2end.onnx takes .* returns .*'heatmaps'.*`simcc_x`"
    ):
        backend(named)
    ratio = build_rtmpose(weights / "ratio", HALPE26, split_ratio=3)
    with pytest.raises(BackendError, match=r"must be \(batch, K, 96\) and \(batch, K, 128\)"):
        backend(ratio)
    corrupt = weights / "corrupt"
    corrupt.mkdir()
    (corrupt / MODEL_FILE).write_bytes(b"not an onnx model")
    with pytest.raises(
        BackendError, match=r"(?s)cannot load the ONNX model .*corrupt.*fetch_weights"
    ):
        backend(corrupt)
    empty = weights / "empty"
    empty.mkdir()
    with pytest.raises(BackendError, match=r"holds 0 \.onnx files"):
        backend(empty)
    with pytest.raises(BackendError, match="needs weights"):
        create_backend("rtmpose", "rtm", "halpe26", CPU, None)
    good = build_rtmpose(weights / "good", HALPE26)
    for options, message in (
        ({"flip_test": True}, r"unknown rtmpose options \['flip_test'\]"),
        ({"precision": "fp16"}, "precision 'fp16' is not available with ONNX Runtime"),
        ({"crop_batch_size": 0}, "crop_batch_size=0 must be an integer >= 1"),
        ({"threads": 1.5}, "threads=1.5 must be an integer >= 1"),
        ({"device": "gpu"}, "device 'gpu' is not one of"),
    ):
        with pytest.raises(BackendError, match=message):
            backend(good, **options)
    import onnxruntime

    monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: ["CPUExecutionProvider"])
    with pytest.raises(BackendError, match=r"device 'cuda:1' requested .*onnxruntime-gpu"):
        backend(good, device="cuda:1")
    assert backend(good, device="auto")._device == "cpu"


def test_crop_size_from_the_outputs_when_the_input_leaves_it_open(
    weights: Path, frames: Any, video: Path, detections: Path
) -> None:
    open_size = build_rtmpose(weights / "open", HALPE26, input_size=(96, 128), open_input=True)
    model = backend(open_size)
    assert model.input_size == (96, 128)
    fixed = backend(build_rtmpose(weights / "fixed-size", HALPE26, input_size=(96, 128)))
    slots, images = frames
    for each in (model, fixed):
        each.start_video(video, detections)
    np.testing.assert_array_equal(model.predict(images, slots)[0], fixed.predict(images, slots)[0])


def test_session_uses_the_threads_option(weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime

    seen: list[tuple[int, int, str, list[Any]]] = []
    real = onnxruntime.InferenceSession

    def spy(path: str, options: Any, providers: list[Any]) -> Any:
        spinning = options.get_session_config_entry("session.intra_op.allow_spinning")
        seen.append(
            (options.intra_op_num_threads, options.inter_op_num_threads, spinning, providers)
        )
        return real(path, options, providers=providers)

    monkeypatch.setattr(onnxruntime, "InferenceSession", spy)
    backend(build_rtmpose(weights / "threads", HALPE26), threads=3)
    assert seen == [(3, 1, "0", ["CPUExecutionProvider"])]
    monkeypatch.setattr(
        onnxruntime,
        "get_available_providers",
        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"],
    )
    assert rtmpose.session_providers("cuda:1", "m", BackendError) == (
        "cuda:1",
        [("CUDAExecutionProvider", {"device_id": 1}), "CPUExecutionProvider"],
    )
    assert rtmpose.session_providers("auto", "m", BackendError)[0] == "cuda"


# --------------------------------------------------------------------------- YOLOX

# Detections in input pixels (640x640) and labels: a person, another class, a person below
# the threshold, a person reaching past the image once scaled back, an empty padding row.
DETS = [
    [64, 32, 320, 416, 0.9],
    [100, 100, 200, 200, 0.95],
    [10, 10, 50, 50, 0.3],
    [500, 300, 700, 500, 0.6],
    [0, 0, 0, 0, 0.0],
]
LABELS = [0, 1, 0, 0, 0]


def yolox(folder: Path, **changes: Any) -> YOLOXPersonDetector:
    detector = create_detector("yolox", folder, "yolox-tiny", changes.pop("device", "cpu"), "fp32")
    assert isinstance(detector, YOLOXPersonDetector)
    return detector


def test_yolox_letterbox_input_is_bgr_top_left_padded_with_114(
    weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    detector = yolox(build_yolox(weights / "yolox-input", DETS, LABELS))
    recorder = RecordingSession(detector.session)
    monkeypatch.setattr(detector, "session", recorder)
    wide = np.empty((200, 300, 3), np.uint8)
    wide[:] = (10, 20, 30)  # RGB
    tall = np.empty((500, 250, 3), np.uint8)
    tall[:] = (200, 0, 90)
    detector([wide, tall], 0.5)
    first, second = recorder.inputs  # batch 1: one run per frame
    assert first.shape == second.shape == (1, 3, 640, 640) and first.dtype == np.float32
    # 300x200 -> 640x427 (mmcv rounds 426.67), 250x500 -> 320x640.
    for batch, (width, height), colour in ((first, (640, 427), (10, 20, 30)),
                                           (second, (320, 640), (200, 0, 90))):  # fmt: skip
        image = batch[0]
        np.testing.assert_array_equal(image[:, :height, :width].reshape(3, -1).T[0], colour[::-1])
        assert (image[:, :height, :width] == image[:, :1, :1]).all()
        assert (image[:, height:] == 114).all() and (image[:, :, width:] == 114).all()


def test_yolox_boxes_are_scaled_back_and_filtered(weights: Path) -> None:
    detector = yolox(build_yolox(weights / "yolox-boxes", DETS, LABELS))
    frame = np.zeros((200, 300, 3), np.uint8)
    ((boxes, scores),) = detector([frame], 0.5)
    fx, fy = 640 / 300, 427 / 200  # resized size / frame size, per axis
    expected = np.array(
        [
            [64 / fx, 32 / fy, 320 / fx, 416 / fy],
            [500 / fx, 300 / fy, 300, 200],  # clipped to the 300x200 frame
        ]
    )
    np.testing.assert_allclose(boxes, expected, rtol=1e-6)
    np.testing.assert_allclose(scores, [0.9, 0.6])
    ((boxes, scores),) = detector([frame], 0.0)  # the empty row is never a candidate
    np.testing.assert_allclose(scores, [0.9, 0.3, 0.6])


def test_yolox_dynamic_batch_runs_once_per_call(
    weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frames = [np.full((120, 160, 3), level, np.uint8) for level in (0, 50, 100)]
    results = {}
    for batch in (1, "batch"):
        detector = yolox(build_yolox(weights / f"yolox-{batch}", DETS, LABELS, batch=batch))
        recorder = RecordingSession(detector.session)
        monkeypatch.setattr(detector, "session", recorder)
        results[batch] = detector(frames, 0.5)
        assert len(recorder.inputs) == (3 if batch == 1 else 1)
    for (a_boxes, a_scores), (b_boxes, b_scores) in zip(*results.values(), strict=True):
        np.testing.assert_array_equal(a_boxes, b_boxes)
        np.testing.assert_array_equal(a_scores, b_scores)
    assert detector([], 0.5) == []


def test_yolox_open_input_size_is_640(weights: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="posebench.backends.yolox_detector"):
        detector = yolox(build_yolox(weights / "yolox-open", DETS, LABELS, open_input=True))
    assert detector.model.input_size == (640, 640)
    assert "leaves its input size open; using 640x640" in caplog.text
    ((boxes, _),) = detector([np.zeros((200, 300, 3), np.uint8)], 0.5)
    np.testing.assert_allclose(boxes[0], [30, 32 * 200 / 427, 150, 416 * 200 / 427], rtol=1e-6)


def test_yolox_errors(weights: Path) -> None:
    renamed = build_yolox(weights / "yolox-names", DETS, LABELS, output_names=("boxes", "labels"))
    with pytest.raises(DetectionError, match=r"yolox-names.*end2end.onnx takes .*`dets`"):
        yolox(renamed)
    folder = build_yolox(weights / "yolox-good", DETS, LABELS)
    with pytest.raises(DetectionError, match="precision 'bf16' is not available"):
        create_detector("yolox", folder, "yolox-tiny", "cpu", "bf16")
    with pytest.raises(DetectionError, match="threads=0 must be an integer >= 1"):
        YOLOXPersonDetector(folder, "yolox-tiny", "cpu", "fp32", threads=0)
    with pytest.raises(DetectionError, match=r"Detector 'yolox-tiny'.*holds 0 \.onnx files"):
        yolox(weights)


# --------------------------------------------------------------------------- end to end

CAMERAS = ["cam01", "cam02", "cam03", "cam04"]
DEMO_FRAMES = 3


def cut_video(source: Path, dest: Path, frames: int) -> Path:
    """The first `frames` frames of `source`, re-encoded (mp4v) at its frame rate."""
    capture = cv2.VideoCapture(str(source))
    size = (
        int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
        int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
    )
    writer = cv2.VideoWriter(
        str(dest), cv2.VideoWriter.fourcc(*"mp4v"), capture.get(cv2.CAP_PROP_FPS), size
    )
    for _ in range(frames):
        ok, frame = capture.read()
        assert ok, f"{source} has fewer than {frames} frames"
        writer.write(frame)
    writer.release()
    capture.release()
    return dest


def test_demo_detect_pose2d_triangulate(
    pose2sim_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """YOLOX -> RTMPose (random, Halpe26) -> triangulation on the first frames of the four
    demo cameras (1088x1920 portrait): every file written, with the right shapes; both
    sessions use the job's threads."""
    import onnxruntime

    threads_seen: list[int] = []
    real_session = onnxruntime.InferenceSession

    def spy(path: str, options: Any, providers: list[Any]) -> Any:
        threads_seen.append(options.intra_op_num_threads)
        return real_session(path, options, providers=providers)

    monkeypatch.setattr(onnxruntime, "InferenceSession", spy)
    demo = pose2sim_dir / "Demo_SinglePerson"
    calibration = tmp_path / "calibration.json"
    save_cameras(
        calibration,
        read_qualisys_qca(demo / "calibration" / "Calib.qca.txt"),
        {"world_to_opensim": Z_UP_TO_OPENSIM.tolist()},
    )
    detector = build_yolox(
        tmp_path / "yolox", [[100, 100, 260, 600, 0.9], [0, 0, 50, 50, 0.99]], [0, 2]
    )
    model = build_rtmpose(tmp_path / "rtmpose-halpe26", HALPE26, input_size=(192, 256))
    keypoint_files = []
    for camera in CAMERAS:
        video = cut_video(
            demo / "videos" / f"{camera}.mp4", tmp_path / f"{camera}.mp4", DEMO_FRAMES
        )
        boxes = tmp_path / f"{camera}.detections.npz"
        detect.run(
            video, detector, boxes, detector_name="yolox-tiny", backend="yolox",
            score_threshold=0.5, batch_size=2, device="cpu", threads=2,
        )  # fmt: skip
        track = load_detections(boxes)
        width = track.image_size[0]
        assert width in (1080, 1088) and track.image_size[1] == 1920
        assert track.n_frames == DEMO_FRAMES
        # Resized by 640 / 1920 to 360x640 (1080 wide) or 363x640 (1088): the person box
        # scaled back, the other class left out.
        fx = {1080: 360, 1088: 363}[width] / width
        np.testing.assert_allclose(
            track.boxes, [[100 / fx, 300, 260 / fx, 1800]] * DEMO_FRAMES, rtol=1e-6
        )
        output = tmp_path / f"{camera}.keypoints.npz"
        pose2d.run(
            video, output, model_name="rtmpose-tiny", backend="rtmpose", marker_set="halpe26",
            options={"device": "cpu", "crop_batch_size": 2}, batch_size=2, weights_dir=model,
            detections=boxes, threads=2,
        )  # fmt: skip
        keypoints = load_keypoints(output)
        assert keypoints.keypoints_px.shape == (DEMO_FRAMES, HALPE26, 2)
        assert keypoints.keypoint_names == get_marker_set("halpe26").keypoints
        found = keypoints.scores > 0
        assert found.any()
        # Every keypoint inside the crop region of the box: 480x1500 padded, at 3:4.
        inside = np.abs(keypoints.keypoints_px[found] - [180 / fx, 1050]) <= [1406.25 / 2, 937.5]
        assert inside.all()
        keypoint_files.append(output)
    trc = tmp_path / "markers.trc"
    report = triangulate.run(
        keypoint_files, CAMERAS, calibration, "halpe26",
        output_trc=trc, output_reprojection=tmp_path / "reprojection.csv",
        output_report=tmp_path / "triangulation.json",
        settings=TriangulationSettings(
            min_score=0.0, filter_cutoff_hz=None, max_reprojection_error_px=None,
            fix_left_right_swaps=False, min_detection_fraction=0.0,
        ),
    )  # fmt: skip
    assert report.video_frames == DEMO_FRAMES
    markers = read_trc(trc)
    assert markers.marker_names == get_marker_set("halpe26").marker_names
    assert json.loads((tmp_path / "triangulation.json").read_text())
    assert threads_seen == [2] * (2 * len(CAMERAS))  # one detector, one pose model per camera


def test_job_threads_are_the_default_of_the_onnx_backends() -> None:
    from posebench.backends.registry import job_options

    assert job_options("rtmpose", {"device": "cpu"}, 3) == {"device": "cpu", "threads": 3}
    assert job_options("rtmpose", {"threads": 1}, 3) == {"threads": 1}  # explicit wins
    assert job_options("vitpose", {"device": "cpu"}, 3) == {"device": "cpu"}
