#!/usr/bin/env python3
"""Bruno over the prometheus-operator runbooks, the 121 labelled questions of
``bench/data/retrieval_questions.jsonl`` (written before any tuning, each with the runbook
files that answer it):

1. **extractive**: time to first token, p50/p95 (the answer is composed, not generated, so
   its first token is the whole answer: TTFT is the full ``ask()`` time, routing and
   retrieval included); the share of answers citing a runbook that answers the question;
   the share with any invalid citation (a span that is not among the retrieved passages,
   or not inside its file);
2. **LLM generator**: the time Bruno adds before the request reaches the model — routing,
   retrieval, prompt building and the HTTP request through the ``ollama`` client — measured
   as the gap between calling ``ask()`` and the request arriving at a local stand-in that
   speaks Ollama's NDJSON chat API (tests/ollamastub.py; no real model runs here, so its
   generation time is not measured). In the same loop, question by question and in
   alternating order, the same Bruno with the store's plain hybrid search instead of
   :mod:`sreconsole.knowledge.rerank` (on a copy of the store, so neither shares the
   other's query cache): what the expansion and file fusion cost, even on a loaded machine.

Every question is new to the process (first-time embeddings, empty result cache), after one
warm-up question that loads the model and the routing examples.

Run: ``.venv/bin/python bench/bruno_answers.py``
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("SRECONSOLE_CORPUS", ROOT.parent / "shared" / "corpus")) / "runbooks" / "prometheus-operator"
QUESTIONS = ROOT / "bench" / "data" / "retrieval_questions.jsonl"


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


class Knowledge:
    """What Bruno needs of the knowledge service, over the bench's store."""

    def __init__(self, kb):
        self.kb = kb

    def prepare(self):
        pass

    def knowledge_base(self):
        return self.kb


def fresh_kb(store: Path, emb):
    """A knowledge base with no query cache yet (each run measures first-time questions)."""
    from sreconsole.knowledge.search import KnowledgeBase

    for side in (Path(str(store) + ".qcache"), Path(str(store) + ".qcache-wal"), Path(str(store) + ".qcache-shm")):
        side.unlink(missing_ok=True)
    return KnowledgeBase(store, emb)


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="sreconsole-bruno-bench-"))
    os.environ["SRECONSOLE_DATA_DIR"] = str(tmp)
    sys.path.insert(0, str(ROOT / "tests"))
    from ollamastub import OllamaStub

    from sreconsole.chat.bruno import Bruno
    from sreconsole.config import load_settings
    from sreconsole.knowledge.embedder import Embedder
    from sreconsole.knowledge.store import Writer

    emb = Embedder()
    store = tmp / "kb.duckdb"
    t = time.perf_counter()
    with Writer(store, emb) as w:
        w.index([CORPUS])
    print(f"# Bruno answers — {date.today()} — {platform.node()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f};"
          f" indexed {CORPUS.name} in {time.perf_counter() - t:.0f}s")
    settings = load_settings()
    questions = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]

    # 1. extractive
    bruno = Bruno(settings, Knowledge(fresh_kb(store, emb)))
    bruno.ask("warm up: pod crash looping")
    lat, right, invalid, unknown, routed_away = [], 0, 0, 0, 0
    for q in questions:
        t0 = time.perf_counter()
        answer = bruno.ask(q["query"])
        lat.append(time.perf_counter() - t0)
        if answer.intent != "knowledge":
            routed_away += 1
        cited = {os.path.relpath(c.path, CORPUS) for c in answer.citations}
        if not answer.citations:
            unknown += 1
        if cited & set(q["relevant"]):
            right += 1
        retrieved = {(h.path, h.start_line, h.end_line) for h in bruno.retrieve(q["query"])[0]}
        for c in answer.citations:
            lines = Path(c.path).read_text(encoding="utf-8").splitlines()
            if (c.path, c.start_line, c.end_line) not in retrieved or not (1 <= c.start_line <= c.end_line <= len(lines)):
                invalid += 1
                break
    n = len(questions)
    print(f"extractive time to first token: p50 {statistics.median(lat) * 1e3:.1f} ms  p95 {pct(lat, 95) * 1e3:.1f} ms  (goal p95 <= 150 ms)")
    print(f"answers citing a right runbook: {right}/{n} = {right / n:.3f}  (goal >= 0.9)")
    print(f"answers with an invalid citation: {invalid}/{n}  (goal 0); answered 'I don't know': {unknown}; routed away from the runbooks: {routed_away}")

    # 2. an LLM generator: what Bruno adds before the request
    class HybridOnly(Bruno):
        """Bruno as it retrieved before knowledge/rerank.py: the store's hybrid top-k."""

        def retrieve(self, question):
            kb = self.knowledge.knowledge_base()
            hits = kb.search(question, 5, exclude_kind="incident").hits
            best = kb.search(question, 1, mode="vector", exclude_kind="incident").hits if hits else ()
            return (hits, "") if hits and best and best[0].score >= 0.25 else ((), "none")

    import shutil

    copy = tmp / "kb-hybrid.duckdb"
    shutil.copy(store, copy)
    with OllamaStub(["The passages say so [1]."]) as stub:
        configured = replace(settings, ollama=replace(settings.ollama, url=stub.url, model="llama3.2:3b", timeout_s=30.0))
        llm = Bruno(configured, Knowledge(fresh_kb(store, emb)))
        plain = HybridOnly(configured, Knowledge(fresh_kb(copy, emb)))
        llm.ask("warm up: pod crash looping")
        plain.ask("warm up: pod crash looping")
        added, added_plain, retrieval = [], [], []

        def timed(b, q, into):
            before = len(stub.requests)
            t0 = time.perf_counter()
            answer = b.ask(q)
            if len(stub.requests) > before:
                into.append(stub.requests[-1][2] - t0)
            elif answer.generator != "none":
                raise SystemExit(f"no request for {q!r}: {answer.note}")

        for n, q in enumerate(questions):
            pair = [(llm, added), (plain, added_plain)]
            for b, into in (pair if n % 2 == 0 else pair[::-1]):
                timed(b, q["query"], into)
        # retrieval alone, for the breakdown: the query embedding and both searches, no cache
        from sreconsole.knowledge.search import KnowledgeBase

        bare = Bruno(settings, Knowledge(KnowledgeBase(store, emb, caches=False)))
        for q in questions:
            t0 = time.perf_counter()
            bare.retrieve(q["query"])
            retrieval.append(time.perf_counter() - t0)
    from sreconsole.knowledge.rerank import DEFAULT_OPTIONS

    print(f"LLM generator, time added before the request: p50 {statistics.median(added) * 1e3:.1f} ms  p95 {pct(added, 95) * 1e3:.1f} ms"
          f"  over {len(added)} requests  (goal <= 50 ms)")
    print(f"  the same with the store's plain hybrid search, interleaved: p50 {statistics.median(added_plain) * 1e3:.1f} ms"
          f"  p95 {pct(added_plain, 95) * 1e3:.1f} ms  -> Bruno's retrieval options ({'+'.join(DEFAULT_OPTIONS)}) add {(statistics.median(added) - statistics.median(added_plain)) * 1e3:.1f} ms at the median")
    print(f"  of which retrieval (query embedding + searches + similarity gate, no cache): p50 {statistics.median(retrieval) * 1e3:.1f} ms  p95 {pct(retrieval, 95) * 1e3:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
