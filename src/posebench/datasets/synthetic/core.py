"""The synthetic subject computed in memory: settings, a body model and its marker
kinematics in; every trial's times, coordinates, markers and per-camera pixels out.

Nothing here reads or writes files or needs OpenSim: the marker kinematics are passed in
(:meth:`posebench.datasets.synthetic.model.GeneratingModel.marker_positions` in the
generator).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from posebench.camera import Camera, FloatArray
from posebench.datasets.synthetic.motions import (
    ACTIVITY_DURATIONS_S,
    ACTIVITY_SESSIONS,
    BodyModel,
    activity_coordinates,
    check_coordinate_ranges,
)
from posebench.datasets.synthetic.rig import board_cameras, project_in_image

#: (T,) coordinate series by name -> (T, M, 3) marker positions in OpenSim's ground, metres.
MarkerKinematics = Callable[[Mapping[str, FloatArray]], FloatArray]


@dataclass(frozen=True)
class GeneratorSettings:
    """What a synthetic subject is generated from, besides the model (see
    :func:`posebench.datasets.synthetic.generate_subject` for each setting).

    Raises:
        ValueError: on unknown or repeated activities or implausible values.
    """

    subject: str = "subject2"
    mass_kg: float = 70.0
    height_m: float = 1.75
    fps: float = 60.0
    mocap_rate_hz: float = 100.0
    image_size: tuple[int, int] = (720, 1280)
    camera_angles_deg: Sequence[float] = (-70, -45, 0, 45, 70)
    camera_distance_m: float = 4.0
    seed: int = 0
    activities: Sequence[str] = ("static", "squats", "STS", "DJ", "walking")
    placement: str = "backWall"
    placement_convention: str = "opencapbench"

    def __post_init__(self) -> None:
        activities = self.activities
        unknown = [a for a in activities if a not in ACTIVITY_SESSIONS]
        if unknown or len(set(activities)) != len(activities) or not activities:
            raise ValueError(
                f"activities must be distinct names among {list(ACTIVITY_SESSIONS)}, got "
                f"{list(activities)}"
            )
        for label in ("fps", "mocap_rate_hz", "mass_kg", "height_m"):
            value = getattr(self, label)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{label} must be a positive number, got {value}")
        if not self.subject or "/" in self.subject:
            raise ValueError(f"subject must be a folder name, got {self.subject!r}")
        size = (int(self.image_size[0]), int(self.image_size[1]))
        object.__setattr__(self, "image_size", size)
        object.__setattr__(self, "activities", tuple(activities))
        object.__setattr__(self, "camera_angles_deg", tuple(self.camera_angles_deg))


@dataclass(frozen=True)
class SyntheticTrial:
    """One generated trial.

    Attributes:
        name: trial name (activity + "1"), e.g. ``squats1``.
        activity: one of :data:`ACTIVITY_SESSIONS`.
        session: ``Session0`` or ``Session1``.
        duration_s: time of the last video frame and of the last mocap sample, seconds.
        n_video_frames: frames of every camera's video (at ``fps``).
        n_mocap_frames: rows of the ``.mot`` and ``.trc`` (at ``mocap_rate_hz``).
    """

    name: str
    activity: str
    session: str
    duration_s: float
    n_video_frames: int
    n_mocap_frames: int


@dataclass(frozen=True)
class TrialData:
    """One trial's truth.

    Attributes:
        trial: its description.
        mocap_times_s: (N,) times of the mocap samples, seconds.
        coordinates: coordinate name -> (N,) values at the mocap times, radians and metres,
            in model order.
        markers_m: (N, M, 3) markers in OpenSim's ground at the mocap times, metres.
        pixels: (C, F, M, 2) the markers projected into each camera at the video frames.
    """

    trial: SyntheticTrial
    mocap_times_s: FloatArray
    coordinates: dict[str, FloatArray]
    markers_m: FloatArray
    pixels: FloatArray


@dataclass(frozen=True)
class SyntheticData:
    """A synthetic subject in memory.

    Attributes:
        settings: what it was generated from.
        body: the generating model's coordinates and standing geometry.
        marker_names: marker names, in the order of the marker arrays.
        cameras: the cameras, with extrinsics in the board (world) frame.
        trials: the trials, in the order of ``settings.activities``.
    """

    settings: GeneratorSettings
    body: BodyModel
    marker_names: tuple[str, ...]
    cameras: tuple[Camera, ...]
    trials: tuple[TrialData, ...]


def n_samples(duration_s: float, rate_hz: float) -> int:
    """Samples from 0 to ``duration_s`` inclusive at ``rate_hz``."""
    return int(math.floor(duration_s * rate_hz + 1e-9)) + 1


def compute_subject(
    settings: GeneratorSettings,
    body: BodyModel,
    marker_positions: MarkerKinematics,
    marker_names: tuple[str, ...],
) -> SyntheticData:
    """Every trial of ``settings.activities``, checked: the coordinates stay inside the
    model's ranges and every marker is seen by every camera.

    Raises:
        CoordinateRangeError: when a motion leaves a coordinate's range in the model.
        CameraLayoutError: when a marker would project outside an image.
    """
    cameras, r_b2o = board_cameras(
        settings.camera_angles_deg,
        settings.camera_distance_m,
        settings.image_size,
        settings.seed,
        settings.placement,
        settings.placement_convention,
    )
    trials = tuple(
        _compute_trial(settings, body, marker_positions, cameras, r_b2o, activity)
        for activity in settings.activities
    )
    return SyntheticData(settings, body, marker_names, tuple(cameras), trials)


def _compute_trial(
    settings: GeneratorSettings,
    body: BodyModel,
    marker_positions: MarkerKinematics,
    cameras: Sequence[Camera],
    r_b2o: FloatArray,
    activity: str,
) -> TrialData:
    name = f"{activity}1"
    duration = ACTIVITY_DURATIONS_S[activity]
    fps, mocap_rate_hz = settings.fps, settings.mocap_rate_hz
    mocap_times = np.arange(n_samples(duration, mocap_rate_hz)) / mocap_rate_hz
    video_times = np.arange(n_samples(duration, fps)) / fps
    q_mocap = activity_coordinates(body, activity, mocap_times, settings.seed)
    q_video = activity_coordinates(body, activity, video_times, settings.seed)
    for times, q in ((mocap_times, q_mocap), (video_times, q_video)):
        check_coordinate_ranges(q, body.ranges, times, context=f"trial {name}")
    markers_video = marker_positions(q_video)
    pixels, _ = project_in_image(cameras, markers_video @ r_b2o, f"trial {name}")
    trial = SyntheticTrial(
        name=name,
        activity=activity,
        session=ACTIVITY_SESSIONS[activity],
        duration_s=duration,
        n_video_frames=len(video_times),
        n_mocap_frames=len(mocap_times),
    )
    return TrialData(trial, mocap_times, q_mocap, marker_positions(q_mocap), pixels)
