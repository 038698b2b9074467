"""Evidence for one alert: the rule's metric trend (Prometheus), recent logs (Loki) and the
service's recent slow or failed traces (Tempo, where ``tempo.url`` is set).

Each part runs concurrently under its own deadline, so a slow or dead source costs its own
part, never the other's, and never the UI. The demo answers from the simulated cluster.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Protocol

from sreconsole.config import Settings
from sreconsole.domain.alerts import Alert
from sreconsole.domain.evidence import Evidence, LogLine, parse_threshold
from sreconsole.domain.traces import Span, TraceSummary
from sreconsole.services.recording import NO_RECORDER
from sreconsole.sources.base import SourceError

WINDOW = timedelta(hours=1)
STEP_S = 60.0


class MetricEvidence(Protocol):
    async def expression_for(self, alert: Alert) -> tuple[str, float | None, str] | None: ...
    async def series(self, expr: str, alert: Alert, start: datetime, end: datetime, step_s: float) -> list[tuple[datetime, float]]: ...


class LogEvidence(Protocol):
    async def logs_for(self, alert: Alert, since: timedelta, limit: int) -> list[LogLine]: ...


class TraceEvidence(Protocol):
    async def traces_for(self, alert: Alert) -> tuple[str, list[TraceSummary]]: ...
    async def trace(self, trace_id: str) -> list[Span]: ...


class PrometheusEvidence:
    """The rule behind the alert, evaluated as a range narrowed to the alert's own labels."""

    def __init__(self, source) -> None:
        self.source = source

    async def expression_for(self, alert: Alert):
        rule = await self.source.rule_for(alert)
        if rule is None:
            return None
        threshold = parse_threshold(rule.expr)
        return rule.expr, threshold[1] if threshold else None, ""

    async def series(self, expr, alert, start, end, step_s):
        return await self.source.range(expr, start, end, step_s)


class DemoEvidence:
    def __init__(self, cluster, clock: Callable[[], datetime]) -> None:
        self.cluster = cluster
        self.clock = clock

    async def expression_for(self, alert: Alert):
        return self.cluster.rule_expression(alert)

    async def series(self, expr, alert, start, end, step_s):
        return self.cluster.metric_series(alert, start, end, step_s)

    async def logs_for(self, alert: Alert, since: timedelta, limit: int) -> list[LogLine]:
        return [LogLine(at, text, {"pod": alert.labels.get("pod", "")}) for at, text in self.cluster.log_lines(alert, self.clock(), limit)]


class EvidenceByCluster:
    """Metrics and logs from the alert's own cluster (``[[clusters]]``): each cluster has
    its Prometheus and Loki, and a trend or a log line from another cluster would be
    evidence about the wrong machines. An alert naming no cluster ("") gets the first,
    default, cluster's. A cluster without one of them says so, naming the cluster."""

    def __init__(self, metrics: dict[str, MetricEvidence | None], logs: dict[str, LogEvidence | None]) -> None:
        self._metrics = metrics
        self._logs = logs
        self._default = next(iter(metrics))

    def _pick(self, table: dict, alert: Alert, what: str):
        name = alert.cluster or self._default
        found = table.get(name)
        if found is None:
            raise SourceError(f"no {what} configured for cluster {name}")
        return found

    async def expression_for(self, alert: Alert):
        return await self._pick(self._metrics, alert, "Prometheus").expression_for(alert)

    async def series(self, expr, alert, start, end, step_s):
        return await self._pick(self._metrics, alert, "Prometheus").series(expr, alert, start, end, step_s)

    async def logs_for(self, alert: Alert, since: timedelta, limit: int) -> list[LogLine]:
        return await self._pick(self._logs, alert, "Loki").logs_for(alert, since, limit)


