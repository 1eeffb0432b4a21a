"""Static checks of the workflow and the package, one test per check of scripts/lint.py (the
list `make lint` runs): Snakemake lint, snakefmt, ruff check and format, mypy."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]


def load_lint() -> ModuleType:
    spec = importlib.util.spec_from_file_location("posebench_lint", REPO / "scripts" / "lint.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


LINT = load_lint()


@pytest.mark.parametrize("name", list(LINT.CHECKS))
def test_static_check(name: str) -> None:
    result = LINT.run_check(name)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]


def test_make_lint_runs_the_same_checks() -> None:
    makefile = (REPO / "Makefile").read_text()
    recipe = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "scripts/lint.py" in recipe, recipe
