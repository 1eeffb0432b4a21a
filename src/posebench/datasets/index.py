"""A dataset's sample sheet as the workflow's planner uses it: read and checked once, then
trials looked up by (subject, session, trial) in constant time.

Only the standard library is used (the row reader and checks of
`posebench.datasets.sheet`), so planning a run loads no pandas for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from posebench.datasets.sheet import SampleSheetError, check_sample_rows, read_sample_rows


@dataclass(frozen=True)
class Trial:
    """One trial of a sample sheet: its cameras' videos and the trial-level columns."""

    dataset: str
    subject: str
    session: str
    trial: str
    videos: Mapping[str, str]  # camera -> video, cameras sorted by name
    calibration: str
    mass_kg: float
    height_m: float | None
    activity: str
    scaling_session: str
    scaling_trial: str
    scaling_model: str  # the dataset's scaled model; empty: scaled on the video
    ground_truth: str
    evaluate: bool

    @property
    def cameras(self) -> tuple[str, ...]:
        return tuple(self.videos)


class SampleIndex:
    """A dataset's sample sheet, validated once and indexed by (subject, session, trial)."""

    def __init__(self, dataset: str, trials: Iterable[Trial], source: str) -> None:
        self.dataset = dataset
        self.source = source
        self.trials: dict[tuple[str, str, str], Trial] = {
            (t.subject, t.session, t.trial): t for t in trials
        }
        self._sessions: dict[tuple[str, str], Trial] = {}
        for trial in self.trials.values():
            self._sessions.setdefault((trial.subject, trial.session), trial)

    @classmethod
    def read(
        cls,
        path: str | Path,
        dataset: str,
        validate: Callable[[list[dict[str, Any]]], None] | None = None,
    ) -> SampleIndex:
        """Read and check the sheet at `path`; `validate` may check the rows further (the
        workflow passes its JSON-schema validation)."""
        rows = read_sample_rows(path)
        if validate is not None:
            validate(rows)
        check_sample_rows(rows, str(path))
        wrong = sorted({row["dataset"] for row in rows} - {dataset})
        if wrong:
            raise SampleSheetError(
                f"{path}: rows of dataset(s) {wrong} in the sheet of {dataset!r}; delete the "
                "sheet so that describe_dataset writes it again."
            )
        return cls(dataset, _trials(rows), str(path))

    def __iter__(self) -> Iterator[Trial]:
        return iter(sorted(self.trials.values(), key=lambda t: (t.subject, t.session, t.trial)))

    def trial(self, subject: str, session: str, trial: str) -> Trial:
        try:
            return self.trials[(subject, session, trial)]
        except KeyError:
            raise SampleSheetError(
                f"{self.source}: no trial {self.dataset}/{subject}/{session}/{trial}."
            ) from None

    def session(self, subject: str, session: str) -> Trial:
        """A trial of the session: it carries the participant and the scaling trial."""
        try:
            return self._sessions[(subject, session)]
        except KeyError:
            raise SampleSheetError(
                f"{self.source}: no session {self.dataset}/{subject}/{session}."
            ) from None


def _trials(rows: Sequence[Mapping[str, Any]]) -> list[Trial]:
    grouped: dict[tuple[str, str, str], list[Mapping[str, Any]]] = {}
    for row in rows:
        grouped.setdefault((row["subject"], row["session"], row["trial"]), []).append(row)
    trials = []
    for (subject, session, trial), members in grouped.items():
        first = members[0]
        trials.append(
            Trial(
                dataset=first["dataset"],
                subject=subject,
                session=session,
                trial=trial,
                videos={r["camera"]: r["video"] for r in sorted(members, key=_camera)},
                calibration=first["calibration"],
                mass_kg=first["mass_kg"],
                height_m=first["height_m"],
                activity=first["activity"],
                scaling_session=first["scaling_session"],
                scaling_trial=first["scaling_trial"],
                scaling_model=first["scaling_model"] or "",
                ground_truth=first["ground_truth"],
                evaluate=first["evaluate"] == "yes",
            )
        )
    return trials


def _camera(row: Mapping[str, Any]) -> str:
    return str(row["camera"])
