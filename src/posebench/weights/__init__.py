"""Model weights: fetch the checkpoints of pose models and detectors, and verify them.

A model's `weights:` entry in the config names a hub repository at a pinned revision
(`repo_id`, `revision`), a folder already on disk (`local_path`) or, for OpenMMLab
checkpoints, a file on a web server (`url`, `sha256`, `config`): a
:class:`posebench.weights.spec.WeightsSpec`. Its format follows the model's backend. A
Transformers checkpoint is the folder of a Transformers model: `config.json`,
`model.safetensors` (or `pytorch_model.bin` where the repository has no safetensors) and
`preprocessor_config.json`; nothing else is downloaded. An OpenMMLab checkpoint (backends
mmpose and mmdet) is a folder holding an MMEngine config and a `.pth`
(:mod:`posebench.weights.openmmlab`).

`fetch_weights` makes the checkpoint available (:mod:`posebench.weights.hub`,
:mod:`posebench.weights.openmmlab`), checks it
(:mod:`posebench.weights.verify`) and writes `<dest>/weights.json`, the manifest
(:mod:`posebench.weights.manifest`) that the Snakemake localrule `fetch_weights` declares
as its output. `load_manifest` reads it back with its checkpoint `path` made absolute.
"""

from __future__ import annotations

import logging
from pathlib import Path

from posebench.weights.hub import fetch_from_hub
from posebench.weights.manifest import (
    checkpoint_manifest,
    load_manifest,
    verify_manifest,
    write_manifest,
)
from posebench.weights.openmmlab import fetch_openmmlab
from posebench.weights.spec import (
    CHECKPOINT_DIR,
    MANIFEST_NAME,
    WeightsError,
    WeightsSpec,
)
from posebench.weights.verify import verify_checkpoint

__all__ = ["fetch_weights", "load_manifest", "verify_checkpoint", "verify_manifest"]

log = logging.getLogger(__name__)


def fetch_weights(spec: WeightsSpec, dest: Path, *, marker_set: str | None = None) -> Path:
    """Make the checkpoint of `spec` available, verify it and write `dest/weights.json`.

    A local_path checkpoint is verified in place (not copied). A hub checkpoint goes to
    `dest/checkpoint`, from the Hugging Face cache when it is there, else downloaded
    (only when the hub is reachable and HF_HUB_OFFLINE is not set); so does an OpenMMLab
    checkpoint, downloaded from its URL unless it is in place. An existing manifest
    whose files are intact is kept as it is. `marker_set` (pose models) is checked against
    the checkpoint's keypoints. Returns the manifest path.
    """
    manifest_path = dest / MANIFEST_NAME
    if manifest_path.is_file():
        try:
            verify_manifest(manifest_path, spec, marker_set=marker_set, hashes=True)
        except WeightsError as error:
            log.info("Fetching again: %s", error)
        else:
            log.info("%s is complete and verified; nothing to do", manifest_path)
            return manifest_path
    commit: str | None = None
    if spec.local_path is not None:
        checkpoint = spec.local_path.resolve()
    elif spec.format == "openmmlab":
        checkpoint, commit = fetch_openmmlab(spec, dest)
    else:
        checkpoint = dest / CHECKPOINT_DIR
        commit = fetch_from_hub(spec, checkpoint)
    info = verify_checkpoint(checkpoint, kind=spec.kind, marker_set=marker_set, format=spec.format)
    write_manifest(manifest_path, checkpoint_manifest(spec, checkpoint, info, commit))
    log.info("Weights of %s %r (%s) verified in %s", spec.kind, spec.name, spec.source, checkpoint)
    return manifest_path
