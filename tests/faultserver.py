"""A fault injector, not a stand-in for any server: a tiny asyncio TCP server on 127.0.0.1
that misbehaves the way a broken network path, an overloaded proxy or a hostile endpoint
does, on demand. No real Alertmanager, Prometheus, Loki, Kubernetes API server or Ollama can
be made to do these things, so the tests that need them talk to this instead:

* ``trickle``: the status line and headers at once, then the body one byte every
  ``interval_s`` for ever (each read returns in time, so only a total deadline ends it);
* ``garbage``: random bytes that are not HTTP, then the connection is closed;
* ``close``: the connection is closed as soon as the request has been read;
* ``answer``: a well-formed HTTP answer (``status``, ``body``, ``content_type``).

``good`` answers the first N requests properly (with ``body``) before the fault starts, so a
source can be seen going from ok to stale to down. Every request's first line is recorded.
"""

from __future__ import annotations

import asyncio
import os
import threading


class FaultServer:
    def __init__(
        self,
        mode: str = "trickle",
        *,
        interval_s: float = 0.3,
        good: int = 0,
        body: bytes = b"[]",
        status: int = 200,
        content_type: str = "application/json",
    ) -> None:
        assert mode in ("trickle", "garbage", "close", "answer"), mode
        self.mode = mode
        self.interval_s = interval_s
        self.good = good
        self.body = body
        self.status = status
        self.content_type = content_type
        self.requests: list[str] = []
        """The request line of every request received, in order."""
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="fault server", daemon=True)
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FaultServer:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fault server did not start")
        return self

    def __exit__(self, *exc) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    # -- the server ----------------------------------------------------------------------

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
            for writer in list(self._writers):
                writer.close()
        server.close()

    async def _read_request(self, reader: asyncio.StreamReader) -> str:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip() or 0)
        if length:
            await reader.readexactly(length)
        return lines[0]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                try:
                    request = await self._read_request(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                self.requests.append(request)
                n = len(self.requests)
                if n <= self.good or self.mode == "answer":
                    await self._answer(writer)
                    continue
                await self._fault(writer)
                return
        except (ConnectionError, asyncio.CancelledError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _answer(self, writer: asyncio.StreamWriter) -> None:
        head = (
            f"HTTP/1.1 {self.status} {'OK' if self.status == 200 else 'Error'}\r\n"
            f"Content-Type: {self.content_type}\r\nContent-Length: {len(self.body)}\r\n\r\n"
        )
        writer.write(head.encode() + self.body)
        await writer.drain()

    async def _fault(self, writer: asyncio.StreamWriter) -> None:
        if self.mode == "close":
            return
        if self.mode == "garbage":
            writer.write(b"\x00\xff\x1b[2J" + os.urandom(512))
            await writer.drain()
            return
        # trickle: a promising start, then one byte at a time, never the end.
        writer.write(
            f"HTTP/1.1 200 OK\r\nContent-Type: {self.content_type}\r\nContent-Length: 10000000\r\n\r\n".encode()
        )
        await writer.drain()
        while not self._stop.is_set():
            writer.write(b" ")
            await writer.drain()
            await asyncio.sleep(self.interval_s)
