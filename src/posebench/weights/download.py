"""HTTP(S) downloads of single checkpoint files, checked against their SHA-256.

`download_file(url, target, sha256=...)` streams the file to `<target>.part`, computing its
SHA-256 on the way, and renames it onto `target` once the digest starts with `sha256` (the
full digest or a prefix of at least 8 hex digits, as in OpenMMLab's file names). A `.part`
left by an interrupted download is resumed with an HTTP `Range` request; when the server
answers with the whole file instead (200), the download starts over. A digest that does
not match deletes the `.part`. `sha256=None` ("trust on first use", for ONNX models whose
digest is not pinned yet) accepts any digest and logs it as a warning, with the line to pin
it in the config.

A file already at `target` with the right digest is accepted without network access: that
is how a file downloaded by hand (the `curl` command in the error messages) is used.
Network access is forbidden by `POSEBENCH_OFFLINE=1` or `HF_HUB_OFFLINE=1`; then, or when
the server cannot be reached within `DOWNLOAD_TIMEOUT_S` (`POSEBENCH_DOWNLOAD_TIMEOUT`
overrides it), fetching fails at once with the commands that download the file by hand.
urllib.request (and with it http.client and ssl) is imported by the functions that use it:
the scripts that only read manifests do not load it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shlex
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from posebench.io.hashing import sha256_of
from posebench.weights.spec import WeightsError, name_hash_prefix

if TYPE_CHECKING:
    import urllib.request

log = logging.getLogger(__name__)

# Seconds to wait for a connection (and TLS handshake) to the server before deciding it
# is unreachable; POSEBENCH_DOWNLOAD_TIMEOUT overrides it.
DOWNLOAD_TIMEOUT_S = 5.0
TIMEOUT_VARIABLE = "POSEBENCH_DOWNLOAD_TIMEOUT"
# Seconds a connected server may stay silent (waiting for the answer, or mid-transfer).
READ_TIMEOUT_S = 60.0
OFFLINE_VARIABLES = ("POSEBENCH_OFFLINE", "HF_HUB_OFFLINE")
PROGRESS_INTERVAL_S = 5.0
CHUNK_BYTES = 1 << 20
PART_SUFFIX = ".part"
FULL_DIGEST_LENGTH = 64
_TRUE_VALUES = {"1", "ON", "YES", "TRUE"}
_CONTENT_RANGE = re.compile(r"bytes (\d+)-\d+/(\d+|\*)")


def network_forbidden() -> str | None:
    """The environment variable that forbids network access (set to 1), if any."""
    return next(
        (name for name in OFFLINE_VARIABLES if os.environ.get(name, "").upper() in _TRUE_VALUES),
        None,
    )


def download_timeout() -> float:
    """The connect timeout in seconds: POSEBENCH_DOWNLOAD_TIMEOUT, else DOWNLOAD_TIMEOUT_S."""
    value = os.environ.get(TIMEOUT_VARIABLE)
    if not value:
        return DOWNLOAD_TIMEOUT_S
    try:
        timeout = float(value)
    except ValueError:
        timeout = 0.0
    if timeout <= 0:
        raise WeightsError(
            f"{TIMEOUT_VARIABLE}={value!r} is not a positive number of seconds; fix or unset it."
        )
    return timeout


def manual_commands(url: str, target: Path) -> str:
    """The shell commands that download `url` to `target` by hand (resuming) and print its
    SHA-256, indented for an error message."""
    path = shlex.quote(str(target))
    return f"  curl -L -C - -o {path} {shlex.quote(url)}\n  sha256sum {path}"


def part_file(target: Path) -> Path:
    """Where the download of `target` is written until its digest is checked."""
    return target.with_name(target.name + PART_SUFFIX)


def download_file(
    url: str, target: Path, *, sha256: str | None, what: str, alternative: str = ""
) -> str:
    """Make `target` the file at `url`, whose SHA-256 starts with `sha256` (and with the
    prefix in the file name of `target`, when it carries one); return its SHA-256. See the
    module docstring (and for `sha256=None`, trust on first use).

    `what` names the model in messages; `alternative` (a sentence) is added to the messages
    that say how to get the file by hand. Raises WeightsError, with the manual commands,
    when the file cannot be downloaded or its digest does not match.
    """
    expected = _expected_prefixes(sha256, target.name)
    forbidden = network_forbidden()
    if target.is_file():
        digest = sha256_of(target)
        if sha256 is None:
            _trusted(what, target, digest)
            return digest
        if _matches(digest, expected):
            log.info("%s is in place with the expected SHA-256 (%s...)", target, sha256)
            return digest
        mismatch = f"{target} has SHA-256 {digest}, which does not start with {_describe(expected)}"
        if forbidden is not None:
            raise WeightsError(
                f"{what}: {mismatch}. {forbidden} is set, so it cannot be downloaded again: "
                f"delete it and download it on a machine with internet access:\n"
                f"{manual_commands(url, target)}\nthen copy it here and re-run "
                f"fetch_weights.{alternative}"
            )
        log.warning("%s; downloading it again", mismatch)
        target.unlink()
    if forbidden is not None:
        if sha256 is None:
            check = "check its SHA-256 against a trusted source (weights.sha256 is null)"
            kept = "a file in place is used without network access"
        else:
            relation = "is" if len(sha256) == FULL_DIGEST_LENGTH else "starts with"
            check = f"check that the SHA-256 {relation} {sha256}"
            kept = "a file in place with the right SHA-256 is used without network access"
        raise WeightsError(
            f"{what}: {target} is not there and {forbidden} is set, which forbids network "
            f"access. On a machine with internet access run\n{manual_commands(url, target)}\n"
            f"{check}, copy the file to {target} on this machine and re-run fetch_weights "
            f"({kept}).{alternative}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    part = part_file(target)
    digest, resumed = _transfer(url, part, what, target, alternative)
    if sha256 is None:
        _trusted(what, target, digest)
    elif not _matches(digest, expected) and resumed:
        log.warning(
            "The resumed download of %s has SHA-256 %s, not %s; the partial file was stale: "
            "downloading it from the start",
            url,
            digest,
            _describe(expected),
        )
        part.unlink()
        digest, resumed = _transfer(url, part, what, target, alternative)
    if not _matches(digest, expected):
        part.unlink()
        raise WeightsError(
            f"{what}: the file downloaded from {url} has SHA-256 {digest}, which does not "
            f"start with {_describe(expected)}; {part} was deleted. The server holds another "
            "file than the config expects: check weights.url and weights.sha256."
        )
    with part.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(part, target)
    log.info("Downloaded %s to %s (SHA-256 %s)", url, target, digest)
    return digest


def _trusted(what: str, target: Path, digest: str) -> None:
    """Log, loudly, that `target` was accepted without a pinned SHA-256."""
    log.warning(
        "%s: weights.sha256 is null, so %s (SHA-256 %s) is trusted on first use, unchecked. "
        "Check that digest against a trusted source, then pin it in the config: "
        '`sha256: "%s"`.',
        what,
        target,
        digest,
        digest,
    )


def _expected_prefixes(sha256: str | None, file_name: str) -> dict[str, str]:
    """{where it comes from: SHA-256 prefix} that the digest must start with (nothing for
    `sha256=None`, trust on first use)."""
    if sha256 is None:
        return {}
    expected = {"weights.sha256": sha256}
    named = name_hash_prefix(file_name)
    if named is not None:
        expected[f"the file name {file_name}"] = named
    return expected


def _matches(digest: str, expected: dict[str, str]) -> bool:
    return all(digest.startswith(prefix) for prefix in expected.values())


def _describe(expected: dict[str, str]) -> str:
    return " and ".join(f"{prefix} ({source})" for source, prefix in expected.items())


def _hash_of(path: Path) -> Any:
    """A hashlib SHA-256 object fed with the content of `path`, to continue."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest


