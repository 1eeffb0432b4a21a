"""Fetching OpenMMLab checkpoints (format "openmmlab"): a `.pth` and its MMEngine config.

A fetched checkpoint is the folder `<dest>/checkpoint` holding `config.py`, the model's
config loaded with mmengine's `Config.fromfile` (which resolves `_base_` inheritance) and
dumped as one self-contained file, and the `.pth`:

- `{url, sha256, config}`: the `.pth` is downloaded from the URL (resumed, checked against
  its SHA-256: :mod:`posebench.weights.download`) under the URL's file name; `config` is a
  config shipped in an installed wheel, `<package>::<path>` (the file
  `<package dir>/.mim/configs/<path>`), or the path of a `.py` file (relative to the
  working directory).
- `{repo_id, revision}`: the repository's config and `.pth` (`weights.config` and
  `weights.checkpoint`, else its only `.py` and only `.pth`) are fetched into `<dest>/hub`
  as Transformers checkpoints are (:mod:`posebench.weights.hub`), then the config is dumped
  and the `.pth` hard-linked into `<dest>/checkpoint`.

Files of another checkpoint left in `<dest>/checkpoint` (`.pth` and `.py`) are removed.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from posebench.io.atomic import atomic_output
from posebench.weights.download import PART_SUFFIX, download_file
from posebench.weights.hub import fetch_from_hub, folder_files
from posebench.weights.spec import (
    CHECKPOINT_DIR,
    CONFIG_SCOPES,
    HUB_DIR,
    OPENMMLAB_CONFIG,
    OPENMMLAB_SUFFIXES,
    WeightsError,
    WeightsSpec,
    openmmlab_files,
    url_file_name,
)
from posebench.weights.verify import load_openmmlab_config

log = logging.getLogger(__name__)


def fetch_openmmlab(spec: WeightsSpec, dest: Path) -> tuple[Path, str | None]:
    """Fill `dest/checkpoint` with the config and `.pth` of `spec` (a URL or a hub
    repository); return the folder and the resolved hub commit (None for a URL)."""
    checkpoint = dest / CHECKPOINT_DIR
    what = f"{'model' if spec.kind == 'pose' else 'detector'} {spec.name!r}"
    if spec.url is not None:
        assert spec.sha256 is not None and spec.config is not None
        # The config first: a wrong reference fails before a long download.
        config = load_openmmlab_config(resolve_config(spec.config, what))
        weights = url_file_name(spec.url)
        _remove_others(checkpoint, weights)
        download_file(spec.url, checkpoint / weights, sha256=spec.sha256, what=what)
        _dump_config(config, checkpoint / OPENMMLAB_CONFIG)
        return checkpoint, None
    hub = dest / HUB_DIR
    commit = fetch_from_hub(spec, hub)
    found = openmmlab_files(
        folder_files(hub),
        config=spec.config,
        checkpoint=spec.checkpoint,
        where=f"{what}: {hub}",
        nameable=("config", "checkpoint"),
    )
    if found is None:
        raise WeightsError(
            f"{what}: {hub} lacks the config or the .pth after fetching {spec.source} "
            f"(files: {folder_files(hub)}); delete {hub} and re-run fetch_weights."
        )
    config_name, weights_path = found
    config = load_openmmlab_config(hub / config_name)
    weights = Path(weights_path).name
    _remove_others(checkpoint, weights)
    _link(hub / weights_path, checkpoint / weights)
    _dump_config(config, checkpoint / OPENMMLAB_CONFIG)
    return checkpoint, commit


def resolve_config(reference: str, what: str) -> Path:
    """The file of a config reference: `<package>::<path>` is `<path>` under the configs
    the package's wheel ships (`<package dir>/.mim/configs/`), anything else a path."""
    scope, separator, relative = reference.partition("::")
    if not separator:
        path = Path(reference).expanduser()
        if not path.is_file():
            raise WeightsError(
                f"{what}: the config {reference!r} (weights.config) is not a file "
                f"({path.resolve()}); fix the path (relative to the working directory) or use "
                "a config of an installed package, `mmpose::<path>` or `mmdet::<path>`."
            )
        return path
    if scope not in CONFIG_SCOPES:
        raise WeightsError(
            f"{what}: weights.config {reference!r} names the package {scope!r}; configs "
            f"come from {', '.join(CONFIG_SCOPES)}."
        )
    package = importlib.util.find_spec(scope)
    if package is None or not package.submodule_search_locations:
        raise WeightsError(
            f"{what}: weights.config {reference!r} needs the package {scope}, which is not "
            "installed: the OpenMMLab stack is not installed: run `make setup-mmpose`."
        )
    configs = Path(next(iter(package.submodule_search_locations))) / ".mim" / "configs"
    path = configs / relative
    if not path.is_file():
        raise WeightsError(
            f"{what}: weights.config {reference!r} is not a config of the installed {scope} "
            f"(no file {path}); fix the path under {configs} (the configs/ folder of "
            f"{scope}'s repository)."
        )
    return path


def _dump_config(config: Any, path: Path) -> None:
    """Write the loaded config as one self-contained file (no `_base_`), atomically."""
    with atomic_output(path) as tmp:
        config.dump(tmp)


def _remove_others(checkpoint: Path, weights: str) -> None:
    """Remove the `.pth` and `.py` files (and partial downloads) of another checkpoint
    from the fetched folder `checkpoint`, keeping `weights`, its `.part` and the config."""
    if not checkpoint.is_dir():
        return
    keep = {weights, weights + PART_SUFFIX, OPENMMLAB_CONFIG}
    for path in checkpoint.iterdir():
        stale = path.name.endswith(OPENMMLAB_SUFFIXES) or path.name.endswith(
            tuple(suffix + PART_SUFFIX for suffix in OPENMMLAB_SUFFIXES)
        )
        if stale and path.name not in keep and path.is_file():
            log.info("Removing %s, left by another checkpoint", path)
            path.unlink()


def _link(source: Path, target: Path) -> None:
    """Hard-link `source` to `target` (a copy across file systems), replacing it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and os.path.samefile(source, target):
        return
    with atomic_output(target) as tmp:
        try:
            os.link(source.resolve(), tmp)
        except OSError:
            shutil.copyfile(source, tmp)
