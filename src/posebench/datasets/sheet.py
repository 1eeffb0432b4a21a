"""The internal description of a dataset: one sample-sheet row per trial and camera.

Every dataset adapter writes this sheet (tab-separated) plus one calibration JSON per
session (see `posebench.camera.save_cameras`); every later stage reads only these, never
the external layout. The checks run on plain rows (dicts), so that the workflow's planner
(`posebench.planning`) validates a sheet without pandas.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from posebench.io.atomic import atomic_output
from posebench.keys import VIDEO_KEYS
from posebench.names import RULE as NAME_RULE
from posebench.names import unsafe_names

if TYPE_CHECKING:
    import pandas as pd

SAMPLE_COLUMNS = [
    *VIDEO_KEYS,
    "video",  # path to the camera's video of this trial
    "calibration",  # path to the session's calibration JSON (all cameras)
    "mass_kg",  # participant mass
    "height_m",  # participant height; empty when unknown
    "activity",  # movement type (e.g. squats, walking), for per-activity results
    "scaling_session",  # session of the trial whose frames scale the OpenSim model
    "scaling_trial",  # that trial (it must be in the sheet too)
    "scaling_model",  # the dataset's scaled model (.osim) to use; empty: scale on the video
    "ground_truth",  # motion-capture IK (.mot, degrees) to score against; empty if none
    "evaluate",  # "yes" if this trial is scored against its ground truth
]


# Version of the sheet's columns, a parameter of describe_dataset: a new version describes
# every dataset again. Columns added since version 1, with the value an older sheet meant;
# they are filled in when such a sheet is read, so the run that re-describes it can plan.
SHEET_FORMAT = 2
ADDED_COLUMNS: dict[str, str] = {"scaling_model": ""}


class SampleSheetError(ValueError):
    """The sample sheet is malformed or inconsistent; the message names the sheet."""


def calibration_file(calibration_dir: Path, subject: str, session: str) -> Path:
    """The calibration JSON of a subject's session under an adapter's `calibration_dir`
    (`<subject>/<session>.json`), the path in the sheet's `calibration` column."""
    return calibration_dir / subject / f"{session}.json"


def check_sample_rows(rows: Sequence[Mapping[str, Any]], source: str) -> None:
    """Check columns, keys and values of sheet rows; raise `SampleSheetError` naming `source`."""
    if not rows:
        raise SampleSheetError(f"{source}: no samples (no trial with videos was found)")
    missing = [c for c in SAMPLE_COLUMNS if c not in rows[0]]
    if missing:
        raise SampleSheetError(f"{source}: missing columns {missing}; expected {SAMPLE_COLUMNS}")
    seen: dict[tuple[str, ...], int] = {}
    for row in rows:
        key = tuple(str(row[c]) for c in VIDEO_KEYS)
        seen[key] = seen.get(key, 0) + 1
    duplicated = sorted(key for key, count in seen.items() if count > 1)
    if duplicated:
        listed = "\n".join("  " + "/".join(key) for key in duplicated)
        raise SampleSheetError(f"{source}: duplicated sample keys:\n{listed}")
    for column in (*VIDEO_KEYS, "scaling_session", "scaling_trial"):
        bad = unsafe_names(str(row[column]) for row in rows)
        if bad:
            raise SampleSheetError(
                f"{source}: column {column!r} has unsafe names {bad}; names become folder "
                f"names, so they may hold only {NAME_RULE}. Rename the folders or files of "
                "the dataset (or list only safe ones in the config)."
            )
    if not all(_positive(row["mass_kg"]) for row in rows):
        raise SampleSheetError(f"{source}: mass_kg must be a positive number in every row")
    if any(row["evaluate"] not in ("yes", "no") for row in rows):
        raise SampleSheetError(f"{source}: column 'evaluate' must be 'yes' or 'no'")
    if any(row["evaluate"] == "yes" and not _text(row["ground_truth"]) for row in rows):
        raise SampleSheetError(f"{source}: rows with evaluate=yes need a ground_truth file")
    _check_sessions(rows, source)


