"""Prometheus HTTP API (``/api/v1/rules``, ``/api/v1/query_range``, ``/api/v1/query``):
the rule behind an alert and its metric trend.

Asked through httpx like Alertmanager and Loki, so every call shares their behaviour
(:mod:`sreconsole.sources.http`): a total deadline per request however slowly the server
answers, retries of connection errors and 5xx with backoff, one readable line per
failure. Rules are cached for a minute: they change with deploys, not with polls.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from sreconsole.domain.alerts import Alert
from sreconsole.domain.evidence import AlertRule
from sreconsole.domain.text import to_str
from sreconsole.sources.base import SourceError
from sreconsole.sources.http import JsonApiSource

RULES_TTL_S = 60.0


def _data(payload: Any, what: str) -> Any:
    """The ``data`` of a Prometheus answer, or a readable refusal (``status: error``)."""
    if not isinstance(payload, dict):
        raise SourceError(f"unexpected answer to {what}: not a Prometheus API object")
    if payload.get("status") != "success":
        raise SourceError(f"Prometheus refused {what}: {to_str(payload.get('error') or payload.get('status'))[:200]}")
    return payload.get("data")


class PrometheusSource(JsonApiSource):
    name = "prometheus"

    def __init__(self, url: str, **http: Any) -> None:
        """``http``: the keys every JSON API source takes (timeout, retries, token, clock)."""
        super().__init__(url, **http)
        self._rules: tuple[float, list[AlertRule]] | None = None

    async def _get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return await self._fetch(path, params, lambda payload: _data(payload, path))

    async def rules(self) -> list[AlertRule]:
        if self._rules and time.monotonic() - self._rules[0] < RULES_TTL_S:
            return self._rules[1]
        data = await self._get("/api/v1/rules", {"type": "alert"})
        rules = []
        groups = data.get("groups") if isinstance(data, dict) else None
        for group in groups or []:
            if not isinstance(group, dict):
                continue
            for rule in group.get("rules") or []:
                if not isinstance(rule, dict) or rule.get("type") != "alerting":
                    continue
                try:
                    duration = float(rule.get("duration") or 0)
                except (TypeError, ValueError):
                    duration = 0.0
                rules.append(
                    AlertRule(
                        name=to_str(rule.get("name")),
                        expr=to_str(rule.get("query")),
                        group=to_str(group.get("name")),
                        duration_s=duration,
                        labels={to_str(k): to_str(v) for k, v in (rule.get("labels") or {}).items()},
                        annotations={to_str(k): to_str(v) for k, v in (rule.get("annotations") or {}).items()},
                    )
                )
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
        params = {"query": expr, "start": f"{start.timestamp():.3f}", "end": f"{end.timestamp():.3f}", "step": f"{max(int(step_s), 1)}s"}
        data = await self._get("/api/v1/query_range", params)
        result = data.get("result") if isinstance(data, dict) else None
        if not result or not isinstance(result[0], dict):
            return []
        points = []
        for pair in result[0].get("values") or []:
            try:
                ts, value = pair
                points.append((datetime.fromtimestamp(float(ts), timezone.utc), float(value)))
            except (TypeError, ValueError):
                continue
        return points

    async def instant(self, expr: str) -> list[dict]:
        data = await self._get("/api/v1/query", {"query": expr})
        result = data.get("result") if isinstance(data, dict) else None
        return list(result) if isinstance(result, list) else []
