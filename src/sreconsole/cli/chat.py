"""``sreconsole ask …``: ask Bruno one question, or a file of them, headless; and
``sreconsole chat stats`` / ``chat export FILE``: Bruno's own numbers, and the answers
operators rated as training data.

Exit codes: 0 answered (an "I don't know" is an answer); 2 bad arguments. Citation paths
are absolute and line numbers 1-based and inclusive, as in ``kb search``. Every answer
counts in Bruno's numbers (``<data dir>/chat/metrics.jsonl``), as the console's do.
"""

from __future__ import annotations

import os
import sys
from datetime import datetime, timezone

from sreconsole.cli.exit_codes import EXIT_CONFIG, EXIT_OK
from sreconsole.cli.output import rich_console, write_json, write_json_line


class _CliKnowledge:
    """The knowledge service as ``kb search`` uses it: the demo's documents are indexed only
    when no ``knowledge.paths`` are configured (so a store built from them stays theirs)."""

    def __init__(self, settings) -> None:
        from sreconsole.services.knowledge import KnowledgeService

        self.settings = settings
        self.service = KnowledgeService(settings)
        self._prepared = False

    def prepare(self) -> None:
        if not self._prepared:
            if self.settings.is_demo and not self.settings.knowledge.paths:
                from sreconsole.services.knowledge import ensure_demo_store

                ensure_demo_store(self.settings, datetime.now(timezone.utc))
            self._prepared = True

    def knowledge_base(self):
        return self.service.knowledge_base()


def _live_alerts(settings):
    """The alerts ``alerts list`` reads, fetched when a question asks what is firing."""

    def fetch():
        from sreconsole.services.environment import fetch_alerts_once

        snapshot = fetch_alerts_once(settings)
        if snapshot.error:
            raise RuntimeError(f"{snapshot.health.name}: {snapshot.error}")
        return list(snapshot.alerts)

    return fetch


def _review_queue(settings):
    """The queue read for "what is waiting for review?" (Bruno only lists it)."""
    from sreconsole.services.identity import current_operator
    from sreconsole.services.review import ReviewQueue

    return ReviewQueue(settings, current_operator())


def _absolute(path: str) -> str:
    from sreconsole.domain.chat import RECORD_PREFIXES

    return path if path.startswith(RECORD_PREFIXES) else os.path.abspath(path)


def _batch_record(answer) -> dict:
    out = {
        "query": answer.query,
        "answer": answer.text,
        "generator": answer.generator,
        "citations": [{**c.as_dict(), "path": _absolute(c.path)} for c in answer.citations],
        "intent": answer.intent,
    }
    if answer.intent == "live":
        out["topic"] = answer.topic
        out["filters"] = {"labels": {}, **dict(answer.filters)}
    if answer.recommends:
        out["recommends"] = list(answer.recommends)
    if answer.note:
        out["note"] = answer.note
    return out


def run_ask(settings, args) -> int:
    from sreconsole.services.chat import make_bruno, metrics_for

    question = getattr(args, "question", None)
    batch = getattr(args, "batch", None)
    if bool(question) == bool(batch):
        print("sreconsole: ask needs a QUESTION or --batch FILE (not both)", file=sys.stderr)
        return EXIT_CONFIG
    bruno = make_bruno(settings, _CliKnowledge(settings), review_queue=_review_queue(settings), alerts=_live_alerts(settings),
                       clock=lambda: datetime.now(timezone.utc))
    metrics = metrics_for(settings)
    if batch:
        try:
            source = sys.stdin if batch == "-" else open(batch, encoding="utf-8", errors="replace")
        except OSError as exc:
            print(f"sreconsole: --batch {batch}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_CONFIG
        with source:
            for line in source:
                q = line.rstrip("\n")
                if not q.strip():
                    continue
                answer = bruno.ask(q)
                metrics.record(answer, source="cli")
                write_json_line(_batch_record(answer))
        return EXIT_OK
    # argv bytes that are not UTF-8 arrive as lone surrogates: read them as U+FFFD.
    question = question.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    answer = bruno.ask(question)
    metrics.record(answer, source="cli")
    if getattr(args, "json", False):
        out = answer.as_dict()
        out["citations"] = [{**c, "path": _absolute(c["path"])} for c in out["citations"]]
        write_json(out)
        return EXIT_OK
    from rich.text import Text

    from sreconsole.domain.text import clean

    console = rich_console()
    if answer.note:
        console.print(Text(f"({answer.note})"), style="dim")
    console.print(Text(answer.text))  # plain Text: document and model text is never markup
    if answer.citations:
        console.print()
    for c in answer.citations:
        line = Text(f"[{c.n}] ", style="bold")
        line.append(f"{clean(_absolute(c.path), None)}:{c.start_line}-{c.end_line}", style="cyan")
        line.append(f"  {clean(c.heading, 120)}")
        console.print(line)
    if answer.recommends:
        console.print(Text(f"recommends: {', '.join(answer.recommends)} (p in the Bruno pane queues it for review)"), style="dim")
    console.print(Text(f"— {answer.generator}"), style="dim")
    return EXIT_OK


def run_chat(settings, args) -> int:
    """``chat stats`` and ``chat export``."""
    from sreconsole.services.chat import metrics_for

    metrics = metrics_for(settings)
    if args.chat_command == "export":
        if args.file == "-":
            metrics.export(sys.stdout, args.only)
            return EXIT_OK
        try:  # 0600 from the start: questions and answers, like the files they come from
            fd = os.open(args.file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                n = metrics.export(out, args.only)
        except OSError as exc:
            print(f"sreconsole: chat export {args.file}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_CONFIG
        print(f"{n} rated answer{'s' if n != 1 else ''} written to {args.file}", file=sys.stderr)
        return EXIT_OK
    stats = metrics.stats()
    if args.json:
        write_json({**stats.as_dict(), "kept_in": str(metrics.directory)})
        return EXIT_OK

    def share(x):
        return "-" if x is None else f"{x:.1%}"

    def ms(x):
        return "-" if x is None else f"{x:,.0f} ms"

    lat = stats.latency_ms
    intents = ", ".join(f"{k} {v}" for k, v in sorted(stats.by_intent.items(), key=lambda kv: -kv[1])) or "none yet"
    for what, figure in (
        ("answers", f"{stats.answers:,} ({intents})"),
        ("RAG usage rate", share(stats.rag_usage_rate)),
        ("citation rate", share(stats.citation_rate)),
        ("knowledge-base coverage", share(stats.kb_coverage)),
        ("latency p50 / p95 / p99", f"{ms(lat.get('p50'))} / {ms(lat.get('p95'))} / {ms(lat.get('p99'))}"),
        ("ratings", f"{stats.up} up, {stats.down} down ({share(stats.rated_share)} of answers rated)"),
        ("kept in", str(metrics.directory)),
    ):
        print(f"{what:26s} {figure}")
    return EXIT_OK
