"""The internal description of a dataset: one sample-sheet row per trial and camera.

Every dataset adapter writes this sheet (tab-separated) plus one calibration JSON per
session (see `posebench.camera.save_cameras`); every later stage reads only these, never
the external layout.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

KEY_COLUMNS = ["dataset", "subject", "session", "trial", "camera"]
SAMPLE_COLUMNS = [
    *KEY_COLUMNS,
    "video",  # path to the camera's video of this trial
    "calibration",  # path to the session's calibration JSON (all cameras)
    "mass_kg",  # participant mass
    "height_m",  # participant height; empty when unknown
    "activity",  # movement type (e.g. squats, walking), for per-activity results
    "scaling_session",  # session of the trial whose frames scale the OpenSim model
    "scaling_trial",  # that trial (it must be in the sheet too)
    "ground_truth",  # motion-capture IK (.mot, degrees) to score against; empty if none
    "evaluate",  # "yes" if this trial is scored against its ground truth
]


class SampleSheetError(ValueError):
    """The sample sheet is malformed or inconsistent; the message names the sheet."""


def validate_samples(samples: pd.DataFrame, source: str) -> pd.DataFrame:
    """Check columns, keys and values; return the sheet sorted by its keys."""
    missing = [c for c in SAMPLE_COLUMNS if c not in samples.columns]
    if missing:
        raise SampleSheetError(f"{source}: missing columns {missing}; expected {SAMPLE_COLUMNS}")
    if samples.empty:
        raise SampleSheetError(f"{source}: no samples (no trial with videos was found)")
    duplicated = samples.duplicated(KEY_COLUMNS, keep=False)
    if duplicated.any():
        rows = samples.loc[duplicated, KEY_COLUMNS].to_string(index=False)
        raise SampleSheetError(f"{source}: duplicated sample keys:\n{rows}")
    for column in KEY_COLUMNS:
        bad = samples[column].astype(str).str.contains(r"[/\s]|^$", regex=True)
        if bad.any():
            raise SampleSheetError(
                f"{source}: column {column!r} has values with '/', spaces or empty: "
                f"{sorted(samples.loc[bad, column].astype(str).unique())}"
            )
    mass = pd.to_numeric(samples["mass_kg"], errors="coerce")
    if not (np.isfinite(mass) & (mass > 0)).all():
        raise SampleSheetError(f"{source}: mass_kg must be a positive number in every row")
    bad_evaluate = ~samples["evaluate"].isin(["yes", "no"])
    if bad_evaluate.any():
        raise SampleSheetError(f"{source}: column 'evaluate' must be 'yes' or 'no'")
    no_truth = (samples["evaluate"] == "yes") & (samples["ground_truth"].fillna("") == "")
    if no_truth.any():
        raise SampleSheetError(f"{source}: rows with evaluate=yes need a ground_truth file")
    known = set(zip(samples["subject"], samples["session"], samples["trial"], strict=True))
    per_session = samples.groupby(["dataset", "subject", "session"])
    for key, group in per_session:
        scaling = set(zip(group["scaling_session"], group["scaling_trial"], strict=True))
        subject = key[1]
        if len(scaling) != 1 or (subject, *next(iter(scaling))) not in known:
            raise SampleSheetError(
                f"{source}: session {'/'.join(map(str, key))} must name one scaling "
                f"session/trial that is in the sheet; found {sorted(scaling)}"
            )
        cameras = group.groupby("trial")["camera"].apply(lambda c: tuple(sorted(c)))
        if cameras.nunique() != 1:
            raise SampleSheetError(
                f"{source}: trials of session {'/'.join(map(str, key))} have different "
                f"cameras: {cameras.to_dict()}"
            )
    return samples[SAMPLE_COLUMNS].sort_values(KEY_COLUMNS).reset_index(drop=True)


def write_samples(path: Path, samples: pd.DataFrame) -> None:
    validated = validate_samples(samples, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    validated.to_csv(path, sep="\t", index=False, na_rep="")


def read_samples(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise SampleSheetError(f"Sample sheet not found: {path}")
    samples = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    samples = samples.reindex(columns=SAMPLE_COLUMNS)
    for column in ("mass_kg", "height_m"):
        samples[column] = pd.to_numeric(samples[column], errors="coerce")
    return validate_samples(samples, str(path))
