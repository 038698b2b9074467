"""The HTTP plumbing of the Kubernetes API stand-ins (no API server can be installed here):
a loopback server that records every request — method, path, query, content type, JSON
body — and answers with whatever the subclass's ``respond(method, path)`` returns, in the
documented Kubernetes JSON shapes the tests build."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class RecordingServer:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.delay_s = 0.0
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def _handle(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                with stub._lock:
                    stub.requests.append({
                        "method": self.command,
                        "path": url.path,
                        "rawquery": url.query,
                        "query": {k: v[0] for k, v in parse_qs(url.query).items()},
                        "content_type": self.headers.get("Content-Type"),
                        "body": json.loads(raw) if raw else None,
                    })
                if stub.delay_s:
                    time.sleep(stub.delay_s)
                status, ctype, body = stub.respond(self.command, url.path)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def respond(self, method: str, path: str) -> tuple[int, str, object]:
        raise NotImplementedError

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
