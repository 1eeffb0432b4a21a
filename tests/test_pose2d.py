"""The core of the pose2d stage with a fake backend, MediaPipe BlazePose on real demo video,
and the errors of the stage."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from posebench.backends.base import BackendError, FrameBatch, PoseBackend
from posebench.backends.registry import create_backend
from posebench.io.keypoints import load_keypoints
from posebench.markersets import MarkerSetError, get_marker_set
from posebench.pose_estimation import (
    MIN_FRAMES_AHEAD,
    FrameKeypoints,
    estimate_keypoints,
    frames_ahead,
    frames_per_call,
    keypoints_on_slots,
)
from posebench.progress import FrameProgress
from posebench.skeletons import BLAZEPOSE_KEYPOINTS
from posebench.stages import pose2d
from posebench.video import SlotStats, VideoError, VideoInfo, check_decoded_frames

MODEL = {"model_name": "mediapipe-blazepose", "backend": "mediapipe", "marker_set": "blazepose"}


def write_video(path: Path, frames: list[np.ndarray], fps: float = 30.0) -> None:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for frame in frames:
        writer.write(frame)
    writer.release()


class FakeBackend(PoseBackend):
    """Keypoint k of a frame at (slot, grey level + k), score 1; a black frame has no person
    (NaN, score 0). Records the slots of each call; `points` overrides the keypoint count."""

    def __init__(self, points: int | None = None) -> None:
        self.name = "fake"
        self.keypoint_names = ("a", "b", "c")
        self.marker_set = "none"
        self.points = points
        self.calls: list[list[int]] = []

    def predict(
        self, frames: FrameBatch, slots: Sequence[int]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        self.calls.append(list(slots))
        count = self.points or len(self.keypoint_names)
        keypoints = np.zeros((len(frames), count, 2), np.float32)
        scores = np.ones((len(frames), count), np.float32)
        for i, (frame, slot) in enumerate(zip(frames, slots, strict=True)):
            keypoints[i, :, 0] = slot
            keypoints[i, :, 1] = frame.mean() + np.arange(count)
            if frame.max() == 0:
                keypoints[i], scores[i] = np.nan, 0.0
        return keypoints, scores


def grey(level: int) -> np.ndarray:
    return np.full((48, 64, 3), level, np.uint8)


def test_estimate_keypoints_collects_every_batch() -> None:
    backend = FakeBackend()
    batches = [[(0, grey(10)), (1, grey(0))], [(3, grey(30))]]
    progress: list[tuple[int, int]] = []
    frames = estimate_keypoints(
        iter(batches), backend, "fake", lambda done, slot: progress.append((done, slot))
    )
    assert backend.calls == [[0, 1], [3]]
    assert progress == [(2, 1), (3, 3)]
    assert frames.n_frames == 3 and frames.keypoint_names == ("a", "b", "c")
    assert frames.keypoints_px.shape == (3, 3, 2) and frames.scores.shape == (3, 3)
    np.testing.assert_array_equal(frames.keypoints_px[0], [[0, 10], [0, 11], [0, 12]])
    np.testing.assert_array_equal(frames.keypoints_px[2, :, 0], [3, 3, 3])
    assert np.isnan(frames.keypoints_px[1]).all() and (frames.scores[1] == 0).all()


def test_estimate_keypoints_without_frames_and_with_wrong_shapes() -> None:
    empty = estimate_keypoints([], FakeBackend(), "fake")
    assert empty.keypoints_px.shape == (0, 3, 2) and empty.scores.shape == (0, 3)
    with pytest.raises(
        BackendError,
        match=r"Model 'fake' returned keypoints \(1, 2, 2\) and scores \(1, 2\) for 1 frames; "
        r"expected \(1, 3, 2\) and \(1, 3\)",
    ):
        estimate_keypoints([[(0, grey(10))]], FakeBackend(points=2), "fake")


def test_keypoints_on_slots_fill_missing_slots() -> None:
    info = VideoInfo(Path("v.avi"), fps=30.0, frame_count_header=5, width=64, height=48)
    summary = check_decoded_frames(info, SlotStats(decoded=3, slots=[0, 1, 3]))
    keypoints = np.arange(18, dtype=np.float64).reshape(3, 3, 2)
    frames = FrameKeypoints(keypoints, np.full((3, 3), 0.5), ("a", "b", "c"))
    result = keypoints_on_slots(
        frames, summary, info, model_name="m", backend="fake", marker_set="none"
    )
    assert result.keypoints_px.dtype == np.float32 and result.n_frames == 5
    np.testing.assert_array_equal(result.keypoints_px[[0, 1, 3]], keypoints)
    assert np.isnan(result.keypoints_px[[2, 4]]).all() and (result.scores[[2, 4]] == 0).all()
    assert (result.scores[[0, 1, 3]] == 0.5).all()
    assert (result.fps, result.image_size, result.model) == (30.0, (64, 48), "m")
    assert result.metadata == {
        "video": "v.avi",
        "backend": "fake",
        "marker_set": "none",
        "slots": summary.metadata(),
    }
    assert result.metadata["slots"]["missing_slot_indices"] == [2, 4]


class FakeBlazePose(FakeBackend):
    """FakeBackend with BlazePose's keypoints (the stage checks them against the marker set),
    taking at most `limit` frames at once."""

    def __init__(self, limit: int | None) -> None:
        super().__init__()
        self.keypoint_names = BLAZEPOSE_KEYPOINTS
        self.max_frames_per_call = limit


@pytest.mark.parametrize(
    ("limit", "batch_size", "calls"),
    [
        (None, 4, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]),
        (1, 4, [[slot] for slot in range(10)]),
        (3, 4, [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]),
        (8, 2, [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]),
    ],
)
def test_pose2d_passes_at_most_the_models_frames_per_call(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    limit: int | None,
    batch_size: int,
    calls: list[list[int]],
) -> None:
    video = tmp_path / "v.mp4"
    write_video(video, [grey(10 + 20 * i) for i in range(10)])
    model = FakeBlazePose(limit)
    monkeypatch.setattr(pose2d, "create_backend", lambda *args: model)
    result = pose2d.run(
        video, tmp_path / "v.npz", options={}, batch_size=batch_size,
        **{**MODEL, "backend": "fake"},
    )  # fmt: skip
    assert model.calls == calls
    assert result.n_frames == 10
    np.testing.assert_array_equal(result.keypoints_px[:, 0, 0], np.arange(10))


def test_frames_per_call_and_ahead() -> None:
    assert frames_per_call(16, FakeBlazePose(None)) == 16
    assert frames_per_call(16, FakeBlazePose(1)) == 1
    assert frames_per_call(2, FakeBlazePose(8)) == 2
    assert frames_ahead(1) == MIN_FRAMES_AHEAD and frames_ahead(16) == 16
    with pytest.raises(BackendError, match="batch_size 0 and max_frames_per_call None"):
        frames_per_call(0, FakeBlazePose(None))
    with pytest.raises(BackendError, match="max_frames_per_call 0 must be >= 1"):
        frames_per_call(4, FakeBlazePose(0))


def test_pose2d_releases_the_video_when_the_model_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    video = tmp_path / "v.mp4"
    write_video(video, [grey(10 + 5 * i) for i in range(30)])
    closed = threading.Event()
    decoded: list[int] = []
    real_iter_frame_slots = pose2d.iter_frame_slots

    def frame_slots(*args: Any, **kwargs: Any) -> Iterator[tuple[int, np.ndarray]]:
        try:
            for item in real_iter_frame_slots(*args, **kwargs):
                decoded.append(item[0])
                yield item
        finally:
            closed.set()

    class Failing(FakeBlazePose):
        def predict(
            self, frames: FrameBatch, slots: Sequence[int]
        ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
            if slots[0] >= 4:
                raise BackendError("model broke")
            return super().predict(frames, slots)

    monkeypatch.setattr(pose2d, "iter_frame_slots", frame_slots)
    monkeypatch.setattr(pose2d, "create_backend", lambda *args: Failing(1))
    with pytest.raises(BackendError, match="model broke"):
        pose2d.run(video, tmp_path / "v.npz", options={}, **{**MODEL, "backend": "fake"})
    assert closed.is_set()  # at once: decoding stopped, the video released
    assert len(decoded) <= 4 + 1 + MIN_FRAMES_AHEAD + 1
    assert not (tmp_path / "v.npz").exists()


def test_frame_progress_is_throttled(caplog: pytest.LogCaptureFixture) -> None:
    log = logging.getLogger("test_progress")
    with caplog.at_level(logging.INFO, logger="test_progress"):
        FrameProgress(log, Path("dir/v.mp4"), 10, 0.0, time.monotonic() - 2.0)(4, 5)
        assert "v.mp4: 4 frames decoded, up to slot 5 of 10 (" in caplog.text
        caplog.clear()
        quiet = FrameProgress(log, Path("v.mp4"), 10, 3600.0, time.monotonic())
        quiet(4, 5)
    assert caplog.text == ""


@pytest.mark.mediapipe
def test_blazepose_on_demo_video(pose2sim_dir: Path, tmp_path: Path) -> None:
    video = pose2sim_dir / "Demo_SinglePerson" / "videos" / "cam01.mp4"
    output = tmp_path / "cam01.npz"
    pose2d.run(video, output, options={}, batch_size=7, **MODEL)
    keypoints = load_keypoints(output)
    assert keypoints.keypoints_px.shape == (100, 33, 2)
    assert keypoints.fps == pytest.approx(60.0)
    assert keypoints.image_size == (1080, 1920)
    assert keypoints.detected_frames().all()
    # The participant stands upright in the middle of a portrait frame: hips below the nose.
    names = keypoints.keypoint_names
    nose_y = keypoints.keypoints_px[:, names.index("nose"), 1]
    hip_y = keypoints.keypoints_px[:, names.index("left_hip"), 1]
    assert (hip_y - nose_y > 100).all()
    assert np.nanmedian(keypoints.scores) > 0.8


@pytest.mark.mediapipe
def test_frames_without_person_are_nan_with_score_zero(tmp_path: Path) -> None:
    video = tmp_path / "empty.mp4"
    write_video(video, [np.full((240, 320, 3), 30, np.uint8) for _ in range(12)])
    output = tmp_path / "empty.npz"
    pose2d.run(video, output, options={}, **MODEL)
    keypoints = load_keypoints(output)
    assert keypoints.n_frames == 12
    assert np.isnan(keypoints.keypoints_px).all()
    assert (keypoints.scores == 0).all()


@pytest.mark.mediapipe
def test_missing_and_corrupt_video(tmp_path: Path) -> None:
    with pytest.raises(VideoError, match="Video not found"):
        pose2d.run(tmp_path / "absent.mp4", tmp_path / "o.npz", options={}, **MODEL)
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00" * 1000)
    with pytest.raises(VideoError, match="corrupt.mp4"):
        pose2d.run(corrupt, tmp_path / "o.npz", options={}, **MODEL)
    assert not (tmp_path / "o.npz").exists()


@pytest.mark.mediapipe
def test_keypoints_must_match_marker_set() -> None:
    blazepose = get_marker_set("blazepose")
    with pytest.raises(
        MarkerSetError, match="outputs 17 keypoints but marker set 'blazepose' expects 33"
    ):
        blazepose.check_keypoints([f"k{i}" for i in range(17)], "Model 'coco-model'")
    with pytest.raises(MarkerSetError, match="Unknown marker set 'nope'"):
        get_marker_set("nope")


@pytest.mark.mediapipe
def test_backend_errors_are_clear() -> None:
    with pytest.raises(BackendError, match="Unknown pose backend 'nope'.*available: mediapipe"):
        create_backend("nope", "m", "blazepose", {})
    with pytest.raises(BackendError, match="unknown mediapipe options"):
        create_backend("mediapipe", "m", "blazepose", {"model_complexty": 1})
    with pytest.raises(BackendError, match="model_complexity=2"):
        create_backend("mediapipe", "m", "blazepose", {"model_complexity": 2})
    with create_backend("mediapipe", "m", "blazepose", {}) as model:
        assert model.max_frames_per_call == 1  # frames one by one, not held in batches
