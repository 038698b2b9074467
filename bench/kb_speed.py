#!/usr/bin/env python3
"""Knowledge-base speed at 100,000 chunks, side by side with ChromaDB in the same run.

The corpus: the prometheus-operator runbooks and the demo knowledge, chunked, then grown
to ``--chunks`` with generated variations (names, numbers and sentence order changed), as
Markdown files on disk so that indexing goes through the real pipeline.

Embeddings: the MiniLM model runs ~30 chunks/s on a 2-core machine, so embedding 100k
distinct texts would take about an hour. The model therefore embeds the base chunks for
real and every variation gets its base vector plus noise, renormalised (they cluster like
real text, which matters for IVF). Those vectors are put into the embedding cache before
indexing, so:

* **warm indexing** is the full pipeline (read, chunk, tokenise, postings, cache lookups,
  writes, IVF lists) with no model calls, compared with ChromaDB adding the same documents
  with the same vectors;
* **cold indexing** (model included) is measured on a sample of real texts and reported
  as chunks/s; at 100k it is model-bound and the same for any store.

Queries: the 121 retrieval questions, each embedded fresh (no cache) for the end-to-end
figures. Also measured: a result-cache hit, a cold process answering a query whose
embedding is cached, DuckDB ``array_cosine_distance`` and ``fts`` ``match_bm25`` on the
same data (why search runs in memory), exact vs IVF vector search with recall, and
optionally DuckDB HNSW (``--hnsw``; its build takes minutes).

Run: ``.venv/bin/python bench/kb_speed.py [--chunks 100000] [--hnsw]`` (needs the bench extra:
``pip install -e '.[bench]'`` for ChromaDB).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("SRECONSOLE_CORPUS", ROOT.parent / "shared" / "corpus")) / "runbooks" / "prometheus-operator"
DEMO = ROOT / "src" / "sreconsole" / "sources" / "demo" / "knowledge"
QUESTIONS = ROOT / "bench" / "data" / "retrieval_questions.jsonl"
SECTIONS_PER_FILE = 50

NAMES = ["payments", "checkout", "search", "ledger", "billing", "auth", "catalog", "orders", "media", "inventory"]
NODES = [f"worker-{i}" for i in range(1, 40)]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def fmt_ms(values: list[float]) -> str:
    return f"p50 {statistics.median(values) * 1e3:7.2f} ms  p95 {pct(values, 95) * 1e3:7.2f} ms"


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


READER_CHILD = r"""
import json, sys
def status():
    out = {}
    for line in open("/proc/self/status"):
        key, value = line.split(":", 1)
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) / 1024
    return out
kind, store, questions = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
if kind == "sreconsole":
    from pathlib import Path
    from sreconsole.knowledge.embedder import Embedder
    from sreconsole.knowledge.search import KnowledgeBase
    kb = KnowledgeBase(Path(store), Embedder(), caches=False)
    kb.snapshot()
    opened = status()
    for q in questions:
        kb.search(q, 5)
else:
    import chromadb
    from sreconsole.knowledge.embedder import Embedder
    embedder = Embedder()
    col = chromadb.PersistentClient(path=store).get_collection("kb-speed")
    opened = status()
    for q in questions:
        col.query(query_embeddings=[embedder.embed_query(q)], n_results=5)
print("READER_RSS " + json.dumps({"opened": opened["VmRSS"], "after_queries": status()["VmRSS"], "peak": status()["VmHWM"]}))
"""
"""A fresh process that opens a store, answers queries with the model loaded (no caches),
and reports its resident memory: what every operator's console on a bastion pays. The
bench process's own peak is not that figure: it has also built the store."""


def reader_rss(kind: str, store: Path, questions: list[str]) -> dict:
    out = subprocess.run([sys.executable, "-c", READER_CHILD, kind, str(store), json.dumps(questions)],
                         capture_output=True, text=True, check=True)
    found = re.search(r"READER_RSS (\{.*?\})", out.stdout)  # progress bars may share the line
    if not found:
        raise RuntimeError(f"the reader process printed no figure: {out.stderr[-400:]}")
    return json.loads(found.group(1))


def base_sections() -> list[tuple[str, str]]:
    """(heading, body) of every chunk of the real documents."""
    from sreconsole.knowledge.chunking import chunk_markdown

    out = []
    for path in sorted(list(CORPUS.rglob("*.md")) + list(DEMO.glob("*.md"))):
        for c in chunk_markdown(path.read_text(encoding="utf-8")):
            body = "\n".join(line for line in c.text.splitlines() if not line.startswith("#")).strip()
            if body:
                out.append((c.heading.split(" > ")[-1] or path.stem, body))
    return out


