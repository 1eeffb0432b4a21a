"""Person detection: single-subject tracking with a fake detector, the detect stage's file
format and gaps, prefetching, errors.

A tiny random RT-DETR (tests/model_factory.py) gives meaningless boxes, so the tests that
run it check the flow, not detection quality.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from posebench import detection
from posebench.detection import (
    DetectionError,
    DetectionTrack,
    FrameBoxes,
    box_iou,
    load_detections,
    resolve_device,
    save_detections,
    select_box,
    track_on_slots,
    track_person,
)
from posebench.stages import detect
from posebench.video import (
    SlotStats,
    VideoError,
    VideoInfo,
    batched,
    check_decoded_frames,
    prefetch,
    prefetch_batches,
)

WIDTH, HEIGHT, FRAMES = 320, 240, 12


def build_rtdetr(path: Path) -> Path:
    from model_factory import build_rtdetr as build  # torch: only for the tests marked so

    return build(path)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from model_factory import write_figure_video

    return write_figure_video(tmp_path_factory.mktemp("video") / "cam01.mp4", FRAMES, WIDTH, HEIGHT)


@pytest.fixture(scope="module")
def detector_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_rtdetr(tmp_path_factory.mktemp("rtdetr") / "rtdetr-tiny")


def run(video: Path, weights: Path, output: Path, threshold: float) -> DetectionTrack:
    return detect.run(
        video,
        weights,
        output,
        detector_name="rtdetr-tiny",
        score_threshold=threshold,
        batch_size=5,
        device="cpu",
    )


@pytest.mark.torch
def test_threshold_zero_gives_a_box_in_every_frame(
    video: Path, detector_dir: Path, tmp_path: Path
) -> None:
    output = tmp_path / "detections" / "cam01.npz"
    track = run(video, detector_dir, output, threshold=0.0)
    loaded = load_detections(output)
    assert loaded.n_frames == FRAMES
    assert loaded.found().all()
    np.testing.assert_array_equal(loaded.boxes, track.boxes)
    np.testing.assert_array_equal(loaded.scores, track.scores)
    assert loaded.boxes.dtype == np.float32 and loaded.scores.dtype == np.float32
    boxes = loaded.boxes
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= WIDTH).all()
    assert (boxes[:, 1] >= 0).all() and (boxes[:, 3] <= HEIGHT).all()
    assert ((boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])).all()
    assert ((loaded.scores >= 0) & (loaded.scores <= 1)).all()
    assert loaded.image_size == (WIDTH, HEIGHT)
    assert loaded.fps == pytest.approx(30.0)
    assert loaded.frame_count_header == FRAMES
    assert loaded.detector == "rtdetr-tiny"
    assert loaded.score_threshold == 0.0
    assert loaded.video == str(video)
    with np.load(output) as archive:
        assert sorted(archive.files) == ["boxes", "meta", "scores"]
        meta = json.loads(str(archive["meta"]))
    assert meta["format_version"] == detection.FORMAT_VERSION
    assert meta["n_frames"] == FRAMES
    assert not list(output.parent.glob("*.tmp*"))


@pytest.mark.torch
def test_nothing_above_threshold_gives_explicit_gaps(
    video: Path, detector_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="posebench.stages.detect"):
        track = run(video, detector_dir, tmp_path / "gaps.npz", threshold=1.01)
    assert track.n_frames == FRAMES
    assert np.isnan(track.boxes).all()
    assert (track.scores == 0).all()
    assert "no person with score >= 1.01 in any frame" in caplog.text
    assert load_detections(tmp_path / "gaps.npz").found().sum() == 0


def frame_batches(count: int, size: int) -> list[list[tuple[int, np.ndarray]]]:
    """`count` black 24x32 frames on slots 0, 2, 4, ..., in batches of `size`."""
    pairs = [(2 * i, np.zeros((24, 32, 3), np.uint8)) for i in range(count)]
    return list(batched(pairs, size))


def test_track_person_follows_one_subject() -> None:
    """Hand-made candidates per frame: start on the best box, follow by overlap, keep gaps
    explicit, jump when nothing overlaps."""
    subject = np.array([100, 50, 150, 200], np.float32)
    other = np.array([250, 40, 300, 210], np.float32)
    per_frame: list[tuple[list[np.ndarray], list[float]]] = [
        ([other, subject], [0.85, 0.95]),  # start: highest score
        ([], []),  # gap
        ([other, subject + 4], [0.99, 0.81]),  # follow the overlap, not the score
        ([other], [0.9]),  # subject gone: jump
    ] * 3
    calls = iter(per_frame)
    thresholds: list[float] = []

    def fake_detector(frames: list[np.ndarray], threshold: float) -> list:
        thresholds.append(threshold)
        out = []
        for _ in frames:
            boxes, scores = next(calls)
            out.append((np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32)))
        return out

    progress: list[tuple[int, int]] = []
    track = track_person(
        frame_batches(FRAMES, 5), fake_detector, 0.8, lambda n, slot: progress.append((n, slot))
    )
    assert thresholds == [0.8] * 3 and progress == [(5, 8), (10, 18), (12, 22)]
    assert track.n_frames == FRAMES
    assert track.boxes.dtype == np.float32 and track.scores.dtype == np.float32
    np.testing.assert_array_equal(track.boxes[0], subject)
    assert np.isnan(track.boxes[1]).all() and track.scores[1] == 0
    np.testing.assert_array_equal(track.boxes[2], subject + 4)
    assert track.scores[2] == pytest.approx(0.81)
    np.testing.assert_array_equal(track.boxes[3], other)
    # From frame 3 on, the track stays on `other`, which keeps overlapping itself, even
    # where `subject` scores higher (frames 4 and 8).
    later = [i for i in range(4, FRAMES) if i % 4 != 1]
    np.testing.assert_array_equal(track.boxes[later], np.tile(other, (len(later), 1)))
    assert np.isnan(track.boxes[[5, 9]]).all()
    assert track.track_jumps == 1


def test_track_person_without_frames() -> None:
    track = track_person([], lambda frames, threshold: [], 0.8)
    assert track.boxes.shape == (0, 4) and track.scores.shape == (0,)
    assert track.boxes.dtype == np.float32 and track.track_jumps == 0


def test_track_on_slots_leaves_missing_slots_empty(tmp_path: Path) -> None:
    info = VideoInfo(Path("cam01.avi"), fps=30.0, frame_count_header=5, width=WIDTH, height=HEIGHT)
    summary = check_decoded_frames(info, SlotStats(decoded=3, slots=[1, 2, 4]))
    boxes = np.array([[1, 2, 30, 40], [np.nan] * 4, [5, 6, 50, 60]], np.float32)
    frames = FrameBoxes(boxes, np.array([0.9, 0.0, 0.85], np.float32), track_jumps=2)
    track = track_on_slots(frames, summary, info, detector_name="hand", score_threshold=0.8)
    assert track.n_frames == 5 and track.found().tolist() == [False, True, False, False, True]
    np.testing.assert_array_equal(track.boxes[[1, 2, 4]], boxes)
    np.testing.assert_array_equal(track.scores, np.array([0, 0.9, 0, 0, 0.85], np.float32))
    assert (track.detector, track.score_threshold, track.video) == ("hand", 0.8, "cam01.avi")
    assert (track.fps, track.image_size, track.frame_count_header) == (30.0, (WIDTH, HEIGHT), 5)
    assert track.track_jumps == 2 and track.slots == summary.metadata()
    save_detections(tmp_path / "track.npz", track)
    loaded = load_detections(tmp_path / "track.npz")
    assert loaded.track_jumps == 2 and loaded.slots["missing_slot_indices"] == [0, 3]


def test_select_box_rules() -> None:
    small = [0.0, 0.0, 10.0, 10.0]
    large = [50.0, 50.0, 80.0, 90.0]
    assert select_box(np.empty((0, 4)), np.empty(0), None) == (None, False)
    assert select_box(np.empty((0, 4)), np.empty(0), small) == (None, False)
    # First frame: highest score; equal scores -> larger area.
    assert select_box([small, large], [0.9, 0.8], None) == (0, False)
    assert select_box([small, large], [0.9, 0.9], None) == (1, False)
    # Continue with the best overlap even at a lower score.
    assert select_box([large, [1.0, 1.0, 11.0, 11.0]], [0.99, 0.5], small) == (1, False)
    # Overlap ties -> higher score.
    assert select_box([[0, 0, 10, 10], [0, 0, 10, 10]], [0.5, 0.7], small) == (1, False)
    # IoU below 0.1: jump to the highest score.
    barely = [9.5, 9.5, 20, 20]  # IoU with `small` ~ 0.001
    assert select_box([barely, large], [0.5, 0.9], small) == (1, True)
    # IoU exactly at the limit continues the track.
    assert box_iou(small, [[0, 0, 10, 1]])[0] == pytest.approx(0.1)
    assert select_box([[0.0, 0.0, 10.0, 1.0], large], [0.1, 0.9], small) == (0, False)


def test_box_iou() -> None:
    np.testing.assert_allclose(
        box_iou([0, 0, 10, 10], [[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]]),
        [1.0, 50 / 150, 0.0],
    )


@pytest.mark.torch
def test_video_without_frames_is_an_error(
    video: Path, detector_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00" * 1000)
    with pytest.raises(VideoError, match="corrupt.mp4"):
        run(corrupt, detector_dir, tmp_path / "o.npz", threshold=0.8)
    # A container that opens but yields no frame.
    monkeypatch.setattr(detect, "iter_frame_slots", lambda path, stats, info: iter(()))
    with pytest.raises(VideoError, match=r"No frame of .*cam01.mp4 could be decoded"):
        run(video, detector_dir, tmp_path / "o.npz", threshold=0.8)
    assert not (tmp_path / "o.npz").exists()


@pytest.mark.torch
def test_checkpoint_without_person_label(video: Path, detector_dir: Path, tmp_path: Path) -> None:
    weights = build_rtdetr(tmp_path / "no-person")
    config_file = weights / "config.json"
    config = json.loads(config_file.read_text())
    config["id2label"] = {"0": "cat", "1": "dog", "2": "car", "3": "boat"}
    config["label2id"] = {v: int(k) for k, v in config["id2label"].items()}
    config_file.write_text(json.dumps(config))
    with pytest.raises(DetectionError, match=r"no 'person' label.*\['boat', 'car', 'cat'"):
        run(video, weights, tmp_path / "o.npz", threshold=0.8)
    with pytest.raises(DetectionError, match="weights folder .*absent not found; run the fetch"):
        run(video, tmp_path / "absent", tmp_path / "o.npz", threshold=0.8)


def make_track(boxes: np.ndarray, scores: np.ndarray) -> DetectionTrack:
    return DetectionTrack(
        boxes=boxes.astype(np.float32),
        scores=scores.astype(np.float32),
        detector="hand",
        score_threshold=0.8,
        fps=30.0,
        image_size=(WIDTH, HEIGHT),
        video="cam01.mp4",
        frame_count_header=len(boxes),
    )


def test_load_detections_errors(tmp_path: Path) -> None:
    with pytest.raises(
        DetectionError, match=r"absent.npz does not exist. The rule detect writes it"
    ):
        load_detections(tmp_path / "absent.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not an archive")
    with pytest.raises(DetectionError, match=r"Cannot read detection file .*garbage.npz"):
        load_detections(garbage)
    good = make_track(np.array([[1, 2, 30, 40], [np.nan] * 4]), np.array([0.9, 0.0]))
    path = tmp_path / "old.npz"
    save_detections(path, good)
    with np.load(path) as archive:
        meta = json.loads(str(archive["meta"]))
        boxes, scores = archive["boxes"], archive["scores"]
    meta["format_version"] = 0
    np.savez(path, boxes=boxes, scores=scores, meta=np.array(json.dumps(meta)))
    with pytest.raises(DetectionError, match=r"old.npz has format version 0, expected 1"):
        load_detections(path)
    meta["format_version"] = 1
    del meta["fps"]
    np.savez(path, boxes=boxes, scores=scores, meta=np.array(json.dumps(meta)))
    with pytest.raises(DetectionError, match=r"old.npz is malformed \(KeyError: 'fps'\)"):
        load_detections(path)
    meta["fps"] = 30.0
    np.savez(path, boxes=boxes[:1], scores=scores, meta=np.array(json.dumps(meta)))
    with pytest.raises(DetectionError, match=r"old.npz is malformed .* must be \(frames, 4\)"):
        load_detections(path)
    with pytest.raises(DetectionError, match="without a box .* must have score 0"):
        make_track(np.array([[np.nan] * 4]), np.array([0.5]))
    with pytest.raises(DetectionError, match="x2 > x1 and y2 > y1"):
        make_track(np.array([[10, 10, 5, 40]]), np.array([0.9]))
    with pytest.raises(DetectionError, match="all finite or all NaN"):
        make_track(np.array([[10, np.nan, 5, 40]]), np.array([0.0]))


def test_prefetch_keeps_order_and_raises_producer_errors() -> None:
    assert list(prefetch(range(10), depth=2)) == list(range(10))
    assert list(batched(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]

    def failing() -> Iterator[int]:
        yield 1
        raise RuntimeError("decoder broke")

    items = prefetch(failing())
    assert next(items) == 1
    with pytest.raises(RuntimeError, match="decoder broke"):
        next(items)
    with pytest.raises(ValueError, match="depth must be >= 1"):
        list(prefetch(range(3), depth=0))


def test_prefetch_is_bounded_and_closes_its_source_when_stopped() -> None:
    produced: list[int] = []
    closed = threading.Event()

    def source() -> Iterator[int]:
        try:
            for i in range(1000):
                produced.append(i)
                yield i
        finally:
            closed.set()

    items = prefetch(source(), depth=2)
    assert isinstance(items, Generator)
    assert next(items) == 0
    time.sleep(0.3)
    assert len(produced) <= 4  # the consumed item, `depth` queued, one waiting to be queued
    items.close()
    assert closed.wait(5)
    assert len(produced) < 1000


class Counted:
    """An item that counts the instances alive (created, not yet freed) and their peak."""

    lock = threading.Lock()
    alive = 0
    peak = 0

    def __init__(self, index: int) -> None:
        self.index = index
        with Counted.lock:
            Counted.alive += 1
            Counted.peak = max(Counted.peak, Counted.alive)

    def __del__(self) -> None:
        with Counted.lock:
            Counted.alive -= 1

    @classmethod
    def reset(cls) -> None:
        cls.alive = cls.peak = 0


def wait_for(condition: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@pytest.mark.parametrize(("batch_size", "ahead"), [(1, 1), (1, 2), (4, 4), (3, 5)])
def test_prefetch_batches_bounds_the_items_alive(batch_size: int, ahead: int) -> None:
    """A slow consumer: the producer runs ahead until `ahead` items are queued and it holds
    one more; never more than that beyond the batch in use."""
    Counted.reset()
    bound = batch_size + ahead + 1
    # A generator that keeps no reference to an item once yielded (as iter_frame_slots).
    source = (Counted(i) for i in range(40))
    indices: list[int] = []
    for batch in prefetch_batches(source, batch_size, ahead):
        assert len(batch) == min(batch_size, 40 - len(indices))
        indices.extend(item.index for item in batch)
        if len(indices) <= 3 * batch_size:  # let the producer fill the queue, then check
            assert wait_for(lambda: Counted.alive == bound)
            time.sleep(0.05)
            assert Counted.alive == bound
        del batch  # as estimate_keypoints: the batch is not kept while the next one fills
    assert indices == list(range(40))
    assert Counted.peak == bound
    assert wait_for(lambda: Counted.alive == 0)


def test_prefetch_batches_keeps_order_and_raises_producer_errors() -> None:
    assert list(prefetch_batches(range(7), 3, ahead=2)) == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(prefetch_batches(range(3), 5, ahead=1)) == [[0, 1, 2]]
    assert list(prefetch_batches([], 2, ahead=2)) == []

    def failing() -> Iterator[int]:
        yield from range(5)
        raise RuntimeError("decoder broke")

    batches = prefetch_batches(failing(), 2, ahead=2)
    assert next(batches) == [0, 1]
    assert next(batches) == [2, 3]
    with pytest.raises(RuntimeError, match="decoder broke"):
        next(batches)  # the partial batch [4] is lost, as with batched(prefetch(...))
    with pytest.raises(ValueError, match="batch size must be >= 1"):
        list(prefetch_batches(range(3), 0, ahead=2))
    with pytest.raises(ValueError, match="depth must be >= 1"):
        list(prefetch_batches(range(3), 2, ahead=0))


def test_prefetch_batches_closes_its_source_when_stopped_or_on_an_error() -> None:
    def source(produced: list[int], closed: threading.Event) -> Iterator[int]:
        try:
            for i in range(1000):
                produced.append(i)
                yield i
        finally:
            closed.set()

    produced: list[int] = []
    closed = threading.Event()
    batches = prefetch_batches(source(produced, closed), 4, ahead=3)
    assert next(batches) == [0, 1, 2, 3]
    time.sleep(0.2)
    assert len(produced) <= 4 + 3 + 1
    batches.close()
    assert closed.wait(5)
    assert len(produced) < 1000

    produced, closed = [], threading.Event()
    with (
        pytest.raises(RuntimeError, match="model broke"),
        closing(prefetch_batches(source(produced, closed), 2, ahead=2)) as failing,
    ):
        for batch in failing:
            if batch[0] == 4:
                raise RuntimeError("model broke")
    assert closed.is_set()  # at once, not when the generator is garbage-collected
    assert len(produced) < 1000


@pytest.mark.torch
def test_resolve_device(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="posebench.detection"):
        assert resolve_device("cpu", "fp16", "Detector 'd'") == ("cpu", "fp32")
    assert "precision fp16 needs CUDA; using fp32" in caplog.text
    with pytest.raises(DetectionError, match="device 'gpu' is not one of auto, cpu, cuda"):
        resolve_device("gpu", "fp32", "Detector 'd'")
    with pytest.raises(ValueError, match="Model 'm': precision 'fp8' is not one of"):
        resolve_device("cpu", "fp8", "Model 'm'", ValueError)
    import torch

    if not torch.cuda.is_available():
        assert resolve_device("auto", "bf16", "Detector 'd'") == ("cpu", "fp32")
        with pytest.raises(DetectionError, match="PyTorch sees no CUDA GPU"):
            resolve_device("cuda:0", "fp32", "Detector 'd'")
