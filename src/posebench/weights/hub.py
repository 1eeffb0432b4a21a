"""Hugging Face hub checkpoints: from the local cache, downloaded, or placed by hand.

Hub downloads go to a folder of their own (`<dest>/checkpoint` for Transformers,
`<dest>/hub` for OpenMMLab) in huggingface_hub's local-dir mode, which resumes interrupted
downloads. Only the files of the checkpoint's format are fetched (`_checkpoint_files`):
`config.json`, the weights and `preprocessor_config.json` (Transformers), or the MMEngine
config and the `.pth` (OpenMMLab: those named by weights.config and weights.checkpoint,
else the repository's only `.py` and only `.pth`). Files already in the Hugging Face cache
(`HF_HUB_CACHE`) are hard-linked (or copied) from there without any network access.
`HF_HUB_OFFLINE=1` forbids network access; `HF_ENDPOINT` selects the hub. When the files
are absent and the hub is off limits or unreachable, fetching fails at once, with the
command that downloads them by hand. huggingface_hub is imported by the functions that use
it.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from posebench.weights.spec import (
    CONFIG_FILE,
    PREPROCESSOR_FILE,
    WEIGHTS_FILES,
    WeightsError,
    WeightsSpec,
    openmmlab_files,
)

if TYPE_CHECKING:
    from huggingface_hub.hf_api import ModelInfo

log = logging.getLogger(__name__)

ALLOW_PATTERNS: list[str] = [CONFIG_FILE, PREPROCESSOR_FILE, *WEIGHTS_FILES]
# What weights.local_path of each format must hold, for messages.
_FOLDER_CONTENT = {
    "transformers": f"{CONFIG_FILE}, {' or '.join(WEIGHTS_FILES)} and {PREPROCESSOR_FILE}",
    "openmmlab": "one MMEngine config (.py) and one PyTorch checkpoint (.pth)",
}
# Seconds to wait for the hub's answer to the first request (the revision's metadata)
# before deciding it is unreachable. HF_HUB_ETAG_TIMEOUT overrides it.
HUB_PROBE_TIMEOUT_S = 3.0
_COMMIT_HASH = re.compile(r"[0-9a-f]{40}")
_TRUE_VALUES = {"1", "ON", "YES", "TRUE"}


@dataclass(frozen=True)
class _HubSettings:
    """Hub settings from the environment, read at call time (huggingface_hub reads them
    once, when imported)."""

    offline: bool
    endpoint: str | None
    cache_dir: str | None
    probe_timeout_s: float

    @classmethod
    def from_env(cls) -> _HubSettings:
        from huggingface_hub import constants

        env = os.environ
        offline = env.get("HF_HUB_OFFLINE", "").upper() in _TRUE_VALUES
        cache_dir = env.get("HF_HUB_CACHE") or (
            str(Path(env["HF_HOME"]) / "hub") if env.get("HF_HOME") else None
        )
        return cls(
            offline=offline or constants.HF_HUB_OFFLINE,
            endpoint=env.get("HF_ENDPOINT") or None,
            cache_dir=cache_dir,
            probe_timeout_s=float(env.get("HF_HUB_ETAG_TIMEOUT") or HUB_PROBE_TIMEOUT_S),
        )


def fetch_from_hub(spec: WeightsSpec, checkpoint: Path) -> str | None:
    """Fill the folder `checkpoint` with the files of `spec` (those of its format); return
    the resolved commit, if known.

    In order: the Hugging Face cache, a download (when the hub is allowed and reachable),
    the files already in `checkpoint` (placed by hand); else WeightsError with the command
    that downloads them by hand.
    """
    assert spec.repo_id is not None and spec.revision is not None
    settings = _HubSettings.from_env()
    cached = _cached_snapshot(spec, settings)
    if cached is not None:
        log.info("Using %s@%s from the Hugging Face cache %s", spec.repo_id, spec.revision, cached)
        _link_files(cached, checkpoint, spec)
        return cached.name

    if settings.offline:
        reason = "HF_HUB_OFFLINE is set and they are not in the Hugging Face cache"
    else:
        info = _model_info(spec, settings)
        if not isinstance(info, str):
            available = None if info.siblings is None else {s.rfilename for s in info.siblings}
            return _download(spec, checkpoint, info.sha, available, settings.endpoint)
        reason = info

    if _complete(checkpoint, spec):
        log.warning("Using the files already in %s (%s)", checkpoint, reason)
        return spec.revision if _COMMIT_HASH.fullmatch(spec.revision) else None
    raise WeightsError(
        f"The weights of {_what(spec)} are not available: {reason}. On a machine with "
        f"internet access run\n  {download_command(spec, checkpoint)}\nand copy that "
        f"folder to {checkpoint} on this machine, then re-run fetch_weights; or set "
        f"weights.local_path of {spec.name!r} in the config to a folder holding "
        f"{_FOLDER_CONTENT[spec.format]}."
    )


def download_command(spec: WeightsSpec, checkpoint: Path, files: Iterable[str] = ()) -> str:
    """The `hf` command line (huggingface_hub's CLI) that downloads the checkpoint by hand:
    `files` when given, else the format's files (Transformers with model.safetensors;
    OpenMMLab the named files or all `.py` and `.pth` files)."""
    names = list(files)
    if not names and spec.format == "openmmlab":
        patterns = " ".join(shlex.quote(p) for p in allow_patterns(spec))
        return (
            f"hf download {spec.repo_id} --include {patterns} --revision {spec.revision} "
            f"--local-dir {checkpoint}"
        )
    names = names or [CONFIG_FILE, PREPROCESSOR_FILE, WEIGHTS_FILES[0]]
    return (
        f"hf download {spec.repo_id} {' '.join(names)} --revision {spec.revision} "
        f"--local-dir {checkpoint}"
    )


def allow_patterns(spec: WeightsSpec) -> list[str]:
    """The repository files of a checkpoint in the format of `spec` (fnmatch patterns)."""
    if spec.format == "openmmlab":
        return [spec.config or "*.py", spec.checkpoint or "*.pth"]
    return ALLOW_PATTERNS


def _cached_snapshot(spec: WeightsSpec, settings: _HubSettings) -> Path | None:
    """The cache's snapshot folder of `spec` when it holds a complete checkpoint."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    assert spec.repo_id is not None
    try:
        cached = Path(
            snapshot_download(
                spec.repo_id,
                revision=spec.revision,
                cache_dir=settings.cache_dir,
                local_files_only=True,
                allow_patterns=allow_patterns(spec),
            )
        )
    except LocalEntryNotFoundError:
        return None
    return cached if _complete(cached, spec) else None