def _check_sessions(rows: Sequence[Mapping[str, Any]], source: str) -> None:
    known = {(str(r["subject"]), str(r["session"]), str(r["trial"])) for r in rows}
    scaling: dict[tuple[str, str, str], set[tuple[str, str, str]]] = {}
    cameras: dict[tuple[str, str, str], dict[str, set[str]]] = {}
    for row in rows:
        session = (str(row["dataset"]), str(row["subject"]), str(row["session"]))
        scaling.setdefault(session, set()).add(
            (str(row["scaling_session"]), str(row["scaling_trial"]), _text(row["scaling_model"]))
        )
        cameras.setdefault(session, {}).setdefault(str(row["trial"]), set()).add(str(row["camera"]))
    for session, named in sorted(scaling.items()):
        subject = session[1]
        if len(named) != 1 or (subject, *next(iter(named))[:2]) not in known:
            raise SampleSheetError(
                f"{source}: session {'/'.join(session)} must name one scaling "
                f"session/trial that is in the sheet, and one scaling model (or none); found "
                f"{sorted(named)}"
            )
        per_trial = {trial: tuple(sorted(c)) for trial, c in sorted(cameras[session].items())}
        if len(set(per_trial.values())) != 1:
            raise SampleSheetError(
                f"{source}: trials of session {'/'.join(session)} have different "
                f"cameras: {per_trial}"
            )


def _positive(value: Any) -> bool:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(number) and number > 0


def _text(value: Any) -> str:
    """A cell as text, with missing values (None, NaN) as the empty string."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def validate_samples(samples: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check columns, keys and values; return the sheet sorted by its keys."""
    missing = [c for c in SAMPLE_COLUMNS if c not in samples.columns]
    if missing:
        raise SampleSheetError(f"{source}: missing columns {missing}; expected {SAMPLE_COLUMNS}")
    check_sample_rows(samples.to_dict("records"), source)
    return samples[SAMPLE_COLUMNS].sort_values(list(VIDEO_KEYS)).reset_index(drop=True)


def write_samples(path: Path, samples: pd.DataFrame) -> None:
    validated = validate_samples(samples, str(path))
    with atomic_output(path) as tmp:
        validated.to_csv(tmp, sep="\t", index=False, na_rep="")


def read_sample_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a sample sheet, with numbers parsed (`height_m` None when empty)."""
    path = Path(path)
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle, delimiter="\t")
            present = reader.fieldnames or []
            missing = [c for c in SAMPLE_COLUMNS if c not in present and c not in ADDED_COLUMNS]
            if missing:
                raise SampleSheetError(
                    f"{path}: missing columns {missing}; delete it so that describe_dataset "
                    "writes it again."
                )
            added = {c: v for c, v in ADDED_COLUMNS.items() if c not in present}
            rows: list[dict[str, Any]] = [{**added, **row} for row in reader]
    except FileNotFoundError:
        raise SampleSheetError(f"Sample sheet not found: {path}") from None
    for row in rows:
        row["mass_kg"] = _number(row["mass_kg"], path, "mass_kg")
        height = row["height_m"]
        row["height_m"] = None if height in ("", None) else _number(height, path, "height_m")
    return rows


def _number(text: Any, path: Path, column: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise SampleSheetError(
            f"{path}: column {column!r} holds {text!r}; expected a number"
        ) from None
    if math.isnan(value):
        raise SampleSheetError(f"{path}: column {column!r} holds NaN; expected a number")
    return value


def read_samples(path: Path) -> pd.DataFrame:
    """The sheet at `path` as a validated table (`height_m` NaN when unknown)."""
    import pandas as pd

    samples = pd.DataFrame(read_sample_rows(path), columns=SAMPLE_COLUMNS)
    samples["height_m"] = pd.to_numeric(samples["height_m"])
    return validate_samples(samples, str(path))
