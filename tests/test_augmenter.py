"""OpenCap's LSTM marker augmenter (posebench.augmenter) with its real ONNX networks from the
pose2sim wheel, the marker sets that feed it, and the height estimate (posebench.height)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from posebench.augmenter import (
    AugmenterError,
    MarkerAugmenter,
    input_markers,
    missing_inputs,
    output_markers,
)
from posebench.height import HeightError, estimate_height
from posebench.markersets import MARKER_SETS, MarkerSetError, augmented, get_marker_set
from posebench.paths import AUGMENTER_SUBDIR

# A standing person, y up, facing +x, metres: mid-hip 0.9 m above the floor.
STANDING = {
    "Neck": (0.0, 1.45, 0.0),
    "RShoulder": (0.0, 1.40, 0.18), "LShoulder": (0.0, 1.40, -0.18),
    "RElbow": (0.0, 1.12, 0.22), "LElbow": (0.0, 1.12, -0.22),
    "RWrist": (0.05, 0.88, 0.22), "LWrist": (0.05, 0.88, -0.22),
    "RHip": (0.0, 0.90, 0.09), "LHip": (0.0, 0.90, -0.09),
    "RKnee": (0.02, 0.48, 0.10), "LKnee": (0.02, 0.48, -0.10),
    "RAnkle": (0.0, 0.08, 0.10), "LAnkle": (0.0, 0.08, -0.10),
    "RHeel": (-0.05, 0.02, 0.10), "LHeel": (-0.05, 0.02, -0.10),
    "RSmallToe": (0.14, 0.0, 0.14), "LSmallToe": (0.14, 0.0, -0.14),
    "RBigToe": (0.18, 0.0, 0.08), "LBigToe": (0.18, 0.0, -0.08),
}  # fmt: skip


def walking(frames: int = 120, rate_hz: float = 60.0) -> tuple[tuple[str, ...], np.ndarray]:
    """The standing markers moving forward at 1.2 m/s with a little sway."""
    names = tuple(STANDING)
    base = np.array([STANDING[n] for n in names])
    t = np.arange(frames) / rate_hz
    shift = np.stack([1.2 * t, 0.01 * np.sin(2 * np.pi * t), np.zeros_like(t)], axis=1)
    return names, base[None] + shift[:, None, :]


@pytest.fixture(scope="module")
def lstm(pose2sim_dir: Path) -> MarkerAugmenter:
    return MarkerAugmenter("lstm-v0.3", pose2sim_dir / AUGMENTER_SUBDIR)


def test_marker_lists() -> None:
    assert len(output_markers("lstm-v0.3")) == 43
    assert len(set(output_markers("lstm-v0.3"))) == 43
    assert len(input_markers("lstm-v0.3")) == 19  # 15 lower, elbows and wrists; hips included
    assert missing_inputs("lstm-v0.3", tuple(STANDING)) == []
    assert missing_inputs("lstm-v0.3", ("RHip", "LHip")) == [
        n for n in input_markers("lstm-v0.3") if n not in ("RHip", "LHip")
    ]
    with pytest.raises(AugmenterError, match="Unknown marker augmenter 'lstm-v9'"):
        output_markers("lstm-v9")


def test_real_networks_shapes_and_plausible_markers(lstm: MarkerAugmenter) -> None:
    names, positions = walking()
    result = lstm.augment(names, positions, height_m=1.75, mass_kg=70.0)
    assert result.marker_names == output_markers("lstm-v0.3")
    assert result.positions_m.shape == (120, 43, 3)
    assert np.isfinite(result.positions_m).all()
    assert result.segments == ((0, 120),)
    assert result.frames_augmented == 120
    out = {n: result.positions_m[:, i] for i, n in enumerate(result.marker_names)}
    knee = positions[:, names.index("RKnee")]
    # The lateral and medial knee markers lie either side of the knee keypoint.
    mid_knee = 0.5 * (out["r_knee_study"] + out["r_mknee_study"])
    assert np.linalg.norm(mid_knee - knee, axis=1).max() < 0.06
    ankle = positions[:, names.index("LAnkle")]
    mid_ankle = 0.5 * (out["L_ankle_study"] + out["L_mankle_study"])
    assert np.linalg.norm(mid_ankle - ankle, axis=1).max() < 0.06
    # Right markers on the right (+z), ASIS in front of PSIS (+x), C7 above the hips.
    assert (out["r.ASIS_study"][:, 2] > out["L.ASIS_study"][:, 2]).all()
    assert (out["r.ASIS_study"][:, 0] > out["r.PSIS_study"][:, 0]).all()
    assert (out["C7_study"][:, 1] > out["RHJC_study"][:, 1] + 0.3).all()
    # Translating the input translates the output (positions are taken from the mid-hip).
    moved = lstm.augment(names, positions + [1.0, 0.0, -2.0], height_m=1.75, mass_kg=70.0)
    assert np.allclose(moved.positions_m - [1.0, 0.0, -2.0], result.positions_m, atol=1e-5)


def test_gaps_split_the_sequence(lstm: MarkerAugmenter) -> None:
    names, positions = walking()
    gapped = positions.copy()
    gapped[50:55, names.index("RHeel")] = np.nan
    result = lstm.augment(names, gapped, height_m=1.75, mass_kg=70.0)
    assert result.segments == ((0, 50), (55, 120))
    assert result.frames_augmented == 115
    assert np.isnan(result.positions_m[50:55]).all()
    assert np.isfinite(result.positions_m[:50]).all() and np.isfinite(result.positions_m[55:]).all()
    # Each run is augmented on its own: the same as augmenting it alone.
    alone = lstm.augment(names, positions[55:], height_m=1.75, mass_kg=70.0)
    assert np.allclose(result.positions_m[55:], alone.positions_m, atol=1e-6)


def test_bad_inputs(lstm: MarkerAugmenter) -> None:
    names, positions = walking(10)
    with pytest.raises(AugmenterError, match=r"needs the markers \['RSmallToe', 'LSmallToe'\]"):
        keep = [i for i, n in enumerate(names) if "SmallToe" not in n]
        lstm.augment([names[i] for i in keep], positions[:, keep], height_m=1.75, mass_kg=70.0)
    with pytest.raises(AugmenterError, match="height 17.5 m is not plausible"):
        lstm.augment(names, positions, height_m=17.5, mass_kg=70.0)
    with pytest.raises(AugmenterError, match="mass nan kg"):
        lstm.augment(names, positions, height_m=1.75, mass_kg=float("nan"))
    with pytest.raises(AugmenterError, match="positions have shape"):
        lstm.augment(names, positions[:, :3], height_m=1.75, mass_kg=70.0)


def test_missing_or_wrong_files(pose2sim_dir: Path, tmp_path: Path) -> None:
    copy = tmp_path / "LSTM"
    shutil.copytree(pose2sim_dir / AUGMENTER_SUBDIR, copy)
    (copy / "v0.3_upper" / "std.npy").unlink()
    with pytest.raises(AugmenterError, match=r"v0.3_upper/std.npy not found.*fetch_demo_data"):
        MarkerAugmenter("lstm-v0.3", copy)
    np.save(copy / "v0.3_upper" / "std.npy", np.ones(22))
    with pytest.raises(AugmenterError, match="holds 22 values; the network has 23"):
        MarkerAugmenter("lstm-v0.3", copy)
    # The lower network's file where the upper one belongs: widths read from the ONNX file.
    np.save(copy / "v0.3_upper" / "std.npy", np.ones(23))
    shutil.copy(copy / "v0.3_lower" / "model.onnx", copy / "v0.3_upper" / "model.onnx")
    with pytest.raises(AugmenterError, match=r"takes \(batch, frames, 23\)"):
        MarkerAugmenter("lstm-v0.3", copy)
    (copy / "v0.3_upper" / "model.onnx").write_bytes(b"not an onnx file")
    with pytest.raises(AugmenterError, match="cannot load"):
        MarkerAugmenter("lstm-v0.3", copy)


def test_marker_sets_feeding_the_augmenter() -> None:
    for name in ("halpe26-lstm", "coco_wholebody-lstm", "blazepose-lstm"):
        markers = get_marker_set(name)
        assert markers.augmenter == "lstm-v0.3"
        assert missing_inputs("lstm-v0.3", markers.marker_names) == []
        assert markers.opensim_marker_names[-43:] == output_markers("lstm-v0.3")
        assert get_marker_set(name + "-lai2022").opensim_model == "LaiUhlrich2022.osim"
    assert get_marker_set("halpe26-lstm").opensim_markers == "Markers_LSTM.xml"
    assert get_marker_set("halpe26").opensim_marker_names == get_marker_set("halpe26").marker_names
    # BlazePose's foot index stands in for the small toe; COCO-17 has no feet at all.
    blazepose = get_marker_set("blazepose-lstm")
    keypoints = np.arange(33 * 3, dtype=float).reshape(1, 33, 3)
    placed = dict(
        zip(blazepose.marker_names, blazepose.marker_positions(keypoints)[0], strict=True)
    )
    foot_index = blazepose.keypoints.index("right_foot_index")
    assert np.array_equal(placed["RSmallToe"], keypoints[0, foot_index])
    assert np.array_equal(placed["RSmallToe"], placed["RBigToe"])
    with pytest.raises(MarkerSetError, match=r"lacks the input markers \['RHeel', 'LHeel'"):
        augmented(MARKER_SETS["coco17"], "coco17-lstm")


def test_height_estimate() -> None:
    names, positions = walking(120)
    estimate = estimate_height(names, positions, "trial.trc")
    shank, thigh, trunk = np.hypot(0.02, 0.40), np.linalg.norm([0.02, 0.42, 0.01]), 0.5
    assert estimate.segment_lengths_m == pytest.approx(
        {"shank": shank, "thigh": thigh, "trunk": trunk}
    )
    assert estimate.height_m == pytest.approx((shank + thigh + trunk) / 0.779)
    assert estimate.frames == 120
    # Segment lengths do not change with the posture: a crouch gives the same estimate.
    crouched = positions.copy()
    crouched[:, [names.index("RShoulder"), names.index("LShoulder")]] += [0.3, -0.1, 0.0]
    trunk_leaning = np.hypot(0.3, 0.4)
    leaning = estimate_height(names, crouched, "trial.trc")
    assert leaning.segment_lengths_m["trunk"] == pytest.approx(trunk_leaning)
    # Frames missing a marker are left out; none complete, or a child-sized result, stop.
    gapped = positions.copy()
    gapped[:100, names.index("LKnee")] = np.nan
    assert estimate_height(names, gapped, "trial.trc").frames == 20
    gapped[:, names.index("LKnee")] = np.nan
    with pytest.raises(HeightError, match="trial.trc: no frame has all of"):
        estimate_height(names, gapped, "trial.trc")
    with pytest.raises(HeightError, match=r"is 0.85 m, outside 1.0-2.3 m.*\(height_m\)"):
        estimate_height(names, 0.5 * positions, "trial.trc")
    keep = [i for i, n in enumerate(names) if n != "RAnkle"]
    with pytest.raises(HeightError, match=r"trial.trc: .*without the markers \['RAnkle'\]"):
        estimate_height([names[i] for i in keep], positions[:, keep], "trial.trc")
