"""Traces beside an alert: one summary per slow or failed trace, and a trace's span tree.

Everything here came from a tracing backend (Tempo) and is untrusted: names, services and
ids are shown only through ``text.clean`` and Rich ``Text``. The tree is built with plain
functions so that a hostile trace (cycles, missing parents, thousands of spans) can be
tested with literals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

MAX_TREE_SPANS = 500
"""Most spans drawn in one span tree: a trace of 200k spans is real, a terminal gains
nothing from drawing all of them, and drawing costs about 0.25 ms a row
(``bench/span_tree.py``)."""


@dataclass(frozen=True, slots=True)
class TraceSummary:
    """One line of the evidence: a trace that matched the slow-or-failed search."""

    trace_id: str
    root_service: str
    root_name: str
    started_at: datetime | None
    duration_ms: float | None
    status: str
    """``error`` or ``slow``: why the search matched it (see ``sources.tempo.summary_status``)."""


@dataclass(frozen=True, slots=True)
class Span:
    span_id: str
    parent_id: str
    name: str
    service: str
    start_ns: int
    end_ns: int
    status: str
    """``ok``, ``error`` or ``unset`` (OTLP's three span status codes)."""

    @property
    def duration_ms(self) -> float:
        return max(self.end_ns - self.start_ns, 0) / 1e6


def span_tree(spans: list[Span] | tuple[Span, ...], limit: int = MAX_TREE_SPANS) -> list[tuple[int, Span]]:
    """``(depth, span)`` in display order: each root (no parent, or a parent not in the
    trace) then its children depth-first, siblings by start time.

    A span is placed once even when parent ids form a cycle (a crafted trace): spans that no
    root reaches are shown as roots of their own. At most ``limit`` rows."""
    by_id = {s.span_id: s for s in spans if s.span_id}
    children: dict[str, list[Span]] = {}
    roots: list[Span] = []
    for s in spans:
        if s.parent_id and s.parent_id in by_id and s.parent_id != s.span_id:
            children.setdefault(s.parent_id, []).append(s)
        else:
            roots.append(s)
    order = lambda s: (s.start_ns, s.name)  # noqa: E731
    out: list[tuple[int, Span]] = []
    placed: set[int] = set()

    def walk(first: Span) -> None:
        stack = [(0, first)]
        while stack and len(out) < limit:
            depth, span = stack.pop()
            if id(span) in placed:
                continue
            placed.add(id(span))
            out.append((depth, span))
            for child in sorted(children.get(span.span_id, ()), key=order, reverse=True):
                stack.append((depth + 1, child))

    for root in sorted(roots, key=order):
        walk(root)
    for span in sorted(spans, key=order):  # only reached through a cycle: never dropped silently
        if len(out) >= limit:
            break
        if id(span) not in placed:
            walk(span)
    return out


def format_duration_ms(ms: float | None) -> str:
    """``850ms``, ``2.4s``, ``3m05s``; ``?`` when unknown (Tempo leaves durationMs out for
    traces under a millisecond, which then read ``<1ms``)."""
    if ms is None:
        return "?"
    if ms < 1:
        return "<1ms"
    if ms < 1000:
        return f"{ms:.0f}ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f}s"
    minutes, seconds = divmod(int(ms // 1000), 60)
    return f"{minutes:d}m{seconds:02d}s"
