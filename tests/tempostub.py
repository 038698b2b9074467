"""A stand-in for Tempo's query frontend: no Tempo binary is packaged for the test machines,
so tests talk to this local HTTP server, which serves recorded answers in the formats
Tempo documents (``tests/data/tempo/README.md``):

* ``GET /ready`` → ``ready`` (the readiness probe);
* ``GET /api/search`` → ``search.json``, or the ``search_status`` / ``search_body`` a test
  sets (a 400 with Tempo's plain-text reason, a 500);
* ``GET /api/traces/<id>`` → ``trace_<id>.json`` when recorded, else Tempo's 404 body.

``delay_s`` holds every API answer that long (a slow Tempo); the wait ends early when the
stub is closed. Every request's path and query are recorded. Also runnable on its own to
drive the TUI by hand: ``python tests/tempostub.py PORT``.
"""

from __future__ import annotations

import http.server
import json
import sys
import threading
import urllib.parse
from pathlib import Path

DATA = Path(__file__).parent / "data" / "tempo"


class TempoStub:
    def __init__(self, *, search_body: bytes | None = None, search_status: int = 200, traces: dict[str, bytes] | None = None,
                 delay_s: float = 0.0, port: int = 0) -> None:
        self.search_body = (DATA / "search.json").read_bytes() if search_body is None else search_body
        self.search_status = search_status
        self.traces = {p.stem.removeprefix("trace_"): p.read_bytes() for p in DATA.glob("trace_*.json")} if traces is None else traces
        self.delay_s = delay_s
        self.requests: list[tuple[str, dict[str, str]]] = []
        """(path, query parameters) of every request, in order."""
        self._closing = threading.Event()
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                url = urllib.parse.urlsplit(self.path)
                stub.requests.append((url.path, dict(urllib.parse.parse_qsl(url.query))))
                if url.path == "/ready":
                    return self._send(200, b"ready\n", "text/plain")
                if stub.delay_s:
                    stub._closing.wait(stub.delay_s)
                if url.path == "/api/search":
                    ctype = "application/json" if stub.search_status == 200 else "text/plain; charset=utf-8"
                    return self._send(stub.search_status, stub.search_body, ctype)
                if url.path.startswith("/api/traces/"):
                    body = stub.traces.get(url.path.removeprefix("/api/traces/"))
                    if body is None:
                        return self._send(404, b"trace not found\n", "text/plain; charset=utf-8")
                    return self._send(200, body, "application/json")
                return self._send(404, b"404 page not found\n", "text/plain; charset=utf-8")

            def _send(self, status: int, body: bytes, ctype: str) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (its deadline)
                    pass

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="tempo stub", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> TempoStub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._closing.set()
        self.server.shutdown()
        self.server.server_close()

    def searches(self) -> list[dict[str, str]]:
        return [q for path, q in self.requests if path == "/api/search"]


if __name__ == "__main__":
    with TempoStub(port=int(sys.argv[1]) if len(sys.argv) > 1 else 3200) as stub:
        print(json.dumps({"url": stub.url}), flush=True)
        threading.Event().wait()
