"""Reading PyTorch checkpoint files (`.pth`) that hold numpy objects, without running code.

Since PyTorch 2.6 `torch.load` defaults to `weights_only=True`, which refuses any object
outside an allow-list. OpenMMLab checkpoints keep numpy arrays and dtypes in their `meta`
(e.g. MMPose's `dataset_meta` with the keypoint sigmas), so they fail to load. Instead of
switching the safety off (`weights_only=False` runs arbitrary pickled code), `numpy_globals`
allows exactly the numpy constructors that rebuild arrays, dtypes and scalars, under their
numpy 2 names and the numpy 1 names older checkpoints were pickled with. Anything else is
still refused; `unsafe_globals` names what a refused file holds. `read_checkpoint` loads a
file for the readers of checkpoints (weights verification, the OpenMMLab backends) and says
in one exception, `CheckpointError`, why it could not: refused objects, or an incomplete file.
torch is imported by the functions that use it.
"""

from __future__ import annotations

import contextlib
import pickle
import re
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

# How a weights-only load of a legacy (non-zip) file names the global it refuses.
_REFUSED_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


class CheckpointError(Exception):
    """A checkpoint file could not be read. `refused` lists the objects a weights-only load
    refused (loading them could run code); when empty, the file is incomplete or corrupt and
    `reason` says how."""

    def __init__(self, path: Path, refused: list[str], reason: str) -> None:
        super().__init__(f"{path}: {', '.join(refused) or reason}")
        self.path = path
        self.refused = refused
        self.reason = reason


def _allowed() -> list[Any]:
    import numpy as np

    reconstruct = np._core.multiarray._reconstruct  # type: ignore[attr-defined]
    scalar = np._core.multiarray.scalar  # type: ignore[attr-defined]
    allowed: list[Any] = [
        reconstruct,
        (reconstruct, "numpy.core.multiarray._reconstruct"),
        scalar,
        (scalar, "numpy.core.multiarray.scalar"),
        np.ndarray,
        np.dtype,
    ]
    # The dtype classes (numpy >= 1.25 pickles dtypes as instances of these).
    allowed += [getattr(np.dtypes, name) for name in dir(np.dtypes) if name.endswith("DType")]
    return allowed


@contextlib.contextmanager
def numpy_globals() -> Iterator[None]:
    """Within the block, `torch.load(..., weights_only=True)` also accepts numpy arrays,
    dtypes and scalars."""
    import torch

    with torch.serialization.safe_globals(_allowed()):
        yield


def load_checkpoint(path: Path, *, mmap: bool = False) -> Any:
    """`torch.load` of `path` on the CPU with weights_only=True and the numpy objects allowed;
    `mmap` maps the tensors instead of reading them (for looking at shapes)."""
    import torch

    with numpy_globals():
        return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)


def unsafe_globals(path: Path) -> list[str]:
    """The globals in the checkpoint `path` that `load_checkpoint` refuses (names)."""
    import torch

    allowed = set()
    for item in _allowed():
        obj, name = item if isinstance(item, tuple) else (item, None)
        allowed.add(name or f"{obj.__module__}.{obj.__qualname__}")
    found = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    return [name for name in found if name not in allowed]


def read_checkpoint(path: Path) -> Any:
    """`load_checkpoint` of `path`, memory-mapped when it is a zip archive (PyTorch's legacy
    format, in which many official OpenMMLab checkpoints are, cannot be mapped); raise
    CheckpointError when it cannot be read."""
    try:
        return load_checkpoint(path, mmap=zipfile.is_zipfile(path))
    except pickle.UnpicklingError as error:
        refused = _refused_globals(path, error)
        if refused:
            raise CheckpointError(path, refused, str(error)) from error
        cause: Exception = error
    except (RuntimeError, EOFError, ValueError, OSError) as error:
        cause = error
    raise CheckpointError(path, [], " ".join(str(cause).split())[:200]) from cause


def state_dict_of(checkpoint: Any) -> Mapping[str, Any] | None:
    """The state dict of a loaded checkpoint: its `state_dict` entry, or the checkpoint
    itself; None when it is not a mapping."""
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, Mapping) else None
    return state if isinstance(state, Mapping) else None


def _refused_globals(path: Path, error: Exception) -> list[str]:
    """The globals of `path` that the weights-only load refused: from the archive (zip
    format), else from the error message (the legacy format names the first one)."""
    try:
        return unsafe_globals(path)
    except (ValueError, RuntimeError):
        return _REFUSED_GLOBAL.findall(str(error))
