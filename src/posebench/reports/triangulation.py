"""Report of the stage `triangulate` (`triangulation.json`), read by `summarize` and `evaluate`.

Reports written before posebench checked the cameras lack `cameras_used`,
`cameras_configured`, `cameras_dropped` and `camera_quality`; those written before the
frame-rate and synchronisation checks also lack `time_base_fps`, `time_base_source` and
`sync`. `TriangulationReport.from_json` reads them with the readers' fallbacks (the cameras
used are `cameras`, all configured cameras were used, none was dropped, no time base and no
synchronisation report) unless `require_all` is set.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from posebench.io.atomic import write_json
from posebench.reports.fields import (
    dataclass_from_json,
    dataclass_to_json,
    json_keys,
    read_report,
    require_keys,
)


@dataclass(frozen=True)
class CameraQuality:
    """`camera_quality` entry of one configured camera.

    Attributes:
        detection_fraction: fraction of the video's frames in which the camera detected the
            person.
        median_reprojection_error_px: median reprojection error (px) of its used keypoints;
            None when the camera was dropped or none of its keypoints was used.
    """

    detection_fraction: float
    median_reprojection_error_px: float | None

    def to_json(self) -> dict[str, Any]:
        """The entry as JSON content."""
        return dataclass_to_json(self)

    @classmethod
    def from_json(cls, content: object, where: str) -> CameraQuality:
        """The entry of JSON content; ValueError naming `where` and a missing key."""
        return dataclass_from_json(cls, require_keys(content, json_keys(cls), where))


@dataclass(frozen=True)
class CameraSyncReport:
    """`sync.cameras` entry of one used camera: its measured time offset.

    Attributes:
        offset_frames: +k: the camera lags k frames; -k: it leads; 0: no clear offset; None:
            not measured (see `not_measured`).
        error_px_at_zero: median reprojection error (px) of its keypoints as recorded, or
            None when not finite.
        error_px_at_offset: the same shifted by `offset_frames`, or None.
        error_px_by_offset: the same for every offset -max..+max (None where not finite).
        frames: evaluated frames with at least one usable observation.
        observations: usable keypoint observations at offset 0.
        not_measured: why `offset_frames` is None; None when measured.
    """

    offset_frames: int | None
    error_px_at_zero: float | None
    error_px_at_offset: float | None
    error_px_by_offset: tuple[float | None, ...]
    frames: int
    observations: int
    not_measured: str | None

    def to_json(self) -> dict[str, Any]:
        """The entry as JSON content (a list for the tuple)."""
        return dataclass_to_json(self)

    @classmethod
    def from_json(cls, content: object, where: str) -> CameraSyncReport:
        """The entry of JSON content; ValueError naming `where` and a missing key."""
        fields = require_keys(content, json_keys(cls), where)
        return dataclass_from_json(
            cls, fields, error_px_by_offset=tuple(fields["error_px_by_offset"])
        )


@dataclass(frozen=True)
class SyncReport:
    """`sync`: the settings and outcome of the per-camera time-offset check.

    Attributes:
        enabled: whether offsets were measured (`max_offset_frames` > 0).
        max_offset_frames: offsets searched, -max..+max frames.
        correct: whether offset cameras' keypoints are shifted (`triangulation.sync.correct`).
        applied: whether keypoints were shifted.
        min_improvement_fraction: relative error reduction an offset needs to count.
        min_improvement_px: absolute error reduction (px) an offset needs to count.
        max_evaluated_frames: most frames evaluated per trial.
        cameras: per used camera, its offset (empty when not enabled).
    """

    enabled: bool
    max_offset_frames: int
    correct: bool
    applied: bool
    min_improvement_fraction: float
    min_improvement_px: float
    max_evaluated_frames: int
    cameras: dict[str, CameraSyncReport]

    def to_json(self) -> dict[str, Any]:
        """The entry as JSON content."""
        return dataclass_to_json(self)

    @classmethod
    def from_json(cls, content: object, where: str) -> SyncReport:
        """The entry of JSON content; ValueError naming `where` and a missing key."""
        fields = require_keys(content, json_keys(cls), where)
        cameras = require_keys(fields["cameras"], (), f"{where}.cameras")
        return dataclass_from_json(
            cls,
            fields,
            cameras={
                name: CameraSyncReport.from_json(entry, f"{where}.cameras.{name}")
                for name, entry in cameras.items()
            },
        )


@dataclass(frozen=True)
class TriangulationReport:
    """`triangulation.json`: how one trial's 3D markers were reconstructed.

    Attributes:
        cameras_configured: the trial's cameras, in order.
        cameras_used: those triangulated from (the JSON also holds them as `cameras`).
        cameras_dropped: per dropped camera, why.
        camera_quality: per configured camera, its detection fraction and median error.
        keypoint_files: the keypoint files read, one per configured camera.
        video_fps: the videos' frame rate from their headers.
        time_base_fps: the rate placing frame slot j at j / fps; None in older reports.
        time_base_source: where `time_base_fps` comes from; None in older reports.
        video_frames: frames triangulated (the shortest video's).
        output_rate_hz: the TRC's rate.
        output_frames: frames written to the TRC.
        dropped_empty_frames: frames without any marker inside the trial, left out.
        trimmed_leading_frames: output-grid frames without markers cut at the start.
        trimmed_trailing_frames: the same at the end.
        start_time_s: time of the first frame written.
        gap_filled_samples: marker samples filled by gap filling.
        max_gap_frames: longest gap filled, in video frames.
        filter_cutoff_hz: low-pass cutoff, None when not filtered.
        left_right_swapped_frames: per used camera, frames whose left and right were
            exchanged.
        sync: the time-offset check; None in older reports.
        views_rejected_fraction: fraction of confident views left out by the reprojection
            check.
        mean_reprojection_error_px: mean reprojection error (px), None when no point was
            triangulated.
        marker_valid_fraction: per TRC marker, fraction of written frames where it is valid.
    """

    cameras_configured: tuple[str, ...]
    cameras_used: tuple[str, ...]
    cameras_dropped: dict[str, str]
    camera_quality: dict[str, CameraQuality]
    keypoint_files: tuple[str, ...]
    video_fps: float
    time_base_fps: float | None
    time_base_source: str | None
    video_frames: int
    output_rate_hz: float
    output_frames: int
    dropped_empty_frames: int
    trimmed_leading_frames: int
    trimmed_trailing_frames: int
    start_time_s: float
    gap_filled_samples: int
    max_gap_frames: int
    filter_cutoff_hz: float | None
    left_right_swapped_frames: dict[str, int]
    sync: SyncReport | None
    views_rejected_fraction: float
    mean_reprojection_error_px: float | None
    marker_valid_fraction: dict[str, float]

    _LATER_KEYS: ClassVar[tuple[str, ...]] = (
        "cameras_configured",
        "cameras_used",
        "cameras_dropped",
        "camera_quality",
        "time_base_fps",
        "time_base_source",
        "sync",
    )
    """Keys older reports lack (see the module's docstring)."""

    def to_json(self) -> dict[str, Any]:
        """The report as JSON content (lists for tuples), every key included, and the cameras
        used also as `cameras`, the key older readers know."""
        return {"cameras": list(self.cameras_used), **dataclass_to_json(self)}

    @classmethod
    def from_json(cls, content: object, *, require_all: bool = False) -> TriangulationReport:
        """The report of JSON content; ValueError naming a missing key.

        Keys older reports lack are read with the fallbacks of the module's docstring, or
        required too with `require_all`.
        """
        optional = () if require_all else cls._LATER_KEYS
        fields = require_keys(
            content, ("cameras", *json_keys(cls, optional=optional)), "the report"
        )
        used = tuple(fields.get("cameras_used", fields["cameras"]))
        sync = fields.get("sync")
        return dataclass_from_json(
            cls,
            fields,
            cameras_configured=tuple(fields.get("cameras_configured", used)),
            cameras_used=used,
            cameras_dropped=dict(fields.get("cameras_dropped", {})),
            camera_quality={
                name: CameraQuality.from_json(entry, f"the report's camera_quality.{name}")
                for name, entry in fields.get("camera_quality", {}).items()
            },
            keypoint_files=tuple(fields["keypoint_files"]),
            time_base_fps=fields.get("time_base_fps"),
            time_base_source=fields.get("time_base_source"),
            left_right_swapped_frames=dict(fields["left_right_swapped_frames"]),
            sync=None if sync is None else SyncReport.from_json(sync, "the report's sync"),
            marker_valid_fraction=dict(fields["marker_valid_fraction"]),
        )

    @classmethod
    def read(cls, path: Path | str, *, require_all: bool = False) -> TriangulationReport:
        """The report in `path` (`triangulation.json`), or `UnreadableFileError` naming it
        and the rule that writes it."""
        return read_report(
            path,
            "triangulation report",
            lambda content: cls.from_json(content, require_all=require_all),
        )

    def write(self, path: Path | str) -> None:
        """Write the report to `path` as JSON (sorted keys), atomically."""
        write_json(path, self.to_json())
