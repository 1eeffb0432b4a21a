"""The checked-in test dataset `.test/` is what scripts/make_test_dataset.py makes with
today's generator: byte for byte, small, and not ignored by git."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from posebench.io.hashing import sha256_of

REPO = Path(__file__).resolve().parents[1]
CHECKED_IN = REPO / ".test"
SCRIPT = REPO / "scripts" / "make_test_dataset.py"
MAX_BYTES = 1_000_000


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_test_dataset", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def digests(root: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under `root`."""
    return {
        str(path.relative_to(root)): sha256_of(path)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.mark.usefixtures("opensim_log")
def test_checked_in_dataset_is_the_generators_output(pose2sim_dir: Path, tmp_path: Path) -> None:
    script = load_script()
    script.make_test_dataset(tmp_path / ".test", pose2sim_dir)
    expected, found = digests(tmp_path / ".test"), digests(CHECKED_IN)
    problems = [f"missing: {name}" for name in sorted(set(expected) - set(found))]
    problems += [f"not made by the script: {name}" for name in sorted(set(found) - set(expected))]
    problems += [
        f"differs: {name}"
        for name in sorted(set(expected) & set(found))
        if expected[name] != found[name]
    ]
    assert not problems, (
        "The checked-in .test/ is not what the generator makes today ("
        + "; ".join(problems)
        + "). If the generator's output changed on purpose, run "
        f"`{script.COMMAND}` and commit .test/."
    )


def test_checked_in_dataset_is_small_and_tracked() -> None:
    files = [path for path in sorted(CHECKED_IN.rglob("*")) if path.is_file()]
    assert not any(path.suffix == ".osim" for path in files), "the model is left out"
    assert (CHECKED_IN / "README.md") in files
    total = sum(path.stat().st_size for path in files)
    assert total < MAX_BYTES, f".test/ holds {total} bytes; keep it under {MAX_BYTES}"
    git = shutil.which("git")
    if git is None or not (REPO / ".git").exists():
        pytest.skip("no git repository to check .gitignore against")
    names = [str(path.relative_to(REPO)) for path in files]
    ignored = subprocess.run(
        [git, "check-ignore", "--no-index", *names],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ignored.returncode == 1 and not ignored.stdout, f"ignored by git: {ignored.stdout}"
