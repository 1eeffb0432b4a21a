"""Safe names: what may become a folder or file name under results/, logs/ and resources/.

Names of datasets, models, detectors and camera setups (from the config) and of subjects,
sessions, trials and cameras (found by dataset adapters) become path components, so they
are restricted to letters, digits, `.`, `_` and `-`, not starting with `.`: no `/`, no
`..`, no spaces, no hidden files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
RULE = "letters, digits, '.', '_' and '-', not starting with '.'"


def is_safe_name(name: object) -> bool:
    """True when `name` is a string usable as one path component."""
    return isinstance(name, str) and SAFE_NAME.fullmatch(name) is not None


def unsafe_names(names: Iterable[object]) -> list[str]:
    """The names of `names` that are not safe, sorted, as text."""
    return sorted({str(name) for name in names if not is_safe_name(name)})
