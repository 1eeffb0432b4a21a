"""The workflow's JSON schemas against the Python code they describe, and their documentation.

The enums of workflow/schemas/config.schema.yaml repeat names that Python registries
define (backends, marker sets, adapters, fetch rules, the opencap adapter's options, the
metrics); each test here compares one enum with its registry. Every key of the schemas
carries a `description:`, from which scripts/config_docs.py generates the key reference of
config/README.md; the README must be current.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG_SCHEMA_PATH = ROOT / "workflow" / "schemas" / "config.schema.yaml"
SAMPLES_SCHEMA_PATH = ROOT / "workflow" / "schemas" / "samples.schema.yaml"
DOCS_SCRIPT = ROOT / "scripts" / "config_docs.py"
EXAMPLE_CONFIGS = [ROOT / "config" / "config.yaml", ROOT / "config" / "synthetic.yaml"]

SCHEMA_FILE = "workflow/schemas/config.schema.yaml"


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), path
    return data


CONFIG_SCHEMA = _load(CONFIG_SCHEMA_PATH)
SAMPLES_SCHEMA = _load(SAMPLES_SCHEMA_PATH)


def _docs() -> ModuleType:
    """scripts/config_docs.py as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("config_docs", DOCS_SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("config_docs", module)
    spec.loader.exec_module(module)
    return module


docs = _docs()


def node(path: str, schema: Mapping[str, Any] = CONFIG_SCHEMA) -> dict[str, Any]:
    """The schema of a dotted key path; `*` steps into the entries of a free-form mapping
    (e.g. `models.*.backend`)."""
    current: dict[str, Any] = dict(schema)
    for part in path.split("."):
        nested = docs.child(current, "\0" if part == "*" else part, schema)
        assert nested is not None, f"{path}: no schema for {part!r}"
        current = nested
    return current


def enum(path: str) -> set[str]:
    return set(node(path)["enum"])


def mismatch(path: str, registry: str) -> str:
    return (
        f"The enum of `{path}` in {SCHEMA_FILE} differs from {registry}: update the enum "
        f"(and its description), or the registry, so that they agree."
    )


# ---------------------------------------------------------------------------------------
# Enums against the registries


def test_backend_enum_matches_registered_backends() -> None:
    # Registration imports the backend modules, which load their frameworks (torch,
    # mediapipe) only when a model is created: listing the names stays cheap.
    from posebench.backends.registry import available_backends

    assert enum("models.*.backend") == set(available_backends()), mismatch(
        "models.<name>.backend",
        "BACKENDS in src/posebench/backends/registry.py",
    )


def test_detector_backend_enum_matches_detector_backends() -> None:
    from posebench.detection import DETECTOR_BACKENDS

    assert enum("detectors.*.backend") == set(DETECTOR_BACKENDS), mismatch(
        "detectors.<name>.backend", "DETECTOR_BACKENDS in src/posebench/detection.py"
    )


def test_marker_set_enum_matches_marker_sets() -> None:
    from posebench.markersets import MARKER_SETS

    assert enum("models.*.marker_set") == set(MARKER_SETS), mismatch(
        "models.<name>.marker_set", "MARKER_SETS in src/posebench/markersets.py"
    )


def test_adapter_enum_matches_dataset_adapters(tmp_path: Path) -> None:
    from posebench.datasets import _adapters, source_files
    from posebench.datasets.sheet import SampleSheetError

    adapters = enum("datasets.*.adapter")
    assert adapters == set(_adapters()), mismatch(
        "datasets.<name>.adapter", "_adapters() in src/posebench/datasets/__init__.py"
    )
    # The source-file listers (the workflow's inputs of describe_dataset) know each adapter.
    for adapter in adapters:
        assert source_files(adapter, tmp_path / "missing", {}) == [], (
            f"source_files() in src/posebench/datasets/__init__.py has no lister for {adapter!r}"
        )
    with pytest.raises(SampleSheetError):
        source_files("no-such-adapter", tmp_path, {})


def test_fetch_enums_match_fetch_rules() -> None:
    from posebench.paths import FETCH_OUTPUTS, FETCH_RULES

    assert set(FETCH_OUTPUTS) == set(FETCH_RULES), (
        "FETCH_OUTPUTS and FETCH_RULES of src/posebench/paths.py name different fetches"
    )
    assert enum("opensim.setups.*.fetch") == set(FETCH_OUTPUTS), mismatch(
        "opensim.setups.<source>.fetch", "FETCH_OUTPUTS in src/posebench/paths.py"
    )
    # Only some fetches provide a dataset (the Pose2Sim demo); each must be a fetch rule.
    assert enum("datasets.*.fetch") <= set(FETCH_OUTPUTS), mismatch(
        "datasets.<name>.fetch", "FETCH_OUTPUTS in src/posebench/paths.py (a subset)"
    )


def test_opencap_option_enums_match_the_adapter() -> None:
    from posebench.datasets.opencap import DEFAULT_OPTIONS, FRAME_RATE_RULES, SCALING_MODES
    from posebench.datasets.opencap_frames import DEFAULT_CONVENTION, PLACEMENT_CONVENTIONS

    assert enum("datasets.*.placement_convention") == set(PLACEMENT_CONVENTIONS), mismatch(
        "datasets.<name>.placement_convention",
        "PLACEMENT_CONVENTIONS in src/posebench/datasets/opencap_frames.py",
    )
    assert enum("datasets.*.frame_rate") == set(FRAME_RATE_RULES), mismatch(
        "datasets.<name>.frame_rate", "FRAME_RATE_RULES in src/posebench/datasets/opencap.py"
    )
    assert enum("datasets.*.scaling") == set(SCALING_MODES), mismatch(
        "datasets.<name>.scaling", "SCALING_MODES in src/posebench/datasets/opencap.py"
    )
    assert DEFAULT_OPTIONS["placement_convention"] == DEFAULT_CONVENTION
    # The adapter supplies these defaults (the schema has none, so that other adapters'
    # entries stay as written); the descriptions name them.
    for key, default in DEFAULT_OPTIONS.items():
        description = node(f"datasets.*.{key}").get("description", "")
        assert f"`{default}`" in description, (
            f"the description of datasets.<name>.{key} in {SCHEMA_FILE} should name the "
            f"adapter's default `{default}` (DEFAULT_OPTIONS in src/posebench/datasets/opencap.py)"
        )


def test_metric_enum_matches_score_columns() -> None:
    from posebench.evaluation import SCORE_COLUMNS
    from posebench.leaderboard.statistics import DEFAULT_METRIC

    metric = node("evaluation.metric")
    rmse_columns = {column for column in SCORE_COLUMNS if column.startswith("rmse_deg_")}
    assert set(metric["enum"]) == rmse_columns, mismatch(
        "evaluation.metric",
        "the rmse_deg_* columns of SCORE_COLUMNS in src/posebench/evaluation.py",
    )
    assert metric["default"] == DEFAULT_METRIC, (
        f"evaluation.metric defaults to {metric['default']!r} in {SCHEMA_FILE} but to "
        f"{DEFAULT_METRIC!r} in src/posebench/leaderboard/statistics.py (DEFAULT_METRIC)"
    )


def test_samples_schema_matches_sheet_columns() -> None:
    from posebench.datasets.sheet import SAMPLE_COLUMNS

    assert list(SAMPLES_SCHEMA["properties"]) == SAMPLE_COLUMNS, (
        "workflow/schemas/samples.schema.yaml and SAMPLE_COLUMNS in "
        "src/posebench/datasets/sheet.py list different columns (or in another order)"
    )
    assert set(SAMPLES_SCHEMA["required"]) <= set(SAMPLE_COLUMNS)


# ---------------------------------------------------------------------------------------
# Free-form settings: their keys are documented in prose; check the prose names them all


def _backend_options() -> dict[str, set[str]]:
    from posebench.backends import mediapipe_blazepose, oracle, rtmpose, topdown

    return {
        "mediapipe": set(mediapipe_blazepose._ALLOWED_OPTIONS),
        "oracle": set(oracle._OPTIONS),
        "vitpose": set(topdown.OPTIONS),
        "mmpose": set(topdown.OPTIONS),
        "rtmpose": set(rtmpose.OPTIONS),
    }


def test_backend_options_are_documented() -> None:
    description = node("models.*.options")["description"]
    for backend, options in _backend_options().items():
        assert f"`{backend}`" in description
        missing = sorted(option for option in options if f"`{option}`" not in description)
        assert not missing, (
            f"the description of models.<name>.options in {SCHEMA_FILE} does not name the "
            f"{backend} options {missing} (src/posebench/backends/)"
        )


def _generator_module() -> ModuleType:
    """The module defining the `generate_dataset` that workflow/scripts/generate_synthetic.py
    calls with the `generate:` settings."""
    script = ROOT / "workflow" / "scripts" / "generate_synthetic.py"
    for statement in ast.parse(script.read_text(encoding="utf-8")).body:
        if (
            isinstance(statement, ast.ImportFrom)
            and statement.module
            and any(alias.name == "generate_dataset" for alias in statement.names)
        ):
            function = importlib.import_module(statement.module).generate_dataset
            return importlib.import_module(function.__module__)
    raise AssertionError(f"{script} imports no generate_dataset")


def test_synthetic_settings_are_documented() -> None:
    module = _generator_module()
    settings = module._DATASET_SETTINGS
    description = node("datasets.*.generate")["description"]
    missing = [key for key in settings if f"`{key}`" not in description]
    assert not missing, (
        f"the description of datasets.<name>.generate in {SCHEMA_FILE} does not name the "
        f"settings {missing} (_DATASET_SETTINGS in {module.__name__})"
    )


def test_default_plot_coordinates_are_documented() -> None:
    from posebench.summary import DEFAULT_PLOT_COORDINATES

    description = node("summary.plot_coordinates")["description"]
    assert all(f"`{name}`" in description for name in DEFAULT_PLOT_COORDINATES), (
        f"the description of summary.plot_coordinates in {SCHEMA_FILE} should list "
        "DEFAULT_PLOT_COORDINATES of src/posebench/summary.py"
    )


# ---------------------------------------------------------------------------------------
# Documentation


@pytest.mark.parametrize(
    "schema", [CONFIG_SCHEMA, SAMPLES_SCHEMA], ids=["config.schema", "samples.schema"]
)
def test_every_schema_key_has_a_description(schema: dict[str, Any]) -> None:
    keys = list(docs.iter_keys(schema, schema))
    assert keys
    undocumented = [key.path for key in keys if not str(key.schema.get("description", "")).strip()]
    assert not undocumented, f"keys without a `description:` in the schema: {undocumented}"


def _config_keys(
    config: Mapping[str, Any], schema: Mapping[str, Any], prefix: str = ""
) -> Iterator[tuple[str, dict[str, Any] | None]]:
    """(dotted path, schema or None) of every key of `config`, down to free-form mappings."""
    for key, value in config.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        sub = docs.child(schema, str(key), CONFIG_SCHEMA)
        yield path, sub
        described = sub is not None and ("properties" in sub or "additionalProperties" in sub)
        if isinstance(value, Mapping) and described:
            yield from _config_keys(value, sub, path)


@pytest.mark.parametrize("config_path", EXAMPLE_CONFIGS, ids=lambda path: path.name)
def test_every_key_of_the_example_configs_is_documented(config_path: Path) -> None:
    keys = list(_config_keys(_load(config_path), CONFIG_SCHEMA))
    assert len(keys) > 20
    unknown = [path for path, sub in keys if sub is None]
    assert not unknown, f"{config_path.name}: keys the schema does not describe: {unknown}"
    undocumented = [path for path, sub in keys if sub and not sub.get("description")]
    assert not undocumented, f"{config_path.name}: keys without a description: {undocumented}"


@pytest.mark.parametrize("config_path", EXAMPLE_CONFIGS, ids=lambda path: path.name)
def test_example_configs_validate(config_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.validate(_load(config_path), CONFIG_SCHEMA)


def test_readme_key_reference_is_current() -> None:
    result = subprocess.run(
        [sys.executable, str(DOCS_SCRIPT), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, (
        f"{result.stderr.strip()} config/README.md's generated sections differ from the "
        "schemas' descriptions."
    )


def test_docs_check_detects_a_stale_readme(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    text = (ROOT / "config" / "README.md").read_text(encoding="utf-8")
    readme.write_text(text.replace("| `run.models` |", "| `run.modelz` |"), encoding="utf-8")
    assert docs.main(["--check", "--readme", str(readme)]) == 1
    assert docs.main(["--readme", str(readme)]) == 0
    assert readme.read_text(encoding="utf-8") == text
    assert docs.main(["--check", "--readme", str(readme)]) == 0
