"""Fetch data and OpenSim files: the Pose2Sim demo and set-ups, and OpenCap's model.

The Pose2Sim demo session and OpenSim set-up files ship inside the `pose2sim` wheel on
PyPI. The wheel is fetched with `pip download` (so a user's pip configuration, index
mirrors and proxies apply), checked against a pinned SHA-256, cached, and only the needed
members are extracted. `pose2sim` itself is never
installed. OpenCap's LaiUhlrich2022 model and its augmenter marker set and set-ups come from
opencap-core at a pinned commit, checked against pinned SHA-256s (or from a local copy).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from posebench.io.atomic import atomic_output, move_into_place, write_json
from posebench.io.errors import read_json
from posebench.io.hashing import sha256_of, sha256_of_stream
from posebench.logs import TERMINAL

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
        move_into_place(wheels[0], target)
    return target


def _select_members(
    archive: zipfile.ZipFile, wheel_name: str, prefix: str, members: Sequence[str]
) -> list[str]:
    """Archive names of the files `prefix + member` (a trailing '/' means a folder)."""
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
            raise FetchError(f"{wheel_name} has no member {full!r}; is the pin right?")
        selected.extend(hits)
    return selected


def member_hashes(wheel: Path, prefix: str, members: Sequence[str]) -> dict[str, str]:
    """{path relative to `prefix`: sha256} of the files `extract_members` would extract."""
    hashes: dict[str, str] = {}
    with zipfile.ZipFile(wheel) as archive:
        for name in _select_members(archive, wheel.name, prefix, members):
            with archive.open(name) as src:
                hashes[name[len(prefix) :]] = sha256_of_stream(src)
    return hashes


def extract_members(wheel: Path, prefix: str, members: Sequence[str], dest: Path) -> dict[str, str]:
    """Extract `prefix + member` entries (a trailing '/' means a folder) into `dest`.

    Returns {relative path: sha256} of every extracted file. Extraction goes to a
    temporary folder first, so an interrupted run leaves no half-written tree.
    """
    manifest: dict[str, str] = {}
    with zipfile.ZipFile(wheel) as archive:
        selected = _select_members(archive, wheel.name, prefix, members)
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


USER_DATA_ADVICE = (
    "Folders fetched under resources/ are managed by the workflow: edits there are reverted. "
    "Put data of your own in a dataset entry without `fetch:` pointing at a folder you own, "
    "e.g. `datasets: {mine: {adapter: pose2sim_demo, path: data/mine}}` (OpenSim files: an "
    "`opensim.setups` entry without `fetch:`); see config/README.md."
)


@dataclass(frozen=True)
class FileCheck:
    """How a fetched folder differs from what was fetched: paths relative to the folder."""

    listed: int
    missing: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()

    @property
    def intact(self) -> bool:
        return self.listed > 0 and not self.missing and not self.changed


def compare_files(
    dest: Path,
    expected: Mapping[str, str],
    sizes: Mapping[str, int] | None = None,
    hashes: bool = True,
) -> FileCheck:
    """Compare the files below `dest` with `expected` ({relative path: sha256}).

    With `hashes`, every file is hashed (the fetch jobs). Without, only existence and the
    `sizes` given are checked: cheap enough for every start of the workflow.
    """
    sizes = sizes or {}
    missing: list[str] = []
    changed: list[str] = []
    for rel, digest in sorted(expected.items()):
        path = dest / rel
        if not path.is_file():
            missing.append(rel)
        elif (rel in sizes and path.stat().st_size != sizes[rel]) or (
            hashes and sha256_of(path) != digest
        ):
            changed.append(rel)
    return FileCheck(len(expected), tuple(missing), tuple(changed))


def check_manifest(dest: Path, hashes: bool = True) -> FileCheck | None:
    """Compare `dest` with `dest/MANIFEST.json` (see `compare_files`); None without one."""
    manifest_path = dest / MANIFEST_NAME
    if not manifest_path.is_file():
        return None
    recorded = read_json(manifest_path, "fetch manifest")
    return compare_files(dest, recorded.get("files", {}), recorded.get("sizes"), hashes)


def verify_manifest(dest: Path) -> bool:
    """True if `dest/MANIFEST.json` exists and every listed file has its recorded hash."""
    check = check_manifest(dest)
    return check is not None and check.intact


def report_changes(dest: Path, check: FileCheck, deleted: Sequence[str] = ()) -> None:
    """Say loudly, on the terminal and in the job log, which fetched files were edited or
    deleted (and which files that were not fetched go), before the fetch restores them."""
    if not (check.missing or check.changed or deleted):
        return
    count = len(check.missing) + len(check.changed)
    lines = [
        f"{count} fetched file(s) in {dest}/ were changed or deleted since they were fetched, "
        "and are restored now (the changes are lost):",
        *(f"  changed: {dest / rel}" for rel in check.changed),
        *(f"  missing: {dest / rel}" for rel in check.missing),
        *(f"  not fetched, deleted: {dest / rel}" for rel in deleted),
        USER_DATA_ADVICE,
    ]
    log.warning("\n".join(lines), extra=TERMINAL)


def _unlisted_files(dest: Path, listed: Iterable[str]) -> list[str]:
    """Files below `dest` that are not in `listed` (the manifest aside)."""
    known = {*listed, MANIFEST_NAME}
    return sorted(
        rel
        for path in dest.rglob("*")
        if path.is_file() and (rel := path.relative_to(dest).as_posix()) not in known
    )


def _write_manifest(dest: Path, files: Mapping[str, str], **source: str) -> Path:
    """Write `dest/MANIFEST.json`: the source, and each file's SHA-256 and size (the size
    lets the workflow notice a deleted or edited file at start-up without hashing)."""
    manifest_path = dest / MANIFEST_NAME
    content = {
        **source,
        "files": dict(sorted(files.items())),
        "sizes": {rel: (dest / rel).stat().st_size for rel in sorted(files)},
    }
    write_json(manifest_path, content)
    return manifest_path


def fetch_pose2sim(dest: Path, cache_dir: Path, spec: WheelSpec = POSE2SIM_WHEEL) -> Path:
    """Make `dest` hold the Pose2Sim demo, OpenSim set-up and marker augmenter files.

    Idempotent: a complete, verified `dest` is left untouched. Returns the manifest path.
    Files changed or deleted since an earlier fetch are compared with the wheel itself
    (Snakemake deletes the manifest before it re-runs the fetch job) and reported loudly
    before the folder is replaced.
    """
    if verify_manifest(dest):
        log.info("%s is complete and verified; nothing to do", dest)
        return dest / MANIFEST_NAME
    wheel = download_wheel(spec, cache_dir)
    source = {"source": spec.requirement, "wheel_sha256": spec.sha256}
    if dest.is_dir() and any(p.is_file() for p in dest.rglob("*")):  # fetched before
        expected = member_hashes(wheel, "Pose2Sim/", POSE2SIM_MEMBERS)
        check = compare_files(dest, expected)
        unlisted = _unlisted_files(dest, expected)
        if check.intact and not unlisted:
            log.info("%s matches %s; manifest written again", dest, wheel.name)
            return _write_manifest(dest, expected, **source)
        report_changes(dest, check, deleted=unlisted)
    files = extract_members(wheel, "Pose2Sim/", POSE2SIM_MEMBERS, dest)
    log.info("Extracted %d files from %s into %s", len(files), wheel.name, dest)
    return _write_manifest(dest, files, **source)


# OpenCap's LaiUhlrich2022 model with the marker set and set-ups of its marker augmenter,
# from opencap-core at a pinned commit: {path in the repository: sha256}.
OPENCAP_CORE_REPOSITORY = "stanfordnmbl/opencap-core"
OPENCAP_CORE_COMMIT = "d5a52589542e3329691bc26efef0a15b7d5cf38d"
OPENCAP_CORE_FILES: dict[str, str] = {
    "opensimPipeline/Models/LaiUhlrich2022.osim": (
        "7499645500d4bca9269f27fd669bd3ed3abbeccd549d87f86cd01119a1a24366"
    ),
    "opensimPipeline/Models/LaiUhlrich2022_markers_augmenter.xml": (
        "f600cc15f68a6b60b2ec4c9416568d2ec6e04cfb52b0e2150f63031ac6b623fb"
    ),
    "opensimPipeline/Scaling/Setup_scaling_LaiUhlrich2022.xml": (
        "b2b3596cb3e720cdf496bf7c4b4b061c18db89b29b51e4cbddf451e8a4704baf"
    ),
    "opensimPipeline/IK/Setup_IK.xml": (
        "af0cdbc7028082e9347114e6e61582e624bbfe1a3384580b820e6effb296a902"
    ),
}
RAW_URL = "https://raw.githubusercontent.com/{repository}/{commit}/{path}"
OFFLINE_VARIABLE = "POSEBENCH_OFFLINE"


def download_file(url: str, target: Path, sha256: str, timeout_s: float = 30.0) -> None:
    """Download `url` to `target`, resuming a previous partial download (`.part`), and
    check its SHA-256. One attempt: a network error is a FetchError at once."""
    partial = target.with_name(target.name + ".part")
    offset = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            resumed = offset and response.status == 206
            with partial.open("ab" if resumed else "wb") as out:
                shutil.copyfileobj(response, out)
    except (urllib.error.URLError, OSError) as error:
        raise FetchError(f"Cannot download {url}: {error}") from error
    found = sha256_of(partial)
    if found != sha256:
        partial.unlink()
        raise FetchError(
            f"SHA-256 mismatch for {url}: got {found}, expected {sha256}; the partial file "
            "was removed, run again to retry."
        )
    partial.replace(target)


def fetch_opencap_core(dest: Path, local_copy: Path | None = None) -> Path:
    """Make `dest` hold the pinned opencap-core files (flat, by file name), verified.

    From `local_copy` (a folder containing the files anywhere below it: a clone of
    opencap-core or the files alone) when given, else downloaded from GitHub at the pinned
    commit. With POSEBENCH_OFFLINE=1 nothing is downloaded. Returns the manifest path.
    """
    dest.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, str] = {}
    # Edited files are reported before they are replaced; a missing file is not (it may be
    # one an interrupted run did not download yet): the workflow reports deleted ones at start.
    check = compare_files(dest, {Path(p).name: d for p, d in OPENCAP_CORE_FILES.items()})
    report_changes(dest, FileCheck(check.listed, changed=check.changed))
    for path, digest in OPENCAP_CORE_FILES.items():
        name = Path(path).name
        target = dest / name
        manifest[name] = digest
        if target.is_file() and sha256_of(target) == digest:
            continue
        if local_copy is not None:
            candidates = sorted(Path(local_copy).rglob(name))
            match = next((c for c in candidates if sha256_of(c) == digest), None)
            if match is None:
                raise FetchError(
                    f"{local_copy} has no {name} with SHA-256 {digest} (found "
                    f"{[str(c) for c in candidates]}). Copy the files of opencap-core commit "
                    f"{OPENCAP_CORE_COMMIT} there."
                )
            with atomic_output(target) as tmp:
                shutil.copyfile(match, tmp)
            continue
        url = RAW_URL.format(
            repository=OPENCAP_CORE_REPOSITORY, commit=OPENCAP_CORE_COMMIT, path=path
        )
        if os.environ.get(OFFLINE_VARIABLE) == "1":
            raise FetchError(
                f"{name} is not in {dest} and {OFFLINE_VARIABLE}=1 forbids downloading it. "
                f"Download {url} (and the other files of opencap-core commit "
                f"{OPENCAP_CORE_COMMIT}: {', '.join(OPENCAP_CORE_FILES)}) on a machine with "
                "internet access and set opensim.setups.opencap-core.local_copy to their folder."
            )
        log.info("Downloading %s", url)
        try:
            download_file(url, target, digest)
        except FetchError as error:
            raise FetchError(
                f"{error}\nWithout internet access, download the files of opencap-core commit "
                f"{OPENCAP_CORE_COMMIT} ({', '.join(OPENCAP_CORE_FILES)}) elsewhere and set "
                "opensim.setups.opencap-core.local_copy to their folder."
            ) from error
    source = f"{OPENCAP_CORE_REPOSITORY}@{OPENCAP_CORE_COMMIT}"
    return _write_manifest(dest, manifest, source=source)
