"""Shared HTTP behaviour for outside sources: timeouts, retries with backoff, readable errors.

httpx is imported here, lazily from the sources that need it, so the demo never pays for it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from sreconsole.sources.base import SourceError


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
        return str(exc)
    return f"{type(exc).__name__}: {exc}"[:200]


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
) -> Any:
    """GET and decode JSON, retrying connection errors, timeouts and 5xx with backoff.

    4xx answers and undecodable bodies are not retried: they will not get better.
    Raises :class:`SourceError` with a readable reason.
    """
    last: BaseException | None = None
    for attempt in range(retries + 1):
        try:
            response = await client.get(url, params=params)
            if response.status_code >= 500:
                raise httpx.HTTPStatusError("server error", request=response.request, response=response)
            if response.status_code >= 400:
                raise SourceError(f"HTTP {response.status_code} from {url}")
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
