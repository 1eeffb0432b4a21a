"""Command-line helpers around the workflow: `posebench timings` summarises benchmark files;
`posebench verify-models` checks that the weights of the selected models are in place."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from posebench.markersets import MarkerSetError, get_marker_set
from posebench.weights import verify_checkpoint, verify_manifest
from posebench.weights.spec import (
    CHECKPOINT_DIR,
    MANIFEST_NAME,
    WeightsError,
    WeightsKind,
    WeightsSpec,
    weights_format,
)

if TYPE_CHECKING:
    # pandas, like yaml, is imported inside the one subcommand that needs it.
    import pandas as pd


def stage_timings(benchmark_dir: Path) -> pd.DataFrame:
    """Per rule (the first folder under `benchmark_dir`): jobs, total/mean/max wall seconds
    and the largest resident memory, from Snakemake `benchmark:` files."""
    import pandas as pd

    rows = []
    for path in sorted(benchmark_dir.rglob("*.tsv")):
        table = pd.read_csv(path, sep="\t")
        rule = path.relative_to(benchmark_dir).parts[0]
        rows.append(
            {"rule": rule, "s": float(table["s"].iloc[-1]), "max_rss_mb": table["max_rss"].iloc[-1]}
        )
    if not rows:
        raise SystemExit(f"No benchmark files under {benchmark_dir}; run the workflow first.")
    jobs = pd.DataFrame(rows)
    summary = jobs.groupby("rule", sort=False).agg(
        jobs=("s", "size"),
        total_s=("s", "sum"),
        mean_s=("s", "mean"),
        max_s=("s", "max"),
        max_rss_mb=("max_rss_mb", "max"),
    )
    return summary.reset_index()


MODEL_COLUMNS = ("model", "backend", "marker set", "keypoints", "weights", "checkpoint", "status")


def model_status(configfile: Path, resources: Path) -> list[dict[str, str]]:
    """One row per model of `run.models`, then per detector they use (see MODEL_COLUMNS).

    Models named by an alias are listed under their registry name, the alias in brackets
    (`posebench.planning.resolve_models`, as the workflow does). The status is `ready`,
    `ready (no weights)`, `missing (...)` or `invalid: <reason>`. Hub checkpoints are
    expected where the fetch_weights rule puts them: `<resources>/<name>/weights.json`.
    Nothing is downloaded.
    """
    import yaml

    from posebench.planning import PlanError, resolve_models

    try:
        config = yaml.safe_load(configfile.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise SystemExit(f"Cannot read the config {configfile}: {error}") from error
    models: Mapping[str, Any] = config.get("models") or {}
    detectors: Mapping[str, Any] = config.get("detectors") or {}
    try:
        selection = resolve_models((config.get("run") or {}).get("models", []), models)
    except PlanError as error:
        raise SystemExit(f"Invalid config {configfile}: {error}") from error
    alias_of = {name: alias for alias, name in selection.resolved.items()}
    rows: list[dict[str, str]] = []
    used_detectors: dict[str, None] = {}
    for name in selection.names:
        model = models.get(name)
        if model is None:
            rows.append(_row(name, status=f"invalid: not defined under `models:` in {configfile}"))
            continue
        row = _row(name, backend=str(model.get("backend", "-")))
        if name in alias_of:
            row["model"] = f"{name} (alias {alias_of[name]})"
        marker_set = str(model.get("marker_set"))
        row["marker set"] = marker_set
        if model.get("detector"):
            used_detectors[str(model["detector"])] = None
        try:
            row["keypoints"] = str(len(get_marker_set(marker_set).keypoints))
        except MarkerSetError as error:
            rows.append({**row, "status": f"invalid: {error}"})
            continue
        if "weights" not in model:
            rows.append({**row, "status": "ready (no weights)"})
            continue
        rows.append(
            _weights_row(
                row,
                name,
                "pose",
                model["weights"],
                resources,
                configfile,
                marker_set,
                backend=str(model.get("backend")),
            )
        )
    for name in used_detectors:
        row = _row(name, backend="detector")
        if name not in detectors or "weights" not in detectors[name]:
            rows.append(
                {**row, "status": f"invalid: no `detectors: {name}: weights:` in {configfile}"}
            )
            continue
        rows.append(
            _weights_row(
                row,
                name,
                "detector",
                detectors[name]["weights"],
                resources,
                configfile,
                backend=str(detectors[name].get("backend", "transformers")),
            )
        )
    return rows


def _row(name: str, **values: str) -> dict[str, str]:
    return {**dict.fromkeys(MODEL_COLUMNS, "-"), "model": name, **values}


def _weights_row(
    row: dict[str, str],
    name: str,
    kind: WeightsKind,
    section: Mapping[str, Any],
    resources: Path,
    configfile: Path,
    marker_set: str | None = None,
    *,
    backend: str,
) -> dict[str, str]:
    try:
        spec = WeightsSpec.from_config(name, kind, section, weights_format(backend))
    except WeightsError as error:
        return {**row, "status": f"invalid: {error}"}
    row = {**row, "weights": spec.source}
    missing = _missing_software(spec.format, kind)
    if missing:
        return {
            **row,
            "status": f"missing software ({', '.join(missing)} not installed): run "
            "`make setup-mmpose`",
        }
    manifest = resources / name / MANIFEST_NAME
    try:
        if spec.local_path is not None:
            row["checkpoint"] = str(spec.local_path)
            if not spec.local_path.is_dir():
                return {
                    **row,
                    "status": f"missing (no folder {spec.local_path}: put the checkpoint "
                    "there or fix weights.local_path)",
                }
            verify_checkpoint(spec.local_path, kind=kind, marker_set=marker_set, format=spec.format)
        else:
            row["checkpoint"] = str(resources / name / CHECKPOINT_DIR)
            if not manifest.is_file():
                return {
                    **row,
                    "status": f"missing (run: snakemake -c1 --configfile {configfile} {manifest})",
                }
            row["checkpoint"] = str(verify_manifest(manifest, spec, marker_set=marker_set).path)
    except WeightsError as error:
        return {**row, "status": "invalid: " + " ".join(str(error).split())}
    return {**row, "status": "ready"}


def _missing_software(format: str, kind: WeightsKind) -> list[str]:
    """The packages needed to load weights of `format` for `kind` that are not installed."""
    if format != "openmmlab":
        return []
    from posebench.backends.openmmlab import missing_packages

    return missing_packages(detector=kind == "detector")


def format_table(rows: Sequence[Mapping[str, str]], columns: Sequence[str]) -> str:
    """Left-aligned columns separated by two spaces, with a header line."""
    widths = [max([len(c), *(len(r[c]) for r in rows)]) for c in columns]
    lines = [[*columns], *([r[c] for c in columns] for r in rows)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="posebench", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    timings = commands.add_parser("timings", help="wall time per stage from benchmark files")
    timings.add_argument("benchmarks", nargs="?", type=Path, default=Path("benchmarks"))
    verify = commands.add_parser(
        "verify-models",
        help="check the weights of the models in run.models (exit 1 unless all are ready)",
    )
    verify.add_argument("--configfile", type=Path, default=Path("config/config.yaml"))
    verify.add_argument("--resources", type=Path, default=Path("resources/models"))
    args = parser.parse_args(argv)
    if args.command == "timings":
        print(stage_timings(args.benchmarks).to_string(index=False, float_format="%.2f"))
        return 0
    rows = model_status(args.configfile, args.resources)
    print(format_table(rows, MODEL_COLUMNS))
    return 0 if all(row["status"].startswith("ready") for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
