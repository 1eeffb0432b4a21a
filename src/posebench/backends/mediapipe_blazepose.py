"""MediaPipe BlazePose (33 landmarks) through the `mediapipe==0.10.14` wheel.

That wheel ships the trained pose detector and the "full" landmark model
(`model_complexity=1`) inside the package, so it runs offline. Scores are the per-landmark
`visibility` MediaPipe reports. Frame slots are not used: BlazePose tracks the person over
the frames it is given, in order (a slot the video lacks is simply not seen). It processes
one frame at a time, so the `pose2d` stage passes it frames one by one
(`max_frames_per_call`), whatever the config's `batch_size`.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from posebench.backends.base import (
    BackendError,
    FrameBatch,
    PoseBackend,
    slot_indices,
)
from posebench.skeletons import BLAZEPOSE_KEYPOINTS

_ALLOWED_OPTIONS = {
    "model_complexity",
    "min_detection_confidence",
    "min_tracking_confidence",
    "smooth_landmarks",
}


class MediaPipeBlazePose(PoseBackend):
    """BlazePose in video mode: the detector runs once, then landmarks are tracked."""

    keypoint_names = BLAZEPOSE_KEYPOINTS
    # `process` takes one frame at a time: frames in a batch would only wait, in memory.
    max_frames_per_call = 1

    def __init__(self, model_name: str, marker_set: str, options: Mapping[str, Any]) -> None:
        unknown = set(options) - _ALLOWED_OPTIONS
        if unknown:
            raise BackendError(
                f"Model {model_name!r}: unknown mediapipe options {sorted(unknown)}; "
                f"allowed: {sorted(_ALLOWED_OPTIONS)}."
            )
        os.environ.setdefault("GLOG_minloglevel", "2")
        try:
            import mediapipe as mp
        except ImportError as error:
            raise BackendError(
                "The mediapipe backend needs `mediapipe==0.10.14` (pip install -e '.[mediapipe]'); "
                "later releases no longer ship the BlazePose model inside the wheel."
            ) from error
        complexity = int(options.get("model_complexity", 1))
        if complexity != 1:
            raise BackendError(
                f"Model {model_name!r}: model_complexity={complexity} needs a model file the "
                "mediapipe 0.10.14 wheel does not ship; use 1 (BlazePose full)."
            )
        self.name = model_name
        self.marker_set = marker_set
        with contextlib.redirect_stderr(io.StringIO()):
            self._pose = mp.solutions.pose.Pose(
                static_image_mode=False,
                model_complexity=complexity,
                smooth_landmarks=bool(options.get("smooth_landmarks", False)),
                enable_segmentation=False,
                min_detection_confidence=float(options.get("min_detection_confidence", 0.5)),
                min_tracking_confidence=float(options.get("min_tracking_confidence", 0.5)),
            )

    def predict(
        self, frames: FrameBatch, slots: Sequence[int]
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        slot_indices(frames, slots, f"Model {self.name!r}")  # checked, otherwise unused
        count = len(self.keypoint_names)
        keypoints = np.full((len(frames), count, 2), np.nan, dtype=np.float32)
        scores = np.zeros((len(frames), count), dtype=np.float32)
        for index, frame in enumerate(frames):
            height, width = frame.shape[:2]
            result = self._pose.process(frame)
            if result.pose_landmarks is None:
                continue
            landmarks = result.pose_landmarks.landmark
            keypoints[index, :, 0] = [lm.x * width for lm in landmarks]
            keypoints[index, :, 1] = [lm.y * height for lm in landmarks]
            scores[index] = np.clip([lm.visibility for lm in landmarks], 0.0, 1.0)
        return keypoints, scores

    def close(self) -> None:
        self._pose.close()


def create(
    model_name: str, marker_set: str, options: Mapping[str, Any], weights_dir: Path | None
) -> PoseBackend:
    """This backend for `posebench.backends.registry.create_backend`."""
    return MediaPipeBlazePose(model_name, marker_set, options)
