"""Reading PyTorch checkpoint files (`.pth`) that hold numpy objects, without running code.

Since PyTorch 2.6 `torch.load` defaults to `weights_only=True`, which refuses any object
outside an allow-list. OpenMMLab checkpoints keep numpy arrays and dtypes in their `meta`
(e.g. MMPose's `dataset_meta` with the keypoint sigmas), so they fail to load. Instead of
switching the safety off (`weights_only=False` runs arbitrary pickled code), `numpy_globals`
allows exactly the numpy constructors that rebuild arrays, dtypes and scalars, under their
numpy 2 names and the numpy 1 names older checkpoints were pickled with. Anything else is
still refused; `unsafe_globals` names what a refused file holds, for the error message.
torch is imported by the functions that use it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any


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
