"""Tests of the stage `triangulate` on a synthetic BlazePose trial seen by 4 cameras: its core
(`reconstruction.reconstruct`: arrays in, markers and report out) and its shell
(`stages.triangulate.run`: keypoint files in, TRC, CSV and JSON report out).

The truth is an analytic skeleton (33 BlazePose keypoints moving smoothly, world frame z-up),
projected through calibrated cameras with lens distortion (and saved as keypoint files for
the shell), so the reconstructed markers can be compared with the truth rotated into
OpenSim's frame.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

from posebench.camera import Camera, save_cameras
from posebench.io.errors import UnreadableFileError
from posebench.io.keypoints import Keypoints2D, load_keypoints, save_keypoints
from posebench.io.trc import TrcData, read_trc
from posebench.markersets import MarkerSetError, get_marker_set
from posebench.reconstruction import TriangulationSettings, reconstruct
from posebench.reports.triangulation import TriangulationReport
from posebench.skeletons import BLAZEPOSE_KEYPOINTS
from posebench.stages.triangulate import run
from posebench.triangulation import (
    mirror_permutation,
    reprojection_errors_px,
    triangulate_robust,
)
from posebench.views import ReconstructionError, TrialViews

FloatArray = npt.NDArray[np.float64]

FPS = 60.0
N_FRAMES = 60
IMAGE_SIZE = (1920, 1080)  # width, height in pixels
CAMERA_NAMES = ("cam0", "cam1", "cam2", "cam3")
WORLD_TO_OPENSIM = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])  # z-up -> y-up
MARKERS = get_marker_set("blazepose")
# Filter off and output rate = video rate: every step after triangulation is the identity.
EXACT = TriangulationSettings(
    filter_cutoff_hz=None, output_rate_hz=FPS, max_reprojection_error_px=None
)

# Left half of a standing body (x: to the person's left, y: forward, z: up; metres). Right
# keypoints mirror x; left/right pairs of the body are 0.24-0.52 m apart.
_LEFT_SIDE = {
    "left_eye_inner": (0.015, 0.09, 1.66),
    "left_eye": (0.035, 0.085, 1.66),
    "left_eye_outer": (0.05, 0.08, 1.66),
    "left_ear": (0.08, 0.0, 1.63),
    "mouth_left": (0.025, 0.09, 1.56),
    "left_shoulder": (0.2, 0.0, 1.45),
    "left_elbow": (0.24, -0.03, 1.15),
    "left_wrist": (0.26, 0.04, 0.88),
    "left_pinky": (0.27, 0.05, 0.8),
    "left_index": (0.25, 0.07, 0.8),
    "left_thumb": (0.23, 0.07, 0.83),
    "left_hip": (0.12, 0.0, 0.95),
    "left_knee": (0.13, 0.03, 0.52),
    "left_ankle": (0.13, 0.0, 0.09),
    "left_heel": (0.13, -0.06, 0.04),
    "left_foot_index": (0.15, 0.16, 0.02),
}


def _template() -> FloatArray:
    points = []
    for name in BLAZEPOSE_KEYPOINTS:
        if name == "nose":
            points.append((0.0, 0.11, 1.6))
        elif name in _LEFT_SIDE:
            points.append(_LEFT_SIDE[name])
        else:
            x, y, z = _LEFT_SIDE[name.replace("right", "left")]
            points.append((-x, y, z))
    return np.array(points)


TEMPLATE = _template()
_RNG = np.random.default_rng(2024)
AMPLITUDE = _RNG.uniform(0.02, 0.06, size=TEMPLATE.shape)
PHASE = _RNG.uniform(0.0, 2 * np.pi, size=TEMPLATE.shape)


def skeleton(times_s: npt.ArrayLike) -> FloatArray:
    """(T, 33, 3) world points (z-up, metres) at the given times: limbs swing at 1 Hz, the
    body turns by 0.4 +- 0.3 rad about z and sways by up to 0.15 m."""
    t = np.asarray(times_s, dtype=np.float64)[:, None]
    local = TEMPLATE + AMPLITUDE * np.sin(2 * np.pi * 1.0 * t[..., None] + PHASE)
    yaw = 0.4 + 0.3 * np.sin(2 * np.pi * 0.5 * t)
    cos, sin = np.cos(yaw), np.sin(yaw)
    x = cos * local[..., 0] - sin * local[..., 1] + 0.15 * np.sin(2 * np.pi * 0.4 * t)
    y = sin * local[..., 0] + cos * local[..., 1] + 0.1 * np.sin(2 * np.pi * 0.3 * t + 1.0)
    z = local[..., 2] + 0.02 * np.sin(2 * np.pi * 0.7 * t)
    return np.stack([x, y, z], axis=-1)


def truth_markers(times_s: npt.ArrayLike) -> FloatArray:
    """(T, 25, 3) TRC markers in OpenSim's frame at the given times."""
    return MARKERS.marker_positions(skeleton(times_s)) @ WORLD_TO_OPENSIM.T


