"""Content hashes of files (SHA-256), shared by downloads, weight manifests and the
synthetic generator's provenance records."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_of(path: Path | str, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
    return digest.hexdigest()
