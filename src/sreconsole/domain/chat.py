"""What Bruno says: answers, the records and passages they cite, and chat turns.

Pure data. A citation names either a span of a file (``path``, 1-based inclusive lines)
or a record: ``alert:<fingerprint>``, ``review:<id>``, ``incident:<id>``, whose ``text``
is what the answer was built from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

RECORD_PREFIXES = ("alert:", "review:", "incident:")
RECORD_GENERATORS = ("catalog", "live", "none")
"""Answers built from records, not written by a generator: shown as plain text."""


@dataclass(frozen=True)
class Citation:
    n: int
    """The marker ``[n]`` the answer text uses for it."""
    path: str
    start_line: int
    end_line: int
    heading: str
    text: str
    """The passage (or record summary) as it was retrieved: what the generator saw."""
    alertname: str = ""
    """The alert the passage is about (a runbook section's alert), when known."""

    @property
    def is_record(self) -> bool:
        return self.path.startswith(RECORD_PREFIXES)

    @property
    def ref(self) -> str:
        """``path:first-last`` for a file span, the record id for a record."""
        return self.path if self.is_record else f"{self.path}:{self.start_line}-{self.end_line}"

    def as_dict(self) -> dict:
        return {"path": self.path, "start_line": self.start_line, "end_line": self.end_line, "heading": self.heading}


@dataclass(frozen=True)
class Answer:
    query: str
    text: str
    """Plain text (Markdown), control characters removed; ``[n]`` markers name :attr:`citations`."""
    generator: str
    """``extractive``, ``ollama:<model>``, ``mlx:<model>``, ``catalog``, ``live``, ``none``."""
    citations: tuple[Citation, ...]
    intent: str
    note: str = ""
    """Something the operator should know about the answer (truncated question, fallback)."""
    recommends: tuple[str, ...] = ()
    """Catalog action ids the answer or its cited passages recommend, best first: what
    "turn into a proposal" offers. Bruno never acts on them."""
    topic: str = ""
    """For a live answer: ``firing``, ``review`` or ``history``."""
    filters: Mapping[str, object] = field(default_factory=dict)
    """For a live answer, what it was narrowed to: ``labels`` (label → value, ``a|b`` for
    either), and ``since`` / ``until`` (ISO 8601) with the ``time`` phrase they came from;
    ``unknown`` lists words asked for as a scope that nothing known matches."""
    latency_ms: float | None = None
    """From the question to this answer, when measured (Bruno's own numbers)."""

    def as_dict(self) -> dict:
        out = {
            "query": self.query,
            "answer": self.text,
            "generator": self.generator,
            "citations": [c.as_dict() for c in self.citations],
            "intent": self.intent,
        }
        if self.intent == "live":
            out["topic"] = self.topic
            out["filters"] = {"labels": {}, **dict(self.filters)}
        if self.recommends:
            out["recommends"] = list(self.recommends)
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class ChatTurn:
    """One message of a conversation as it is kept on disk and sent as context."""

    role: str
    """``user`` or ``assistant``."""
    text: str
    generator: str = ""
    citations: tuple[Citation, ...] = ()
    """An assistant turn's citations (as kept on disk: no passage text)."""
