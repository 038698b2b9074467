"""Bruno answers operators' questions from the knowledge base and the live state, citing
what each answer rests on.

A question is routed (:mod:`sreconsole.chat.routing`: rules, then the nearest example by
embedding) to one of four intents. Knowledge questions go to hybrid search; when nothing
comes back above :data:`MIN_SIMILARITY` Bruno says it does not know and where to look
instead of guessing. Otherwise a generator (:mod:`sreconsole.chat.generators`) writes the
answer over the numbered passages: Ollama or a local MLX model when configured, else the
extractive generator. Whatever a generator writes, markers naming no retrieved passage
are dropped, a sentence said twice is said once with both markers, and the rest are
renumbered ``[1]``, ``[2]``… in order of first mention, so ``[n]`` in the text is always
the n-th citation listed. A model that cannot be reached, or
fails mid-answer, is replaced by the extractive answer with a note saying why.

Documents are data: passage text is only quoted, and the prompt tells a model so. Bruno
holds no review or executor object beyond the queue's read-only ``list()`` and imports
nothing that can act on a cluster, so an instruction planted in a runbook has nothing to
call. What an answer recommends (:attr:`Answer.recommends`) is only offered to the
operator, who may queue it for review (:mod:`sreconsole.services.chat`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime

from sreconsole.chat import grounding, live
from sreconsole.chat.filters import Filters, Known, extract
from sreconsole.chat.extractive import ExtractiveGenerator
from sreconsole.chat.generators import Generator, GeneratorUnavailable, make_generator
from sreconsole.chat.recommend import recommended
from sreconsole.chat.routing import INTENTS, IntentRouter, Route, history_subject, route
from sreconsole.domain.chat import Answer, Citation
from sreconsole.domain.text import clean

__all__ = ["INTENTS", "MAX_QUESTION_CHARS", "Answer", "Bruno", "Citation", "route"]

MAX_QUESTION_CHARS = 2000
"""Longer pastes (a whole log) are cut here; the answer's note says so."""
TOP_K = 5
MIN_SIMILARITY = 0.25
"""Best cosine similarity (MiniLM) a question needs with some passage to be answered.
Measured on the prometheus-operator runbooks: on-topic questions score 0.35–0.77,
off-topic ones ("capital of France", "chocolate cake") 0.0–0.05."""