def make_cameras() -> list[Camera]:
    """Four cameras 4 m around the origin at 45, 135, 225 and 315 deg, 1.5 m high, aimed at
    (0, 0, 0.9) m, each with its own slightly different intrinsics and small distortion."""
    cameras = []
    target = np.array([0.0, 0.0, 0.9])
    for index, angle in enumerate(np.deg2rad([45.0, 135.0, 225.0, 315.0])):
        centre = np.array([4.0 * np.cos(angle), 4.0 * np.sin(angle), 1.5])
        forward = (target - centre) / np.linalg.norm(target - centre)
        right = np.cross(forward, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        rotation = np.stack([right, np.cross(forward, right), forward])
        matrix = np.array(
            [[1450.0 + 10 * index, 0.0, 962.0 - index], [0.0, 1452.0 + 10 * index, 538.0 + index],
             [0.0, 0.0, 1.0]]
        )  # fmt: skip
        distortion = [-0.04 - 0.005 * index, 0.012, 0.0004, -0.0003, 0.0]
        cameras.append(
            Camera(
                CAMERA_NAMES[index], matrix, distortion, rotation, -rotation @ centre, IMAGE_SIZE
            )
        )
    return cameras


CAMERAS = make_cameras()


def clean_views() -> tuple[FloatArray, FloatArray]:
    """(C, F, 33, 2) pixel keypoints of the truth at k / FPS, and (C, F, 33) scores of 0.9."""
    points = skeleton(np.arange(N_FRAMES) / FPS)
    keypoints = np.stack([camera.project(points) for camera in CAMERAS])
    return keypoints, np.full(keypoints.shape[:3], 0.9)


def delayed_views(delays: dict[int, int]) -> tuple[FloatArray, FloatArray]:
    """clean_views() with camera c out of sync by delays[c] frames: its frame j shows the truth
    at (j - delays[c]) / FPS (positive: it lags, negative: it leads). The keypoints move by a
    median 1.6 px per frame (limbs at 1 Hz, turning and swaying), so an offset of k frames
    costs the camera about 1.6 k px of median reprojection error."""
    keypoints, scores = clean_views()
    for index, delay in delays.items():
        keypoints[index] = CAMERAS[index].project(skeleton((np.arange(N_FRAMES) - delay) / FPS))
    return keypoints, scores


def write_trial(
    folder: Path,
    keypoints: FloatArray,
    scores: FloatArray,
    names: tuple[str, ...] = BLAZEPOSE_KEYPOINTS,
    cameras: list[Camera] = CAMERAS,
    fps: float = FPS,
    metadata: dict[str, Any] | None = None,
) -> tuple[list[Path], Path]:
    """Save one keypoint file per camera (videos at `fps`) and the calibration (with
    `metadata` added to its own); return their paths."""
    files = []
    for name, camera_keypoints, camera_scores in zip(CAMERA_NAMES, keypoints, scores, strict=True):
        path = folder / "pose2d" / f"{name}.npz"
        save_keypoints(
            path,
            Keypoints2D(
                keypoints_px=np.asarray(camera_keypoints, dtype=np.float32),
                scores=np.asarray(camera_scores, dtype=np.float32),
                keypoint_names=names,
                fps=fps,
                image_size=IMAGE_SIZE,
                model="synthetic",
            ),
        )
        files.append(path)
    calibration = folder / "calibration.json"
    save_cameras(
        calibration,
        cameras,
        metadata={"world_to_opensim": WORLD_TO_OPENSIM.tolist(), **(metadata or {})},
    )
    return files, calibration


def reconstruct_files(
    folder: Path, files: list[Path], calibration: Path, settings: TriangulationSettings
) -> tuple[dict[str, Any], TrcData]:
    """Run the stage into `folder/out`; return the report as written (checked against the
    returned report) and the TRC."""
    out = folder / "out"
    report = run(
        files,
        CAMERA_NAMES,
        calibration,
        "blazepose",
        output_trc=out / "trial.trc",
        output_reprojection=out / "reprojection.csv",
        output_report=out / "report.json",
        settings=settings,
    )
    content = json.loads((out / "report.json").read_text())
    assert content == report.to_json()
    assert TriangulationReport.read(out / "report.json", require_all=True) == report
    trc = read_trc(out / "trial.trc")
    assert trc.marker_names == MARKERS.marker_names
    return content, trc


def test_exact_reconstruction_matches_truth(tmp_path: Path) -> None:
    files, calibration = write_trial(tmp_path, *clean_views())
    report, trc = reconstruct_files(tmp_path, files, calibration, EXACT)

    frames = np.arange(N_FRAMES)
    np.testing.assert_allclose(trc.times_s, frames / FPS, atol=5e-7)
    np.testing.assert_array_equal(trc.frame_numbers, frames + 1)
    assert trc.data_rate_hz == FPS and trc.units == "m" and len(MARKERS.marker_names) == 25
    np.testing.assert_allclose(trc.positions_m, truth_markers(frames / FPS), atol=1e-6, rtol=0)
    assert report["mean_reprojection_error_px"] < 1e-3
    assert report["output_frames"] == report["video_frames"] == N_FRAMES
    assert report["trimmed_leading_frames"] == report["trimmed_trailing_frames"] == 0
    assert report["dropped_empty_frames"] == report["gap_filled_samples"] == 0
    assert report["left_right_swapped_frames"] == dict.fromkeys(CAMERA_NAMES, 0)
    assert report["views_rejected_fraction"] == 0.0
    assert report["marker_valid_fraction"] == dict.fromkeys(MARKERS.marker_names, 1.0)
    assert report["cameras"] == report["cameras_used"] == report["cameras_configured"]
    assert report["cameras_configured"] == list(CAMERA_NAMES) and report["cameras_dropped"] == {}
    assert [q["detection_fraction"] for q in report["camera_quality"].values()] == [1.0] * 4
    assert all(q["median_reprojection_error_px"] < 1e-3 for q in report["camera_quality"].values())

    table = pd.read_csv(tmp_path / "out" / "reprojection.csv")
    assert list(table["keypoint"]) == list(BLAZEPOSE_KEYPOINTS)
    assert table["marker"].fillna("").tolist() == [
        MARKERS.markers.get(name, "") for name in BLAZEPOSE_KEYPOINTS
    ]
    assert (table["observations"] == len(CAMERAS) * N_FRAMES).all()
    assert table["mean_error_px"].max() < 1e-3 and (table["triangulated_fraction"] == 1.0).all()


def test_frames_without_person_are_trimmed(tmp_path: Path) -> None:
    keypoints, scores = clean_views()
    missing = np.r_[0:5, N_FRAMES - 3 : N_FRAMES]  # no person in any camera
    keypoints[:, missing] = np.nan
    scores[:, missing] = 0.0
    files, calibration = write_trial(tmp_path, keypoints, scores)
    report, trc = reconstruct_files(tmp_path, files, calibration, EXACT)

    kept = np.arange(5, N_FRAMES - 3)
    np.testing.assert_allclose(trc.times_s, kept / FPS, atol=5e-7)
    np.testing.assert_array_equal(trc.frame_numbers, kept + 1)
    assert np.isfinite(trc.positions_m).all()
    assert (trc.positions_m != 0).any(axis=-1).all()  # no marker put at the origin
    np.testing.assert_allclose(trc.positions_m, truth_markers(kept / FPS), atol=1e-6, rtol=0)
    assert report["trimmed_leading_frames"] == 5 and report["trimmed_trailing_frames"] == 3
    assert report["output_frames"] == kept.size and report["video_frames"] == N_FRAMES
    assert report["start_time_s"] == pytest.approx(5 / FPS)
    assert report["dropped_empty_frames"] == 0


def test_short_gaps_are_filled_and_long_empty_stretches_dropped(tmp_path: Path) -> None:
    keypoints, scores = clean_views()
    short, long = np.arange(15, 19), np.arange(30, 45)  # 4 and 15 frames; max_gap_s=0.2 -> 12
    keypoints[:, np.r_[short, long]] = np.nan
    scores[:, np.r_[short, long]] = 0.0
    files, calibration = write_trial(tmp_path, keypoints, scores)
    report, trc = reconstruct_files(tmp_path, files, calibration, EXACT)

    kept = np.setdiff1d(np.arange(N_FRAMES), long)
    np.testing.assert_allclose(trc.times_s, kept / FPS, atol=5e-7)
    np.testing.assert_array_equal(trc.frame_numbers, kept + 1)
    truth = truth_markers(kept / FPS)
    filled = np.isin(kept, short)
    np.testing.assert_allclose(trc.positions_m[~filled], truth[~filled], atol=1e-6, rtol=0)
    np.testing.assert_allclose(trc.positions_m[filled], truth[filled], atol=0.01, rtol=0)
    assert report["dropped_empty_frames"] == long.size
    assert report["gap_filled_samples"] == short.size * len(MARKERS.marker_names)
    assert report["output_frames"] == kept.size
    assert report["trimmed_leading_frames"] == report["trimmed_trailing_frames"] == 0


def test_frame_count_mismatch(tmp_path: Path) -> None:
    keypoints, scores = clean_views()
    files, calibration = write_trial(tmp_path, keypoints, scores)
    save_keypoints(  # cam2's video is 3 frames shorter
        files[2],
        Keypoints2D(
            keypoints[2, :-3].astype(np.float32),
            scores[2, :-3].astype(np.float32),
            BLAZEPOSE_KEYPOINTS,
            FPS,
            IMAGE_SIZE,
            "synthetic",
        ),
    )
    with pytest.raises(ReconstructionError, match="Frame counts differ") as error:
        reconstruct_files(tmp_path, files, calibration, EXACT)
    message = str(error.value)
    assert "cam2.npz: 57" in message and "cam0.npz: 60" in message
    assert "max_frame_mismatch=0" in message

    with pytest.raises(ReconstructionError, match="max_frame_mismatch=2"):
        reconstruct_files(tmp_path, files, calibration, replace(EXACT, max_frame_mismatch=2))
    report, trc = reconstruct_files(
        tmp_path, files, calibration, replace(EXACT, max_frame_mismatch=3)
    )
    frames = np.arange(N_FRAMES - 3)
    assert report["video_frames"] == report["output_frames"] == frames.size
    np.testing.assert_allclose(trc.times_s, frames / FPS, atol=5e-7)
    np.testing.assert_allclose(trc.positions_m, truth_markers(frames / FPS), atol=1e-6, rtol=0)


def test_keypoints_of_another_marker_set_are_rejected(tmp_path: Path) -> None:
    keypoints, scores = clean_views()
    files, calibration = write_trial(tmp_path, keypoints, scores)
    coco = tuple(f"kp{i}" for i in range(17))
    save_keypoints(
        files[1],
        Keypoints2D(
            keypoints[1, :, :17].astype(np.float32),
            scores[1, :, :17].astype(np.float32),
            coco,
            FPS,
            IMAGE_SIZE,
            "coco17",
        ),
    )
    with pytest.raises(MarkerSetError, match="outputs 17 keypoints but marker set 'blazepose' "):
        reconstruct_files(tmp_path, files, calibration, EXACT)
    with pytest.raises(MarkerSetError, match=r"cam1\.npz.*expects 33 in this order: nose, "):
        reconstruct_files(tmp_path, files, calibration, EXACT)
    assert not (tmp_path / "out" / "trial.trc").exists()


def test_camera_missing_from_calibration(tmp_path: Path) -> None:
    files, _ = write_trial(tmp_path, *clean_views())
    calibration = tmp_path / "three_cameras.json"
    save_cameras(calibration, CAMERAS[:3], metadata={"world_to_opensim": WORLD_TO_OPENSIM.tolist()})
    with pytest.raises(ReconstructionError, match=r"\['cam3'\] have keypoints but no calibration"):
        reconstruct_files(tmp_path, files, calibration, EXACT)


def test_left_right_swaps_of_one_camera_are_corrected(tmp_path: Path) -> None:
    keypoints, scores = clean_views()
    scores += np.random.default_rng(8).uniform(-0.05, 0.05, size=scores.shape)
    frames = np.arange(20, 35)
    permutation = mirror_permutation(BLAZEPOSE_KEYPOINTS)
    keypoints[1, frames] = keypoints[1, frames][:, permutation]
    scores[1, frames] = scores[1, frames][:, permutation]
    files, calibration = write_trial(tmp_path, keypoints, scores)
    truth = truth_markers(np.arange(N_FRAMES) / FPS)

    report, trc = reconstruct_files(tmp_path, files, calibration, EXACT)
    assert report["left_right_swapped_frames"] == {"cam0": 0, "cam1": 15, "cam2": 0, "cam3": 0}
    np.testing.assert_allclose(trc.positions_m, truth, atol=1e-6, rtol=0)
    assert report["mean_reprojection_error_px"] < 1e-3

    report, trc = reconstruct_files(
        tmp_path, files, calibration, replace(EXACT, fix_left_right_swaps=False)
    )
    assert report["left_right_swapped_frames"] == dict.fromkeys(CAMERA_NAMES, 0)
    error = np.linalg.norm(trc.positions_m - truth, axis=-1).max(axis=-1)
    clean_frames = np.setdiff1d(np.arange(N_FRAMES), frames)
    assert error[frames].min() > 0.02 and error[clean_frames].max() < 1e-6
    assert report["mean_reprojection_error_px"] > 1.0


def test_resampling_to_100_hz(tmp_path: Path) -> None:
    files, calibration = write_trial(tmp_path, *clean_views())
    settings = replace(EXACT, output_rate_hz=TriangulationSettings().output_rate_hz)
    assert settings.output_rate_hz == 100.0
    report, trc = reconstruct_files(tmp_path, files, calibration, settings)

    grid = np.arange(int((N_FRAMES - 1) / FPS * 100) + 1)  # k / 100 up to the last video frame
    assert grid[-1] == 98
    np.testing.assert_allclose(trc.times_s, grid / 100, atol=5e-7)
    np.testing.assert_array_equal(trc.frame_numbers, grid + 1)
    assert trc.data_rate_hz == 100.0 and report["output_frames"] == grid.size
    on_video_frames = grid % 5 == 0  # k / 100 = (3k/5) / 60: a video frame when 5 divides k
    truth = truth_markers(grid / 100)
    np.testing.assert_allclose(
        trc.positions_m[on_video_frames], truth[on_video_frames], atol=1e-6, rtol=0
    )
    np.testing.assert_allclose(trc.positions_m, truth, atol=1e-3, rtol=0)


def test_default_settings_stay_close_to_truth(tmp_path: Path) -> None:
    files, calibration = write_trial(tmp_path, *clean_views())
    report, trc = reconstruct_files(tmp_path, files, calibration, TriangulationSettings())
    grid = np.arange(99)
    np.testing.assert_allclose(trc.times_s, grid / 100, atol=5e-7)
    np.testing.assert_allclose(trc.positions_m, truth_markers(grid / 100), atol=1e-3, rtol=0)
    assert report["filter_cutoff_hz"] == 12.0 and report["views_rejected_fraction"] == 0.0


def test_config_defaults_match_settings() -> None:
    import yaml
    from snakemake.utils import validate

    root = Path(__file__).parents[1]
    config = yaml.safe_load((root / "config" / "config.yaml").read_text())
    del config["triangulation"]["min_detection_fraction"]  # the schema fills it in
    validate(config, str(root / "workflow" / "schemas" / "config.schema.yaml"))
    settings = TriangulationSettings.from_config(config["triangulation"])
    assert settings == TriangulationSettings() and settings.min_detection_fraction == 0.2


@pytest.mark.parametrize("blind", ["nan_keypoints", "zero_scores"])
def test_blind_camera_is_dropped_and_reported(
    tmp_path: Path, blind: str, caplog: pytest.LogCaptureFixture
) -> None:
    keypoints, scores = clean_views()
    if blind == "nan_keypoints":
        keypoints[2] = np.nan  # scores stay 0.9: no position, so no detection
    else:
        scores[2] = 0.0
    files, calibration = write_trial(tmp_path, keypoints, scores)
    with caplog.at_level(logging.WARNING, logger="posebench.views"):
        report, trc = reconstruct_files(tmp_path, files, calibration, EXACT)

    reason = "cam2 dropped: person detected in 0 of 60 frames (0%; min_detection_fraction 0.2)"
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith(reason)
    assert "triangulation.min_detection_fraction" in warnings[0]
    assert report["cameras_configured"] == list(CAMERA_NAMES)
    assert report["cameras_used"] == report["cameras"] == ["cam0", "cam1", "cam3"]
    assert report["cameras_dropped"] == {"cam2": reason}
    assert report["camera_quality"]["cam2"] == {
        "detection_fraction": 0.0,
        "median_reprojection_error_px": None,
    }
    assert report["camera_quality"]["cam1"]["detection_fraction"] == 1.0
    assert report["camera_quality"]["cam1"]["median_reprojection_error_px"] < 1e-3
    assert set(report["left_right_swapped_frames"]) == {"cam0", "cam1", "cam3"}
    frames = np.arange(N_FRAMES)
    np.testing.assert_allclose(trc.positions_m, truth_markers(frames / FPS), atol=1e-6, rtol=0)


def test_camera_below_the_detection_fraction_is_dropped(tmp_path: Path) -> None:
    keypoints, scores = clean_views()
    keypoints[1, 11:] = np.nan  # cam1 sees the person in 11 of 60 frames (18%)
    scores[1, 11:] = 0.0
    files, calibration = write_trial(tmp_path, keypoints, scores)
    report, _ = reconstruct_files(tmp_path, files, calibration, EXACT)
    assert report["cameras_used"] == ["cam0", "cam2", "cam3"]
    assert report["camera_quality"]["cam1"]["detection_fraction"] == pytest.approx(11 / 60)
    assert report["cameras_dropped"]["cam1"].startswith("cam1 dropped: person detected in 11 of")

    report, _ = reconstruct_files(
        tmp_path, files, calibration, replace(EXACT, min_detection_fraction=0.15)
    )
    assert report["cameras_used"] == list(CAMERA_NAMES) and report["cameras_dropped"] == {}


def test_too_few_cameras_seeing_the_person(tmp_path: Path) -> None:
    keypoints, scores = clean_views()
    keypoints[1:3] = np.nan
    scores[1:3] = 0.0
    files, calibration = write_trial(tmp_path, keypoints, scores)
    with pytest.raises(ReconstructionError) as error:
        run(
            files[:3], CAMERA_NAMES[:3], calibration, "blazepose",
            output_trc=tmp_path / "out" / "trial.trc",
            output_reprojection=tmp_path / "out" / "reprojection.csv",
            output_report=tmp_path / "out" / "report.json",
            settings=replace(EXACT, min_views=2),
        )  # fmt: skip
    message = str(error.value)
    assert message.startswith("Only 1 of 3 cameras detected the person in at least 20%")
    assert "cam0 100%, cam1 0%, cam2 0%" in message
    assert str(tmp_path / "pose2d") in message and "min_views=2" in message
    assert "Check the videos show the person" in message
    assert "triangulation.min_detection_fraction or triangulation.min_views" in message
    assert not (tmp_path / "out").exists()


def test_per_camera_detection_fraction_and_median_error(tmp_path: Path) -> None:
    keypoints, scores = clean_views()
    keypoints[1, :15] = np.nan  # cam1 sees nobody in the first quarter
    scores[1, :15] = 0.0
    keypoints[3, ..., 0] += 8.0  # cam3 is off by 8 px: all cameras reproject with errors
    files, calibration = write_trial(tmp_path, keypoints, scores)
    settings = replace(EXACT, fix_left_right_swaps=False)
    report, _ = reconstruct_files(tmp_path, files, calibration, settings)

    quality = report["camera_quality"]
    assert [quality[name]["detection_fraction"] for name in CAMERA_NAMES] == [1, 0.75, 1, 1]
    # Reference: the median over each camera's used views, computed from the saved inputs.
    views = [load_keypoints(path) for path in files]
    observed = np.stack([v.keypoints_px for v in views]).astype(np.float64)
    confidence = np.stack([v.scores for v in views]).astype(np.float64)
    points, _, used = triangulate_robust(CAMERAS, observed, confidence, 0.5, 2, None)
    errors = reprojection_errors_px(CAMERAS, points, observed, used)
    for index, name in enumerate(CAMERA_NAMES):
        expected = np.median(errors[index][used[index]])
        assert quality[name]["median_reprojection_error_px"] == pytest.approx(expected, rel=1e-9)
    medians = [quality[name]["median_reprojection_error_px"] for name in CAMERA_NAMES]
    assert 1.0 < medians[3] < 8.0 and max(medians[:3]) < medians[3]
    assert used[1, :15].sum() == 0 and used[3].all()


@pytest.mark.parametrize(
    ("video", "calibrated", "same"),
    [
        ((1920, 1080), (1920, 1080), True),
        ((1080, 1920), (1088, 1920), True),  # H.264 pads 1080 to 1088: the Pose2Sim demo
        ((1088, 1920), (1080, 1920), True),
        ((1920, 1080), (1920, 1088), True),
        ((960, 540), (1920, 1080), False),  # half resolution
        ((1920, 1080), (1080, 1920), False),  # rotated
        ((1080, 1920), (1104, 1920), False),  # more than the padding
        ((1070, 1920), (1088, 1920), False),
    ],
)
def test_image_sizes_match_up_to_codec_padding(
    video: tuple[int, int], calibrated: tuple[int, int], same: bool
) -> None:
    from posebench.views import same_image_size

    assert same_image_size(video, calibrated) is same


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        (
            (960, 540),
            r"Camera cam2: the video clip.mp4 is 960x540 px but the camera was calibrated ",
        ),
        ((1080, 1920), r"at 1920x1080 px, so the video is rotated"),
    ],
)
def test_video_of_another_size_than_calibrated_is_an_error(
    tmp_path: Path, size: tuple[int, int], expected: str
) -> None:
    files, calibration = write_trial(tmp_path, *clean_views())
    view = load_keypoints(files[2])
    save_keypoints(files[2], replace(view, image_size=size, metadata={"video": "clip.mp4"}))
    with pytest.raises(ReconstructionError, match=expected) as raised:
        reconstruct_files(tmp_path, files, calibration, EXACT)
    assert "calibrate the camera at this size" in str(raised.value)
    assert not (tmp_path / "out").exists()


