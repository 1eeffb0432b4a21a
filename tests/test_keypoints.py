"""Per-camera keypoint files: round trip, NaN convention, errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from posebench.io.keypoints import KeypointFileError, Keypoints2D, load_keypoints, save_keypoints


def sample(frames: int = 5, count: int = 3) -> Keypoints2D:
    rng = np.random.default_rng(0)
    scores = rng.uniform(0.2, 1.0, (frames, count)).astype(np.float32)
    scores[2] = 0.0  # no person in frame 2
    return Keypoints2D(
        keypoints_px=rng.uniform(0, 1000, (frames, count, 2)).astype(np.float32),
        scores=scores,
        keypoint_names=("a", "b", "c")[:count],
        fps=59.94,
        image_size=(1080, 1920),
        model="test-model",
        metadata={"video": "v.mp4"},
    )


def test_round_trip_and_undetected_frames_are_nan(tmp_path: Path) -> None:
    data = sample()
    path = tmp_path / "cam.npz"
    save_keypoints(path, data)
    loaded = load_keypoints(path)
    assert loaded.keypoint_names == data.keypoint_names
    assert loaded.fps == pytest.approx(59.94)
    assert loaded.image_size == (1080, 1920)
    assert loaded.model == "test-model"
    assert loaded.metadata == {"video": "v.mp4"}
    assert np.isnan(loaded.keypoints_px[2]).all()
    assert (loaded.scores[2] == 0).all()
    np.testing.assert_array_equal(
        loaded.keypoints_px[[0, 1, 3, 4]], data.keypoints_px[[0, 1, 3, 4]]
    )
    assert loaded.detected_frames().tolist() == [True, True, False, True, True]


def test_inconsistent_names_are_rejected() -> None:
    data = sample()
    with pytest.raises(KeypointFileError, match="3 keypoints but 2 keypoint names"):
        Keypoints2D(data.keypoints_px, data.scores, ("a", "b"), 60.0, (10, 10), "m")


def test_missing_and_corrupt_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(KeypointFileError, match="absent.npz does not exist.*rule pose2d"):
        load_keypoints(tmp_path / "absent.npz")
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(b"not a zip")
    with pytest.raises(KeypointFileError, match="corrupt.npz"):
        load_keypoints(corrupt)


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # truncated: a zip without its directory
        lambda data: data[:-30],  # the end of the central directory cut off
        lambda data: data[:200] + bytes(200) + data[400:],  # compressed bytes zeroed
        lambda data: bytes(range(256)) * 8,  # random bytes
        lambda data: b"",  # empty
    ],
    ids=["half", "tail", "zeroed", "random", "empty"],
)
def test_damaged_archives_name_the_file_and_the_rule(tmp_path: Path, damage: Any) -> None:
    path = tmp_path / "results" / "pose2d" / "d" / "s" / "se" / "t" / "m" / "cam01.npz"
    save_keypoints(path, sample())
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(KeypointFileError) as raised:
        load_keypoints(path)
    message = str(raised.value)
    assert message.startswith(f"Cannot read keypoint file {path}: ")
    assert "--forcerun pose2d" in message
    assert "allow_pickle" not in message


def test_same_content_gives_the_same_bytes(tmp_path: Path) -> None:
    first, second = tmp_path / "a.npz", tmp_path / "b.npz"
    save_keypoints(first, sample())
    save_keypoints(second, sample())
    assert first.read_bytes() == second.read_bytes()


def test_a_frame_needs_a_scored_keypoint_with_a_position() -> None:
    data = sample()
    data.keypoints_px[3] = np.nan  # scores stay positive, positions are gone
    data.keypoints_px[4, :2] = np.nan  # one keypoint of three keeps its position
    assert data.detected_frames().tolist() == [True, True, False, False, True]
