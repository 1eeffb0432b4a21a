"""Model weights: fetch the checkpoints of pose models and detectors, and verify them.

A model's `weights:` entry in the config names a hub repository at a pinned revision
(`repo_id`, `revision`), a folder already on disk (`local_path`) or, for OpenMMLab and ONNX
checkpoints, a file on a web server (`url`, `sha256`, and `config` for OpenMMLab): a
:class:`posebench.weights.spec.WeightsSpec`. Its format follows the model's backend. A
Transformers checkpoint is the folder of a Transformers model: `config.json`,
`model.safetensors` (or `pytorch_model.bin` where the repository has no safetensors) and
`preprocessor_config.json`; nothing else is downloaded. An OpenMMLab checkpoint (backends
mmpose and mmdet) is a folder holding an MMEngine config and a `.pth`
(:mod:`posebench.weights.openmmlab`). An ONNX checkpoint (backends rtmpose and yolox) is a
folder holding one `.onnx`, extracted from OpenMMLab's zip archives or downloaded bare
(:mod:`posebench.weights.onnx`).

`fetch_weights` makes the checkpoint available (:mod:`posebench.weights.hub`,
:mod:`posebench.weights.openmmlab`, :mod:`posebench.weights.onnx`), checks it
(:mod:`posebench.weights.verify`) and writes `<dest>/weights.json`, the manifest
(:mod:`posebench.weights.manifest`) that the Snakemake localrule `fetch_weights` declares
as its output. `load_manifest` reads it back with its checkpoint `path` made absolute.
"""

from __future__ import annotations

import logging
from pathlib import Path

from posebench.weights.hub import fetch_from_hub
from posebench.weights.manifest import (
    DownloadEntry,
    checkpoint_manifest,
    load_manifest,
    verify_manifest,
    write_manifest,
)
from posebench.weights.onnx import fetch_onnx
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
    (only when the hub is reachable and HF_HUB_OFFLINE is not set); so do OpenMMLab and
    ONNX checkpoints, downloaded from their URL unless the file is in place. An existing
    manifest whose files are intact is kept as it is. `marker_set` (pose models) is checked
    against the checkpoint's keypoints. Returns the manifest path.

    An ONNX URL with `sha256: null` is trusted on first use: a warning, at every call,
    says that nothing pins the file, and the manifest records the download's SHA-256.
    """
    manifest_path = dest / MANIFEST_NAME
    if spec.trust_on_first_use:
        log.warning(
            "%s %r: weights.sha256 is null, so the file at %s is not pinned (trust on first "
            "use). Pin it: copy the SHA-256 that %s records under `download` into the config.",
            "model" if spec.kind == "pose" else "detector",
            spec.name,
            spec.url,
            manifest_path,
        )
    if manifest_path.is_file():
        try:
            verify_manifest(manifest_path, spec, marker_set=marker_set, hashes=True)
        except WeightsError as error:
            log.info("Fetching again: %s", error)
        else:
            log.info("%s is complete and verified; nothing to do", manifest_path)
            return manifest_path
    commit: str | None = None
    download: DownloadEntry | None = None
    if spec.local_path is not None:
        checkpoint = spec.local_path.resolve()
    elif spec.format == "openmmlab":
        checkpoint, commit = fetch_openmmlab(spec, dest)
    elif spec.format == "onnx":
        checkpoint, download = fetch_onnx(spec, dest)
    else:
        checkpoint = dest / CHECKPOINT_DIR
        commit = fetch_from_hub(spec, checkpoint)
    info = verify_checkpoint(checkpoint, kind=spec.kind, marker_set=marker_set, format=spec.format)
    write_manifest(manifest_path, checkpoint_manifest(spec, checkpoint, info, commit, download))
    log.info("Weights of %s %r (%s) verified in %s", spec.kind, spec.name, spec.source, checkpoint)
    return manifest_path