def test_padded_size_is_accepted_without_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files, calibration = write_trial(tmp_path, *clean_views())
    for path in files:
        save_keypoints(path, replace(load_keypoints(path), image_size=(1920, 1088)))
    with caplog.at_level(logging.WARNING):
        reconstruct_files(tmp_path, files, calibration, EXACT)
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_frame_rate_other_than_declared_is_an_error(tmp_path: Path) -> None:
    files, _ = write_trial(tmp_path, *clean_views())
    calibration = tmp_path / "declared.json"
    metadata = {"world_to_opensim": WORLD_TO_OPENSIM.tolist(), "fps": 30.0}
    save_cameras(calibration, CAMERAS, metadata=metadata)
    with pytest.raises(
        ReconstructionError, match=r"Camera cam0: .* runs at 60 fps but the dataset declares 30"
    ):
        reconstruct_files(tmp_path, files, calibration, EXACT)
    save_cameras(calibration, CAMERAS, metadata={**metadata, "fps": 59.94})
    reconstruct_files(tmp_path, files, calibration, EXACT)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


@pytest.mark.parametrize(("camera", "delay", "noise_px"), [(1, 3, 0.0), (2, -2, 0.0), (1, 3, 2.0)])
def test_camera_out_of_sync_is_reported(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, camera: int, delay: int, noise_px: float
) -> None:
    keypoints, scores = delayed_views({camera: delay})
    keypoints += np.random.default_rng(5).normal(0.0, noise_px, size=keypoints.shape)
    files, calibration = write_trial(tmp_path, keypoints, scores)
    with caplog.at_level(logging.WARNING, logger="posebench.reconstruction"):
        report, _ = reconstruct_files(tmp_path, files, calibration, EXACT)

    sync = report["sync"]
    assert sync["enabled"] and sync["max_offset_frames"] == 8
    assert not sync["correct"] and not sync["applied"]
    name = CAMERA_NAMES[camera]
    offsets = {n: entry["offset_frames"] for n, entry in sync["cameras"].items()}
    assert offsets == {n: delay if n == name else 0 for n in CAMERA_NAMES}
    entry = sync["cameras"][name]
    assert entry["error_px_at_offset"] < 0.8 * entry["error_px_at_zero"]
    assert entry["error_px_at_zero"] - entry["error_px_at_offset"] > 1.0
    assert len(entry["error_px_by_offset"]) == 17
    assert entry["error_px_by_offset"][8 + delay] == entry["error_px_at_offset"]
    assert entry["frames"] == N_FRAMES - 16 and entry["observations"] == 33 * (N_FRAMES - 16)
    assert entry["not_measured"] is None
    for other in set(CAMERA_NAMES) - {name}:
        assert sync["cameras"][other]["error_px_at_zero"] < 1e-3 + 2 * noise_px
    warnings = _warnings(caplog)
    side = "behind" if delay > 0 else "ahead of"
    assert len(warnings) == 1 and warnings[0].startswith(f"{name} is {abs(delay)} frame(s) {side}")
    assert "set triangulation.sync.correct: true in config/config.yaml" in warnings[0]
    assert getattr(caplog.records[-1], "terminal", False)


