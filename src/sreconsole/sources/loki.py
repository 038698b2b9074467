"""Loki HTTP API (``/loki/api/v1/query_range``): recent log lines for an alert's workload.

The LogQL stream selector is built only from label values that pass validation (the
characters Kubernetes names and instance addresses use); anything else is rejected, never
interpolated, so a hostile label cannot change the query.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

from sreconsole.domain.alerts import Alert
from sreconsole.domain.evidence import LogLine
from sreconsole.domain.text import to_str
from sreconsole.sources.base import SourceError
from sreconsole.sources.http import JsonApiSource

SELECTOR_LABELS = ("namespace", "pod", "container")
_SAFE_VALUE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@-]{0,252}")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def build_selector(labels: dict[str, str], names: tuple[str, ...] = SELECTOR_LABELS) -> str:
    """``{namespace="payments",pod="api-1"}`` from validated values; raises SourceError
    naming the label that was refused. At least one label must be usable."""
    parts = []
    for name in names:
        value = labels.get(name)
        if not value:
            continue
        if not _LABEL_NAME.fullmatch(name) or not _SAFE_VALUE.fullmatch(value):
            raise SourceError(f"label {name} has characters that cannot go into a LogQL selector")
        parts.append(f'{name}="{value}"')
    if not parts:
        raise SourceError("the alert has no namespace, pod or container label to select logs by")
    return "{" + ",".join(parts) + "}"


def parse_streams(payload: Any, limit: int) -> list[LogLine]:
    """Loki's ``streams`` result → lines, newest ``limit``, oldest first."""
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict) or data.get("resultType") != "streams":
        raise SourceError("unexpected answer: not a Loki streams result")
    lines: list[LogLine] = []
    for stream in data.get("result") or []:
        if not isinstance(stream, dict):
            continue
        labels = {to_str(k): to_str(v) for k, v in (stream.get("stream") or {}).items()}
        for entry in stream.get("values") or []:
            if not isinstance(entry, list | tuple) or len(entry) < 2:
                continue
            try:
                at = datetime.fromtimestamp(int(entry[0]) / 1e9, timezone.utc)
            except (TypeError, ValueError):
                continue
            lines.append(LogLine(at, to_str(entry[1]), labels))
    lines.sort(key=lambda line: line.at)
    return lines[-limit:]


class LokiSource(JsonApiSource):
    name = "loki"

    async def logs_for(self, alert: Alert, since: timedelta = timedelta(hours=1), limit: int = 50) -> list[LogLine]:
        selector = build_selector(dict(alert.labels))
        end = self.clock()
        params = {
            "query": selector,
            "start": str(int((end - since).timestamp() * 1e9)),
            "end": str(int(end.timestamp() * 1e9)),
            "limit": str(limit),
            "direction": "backward",
        }
        return await self._fetch("/loki/api/v1/query_range", params, lambda payload: parse_streams(payload, limit))
