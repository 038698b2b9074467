"""Prometheus HTTP API through ``prometheus-api-client``: rules, range and instant queries.

The client is synchronous (requests); every call runs in a thread so a slow Prometheus
never blocks the UI's event loop. Rules are cached for a minute: they change with deploys,
not with polls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timezone

import requests
from prometheus_api_client import PrometheusConnect
from urllib3.util.retry import Retry

from sreconsole.domain.alerts import Alert
from sreconsole.domain.evidence import AlertRule
from sreconsole.domain.text import to_str
from sreconsole.sources.base import SourceError, TracksHealth

RULES_TTL_S = 60.0


def _reason(exc: BaseException) -> str:
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "connection refused" if "refused" in str(exc).lower() else "cannot connect"
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


class PrometheusSource(TracksHealth):
    name = "prometheus"

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        retries: int = 2,
        bearer_token: str = "",
        stale_after_s: float = 30.0,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.stale_after_s = stale_after_s
        self.clock = clock
        self._session = requests.Session()
        headers = {"Authorization": f"Bearer {bearer_token}"} if bearer_token else None
        retry = Retry(total=retries, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504), allowed_methods=("GET", "POST"))
        self._prom = PrometheusConnect(url=self.url, headers=headers, session=self._session, timeout=timeout_s, retry=retry)
        self._rules: tuple[float, list[AlertRule]] | None = None

    async def _call(self, fn, *args, **kwargs):
        try:
            result = await asyncio.to_thread(fn, *args, **kwargs)
        except Exception as exc:  # requests and the client raise many types; all become one line
            reason = _reason(exc)
            self._failed(reason)
            raise SourceError(reason) from None
        self._answered()
        return result

    def _get_rules(self) -> list[AlertRule]:
        response = self._session.get(f"{self.url}/api/v1/rules", params={"type": "alert"}, timeout=self.timeout_s)
        response.raise_for_status()
        payload = response.json()
        rules = []
        for group in (payload.get("data") or {}).get("groups") or []:
            for rule in group.get("rules") or []:
                if rule.get("type") != "alerting":
                    continue
                rules.append(
                    AlertRule(
                        name=to_str(rule.get("name")),
                        expr=to_str(rule.get("query")),
                        group=to_str(group.get("name")),
                        duration_s=float(rule.get("duration") or 0),
                        labels={to_str(k): to_str(v) for k, v in (rule.get("labels") or {}).items()},
                        annotations={to_str(k): to_str(v) for k, v in (rule.get("annotations") or {}).items()},
                    )
                )
        return rules

    async def rules(self) -> list[AlertRule]:
        if self._rules and time.monotonic() - self._rules[0] < RULES_TTL_S:
            return self._rules[1]
        rules = await self._call(self._get_rules)
        self._rules = (time.monotonic(), rules)
        return rules

    async def rule_for(self, alert: Alert) -> AlertRule | None:
        """The rule that produced ``alert``: same name, and its static labels all on the alert."""
        candidates = [r for r in await self.rules() if r.name == alert.alertname]
        for rule in candidates:
            if all(alert.labels.get(k) == v for k, v in rule.labels.items()):
                return rule
        return candidates[0] if candidates else None

    async def range(self, expr: str, start: datetime, end: datetime, step_s: float) -> list[tuple[datetime, float]]:
        """The first series of a range query (the alert's own series when the expression
        is narrowed by its labels), as (time, value)."""
        data = await self._call(self._prom.custom_query_range, expr, start_time=start, end_time=end, step=f"{max(int(step_s), 1)}s")
        if not data:
            return []
        points = []
        for ts, value in data[0].get("values", []):
            try:
                points.append((datetime.fromtimestamp(float(ts), timezone.utc), float(value)))
            except (TypeError, ValueError):
                continue
        return points

    async def instant(self, expr: str) -> list[dict]:
        return await self._call(self._prom.custom_query, expr)

    async def aclose(self) -> None:
        self._session.close()
