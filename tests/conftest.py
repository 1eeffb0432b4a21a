"""Shared fixtures: the real Pose2Sim demo data, fetched once per test session, and a
log file for OpenSim per test module. Also the marker rules of the test tiers (markers are
declared in pyproject.toml): `workflow` tests are also `slow`, tests that use `pose2sim_dir`
are `network` (PyPI, unless the wheel is cached), and `torch` / `mediapipe` / `openmmlab`
tests are skipped where those packages are not installed (under `CI=true` a missing package
is an error instead: CI installs them all). Random OpenMMLab checkpoints (HRNet-W48, Faster
R-CNN) are built once per session."""

from __future__ import annotations

import importlib.util
import os
import shutil
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

from posebench.backends.openmmlab import DETECTOR_PACKAGES, POSE_PACKAGES
from posebench.fetch import fetch_pose2sim

REPO_ROOT = Path(__file__).resolve().parents[1]
# A folder laid out like the repository's `resources/` (`pose2sim/`, `cache/` for the wheel).
TEST_DATA_VARIABLE = "POSEBENCH_TEST_DATA"
# Packages each marker needs; a test with the marker is skipped when one is missing.
MARKER_PACKAGES: dict[str, tuple[str, ...]] = {
    "torch": ("torch", "transformers"),
    "mediapipe": ("mediapipe",),
    "openmmlab": ("torch", *POSE_PACKAGES, *DETECTOR_PACKAGES, "xtcocotools"),
}


def data_root() -> Path:
    """`$POSEBENCH_TEST_DATA`, or the repository's `resources/` (shared with the workflow)."""
    value = os.environ.get(TEST_DATA_VARIABLE)
    return Path(value).expanduser().resolve() if value else REPO_ROOT / "resources"


@cache
def _missing(packages: tuple[str, ...]) -> list[str]:
    return [name for name in packages if importlib.util.find_spec(name) is None]


@pytest.hookimpl(tryfirst=True)  # before `-m` selects on the markers added here
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("workflow"):
            item.add_marker(pytest.mark.slow)
        if "pose2sim_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.network)
        for marker, packages in MARKER_PACKAGES.items():
            missing = _missing(packages) if item.get_closest_marker(marker) else []
            if missing and os.environ.get("CI", "").lower() == "true":
                raise pytest.UsageError(
                    f"CI=true but {item.nodeid} needs {', '.join(missing)}, which the set-up "
                    "did not install (README's test command installs every extra)."
                )
            if missing:
                item.add_marker(pytest.mark.skip(reason=f"not installed: {', '.join(missing)}"))


@pytest.fixture(scope="session")
def pose2sim_dir() -> Path:
    """Folder with `Demo_SinglePerson/`, `OpenSim_Setup/` and `MarkerAugmenter/`.

    Uses the same fetch code and, by default, the same location as the workflow
    (`resources/pose2sim`, the wheel in `resources/cache`), so a prior `make demo` or test
    run makes this instant. Set `POSEBENCH_TEST_DATA` to a folder to keep the tests' copy
    (`pose2sim/`, `cache/`) out of the repository; its `pose2sim/` is this fixture's value.
    """
    root = data_root()
    dest = root / "pose2sim"
    fetch_pose2sim(dest, cache_dir=root / "cache")
    return dest


# The checked-in synthetic dataset (scripts/make_test_dataset.py writes it).
TEST_DATASET = REPO_ROOT / ".test" / "synthetic"


def _listing(root: Path) -> list[tuple[str, int, int]]:
    """(relative path, size, modification time in ns) of everything under `root`."""
    return sorted(
        (str(path.relative_to(root)), stat.st_size, stat.st_mtime_ns)
        for path in root.rglob("*")
        for stat in (path.stat(),)
    )


# Stands in for the generating model, which `.test/` leaves out (see `.test/README.md`).
MODEL_PLACEHOLDER = (
    "<!-- Placeholder for the synthetic subject's generating model, which the checked-in\n"
    "     test dataset leaves out: the OpenCap adapter only lists this file. -->\n"
)


@pytest.fixture(scope="session")
def test_dataset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A copy of `.test/synthetic`: one synthetic subject (`subject2`) in OpenCap's
    LabValidation layout, checked in (see `.test/README.md`), so tests that only need such
    data neither run OpenSim nor fetch Pose2Sim. The copy has a placeholder where the mocap
    model goes (`OpenSimData/Mocap/Model/subject2_scaled.osim`). Read only: a test that
    changes files copies it into its `tmp_path` first; the session errors at the end if
    anything in it was added, removed or modified."""
    if not (TEST_DATASET / "generated.json").is_file():
        pytest.fail(
            f"{TEST_DATASET} is missing; run `.venv/bin/python scripts/make_test_dataset.py`"
        )
    copy = tmp_path_factory.mktemp("test_dataset") / TEST_DATASET.name
    shutil.copytree(TEST_DATASET, copy)
    model = copy / "subject2" / "OpenSimData" / "Mocap" / "Model" / "subject2_scaled.osim"
    model.parent.mkdir(parents=True)
    model.write_text(MODEL_PLACEHOLDER, encoding="utf-8")
    before = _listing(copy)
    yield copy
    after = _listing(copy)
    if after != before:
        changed = sorted({entry[0] for entry in set(before).symmetric_difference(after)})
        pytest.fail(f"a test wrote into the shared test dataset {copy}: {changed}")


@pytest.fixture(scope="session")
def hrnet_coco17(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint folder (config.py + .pth) of a random HRNet-W48 DARK with 17 heatmaps."""
    from openmmlab_factory import build_hrnet

    return build_hrnet(tmp_path_factory.mktemp("hrnet_coco17"), 17)


@pytest.fixture(scope="session")
def hrnet_coco17_legacy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same model as `hrnet_coco17`, saved as MMPose 0.x checkpoints are: head keys
    `keypoint_head.`, PyTorch's legacy (non-zip) format."""
    from openmmlab_factory import build_hrnet

    return build_hrnet(tmp_path_factory.mktemp("hrnet_coco17_legacy"), 17, legacy_keys=True)


@pytest.fixture(scope="session")
def faster_rcnn(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint folder of a random Faster R-CNN R50-FPN whose boxes are all persons."""
    from openmmlab_factory import build_faster_rcnn

    return build_faster_rcnn(tmp_path_factory.mktemp("faster_rcnn"))


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default workflow (Pose2Sim demo, MediaPipe), run once locally with 2 cores in a
    work folder of its own. Read only: test_workflow inspects it; test_slurm compares a
    Slurm run against it."""
    from snakemake_runner import run_snakemake

    workdir = tmp_path_factory.mktemp("demo")
    result = run_snakemake(workdir, "--cores", "2")
    if result.returncode != 0:
        logs = "\n".join(
            f"--- {p}\n{p.read_text()[-3000:]}" for p in sorted((workdir / "logs").rglob("*.log"))
        )
        pytest.fail(f"snakemake failed:\n{result.stderr[-6000:]}\n{logs}")
    return workdir


@pytest.fixture(scope="module")
def opensim_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Send OpenSim's log to a file of this module's, so it never writes opensim.log into
    the working directory. Modules that run OpenSim use it for all their tests:
    `pytestmark = pytest.mark.usefixtures("opensim_log")`."""
    from posebench.opensim.logging import configure_opensim_logging  # imports OpenSim

    path = tmp_path_factory.mktemp("opensim_log") / "opensim.log"
    configure_opensim_logging(path)
    return path
