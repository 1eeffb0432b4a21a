"""Dataset description: the Pose2Sim demo adapter and sample-sheet validation."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from posebench.camera import load_cameras
from posebench.datasets import describe_dataset
from posebench.datasets.sheet import (
    ADDED_COLUMNS,
    SampleSheetError,
    read_sample_rows,
    read_samples,
    validate_samples,
)


def describe(root: Path, tmp_path: Path, **kwargs: object) -> pd.DataFrame:
    return describe_dataset(
        adapter="pose2sim_demo",
        root=root,
        dataset="demo",
        samples_path=tmp_path / "samples.tsv",
        calibration_dir=tmp_path / "calibration",
        **kwargs,  # type: ignore[arg-type]
    )


def test_demo_adapter(pose2sim_dir: Path, tmp_path: Path) -> None:
    samples = describe(pose2sim_dir / "Demo_SinglePerson", tmp_path)
    assert list(samples["camera"]) == ["cam01", "cam02", "cam03", "cam04"]
    assert set(samples["mass_kg"]) == {70.0}
    assert samples["height_m"].isna().all()  # 'auto' in the demo's Config.toml
    sheet = read_samples(tmp_path / "samples.tsv")
    assert sheet[["subject", "session", "trial"]].drop_duplicates().shape[0] == 1
    cameras = load_cameras(Path(sheet["calibration"].iloc[0]))
    assert [c.name for c in cameras] == ["cam01", "cam02", "cam03", "cam04"]
    # The demo's floor is z-up; every camera is above the floor.
    assert all(c.center_m()[2] > 1.0 for c in cameras)


def test_missing_folder_and_video(pose2sim_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(SampleSheetError, match="does not exist"):
        describe(tmp_path / "nowhere", tmp_path)
    copy = tmp_path / "demo"
    shutil.copytree(pose2sim_dir / "Demo_SinglePerson", copy)
    (copy / "videos" / "cam02.mp4").unlink()
    with pytest.raises(SampleSheetError, match="do not match videos"):
        describe(copy, tmp_path)


def valid_sheet() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "dataset": "d", "subject": "s", "session": "S0", "trial": ["t1", "t1", "t2", "t2"],
            "camera": ["c1", "c2", "c1", "c2"], "video": "v.mp4", "calibration": "c.json",
            "mass_kg": 70.0, "height_m": np.nan, "activity": "t", "scaling_session": "S0",
            "scaling_trial": "t1", "scaling_model": "", "ground_truth": "", "evaluate": "no",
        }
    )  # fmt: skip


def test_sheet_of_an_older_format_is_read_for_replanning(tmp_path: Path) -> None:
    # A sheet written before `scaling_model` existed still plans (it meant video scaling),
    # so that the run which describes the dataset again (SHEET_FORMAT is a parameter of
    # describe_dataset) can start; a column missing for other reasons is an error.
    old = tmp_path / "old.tsv"
    valid_sheet().drop(columns=list(ADDED_COLUMNS)).to_csv(old, sep="\t", index=False)
    assert {row["scaling_model"] for row in read_sample_rows(old)} == {""}
    assert list(read_samples(old)["scaling_model"].fillna("")) == [""] * 4
    valid_sheet().drop(columns=["activity"]).to_csv(old, sep="\t", index=False)
    with pytest.raises(SampleSheetError, match=r"missing columns \['activity'\]"):
        read_sample_rows(old)


def test_sheet_validation() -> None:
    validate_samples(valid_sheet(), "sheet")
    duplicated = pd.concat([valid_sheet(), valid_sheet().iloc[:1]])
    with pytest.raises(SampleSheetError, match="duplicated sample keys"):
        validate_samples(duplicated, "sheet")
    bad_scaling = valid_sheet().assign(scaling_trial="t9")
    with pytest.raises(SampleSheetError, match="scaling session/trial that is in the sheet"):
        validate_samples(bad_scaling, "sheet")
    bad_mass = valid_sheet().assign(mass_kg=[70.0, 70.0, np.nan, 70.0])
    with pytest.raises(SampleSheetError, match="mass_kg"):
        validate_samples(bad_mass, "sheet")
    for column, prefix in [
        ("subject", "a/"),
        ("session", ".."),
        ("trial", "walk "),
        ("camera", "."),
    ]:
        unsafe = valid_sheet()
        unsafe[column] = prefix + unsafe[column].astype(str)
        with pytest.raises(SampleSheetError, match=rf"column '{column}' has unsafe names"):
            validate_samples(unsafe, "sheet")
    evaluate_without_truth = valid_sheet().assign(evaluate="yes")
    with pytest.raises(SampleSheetError, match="need a ground_truth"):
        validate_samples(evaluate_without_truth, "sheet")
    uneven = valid_sheet().iloc[:3]
    with pytest.raises(SampleSheetError, match="different cameras"):
        validate_samples(uneven, "sheet")
