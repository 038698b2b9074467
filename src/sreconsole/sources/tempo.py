"""Tempo HTTP API: the recent slow or failed traces of an alert's service, and one trace.

Two documented endpoints of Tempo's query frontend are used:

* ``GET /api/search?q=<TraceQL>&start=&end=&limit=&spss=`` (unix seconds): ``traces[]``,
  each with ``traceID``, ``rootServiceName``, ``rootTraceName``, ``startTimeUnixNano``,
  ``durationMs`` and the matched spans (``spanSet``, or ``spanSets`` since Tempo 2.2);
* ``GET /api/traces/<traceID>``: the trace in OTLP JSON, ``batches`` (or ``resourceSpans``,
  or ``{"trace": {"resourceSpans"}}``) → ``scopeSpans`` (``instrumentationLibrarySpans``
  before OTLP 0.15) → ``spans``. Tempo writes ids as base64 (protobuf's JSON for bytes),
  other OTLP writers as hex: both are read.

The TraceQL query is built only from label values that pass a strict pattern, quoted; a
value that fails it means no trace search at all, with the reason, never a query with the
value pasted in (a ``"`` or ``}`` in a label would otherwise rewrite the query). Trace ids
that come back are checked as hex before one goes into a URL path.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
from datetime import datetime, timedelta, timezone
from typing import Any

from sreconsole.domain.alerts import Alert
from sreconsole.domain.text import to_str
from sreconsole.domain.traces import Span, TraceSummary
from sreconsole.sources.base import SourceError
from sreconsole.sources.http import JsonApiSource

SERVICE_LABELS = ("service", "service_name", "app_kubernetes_io_name", "app", "deployment", "job")
"""Alert labels that may name the service, most specific first; the first one present is
used (a hostile one is refused, not skipped: skipping would search another service)."""
EXPORTER_JOBS = frozenset({"kube-state-metrics", "kubelet", "node-exporter", "cadvisor", "apiserver", "kubernetes-pods", "blackbox", "flux-system", "cert-manager"})
"""``job`` values that name the exporter that scraped the metric, not the service that
serves requests: a KubePodCrashLooping alert's job is kube-state-metrics."""
NAMESPACE_ATTRIBUTE = "resource.k8s.namespace.name"
"""Where OpenTelemetry's Kubernetes resource conventions put the namespace."""
_SAFE_VALUE = re.compile(r"[A-Za-z0-9_.:/-]{1,128}")
_TRACE_ID = re.compile(r"[0-9a-f]{1,32}")
_HEX_ID = re.compile(r"(?:[0-9a-fA-F]{16}|[0-9a-fA-F]{32})")
LEAD = timedelta(minutes=5)
"""Searched before the alert started: the slow requests that made it fire come first."""
SHORTEST = timedelta(minutes=15)
LONGEST = timedelta(hours=6)
"""The window is at least this short or long whatever the alert's age (Tempo refuses
searches longer than its own limit, 168 h by default; an old alert's recent traces matter)."""
MAX_SPANS = 50_000
"""Spans read from one trace answer; the rest are counted, not kept."""


def _quoted(value: str) -> str:
    """A TraceQL string literal. The pattern already excludes ``"`` and ``\\``; escaping
    them anyway keeps this safe if the pattern is ever widened."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def service_of(labels: dict[str, str]) -> tuple[str, str]:
    """``(label name, value)`` naming the alert's service, or ``("", "")``."""
    for name in SERVICE_LABELS:
        value = labels.get(name) or ""
        if not value or (name == "job" and value in EXPORTER_JOBS):
            continue
        return name, value
    return "", ""


def build_traceql(labels: dict[str, str], slow_ms: int = 500) -> str:
    """``{ resource.service.name = "checkout" && resource.k8s.namespace.name = "shop" &&
    (status = error || duration > 500ms) }`` from validated values. Raises
    :class:`SourceError` naming the label that was refused, or saying none names a service."""
    name, service = service_of(labels)
    if not service:
        raise SourceError("no trace search: the alert has no service, app, deployment or job label naming a service")
    conditions = []
    for label, value, attribute in ((name, service, "resource.service.name"), ("namespace", labels.get("namespace") or "", NAMESPACE_ATTRIBUTE)):
        if not value:
            continue
        if not _SAFE_VALUE.fullmatch(value):
            raise SourceError(f"no trace search: label {label} has characters that cannot go into a TraceQL query")
        conditions.append(f"{attribute} = {_quoted(value)}")
    conditions.append(f"(status = error || duration > {int(slow_ms):d}ms)")
    return "{ " + " && ".join(conditions) + " }"


def search_window(alert: Alert, now: datetime) -> tuple[datetime, datetime]:
    """From a little before the alert started until now, between SHORTEST and LONGEST."""
    start = alert.starts_at - LEAD
    start = min(max(start, now - LONGEST), now - SHORTEST)
    return start, now


