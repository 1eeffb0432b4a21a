"""Where a model's weights come from (`WeightsSpec`), and the file names of a checkpoint."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

WeightsKind = Literal["pose", "detector"]

MANIFEST_NAME = "weights.json"
CHECKPOINT_DIR = "checkpoint"
CONFIG_FILE = "config.json"
PREPROCESSOR_FILE = "preprocessor_config.json"
# In order of preference: a checkpoint uses the first one present.
WEIGHTS_FILES: tuple[str, ...] = ("model.safetensors", "pytorch_model.bin")


def weights_file_in(folder: Path) -> str | None:
    """The name of the weights file of the checkpoint folder `folder`: the first of
    WEIGHTS_FILES that is a file there; None if there is none."""
    return next((name for name in WEIGHTS_FILES if (folder / name).is_file()), None)


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

    def manifest_source(self) -> dict[str, str]:
        """The manifest's `source`: `{repo_id, revision}` or `{local_path}` (absolute)."""
        if self.local_path is not None:
            return {"local_path": str(self.local_path.resolve())}
        assert self.repo_id is not None and self.revision is not None
        return {"repo_id": self.repo_id, "revision": self.revision}
