"""Reports of the stages `scale` (`scaling.json`) and `inverse_kinematics` (`ik.json`).

A scaling report is a `VideoScalingReport` (the model scaled on the video's markers) or a
`MocapScalingReport` (the dataset's scaled model with the marker set placed on it); its
`scaling_mode` key says which. Paths are as the stage wrote them: relative to the project
when inside it (`posebench.opensim.setups.portable`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from posebench.io.errors import read_json, reading
from posebench.reports.fields import require_keys

Factors = tuple[float, float, float]
"""Scale factors of a body along its x, y and z axes (dimensionless)."""


def _require_mode(content: object, mode: str, keys: Iterable[str], kind: str) -> Mapping[str, Any]:
    """`content` as a mapping with `scaling_mode` `mode` and `keys`, or ValueError."""
    found = require_keys(content, ("scaling_mode",), f"the {kind}")["scaling_mode"]
    if found != mode:
        raise ValueError(f"scaling_mode is {found!r}, expected {mode!r}")
    return require_keys(content, keys, f"the {kind}")


def _factors_to_json(factors: Mapping[str, Factors]) -> dict[str, list[float]]:
    return {body: list(values) for body, values in factors.items()}


def _factors_from_json(content: Mapping[str, Any]) -> dict[str, Factors]:
    return {body: (values[0], values[1], values[2]) for body, values in content.items()}


@dataclass(frozen=True)
class VideoScalingReport:
    """`scaling.json` of `scaling: video`: the marker set's model scaled on a static window.

    Attributes:
        trc: the scaling trial's markers (.trc).
        marker_set: name of the marker set (`posebench.markersets`).
        opensim_files: the marker set's OpenSim files by role (model, markers,
            scaling_setup, ik_setup).
        scaling_setup_changes: what adapting the scaling set-up to the marker set changed:
            `replaced` and `switched_off` measurements, `dropped_pairs` (`measurement: a b`).
        mass_kg: participant mass in kilograms.
        height_m: participant height in metres, or None when unknown.
        scaling_markers: markers of the applied measurements.
        static_window_s: (start, end) in seconds of the window scaled on.
        model_mass_kg: total mass of the scaled model in kilograms.
        scale_factors: per body, the scale factors applied.
    """

    scaling_mode: ClassVar[str] = "video"
    trc: str
    marker_set: str
    opensim_files: dict[str, str]
    scaling_setup_changes: dict[str, tuple[str, ...]]
    mass_kg: float
    height_m: float | None
    scaling_markers: tuple[str, ...]
    static_window_s: tuple[float, float]
    model_mass_kg: float
    scale_factors: dict[str, Factors]

    _KEYS: ClassVar[tuple[str, ...]] = (
        "trc",
        "marker_set",
        "opensim_files",
        "scaling_setup_changes",
        "mass_kg",
        "height_m",
        "scaling_markers",
        "static_window_s",
        "model_mass_kg",
        "scale_factors",
    )

    def to_json(self) -> dict[str, Any]:
        """The report as JSON content (lists for tuples)."""
        return {
            "scaling_mode": self.scaling_mode,
            "trc": self.trc,
            "marker_set": self.marker_set,
            "opensim_files": dict(self.opensim_files),
            "scaling_setup_changes": {
                change: list(names) for change, names in self.scaling_setup_changes.items()
            },
            "mass_kg": self.mass_kg,
            "height_m": self.height_m,
            "scaling_markers": list(self.scaling_markers),
            "static_window_s": list(self.static_window_s),
            "model_mass_kg": self.model_mass_kg,
            "scale_factors": _factors_to_json(self.scale_factors),
        }

    @classmethod
    def from_json(cls, content: object) -> VideoScalingReport:
        """The report of JSON content written by `to_json`; ValueError naming a missing key."""
        fields = _require_mode(content, cls.scaling_mode, cls._KEYS, "video scaling report")
        start, end = fields["static_window_s"]
        return cls(
            trc=fields["trc"],
            marker_set=fields["marker_set"],
            opensim_files=dict(fields["opensim_files"]),
            scaling_setup_changes={
                change: tuple(names) for change, names in fields["scaling_setup_changes"].items()
            },
            mass_kg=fields["mass_kg"],
            height_m=fields["height_m"],
            scaling_markers=tuple(fields["scaling_markers"]),
            static_window_s=(start, end),
            model_mass_kg=fields["model_mass_kg"],
            scale_factors=_factors_from_json(fields["scale_factors"]),
        )


@dataclass(frozen=True)
class MocapScalingReport:
    """`scaling.json` of `scaling: mocap`: the dataset's scaled model with the marker set's
    markers placed on it.

    Attributes:
        scaled_model_source: the dataset's scaled model (.osim).
        marker_set: name of the marker set (`posebench.markersets`).
        opensim_files: the marker set's OpenSim files by role.
        mass_kg: participant mass in kilograms (metadata).
        height_m: participant height in metres, or None when unknown.
        model_mass_kg: total mass of the written model in kilograms.
        marker_scale_factors: per body carrying markers, the factors their locations were
            scaled by.
        warning: why the model may not be the participant's (its mass differs from
            `mass_kg` by more than 10 %), or None.
    """

    scaling_mode: ClassVar[str] = "mocap"
    scaled_model_source: str
    marker_set: str
    opensim_files: dict[str, str]
    mass_kg: float
    height_m: float | None
    model_mass_kg: float
    marker_scale_factors: dict[str, Factors]
    warning: str | None = None

    _KEYS: ClassVar[tuple[str, ...]] = (
        "scaled_model_source",
        "marker_set",
        "opensim_files",
        "mass_kg",
        "height_m",
        "model_mass_kg",
        "marker_scale_factors",
    )

    def to_json(self) -> dict[str, Any]:
        """The report as JSON content (lists for tuples; `warning` only when there is one)."""
        content: dict[str, Any] = {
            "scaling_mode": self.scaling_mode,
            "scaled_model_source": self.scaled_model_source,
            "marker_set": self.marker_set,
            "opensim_files": dict(self.opensim_files),
            "mass_kg": self.mass_kg,
            "height_m": self.height_m,
            "model_mass_kg": self.model_mass_kg,
            "marker_scale_factors": _factors_to_json(self.marker_scale_factors),
        }
        if self.warning is not None:
            content["warning"] = self.warning
        return content

    @classmethod
    def from_json(cls, content: object) -> MocapScalingReport:
        """The report of JSON content written by `to_json`; ValueError naming a missing key."""
        fields = _require_mode(content, cls.scaling_mode, cls._KEYS, "mocap scaling report")
        return cls(
            scaled_model_source=fields["scaled_model_source"],
            marker_set=fields["marker_set"],
            opensim_files=dict(fields["opensim_files"]),
            mass_kg=fields["mass_kg"],
            height_m=fields["height_m"],
            model_mass_kg=fields["model_mass_kg"],
            marker_scale_factors=_factors_from_json(fields["marker_scale_factors"]),
            warning=fields.get("warning"),
        )


ScalingReport = VideoScalingReport | MocapScalingReport
"""What `scaling.json` holds, by its `scaling_mode`."""

_SCALING_REPORTS: dict[str, type[VideoScalingReport] | type[MocapScalingReport]] = {
    VideoScalingReport.scaling_mode: VideoScalingReport,
    MocapScalingReport.scaling_mode: MocapScalingReport,
}


def scaling_report_from_json(content: object) -> ScalingReport:
    """The video or mocap scaling report of JSON content, chosen by its `scaling_mode`."""
    mode = require_keys(content, ("scaling_mode",), "the scaling report")["scaling_mode"]
    if mode not in _SCALING_REPORTS:
        raise ValueError(f"scaling_mode is {mode!r}, expected one of {sorted(_SCALING_REPORTS)}")
    return _SCALING_REPORTS[mode].from_json(content)


def read_scaling_report(path: Path | str) -> ScalingReport:
    """The scaling report in `path` (`scaling.json`), or `UnreadableFileError` naming it."""
    with reading(path, "scaling report"):
        return scaling_report_from_json(read_json(path, "scaling report"))


@dataclass(frozen=True)
class IkReport:
    """`ik.json`: inverse kinematics of one trial.

    Attributes:
        trc: the trial's markers (.trc).
        model: the scaled model tracked (.osim).
        ik_setup: the marker set's IK set-up, before adaptation.
        ik_tasks_left_out: IK tasks removed or switched off by the adaptation to the
            marker set, sorted.
        ik_weights_overridden: marker -> weight set by the marker set.
        accuracy: IK solver accuracy (dimensionless).
        frames: number of frames solved.
        time_range_s: (start, end) in seconds of the frames solved.
        rms_marker_error_m: root mean square over frames of the per-frame RMS marker error.
        max_marker_error_m: largest single marker error over all frames.
    """

    trc: str
    model: str
    ik_setup: str
    ik_tasks_left_out: tuple[str, ...]
    ik_weights_overridden: dict[str, float]
    accuracy: float
    frames: int
    time_range_s: tuple[float, float]
    rms_marker_error_m: float
    max_marker_error_m: float

    _KEYS: ClassVar[tuple[str, ...]] = (
        "trc",
        "model",
        "ik_setup",
        "ik_tasks_left_out",
        "ik_weights_overridden",
        "accuracy",
        "frames",
        "time_range_s",
        "rms_marker_error_m",
        "max_marker_error_m",
    )

    def to_json(self) -> dict[str, Any]:
        """The report as JSON content (lists for tuples)."""
        return {
            "trc": self.trc,
            "model": self.model,
            "ik_setup": self.ik_setup,
            "ik_tasks_left_out": list(self.ik_tasks_left_out),
            "ik_weights_overridden": dict(self.ik_weights_overridden),
            "accuracy": self.accuracy,
            "frames": self.frames,
            "time_range_s": list(self.time_range_s),
            "rms_marker_error_m": self.rms_marker_error_m,
            "max_marker_error_m": self.max_marker_error_m,
        }

    @classmethod
    def from_json(cls, content: object) -> IkReport:
        """The report of JSON content written by `to_json`; ValueError naming a missing key."""
        fields = require_keys(content, cls._KEYS, "the IK report")
        start, end = fields["time_range_s"]
        return cls(
            trc=fields["trc"],
            model=fields["model"],
            ik_setup=fields["ik_setup"],
            ik_tasks_left_out=tuple(fields["ik_tasks_left_out"]),
            ik_weights_overridden=dict(fields["ik_weights_overridden"]),
            accuracy=fields["accuracy"],
            frames=fields["frames"],
            time_range_s=(start, end),
            rms_marker_error_m=fields["rms_marker_error_m"],
            max_marker_error_m=fields["max_marker_error_m"],
        )

    @classmethod
    def read(cls, path: Path | str) -> IkReport:
        """The IK report in `path` (`ik.json`), or `UnreadableFileError` naming it."""
        with reading(path, "IK report"):
            return cls.from_json(read_json(path, "IK report"))
