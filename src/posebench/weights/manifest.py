"""The weights manifest `<dest>/weights.json`: what `fetch_weights` verified, and where.

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

An OpenMMLab checkpoint's manifest also says `"format": "openmmlab"` and names its MMEngine
config (`"config_file": "config.py"`, or the one `.py` of a local folder); `source` is then
`{url, sha256, config}`, `{repo_id, revision}` (plus `config`, `checkpoint` when the config
names them) or `{local_path}`; `model_type` is the config's `model.type`,
and `files` lists the config and the `.pth`. Transformers manifests have neither key.

An ONNX checkpoint's manifest says `"format": "onnx"`; `source` is `{url, sha256}` (`{url}`
alone when `sha256: null` trusted the download on first use) or `{local_path}`;
`model_type` is the layout of its outputs (`simcc` for pose models, `dets` for detectors),
`weights_file` the `.onnx`, `input_size` the model's input `{"height": 256, "width": 192}`
in pixels (detectors whose input size is dynamic have none), and
`files` every file of the checkpoint folder (the `.onnx` and the archive's JSON files).
A URL checkpoint also records the downloaded file, `"download": {"file": "<name>.zip",
"size": ..., "sha256": "..."}`: the digest to pin when it was trusted on first use.

It holds no time stamp: fetching the same checkpoint twice writes the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from posebench.io.atomic import write_json
from posebench.io.hashing import sha256_of
from posebench.weights.spec import (
    CHECKPOINT_DIR,
    CONFIG_FILE,
    PREPROCESSOR_FILE,
    WEIGHTS_FORMATS,
    WeightsError,
    WeightsFormat,
    WeightsSpec,
)
from posebench.weights.verify import CheckpointInfo, verify_checkpoint

_REQUIRED_KEYS = frozenset({"name", "kind", "source", "path", "files", "weights_file"})


@dataclass(frozen=True)
class FileEntry:
    """Size (bytes) and SHA-256 (hex) of one checkpoint file when it was fetched."""

    size: int
    sha256: str


@dataclass(frozen=True)
class DownloadEntry:
    """The file downloaded from an ONNX checkpoint's URL (kept next to the manifest): its
    name, size (bytes) and SHA-256."""

    file: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Manifest:
    """The content of a weights manifest (see the module docstring).

    `path` is the checkpoint folder as recorded: `checkpoint` (relative to the manifest's
    folder) for hub weights, absolute for a local_path. `load_manifest` makes it absolute.
    """

    name: str
    kind: str
    source: Mapping[str, str]
    commit: str | None
    path: Path
    model_type: str | None
    weights_file: str
    files: Mapping[str, FileEntry]
    num_keypoints: int | None = None
    format: WeightsFormat = "transformers"
    config_file: str | None = None
    input_size: tuple[int, int] | None = None
    download: DownloadEntry | None = None

    def to_json(self) -> dict[str, Any]:
        """The JSON object written to `weights.json`; `num_keypoints` only when known,
        `format` only for OpenMMLab and ONNX checkpoints, `config_file` only for OpenMMLab
        ones, `input_size` and `download` only for ONNX ones (so that Transformers manifests
        keep their bytes)."""
        content: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "source": dict(self.source),
            "commit": self.commit,
            "path": str(self.path),
            "model_type": self.model_type,
            "weights_file": self.weights_file,
            "files": {
                name: {"size": entry.size, "sha256": entry.sha256}
                for name, entry in self.files.items()
            },
        }
        if self.num_keypoints is not None:
            content["num_keypoints"] = self.num_keypoints
        if self.format != "transformers":
            content["format"] = self.format
        if self.config_file is not None:
            content["config_file"] = self.config_file
        if self.input_size is not None:
            height, width = self.input_size
            content["input_size"] = {"height": height, "width": width}
        if self.download is not None:
            content["download"] = {
                "file": self.download.file,
                "size": self.download.size,
                "sha256": self.download.sha256,
            }
        return content

    @classmethod
    def from_json(cls, content: Any, where: Path) -> Manifest:
        """Build from the JSON object of the manifest file `where` (named in errors); raise
        WeightsError when keys are missing or malformed."""
        is_object = isinstance(content, dict)
        missing = sorted(_REQUIRED_KEYS - set(content) if is_object else _REQUIRED_KEYS)
        if not is_object or missing or not isinstance(content["files"], dict):
            raise WeightsError(
                f"Weights manifest {where} lacks {missing or ['a files mapping']} (expected "
                f"keys {sorted(_REQUIRED_KEYS)}); it was not written by fetch_weights. Delete "
                "it and re-run fetch_weights."
            )
        format = content.get("format", "transformers")
        if format not in WEIGHTS_FORMATS:
            raise WeightsError(
                f"Weights manifest {where} has format {format!r}, expected one of "
                f"{WEIGHTS_FORMATS}; delete it and re-run fetch_weights."
            )
        return cls(
            name=content["name"],
            kind=content["kind"],
            source=_source(content["source"], where),
            commit=content.get("commit"),
            path=Path(content["path"]),
            model_type=content.get("model_type"),
            weights_file=content["weights_file"],
            files={
                name: _file_entry(name, entry, where) for name, entry in content["files"].items()
            },
            num_keypoints=content.get("num_keypoints"),
            format=format,
            config_file=content.get("config_file"),
            input_size=_input_size(content.get("input_size"), where),
            download=_download(content.get("download"), where),
        )


def checkpoint_manifest(
    spec: WeightsSpec,
    checkpoint: Path,
    info: CheckpointInfo,
    commit: str | None,
    download: DownloadEntry | None = None,
) -> Manifest:
    """The manifest of the verified checkpoint folder `checkpoint` of `spec`, with the size
    and SHA-256 of its config, weights and preprocessor files (OpenMMLab: its config and
    `.pth`; ONNX: every file in the folder), and the file `download`ed for it, if any."""
    if spec.format == "openmmlab":
        assert info.config_file is not None
        files = [info.config_file, info.weights_file]
    elif spec.format == "onnx":
        files = [
            path.relative_to(checkpoint).as_posix()
            for path in checkpoint.rglob("*")
            if path.is_file()
        ]
    else:
        files = [CONFIG_FILE, info.weights_file, PREPROCESSOR_FILE]
    return Manifest(
        name=spec.name,
        kind=spec.kind,
        source=spec.manifest_source(),
        commit=commit,
        path=Path(CHECKPOINT_DIR) if spec.local_path is None else checkpoint,
        model_type=info.model_type,
        weights_file=info.weights_file,
        files={
            name: FileEntry(
                size=(checkpoint / name).stat().st_size, sha256=sha256_of(checkpoint / name)
            )
            for name in sorted(files)
        },
        num_keypoints=info.num_keypoints,
        format=spec.format,
        config_file=info.config_file,
        input_size=info.input_size,
        download=download,
    )


def write_manifest(path: Path, manifest: Manifest) -> None:
    """Write `manifest` to `path` atomically (indented JSON, sorted keys)."""
    write_json(path, manifest.to_json())


def load_manifest(path: Path) -> Manifest:
    """Read a manifest written by `fetch_weights`; its `path` is returned absolute."""
    if not path.is_file():
        raise WeightsError(
            f"Weights manifest {path} not found; run the fetch_weights step "
            f"(snakemake -c1 {path}) first."
        )
    try:
        content = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise WeightsError(
            f"Weights manifest {path} is not valid JSON ({error}); delete it and re-run "
            "fetch_weights."
        ) from error
    manifest = Manifest.from_json(content, path)
    return replace(manifest, path=(path.parent / manifest.path).resolve())


def verify_manifest(
    path: Path, spec: WeightsSpec, *, marker_set: str | None = None, hashes: bool = False
) -> CheckpointInfo:
    """Check that the manifest at `path` was written for `spec`, that its files are
    present with the recorded sizes (and SHA-256 when `hashes`), and verify the checkpoint."""
    manifest = load_manifest(path)
    recorded = (manifest.name, manifest.kind, manifest.format, dict(manifest.source))
    expected = (spec.name, spec.kind, spec.format, spec.manifest_source())
    if recorded != expected:
        raise WeightsError(
            f"Weights manifest {path} was written for {recorded}, but the config now says "
            f"{expected}. Delete {path} and re-run fetch_weights."
        )
    for name, entry in manifest.files.items():
        file = manifest.path / name
        if not file.is_file():
            raise WeightsError(
                f"{file}, listed in {path}, is missing; delete {path} and re-run fetch_weights."
            )
        size = file.stat().st_size
        if size != entry.size or (hashes and sha256_of(file) != entry.sha256):
            raise WeightsError(
                f"{file} changed since {path} was written (size {size} bytes, recorded "
                f"{entry.size}, or a different SHA-256); delete {path} and re-run "
                "fetch_weights."
            )
    return verify_checkpoint(
        manifest.path, kind=spec.kind, marker_set=marker_set, format=spec.format
    )


def _source(source: Any, where: Path) -> dict[str, str]:
    """The manifest's `source` object; raise WeightsError unless it maps names to strings."""
    if not isinstance(source, dict) or not all(
        isinstance(key, str) and isinstance(value, str) for key, value in source.items()
    ):
        raise WeightsError(
            f"Weights manifest {where} has source {source!r}, expected {{repo_id, revision}}, "
            "{local_path}, {url, sha256, config} or {url, sha256}; delete it and re-run "
            "fetch_weights."
        )
    return source