class Bruno:
    """One per console. The TUI calls it from a worker thread; its parts are thread-safe
    as far as the knowledge base and the generators are."""

    def __init__(
        self,
        settings,
        knowledge,
        review_queue=None,
        alerts: Callable[[], Sequence | None] | None = None,
        catalog=None,
        generator: Generator | None = None,
        generator_problem: str = "",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.settings = settings
        self.knowledge = knowledge
        """Anything with ``prepare()`` and ``knowledge_base()`` (the knowledge service)."""
        self.review_queue = review_queue
        self.alerts = alerts
        self._catalog = catalog
        self._generator = generator
        self.generator_problem = generator_problem
        """Why the configured generator is not the one answering ("" when it is)."""
        self._extractive: ExtractiveGenerator | None = None
        self.router = IntentRouter(self._embed)
        self.clock = clock or (lambda: datetime.now().astimezone())
        """Now, in the operator's time zone: "since 9am" and "today" are read in it."""

    # -- parts ---------------------------------------------------------------------------

    @property
    def catalog(self):
        if self._catalog is None:
            from pathlib import Path

            from sreconsole.triage.catalog import load_catalog

            extra = getattr(getattr(self.settings, "triage", None), "catalog", "")
            self._catalog = load_catalog(Path(extra).expanduser() if extra else None)
        return self._catalog

    def _action_ids(self) -> list[str]:
        try:
            return list(self.catalog.ids)
        except Exception:  # noqa: BLE001 - a broken user catalog must not stop the chat; a model proposes none
            return []

    @property
    def generator(self) -> Generator:
        """The configured generator (``chat.generator``), built on first use."""
        if self._generator is None:
            self._generator = make_generator(self.settings, self._action_ids())
        return self._generator

    @property
    def extractive(self) -> ExtractiveGenerator:
        if self._extractive is None:
            self._extractive = self.generator if isinstance(self.generator, ExtractiveGenerator) else ExtractiveGenerator()
        return self._extractive

    def _embed(self, texts: list[str]):
        """Query vectors through the knowledge base's persistent query cache: the routing
        examples are embedded once per store, not once per process."""
        import numpy as np

        self.knowledge.prepare()
        kb = self.knowledge.knowledge_base()
        return np.stack([kb.query_vector(t) for t in texts])

    # -- public ------------------------------------------------------------------------

    def ask(self, question: str, history: Sequence[tuple[str, str]] = ()) -> Answer:
        answer = None
        for item in self.stream(question, history):
            if isinstance(item, Answer):
                answer = item
        assert answer is not None
        return answer

    def stream(self, question: str, history: Sequence[tuple[str, str]] = ()) -> Iterator[str | Answer]:
        """Text as it is generated, then the final :class:`Answer`. The answer's text is
        authoritative: the grounding check may have dropped or renumbered markers that a
        streamed chunk showed."""
        started = time.perf_counter()
        question = clean(question or "", None, single_line=False)
        note = ""
        if len(question) > MAX_QUESTION_CHARS:
            note = f"question truncated to its first {MAX_QUESTION_CHARS:,} of {len(question):,} characters"
            question = question[:MAX_QUESTION_CHARS]
        routed = self.router.route(question)
        streamed = False
        if routed.intent == "smalltalk":
            answer = self._smalltalk(question)
        elif routed.intent == "capability":
            answer = self._capability(question)
        elif routed.intent == "live":
            answer = self._live(question, routed)
        else:
            answer = None
            for item in self._knowledge(question, history):
                if isinstance(item, Answer):
                    answer = item
                else:
                    streamed = True
                    yield item
        assert answer is not None
        recommends: tuple[str, ...] = ()
        # What runbooks and past incidents recommend, never what an alert's own labels or a
        # review record's text happen to contain.
        from_docs = answer.intent == "knowledge" or (answer.citations and all(c.path.startswith("incident:") for c in answer.citations))
        if from_docs and self._action_ids():
            recommends = recommended(answer.text, answer.citations, self.catalog, answer.generator)
        answer = replace(answer, text=clean(answer.text, None, single_line=False), note="; ".join(x for x in (note, answer.note) if x),
                         recommends=recommends, latency_ms=round((time.perf_counter() - started) * 1000, 2))
        if not streamed:
            yield answer.text
        yield answer

    # -- intents -----------------------------------------------------------------------

    def _smalltalk(self, question: str) -> Answer:
        return Answer(question, smalltalk_reply(question), "none", (), "smalltalk")

    def _capability(self, question: str) -> Answer:
        try:
            actions = list(self.catalog)
        except Exception as exc:  # noqa: BLE001 - CatalogError, OSError: one line
            return Answer(question, f"I cannot read the action catalog: {clean(exc, 300)}", "catalog", (), "capability")
        lines = [f"I can propose these {len(actions)} actions; every one waits for a human to approve it in the Review pane:"]
        lines += [f"- {a.id} — {a.title} (risk {a.risk})" for a in actions]
        return Answer(question, "\n".join(lines), "catalog", (), "capability")

    def _known(self, alerts: Sequence | None = None, records: Sequence | None = None) -> tuple[Known, list]:
        """What label values are real (the alerts given, the queue, the history), and the
        history's incidents (the store's records), for the filters of a live question."""
        incidents: list = []
        try:
            self.knowledge.prepare()
            incidents = list(self.knowledge.knowledge_base().snapshot().incidents.values())
        except Exception:  # noqa: BLE001 - no store, no history: fewer known values, no listing
            incidents = []
        if records is None and self.review_queue is not None:
            try:
                records = list(self.review_queue.list())
            except Exception:  # noqa: BLE001 - the review answer reports it; here it only narrows less
                records = None
        return Known.from_records(alerts or (), records or (), incidents), incidents

    def filters(self, question: str, alerts: Sequence | None = None, records: Sequence | None = None) -> Filters:
        """The label filters and time window Bruno reads in a live question."""
        known, _ = self._known(alerts, records)
        return extract(question, known, self.clock())

    def _live(self, question: str, routed: Route) -> Answer:
        if routed.topic == "review":
            if self.review_queue is None:
                return live.review(question, None, filters=Filters())
            try:
                records = list(self.review_queue.list())
            except Exception as exc:  # noqa: BLE001 - a locked or unreadable store: say so, don't crash the chat
                return live.review(question, None, str(exc) or type(exc).__name__, filters=Filters())
            return live.review(question, records, filters=self.filters(question, records=records))
        if routed.topic == "history":
            known, everything = self._known()
            f = extract(question, known, self.clock())
            subject = history_subject(question)
            if not subject and (f.labels or f.time):  # "incidents over the weekend": the history, narrowed
                everything.sort(key=lambda rec: str(rec.get("started_at") or ""), reverse=True)
                return live.history(question, "", everything, filters=f)
            if not subject:
                return live.history(question, "", (), filters=f)
            try:
                self.knowledge.prepare()
                single = {k: v for k, v in f.labels.items() if "|" not in v}
                incidents = self.knowledge.knowledge_base().similar_incidents(subject, single, k=10 if f.labels or f.time else 3)
            except Exception as exc:  # noqa: BLE001 - StoreError, EmbedderError, OSError: one readable line
                return live.history(question, subject, (), str(exc) or type(exc).__name__, filters=f)
            return live.history(question, subject, incidents, filters=f)
        if self.alerts is None:
            return live.firing(question, None, filters=Filters())
        try:
            alerts = self.alerts()
        except Exception as exc:  # noqa: BLE001 - any source failure reaches the operator as a line
            return live.firing(question, None, str(exc) or type(exc).__name__, filters=Filters())
        alerts = list(alerts or ())
        return live.firing(question, alerts, filters=self.filters(question, alerts=alerts))

    # -- knowledge ---------------------------------------------------------------------

    def retrieve(self, question: str) -> tuple[tuple, str]:
        """(passages, why there are none): BM25 and vector rankings fused with the query
        expanded from the runbooks' own words (:mod:`sreconsole.knowledge.rerank`), top-k,
        gated on the best vector similarity."""
        from sreconsole.knowledge import rerank

        try:
            self.knowledge.prepare()
            kb = self.knowledge.knowledge_base()
            result, best = rerank.search_with_similarity(kb, question, TOP_K, exclude_kind="incident")
            hits = result.hits
        except Exception as exc:  # noqa: BLE001 - StoreError, EmbedderError, OSError: one readable line
            return (), f"I can't search the knowledge base: {clean(exc, 300)}"
        if not hits or best < MIN_SIMILARITY:
            return (), self._dont_know()
        return hits, ""

    def _knowledge(self, question: str, history: Sequence[tuple[str, str]]) -> Iterator[str | Answer]:
        hits, why = self.retrieve(question)
        if not hits:
            yield Answer(question, why, "none", (), "knowledge")
            return
        generator, note = self.generator, self.generator_problem
        parts: list[str] = []
        try:
            for chunk in generator.generate(question, hits, history):
                parts.append(chunk)
                if generator.streams:
                    yield clean(chunk, None, single_line=False)
        except GeneratorUnavailable as exc:
            note = f"{generator.name} {'stopped' if parts else 'unavailable'}: {exc}; answered from the passages instead"
            note = "; ".join(x for x in (self.generator_problem, note) if x)
            generator, parts = self.extractive, list(self.extractive.generate(question, hits, history))
        yield self._grounded(question, "".join(parts), hits, generator.name, note)

    def _grounded(self, question: str, text: str, hits: Sequence, generator: str, note: str) -> Answer:
        text, cited = grounding.ground(grounding.without_repeats(text), len(hits))
        renumber = {old: new for new, old in enumerate(cited, 1)}
        text = grounding.MARKER.sub(lambda m: f"[{renumber[int(m.group(1))]}]", text).strip()
        cites = tuple(grounding.citation(renumber[n], hits[n - 1]) for n in cited)
        if re.match(r"\W*i (do not|don'?t) know\b", text, re.IGNORECASE):
            return Answer(question, self._dont_know(), generator, (), "knowledge", note)
        if not cites:
            note = "; ".join(x for x in (note, "the answer cites none of the retrieved passages: check it against the runbooks") if x)
        return Answer(question, text, generator, cites, "knowledge", note)

    def _dont_know(self) -> str:
        where = ", ".join(self.settings.knowledge.paths) or "the runbooks directory"
        try:
            store = f" (store {self.knowledge.knowledge_base().path})"
        except Exception:  # noqa: BLE001 - the hint is still useful without the path
            store = ""
        return (
            "I don't know: nothing in the knowledge base answers that question. "
            f"Look at `sreconsole kb search \"…\"` with other words, or in {where}{store}."
        )


_REPLIES = (
    (re.compile(r"\b(thanks?|thx|ty|cheers|appreciated?|ta)\b", re.I), "You're welcome. Ask me about a runbook, an alert or what's firing."),
    (re.compile(r"\b(bye|goodbye|cya|see (you|ya)|ttyl|night all|good night|gotta (go|run)|got to (go|run)|heading home|leaving)\b", re.I),
     "Bye. Good luck with the pager."),
    (re.compile(r"\b(brb|afk|bbl|hang on|one moment|one sec|back in)\b", re.I), "Sure, I'll be here."),
    (re.compile(r"^\W*(back|back again|i'?m back)\W*$", re.I), "Welcome back. Anything firing that I can look up?"),
    (re.compile(r"\b(there|alive|awake|around|still with me)\W*$", re.I), "I'm here. Ask me what's firing, what waits for review, or how to fix an alert."),
    (re.compile(r"\b(lol|lmao|rofl|haha\w*|hehe|heh|xd)\b", re.I), "Glad something's funny tonight. Anything I can look up?"),
    (re.compile(r"\b(useless|wrong|stupid|dumb|bad answer)\b", re.I),
     "Sorry about that. Press - on the answer (esc first) so it counts against me, and try other words."),
    (re.compile(r"\b(bot|robot|human|ai|your name|who are you|what are you)\b", re.I),
     "I'm Bruno, the console's assistant: I answer from the runbooks and the live alerts, queue and history, and cite what I used."),
    (re.compile(r"\b(ugh|long night|tired|exhausted|sigh)\b", re.I), "Sounds like a rough shift. Tell me what's firing and I'll find the runbook."),
    (re.compile(r"\b(test|testing|ping)\b", re.I), "Pong: I'm up. Ask me about an alert."),
)


def smalltalk_reply(question: str) -> str:
    """A short reply in kind: small talk gets an answer, not "I don't know"."""
    for pattern, reply in _REPLIES:
        if pattern.search(question):
            return reply
    return "Hi, I'm Bruno. Ask me how to handle an alert, what's firing, what waits for review, or what I can remediate."
