"""Fetch the embedded default data: the Pose2Sim demo session and OpenSim set-up files.

They ship inside the `pose2sim` wheel on PyPI. The wheel is fetched with `pip download`
(so a user's pip configuration, index mirrors and proxies apply), checked against a pinned
SHA-256, cached, and only the needed members are extracted. `pose2sim` itself is never
installed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

POSE2SIM_VERSION = "0.10.49"
POSE2SIM_WHEEL_SHA256 = "403e0dc4065898ba6a595e72a8970950310979253d60e24c2e00b16b36bf21e1"

# Members of the wheel that the workflow needs, relative to its `Pose2Sim/` folder.
# The demo's intrinsic/extrinsic calibration images (several MB) are not needed: the
# calibration result `Calib.qca.txt` is.
POSE2SIM_MEMBERS: tuple[str, ...] = (
    "Demo_SinglePerson/Config.toml",
    "Demo_SinglePerson/calibration/Calib.qca.txt",
    "Demo_SinglePerson/videos/",
    "OpenSim_Setup/",
    "MarkerAugmenter/",
)
MANIFEST_NAME = "MANIFEST.json"


class FetchError(RuntimeError):
    """A download or verification step failed; the message says what to do."""


@dataclass(frozen=True)
class WheelSpec:
    """A pinned wheel on PyPI: distribution name, version and SHA-256 of the file."""

    name: str
    version: str
    sha256: str

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"


POSE2SIM_WHEEL = WheelSpec("pose2sim", POSE2SIM_VERSION, POSE2SIM_WHEEL_SHA256)


def sha256_of(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()


def _cached_wheel(spec: WheelSpec, cache_dir: Path) -> Path | None:
    for candidate in sorted(cache_dir.glob(f"{spec.name}-{spec.version}-*.whl")):
        if sha256_of(candidate) == spec.sha256:
            return candidate
        log.warning("Ignoring cached %s: its SHA-256 does not match the pinned one", candidate)
    return None


def download_wheel(spec: WheelSpec, cache_dir: Path) -> Path:
    """Return the verified wheel from `cache_dir`, downloading it with pip if absent.

    A cached wheel with the right checksum is reused, so an interrupted or repeated run
    does not download again.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    cached = _cached_wheel(spec, cache_dir)
    if cached is not None:
        log.info("Using cached %s", cached)
        return cached
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".download-") as tmp:
        cmd = [
            sys.executable, "-m", "pip", "download", spec.requirement,
            "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
            "--dest", tmp,
        ]  # fmt: skip
        log.info("Running: %s", " ".join(cmd))
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise FetchError(
                f"`pip download {spec.requirement}` failed (exit {proc.returncode}).\n"
                f"{proc.stderr.strip()[-2000:]}\n"
                "Check network access to your Python package index (pip config list), or "
                f"download the wheel by hand and place it in {cache_dir}/."
            )
        wheels = sorted(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise FetchError(f"Expected one wheel from pip download, got {wheels}")
        found = sha256_of(wheels[0])
        if found != spec.sha256:
            raise FetchError(
                f"SHA-256 mismatch for {wheels[0].name}: got {found}, expected {spec.sha256}. "
                "The file on your package index differs from the pinned release; "
                "refusing to use it."
            )
        target = cache_dir / wheels[0].name
        shutil.move(str(wheels[0]), target)
    return target


def extract_members(wheel: Path, prefix: str, members: Sequence[str], dest: Path) -> dict[str, str]:
    """Extract `prefix + member` entries (a trailing '/' means a folder) into `dest`.

    Returns {relative path: sha256} of every extracted file. Extraction goes to a
    temporary folder first, so an interrupted run leaves no half-written tree.
    """
    manifest: dict[str, str] = {}
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        selected: list[str] = []
        for member in members:
            full = prefix + member
            hits = [
                n for n in names
                if (n.startswith(full) if member.endswith("/") else n == full)
                and not n.endswith("/")
            ]  # fmt: skip
            if not hits:
                raise FetchError(f"{wheel.name} has no member {full!r}; is the pin right?")
            selected.extend(hits)
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}-"))
        try:
            for name in sorted(selected):
                relative = name[len(prefix) :]
                target = staging / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(name) as src, target.open("wb") as out:
                    shutil.copyfileobj(src, out)
                manifest[relative] = sha256_of(target)
            if dest.exists():
                shutil.rmtree(dest)
            staging.rename(dest)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return manifest


def verify_manifest(dest: Path) -> bool:
    """True if `dest/MANIFEST.json` exists and every listed file has its recorded hash."""
    manifest_path = dest / MANIFEST_NAME
    if not manifest_path.is_file():
        return False
    recorded = json.loads(manifest_path.read_text())
    files: dict[str, str] = recorded.get("files", {})
    return bool(files) and all(
        (dest / rel).is_file() and sha256_of(dest / rel) == digest for rel, digest in files.items()
    )


def fetch_pose2sim(dest: Path, cache_dir: Path, spec: WheelSpec = POSE2SIM_WHEEL) -> Path:
    """Make `dest` hold the Pose2Sim demo, OpenSim set-up and marker augmenter files.

    Idempotent: a complete, verified `dest` is left untouched. Returns the manifest path.
    """
    manifest_path = dest / MANIFEST_NAME
    if verify_manifest(dest):
        log.info("%s is complete and verified; nothing to do", dest)
        return manifest_path
    wheel = download_wheel(spec, cache_dir)
    files = extract_members(wheel, "Pose2Sim/", POSE2SIM_MEMBERS, dest)
    manifest = {"source": spec.requirement, "wheel_sha256": spec.sha256, "files": files}
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    log.info("Extracted %d files from %s into %s", len(files), wheel.name, dest)
    return manifest_path
