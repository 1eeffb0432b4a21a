"""Model weights: fetch Hugging Face checkpoints of pose models and detectors, and verify them.

A model's `weights:` entry in the config names either a hub repository at a pinned
revision (`repo_id`, `revision`) or a folder already on disk (`local_path`). A checkpoint
is the folder of a Transformers model: `config.json`, `model.safetensors` (or
`pytorch_model.bin` where the repository has no safetensors) and
`preprocessor_config.json`; nothing else is downloaded.

`fetch_weights` makes the checkpoint available and writes `<dest>/weights.json`, the
manifest that the Snakemake localrule `fetch_weights` declares as its output:

    {
      "name": "synthpose-vitpose-base",        # model or detector name in the config
      "kind": "pose",                          # or "detector"
      "source": {"repo_id": "...", "revision": "main"},   # or {"local_path": "/abs/dir"}
      "commit": "<40-hex>",                    # resolved hub commit; null when unknown
      "path": "checkpoint",                    # folder to load; relative to the manifest's
                                               # folder, or absolute (local_path)
      "model_type": "vitpose",                 # config.json model_type
      "num_keypoints": 52,                     # pose models only
      "weights_file": "model.safetensors",
      "files": {"config.json": {"size": 123, "sha256": "..."}, ...}
    }

It holds no time stamp: fetching the same checkpoint twice writes the same bytes.
`load_manifest` returns it with `path` made absolute.

Hub downloads go to `<dest>/checkpoint` (huggingface_hub's local-dir mode, which resumes
interrupted downloads). Files already in the Hugging Face cache (`HF_HUB_CACHE`) are
hard-linked (or copied) from there without any network access. `HF_HUB_OFFLINE=1` forbids
network access; `HF_ENDPOINT` selects the hub. When the files are absent and the hub is
off limits or unreachable, fetching fails at once, with the command that downloads them
by hand.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from posebench.io.atomic import write_json
from posebench.markersets import MARKER_SETS, get_marker_set

log = logging.getLogger(__name__)

WeightsKind = Literal["pose", "detector"]

MANIFEST_NAME = "weights.json"
CHECKPOINT_DIR = "checkpoint"
CONFIG_FILE = "config.json"
PREPROCESSOR_FILE = "preprocessor_config.json"
# In order of preference: a checkpoint uses the first one present.
WEIGHTS_FILES: tuple[str, ...] = ("model.safetensors", "pytorch_model.bin")
ALLOW_PATTERNS: list[str] = [CONFIG_FILE, PREPROCESSOR_FILE, *WEIGHTS_FILES]
# Seconds to wait for the hub's answer to the first request (the revision's metadata)
# before deciding it is unreachable. HF_HUB_ETAG_TIMEOUT overrides it.
HUB_PROBE_TIMEOUT_S = 3.0
# The output convolution of ViTPose's heads (simple and classic decoder): one heatmap per
# keypoint, so its first dimension is the checkpoint's keypoint count.
_HEATMAP_HEAD_WEIGHT = "head.conv.weight"
_DEFAULT_LABEL = re.compile(r"LABEL_(\d+)")
_COMMIT_HASH = re.compile(r"[0-9a-f]{40}")
_TRUE_VALUES = {"1", "ON", "YES", "TRUE"}


class WeightsError(RuntimeError):
    """Weights are missing, incomplete or do not fit the model; the message says what to do."""


@dataclass(frozen=True)
class WeightsSpec:
    """Where the weights of one model or detector come from: a hub repository at a
    revision, or a local folder (exactly one)."""

    name: str
    kind: WeightsKind
    repo_id: str | None
    revision: str | None
    local_path: Path | None

    @classmethod
    def from_config(cls, name: str, kind: WeightsKind, section: Mapping[str, Any]) -> WeightsSpec:
        """Build from a config `weights:` section: `{repo_id, revision}` or `{local_path}`."""
        where = f"config: weights of {kind} {name!r}"
        repo_id, revision, local_path = (
            section.get(key) for key in ("repo_id", "revision", "local_path")
        )
        unknown = sorted(set(section) - {"repo_id", "revision", "local_path"})
        if unknown:
            raise WeightsError(
                f"{where} has unknown keys {unknown}; expected repo_id and revision, or local_path."
            )
        if (repo_id is None) == (local_path is None):
            raise WeightsError(
                f"{where} must set exactly one of repo_id or local_path (found {dict(section)}). "
                "Use {repo_id: <org/name>, revision: <commit, branch or tag>} for a hub "
                "checkpoint, or {local_path: <folder>} for one on disk."
            )
        if local_path is not None:
            if revision is not None:
                raise WeightsError(
                    f"{where} sets revision {revision!r} with local_path {local_path!r}; a "
                    "revision only applies to repo_id, remove it."
                )
            return cls(name, kind, None, None, Path(str(local_path)).expanduser())
        if not isinstance(repo_id, str) or repo_id.count("/") != 1:
            raise WeightsError(f"{where}: repo_id {repo_id!r} is not of the form <org>/<name>.")
        if not isinstance(revision, str) or not revision:
            raise WeightsError(
                f"{where}: repo_id {repo_id!r} needs a revision (found {revision!r}); pin a "
                "commit hash (or at least a branch or tag such as main)."
            )
        return cls(name, kind, repo_id, revision, None)

    @property
    def source(self) -> str:
        """`repo_id@revision` or the local path, for messages and tables."""
        if self.local_path is not None:
            return str(self.local_path)
        return f"{self.repo_id}@{self.revision}"

    def _manifest_source(self) -> dict[str, str]:
        if self.local_path is not None:
            return {"local_path": str(self.local_path.resolve())}
        assert self.repo_id is not None and self.revision is not None
        return {"repo_id": self.repo_id, "revision": self.revision}


@dataclass(frozen=True)
class CheckpointInfo:
    """What `verify_checkpoint` found in a checkpoint folder."""

    path: Path
    model_type: str
    num_keypoints: int | None
    weights_file: str
    keypoint_names: tuple[str, ...] | None


def fetch_weights(spec: WeightsSpec, dest: Path, *, marker_set: str | None = None) -> Path:
    """Make the checkpoint of `spec` available, verify it and write `dest/weights.json`.

    A local_path checkpoint is verified in place (not copied). A hub checkpoint goes to
    `dest/checkpoint`, from the Hugging Face cache when it is there, else downloaded
    (only when the hub is reachable and HF_HUB_OFFLINE is not set). An existing manifest
    whose files are intact is kept as it is. `marker_set` (pose models) is checked against
    the checkpoint's keypoints. Returns the manifest path.
    """
    # Imported here: `posebench.fetch` pulls in urllib's HTTP stack, which the stages that only
    # read a manifest (`load_manifest`) do not need.
    from posebench.fetch import sha256_of

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
    else:
        checkpoint = dest / CHECKPOINT_DIR
        commit = _fetch_from_hub(spec, checkpoint)
    info = verify_checkpoint(checkpoint, kind=spec.kind, marker_set=marker_set)
    files = [CONFIG_FILE, info.weights_file, PREPROCESSOR_FILE]
    manifest: dict[str, Any] = {
        "name": spec.name,
        "kind": spec.kind,
        "source": spec._manifest_source(),
        "commit": commit,
        "path": CHECKPOINT_DIR if spec.local_path is None else str(checkpoint),
        "model_type": info.model_type,
        "weights_file": info.weights_file,
        "files": {
            name: {
                "size": (checkpoint / name).stat().st_size,
                "sha256": sha256_of(checkpoint / name),
            }
            for name in sorted(files)
        },
    }
    if info.num_keypoints is not None:
        manifest["num_keypoints"] = info.num_keypoints
    write_json(manifest_path, manifest)
    log.info("Weights of %s %r (%s) verified in %s", spec.kind, spec.name, spec.source, checkpoint)
    return manifest_path


def load_manifest(path: Path) -> dict[str, Any]:
    """Read a manifest written by `fetch_weights`; its `path` is returned absolute."""
    if not path.is_file():
        raise WeightsError(
            f"Weights manifest {path} not found; run the fetch_weights step "
            f"(snakemake -c1 {path}) first."
        )
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise WeightsError(
            f"Weights manifest {path} is not valid JSON ({error}); delete it and re-run "
            "fetch_weights."
        ) from error
    required = {"name", "kind", "source", "path", "files", "weights_file"}
    missing = sorted(required - set(manifest)) if isinstance(manifest, dict) else sorted(required)
    if missing or not isinstance(manifest["files"], dict):
        raise WeightsError(
            f"Weights manifest {path} lacks {missing or ['a files mapping']} (expected keys "
            f"{sorted(required)}); it was not written by fetch_weights. Delete it and re-run "
            "fetch_weights."
        )
    manifest["path"] = str((path.parent / manifest["path"]).resolve())
    return manifest


def verify_manifest(
    path: Path, spec: WeightsSpec, *, marker_set: str | None = None, hashes: bool = False
) -> CheckpointInfo:
    """Check that the manifest at `path` was written for `spec`, that its files are
    present with the recorded sizes (and SHA-256 when `hashes`), and verify the checkpoint."""
    from posebench.fetch import sha256_of

    manifest = load_manifest(path)
    recorded = (manifest["name"], manifest["kind"], manifest["source"])
    expected = (spec.name, spec.kind, spec._manifest_source())
    if recorded != expected:
        raise WeightsError(
            f"Weights manifest {path} was written for {recorded}, but the config now says "
            f"{expected}. Delete {path} and re-run fetch_weights."
        )
    checkpoint = Path(manifest["path"])
    for name, entry in manifest["files"].items():
        file = checkpoint / name
        if not file.is_file():
            raise WeightsError(
                f"{file}, listed in {path}, is missing; delete {path} and re-run fetch_weights."
            )
        size = file.stat().st_size
        if size != entry["size"] or (hashes and sha256_of(file) != entry["sha256"]):
            raise WeightsError(
                f"{file} changed since {path} was written (size {size} bytes, recorded "
                f"{entry['size']}, or a different SHA-256); delete {path} and re-run "
                "fetch_weights."
            )
    return verify_checkpoint(checkpoint, kind=spec.kind, marker_set=marker_set)


def verify_checkpoint(
    path: Path, *, kind: WeightsKind, marker_set: str | None = None
) -> CheckpointInfo:
    """Check a checkpoint folder without network access; raise WeightsError if unusable.

    The three files must be present, `config.json` must load with Transformers'
    `AutoConfig`, and a safetensors weights file must be complete. For pose models the
    keypoint count (`config.num_labels`, the channels of the heatmap head) must equal the
    marker set's and, where `config.json`'s `id2label` names the keypoints (not the
    defaults `LABEL_<i>`), the names must equal the marker set's, in order (ignoring
    case). A detector must have a `person` label. `marker_set` is for pose models only.
    """
    if kind == "detector" and marker_set is not None:
        raise ValueError(f"marker_set {marker_set!r} given for a detector checkpoint {path}")
    if not path.is_dir():
        raise WeightsError(
            f"Checkpoint folder {path} does not exist; re-run fetch_weights, or point "
            "weights.local_path at a folder holding "
            f"{CONFIG_FILE}, {' or '.join(WEIGHTS_FILES)} and {PREPROCESSOR_FILE}."
        )
    present = sorted(p.name for p in path.iterdir())
    weights_file = next((name for name in WEIGHTS_FILES if (path / name).is_file()), None)
    for name, found in (
        (CONFIG_FILE, (path / CONFIG_FILE).is_file()),
        (" or ".join(WEIGHTS_FILES), weights_file is not None),
        (PREPROCESSOR_FILE, (path / PREPROCESSOR_FILE).is_file()),
    ):
        if not found:
            raise WeightsError(
                f"Checkpoint {path} has no {name} (found: {present}); the download is "
                "incomplete: re-run fetch_weights (or complete the folder given as "
                "weights.local_path)."
            )
    assert weights_file is not None
    head_channels = _check_weights_file(path / weights_file)
    config = _load_config(path)
    model_type = str(config.model_type)
    labels = [str(config.id2label[i]) for i in sorted(config.id2label)]
    if kind == "detector":
        if "person" not in {label.casefold() for label in labels}:
            raise WeightsError(
                f"Detector checkpoint {path} has no 'person' label in {CONFIG_FILE} id2label "
                f"(found {labels[:10]}{' ...' if len(labels) > 10 else ''}); use a person "
                "detector trained on COCO, such as PekingU/rtdetr_r50vd_coco_o365."
            )
        return CheckpointInfo(path, model_type, None, weights_file, None)
    num_keypoints = int(config.num_labels)
    if head_channels is not None and head_channels != num_keypoints:
        raise WeightsError(
            f"Checkpoint {path}: {CONFIG_FILE} declares {num_keypoints} keypoints but "
            f"{weights_file} has a {head_channels}-channel heatmap head ({_HEATMAP_HEAD_WEIGHT}); "
            "the files come from different models. Re-download the checkpoint."
        )
    named = not all(_DEFAULT_LABEL.fullmatch(label) for label in labels)
    names = tuple(labels) if named else None
    if marker_set is not None:
        _check_keypoints(path, num_keypoints, names, marker_set)
    return CheckpointInfo(path, model_type, num_keypoints, weights_file, names)


def _keypoint_key(name: str) -> str:
    """A spelling-insensitive form of a keypoint name: case folded, and a leading `l_`/`r_`
    written out, so that `L_Eye` (Hugging Face's COCO configs) matches `left_eye`."""
    key = name.casefold()
    for short, side in (("l_", "left_"), ("r_", "right_")):
        if key.startswith(short):
            return side + key[len(short) :]
    return key


def _check_keypoints(
    path: Path, num_keypoints: int, names: tuple[str, ...] | None, marker_set: str
) -> None:
    expected = get_marker_set(marker_set).keypoints
    if num_keypoints != len(expected):
        fitting = [m.name for m in MARKER_SETS.values() if len(m.keypoints) == num_keypoints]
        fix = (
            f"pick marker_set: {' or '.join(fitting)}"
            if fitting
            else f"no marker set has {num_keypoints} keypoints: add one in posebench/markersets.py"
        )
        raise WeightsError(
            f"Checkpoint {path} predicts {num_keypoints} keypoints but marker set "
            f"{marker_set!r} expects {len(expected)}. Use a checkpoint trained for "
            f"{marker_set!r}, or {fix}."
        )
    if names is None:
        return
    differ = [
        i
        for i, (a, b) in enumerate(zip(names, expected, strict=True))
        if _keypoint_key(a) != _keypoint_key(b)
    ]
    if differ:
        first = differ[0]
        raise WeightsError(
            f"Checkpoint {path} names its keypoints in {CONFIG_FILE} id2label, and {len(differ)} "
            f"differ from marker set {marker_set!r} (first at index {first}: {names[first]!r}, "
            f"expected {expected[first]!r}). Its keypoints are {list(names)}; use the marker "
            "set of this checkpoint, or a checkpoint trained for this marker set."
        )


def _check_weights_file(path: Path) -> int | None:
    """Raise if the weights file is truncated; return the heatmap head's output channels
    when a safetensors file holds that tensor."""
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError, safe_open

        try:
            with safe_open(str(path), framework="numpy") as weights:
                names = weights.keys()
                if _HEATMAP_HEAD_WEIGHT not in names:
                    return None
                return int(weights.get_slice(_HEATMAP_HEAD_WEIGHT).get_shape()[0])
        except SafetensorError as error:
            raise WeightsError(
                f"{path} ({path.stat().st_size} bytes) is not a complete safetensors file "
                f"({error}): a partial download. Delete it and re-run fetch_weights."
            ) from error
    # PyTorch >= 1.6 saves zip archives, whose directory is at the end: a truncated file
    # has none.
    if not zipfile.is_zipfile(path):
        raise WeightsError(
            f"{path} ({path.stat().st_size} bytes) is not a complete PyTorch zip archive: a "
            "partial download or a legacy pickle. Delete it and re-run fetch_weights."
        )
    return None


def _load_config(path: Path) -> Any:
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError, KeyError) as error:
        raise WeightsError(
            f"{path / CONFIG_FILE} does not load with transformers.AutoConfig ({error}); a "
            "partial download or a model type this Transformers version does not know. "
            "Re-run fetch_weights, or upgrade transformers."
        ) from error


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


