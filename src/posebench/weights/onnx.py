"""Fetching ONNX checkpoints (format "onnx", backends rtmpose and yolox) from a URL.

The URL names either a `.zip` archive, as OpenMMLab publishes its RTMPose, RTMW and YOLOX
models (`.../onnx_sdk/<name>.zip`, holding `end2end.onnx`, `deploy.json`, `pipeline.json`
and `detail.json`), or a bare `.onnx` file. The file is downloaded into `<dest>/` under the
URL's file name (resumed, checked against its SHA-256: :mod:`posebench.weights.download`)
and kept there, so that a damaged checkpoint folder is rebuilt without network access and a
file downloaded by hand is used in place. `<dest>/checkpoint` is then built from it in a
staging folder next to it and renamed into place: the archive's files, or a hard link to
the `.onnx`. Files of another checkpoint (a previous URL's download, partial downloads,
staging folders of an interrupted run) are removed.

Archives are extracted member by member, never with `extractall`: a member with an absolute
path, a `..` component, a symbolic link or a special file is refused, as are duplicate
names. The folders every file lies in are stripped: OpenMMLab's archives nest the model
folder (`<date>/rtmpose_onnx/<name>/end2end.onnx`), and the checkpoint folder must hold its
one `.onnx` directly (`posebench.weights.spec.onnx_model_file`). zipfile checks each
member's CRC-32 as it is read, so a corrupt archive fails here even when trusted on first use.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from posebench.weights.download import PART_SUFFIX, download_file
from posebench.weights.manifest import DownloadEntry
from posebench.weights.spec import (
    CHECKPOINT_DIR,
    ONNX_SUFFIX,
    ONNX_URL_SUFFIXES,
    WeightsError,
    WeightsSpec,
    url_file_name,
)

log = logging.getLogger(__name__)

ARCHIVE_SUFFIX = ".zip"
# Folders in <dest> being built (a crash leaves them behind; the next fetch removes them).
STAGING_PREFIX = ".checkpoint-new-"
RETIRED_PREFIX = ".checkpoint-old-"
_DRIVE = re.compile(r"[A-Za-z]:")
_COPY_BYTES = 1 << 20
# What reading a damaged (or encrypted) zip member raises.
_CORRUPT = (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError)


def fetch_onnx(spec: WeightsSpec, dest: Path) -> tuple[Path, DownloadEntry]:
    """Fill `dest/checkpoint` from the URL of `spec` (see the module docstring); return the
    folder and the downloaded file's name, size and SHA-256."""
    assert spec.url is not None
    what = f"{'model' if spec.kind == 'pose' else 'detector'} {spec.name!r}"
    name = url_file_name(spec.url)
    download = dest / name
    dest.mkdir(parents=True, exist_ok=True)
    _remove_stale(dest, name)
    digest = download_file(
        spec.url,
        download,
        sha256=spec.sha256,
        what=what,
        alternative=_local_path_hint(spec, download),
    )
    checkpoint = dest / CHECKPOINT_DIR
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=dest))
    try:
        if name.endswith(ARCHIVE_SUFFIX):
            extract_archive(download, staging, what)
        else:
            _link(download, staging / name)
        _replace_folder(staging, checkpoint)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    log.info("%s: %s extracted into %s", what, download, checkpoint)
    return checkpoint, DownloadEntry(name, download.stat().st_size, digest)


