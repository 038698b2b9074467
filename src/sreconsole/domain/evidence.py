"""Evidence shown beside an alert: the rule's metric trend, recent log lines and traces."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime

_THRESHOLD = re.compile(r"(>=|<=|==|!=|>|<)\s*(?:bool\s+)?(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*\)*\s*$")


@dataclass(frozen=True, slots=True)
class AlertRule:
    """A Prometheus alerting rule as ``/api/v1/rules`` describes it."""

    name: str
    expr: str
    group: str = ""
    duration_s: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def threshold(self) -> tuple[str, float] | None:
        return parse_threshold(self.expr)


def parse_threshold(expr: str) -> tuple[str, float] | None:
    """The comparison at the end of an expression: ``rate(x[5m]) > 0.5`` → ``('>', 0.5)``."""
    m = _THRESHOLD.search(expr.strip())
    if not m:
        return None
    return m.group(1), float(m.group(2))


@dataclass(frozen=True, slots=True)
class LogLine:
    at: datetime
    line: str
    stream: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Evidence:
    """What was found for one alert. Each part carries its own error: one failing source
    never hides what the others returned."""

    fingerprint: str
    expr: str = ""
    threshold: float | None = None
    unit: str = ""
    series: tuple[tuple[datetime, float], ...] = ()
    metric_error: str = ""
    logs: tuple[LogLine, ...] = ()
    logs_error: str = ""
    runbook_url: str = ""
    knowledge: object = None
    """``services.knowledge.AlertKnowledge`` (runbook passages, similar incidents), or None
    when the knowledge base is off or did not answer in time; typed loosely so the domain
    layer does not depend on the knowledge layer."""
    knowledge_error: str = ""
    traces: tuple = ()
    """``domain.traces.TraceSummary`` rows: the alert's service's slow or failed traces."""
    traces_error: str = ""
    traces_query: str = ""
    """The TraceQL that was sent (shown, so the operator can run it in Grafana)."""
    traces_configured: bool = False
    """Whether Tempo is configured at all: without it the traces part is not drawn."""


BLOCKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], width: int, threshold: float | None = None) -> tuple[str, list[bool]]:
    """Block characters for ``values`` resampled to ``width``; also, per cell, whether the
    value is on the alerting side of... simply whether it is at or above the threshold."""
    clean = [v for v in values if isinstance(v, int | float) and math.isfinite(v)]
    if not clean or width <= 0:
        return "", []
    if len(clean) > width:
        step = len(clean) / width
        clean = [max(clean[int(i * step) : max(int((i + 1) * step), int(i * step) + 1)]) for i in range(width)]
    low = min(clean + ([threshold] if threshold is not None else []))
    high = max(clean + ([threshold] if threshold is not None else []))
    span = high - low or 1.0
    chars = "".join(BLOCKS[min(int((v - low) / span * (len(BLOCKS) - 1) + 0.5), len(BLOCKS) - 1)] for v in clean)
    over = [threshold is not None and v >= threshold for v in clean]
    return chars, over
