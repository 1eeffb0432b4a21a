"""Decoded frames go on their true frame slots: AVIs with dropped frames (empty chunks).

MJPG AVIs are written with chosen chunks left empty (tests/avi_writer.py), as OpenCap's
LabValidation videos have them. Checked: the slots and times of the frame iterator, the
decode-order fallback, the pose2d and detect stages (one row per slot, NaN where the video
lacks the frame) and that cameras with different dropped frames triangulate in step.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from avi_writer import write_mjpg_avi
from model_factory import build_rtdetr, build_vitpose
from posebench import video as video_module
from posebench.backends.base import BackendError
from posebench.camera import save_cameras
from posebench.datasets.layout import OPENCAP_CALIBRATION_FILE as CALIBRATION_FILE
from posebench.datasets.opencap import read_camera
from posebench.datasets.opencap_frames import board_to_opensim
from posebench.datasets.synthetic import SyntheticSubject
from posebench.datasets.synthetic.core import SyntheticTrial
from posebench.detection import DetectionTrack, load_detections, save_detections
from posebench.io.keypoints import Keypoints2D, load_keypoints
from posebench.io.mot import read_mot
from posebench.io.trc import read_trc
from posebench.markersets import get_marker_set
from posebench.reconstruction import TriangulationSettings
from posebench.stages import detect, pose2d, triangulate
from posebench.video import (
    SlotStats,
    SlotSummary,
    VideoError,
    check_decoded_frames,
    iter_frame_slots,
    probe_video,
    slot_count,
)

pytestmark = pytest.mark.torch

SLOTS, FPS = 23, 60.0
ANATOMICAL = get_marker_set("anatomical")


def shade_frames(count: int, empty: Sequence[int]) -> list[np.ndarray | None]:
    """Flat 64x48 frames whose grey level (10 x slot) tells which slot they were written to."""
    return [None if i in empty else np.full((48, 64, 3), 10 * i, np.uint8) for i in range(count)]


def decoded(path: Path) -> tuple[list[int], list[int], SlotStats, SlotSummary]:
    """(slots, slot written in each frame's grey level, stats, summary) of `path`."""
    stats = SlotStats()
    pairs = list(iter_frame_slots(path, stats))
    shades = [int(round(frame.mean() / 10)) for _, frame in pairs]
    return (
        [slot for slot, _ in pairs],
        shades,
        stats,
        check_decoded_frames(probe_video(path), stats),
    )


# --------------------------------------------------------------------------- iterator


@pytest.mark.parametrize(
    "empty",
    [(0, 1), (5, 6, 14), (21, 22), ()],
    ids=["start", "middle", "end", "none"],
)
def test_frames_land_on_their_slots(
    empty: tuple[int, ...], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_mjpg_avi(tmp_path / "v.avi", shade_frames(SLOTS, empty), FPS)
    info = probe_video(path)
    assert info.frame_count_header == SLOTS  # the header counts the empty chunks too
    with caplog.at_level(logging.WARNING, logger="posebench.video"):
        slots, shades, stats, summary = decoded(path)
    present = [i for i in range(SLOTS) if i not in empty]
    assert slots == present
    assert shades == present  # each frame is the one written to its slot
    assert stats.decoded == len(present) and stats.timestamps and stats.duplicates == 0
    assert summary.n_slots == SLOTS  # trailing empty slots count: the header defines them
    assert summary.missing.tolist() == list(empty)
    np.testing.assert_allclose(summary.slots / info.fps, np.array(present) / FPS)  # t = j / fps
    assert summary.metadata() == {
        "n_slots": SLOTS,
        "decoded_frames": len(present),
        "missing_slots": len(empty),
        "missing_slot_indices": list(empty),
        "duplicate_frames_dropped": 0,
        "slot_source": "timestamps",
        "frame_count_header": SLOTS,
    }
    if empty:
        listed = ", ".join(map(str, empty))
        assert f"{len(empty)} of {SLOTS} frame slots are empty" in caplog.text
        assert f"slots {listed})" in caplog.text and "v.avi" in caplog.text
    else:
        assert caplog.text == ""


def test_ntsc_rate_slots(tmp_path: Path) -> None:
    """At 59.94 fps the timestamps are k * 1001 / 60 ms; slots stay integers."""
    path = write_mjpg_avi(tmp_path / "ntsc.avi", shade_frames(12, (0, 4)), 60000 / 1001)
    slots, shades, _, summary = decoded(path)
    assert slots == shades == [1, 2, 3, 5, 6, 7, 8, 9, 10, 11]
    assert summary.n_slots == 12 and summary.missing.tolist() == [0, 4]


@pytest.mark.parametrize("header", [0, 10])
def test_header_that_under_counts_is_overridden(
    header: int, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_mjpg_avi(
        tmp_path / "short.avi", shade_frames(SLOTS, (3,)), FPS, header_frames=header
    )
    assert probe_video(path).frame_count_header == header
    with caplog.at_level(logging.WARNING, logger="posebench.video"):
        slots, _, _, summary = decoded(path)
    assert slots[-1] == SLOTS - 1
    assert summary.n_slots == slot_count(header, SLOTS - 1) == SLOTS
    assert summary.missing.tolist() == [3]
    assert f"frames decode up to slot 22 but the container header says {header} frames" in (
        caplog.text
    )


def test_slot_count() -> None:
    assert slot_count(23, 19) == 23  # empty chunks at the end: the header's count
    assert slot_count(0, 19) == 20
    assert slot_count(-1, 4) == 5  # OpenCV reports -1 for an unknown count
    assert slot_count(10, -1) == 10


def test_nothing_decoded_is_an_error(tmp_path: Path) -> None:
    path = write_mjpg_avi(tmp_path / "v.avi", shade_frames(5, ()), FPS)
    with pytest.raises(VideoError, match=r"No frame of .*v.avi could be decoded"):
        check_decoded_frames(probe_video(path), SlotStats())


class _Clock:
    """A cv2.VideoCapture whose CAP_PROP_POS_MSEC after the i-th read is `msec(i)`."""

    real = cv2.VideoCapture

    def __init__(self, msec: Callable[[int, float], float], path: str) -> None:
        self._capture = self.real(path)
        self._msec = msec
        self._reads = 0

    def read(self) -> tuple[bool, Any]:
        self._reads += 1
        return self._capture.read()  # type: ignore[no-any-return]

    def get(self, prop: int) -> float:
        value = float(self._capture.get(prop))
        if prop == cv2.CAP_PROP_POS_MSEC:
            return self._msec(self._reads - 1, value)
        return value

    def __getattr__(self, name: str) -> Any:
        return getattr(self._capture, name)


def fake_clock(monkeypatch: pytest.MonkeyPatch, msec: Callable[[int, float], float]) -> None:
    monkeypatch.setattr(video_module.cv2, "VideoCapture", lambda path: _Clock(msec, path))


@pytest.mark.parametrize(
    "clock",
    [lambda i, real: 0.0, lambda i, real: -1.0, lambda i, real: float("nan")],
    ids=["stuck-at-zero", "negative", "nan"],
)
def test_unusable_timestamps_fall_back_to_decode_order(
    clock: Callable[[int, float], float],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = write_mjpg_avi(tmp_path / "no_clock.avi", shade_frames(SLOTS, (5, 6, 14)), FPS)
    fake_clock(monkeypatch, clock)
    with caplog.at_level(logging.WARNING, logger="posebench.video"):
        slots, shades, stats, summary = decoded(path)
    assert slots == list(range(20))  # decode order: the dropped frames cannot be located
    assert shades == [i for i in range(SLOTS) if i not in (5, 6, 14)]
    assert not stats.timestamps and stats.fallback_at in (0, 1)
    assert summary.metadata()["slot_source"] == "decode_order"
    assert summary.missing.tolist() == [20, 21, 22]  # the header still defines 23 slots
    assert "no_clock.avi: no usable frame timestamps" in caplog.text
    assert "placing frames in decode order" in caplog.text


def test_timestamps_failing_late_keep_slots_increasing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_mjpg_avi(tmp_path / "late.avi", shade_frames(SLOTS, (5, 6, 14)), FPS)
    fake_clock(monkeypatch, lambda i, real: real if i < 8 else 0.0)
    slots, _, stats, _ = decoded(path)
    # Frames 0-7 by their timestamps (slots 0-4, 7-9), then one slot after another.
    assert slots == [0, 1, 2, 3, 4, 7, 8, 9, *range(10, 22)]
    assert stats.fallback_at == 8


def test_two_frames_on_one_slot_keep_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Variable frame rate: timestamps 0.6 slot apart put some frames on a taken slot."""
    path = write_mjpg_avi(tmp_path / "vfr.avi", shade_frames(10, ()), FPS)
    fake_clock(monkeypatch, lambda i, real: 0.6 * i * 1000 / FPS)
    with caplog.at_level(logging.WARNING, logger="posebench.video"):
        slots, shades, stats, summary = decoded(path)
    # 0.6 i rounds to 0, 1, 1, 2, 2, 3, 4, 4, 5, 5: the first frame of each slot stays.
    assert slots == [0, 1, 2, 3, 4, 5]
    assert shades == [0, 1, 3, 5, 6, 8]
    assert stats.duplicates == 4 and summary.duplicates == 4
    assert summary.n_slots == 10 and summary.missing.tolist() == [6, 7, 8, 9]
    assert "vfr.avi: 4 decoded frames fell on a slot already taken" in caplog.text


def test_implausible_timestamps_are_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_mjpg_avi(tmp_path / "jump.avi", shade_frames(5, ()), FPS)
    fake_clock(monkeypatch, lambda i, real: real if i < 4 else 1e6)
    with pytest.raises(VideoError, match=r"jump.avi: the frame timestamps place .* implausible"):
        decoded(path)


# --------------------------------------------------------------------------- oracle, pose2d


@pytest.fixture(scope="module")
def subject(test_dataset: Path) -> SyntheticSubject:
    """The checked-in synthetic subject (`.test/`), as its generator's summary
    (`generated.json`) and files describe it."""
    summary = json.loads((test_dataset / "generated.json").read_text())
    settings = summary["settings"]
    subject_dir = test_dataset / summary["subject_dir"]
    trials = tuple(SyntheticTrial(**trial) for trial in summary["trials"])
    first = trials[0].name
    markers = read_trc(subject_dir / "MarkerData" / "Mocap" / f"{first}.trc")
    motion = read_mot(subject_dir / "OpenSimData" / "Mocap" / "IK" / f"{first}.mot")
    width, height = summary["image_size"]
    return SyntheticSubject(
        subject_dir=subject_dir,
        subject=summary["subject"],
        trials=trials,
        cameras=tuple(summary["cameras"]),
        marker_names=markers.marker_names,
        coordinate_names=tuple(motion.table.columns[1:]),
        fps=summary["fps"],
        mocap_rate_hz=summary["mocap_rate_hz"],
        image_size=(width, height),
        mass_kg=settings["mass_kg"],
        height_m=settings["height_m"],
        seed=settings["seed"],
    )


TRIAL = "walking1"  # 2 s at 10 fps: 21 frame slots
# Cam0 drops frames in the middle and the last one, Cam2 the first ones and others; every
# slot keeps at least two cameras. Cam1 is left whole.
DROPPED = {"Cam0": (6, 7, 8, 13, 20), "Cam2": (0, 1, 10, 14, 15, 17)}


def drop_frames(source: Path, target: Path, dropped: Sequence[int]) -> Path:
    """Re-write `source` as an MJPG AVI with the chunks of slots `dropped` empty."""
    capture = cv2.VideoCapture(str(source))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames: list[np.ndarray | None] = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(None if len(frames) in dropped else frame)
    capture.release()
    return write_mjpg_avi(target, frames, fps)


def oracle(video: Path, output: Path) -> Keypoints2D:
    return pose2d.run(
        video, output, model_name="oracle", backend="oracle", marker_set="anatomical",
        options={}, batch_size=16,
    )  # fmt: skip


@pytest.fixture(scope="module")
def keypoints(
    subject: SyntheticSubject, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Path]]:
    """Keypoint files of every camera, from the whole videos ("whole") and from videos of
    Cam0 and Cam2 re-written with DROPPED frames ("dropped")."""
    out = tmp_path_factory.mktemp("keypoints")
    files: dict[str, dict[str, Path]] = {"whole": {}, "dropped": {}}
    for camera in subject.cameras:
        video = subject.video(TRIAL, camera)
        files["whole"][camera] = out / "whole" / f"{camera}.npz"
        oracle(video, files["whole"][camera])
        if camera in DROPPED:
            # A copy of the trial folder (the oracle finds the projection next to the video).
            folder = out / "dropped" / camera / TRIAL
            folder.mkdir(parents=True)
            projection = subject.oracle_keypoints(TRIAL, camera)
            (folder / projection.name).write_bytes(projection.read_bytes())
            video = drop_frames(video, folder / video.name, DROPPED[camera])
        files["dropped"][camera] = out / "dropped" / f"{camera}.npz"
        oracle(video, files["dropped"][camera])
    return files


def test_pose2d_puts_oracle_keypoints_on_their_slots(
    subject: SyntheticSubject, keypoints: dict[str, dict[str, Path]]
) -> None:
    n_slots = subject.trial(TRIAL).n_video_frames
    mapped = [ANATOMICAL.keypoints.index(k) for k in ANATOMICAL.markers]
    for camera in subject.cameras:
        result = load_keypoints(keypoints["dropped"][camera])
        projection = load_keypoints(subject.oracle_keypoints(TRIAL, camera))
        dropped = list(DROPPED.get(camera, ()))
        present = [i for i in range(n_slots) if i not in dropped]
        assert result.n_frames == n_slots, camera
        assert np.isnan(result.keypoints_px[dropped]).all() and (result.scores[dropped] == 0).all()
        assert result.detected_frames()[present].all()
        columns = [projection.keypoint_names.index(m) for m in ANATOMICAL.markers.values()]
        np.testing.assert_array_equal(
            result.keypoints_px[present][:, mapped],
            projection.keypoints_px[present][:, columns],
            err_msg=camera,
        )
        slots = result.metadata["slots"]
        assert slots["n_slots"] == n_slots and slots["slot_source"] == "timestamps"
        assert slots["missing_slots"] == len(dropped)
        assert slots["missing_slot_indices"] == dropped
        assert slots["decoded_frames"] == len(present)


def test_cameras_with_different_dropped_frames_triangulate_in_step(
    subject: SyntheticSubject, keypoints: dict[str, dict[str, Path]], tmp_path: Path
) -> None:
    session = subject.trial(TRIAL).session
    info = probe_video(subject.video(TRIAL, subject.cameras[0]))
    cameras = [
        read_camera(subject.calibration(session, name), name, (info.width, info.height))
        for name in subject.cameras
    ]
    calibration = tmp_path / "calibration.json"
    save_cameras(
        calibration,
        cameras,
        metadata={"world_to_opensim": board_to_opensim("backWall", cameras[0].rotation).tolist()},
    )
    assert subject.calibration(session, "Cam0").name == CALIBRATION_FILE
    settings = TriangulationSettings(filter_cutoff_hz=None)
    trcs = {}
    for run in ("whole", "dropped"):
        trcs[run] = tmp_path / f"{run}.trc"
        report = triangulate.run(
            [keypoints[run][c] for c in subject.cameras],
            list(subject.cameras),
            calibration,
            "anatomical",
            output_trc=trcs[run],
            output_reprojection=tmp_path / f"{run}.csv",
            output_report=tmp_path / f"{run}.json",
            settings=settings,
        )
        assert report.video_frames == subject.trial(TRIAL).n_video_frames
        assert report.mean_reprojection_error_px is not None
        assert report.mean_reprojection_error_px < 0.01
    whole, dropped = read_trc(trcs["whole"]), read_trc(trcs["dropped"])
    np.testing.assert_array_equal(dropped.times_s, whole.times_s)
    # Every slot keeps two cameras: the same markers as without dropped frames.
    np.testing.assert_allclose(dropped.positions_m, whole.positions_m, atol=2e-5)
    # ... and as the generating markers at the mocap samples on a video frame's time (the
    # TRC is resampled to 100 Hz; at 10 Hz and 10 fps every mocap sample is on a frame).
    truth = read_trc(subject.mocap_markers(TRIAL))
    columns = [truth.marker_names.index(name) for name in dropped.marker_names]
    n_frames = subject.trial(TRIAL).n_video_frames
    video_ms = {round(1000 * j / subject.fps) for j in range(n_frames)}
    common = [k for k, t in enumerate(truth.times_s) if round(1000 * t) in video_ms]
    assert len(common) == n_frames
    frames = {round(1000 * t): i for i, t in enumerate(dropped.times_s)}
    np.testing.assert_allclose(
        dropped.positions_m[[frames[round(1000 * truth.times_s[k])] for k in common]],
        truth.positions_m[common][:, columns],
        atol=1e-4,
    )


# --------------------------------------------------------------------------- detection, vitpose

WIDTH, HEIGHT, FIGURE_SLOTS = 320, 240, 12
FIGURE_DROPPED = (0, 5, 6, 11)


def figure_frames(dropped: Sequence[int]) -> list[np.ndarray | None]:
    """A figure (head and body) moving right by 10 px a slot, None on `dropped` slots."""
    frames: list[np.ndarray | None] = []
    for i in range(FIGURE_SLOTS):
        image = np.full((HEIGHT, WIDTH, 3), 40, np.uint8)
        x = 60 + 10 * i
        cv2.rectangle(image, (x, 60), (x + 50, 200), (200, 120, 80), -1)
        cv2.circle(image, (x + 25, 40), 18, (220, 200, 180), -1)
        frames.append(None if i in dropped else image)
    return frames


def slot_box(slot: int) -> list[float]:
    """A small box of its own for each slot: crops of neighbouring slots barely overlap."""
    x, y = 10.0 + 20 * slot, 10.0 + 15 * slot
    return [x, y, x + 16, y + 32]


@pytest.fixture(scope="module")
def figure_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("figure") / "cam01.avi"
    return write_mjpg_avi(path, figure_frames(FIGURE_DROPPED), 30.0)


def test_detect_video_has_one_row_per_slot(figure_video: Path, tmp_path: Path) -> None:
    weights = build_rtdetr(tmp_path / "rtdetr-tiny")
    output = tmp_path / "detections.npz"
    detect.run(
        figure_video, weights, output, detector_name="rtdetr-tiny", score_threshold=0.0,
        batch_size=3, device="cpu",
    )  # fmt: skip
    track = load_detections(output)
    present = [i for i in range(FIGURE_SLOTS) if i not in FIGURE_DROPPED]
    assert track.n_frames == FIGURE_SLOTS and track.frame_count_header == FIGURE_SLOTS
    assert track.found()[present].all()  # threshold 0: a box on every decoded frame
    assert not track.found()[list(FIGURE_DROPPED)].any()
    assert (track.scores[list(FIGURE_DROPPED)] == 0).all()
    assert track.slots["missing_slot_indices"] == list(FIGURE_DROPPED)
    assert track.slots["missing_slots"] == len(FIGURE_DROPPED)
    assert track.slots["slot_source"] == "timestamps"


def hand_track(slots: int, header: int = FIGURE_SLOTS) -> DetectionTrack:
    """`slot_box` on every one of `slots` slots."""
    return DetectionTrack(
        boxes=np.array([slot_box(i) for i in range(slots)], np.float32),
        scores=np.full(slots, 0.9, np.float32),
        detector="hand",
        score_threshold=0.8,
        fps=30.0,
        image_size=(WIDTH, HEIGHT),
        video="cam01.avi",
        frame_count_header=header,
    )


def vitpose(video: Path, output: Path, weights: Path, detections: Path) -> None:
    pose2d.run(
        video, output, model_name="coco-tiny", backend="vitpose", marker_set="coco17",
        options={"device": "cpu"}, batch_size=4, weights_dir=weights, detections=detections,
    )  # fmt: skip


def test_vitpose_takes_each_frames_box_by_slot(figure_video: Path, tmp_path: Path) -> None:
    weights = build_vitpose(tmp_path / "coco-tiny", 17)
    detections = tmp_path / "hand.npz"
    save_detections(detections, hand_track(FIGURE_SLOTS))
    output = tmp_path / "coco.npz"
    vitpose(figure_video, output, weights, detections)
    result = load_keypoints(output)
    present = [i for i in range(FIGURE_SLOTS) if i not in FIGURE_DROPPED]
    assert result.n_frames == FIGURE_SLOTS
    assert np.isnan(result.keypoints_px[list(FIGURE_DROPPED)]).all()
    assert result.detected_frames()[present].all()
    assert result.metadata["slots"]["missing_slot_indices"] == list(FIGURE_DROPPED)
    for slot in present:  # keypoints lie in the crop of the slot's own box
        x1, y1, x2, y2 = slot_box(slot)
        points = result.keypoints_px[slot][result.scores[slot] > 0]
        centre = np.array([(x1 + x2) / 2, (y1 + y2) / 2])
        # The box widened to the 192:256 input and padded by 25 %.
        half = 1.25 * np.array([(y2 - y1) * 192 / 256, y2 - y1]) / 2
        assert len(points) > 0
        assert (np.abs(points - centre) <= 1.1 * half).all(), slot

    short = tmp_path / "short.npz"
    save_detections(short, hand_track(FIGURE_SLOTS - 2))
    with pytest.raises(
        BackendError, match=r"short.npz holds 10 frame slots, video .*cam01.avi has at least 12"
    ):
        vitpose(figure_video, tmp_path / "x.npz", weights, short)
    long = tmp_path / "long.npz"
    save_detections(long, hand_track(FIGURE_SLOTS + 3))
    with pytest.raises(
        BackendError, match=r"long.npz holds 15 frame slots, video .*cam01.avi has 12.*re-run"
    ):
        vitpose(figure_video, tmp_path / "x.npz", weights, long)
    assert not (tmp_path / "x.npz").exists()
