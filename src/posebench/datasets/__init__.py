"""Dataset adapters: each turns an external layout into the internal sample sheet."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from posebench.datasets.sheet import SampleSheetError, select_cameras, write_samples

Adapter = Callable[[Path, str, Path], pd.DataFrame]


def _adapters() -> dict[str, Adapter]:
    from posebench.datasets.pose2sim_demo import describe_pose2sim_demo

    return {"pose2sim_demo": describe_pose2sim_demo}


def describe_dataset(
    *,
    adapter: str,
    root: Path,
    dataset: str,
    samples_path: Path,
    calibration_dir: Path,
    cameras: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Run `adapter` on `root` and write the validated sample sheet to `samples_path`."""
    adapters = _adapters()
    if adapter not in adapters:
        raise SampleSheetError(
            f"Dataset {dataset!r}: unknown adapter {adapter!r}; available: {sorted(adapters)}"
        )
    if not root.is_dir():
        raise SampleSheetError(
            f"Dataset {dataset!r}: folder {root} does not exist. Check `datasets: {dataset}: "
            "path` in config/config.yaml."
        )
    samples = adapters[adapter](root, dataset, calibration_dir)
    samples = select_cameras(samples, cameras, f"dataset {dataset!r}")
    write_samples(samples_path, samples)
    return samples