def extract_archive(archive: Path, target: Path, what: str) -> list[str]:
    """Extract the zip `archive` into the empty folder `target`, stripping the folders all
    its files lie in; return the extracted files (relative POSIX paths). WeightsError for an
    unreadable or corrupt archive, an unsafe member, or one not holding exactly one `.onnx`
    in that folder."""
    try:
        handle = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as error:
        raise WeightsError(
            f"{what}: {archive} is not a readable zip archive ({error}): an incomplete or "
            f"corrupt download. Delete it and re-run fetch_weights."
        ) from error
    with handle:
        files = [
            (info, parts)
            for info in handle.infolist()
            for parts in [_member_parts(info, archive, what)]
            if not info.is_dir()
        ]
        if not files:
            raise WeightsError(
                f"{what}: the archive {archive} holds no files; it is not an ONNX model "
                "archive. Check weights.url."
            )
        prefix = _common_folder([parts for _, parts in files])
        members = {}
        for info, parts in files:
            relative = "/".join(parts[len(prefix) :])
            if relative in members:
                raise WeightsError(
                    f"{what}: the archive {archive} holds {relative!r} twice; refusing to "
                    "extract it. Check weights.url."
                )
            members[relative] = info
        models = sorted(name for name in members if "/" not in name and name.endswith(ONNX_SUFFIX))
        if len(models) != 1:
            folder = "/".join(prefix) or "its top level"
            raise WeightsError(
                f"{what}: the archive {archive} holds {len(models)} .onnx files {models} in "
                f"{folder} (files: {sorted(members)}); an ONNX checkpoint holds exactly one. "
                "Check weights.url, or extract the model yourself and use weights.local_path."
            )
        try:
            for relative, info in members.items():
                path = target.joinpath(*relative.split("/"))
                path.parent.mkdir(parents=True, exist_ok=True)
                with handle.open(info) as source, path.open("wb") as output:
                    shutil.copyfileobj(source, output, _COPY_BYTES)
                    output.flush()
                    os.fsync(output.fileno())
        except _CORRUPT as error:
            raise WeightsError(
                f"{what}: extracting {archive} failed ({type(error).__name__}: {error}): the "
                "archive is corrupt (or encrypted). Delete it and re-run fetch_weights."
            ) from error
    return sorted(members)


def _member_parts(info: zipfile.ZipInfo, archive: Path, what: str) -> list[str]:
    """The path components of an archive member; WeightsError for an absolute path, a `..`
    component, a symbolic link or a special file."""
    name = info.filename
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    problem = None
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        problem = "an absolute path"
    elif ".." in re.split(r"[\\/]", name):
        problem = "a '..' component"
    elif stat.S_ISLNK(mode):
        problem = "a symbolic link"
    elif kind and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        problem = "a special file"
    if problem is not None:
        raise WeightsError(
            f"{what}: the archive {archive} has a member with {problem} ({name!r}); "
            "refusing to extract it. Check weights.url: this is not an OpenMMLab model archive."
        )
    return [part for part in PurePosixPath(name.replace("\\", "/")).parts if part != "."]


def _common_folder(paths: list[list[str]]) -> list[str]:
    """The folder components every path of `paths` (file paths, as components) lies in."""
    prefix = paths[0][:-1]
    for parts in paths[1:]:
        folder = parts[:-1]
        length = 0
        while length < min(len(prefix), len(folder)) and prefix[length] == folder[length]:
            length += 1
        prefix = prefix[:length]
    return prefix


def _remove_stale(dest: Path, keep: str) -> None:
    """Remove from `dest` the downloads of other URLs (`.zip`, `.onnx` and their partial
    downloads) and folders left by interrupted runs; keep `keep` and its `.part`."""
    suffixes = tuple(s + extra for s in ONNX_URL_SUFFIXES for extra in ("", PART_SUFFIX))
    for path in dest.iterdir():
        if path.name.startswith((STAGING_PREFIX, RETIRED_PREFIX)) and path.is_dir():
            log.info("Removing %s, left by an interrupted fetch", path)
            shutil.rmtree(path)
        elif (
            path.is_file()
            and path.name.endswith(suffixes)
            and path.name not in {keep, keep + PART_SUFFIX}
        ):
            log.info("Removing %s, downloaded for another URL", path)
            path.unlink()


def _replace_folder(staging: Path, checkpoint: Path) -> None:
    """Put the folder `staging` in the place of `checkpoint` (two renames on the same file
    system; the old folder is deleted afterwards)."""
    retired = None
    if checkpoint.exists() or checkpoint.is_symlink():
        retired = Path(tempfile.mkdtemp(prefix=RETIRED_PREFIX, dir=checkpoint.parent))
        os.replace(checkpoint, retired / checkpoint.name)
    os.replace(staging, checkpoint)
    if retired is not None:
        shutil.rmtree(retired)


def _link(source: Path, target: Path) -> None:
    """Hard-link `source` to `target` (a copy across file systems)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _local_path_hint(spec: WeightsSpec, download: Path) -> str:
    """The sentence naming the other way in: a folder on disk as weights.local_path."""
    unpack = (
        f"the folder holding end2end.onnx after `unzip {download.name}`"
        if download.name.endswith(ARCHIVE_SUFFIX)
        else f"a folder holding {download.name} alone"
    )
    return (
        f" Or set weights.local_path of {spec.name!r} in the config to {unpack} (a folder "
        "with exactly one .onnx file), instead of weights.url."
    )