class EvidenceService:
    def __init__(
        self,
        metrics: MetricEvidence | None,
        logs: LogEvidence | None,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        timeout_s: float = 5.0,
        knowledge=None,
        knowledge_timeout_s: float = 3.0,
        traces: TraceEvidence | None = None,
    ) -> None:
        self.metrics = metrics
        self.logs = logs
        self.traces = traces
        """A ``sources.tempo.TempoSource`` or None (no ``tempo.url``)."""
        self.clock = clock
        self.timeout_s = timeout_s
        self.knowledge = knowledge
        """A ``services.knowledge.KnowledgeService`` or None (off)."""
        self.knowledge_timeout_s = knowledge_timeout_s

    recorder = NO_RECORDER
    """Where each answer an operator opened is also written (``--record``)."""

    async def gather(self, alert: Alert, log_limit: int = 30) -> Evidence:
        (expr, threshold, unit, series, metric_error), (logs, logs_error), (knowledge, knowledge_error), (traces, traces_error, traces_query) = await asyncio.gather(
            self._metric(alert), self._logs(alert, log_limit), self._knowledge(alert), self._traces(alert)
        )
        evidence = Evidence(
            fingerprint=alert.fingerprint,
            expr=expr,
            threshold=threshold,
            unit=unit,
            series=tuple(series),
            metric_error=metric_error,
            logs=tuple(logs),
            logs_error=logs_error,
            runbook_url=alert.annotations.get("runbook_url", ""),
            knowledge=knowledge,
            knowledge_error=knowledge_error,
            traces=tuple(traces),
            traces_error=traces_error,
            traces_query=traces_query,
            traces_configured=self.traces is not None,
        )
        self.recorder.evidence(alert, evidence)
        return evidence

    async def _traces(self, alert: Alert):
        """The search fails on its own, like logs: a refused label, a dead or slow Tempo, a
        400 become the part's one line."""
        if self.traces is None:
            return [], "", ""
        try:
            query, found = await asyncio.wait_for(self.traces.traces_for(alert), self.timeout_s)
        except (SourceError, TimeoutError, asyncio.TimeoutError) as exc:
            return [], str(exc) or "timed out", ""
        return found, "" if found else "no slow or failed traces of this service in the alert's window", query

    async def trace(self, trace_id: str) -> list[Span]:
        """One trace's spans, for the span tree. Raises :class:`SourceError` (also when no
        Tempo is configured or it does not answer within the deadline)."""
        if self.traces is None:
            raise SourceError("no Tempo configured")
        try:
            return await asyncio.wait_for(self.traces.trace(trace_id), self.timeout_s)
        except (TimeoutError, asyncio.TimeoutError):
            raise SourceError("timed out") from None

    async def _knowledge(self, alert: Alert):
        """Runs in a thread (DuckDB, numpy, the model). The first call in the demo may index
        the bundled documents; past the deadline the panel says so and the next selection
        finds it ready (the thread finishes the work regardless)."""
        if self.knowledge is None:
            return None, "knowledge base off (knowledge.enabled = false)"
        call = asyncio.to_thread(self.knowledge.for_alert, alert.alertname, dict(alert.labels), alert.summary)
        try:
            found = await asyncio.wait_for(call, self.knowledge_timeout_s)
        except (TimeoutError, asyncio.TimeoutError):
            return None, "knowledge base still loading (the first run indexes the documents); select the alert again shortly"
        return found, found.error

    async def _metric(self, alert: Alert):
        if self.metrics is None:
            return "", None, "", [], "no Prometheus configured"
        try:
            found = await asyncio.wait_for(self.metrics.expression_for(alert), self.timeout_s)
            if found is None:
                return "", None, "", [], f"no alerting rule named {alert.alertname} in Prometheus"
            expr, threshold, unit = found
            end = self.clock()
            series = await asyncio.wait_for(self.metrics.series(_without_comparison(expr), alert, end - WINDOW, end, STEP_S), self.timeout_s)
            return expr, threshold, unit, series, "" if series else "the expression returned no data in the last hour"
        except (SourceError, TimeoutError, asyncio.TimeoutError) as exc:
            return "", None, "", [], str(exc) or "timed out"

    async def _logs(self, alert: Alert, limit: int):
        if self.logs is None:
            return [], "no Loki configured"
        try:
            return await asyncio.wait_for(self.logs.logs_for(alert, WINDOW, limit), self.timeout_s), ""
        except (SourceError, TimeoutError, asyncio.TimeoutError) as exc:
            return [], str(exc) or "timed out"


def _without_comparison(expr: str) -> str:
    """Plot the value, not the boolean: drop a trailing ``> 0.5`` so the line shows how
    close the metric is to its threshold."""
    import re

    stripped = re.sub(r"\s*(>=|<=|==|!=|>|<)\s*(?:bool\s+)?-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?\s*$", "", expr.strip())
    return stripped or expr


def build_evidence_service(settings: Settings, alert_source, clock: Callable[[], datetime]) -> EvidenceService:
    """The demo's own evidence, or the configured Prometheus, Loki and Tempo (each optional),
    plus the knowledge base unless it is switched off."""
    knowledge = None
    if settings.knowledge.enabled:
        from sreconsole.services.knowledge import KnowledgeService

        knowledge = KnowledgeService(settings, clock)
    if settings.is_demo and hasattr(alert_source, "cluster"):
        demo = DemoEvidence(alert_source.cluster, clock)
        return EvidenceService(demo, demo, clock, knowledge=knowledge)
    by_metrics: dict[str, MetricEvidence | None] = {}
    by_logs: dict[str, LogEvidence | None] = {}
    for cluster in settings.cluster_list():
        by_metrics[cluster.name] = _metrics_for(cluster.prometheus, settings, clock)
        by_logs[cluster.name] = _logs_for(cluster.loki, settings, clock)
    if len(by_metrics) == 1:
        (metrics,), (logs,) = by_metrics.values(), by_logs.values()
        return EvidenceService(metrics, logs, clock, knowledge=knowledge, traces=_traces_for(settings, clock))
    metrics = logs = None
    if any(by_metrics.values()):
        metrics = EvidenceByCluster(by_metrics, by_logs)
    if any(by_logs.values()):
        logs = EvidenceByCluster(by_metrics, by_logs)
    return EvidenceService(metrics, logs, clock, knowledge=knowledge, traces=_traces_for(settings, clock))


def _traces_for(settings: Settings, clock):
    """Tempo, where ``tempo.url`` is set: one for every cluster (a per-cluster ``tempo``
    table is not read yet)."""
    if not settings.tempo.url:
        return None
    from sreconsole.sources.tempo import TempoSource

    t = settings.tempo
    return TempoSource(t.url, timeout_s=t.timeout_s, retries=t.retries, tenant=t.tenant, bearer_token=t.bearer_token, slow_ms=t.slow_ms, limit=t.limit,
                       stale_after_s=settings.stale_after_s, clock=clock)


def _metrics_for(p, settings: Settings, clock) -> MetricEvidence | None:
    if not p.url:
        return None
    from sreconsole.sources.prometheus import PrometheusSource

    return PrometheusEvidence(
        PrometheusSource(p.url, timeout_s=p.timeout_s, retries=p.retries, bearer_token=p.bearer_token, stale_after_s=settings.stale_after_s, clock=clock)
    )


def _logs_for(lk, settings: Settings, clock) -> LogEvidence | None:
    if not lk.url:
        return None
    from sreconsole.sources.loki import LokiSource

    return LokiSource(lk.url, timeout_s=lk.timeout_s, retries=lk.retries, tenant=lk.tenant, bearer_token=lk.bearer_token, stale_after_s=settings.stale_after_s, clock=clock)
