"""Liveness checks of configured outside sources, for the header and ``sreconsole doctor``.

Each source kind is asked at its documented health endpoint; any answer other than a
2xx is reported with the reason. Only the sources the operator configured are probed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

import httpx

from sreconsole.domain.health import SourceHealth, after_failure, after_success
from sreconsole.sources.http import describe_error, within

# Where each kind answers "I am alive" without side effects.
HEALTH_PATHS = {
    "alertmanager": "/-/healthy",
    "prometheus": "/-/healthy",
    "loki": "/ready",
    "tempo": "/ready",
    "ollama": "/api/version",
    "mlflow": "/health",
    "s3": "/",  # any HTTP answer (even 403) proves an S3 endpoint is there
}


@dataclass
class HttpProbe:
    name: str
    url: str
    timeout_s: float = 3.0
    stale_after_s: float = 30.0
    any_status_ok: bool = False
    last: SourceHealth | None = None

    def endpoint(self) -> str:
        base = self.url if "://" in self.url else f"http://{self.url}"
        return base.rstrip("/") + HEALTH_PATHS.get(self.name.split()[0], "/")

    async def check(self, clock: Callable[[], datetime]) -> SourceHealth:
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                response = await within(client.get(self.endpoint()), self.timeout_s)
            if response.status_code >= 400 and not self.any_status_ok:
                raise httpx.HTTPStatusError("bad status", request=response.request, response=response)
            self.last = after_success(self.name, clock(), self.stale_after_s)
        except (httpx.HTTPError, OSError) as exc:
            self.last = after_failure(self.last, self.name, clock(), describe_error(exc), self.stale_after_s)
        return self.last


def probes_for(sources: dict[str, str], timeout_s: float = 3.0, stale_after_s: float = 30.0) -> list[HttpProbe]:
    """HTTP probes for configured sources; kubernetes and file-based mlflow are not HTTP."""
    out = []
    for name, url in sources.items():
        kind = name.split()[0]  # "prometheus prod-eu": a cluster's source is asked as its kind
        if kind not in HEALTH_PATHS:
            continue
        if kind == "mlflow" and not url.startswith(("http://", "https://")):
            continue
        out.append(HttpProbe(name, url, timeout_s, stale_after_s, any_status_ok=(kind == "s3")))
    return out


async def check_all(probes: list[HttpProbe], clock: Callable[[], datetime] | None = None) -> list[SourceHealth]:
    now = clock or (lambda: datetime.now(timezone.utc))
    return list(await asyncio.gather(*(p.check(now) for p in probes)))