def test_camera_out_of_sync_is_shifted_back_with_sync_correct(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    files, calibration = write_trial(tmp_path, *delayed_views({1: 3}))
    truth = truth_markers(np.arange(N_FRAMES) / FPS)
    report, trc = reconstruct_files(tmp_path, files, calibration, EXACT)
    assert np.linalg.norm(trc.positions_m - truth, axis=-1).max() > 0.005
    uncorrected_error = report["mean_reprojection_error_px"]
    assert uncorrected_error > 1.0

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="posebench.reconstruction"):
        report, trc = reconstruct_files(
            tmp_path, files, calibration, replace(EXACT, sync_correct=True)
        )
    assert report["sync"]["correct"] and report["sync"]["applied"]
    assert report["sync"]["cameras"]["cam1"]["offset_frames"] == 3
    # cam1's last 3 frames have no keypoints after the shift: three cameras triangulate them.
    np.testing.assert_allclose(trc.positions_m, truth, atol=1e-6, rtol=0)
    assert report["mean_reprojection_error_px"] < 1e-3 < uncorrected_error
    warnings = _warnings(caplog)
    assert len(warnings) == 1 and warnings[0].startswith("cam1 is 3 frame(s) behind")
    assert "shifted 3 frame(s) earlier before triangulation" in warnings[0]


