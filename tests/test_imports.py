"""Start-up cost of the workflow's jobs: each adapter script imports only what its stage uses.

Every Snakemake job is a new Python process running one script of `workflow/scripts/`. The
script's imports are run here in a fresh interpreter and the heavy packages its stage does
not use at all, or only loads inside the function that needs them, must not be loaded.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "workflow" / "scripts"

# Loaded by no stage at start-up: plotting happens inside the plotting functions, pose models
# and the person detector load their frameworks when created, and scipy is only used by the
# gap filling, filtering and resampling functions of `posebench.timeseries`.
_NEVER = ("matplotlib", "scipy", "torch", "transformers", "mediapipe", "huggingface_hub")

FORBIDDEN: Mapping[str, tuple[str, ...]] = {
    "triangulate": (*_NEVER, "opensim", "yaml"),
    "scale": (*_NEVER, "pandas", "cv2", "yaml"),  # reads no .mot: pandas is never needed
    "inverse_kinematics": (*_NEVER, "cv2", "yaml"),  # pandas comes with the first read_mot
    "summarize": (*_NEVER, "opensim", "cv2", "yaml"),
    "aggregate": (*_NEVER, "opensim", "cv2", "yaml"),
    "evaluate": (*_NEVER, "opensim", "cv2", "yaml", "posebench.backends"),
    "leaderboard": (*_NEVER, "opensim", "cv2", "yaml"),
    # Reading a weights manifest needs none of the download code of `posebench.fetch`.
    "pose2d": (*_NEVER, "opensim", "pandas", "yaml", "posebench.fetch", "urllib.request"),
    "detect": (*_NEVER, "opensim", "pandas", "yaml", "posebench.fetch", "urllib.request"),
    "fetch_weights": (*_NEVER, "opensim", "pandas", "cv2", "yaml", "urllib.request"),
    "fetch_demo_data": (*_NEVER, "opensim", "pandas", "cv2", "yaml", "numpy"),
    "fetch_opencap_core": (*_NEVER, "opensim", "pandas", "cv2", "yaml", "numpy"),
    "generate_synthetic": _NEVER,
    # The adapters (pandas, OpenCV for probing videos) load when the chosen one runs.
    "describe_dataset": (*_NEVER, "opensim", "pandas", "cv2", "yaml"),
}
"""Per adapter script (file stem): modules its imports must not load (with submodules)."""


def _import_lines(script: Path) -> str:
    """The script's top-level import statements, as one line of Python."""
    tree = ast.parse(script.read_text(encoding="utf-8"))
    imports = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    return "; ".join(ast.unparse(node) for node in imports)


def _loaded(module: str, modules: set[str]) -> bool:
    """Whether `module` or one of its submodules is loaded."""
    return module in modules or any(name.startswith(module + ".") for name in modules)


@pytest.fixture(scope="module")
def loaded_modules() -> dict[str, set[str]]:
    """Per adapter script: `sys.modules` after its imports, each in a fresh interpreter
    (started all at once to keep this fast)."""
    processes = {
        stage: subprocess.Popen(
            [
                sys.executable,
                "-c",
                f"{_import_lines(SCRIPTS / f'{stage}.py')}\n"
                "import sys; print('\\n'.join(sorted(sys.modules)))",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for stage in FORBIDDEN
    }
    modules = {}
    for stage, process in processes.items():
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, f"importing what {stage}.py imports failed:\n{stderr}"
        modules[stage] = set(stdout.split())
    return modules


def test_every_adapter_script_is_checked() -> None:
    scripts = {path.stem for path in SCRIPTS.glob("*.py")}
    assert scripts == set(FORBIDDEN)


@pytest.mark.parametrize("stage", sorted(FORBIDDEN))
def test_stage_imports_only_what_it_uses(stage: str, loaded_modules: dict[str, set[str]]) -> None:
    modules = loaded_modules[stage]
    assert any(name.startswith("posebench.") for name in modules)  # the imports did run
    unexpected = [name for name in FORBIDDEN[stage] if _loaded(name, modules)]
    assert not unexpected, f"{stage}.py loads {unexpected} at start-up"