def _transfer(
    url: str, part: Path, what: str, target: Path, alternative: str = ""
) -> tuple[str, bool]:
    """Download `url` into `part`, resuming it when it exists; return the SHA-256 of the
    whole file and whether an existing `part` was resumed. `alternative` ends the messages
    of a server that cannot be reached or refuses the file."""
    import http.client
    import urllib.request
    from urllib.error import HTTPError, URLError

    offset = part.stat().st_size if part.is_file() else 0
    headers = {"User-Agent": "posebench", "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = _opener().open(request, timeout=download_timeout())
    except HTTPError as error:
        error.close()
        if error.code == 416 and offset:
            # Range not satisfiable: the partial file already holds the whole file (or
            # more); its digest decides.
            return sha256_of(part), True
        raise WeightsError(
            f"{what}: the server answered {error.code} ({error.reason}) for {url}. Fix "
            f"weights.url in the config, or download the file by hand:\n"
            f"{manual_commands(url, target)}\nthen re-run fetch_weights.{alternative}"
        ) from error
    except (URLError, OSError, http.client.HTTPException) as error:
        reason = getattr(error, "reason", error)
        raise WeightsError(
            f"{what}: {url} is unreachable ({reason}). On a machine with internet access "
            f"run\n{manual_commands(url, target)}\ncopy the file to {target} on this machine "
            f"and re-run fetch_weights.{alternative}"
        ) from error
    with response:
        resumed = offset > 0 and response.status == 206
        if resumed:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
            if match is None or int(match.group(1)) != offset:
                raise WeightsError(
                    f"{what}: {url} answered the request to resume at byte {offset} with "
                    f"Content-Range {response.headers.get('Content-Range')!r}; delete {part} "
                    "and re-run fetch_weights."
                )
            log.info("Resuming the download of %s at byte %d", url, offset)
        elif offset:
            log.info("%s does not resume downloads; starting %s from the beginning", url, part)
        digest = _hash_of(part) if resumed else hashlib.sha256()
        start = offset if resumed else 0
        length = response.headers.get("Content-Length")
        total = start + int(length) if length is not None else None
        received = _stream(response, part, digest, start, total, url, what, target)
    if total is not None and received != total:
        raise WeightsError(
            f"{what}: the download of {url} stopped after {received} of {total} bytes; "
            f"{part} is kept: re-run fetch_weights to resume, or download by hand:\n"
            f"{manual_commands(url, target)}"
        )
    return digest.hexdigest(), resumed


def _stream(
    response: Any,
    part: Path,
    digest: Any,
    start: int,
    total: int | None,
    url: str,
    what: str,
    target: Path,
) -> int:
    """Append the body of `response` to `part` (truncated first unless `start`), feeding
    `digest`; log the progress; return the size of `part`."""
    import http.client

    received = start
    began = last = time.monotonic()
    size = f"{total / 1e6:.1f} MB" if total is not None else "? MB"
    with part.open("ab" if start else "wb") as handle:
        try:
            while chunk := response.read(CHUNK_BYTES):
                handle.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                now = time.monotonic()
                if now - last >= PROGRESS_INTERVAL_S:
                    last = now
                    rate = (received - start) / 1e6 / (now - began)
                    log.info("%s: %.1f of %s (%.1f MB/s)", part.name, received / 1e6, size, rate)
        except (OSError, http.client.HTTPException) as error:
            raise WeightsError(
                f"{what}: the download of {url} was interrupted after {received} bytes "
                f"({error}); {part} is kept: re-run fetch_weights to resume, or download by "
                f"hand:\n{manual_commands(url, target)}"
            ) from error
    return received


def _opener() -> urllib.request.OpenerDirector:
    """urllib's opener (proxies from the environment, redirects) whose connections are
    made within the request's (short) timeout and then read with READ_TIMEOUT_S."""
    import http.client
    import ssl
    import urllib.request

    class Connection(http.client.HTTPConnection):
        def connect(self) -> None:
            super().connect()
            assert self.sock is not None
            self.sock.settimeout(READ_TIMEOUT_S)

    class SecureConnection(http.client.HTTPSConnection):
        # The TLS handshake happens within `connect`, so within the short timeout.
        def connect(self) -> None:
            super().connect()
            assert self.sock is not None
            self.sock.settimeout(READ_TIMEOUT_S)

    class Handler(urllib.request.HTTPHandler):
        def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(Connection, req)

    context = ssl.create_default_context()

    class SecureHandler(urllib.request.HTTPSHandler):
        def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
            return self.do_open(SecureConnection, req, context=context)

    return urllib.request.build_opener(Handler(), SecureHandler(context=context))