@pytest.mark.parametrize("noise_px", [0.0, 2.0])
def test_synchronised_cameras_report_no_offset(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, noise_px: float
) -> None:
    keypoints, scores = clean_views()
    keypoints += np.random.default_rng(6).normal(0.0, noise_px, size=keypoints.shape)
    files, calibration = write_trial(tmp_path, keypoints, scores)
    with caplog.at_level(logging.WARNING, logger="posebench.reconstruction"):
        report, _ = reconstruct_files(
            tmp_path, files, calibration, replace(EXACT, sync_correct=True)
        )
    cameras = report["sync"]["cameras"]
    assert [cameras[name]["offset_frames"] for name in CAMERA_NAMES] == [0, 0, 0, 0]
    assert not report["sync"]["applied"] and _warnings(caplog) == []
    for entry in cameras.values():
        assert entry["error_px_at_zero"] == entry["error_px_at_offset"] < 1e-3 + 2 * noise_px


def test_sync_check_off_and_with_too_few_cameras(tmp_path: Path) -> None:
    files, calibration = write_trial(tmp_path, *delayed_views({1: 3}))
    report, _ = reconstruct_files(
        tmp_path, files, calibration, replace(EXACT, sync_max_offset_frames=0)
    )
    assert not report["sync"]["enabled"] and report["sync"]["cameras"] == {}

    out = tmp_path / "out"
    report = run(
        files[:2], CAMERA_NAMES[:2], calibration, "blazepose", output_trc=out / "trial.trc",
        output_reprojection=out / "reprojection.csv", output_report=out / "report.json",
        settings=EXACT,
    )  # fmt: skip
    assert report.sync is not None
    for entry in report.sync.cameras.values():
        assert entry.offset_frames is None
        assert entry.not_measured == "2 cameras: each needs at least 2 others to triangulate from"


