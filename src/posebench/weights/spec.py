"""Where a model's weights come from (`WeightsSpec`), and the file names of a checkpoint.

Three checkpoint formats, chosen by the model's backend (`weights_format`), never guessed:

- "transformers": a Transformers folder (`config.json`, `model.safetensors` or
  `pytorch_model.bin`, `preprocessor_config.json`) from the hub (`repo_id`, `revision`) or
  on disk (`local_path`).
- "openmmlab" (backends `mmpose`, `mmdet`): a folder holding one MMEngine config (`.py`) and
  one PyTorch checkpoint (`.pth`), from a web server (`url`, `sha256`, `config`), the hub
  (`repo_id`, `revision`, optional `config` and `checkpoint` file names) or on disk
  (`local_path`: a folder with exactly one `.py` and one `.pth`).
- "onnx" (backends `rtmpose`, `yolox`): a folder holding one ONNX model (`.onnx`) and the
  files that came with it (OpenMMLab's deploy.json, pipeline.json, detail.json), from a web
  server (`url` of a `.zip` archive or of a bare `.onnx`, and its full `sha256`) or on disk
  (`local_path`). `sha256: null` fetches the file unpinned ("trust on first use"): the
  download is accepted whatever its digest, which is logged as a warning and recorded in
  the manifest, to be pinned in the config (see `WeightsSpec.trust_on_first_use`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

WeightsKind = Literal["pose", "detector"]
WeightsFormat = Literal["transformers", "openmmlab", "onnx"]
WEIGHTS_FORMATS: tuple[WeightsFormat, ...] = ("transformers", "openmmlab", "onnx")

MANIFEST_NAME = "weights.json"
CHECKPOINT_DIR = "checkpoint"
CONFIG_FILE = "config.json"
PREPROCESSOR_FILE = "preprocessor_config.json"
# In order of preference: a checkpoint uses the first one present.
WEIGHTS_FILES: tuple[str, ...] = ("model.safetensors", "pytorch_model.bin")

# Backends whose checkpoints are OpenMMLab's, and those whose checkpoints are ONNX models
# (run with onnxruntime); every other backend loads Transformers ones.
OPENMMLAB_BACKENDS = frozenset({"mmpose", "mmdet"})
ONNX_BACKENDS = frozenset({"rtmpose", "yolox"})
# The name of the (self-contained, re-dumped) MMEngine config in a fetched OpenMMLab folder.
OPENMMLAB_CONFIG = "config.py"
OPENMMLAB_SUFFIXES = (".py", ".pth")
# Packages whose wheels ship configs, referred to as `<package>::<path under configs/>`.
CONFIG_SCOPES = ("mmpose", "mmdet", "mmpretrain")
# The repository files of an OpenMMLab hub checkpoint, as downloaded (next to checkpoint/).
HUB_DIR = "hub"

_SHA256 = re.compile(r"[0-9a-f]{8,64}")
_FULL_SHA256 = re.compile(r"[0-9a-f]{64}")
# What an ONNX checkpoint URL may name: an archive of the model's folder, or the model.
ONNX_URL_SUFFIXES = (".zip", ".onnx")
# The 8 hex digits in the name of an OpenMMLab ONNX archive: a prefix of the SHA-256 of the
# `.pth` it was exported from (`rtmpose-m_..._700e-256x192-4d3e73dd_20230605.zip`), not of
# the archive.
_ARCHIVE_NAME_HASH = re.compile(r"-([0-9a-f]{8})(?:_\d{8})?\.zip$")
# OpenMMLab checkpoint names end with the first 8 hex digits of the file's SHA-256, and
# sometimes a date: `faster_rcnn_r50_fpn_1x_coco_20200130-047c8118.pth`,
# `hrnet_w48_coco_384x288_dark-e881a4b6_20210203.pth`.
_NAME_HASH = re.compile(r"-([0-9a-f]{8})(?:_\d{8})?\.pth$")
_SOURCES = ("url", "repo_id", "local_path")
_KEYS: dict[str, frozenset[str]] = {
    "transformers": frozenset({"repo_id", "revision", "local_path"}),
    "openmmlab": frozenset({"url", "sha256", "config", "checkpoint", *_SOURCES, "revision"}),
    "onnx": frozenset({"url", "sha256", "local_path"}),
}
# What a `weights:` section holds, per format, for messages.
_EXPECTED = {
    "transformers": "repo_id and revision, or local_path",
    "openmmlab": "url, sha256 and config; repo_id and revision (config and checkpoint "
    "optional); or local_path",
    "onnx": "url and sha256 (a .zip archive or a .onnx file), or local_path",
}
# The keys each source allows (besides its own), for formats openmmlab and onnx (for onnx,
# `_KEYS` has already refused config, checkpoint and revision).
_SOURCE_KEYS: dict[str, frozenset[str]] = {
    "url": frozenset({"sha256", "config"}),
    "repo_id": frozenset({"revision", "config", "checkpoint"}),
    # A local folder holds one .py and one .pth, as the backends read it (no choice to make).
    "local_path": frozenset(),
}


def weights_format(backend: str) -> WeightsFormat:
    """The checkpoint format of a backend: "openmmlab" for mmpose and mmdet, "onnx" for
    rtmpose and yolox, else "transformers"."""
    if backend in OPENMMLAB_BACKENDS:
        return "openmmlab"
    if backend in ONNX_BACKENDS:
        return "onnx"
    return "transformers"


def weights_file_in(folder: Path) -> str | None:
    """The name of the weights file of the checkpoint folder `folder`: the first of
    WEIGHTS_FILES that is a file there; None if there is none."""
    return next((name for name in WEIGHTS_FILES if (folder / name).is_file()), None)


ONNX_SUFFIX = ".onnx"


def onnx_model_file(folder: Path) -> Path:
    """The ONNX model of the checkpoint folder `folder` (format "onnx"): the only `.onnx`
    file directly in it. WeightsError naming the folder when there is none or several."""
    if not folder.is_dir():
        raise WeightsError(
            f"The ONNX checkpoint folder {folder} does not exist: fetch the weights "
            "(snakemake fetch_weights) or point weights.local_path at a folder holding one "
            ".onnx file."
        )
    found = sorted(path for path in folder.iterdir() if path.suffix == ONNX_SUFFIX)
    if len(found) != 1:
        names = [path.name for path in found]
        raise WeightsError(
            f"The ONNX checkpoint folder {folder} holds {len(found)} .onnx files {names}; "
            "it must hold exactly one (the model): remove the others or fetch again."
        )
    return found[0]


def url_file_name(url: str) -> str:
    """The file name at the end of the path of `url` (query and fragment ignored)."""
    return PurePosixPath(unquote(urlsplit(url).path)).name


def name_hash_prefix(file_name: str) -> str | None:
    """The SHA-256 prefix an OpenMMLab checkpoint name carries (`...-047c8118.pth`), if any."""
    match = _NAME_HASH.search(file_name)
    return match.group(1) if match else None


def openmmlab_files(
    names: Iterable[str],
    *,
    config: str | None,
    checkpoint: str | None,
    where: str,
    nameable: Collection[str] = (),
) -> tuple[str, str] | None:
    """The (config, checkpoint) pair among the file names `names` (of a folder or a
    repository, `where`): the named files, else the only `.py` and the only `.pth`.

    None when one is missing; WeightsError when several could be meant (the message
    suggests naming it in `weights.<key>` for the keys in `nameable`).
    """
    present = sorted(names)
    found: list[str] = []
    for suffix, named, key in ((".py", config, "config"), (".pth", checkpoint, "checkpoint")):
        if named is not None:
            if named not in present:
                return None
            found.append(named)
            continue
        candidates = [name for name in present if name.endswith(suffix)]
        if not candidates:
            return None
        if len(candidates) > 1:
            fix = (
                f"name the one to use as weights.{key} in the config, or "
                if key in nameable
                else ""
            )
            raise WeightsError(
                f"{where} holds {len(candidates)} {suffix} files {candidates}, so the "
                f"{'MMEngine config' if suffix == '.py' else 'PyTorch checkpoint'} is "
                f"ambiguous (files: {present}): {fix}remove the others."
            )
        found.append(candidates[0])
    return found[0], found[1]


class WeightsError(RuntimeError):
    """Weights are missing, incomplete or do not fit the model; the message says what to do."""


@dataclass(frozen=True)
class WeightsSpec:
    """Where the weights of one model or detector come from: a hub repository at a
    revision, a local folder or (formats openmmlab and onnx) a URL, exactly one.

    `config` and `checkpoint` (format openmmlab) name the MMEngine config and the `.pth`:
    for a URL, the config as `<package>::<path>` or a `.py` file; for a hub repository,
    file names in it (default: its only `.py` and its only `.pth`). A local folder must hold
    exactly one of each, as the backends load it.

    Format onnx: a URL of a `.zip` archive or a `.onnx` file, with the file's full SHA-256,
    or a local folder holding exactly one `.onnx`. A URL whose `sha256` is null in the
    config is `trust_on_first_use`.
    """

    name: str
    kind: WeightsKind
    repo_id: str | None
    revision: str | None
    local_path: Path | None
    format: WeightsFormat = "transformers"
    url: str | None = None
    sha256: str | None = None
    config: str | None = None
    checkpoint: str | None = None

    @classmethod
    def from_config(
        cls,
        name: str,
        kind: WeightsKind,
        section: Mapping[str, Any],
        format: WeightsFormat = "transformers",
    ) -> WeightsSpec:
        """Build from a config `weights:` section of a checkpoint in `format`:
        `{repo_id, revision}` or `{local_path}`, for "openmmlab" also `{url, sha256, config}`,
        and for "onnx" `{url, sha256}` or `{local_path}` (see the class docstring)."""
        where = f"config: weights of {kind} {name!r}"
        source = _source_key(section, format, where)
        if source == "url" and format == "onnx":
            return cls._from_onnx_url(name, kind, section, where)
        if source == "url":
            return cls._from_url(name, kind, section, where)
        config = _file_name(section.get("config"), ".py", "config", where)
        checkpoint = _file_name(section.get("checkpoint"), ".pth", "checkpoint", where)
        revision = section.get("revision")
        if source == "local_path":
            if revision is not None:
                raise WeightsError(
                    f"{where} sets revision {revision!r} with local_path "
                    f"{section['local_path']!r}; a revision only applies to repo_id, remove it."
                )
            local_path = Path(str(section["local_path"])).expanduser()
            return cls(name, kind, None, None, local_path, format=format)
        repo_id = section["repo_id"]
        if not isinstance(repo_id, str) or repo_id.count("/") != 1:
            raise WeightsError(f"{where}: repo_id {repo_id!r} is not of the form <org>/<name>.")
        if not isinstance(revision, str) or not revision:
            raise WeightsError(
                f"{where}: repo_id {repo_id!r} needs a revision (found {revision!r}); pin a "
                "commit hash (or at least a branch or tag such as main)."
            )
        return cls(
            name, kind, repo_id, revision, None, format=format, config=config, checkpoint=checkpoint
        )

    @classmethod
    def _from_url(
        cls, name: str, kind: WeightsKind, section: Mapping[str, Any], where: str
    ) -> WeightsSpec:
        """The spec of an OpenMMLab checkpoint on a web server: an http(s) URL of a `.pth`
        file, its SHA-256 (prefix), agreeing with the prefix in the file name, and a config."""
        url, sha256, config = (section.get(key) for key in ("url", "sha256", "config"))
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise WeightsError(f"{where}: url {url!r} is not an http:// or https:// URL.")
        file_name = url_file_name(url)
        if not file_name.endswith(".pth"):
            raise WeightsError(
                f"{where}: url {url!r} does not name a .pth file (file name {file_name!r}); "
                "point it at the PyTorch checkpoint itself."
            )
        if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
            raise WeightsError(
                f"{where}: url needs sha256, the file's SHA-256 as 8 to 64 lower-case hex "
                f"digits (found {sha256!r}); `sha256sum <file>` prints it. Quote it in YAML "
                "(sha256: '04711811') so that a prefix of digits is not read as a number."
            )
        named = name_hash_prefix(file_name)
        if named is not None and not sha256.startswith(named):
            raise WeightsError(
                f"{where}: sha256 {sha256!r} contradicts the SHA-256 prefix {named!r} in the "
                f"file name {file_name!r} of the url; one of them is wrong: fix weights.sha256 "
                "or weights.url."
            )
        if not isinstance(config, str) or not _is_config_reference(config):
            raise WeightsError(
                f"{where}: url needs config, the model's MMEngine config (found {config!r}): "
                f"`<package>::<path>` with package {', '.join(CONFIG_SCOPES)} for a config "
                "shipped in the installed wheel (e.g. mmdet::faster_rcnn/"
                "faster-rcnn_r50_fpn_1x_coco.py), or the path of a .py file."
            )
        return cls(
            name, kind, None, None, None, format="openmmlab", url=url, sha256=sha256, config=config
        )

    @classmethod
    def _from_onnx_url(
        cls, name: str, kind: WeightsKind, section: Mapping[str, Any], where: str
    ) -> WeightsSpec:
        """The spec of an ONNX checkpoint on a web server: an http(s) URL of a `.zip` or a
        `.onnx`, and `sha256`, the file's full SHA-256 or (written out) null."""
        url = section.get("url")
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise WeightsError(f"{where}: url {url!r} is not an http:// or https:// URL.")
        file_name = url_file_name(url)
        if not file_name.endswith(ONNX_URL_SUFFIXES):
            raise WeightsError(
                f"{where}: url {url!r} names neither a .zip archive nor a .onnx file (file "
                f"name {file_name!r}); point it at OpenMMLab's ONNX archive (onnx_sdk/...zip) "
                "or at the .onnx model itself."
            )
        if "sha256" not in section:
            raise WeightsError(
                f"{where}: url needs sha256, the full SHA-256 of {file_name} (64 hex digits; "
                "`sha256sum <file>` prints it). If you have no pinned value yet, write "
                "`sha256: null` to accept the first download unchecked (trust on first use: "
                "its SHA-256 is then logged and recorded in weights.json, to be pinned)."
            )
        sha256 = section["sha256"]
        if sha256 is not None and (
            not isinstance(sha256, str) or not _FULL_SHA256.fullmatch(sha256)
        ):
            named = _ARCHIVE_NAME_HASH.search(file_name)
            hint = (
                f" The {named.group(1)!r} in the file name is a prefix of the SHA-256 of the "
                ".pth the model was exported from, not of the archive."
                if named is not None
                else ""
            )
            raise WeightsError(
                f"{where}: sha256 {sha256!r} is not the full SHA-256 of {file_name}: 64 "
                "lower-case hex digits (`sha256sum <file>` prints it; quote it in YAML), or "
                f"null to trust the first download.{hint}"
            )
        return cls(name, kind, None, None, None, format="onnx", url=url, sha256=sha256)

    @property
    def trust_on_first_use(self) -> bool:
        """True for an ONNX URL without a pinned SHA-256 (`sha256: null` in the config):
        the download is accepted unchecked, and its digest logged and recorded to be pinned."""
        return self.format == "onnx" and self.url is not None and self.sha256 is None

    @property
    def source(self) -> str:
        """`repo_id@revision`, the local path or the URL, for messages and tables."""
        if self.local_path is not None:
            return str(self.local_path)
        if self.url is not None:
            return self.url
        return f"{self.repo_id}@{self.revision}"

    def manifest_source(self) -> dict[str, str]:
        """The manifest's `source`: `{repo_id, revision}` (and `config`, `checkpoint` when
        given), `{local_path}` (absolute; and `config` when given), `{url, sha256, config}`
        (openmmlab) or `{url, sha256}` (onnx; `{url}` alone when trusted on first use)."""
        named = {
            key: value
            for key, value in (("config", self.config), ("checkpoint", self.checkpoint))
            if value is not None
        }
        if self.local_path is not None:
            return {"local_path": str(self.local_path.resolve()), **named}
        if self.url is not None and self.format == "onnx":
            return {"url": self.url} | ({} if self.sha256 is None else {"sha256": self.sha256})
        if self.url is not None:
            assert self.sha256 is not None and self.config is not None
            return {"url": self.url, "sha256": self.sha256, "config": self.config}
        assert self.repo_id is not None and self.revision is not None
        return {"repo_id": self.repo_id, "revision": self.revision, **named}


