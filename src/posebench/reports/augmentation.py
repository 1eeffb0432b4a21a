"""Report of the stage `augment` (`augment.json`): which augmenter ran on which markers,
the participant's height and mass it was given (and where the height came from), the frames
it augmented."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posebench.reports.fields import (
    dataclass_from_json,
    dataclass_to_json,
    json_keys,
    read_report,
    require_keys,
)


@dataclass(frozen=True)
class AugmentationReport:
    """`augment.json`.

    Attributes:
        trc: the triangulated markers read (.trc).
        marker_set: name of the marker set (`posebench.markersets`).
        augmenter: name of the augmenter (`posebench.augmenter.AUGMENTERS`).
        augmenter_dir: the folder its networks were loaded from.
        input_markers: the markers the networks read.
        output_markers: the markers they wrote, after the input TRC's own.
        mass_kg: participant mass in kilograms.
        height_m: participant height in metres, as given to the networks.
        height_source: `metadata` (the dataset's) or `estimated` (`posebench.height`).
        height_estimate: with `estimated`: the height, the method, the median segment
            lengths (m), the frames they were measured in and the scaling trial's markers
            they come from (`trc`); else None.
        frames: frames of the TRC.
        frames_augmented: frames with every input present (the others are NaN).
        segments: [start, stop) frame runs augmented, each run on its own.

    The networks' run time goes to the job's log, not here: outputs are deterministic.
    """

    trc: str
    marker_set: str
    augmenter: str
    augmenter_dir: str
    input_markers: tuple[str, ...]
    output_markers: tuple[str, ...]
    mass_kg: float
    height_m: float
    height_source: str
    height_estimate: dict[str, Any] | None
    frames: int
    frames_augmented: int
    segments: tuple[tuple[int, int], ...]

    def to_json(self) -> dict[str, Any]:
        return dataclass_to_json(self)

    @classmethod
    def from_json(cls, content: object) -> AugmentationReport:
        fields = require_keys(content, json_keys(cls), "the augmentation report")
        return dataclass_from_json(
            cls,
            fields,
            input_markers=tuple(fields["input_markers"]),
            output_markers=tuple(fields["output_markers"]),
            segments=tuple((int(a), int(b)) for a, b in fields["segments"]),
        )

    @classmethod
    def read(cls, path: Path | str) -> AugmentationReport:
        return read_report(path, "augmentation report", cls.from_json)