# --------------------------------------------------------------------- the core, no files


def trial_views_of(keypoints: FloatArray, scores: FloatArray) -> TrialViews:
    """The core's input for (C, F, 33, 2) keypoints and (C, F, 33) scores of the 4 cameras,
    as the stage builds it from keypoint files, without any file."""
    placed = np.isfinite(keypoints).all(axis=-1)
    return TrialViews(
        cameras=tuple(CAMERAS),
        keypoint_names=BLAZEPOSE_KEYPOINTS,
        keypoints_px=keypoints,
        scores=scores,
        detected=((scores > 0) & placed).any(axis=2),
        video_fps=FPS,
        time_base_fps=FPS,
        time_base_source="video header",
        world_to_opensim=WORLD_TO_OPENSIM,
        keypoint_files=tuple(Path("pose2d") / f"{name}.npz" for name in CAMERA_NAMES),
    )


def test_core_reconstructs_the_truth_from_arrays() -> None:
    result = reconstruct(trial_views_of(*clean_views()), MARKERS, EXACT)

    frames = np.arange(N_FRAMES)
    np.testing.assert_allclose(result.times_s, frames / FPS, atol=1e-9)
    np.testing.assert_array_equal(result.frame_numbers, frames + 1)
    np.testing.assert_allclose(result.positions_m, truth_markers(frames / FPS), atol=1e-6, rtol=0)
    assert result.marker_names == MARKERS.marker_names and result.data_rate_hz == FPS
    assert list(result.reprojection["keypoint"]) == list(BLAZEPOSE_KEYPOINTS)
    assert (result.reprojection["observations"] == len(CAMERAS) * N_FRAMES).all()
    report = result.report
    assert report.cameras_configured == report.cameras_used == CAMERA_NAMES
    assert report.keypoint_files == tuple(f"pose2d/{name}.npz" for name in CAMERA_NAMES)
    assert (report.video_frames, report.output_frames, report.dropped_empty_frames) == (60, 60, 0)
    assert report.time_base_fps == FPS and report.time_base_source == "video header"
    assert report.mean_reprojection_error_px is not None
    assert report.mean_reprojection_error_px < 1e-3
    assert report.left_right_swapped_frames == dict.fromkeys(CAMERA_NAMES, 0)
    assert report.sync is not None and not report.sync.applied
    assert [entry.offset_frames for entry in report.sync.cameras.values()] == [0, 0, 0, 0]