def _nanos(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _attributes(items: Any) -> dict[str, str]:
    """OTLP ``[{"key", "value": {"stringValue" | "intValue" | …}}]`` → str values."""
    out: dict[str, str] = {}
    for item in items if isinstance(items, list) else ():
        if not isinstance(item, dict):
            continue
        value = item.get("value")
        if isinstance(value, dict) and value:
            out[to_str(item.get("key"))] = to_str(next(iter(value.values())))
    return out


def summary_status(trace: dict, duration_ms: float, slow_ms: int) -> str:
    """``error`` or ``slow``: why a trace matched ``status = error || duration > slow``.

    A matched span that carries ``status`` says so; otherwise a trace shorter than the
    threshold can hold no slow span, so it matched through a failed one."""
    sets = trace.get("spanSets") or ([trace["spanSet"]] if isinstance(trace.get("spanSet"), dict) else [])
    for spanset in sets if isinstance(sets, list) else ():
        for span in (spanset.get("spans") or []) if isinstance(spanset, dict) else ():
            if isinstance(span, dict) and _attributes(span.get("attributes")).get("status") == "error":
                return "error"
    return "slow" if duration_ms > slow_ms else "error"


def parse_search(payload: Any, slow_ms: int = 500, limit: int = 10) -> list[TraceSummary]:
    """Tempo's search answer → summaries, newest first. Traces whose id is not hex are
    left out: an id goes into the next request's path."""
    if not isinstance(payload, dict) or not isinstance(payload.get("traces", []), list):
        raise SourceError("unexpected answer: not a Tempo search result")
    out: list[TraceSummary] = []
    for trace in payload.get("traces") or []:
        if not isinstance(trace, dict):
            continue
        trace_id = trace.get("traceID")
        trace_id = trace_id.lower() if isinstance(trace_id, str) else ""  # Tempo may drop leading zeros: kept as given
        if not _TRACE_ID.fullmatch(trace_id):
            continue
        start = _nanos(trace.get("startTimeUnixNano"))
        try:
            duration = float(trace.get("durationMs") or 0)  # left out by Tempo under 1 ms
        except (TypeError, ValueError):
            duration = 0.0
        out.append(
            TraceSummary(
                trace_id=trace_id,
                root_service=to_str(trace.get("rootServiceName")),
                root_name=to_str(trace.get("rootTraceName")),
                started_at=datetime.fromtimestamp(start / 1e9, timezone.utc) if start else None,
                duration_ms=duration,
                status=summary_status(trace, duration, slow_ms),
            )
        )
    out.sort(key=lambda t: t.started_at or datetime.min.replace(tzinfo=timezone.utc), reverse=True)
    return out[:limit]


def _hex_id(value: Any) -> str:
    """An OTLP span or trace id as lower-case hex: hex as is, base64 decoded, else ''."""
    text = to_str(value).strip()
    if not text:
        return ""
    if _HEX_ID.fullmatch(text):
        return text.lower()
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return ""
    return raw.hex() if len(raw) in (8, 16) else ""


def _status(span: dict) -> str:
    """OTLP status code as Tempo writes it (``STATUS_CODE_ERROR``) or as a number (2)."""
    code = (span.get("status") or {}).get("code") if isinstance(span.get("status"), dict) else None
    text = to_str(code).upper()
    if text in ("2", "STATUS_CODE_ERROR", "ERROR"):
        return "error"
    if text in ("1", "STATUS_CODE_OK", "OK"):
        return "ok"
    return "unset"


def parse_trace(payload: Any) -> list[Span]:
    """Tempo's trace answer (OTLP JSON) → spans, each with its resource's service name."""
    if isinstance(payload, dict) and isinstance(payload.get("trace"), dict):
        payload = payload["trace"]  # /api/v2/traces wraps it
    batches = payload.get("batches", payload.get("resourceSpans")) if isinstance(payload, dict) else None
    if not isinstance(batches, list):
        raise SourceError("unexpected answer: not an OTLP trace (no batches or resourceSpans)")
    spans: list[Span] = []
    for batch in batches:
        if not isinstance(batch, dict):
            continue
        resource = batch.get("resource") if isinstance(batch.get("resource"), dict) else {}
        service = _attributes(resource.get("attributes")).get("service.name", "")
        scopes = batch.get("scopeSpans", batch.get("instrumentationLibrarySpans")) or []
        for scope in scopes if isinstance(scopes, list) else ():
            for span in (scope.get("spans") or []) if isinstance(scope, dict) else ():
                if not isinstance(span, dict) or len(spans) >= MAX_SPANS:
                    continue
                start = _nanos(span.get("startTimeUnixNano")) or 0
                spans.append(
                    Span(
                        span_id=_hex_id(span.get("spanId")),
                        parent_id=_hex_id(span.get("parentSpanId")),
                        name=to_str(span.get("name")),
                        service=service,
                        start_ns=start,
                        end_ns=_nanos(span.get("endTimeUnixNano")) or start,
                        status=_status(span),
                    )
                )
    if not spans:
        raise SourceError("the trace has no spans")
    return spans


class TempoSource(JsonApiSource):
    name = "tempo"
    error_body = True  # Tempo's 400 says what is wrong with the query: worth showing

    def __init__(self, url: str, *, slow_ms: int = 500, limit: int = 10, **http: Any) -> None:
        """``http``: the keys every JSON API source takes (timeout, retries, auth, clock)."""
        super().__init__(url, **http)
        self.slow_ms = slow_ms
        self.limit = limit

    async def traces_for(self, alert: Alert) -> tuple[str, list[TraceSummary]]:
        """``(the TraceQL query, the matching traces)`` over the alert's window. Raises
        :class:`SourceError` when the labels cannot make a query or Tempo fails."""
        query = build_traceql(dict(alert.labels), self.slow_ms)
        start, end = search_window(alert, self.clock())
        params = {"q": query, "start": str(int(start.timestamp())), "end": str(int(end.timestamp())), "limit": str(self.limit), "spss": "3"}
        return query, await self._fetch("/api/search", params, lambda payload: parse_search(payload, self.slow_ms, self.limit))

    async def trace(self, trace_id: str) -> list[Span]:
        """Every span of one trace (the span tree's rows)."""
        if not _TRACE_ID.fullmatch(trace_id.lower()):
            raise SourceError("not a trace id: only hex digits are asked for")
        payload = await self._fetch(f"/api/traces/{trace_id.lower()}", None, lambda payload: payload)
        try:  # a trace of 50,000 spans takes a second or more to read: not on the event loop
            return await asyncio.to_thread(parse_trace, payload)
        except SourceError as exc:
            self._failed(str(exc))
            raise
