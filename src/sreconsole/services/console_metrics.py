"""The console's own numbers (the seeds' "Key Metrics to Track"): TRM share of proposals,
RAG enhancement rate, triage latency p50/p95/p99 with and without retrieval, embedding and
query cache hit rates, the confidence distribution, human-review share, decisions per
operator and effectiveness rate per action.

One :func:`collect` feeds both the TUI's Stats view and the Prometheus exporter
(:mod:`sreconsole.services.metrics_export`), so the two never disagree. Proposals,
decisions and outcomes are read from the review queue (every console's, since the queue is
shared); latencies and cache counters are this process's own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

CONFIDENCE_BUCKETS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
"""Upper bounds of the confidence histogram (the exporter adds +Inf)."""

RAG_METHODS = ("trm+rag", "retrieval")
"""Proposal methods whose answer retrieval changed or made."""

MODEL_METHODS = ("trm", *RAG_METHODS)

RECORDS_READ = 20000
"""Newest proposals the numbers are computed over (a shared queue grows without bound)."""


@dataclass
class ConsoleStats:
    proposals: int = 0
    by_method: dict[str, int] = field(default_factory=dict)
    latency: dict[str, dict[str, float]] = field(default_factory=dict)
    """``with_rag`` / ``without_rag`` → ``p50``, ``p95``, ``p99`` (seconds), ``n``."""
    recent_latency: dict[str, list[float]] = field(default_factory=dict)
    """The last samples of each, oldest first (the Stats view's sparklines)."""
    embed_cache: tuple[int, int] = (0, 0)
    """(hits, misses)."""
    query_cache: tuple[int, int] = (0, 0)
    confidence: list[int] = field(default_factory=lambda: [0] * len(CONFIDENCE_BUCKETS))
    """Proposals per bucket of :data:`CONFIDENCE_BUCKETS` (not cumulative)."""
    human_review: int = 0
    decisions_by_operator: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)
    """action → ``effective`` / ``not_effective`` counts."""
    error: str = ""

    @property
    def trm_share(self) -> float | None:
        return _share(sum(self.by_method.get(m, 0) for m in MODEL_METHODS), self.proposals)

    @property
    def rag_rate(self) -> float | None:
        """Of the model's proposals, the share retrieval enhanced."""
        return _share(sum(self.by_method.get(m, 0) for m in RAG_METHODS), sum(self.by_method.get(m, 0) for m in MODEL_METHODS))

    @property
    def human_review_share(self) -> float | None:
        return _share(self.human_review, self.proposals)

    def effectiveness(self, action: str) -> float | None:
        o = self.outcomes.get(action, {})
        return _share(o.get("effective", 0), o.get("effective", 0) + o.get("not_effective", 0))


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: a p99 of 20 samples is the largest)."""
    ordered = sorted(samples)
    rank = max(1, min(len(ordered), math.ceil(q * len(ordered) - 1e-9)))
    return ordered[rank - 1]


def collect(queue=None, triage=None, knowledge=None) -> ConsoleStats:
    """The numbers now. ``queue``: a :class:`~sreconsole.services.review.ReviewQueue`;
    ``triage``: a :class:`~sreconsole.services.triage.TriageService` (its engine, once
    built); ``knowledge``: the knowledge service. Each may be None; a store that cannot be
    read leaves its numbers at zero and says so in ``error``."""
    stats = ConsoleStats()
    if queue is not None:
        try:
            records = queue.reader.list(states=None, limit=RECORDS_READ)
        except Exception as exc:  # noqa: BLE001 - the view and the exporter say why, and go on
            records, stats.error = [], f"review queue: {exc}"
        for r in records:
            stats.proposals += 1
            stats.by_method[r.method] = stats.by_method.get(r.method, 0) + 1
            if r.confidence is not None:
                stats.confidence[_bucket(r.confidence)] += 1
            stats.human_review += bool(r.requires_human_review)
            if r.decided_by:
                stats.decisions_by_operator[r.decided_by] = stats.decisions_by_operator.get(r.decided_by, 0) + 1
            if r.outcome in ("effective", "not_effective"):
                per = stats.outcomes.setdefault(r.action, {"effective": 0, "not_effective": 0})
                per[r.outcome] += 1
    engine = getattr(triage, "_engine", None) if triage is not None else None
    if engine is not None:
        samples = list(getattr(engine, "latencies", ()))
        for name, rag in (("with_rag", True), ("without_rag", False)):
            values = [s for m, s in samples if (m in RAG_METHODS) == rag]
            stats.recent_latency[name] = values[-60:]
            if values:
                stats.latency[name] = {"p50": percentile(values, 0.5), "p95": percentile(values, 0.95),
                                       "p99": percentile(values, 0.99), "n": float(len(values))}
        embed = getattr(engine, "embed", None)
        stats.embed_cache = (int(getattr(embed, "hits", 0) or 0), int(getattr(embed, "misses", 0) or 0))
    kb = getattr(knowledge, "_kb", None) if knowledge is not None else None
    if kb is not None:
        stats.query_cache = (int(getattr(kb, "query_hits", 0)), int(getattr(kb, "query_misses", 0)))
    return stats


def _bucket(confidence: float) -> int:
    for i, bound in enumerate(CONFIDENCE_BUCKETS):
        if confidence <= bound:
            return i
    return len(CONFIDENCE_BUCKETS) - 1
