"""Hugging Face hub checkpoints: from the local cache, downloaded, or placed by hand.

Hub downloads go to `<dest>/checkpoint` (huggingface_hub's local-dir mode, which resumes
interrupted downloads). Files already in the Hugging Face cache (`HF_HUB_CACHE`) are
hard-linked (or copied) from there without any network access. `HF_HUB_OFFLINE=1` forbids
network access; `HF_ENDPOINT` selects the hub. When the files are absent and the hub is
off limits or unreachable, fetching fails at once, with the command that downloads them
by hand. huggingface_hub is imported by the functions that use it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from posebench.weights.spec import (
    CONFIG_FILE,
    PREPROCESSOR_FILE,
    WEIGHTS_FILES,
    WeightsError,
    WeightsSpec,
    weights_file_in,
)

if TYPE_CHECKING:
    from huggingface_hub.hf_api import ModelInfo

log = logging.getLogger(__name__)

ALLOW_PATTERNS: list[str] = [CONFIG_FILE, PREPROCESSOR_FILE, *WEIGHTS_FILES]
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
    """Fill `checkpoint` with the files of `spec`; return the resolved commit, if known.

    In order: the Hugging Face cache, a download (when the hub is allowed and reachable),
    the files already in `checkpoint` (placed by hand); else WeightsError with the command
    that downloads them by hand.
    """
    assert spec.repo_id is not None and spec.revision is not None
    settings = _HubSettings.from_env()
    cached = _cached_snapshot(spec, settings)
    if cached is not None:
        log.info("Using %s@%s from the Hugging Face cache %s", spec.repo_id, spec.revision, cached)
        _link_files(cached, checkpoint)
        return cached.name

    if settings.offline:
        reason = "HF_HUB_OFFLINE is set and they are not in the Hugging Face cache"
    else:
        info = _model_info(spec, settings)
        if not isinstance(info, str):
            available = None if info.siblings is None else {s.rfilename for s in info.siblings}
            return _download(spec, checkpoint, info.sha, available, settings.endpoint)
        reason = info

    if _complete(checkpoint):
        log.warning("Using the files already in %s (%s)", checkpoint, reason)
        return spec.revision if _COMMIT_HASH.fullmatch(spec.revision) else None
    raise WeightsError(
        f"The weights of {_what(spec)} are not available: {reason}. On a machine with "
        f"internet access run\n  {download_command(spec, checkpoint)}\nand copy that "
        f"folder to {checkpoint} on this machine, then re-run fetch_weights; or set "
        f"weights.local_path of {spec.name!r} in the config to a folder holding {CONFIG_FILE}, "
        f"{' or '.join(WEIGHTS_FILES)} and {PREPROCESSOR_FILE}."
    )


def download_command(spec: WeightsSpec, checkpoint: Path, weights: str = WEIGHTS_FILES[0]) -> str:
    """The `hf` command line (huggingface_hub's CLI) that downloads the checkpoint by hand."""
    return (
        f"hf download {spec.repo_id} {CONFIG_FILE} {PREPROCESSOR_FILE} {weights} "
        f"--revision {spec.revision} --local-dir {checkpoint}"
    )


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
                allow_patterns=ALLOW_PATTERNS,
            )
        )
    except LocalEntryNotFoundError:
        return None
    return cached if _complete(cached) else None


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

    `available` lists the repository's files, when the hub said; then only the preferred
    weights file is downloaded, and missing files are an error before any download.
    """
    from huggingface_hub import snapshot_download

    assert spec.repo_id is not None
    patterns, weights = _download_patterns(spec, available)
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
            f"{download_command(spec, checkpoint, weights)}"
        ) from error
    return commit


def _download_patterns(spec: WeightsSpec, available: set[str] | None) -> tuple[list[str], str]:
    """The file patterns to download and the weights file among them: all candidates when
    the repository's files are unknown, else the ones it has (WeightsError if it lacks one)."""
    if available is None:
        return ALLOW_PATTERNS, WEIGHTS_FILES[0]
    found = next((name for name in WEIGHTS_FILES if name in available), None)
    missing = [name for name in (CONFIG_FILE, PREPROCESSOR_FILE) if name not in available]
    if found is None or missing:
        raise WeightsError(
            f"{_what(spec)}: the repository has no "
            f"{missing + ([] if found else [' or '.join(WEIGHTS_FILES)])} (files: "
            f"{sorted(available)}); it is not a Transformers checkpoint with safetensors "
            "or PyTorch weights. Pick another repository or revision."
        )
    return [CONFIG_FILE, PREPROCESSOR_FILE, found], found


def _complete(folder: Path) -> bool:
    """True if `folder` holds a config, a weights file and a preprocessor config."""
    return (
        (folder / CONFIG_FILE).is_file()
        and (folder / PREPROCESSOR_FILE).is_file()
        and weights_file_in(folder) is not None
    )


def _link_files(snapshot: Path, checkpoint: Path) -> None:
    """Hard-link (copy across file systems) the checkpoint files of a cache snapshot."""
    checkpoint.mkdir(parents=True, exist_ok=True)
    weights = weights_file_in(snapshot)
    assert weights is not None  # `_cached_snapshot` only returns complete snapshots
    for name in (CONFIG_FILE, PREPROCESSOR_FILE, weights):
        source = (snapshot / name).resolve()
        target = checkpoint / name
        target.unlink(missing_ok=True)
        try:
            os.link(source, target)
        except OSError:
            shutil.copyfile(source, target)


def _what(spec: WeightsSpec) -> str:
    role = "model" if spec.kind == "pose" else "detector"
    return f"{role} {spec.name!r} ({spec.repo_id} at revision {spec.revision})"
