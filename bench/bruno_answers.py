#!/usr/bin/env python3
"""Bruno with the extractive generator over the prometheus-operator runbooks: time to first
token (p50/p95), the share of answers that cite a runbook answering the question, and the
share with any invalid citation (a span that is not a retrieved passage or not in the file).

Questions: the 121 of ``bench/data/retrieval_questions.jsonl`` (written before any tuning,
each with its relevant runbook files). The first token of an extractive answer is the whole
answer (it is composed, not generated), so TTFT is the full ask() time after the first
question has warmed the model.

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

    def __init__(self, kb, path):
        self.kb, self.path = kb, path

    def prepare(self):
        pass

    def knowledge_base(self):
        return self.kb


def main() -> int:
    tmp = Path(tempfile.mkdtemp(prefix="sreconsole-bruno-bench-"))
    os.environ["SRECONSOLE_DATA_DIR"] = str(tmp)
    from sreconsole.chat.bruno import Bruno
    from sreconsole.config import load_settings
    from sreconsole.knowledge.embedder import Embedder
    from sreconsole.knowledge.search import KnowledgeBase
    from sreconsole.knowledge.store import Writer

    emb = Embedder()
    store = tmp / "kb.duckdb"
    t = time.perf_counter()
    with Writer(store, emb) as w:
        w.index([CORPUS])
    print(f"# Bruno answers — {date.today()} — {platform.node()}, {os.cpu_count()} CPUs; indexed {CORPUS.name} in {time.perf_counter() - t:.0f}s")
    kb = KnowledgeBase(store, emb, caches=False)
    bruno = Bruno(load_settings(), knowledge=Knowledge(kb, store))
    questions = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    bruno.ask("warm up: pod crash looping")
    lat, right, invalid, unknown = [], 0, 0, 0
    for q in questions:
        t0 = time.perf_counter()
        answer = bruno.ask(q["query"])
        lat.append(time.perf_counter() - t0)
        cited = {os.path.relpath(c.path, CORPUS) for c in answer.citations}
        if not answer.citations:
            unknown += 1
        if cited & set(q["relevant"]):
            right += 1
        for c in answer.citations:
            lines = Path(c.path).read_text(encoding="utf-8").splitlines()
            if not (1 <= c.start_line <= c.end_line <= len(lines)):
                invalid += 1
                break
    n = len(questions)
    print(f"time to first token (extractive): p50 {statistics.median(lat) * 1e3:.1f} ms  p95 {pct(lat, 95) * 1e3:.1f} ms  (goal p95 <= 150 ms)")
    print(f"answers citing a right runbook: {right}/{n} = {right / n:.3f}  (goal >= 0.9)")
    print(f"answers with an invalid citation: {invalid}/{n}  (goal 0); answered 'I don't know': {unknown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
