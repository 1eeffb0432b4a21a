"""Dataset adapters: each turns an external layout into the internal sample sheet."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from posebench.datasets.sheet import SampleSheetError, write_samples
from posebench.io.atomic import atomic_output

if TYPE_CHECKING:
    import pandas as pd

Adapter = Callable[[Path, str, Path, Mapping[str, Any]], "pd.DataFrame"]
Sources = Callable[[Path, Mapping[str, Any]], list[Path]]


def _adapters() -> dict[str, Adapter]:
    from posebench.datasets.opencap import describe_opencap
    from posebench.datasets.pose2sim_demo import describe_pose2sim_demo

    return {"pose2sim_demo": describe_pose2sim_demo, "opencap": describe_opencap}


def source_files(adapter: str, root: Path, options: Mapping[str, Any]) -> list[Path]:
    """Every file the adapter reads to describe the dataset under `root` (metadata,
    calibration, videos, ground truth), sorted; empty when `root` does not exist.

    The workflow declares them as inputs of `describe_dataset`, so that editing, adding or
    removing any of them describes the dataset again. Listing costs a few directory scans
    and no file is opened.
    """
    from posebench.datasets.layout import opencap_sources, pose2sim_demo_sources

    listers: dict[str, Sources] = {
        "pose2sim_demo": pose2sim_demo_sources,
        "opencap": opencap_sources,
    }
    if adapter not in listers:
        raise SampleSheetError(f"unknown adapter {adapter!r}; available: {sorted(listers)}")
    if not root.is_dir():
        return []
    return sorted(listers[adapter](root, options))


def describe_dataset(
    *,
    adapter: str,
    root: Path,
    dataset: str,
    samples_path: Path,
    calibration_dir: Path,
    skipped_path: Path | None = None,
    options: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Run `adapter` on `root` and write the validated sample sheet to `samples_path`.

    `options` is the dataset's config section (adapters read their own selection keys;
    camera setups are chosen later, by the workflow). What the adapter left out is written to
    `skipped_path` (TSV: subject, session, trial, reason).
    """
    options = dict(options or {})
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
    import pandas as pd

    samples = adapters[adapter](root, dataset, calibration_dir, options)
    skipped = pd.DataFrame(
        samples.attrs.get("skipped", []), columns=["subject", "session", "trial", "reason"]
    )
    if samples.empty:
        reasons = "; ".join(
            "/".join(row[:3]) + f": {row[3]}" for row in skipped.itertuples(index=False)
        )
        raise SampleSheetError(
            f"Dataset {dataset!r} in {root}: no usable trial was found ({reasons or 'nothing'})."
        )
    if skipped_path is not None:
        with atomic_output(skipped_path) as tmp:
            skipped.to_csv(tmp, sep="\t", index=False)
    # Last: the sample sheet's presence means the checkpoint finished.
    write_samples(samples_path, samples)
    return samples
