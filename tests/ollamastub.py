"""A stand-in for Ollama: no Ollama server can run here, so tests talk to this local HTTP
server, which speaks Ollama's documented chat API.

``POST /api/chat`` with ``"stream": true`` answers ``application/x-ndjson``: one JSON
object per line, ``{"model", "created_at", "message": {"role": "assistant", "content"},
"done": false}`` per chunk, then one with ``"done": true`` and a ``done_reason``
(https://github.com/ollama/ollama/blob/main/docs/api.md#generate-a-chat-completion).
Every request is recorded with the time it arrived; a test may hold the stream after the
first chunk (``gate``) to look at the screen mid-answer.
"""

from __future__ import annotations

import http.server
import json
import threading
import time


class OllamaStub:
    def __init__(self, chunks: list[str], gate: threading.Event | None = None, status: int = 200) -> None:
        self.chunks = list(chunks)
        self.gate = gate
        """When set, the stream pauses after the first chunk until the event is set."""
        self.status = status
        self.requests: list[tuple[str, dict, float]] = []
        """(path, JSON body, time.perf_counter() on arrival)."""
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                arrived = time.perf_counter()
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                stub.requests.append((self.path, json.loads(body or b"{}"), arrived))
                if self.path != "/api/chat" or stub.status != 200:
                    payload = json.dumps({"error": "model 'x' not found" if stub.status == 404 else "stub error"}).encode()
                    self.send_response(404 if self.path != "/api/chat" else stub.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-ndjson")
                self.end_headers()
                for i, chunk in enumerate(stub.chunks):
                    line = {"model": "stub", "created_at": "2026-12-01T18:00:00Z",
                            "message": {"role": "assistant", "content": chunk}, "done": False}
                    self.wfile.write((json.dumps(line) + "\n").encode())
                    self.wfile.flush()
                    if i == 0 and stub.gate is not None:
                        stub.gate.wait(30)
                done = {"model": "stub", "created_at": "2026-12-01T18:00:01Z", "message": {"role": "assistant", "content": ""},
                        "done": True, "done_reason": "stop", "eval_count": len(stub.chunks)}
                self.wfile.write((json.dumps(done) + "\n").encode())

            def log_message(self, *args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> OllamaStub:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.gate is not None:
            self.gate.set()
        self.server.shutdown()
        self.server.server_close()