def test_core_leaves_out_a_blind_camera_and_shifts_a_late_one() -> None:
    keypoints, scores = delayed_views({1: 3})
    keypoints[2], scores[2] = np.nan, 0.0
    settings = replace(EXACT, sync_correct=True)
    report = reconstruct(trial_views_of(keypoints, scores), MARKERS, settings).report

    assert report.cameras_used == ("cam0", "cam1", "cam3")
    assert report.cameras_dropped["cam2"].startswith("cam2 dropped: person detected in 0 of 60")
    assert report.camera_quality["cam2"].detection_fraction == 0.0
    assert report.camera_quality["cam2"].median_reprojection_error_px is None
    # Three cameras: each is measured against the two others.
    assert report.sync is not None and report.sync.correct
    assert set(report.sync.cameras) == {"cam0", "cam1", "cam3"}


def test_core_reports_a_trial_without_any_person() -> None:
    keypoints, scores = clean_views()
    keypoints[:, :, :] = np.nan
    with pytest.raises(ReconstructionError, match="Only 0 of 4 cameras detected the person"):
        reconstruct(trial_views_of(keypoints, scores), MARKERS, EXACT)


# ------------------------------------------------------------------------ the report


def test_report_round_trip() -> None:
    keypoints, scores = delayed_views({1: 3})
    keypoints[2, 11:], scores[2, 11:] = np.nan, 0.0  # dropped: 11 of 60 frames
    report = reconstruct(trial_views_of(keypoints, scores), MARKERS, EXACT).report
    content = json.loads(json.dumps(report.to_json()))
    assert TriangulationReport.from_json(content) == report
    assert TriangulationReport.from_json(content, require_all=True) == report
    assert content["cameras"] == content["cameras_used"] == ["cam0", "cam1", "cam3"]
    assert content["sync"]["cameras"]["cam1"]["offset_frames"] == 3
    assert content["camera_quality"]["cam2"]["median_reprojection_error_px"] is None