def _model_info(spec: WeightsSpec, settings: _HubSettings) -> ModelInfo | str:
    """The hub's metadata of the revision of `spec`, or why the hub is unreachable; raise
    WeightsError when the hub says the repository or revision does not exist."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    assert spec.repo_id is not None
    try:
        return HfApi(endpoint=settings.endpoint).model_info(
            spec.repo_id, revision=spec.revision, timeout=settings.probe_timeout_s
        )
    except RevisionNotFoundError as error:
        raise WeightsError(
            f"{_what(spec)}: revision {spec.revision!r} does not exist in {spec.repo_id}. "
            "Fix weights.revision in the config (a commit hash, branch or tag)."
        ) from error
    except RepositoryNotFoundError as error:
        raise WeightsError(
            f"{_what(spec)}: repository {spec.repo_id} was not found, or is private or "
            "gated. Fix weights.repo_id, or accept its terms on the hub and log in "
            f"(hf auth login). ({type(error).__name__})"
        ) from error
    # The network layer's exceptions depend on the huggingface_hub version (requests,
    # httpx): any other failure of this first request means the hub is unreachable.
    except Exception as error:
        return f"the hub ({settings.endpoint or 'default endpoint'}) is unreachable: {error}"


def _download(
    spec: WeightsSpec,
    checkpoint: Path,
    commit: str | None,
    available: set[str] | None,
    endpoint: str | None,
) -> str | None:
    """Download the needed files of the repository at `commit` into `checkpoint`.

    `available` lists the repository's files, when the hub said; then only the files of the
    checkpoint are downloaded, and missing files are an error before any download.
    """
    from huggingface_hub import snapshot_download

    assert spec.repo_id is not None
    patterns = _download_patterns(spec, available)
    log.info(
        "Downloading %s@%s (commit %s) into %s", spec.repo_id, spec.revision, commit, checkpoint
    )
    try:
        snapshot_download(
            spec.repo_id,
            revision=commit or spec.revision,
            local_dir=checkpoint,
            allow_patterns=patterns,
            endpoint=endpoint,
        )
    # As for the first request: the exceptions of an interrupted transfer vary with the
    # huggingface_hub version.
    except Exception as error:
        raise WeightsError(
            f"Downloading {_what(spec)} into {checkpoint} failed: {error}. Re-run "
            "fetch_weights to resume, or download by hand:\n  "
            f"{download_command(spec, checkpoint, [] if available is None else patterns)}"
        ) from error
    return commit


def _download_patterns(spec: WeightsSpec, available: set[str] | None) -> list[str]:
    """The files (patterns) to download: all candidates when the repository's files are
    unknown, else the checkpoint's files among them (WeightsError if it lacks one)."""
    if available is None:
        return allow_patterns(spec)
    files = _checkpoint_files(available, spec, f"{_what(spec)}: the repository")
    if files is not None:
        return files
    if spec.format == "openmmlab":
        wanted = [spec.config or "a .py config", spec.checkpoint or "a .pth checkpoint"]
        raise WeightsError(
            f"{_what(spec)}: the repository lacks {' or '.join(wanted)} (files: "
            f"{sorted(available)}); it is not an OpenMMLab checkpoint. Fix weights.config or "
            "weights.checkpoint, or pick another repository or revision."
        )
    found = next((name for name in WEIGHTS_FILES if name in available), None)
    missing = [name for name in (CONFIG_FILE, PREPROCESSOR_FILE) if name not in available]
    raise WeightsError(
        f"{_what(spec)}: the repository has no "
        f"{missing + ([] if found else [' or '.join(WEIGHTS_FILES)])} (files: "
        f"{sorted(available)}); it is not a Transformers checkpoint with safetensors "
        "or PyTorch weights. Pick another repository or revision."
    )


