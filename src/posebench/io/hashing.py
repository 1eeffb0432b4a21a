"""Content hashes of files (SHA-256), shared by downloads, weight manifests and the
synthetic generator's provenance records."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import IO


def sha256_of_stream(handle: IO[bytes], chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of what is left to read in a binary stream, read in chunks."""
    digest = hashlib.sha256()
    while chunk := handle.read(chunk_bytes):
        digest.update(chunk)
    return digest.hexdigest()


def sha256_of(path: Path | str, chunk_bytes: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    with Path(path).open("rb") as handle:
        return sha256_of_stream(handle, chunk_bytes)