def _fetch_from_hub(spec: WeightsSpec, checkpoint: Path) -> str | None:
    """Fill `checkpoint` with the files of `spec`; return the resolved commit, if known."""
    from huggingface_hub import HfApi, snapshot_download
    from huggingface_hub.errors import (
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    assert spec.repo_id is not None and spec.revision is not None
    settings = _HubSettings.from_env()
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
        cached = None
    if cached is not None and _complete(cached):
        log.info("Using %s@%s from the Hugging Face cache %s", spec.repo_id, spec.revision, cached)
        _link_files(cached, checkpoint)
        return cached.name

    if settings.offline:
        reason = "HF_HUB_OFFLINE is set and they are not in the Hugging Face cache"
    else:
        try:
            info = HfApi(endpoint=settings.endpoint).model_info(
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
            reason = f"the hub ({settings.endpoint or 'default endpoint'}) is unreachable: {error}"
        else:
            available = None if info.siblings is None else {s.rfilename for s in info.siblings}
            return _download(spec, checkpoint, info.sha, available, settings.endpoint)

    if _complete(checkpoint):
        log.warning("Using the files already in %s (%s)", checkpoint, reason)
        return spec.revision if _COMMIT_HASH.fullmatch(spec.revision) else None
    raise WeightsError(
        f"The weights of {_what(spec)} are not available: {reason}. On a machine with "
        f"internet access run\n  {_download_command(spec, checkpoint)}\nand copy that "
        f"folder to {checkpoint} on this machine, then re-run fetch_weights; or set "
        f"weights.local_path of {spec.name!r} in the config to a folder holding {CONFIG_FILE}, "
        f"{' or '.join(WEIGHTS_FILES)} and {PREPROCESSOR_FILE}."
    )


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
    patterns = ALLOW_PATTERNS
    weights = WEIGHTS_FILES[0]
    if available is not None:
        found = next((name for name in WEIGHTS_FILES if name in available), None)
        missing = [name for name in (CONFIG_FILE, PREPROCESSOR_FILE) if name not in available]
        if found is None or missing:
            raise WeightsError(
                f"{_what(spec)}: the repository has no "
                f"{missing + ([] if found else [' or '.join(WEIGHTS_FILES)])} (files: "
                f"{sorted(available)}); it is not a Transformers checkpoint with safetensors "
                "or PyTorch weights. Pick another repository or revision."
            )
        weights = found
        patterns = [CONFIG_FILE, PREPROCESSOR_FILE, weights]
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
            f"{_download_command(spec, checkpoint, weights)}"
        ) from error
    return commit


def _complete(folder: Path) -> bool:
    """True if `folder` holds a config, a weights file and a preprocessor config."""
    return (
        (folder / CONFIG_FILE).is_file()
        and (folder / PREPROCESSOR_FILE).is_file()
        and any((folder / name).is_file() for name in WEIGHTS_FILES)
    )


def _link_files(snapshot: Path, checkpoint: Path) -> None:
    """Hard-link (copy across file systems) the checkpoint files of a cache snapshot."""
    checkpoint.mkdir(parents=True, exist_ok=True)
    weights = next(name for name in WEIGHTS_FILES if (snapshot / name).is_file())
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


def _download_command(spec: WeightsSpec, checkpoint: Path, weights: str = WEIGHTS_FILES[0]) -> str:
    """The `hf` command line (huggingface_hub's CLI) that downloads the checkpoint by hand."""
    return (
        f"hf download {spec.repo_id} {CONFIG_FILE} {PREPROCESSOR_FILE} {weights} "
        f"--revision {spec.revision} --local-dir {checkpoint}"
    )
