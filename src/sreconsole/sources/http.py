"""Shared HTTP behaviour for outside sources: deadlines, retries with backoff, readable errors.

**Every call has a total deadline.** httpx's timeouts are per operation (connect, each
read): a server that sends one byte every two seconds never trips a 5 s read timeout and
holds a call for as long as it likes. So each call is also bounded as a whole with
:func:`within` (``asyncio.wait_for``): connecting, sending and reading the whole answer
must fit in the source's ``timeout_s``, or the call fails as "timed out" and the source's
health says so. With retries, a call lasts at most ``(retries + 1) * timeout_s`` plus the
backoff.

httpx is imported here, lazily from the sources that need it, so the demo never pays for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any, TypeVar

import httpx
import orjson

from sreconsole.domain.text import clean, redact_url
from sreconsole.sources.base import SourceError, TracksHealth

T = TypeVar("T")


class DeadlineExceeded(httpx.TimeoutException):
    """The whole call (connect, send, every byte of the answer) did not fit its deadline."""


async def within(awaitable, seconds: float):
    """``await awaitable``, or :class:`DeadlineExceeded` once ``seconds`` have passed (the
    request is cancelled and its connection closed)."""
    try:
        return await asyncio.wait_for(awaitable, seconds)
    except (asyncio.TimeoutError, TimeoutError):
        raise DeadlineExceeded(f"no complete answer within {seconds:g} s") from None


def describe_error(exc: BaseException) -> str:
    """One short line an operator can act on, never a traceback."""
    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError):
        cause: BaseException | None = exc
        while cause is not None:  # httpx wraps the socket error; its errno is the useful part
            if isinstance(cause, ConnectionRefusedError):
                return "connection refused"
            cause = cause.__cause__ or cause.__context__
        text = str(exc).lower()
        if "refused" in text:
            return "connection refused"
        if "name or service" in text or "nodename" in text or "resolve" in text:
            return "host not found"
        return "cannot connect"
    if isinstance(exc, httpx.HTTPStatusError):
        return f"HTTP {exc.response.status_code}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "connection closed mid-response"
    if isinstance(exc, httpx.HTTPError):
        return type(exc).__name__
    if isinstance(exc, SourceError):
        return redact_url(exc)
    return redact_url(f"{type(exc).__name__}: {exc}")[:200]


def auth_headers(bearer_token: str = "", tenant: str = "") -> dict[str, str]:
    headers = {"User-Agent": "sreconsole"}
    if bearer_token:
        headers["Authorization"] = f"Bearer {bearer_token}"
    if tenant:
        headers["X-Scope-OrgID"] = tenant
    return headers


async def get_json(
    client: httpx.AsyncClient,
    url: str,
    *,
    params: Mapping[str, Any] | None = None,
    retries: int = 2,
    backoff_s: float = 0.2,
    deadline_s: float | None = None,
    error_body: bool = False,
) -> Any:
    """GET and decode JSON, retrying connection errors, timeouts and 5xx with backoff.

    Each attempt must be over within ``deadline_s`` (default: the client's read timeout),
    however the server dribbles its answer. 4xx answers and undecodable bodies are not
    retried: they will not get better. Raises :class:`SourceError` with a readable reason.
    ``error_body``: a 4xx reason also carries the start of the body, cleaned, for servers
    whose 400 says what was wrong with the query (Tempo: "invalid TraceQL query: …").
    """
    if deadline_s is None:
        deadline_s = client.timeout.read or 5.0
    last: BaseException | None = None
    for attempt in range(max(retries, 0) + 1):
        try:
            response = await within(client.get(url, params=params), deadline_s)
            if response.status_code >= 500:
                raise httpx.HTTPStatusError("server error", request=response.request, response=response)
            if response.status_code >= 400:
                said = f": {clean(response.content[:400], 200).strip()}" if error_body and response.content.strip() else ""
                raise SourceError(redact_url(f"HTTP {response.status_code} from {url}{said}"))
            try:
                return orjson.loads(response.content)
            except ValueError:
                ctype = response.headers.get("content-type", "?").split(";")[0]
                raise SourceError(f"not JSON ({ctype}, {len(response.content)} bytes)") from None
        except SourceError:
            raise
        except (httpx.TransportError, httpx.HTTPStatusError) as exc:
            last = exc
            if attempt < retries:
                await asyncio.sleep(backoff_s * (2**attempt))
    raise SourceError(describe_error(last) if last else "failed")


class JsonApiSource(TracksHealth):
    """A JSON-over-HTTP source (Alertmanager, Loki, Tempo): one client with the source's auth
    headers, every call under the total deadline, health kept from each call's outcome.

    Subclasses set ``name`` and call :meth:`_fetch`; ``error_body`` says whether a 4xx
    reason carries what the server said (see :func:`get_json`)."""

    error_body = False

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        retries: int = 2,
        tenant: str = "",
        bearer_token: str = "",
        username: str = "",
        password: str = "",
        stale_after_s: float = 30.0,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        """The total deadline of one request, retries included (see :func:`get_json`)."""
        self.retries = retries
        self.stale_after_s = stale_after_s
        self.clock = clock
        auth = httpx.BasicAuth(username, password) if username else None
        self._client = httpx.AsyncClient(timeout=timeout_s, headers=auth_headers(bearer_token, tenant), auth=auth, transport=transport)

    async def _fetch(self, path: str, params: Any, parse: Callable[[Any], T]) -> T:
        """GET ``path``, decode it with ``parse``; a failure of either marks the source
        down with its reason and is raised as :class:`SourceError`."""
        try:
            payload = await get_json(self._client, f"{self.url}{path}", params=params, retries=self.retries, deadline_s=self.timeout_s, error_body=self.error_body)
            result = parse(payload)
        except SourceError as exc:
            self._failed(str(exc))
            raise
        self._answered()
        return result

    async def aclose(self) -> None:
        await self._client.aclose()
