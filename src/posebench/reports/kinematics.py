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

from posebench.reports.fields import (
    dataclass_from_json,
    dataclass_to_json,
    json_keys,
    read_report,
    require_keys,
)

Factors = tuple[float, float, float]
"""Scale factors of a body along its x, y and z axes (dimensionless)."""


def _require_mode(content: object, mode: str, keys: Iterable[str], kind: str) -> Mapping[str, Any]:
    """`content` as a mapping with `scaling_mode` `mode` and `keys`, or ValueError."""
    found = require_keys(content, ("scaling_mode",), f"the {kind}")["scaling_mode"]
    if found != mode:
        raise ValueError(f"scaling_mode is {found!r}, expected {mode!r}")
    return require_keys(content, keys, f"the {kind}")


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

    def to_json(self) -> dict[str, Any]:
        """The report as JSON content (lists for tuples), `scaling_mode` first."""
        return {"scaling_mode": self.scaling_mode, **dataclass_to_json(self)}

    @classmethod
    def from_json(cls, content: object) -> VideoScalingReport:
        """The report of JSON content written by `to_json`; ValueError naming a missing key."""
        fields = _require_mode(content, cls.scaling_mode, json_keys(cls), "video scaling report")
        start, end = fields["static_window_s"]
        return dataclass_from_json(
            cls,
            fields,
            opensim_files=dict(fields["opensim_files"]),
            scaling_setup_changes={
                change: tuple(names) for change, names in fields["scaling_setup_changes"].items()
            },
            scaling_markers=tuple(fields["scaling_markers"]),
            static_window_s=(start, end),
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

    def to_json(self) -> dict[str, Any]:
        """The report as JSON content (lists for tuples; `warning` only when there is one),
        `scaling_mode` first."""
        content = {"scaling_mode": self.scaling_mode, **dataclass_to_json(self)}
        if self.warning is None:
            del content["warning"]
        return content

    @classmethod
    def from_json(cls, content: object) -> MocapScalingReport:
        """The report of JSON content written by `to_json`; ValueError naming a missing key
        (`warning` may be missing: there is none)."""
        keys = json_keys(cls, optional=("warning",))
        fields = _require_mode(content, cls.scaling_mode, keys, "mocap scaling report")
        return dataclass_from_json(
            cls,
            fields,
            opensim_files=dict(fields["opensim_files"]),
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
    return read_report(path, "scaling report", scaling_report_from_json)


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

    def to_json(self) -> dict[str, Any]:
        """The report as JSON content (lists for tuples)."""
        return dataclass_to_json(self)

    @classmethod
    def from_json(cls, content: object) -> IkReport:
        """The report of JSON content written by `to_json`; ValueError naming a missing key."""
        fields = require_keys(content, json_keys(cls), "the IK report")
        start, end = fields["time_range_s"]
        return dataclass_from_json(
            cls,
            fields,
            ik_tasks_left_out=tuple(fields["ik_tasks_left_out"]),
            ik_weights_overridden=dict(fields["ik_weights_overridden"]),
            time_range_s=(start, end),
        )

    @classmethod
    def read(cls, path: Path | str) -> IkReport:
        """The IK report in `path` (`ik.json`), or `UnreadableFileError` naming it."""
        return read_report(path, "IK report", cls.from_json)