def test_report_missing_a_key_names_the_file(tmp_path: Path) -> None:
    content = reconstruct(trial_views_of(*clean_views()), MARKERS, EXACT).report.to_json()
    path = tmp_path / "triangulation.json"
    path.write_text(json.dumps({k: v for k, v in content.items() if k != "video_frames"}))
    with pytest.raises(UnreadableFileError, match="lacks video_frames") as error:
        TriangulationReport.read(path)
    assert str(path) in str(error.value)
    del content["sync"]["cameras"]["cam1"]["frames"]
    path.write_text(json.dumps(content))
    with pytest.raises(UnreadableFileError, match=r"sync\.cameras\.cam1 lacks frames"):
        TriangulationReport.read(path)


def test_older_reports_are_read_with_fallbacks() -> None:
    content = reconstruct(trial_views_of(*clean_views()), MARKERS, EXACT).report.to_json()
    later = ("cameras_used", "cameras_configured", "cameras_dropped", "camera_quality")
    later += ("time_base_fps", "time_base_source", "sync")
    older = {key: value for key, value in content.items() if key not in later}
    report = TriangulationReport.from_json(older)
    assert report.cameras_used == report.cameras_configured == CAMERA_NAMES
    assert report.cameras_dropped == {} and report.camera_quality == {}
    assert report.sync is None and report.time_base_fps is None
    with pytest.raises(ValueError, match="lacks camera_quality, cameras_configured, "):
        TriangulationReport.from_json(older, require_all=True)
