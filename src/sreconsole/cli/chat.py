"""``sreconsole ask …``: ask Bruno one question, or a file of them, headless.

Exit codes: 0 answered (an "I don't know" is an answer); 2 bad arguments. Citation paths
are absolute and line numbers 1-based and inclusive, as in ``kb search``.
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
    from sreconsole.domain.operator import Operator
    from sreconsole.services.review import ReviewQueue

    return ReviewQueue(settings, Operator.from_environ(os.environ))


def _absolute(path: str) -> str:
    from sreconsole.domain.chat import RECORD_PREFIXES

    return path if path.startswith(RECORD_PREFIXES) else os.path.abspath(path)


def _batch_record(answer) -> dict:
    out = {
        "query": answer.query,
        "answer": answer.text,
        "generator": answer.generator,
        "citations": [{**c.as_dict(), "path": _absolute(c.path)} for c in answer.citations],
    }
    if answer.recommends:
        out["recommends"] = list(answer.recommends)
    if answer.note:
        out["note"] = answer.note
    return out


def run_ask(settings, args) -> int:
    from sreconsole.services.chat import make_bruno

    question = getattr(args, "question", None)
    batch = getattr(args, "batch", None)
    if bool(question) == bool(batch):
        print("sreconsole: ask needs a QUESTION or --batch FILE (not both)", file=sys.stderr)
        return EXIT_CONFIG
    bruno = make_bruno(settings, _CliKnowledge(settings), review_queue=_review_queue(settings), alerts=_live_alerts(settings))
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
                write_json_line(_batch_record(bruno.ask(q)))
        return EXIT_OK
    # argv bytes that are not UTF-8 arrive as lone surrogates: read them as U+FFFD.
    question = question.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    answer = bruno.ask(question)
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