def vary(rng: random.Random, body: str) -> str:
    sentences = re.split(r"(?<=[.!?])\s+|\n+", body)
    sentences = [s for s in sentences if s.strip()]
    if len(sentences) > 3:
        keep = rng.sample(range(len(sentences)), k=max(2, int(len(sentences) * 0.8)))
        sentences = [sentences[i] for i in sorted(keep)]
    text = " ".join(sentences)
    text = re.sub(r"\b(namespace|pod|node)\b", lambda m: f"{m.group(1)} {rng.choice(NAMES)}-{rng.randint(1, 99)}", text, count=3)
    text = re.sub(r"\b\d+\b", lambda m: str(rng.randint(1, 500)), text)
    return f"In {rng.choice(NAMES)} on {rng.choice(NODES)}: {text}"


def write_corpus(directory: Path, sections: list[tuple[str, str]], total: int, seed: int = 1) -> list[tuple[int, str, str]]:
    """Markdown files of SECTIONS_PER_FILE sections each; returns (base index, heading, body)."""
    rng = random.Random(seed)
    rows: list[tuple[int, str, str]] = []
    for i in range(total):
        b = i % len(sections) if i < len(sections) else rng.randrange(len(sections))
        heading, body = sections[b]
        text = body if i < len(sections) else vary(rng, body)
        rows.append((b, f"{heading} {i}", text))
    for f in range(0, total, SECTIONS_PER_FILE):
        part = rows[f : f + SECTIONS_PER_FILE]
        doc = "\n\n".join(f"## {h}\n\n{t}" for _, h, t in part)
        (directory / f"doc{f // SECTIONS_PER_FILE:05d}.md").write_text(f"# Generated runbook {f}\n\n{doc}\n", encoding="utf-8")
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--hnsw", action="store_true", help="also build DuckDB's HNSW index (minutes at 100k)")
    ap.add_argument("--no-chroma", action="store_true")
    ap.add_argument("--cold-sample", type=int, default=300, help="real texts embedded for the cold-indexing figure")
    args = ap.parse_args()

    from sreconsole.knowledge.chunking import chunk_markdown
    from sreconsole.knowledge.embedder import Embedder
    from sreconsole.knowledge.offline import duckdb_extension_path
    from sreconsole.knowledge.search import KnowledgeBase
    from sreconsole.knowledge.store import Writer, embed_text, key_for, load_vectors

    print(f"# knowledge-base speed — {date.today()} — {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    tmp = Path(tempfile.mkdtemp(prefix="kb-speed-"))
    try:
        docs = tmp / "docs"
        docs.mkdir()
        sections = base_sections()
        t = time.perf_counter()
        # Small sibling sections merge into one chunk: write ~1.6 sections per wanted chunk.
        write_corpus(docs, sections, int(args.chunks * 1.6))
        print(f"corpus: {args.chunks} sections from {len(sections)} real ones, {len(list(docs.iterdir()))} files, "
              f"{sum(p.stat().st_size for p in docs.iterdir()) / 1e6:.0f} MB, written in {time.perf_counter() - t:.1f}s")

        embedder = Embedder()
        # Real vectors for the real sections; noisy copies for the variations.
        t = time.perf_counter()
        chunks_by_file = {p: chunk_markdown(p.read_text(encoding="utf-8")) for p in sorted(docs.iterdir())}
        texts = [embed_text(c.heading, c.text) for cs in chunks_by_file.values() for c in cs]
        print(f"chunks after chunking: {len(texts)} ({time.perf_counter() - t:.1f}s to chunk outside the index, for the vector seeding)")

        sample = [embed_text(h, b) for h, b in sections[: args.cold_sample]]
        t = time.perf_counter()
        sample_vecs = embedder.embed(sample)
        cold_rate = len(sample) / (time.perf_counter() - t)
        print(f"cold embedding (model): {cold_rate:.1f} chunks/s on {len(sample)} real chunks  -> 100k chunks would take {args.chunks / cold_rate / 60:.0f} min")
        base_vecs = embedder.embed([embed_text(h, b) for h, b in sections])
        rng = np.random.default_rng(0)
        rows = np.array([i % len(sections) for i in range(len(texts))])
        noise = rng.normal(scale=0.35 / np.sqrt(base_vecs.shape[1]) * 3, size=(len(texts), base_vecs.shape[1])).astype(np.float32)
        vecs = base_vecs[rows] + noise
        vecs[: len(sections)] = base_vecs
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)

        store = tmp / "kb.duckdb"
        with Writer(store, embedder) as w:
            w._insert_embeddings([key_for(embedder.model_id, x) for x in texts], vecs)
        del noise
        gc.collect()

        # -- indexing, warm cache ------------------------------------------------------
        t = time.perf_counter()
        with Writer(store, embedder) as w:
            summary = w.index([docs])
        warm_s = time.perf_counter() - t
        print(f"indexing, warm embedding cache: {summary.chunks_written} chunks in {warm_s:.1f}s = {summary.chunks_written / warm_s:,.0f} chunks/s "
              f"(embedded {summary.embedded}, from cache {summary.cached})")

        t = time.perf_counter()
        kb = KnowledgeBase(store, embedder, caches=False)
        snap = kb.snapshot()
        print(f"open (load snapshot into memory): {time.perf_counter() - t:.2f}s, vector search: {'ivf' if snap.centroids is not None else 'exact'}, RSS {rss_mb():.0f} MB")

        questions = [json.loads(line)["query"] for line in QUESTIONS.read_text().splitlines() if line.strip()]
        embedder.embed_query("warm up")

        def timed(fn, queries):
            out = []
            for q in queries:
                t0 = time.perf_counter()
                fn(q)
                out.append(time.perf_counter() - t0)
            return out

        lat = {}
        lat["embed"] = timed(embedder.embed_query, questions)
        for mode in ("bm25", "vector", "hybrid"):
            lat[mode] = timed(lambda q, m=mode: kb.search(q, 5, mode=m), questions)
        print(f"query embedding alone:          {fmt_ms(lat['embed'])}")
        for mode in ("bm25", "vector", "hybrid"):
            print(f"end-to-end {mode:6s} top-5 (+embed): {fmt_ms(lat[mode])}")

        cached_kb = KnowledgeBase(store, embedder)
        cached_kb.search(questions[0], 5)
        hits = timed(lambda q: cached_kb.search(questions[0], 5), range(200))
        print(f"result-cache hit:               p50 {statistics.median(hits) * 1e6:7.1f} µs  p95 {pct(hits, 95) * 1e6:7.1f} µs")
        for q in questions[:20]:
            cached_kb.search(q, 5)
        cold = KnowledgeBase(store, Embedder())
        cold.snapshot()
        cold_hits = timed(lambda q: cold.search(q, 5), questions[:20])
        print(f"cold process, query embedding cached: {fmt_ms(cold_hits)}; model loaded: {cold.embedder.loaded}")
        ours_rss = reader_rss("sreconsole", store, questions[:20])
        print(f"reader RSS, a fresh process with the store open: {ours_rss['opened']:.0f} MB; after 20 queries with the model loaded: "
              f"{ours_rss['after_queries']:.0f} MB; peak while loading {ours_rss['peak']:.0f} MB (goal <= 600 MB open)")

        # -- exact vs IVF ---------------------------------------------------------------
        qv = np.stack([embedder.embed_query(q) for q in questions])
        exact_lat, recall = [], []
        for q in qv:
            t0 = time.perf_counter()
            s = snap.vectors @ q
            best = np.argpartition(-s, 10)[:10]
            exact_lat.append(time.perf_counter() - t0)
            truth = set(snap.vec_rows[best].tolist())
            got = set(kb._vector_rank(snap, q, 10, None)[0].tolist())
            recall.append(len(truth & got) / 10)
        ivf_lat = timed(lambda q: kb._vector_rank(snap, q, 10, None), qv)
        print(f"numpy exact top-10:             {fmt_ms(exact_lat)}")
        print(f"store's vector search top-10:   {fmt_ms(ivf_lat)}  recall@10 vs exact {statistics.mean(recall):.3f}")

        # -- the same in DuckDB, for the record -------------------------------------------
        import duckdb

        con = duckdb.connect(str(store), read_only=True)
        dim = snap.vectors.shape[1]
        duck = timed(
            lambda q: con.execute(
                f"SELECT c.chunk_id FROM chunks c JOIN embeddings e ON e.key = c.embed_key "
                f"ORDER BY array_cosine_distance(e.vec, ?::FLOAT[{dim}]) LIMIT 5", [q.tolist()]
            ).fetchall(),
            qv[:30],
        )
        print(f"DuckDB exact array_cosine_distance top-5: {fmt_ms(duck)}")
        con.close()
        fts_db = tmp / "fts.duckdb"
        shutil.copyfile(store, fts_db)
        con = duckdb.connect(str(fts_db))
        con.execute(f"LOAD '{duckdb_extension_path('fts')}'")
        t = time.perf_counter()
        con.execute("PRAGMA create_fts_index('chunks', 'chunk_id', 'heading', 'text', stemmer='english', stopwords='english')")
        fts_build = time.perf_counter() - t
        fts = timed(
            lambda q: con.execute(
                "SELECT chunk_id, score FROM (SELECT chunk_id, fts_main_chunks.match_bm25(chunk_id, ?) AS score FROM chunks) "
                "WHERE score IS NOT NULL ORDER BY score DESC LIMIT 5", [q]
            ).fetchall(),
            questions[:30],
        )
        print(f"DuckDB fts match_bm25 top-5:    {fmt_ms(fts)} (index build {fts_build:.1f}s)")
        if args.hnsw:
            con.execute(f"LOAD '{duckdb_extension_path('vss')}'")
            con.execute("CREATE TABLE v AS SELECT c.chunk_id, e.vec FROM chunks c JOIN embeddings e ON e.key = c.embed_key")
            con.execute("SET hnsw_enable_experimental_persistence = true")
            t = time.perf_counter()
            con.execute("CREATE INDEX hv ON v USING HNSW (vec) WITH (metric = 'cosine')")
            hnsw_build = time.perf_counter() - t
            hnsw = timed(
                lambda q: con.execute(f"SELECT chunk_id FROM v ORDER BY array_cosine_distance(vec, ?::FLOAT[{dim}]) LIMIT 5", [q.tolist()]).fetchall(),
                qv[:30],
            )
            print(f"DuckDB HNSW top-5:              {fmt_ms(hnsw)} (index build {hnsw_build:.0f}s)")
        con.close()

        # -- ChromaDB, same documents, vectors and queries --------------------------------
        if not args.no_chroma:
            try:
                import chromadb
            except ImportError:
                print("ChromaDB not installed: pip install -e '.[bench]'")
                return 0
            ids, all_vecs = load_vectors(duckdb.connect(str(store), read_only=True))
            con = duckdb.connect(str(store), read_only=True)
            meta = con.execute("SELECT chunk_id, path, heading, start_line, end_line, text FROM chunks ORDER BY chunk_id").fetchall()
            con.close()
            client = chromadb.PersistentClient(path=str(tmp / "chroma"))
            col = client.create_collection("kb-speed", metadata={"hnsw:space": "cosine"}, embedding_function=None)
            t = time.perf_counter()
            step = 5000
            for a in range(0, len(meta), step):
                part = meta[a : a + step]
                col.add(
                    ids=[str(m[0]) for m in part],
                    embeddings=all_vecs[a : a + step],
                    documents=[m[5] for m in part],
                    metadatas=[{"path": m[1], "heading": m[2], "start_line": m[3], "end_line": m[4]} for m in part],
                )
            chroma_add = time.perf_counter() - t
            print(f"ChromaDB add (vectors given): {len(meta)} chunks in {chroma_add:.1f}s = {len(meta) / chroma_add:,.0f} chunks/s")
            chroma_q = timed(lambda q: col.query(query_embeddings=[embedder.embed_query(q)], n_results=5), questions)
            chroma_only = timed(lambda q: col.query(query_embeddings=[q], n_results=5), qv)
            print(f"ChromaDB vector top-5 (+embed): {fmt_ms(chroma_q)}")
            print(f"ChromaDB vector top-5 alone:    {fmt_ms(chroma_only)}")
            ratio_q = pct(lat["hybrid"], 95) / pct(chroma_q, 95)
            print(f"RATIO query p95, sreconsole hybrid (BM25+vector) / ChromaDB vector-only, both with embedding: {ratio_q:.2f}")
            print(f"RATIO indexing speed, sreconsole warm / ChromaDB add: {(summary.chunks_written / warm_s) / (len(meta) / chroma_add):.1f}x")
            del col, client
            gc.collect()
            chroma_rss = reader_rss("chroma", tmp / "chroma", questions[:20])
            print(f"ChromaDB reader RSS, fresh process: {chroma_rss['opened']:.0f} MB open, {chroma_rss['after_queries']:.0f} MB after 20 queries")
            print(f"RATIO reader RSS after 20 queries, sreconsole / ChromaDB: {ours_rss['after_queries'] / chroma_rss['after_queries']:.2f}")
        print(f"peak RSS of this bench process (it also built the store): {rss_mb():.0f} MB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
