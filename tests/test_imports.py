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
    # The augmenter's networks load ONNX Runtime when created.
    "augment": (*_NEVER, "opensim", "pandas", "cv2", "yaml", "onnxruntime"),
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


# ---------------------------------------------------------------------------------------------
# The package's import graph (read from the source, nothing imported)

SRC = Path(__file__).resolve().parents[1] / "src"


def _module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_imports() -> dict[str, set[str]]:
    """Per module of `posebench`: the `posebench` modules it imports, at any depth of its
    body (imports inside functions count: they are dependencies all the same)."""
    modules = {_module_name(path): path for path in (SRC / "posebench").rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            deps.update(t for t in targets if t in modules and t != name)
        graph[name] = deps
    return graph


def _cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """One import cycle of `graph`, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if root in state:
            continue
        path: list[str] = [root]
        stack = [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            child = next(stack[-1], None)
            if child is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(child) == 1:
                return [*path[path.index(child) :], child]
            elif child not in state:
                state[child] = 1
                path.append(child)
                stack.append(iter(sorted(graph[child])))
    return None


def test_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_package_import_graph_has_no_cycle() -> None:
    graph = _package_imports()
    assert "posebench.markersets" in graph  # the graph was read
    assert _cycle(graph) is None, f"import cycle: {' -> '.join(_cycle(graph) or [])}"


# Layers: a module of the left may import only the `posebench` modules matched on the right.
LAYERS: Mapping[str, tuple[str, ...]] = {
    "posebench.skeletons": (),
    "posebench.keys": (),
    "posebench.names": (),
    "posebench.paths": (),
    "posebench.io": ("posebench.io", "posebench.paths"),
    "posebench.reports": ("posebench.reports", "posebench.io", "posebench.paths"),
    "posebench.augmenter": ("posebench.paths", "posebench.timeseries"),
    "posebench.markersets": ("posebench.skeletons", "posebench.augmenter"),
}


@pytest.mark.parametrize("layer", sorted(LAYERS))
def test_layer_imports(layer: str) -> None:
    graph = _package_imports()
    allowed = LAYERS[layer]
    members = [m for m in graph if m == layer or m.startswith(layer + ".")]
    assert members, f"no module {layer}"
    wrong = {
        member: sorted(d for d in graph[member] if not any(_loaded(a, {d}) for a in allowed))
        for member in members
    }
    wrong = {member: deps for member, deps in wrong.items() if deps}
    assert not wrong, f"{layer} may import only {list(allowed)}; found {wrong}"


def test_every_registered_backend_module_defines_create() -> None:
    from posebench.backends.registry import BACKENDS

    for name, module in BACKENDS.items():
        path = SRC / Path(*module.split(".")).with_suffix(".py")
        assert path.is_file(), f"backend {name!r}: no module {module}"
        functions = {
            n.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.FunctionDef)
        }
        assert "create" in functions, f"backend {name!r}: {module} defines no create()"