def _checkpoint_files(names: Iterable[str], spec: WeightsSpec, where: str) -> list[str] | None:
    """The files of the checkpoint among `names` (a repository's or a folder's files), in
    the format of `spec`; None when one is missing. Transformers: config, preprocessor
    config and the preferred weights file; OpenMMLab: `openmmlab_files`."""
    present = set(names)
    if spec.format == "openmmlab":
        pair = openmmlab_files(
            present,
            config=spec.config,
            checkpoint=spec.checkpoint,
            where=where,
            nameable=("config", "checkpoint"),
        )
        return None if pair is None else list(pair)
    weights = next((name for name in WEIGHTS_FILES if name in present), None)
    if weights is None or not {CONFIG_FILE, PREPROCESSOR_FILE} <= present:
        return None
    return [CONFIG_FILE, PREPROCESSOR_FILE, weights]


def folder_files(folder: Path) -> list[str]:
    """The files under `folder` (relative POSIX paths; symbolic links to files included),
    outside hidden folders such as huggingface_hub's `.cache`."""
    if not folder.is_dir():
        return []
    return sorted(
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file()
        and not any(part.startswith(".") for part in path.relative_to(folder).parts[:-1])
    )


def _complete(folder: Path, spec: WeightsSpec) -> bool:
    """True if `folder` holds the files of a checkpoint in the format of `spec`."""
    return _checkpoint_files(folder_files(folder), spec, str(folder)) is not None


def _link_files(snapshot: Path, checkpoint: Path, spec: WeightsSpec) -> None:
    """Hard-link (copy across file systems) the checkpoint files of a cache snapshot."""
    names = _checkpoint_files(folder_files(snapshot), spec, str(snapshot))
    assert names is not None  # `_cached_snapshot` only returns complete snapshots
    for name in names:
        source = (snapshot / name).resolve()
        target = checkpoint / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.unlink(missing_ok=True)
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)


def _what(spec: WeightsSpec) -> str:
    role = "model" if spec.kind == "pose" else "detector"
    return f"{role} {spec.name!r} ({spec.repo_id} at revision {spec.revision})"