def _file_entry(name: str, entry: Any, where: Path) -> FileEntry:
    """One entry of the manifest's `files`; raise WeightsError unless it holds a size and a
    SHA-256."""
    if (
        not isinstance(entry, dict)
        or not isinstance(entry.get("size"), int)
        or not isinstance(entry.get("sha256"), str)
    ):
        raise WeightsError(
            f"Weights manifest {where} records {name!r} as {entry!r}, expected "
            '{"size": <bytes>, "sha256": <hex>}; delete it and re-run fetch_weights.'
        )
    return FileEntry(size=entry["size"], sha256=entry["sha256"])


def _input_size(value: Any, where: Path) -> tuple[int, int] | None:
    """The manifest's `input_size` as (height, width), or None; WeightsError if malformed."""
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or set(value) != {"height", "width"}
        or not all(isinstance(pixels, int) and pixels > 0 for pixels in value.values())
    ):
        raise WeightsError(
            f"Weights manifest {where} has input_size {value!r}, expected "
            '{"height": <pixels>, "width": <pixels>}; delete it and re-run fetch_weights.'
        )
    return value["height"], value["width"]


def _download(value: Any, where: Path) -> DownloadEntry | None:
    """The manifest's `download` ({file, size, sha256}) or None; WeightsError if malformed."""
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("file"), str)
        or not isinstance(value.get("size"), int)
        or not isinstance(value.get("sha256"), str)
    ):
        raise WeightsError(
            f"Weights manifest {where} records the download {value!r}, expected "
            '{"file": <name>, "size": <bytes>, "sha256": <hex>}; delete it and re-run '
            "fetch_weights."
        )
    return DownloadEntry(value["file"], value["size"], value["sha256"])
