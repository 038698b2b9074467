"""Bruno's own numbers, the seeds' "Key Metrics to Track" for Agent-Bruno, and the
operator's thumbs up / down on an answer.

Two append-only files under ``<data dir>/chat/``, created ``0600`` (they hold questions and
answers) in a ``0700`` directory:

* ``metrics.jsonl``: one line per answer, numbers and kinds only: when, the route, the
  generator, whether retrieval ran, how many citations and of what kind, the latency;
* ``ratings.jsonl``: one line per ``+`` / ``-``: the answer's id, up or down, who, and the
  question, answer and citations as they were shown (so an export needs nothing else).

What the figures mean (:class:`Stats`):

* **RAG usage rate**: the share of answers for which the knowledge base was searched (a
  knowledge question, or a history question looked up in the incidents);
* **citation rate**: the share of answers that cite anything (a passage, an alert, a
  review record, an incident);
* **knowledge-base coverage**: of the answers that searched the knowledge base, the share
  answered from it (citing a passage or an incident; not "I don't know");
* **latency**: question to final answer, p50 / p95 / p99;
* **ratings**: up and down (the last rating of an answer counts), and the share of
  answers rated.

:meth:`BrunoMetrics.export` writes the ratings as training data for a later Bruno
fine-tune: one JSON object a line with mlx-lm's chat ``messages`` plus the rating.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

from sreconsole.domain.chat import Answer

READ_LINES = 20_000
"""The stats read the newest this many answers (a long-lived console's file keeps growing)."""


def _kb_citation(path: str) -> bool:
    """A passage of a document, or a past incident: what the knowledge base holds."""
    return not path.startswith(("alert:", "review:"))


def used_rag(answer: Answer) -> bool:
    return answer.intent == "knowledge" or (answer.intent == "live" and answer.topic == "history")


def pct(values: list[float], p: float) -> float | None:
    """The ``p``-th percentile by nearest rank (None for no values)."""
    if not values:
        return None
    xs = sorted(values)
    return xs[min(len(xs) - 1, max(0, math.ceil(p / 100 * len(xs)) - 1))]


@dataclass(frozen=True)
class Stats:
    answers: int = 0
    by_intent: dict[str, int] = field(default_factory=dict)
    rag_used: int = 0
    cited: int = 0
    from_kb: int = 0
    latency_ms: dict[str, float | None] = field(default_factory=dict)
    """``p50``, ``p95``, ``p99`` of the answers that were timed."""
    up: int = 0
    down: int = 0

    @property
    def rag_usage_rate(self) -> float | None:
        return self.rag_used / self.answers if self.answers else None

    @property
    def citation_rate(self) -> float | None:
        return self.cited / self.answers if self.answers else None

    @property
    def kb_coverage(self) -> float | None:
        return self.from_kb / self.rag_used if self.rag_used else None

    @property
    def rated_share(self) -> float | None:
        return (self.up + self.down) / self.answers if self.answers else None

    def as_dict(self) -> dict:
        def r(x):
            return None if x is None else round(x, 4)

        return {
            "answers": self.answers, "by_intent": dict(self.by_intent), "rag_usage_rate": r(self.rag_usage_rate),
            "citation_rate": r(self.citation_rate), "kb_coverage": r(self.kb_coverage),
            "latency_ms": {k: r(v) for k, v in self.latency_ms.items()},
            "ratings": {"up": self.up, "down": self.down, "rated_share": r(self.rated_share)},
        }


class BrunoMetrics:
    """The two files of one data dir; ``directory=None`` keeps nothing (and reads nothing).
    Writing never raises: the numbers are a convenience, the answer is on screen."""

    def __init__(self, directory: Path | None, clock=lambda: datetime.now(timezone.utc)) -> None:
        self.directory = directory
        self.clock = clock
        self.problem = ""
        """The last write that failed, in words ("" when none has)."""

    @property
    def answers_path(self) -> Path | None:
        return self.directory / "metrics.jsonl" if self.directory else None

    @property
    def ratings_path(self) -> Path | None:
        return self.directory / "ratings.jsonl" if self.directory else None

    # -- writing -----------------------------------------------------------------------

    def record(self, answer: Answer, source: str = "console") -> str:
        """Note one answer; returns its id (what a rating names)."""
        answer_id = uuid.uuid4().hex[:16]
        kinds = Counter("file" if not c.is_record else c.path.split(":", 1)[0] for c in answer.citations)
        self._append(self.answers_path, {
            "id": answer_id, "at": self.clock().isoformat(), "source": source, "intent": answer.intent,
            "topic": answer.topic, "generator": answer.generator, "rag": used_rag(answer),
            "citations": dict(kinds), "from_kb": any(_kb_citation(c.path) for c in answer.citations),
            "latency_ms": answer.latency_ms,
        })
        return answer_id

    def rate(self, answer_id: str, answer: Answer, up: bool, operator: str = "") -> None:
        """The operator's thumbs up (``up``) or down on an answer; a later rating of the same
        answer replaces an earlier one."""
        self._append(self.ratings_path, {
            "id": answer_id, "at": self.clock().isoformat(), "rating": "up" if up else "down", "operator": operator,
            "question": answer.query, "answer": answer.text, "generator": answer.generator, "intent": answer.intent,
            "citations": [c.ref for c in answer.citations],
        })

    def _append(self, path: Path | None, row: dict) -> None:
        if path is None:
            return
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.fchmod(fd, 0o600)  # an older file made with a looser umask
                os.write(fd, (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
            finally:
                os.close(fd)
        except OSError as exc:
            self.problem = f"{path}: {exc.strerror or exc}"

    # -- reading -----------------------------------------------------------------------

    @staticmethod
    def _rows(path: Path | None, limit: int = READ_LINES) -> list[dict]:
        if path is None or not path.exists():
            return []
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()[-limit:]
        except OSError:
            return []
        out = []
        for line in lines:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and isinstance(row.get("id"), str):
                out.append(row)
        return out

    def ratings(self) -> list[dict]:
        """The last rating of each rated answer, in the order they were first rated."""
        last: dict[str, dict] = {}
        for row in self._rows(self.ratings_path, 10 * READ_LINES):
            if row.get("rating") in ("up", "down"):
                last[row["id"]] = row
        return list(last.values())

    def stats(self) -> Stats:
        answers = self._rows(self.answers_path)
        ids = {a["id"] for a in answers}
        ratings = Counter(r["rating"] for r in self.ratings() if r["id"] in ids)
        latencies = [float(a["latency_ms"]) for a in answers if isinstance(a.get("latency_ms"), (int, float))]
        return Stats(
            answers=len(answers),
            by_intent=dict(Counter(str(a.get("intent", "")) for a in answers)),
            rag_used=sum(1 for a in answers if a.get("rag")),
            cited=sum(1 for a in answers if a.get("citations")),
            from_kb=sum(1 for a in answers if a.get("rag") and a.get("from_kb")),
            latency_ms={"p50": pct(latencies, 50), "p95": pct(latencies, 95), "p99": pct(latencies, 99)},
            up=ratings.get("up", 0),
            down=ratings.get("down", 0),
        )

    def training_rows(self, only: str | None = None) -> Iterator[dict]:
        """The ratings as training data: mlx-lm's chat ``messages`` (the question, then the
        answer as it was shown), with the rating and what the answer cited. ``only``:
        ``up`` or ``down``."""
        for r in self.ratings():
            if only and r["rating"] != only:
                continue
            yield {
                "messages": [{"role": "user", "content": r.get("question", "")}, {"role": "assistant", "content": r.get("answer", "")}],
                "rating": r["rating"], "citations": r.get("citations", []), "generator": r.get("generator", ""),
                "intent": r.get("intent", ""), "rated_at": r.get("at", ""), "operator": r.get("operator", ""), "answer_id": r["id"],
            }

    def export(self, out: IO[str], only: str | None = None) -> int:
        """Write :meth:`training_rows` as JSON lines; returns how many."""
        n = 0
        for row in self.training_rows(only):
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
        return n
