"""The pose backends by name: the module of each, imported only when a model needs it.

A backend module defines `create(model_name, marker_set, options, weights_dir)`, returning a
`posebench.backends.base.PoseBackend`. Naming the modules here, instead of letting each
module register itself, lists the backends without importing their frameworks and keeps the
import graph free of cycles. A new backend is one line of `BACKENDS`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from posebench.backends.base import BackendError, PoseBackend

BACKENDS: dict[str, str] = {
    "mediapipe": "posebench.backends.mediapipe_blazepose",
    "mmpose": "posebench.backends.mmpose_topdown",
    "oracle": "posebench.backends.oracle",
    "rtmpose": "posebench.backends.rtmpose",
    "vitpose": "posebench.backends.vitpose",
}
"""Backend name (config `models.<name>.backend`) -> module defining `create`."""

JOB_THREADS_BACKENDS = frozenset({"rtmpose"})
"""Backends with a `threads` option (ONNX Runtime's intra-op threads) that defaults to the
pose2d job's threads (`models.<name>.threads`, what the job reserves): `job_options`."""

# (model name, marker set, backend options, folder of the model's weights or None)
BackendFactory = Callable[[str, str, Mapping[str, Any], Path | None], PoseBackend]


def job_options(backend: str, options: Mapping[str, Any], threads: int) -> dict[str, Any]:
    """The model's `options` with, for the backends of JOB_THREADS_BACKENDS, `threads`
    defaulting to the job's `threads` (an explicit option wins)."""
    if backend in JOB_THREADS_BACKENDS:
        return {"threads": threads, **options}
    return dict(options)


def available_backends() -> list[str]:
    """The backend names, sorted."""
    return sorted(BACKENDS)


def create_backend(
    kind: str,
    model_name: str,
    marker_set: str,
    options: Mapping[str, Any],
    weights_dir: Path | None = None,
) -> PoseBackend:
    """Instantiate the backend `kind` for the configured model `model_name`."""
    if kind not in BACKENDS:
        raise BackendError(
            f"Unknown pose backend {kind!r} for model {model_name!r}; "
            f"available: {', '.join(available_backends())}."
        )
    factory: BackendFactory = importlib.import_module(BACKENDS[kind]).create
    return factory(model_name, marker_set, options, weights_dir)
