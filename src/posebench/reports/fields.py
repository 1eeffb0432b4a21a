"""Checking the JSON content of a report before its fields are read."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def require_keys(content: object, keys: Iterable[str], where: str) -> Mapping[str, Any]:
    """`content` as a mapping, or ValueError naming `where` (e.g. "the IK report") and the
    keys of `keys` it lacks."""
    if not isinstance(content, Mapping):
        raise ValueError(f"{where} is a JSON {type(content).__name__}, expected an object")
    missing = sorted(set(keys) - set(content))
    if missing:
        raise ValueError(f"{where} lacks {', '.join(missing)}")
    return content
