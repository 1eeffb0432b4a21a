"""Shared fixtures: the real Pose2Sim demo data, fetched once per test session, and a
log file for OpenSim per test module."""

from __future__ import annotations

from pathlib import Path

import pytest

from posebench.fetch import fetch_pose2sim

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def pose2sim_dir() -> Path:
    """Folder with `Demo_SinglePerson/`, `OpenSim_Setup/` and `MarkerAugmenter/`.

    Uses the same fetch code and location as the workflow (`resources/pose2sim`), so a
    prior `make demo` or test run makes this instant.
    """
    dest = REPO_ROOT / "resources" / "pose2sim"
    fetch_pose2sim(dest, cache_dir=REPO_ROOT / "resources" / "cache")
    return dest


@pytest.fixture(scope="module")
def opensim_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Send OpenSim's log to a file of this module's, so it never writes opensim.log into
    the working directory. Modules that run OpenSim use it for all their tests:
    `pytestmark = pytest.mark.usefixtures("opensim_log")`."""
    from posebench.kinematics import configure_opensim_logging  # imports OpenSim

    path = tmp_path_factory.mktemp("opensim_log") / "opensim.log"
    configure_opensim_logging(path)
    return path
