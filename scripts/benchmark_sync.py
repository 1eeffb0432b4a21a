"""Cost of the synchronisation check of the triangulate stage.

Runs the stage (`posebench.stages.triangulate.run`) on a synthetic 4-camera x 600-frame x
33-keypoint trial (the skeleton of tests/test_reconstruction.py, 2 px of pixel noise) with
the check off, on with the cameras in sync, and on with one camera 3 frames late; prints the
medians of 5 runs and their ratios to the stage without the check. Run from the repository root:

    .venv/bin/python scripts/benchmark_sync.py
"""

from __future__ import annotations

import logging
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

import test_reconstruction as trial  # noqa: E402
from posebench.reconstruction import TriangulationSettings  # noqa: E402
from posebench.stages import triangulate  # noqa: E402

FRAMES, NOISE_PX, LATE_FRAMES, REPEATS = 600, 2.0, 3, 5


def timed(keypoints: np.ndarray, scores: np.ndarray, settings: TriangulationSettings) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files, calibration = trial.write_trial(folder, keypoints, scores)
        start = time.perf_counter()
        triangulate.run(
            files, trial.CAMERA_NAMES, calibration, "blazepose",
            output_trc=folder / "markers.trc", output_reprojection=folder / "errors.csv",
            output_report=folder / "report.json", settings=settings,
        )  # fmt: skip
        return time.perf_counter() - start


def main() -> None:
    logging.disable(logging.WARNING)  # the late camera's warning is expected
    trial.N_FRAMES = FRAMES
    keypoints, scores = trial.clean_views()
    keypoints = keypoints + np.random.default_rng(0).normal(0.0, NOISE_PX, keypoints.shape)
    late = keypoints.copy()
    late[1, LATE_FRAMES:] = keypoints[1, :-LATE_FRAMES]
    off = replace(TriangulationSettings(), sync_max_offset_frames=0)
    on = TriangulationSettings()
    cases = {
        "check off": (keypoints, off),
        "check on, in sync": (keypoints, on),
        f"check on, one camera {LATE_FRAMES} frames late": (late, on),
    }
    medians = {
        name: float(np.median([timed(kp, scores, settings) for _ in range(REPEATS)]))
        for name, (kp, settings) in cases.items()
    }
    print(f"triangulate, 4 cameras x {FRAMES} frames x 33 keypoints, median of {REPEATS}:")
    for name, value in medians.items():
        print(f"  {name:>36}: {value:.2f} s ({value / medians['check off']:.2f}x check off)")


if __name__ == "__main__":
    main()