def _source_key(section: Mapping[str, Any], format: WeightsFormat, where: str) -> str:
    """The source key `section` sets (url, repo_id or local_path); raise WeightsError for
    unknown keys, none or several sources, and keys that do not apply to the source."""
    if format not in _KEYS:
        raise ValueError(f"unknown weights format {format!r} ({where})")
    unknown = sorted(set(section) - _KEYS[format])
    if unknown and format == "transformers" and set(unknown) <= _KEYS["openmmlab"]:
        raise WeightsError(
            f"{where} has keys {unknown}, which apply to OpenMMLab and ONNX checkpoints only "
            f"(backends {', '.join(sorted(OPENMMLAB_BACKENDS | ONNX_BACKENDS))}); this backend "
            "loads Transformers checkpoints: use repo_id and revision, or local_path."
        )
    if unknown:
        raise WeightsError(f"{where} has unknown keys {unknown}; expected {_EXPECTED[format]}.")
    sources = [key for key in _SOURCES if section.get(key) is not None]
    if format == "onnx" and (len(sources) != 1 or sources[0] == "repo_id"):
        raise WeightsError(
            f"{where} must set exactly one of url or local_path (found {dict(section)}). Use "
            "{url: <.zip or .onnx URL>, sha256: <64 hex digits, or null>} for a model on a "
            "web server, or {local_path: <folder holding one .onnx file>} for one on disk."
        )
    if format == "transformers" and len(sources) != 1:
        raise WeightsError(
            f"{where} must set exactly one of repo_id or local_path (found {dict(section)}). "
            "Use {repo_id: <org/name>, revision: <commit, branch or tag>} for a hub "
            "checkpoint, or {local_path: <folder>} for one on disk."
        )
    if len(sources) != 1:
        raise WeightsError(
            f"{where} must set exactly one of url, repo_id or local_path (found "
            f"{dict(section)}). Use {{url: <.pth URL>, sha256: <hex>, config: <mmpose::path "
            "or .py file>} for a checkpoint on a web server, {repo_id: <org/name>, "
            "revision: <commit, branch or tag>} for a hub checkpoint, or {local_path: "
            "<folder>} for one on disk."
        )
    source = sources[0]
    extra = sorted(set(section) - {source} - _SOURCE_KEYS[source])
    if format != "transformers" and extra:
        raise WeightsError(
            f"{where} sets {extra} with {source}, where "
            f"{'only ' + str(sorted(_SOURCE_KEYS[source])) if _SOURCE_KEYS[source] else 'none'} "
            "apply; remove them."
        )
    return source


def _is_config_reference(config: str) -> bool:
    """True for `<scope>::<path>` with a known scope, or a path ending in `.py`."""
    scope, separator, path = config.partition("::")
    if separator:
        return scope in CONFIG_SCOPES and path.endswith(".py")
    return config.endswith(".py")


def _file_name(value: Any, suffix: str, key: str, where: str) -> str | None:
    """The file name `value` of weights.`key` (None if unset); raise unless it ends with
    `suffix`."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.endswith(suffix):
        raise WeightsError(
            f"{where}: {key} {value!r} is not the name of a {suffix} file; name the "
            f"{'MMEngine config' if suffix == '.py' else 'PyTorch checkpoint'} file."
        )
    return value
