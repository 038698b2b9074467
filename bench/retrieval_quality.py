#!/usr/bin/env python3
"""Retrieval quality on the prometheus-operator runbooks: recall@1, recall@5 and MRR.

Questions: ``bench/data/retrieval_questions.jsonl`` (written from the runbooks before any
tuning; odd ids are the dev half, even ids the test half — tune on dev only). A question
is answered at rank r when the r-th distinct *file* among the hits is one of its relevant
files. Modes: BM25 only, vectors only, hybrid (RRF).

Run: ``.venv/bin/python bench/retrieval_quality.py [--chunk-words 80 160 320] [--max-tokens 128 256]``
Each (chunk words, max tokens) pair indexes the corpus into a fresh temporary store.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("SRECONSOLE_CORPUS", ROOT.parent / "shared" / "corpus")) / "runbooks" / "prometheus-operator"
QUESTIONS = ROOT / "bench" / "data" / "retrieval_questions.jsonl"
SETS = {"simple": QUESTIONS, "paraphrased": ROOT / "bench" / "data" / "retrieval_paraphrased.jsonl"}


def evaluate(kb, questions, mode: str) -> dict:
    r1 = r5 = rr = 0.0
    for q in questions:
        result = search(kb, q["query"], mode)
        files: list[str] = []
        for hit in result.hits:
            rel = os.path.relpath(hit.path, CORPUS)
            if rel not in files:
                files.append(rel)
        rank = next((i + 1 for i, f in enumerate(files) if f in q["relevant"]), None)
        if rank:
            r1 += rank == 1
            r5 += rank <= 5
            rr += 1 / rank
    n = len(questions) or 1
    return {"recall@1": r1 / n, "recall@5": r5 / n, "mrr": rr / n}


def search(kb, query: str, mode: str):
    """``bm25``, ``vector``, ``hybrid`` are the store's own modes; any other mode is a
    :mod:`sreconsole.knowledge.rerank` option name (what Bruno's retrieval can add)."""
    if mode in ("bm25", "vector", "hybrid"):
        return kb.search(query, 30, mode=mode)
    from sreconsole.knowledge import rerank

    return rerank.search(kb, query, 30, options=mode.split("+"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunk-words", type=int, nargs="+", default=[160])
    ap.add_argument("--max-tokens", type=int, nargs="+", default=[128])
    ap.add_argument("--split", choices=["dev", "test", "both"], default="both")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--set", choices=sorted(SETS), default="simple", help="simple: the 121; paraphrased: the questions naming no alert")
    ap.add_argument("--modes", nargs="+", default=["bm25", "vector", "hybrid"],
                    help="store modes, or rerank options joined with + (e.g. files+expand)")
    args = ap.parse_args()
    if not CORPUS.is_dir():
        print(f"corpus not found at {CORPUS} (set SRECONSOLE_CORPUS)", file=sys.stderr)
        return 2
    questions = [json.loads(line) for line in SETS[args.set].read_text().splitlines() if line.strip()]
    splits = ["dev", "test"] if args.split == "both" else [args.split]
    from sreconsole.knowledge import embedder as emb
    from sreconsole.knowledge.search import KnowledgeBase
    from sreconsole.knowledge.store import writer

    print(f"# retrieval quality — {date.today()} — {platform.node()} ({os.cpu_count()} CPUs)")
    print(f"# {len(questions)} questions ({args.set}) over {CORPUS}")
    rows = []
    for max_tokens in args.max_tokens:
        emb.MAX_TOKENS = max_tokens
        emb._shipped_dir = None
        for words in args.chunk_words:
            with tempfile.TemporaryDirectory() as tmp:
                e = emb.Embedder()
                store = Path(tmp) / "kb.duckdb"
                t0 = time.perf_counter()
                with writer(store, e, chunk_words=words) as w:
                    summary = w.index([CORPUS])
                index_s = time.perf_counter() - t0
                kb = KnowledgeBase(store, e)
                for split in splits:
                    qs = [q for q in questions if q["split"] == split]
                    for mode in args.modes:
                        m = evaluate(kb, qs, mode)
                        row = {"chunk_words": words, "max_tokens": max_tokens, "chunks": summary.chunks_written, "index_s": round(index_s, 1), "split": split, "n": len(qs), "mode": mode, **{k: round(v, 3) for k, v in m.items()}}
                        rows.append(row)
                        if args.json:
                            print(json.dumps(row))
                        else:
                            print(
                                f"words={words:4d} tokens={max_tokens:3d} chunks={summary.chunks_written:4d} index={index_s:5.1f}s "
                                f"{split:4s} n={len(qs):3d} {mode:14s}  R@1={m['recall@1']:.3f}  R@5={m['recall@5']:.3f}  MRR={m['mrr']:.3f}",
                                flush=True,
                            )
                kb.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
