"""A local HTTP server of in-memory files for the download tests (no real host is contacted).

`serve_files(prefix)` runs it in a thread for the duration of a `with` block and yields its
`FileServer`: put bytes in `files` under a name, fetch `url(name)`. Range requests
(`bytes=N-`) are answered with 206 and the rest of the file, or 416 past its end; with
`ranges` False the whole file comes back with 200, as from a server without Range support.
`requests` records (path, Range header) of each request.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FileServer:
    """The files served under `prefix` and what was asked for (module docstring)."""

    port: int
    prefix: str = ""
    files: dict[str, bytes] = field(default_factory=dict)
    ranges: bool = True
    requests: list[tuple[str, str | None]] = field(default_factory=list)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{self.prefix}{name}"


@contextmanager
def serve_files(prefix: str = "") -> Iterator[FileServer]:
    """A running `FileServer` whose URLs are `http://127.0.0.1:<port>/<prefix><name>`."""
    state = FileServer(port=0, prefix=prefix)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            requested = self.headers.get("Range")
            state.requests.append((self.path, requested))
            name = self.path.removeprefix("/")
            data = state.files.get(name.removeprefix(prefix)) if name.startswith(prefix) else None
            if data is None:
                self.send_error(404)
                return
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", requested or "")
            if match and state.ranges:
                start = int(match.group(1))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            self.send_header("Content-Length", str(len(data) - start))
            self.end_headers()
            self.wfile.write(data[start:])

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()
