"""Reading the knowledge store: hybrid search, runbook sections and similar incidents.

A :class:`KnowledgeBase` loads what search needs (chunk metadata, vectors, BM25 postings)
from a read-only DuckDB connection, closes it, and answers from memory. It notices when a
writer has published a new store (the file's inode changes) and reloads.

Two caches, as the seeds ask for scale-to-zero:

* query embeddings persist in a small SQLite file beside the store (``<store>.qcache``),
  which any number of processes may write; a cold process answering a repeated query never
  loads the model;
* whole results are kept in memory (LRU) for the life of the process, keyed by the store's
  generation, so a repeated query costs a dictionary lookup.

What is loaded is :mod:`~sreconsole.knowledge.snapshot`; how past incidents are matched and
explained is :mod:`~sreconsole.knowledge.incidents` (beside the text the writer embeds).
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from sreconsole.knowledge.embedder import MAX_QUERY_CHARS, Embedder
from sreconsole.knowledge.incidents import RECENT, SimilarIncident, explained, incident_query, label_bonus
from sreconsole.knowledge.snapshot import Snapshot, load_snapshot
from sreconsole.knowledge.store_file import StoreError, key_for, read_meta, reading
from sreconsole.knowledge.textindex import MAX_QUERY_TERMS, Tokenizer, clean_text, rrf, top_k

MODES = ("hybrid", "bm25", "vector")
CANDIDATES = 50
"""How deep each ranking goes before fusion."""
NPROBE = 24
RESULT_CACHE = 512


@dataclass(frozen=True)
class Hit:
    path: str
    start_line: int
    end_line: int
    heading: str
    score: float
    text: str
    kind: str = ""
    alertname: str = ""
    chunk_id: int = 0

    def as_dict(self) -> dict:
        return {
            "path": self.path,
            "start_line": self.start_line,
            "end_line": self.end_line,
            "heading": self.heading,
            "score": round(self.score, 6),
            "text": self.text,
        }


@dataclass(frozen=True)
class SearchResult:
    query: str
    hits: tuple[Hit, ...]
    truncated: bool = False
    note: str = ""
    """Why the result is empty or partial, in words for the operator."""
    cached: bool = False


@dataclass(frozen=True)
class RunbookPassage:
    path: str
    alertname: str
    format: str
    part: str
    start_line: int
    end_line: int
    text: str


_BLAS: object | None = None


def _one_blas_thread():
    """A context in which numpy's BLAS runs on one thread. A query's products are
    matrix-vector products of a few thousand rows, which threads do not speed up; but
    OpenBLAS's threads then spin waiting for more work and take the CPU from the query
    embedding that follows (onnxruntime's own threads). On 2 cores that made hybrid search
    with its embedding 28 ms p95 instead of 10 (bench/README.md, "knowledge base at 100,000
    chunks", 2026-12-03). threadpoolctl's controller is built once: entering a limit is
    then ~20 µs."""
    global _BLAS
    if _BLAS is None:
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    return _BLAS.limit(limits=1, user_api="blas")


class KnowledgeBase:
    def __init__(self, path: Path, embedder: Embedder | None = None, *, caches: bool = True) -> None:
        """``caches=False`` turns off both caches (benchmarks measure the full path)."""
        self.path = Path(path)
        self.caches = caches
        self.embedder = embedder or Embedder()
        self.tokenizer = Tokenizer()
        self._snap: Snapshot | None = None
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        self._results: OrderedDict[tuple, SearchResult] = OrderedDict()
        self._lock = threading.RLock()
        self._qcache: sqlite3.Connection | None = None
        self.query_hits = 0
        """Searches answered from the result cache (the console's metrics read these two)."""
        self.query_misses = 0

    # -- loading ---------------------------------------------------------------------

    @property
    def exists(self) -> bool:
        return self.path.exists()

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns

    def snapshot(self) -> Snapshot:
        with self._lock:
            now = time.monotonic()
            if self._snap is not None and now - self._checked < 1.0:
                return self._snap
            self._checked = now
            stamp = self._file_stamp()
            if stamp is None:
                raise StoreError(f"no knowledge store at {self.path}; run `sreconsole kb index PATH` first")
            if self._snap is None or stamp != self._stamp:
                self._snap = load_snapshot(self.path, self.embedder.model_id)
                self._stamp = stamp
                self._results.clear()
            return self._snap

    # -- query embeddings --------------------------------------------------------------

    def _qcache_con(self) -> sqlite3.Connection | None:
        if not self.caches:
            return None
        if self._qcache is None:
            try:
                con = sqlite3.connect(str(self.path) + ".qcache", timeout=2.0, check_same_thread=False)
                con.execute("PRAGMA journal_mode=WAL")
                con.execute("CREATE TABLE IF NOT EXISTS q (key TEXT PRIMARY KEY, vec BLOB NOT NULL, used_at REAL)")
                self._qcache = con
            except sqlite3.Error:
                return None  # a read-only directory: just no persistent query cache
        return self._qcache

    def query_vector(self, text: str) -> np.ndarray:
        text = clean_text(text)
        key = key_for(self.embedder.model_id, text)
        con = self._qcache_con()
        if con is not None:
            try:
                row = con.execute("SELECT vec FROM q WHERE key = ?", (key,)).fetchone()
                if row:
                    return np.frombuffer(row[0], dtype=np.float32)
            except sqlite3.Error:
                pass
        vec = self.embedder.embed_query(text)
        if con is not None:
            try:
                with con:
                    con.execute("INSERT OR REPLACE INTO q VALUES (?, ?, ?)", (key, vec.astype(np.float32).tobytes(), time.time()))
            except sqlite3.Error:
                pass
        return vec

    # -- search ------------------------------------------------------------------------

    def search(
        self,
        query: str,
        k: int = 5,
        *,
        mode: str = "hybrid",
        kind: str | None = None,
        alertname: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        exclude_kind: str | None = None,
    ) -> SearchResult:
        """Top ``k`` passages for ``query``. ``kind`` keeps one kind of chunk,
        ``exclude_kind`` drops one (Bruno's knowledge answers skip incidents, which would
        otherwise crowd the runbook passages out of the top k)."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        query = clean_text(query)
        snap = self.snapshot()
        k = max(1, min(int(k), 100))
        key = (snap.meta.get("generation"), mode, query, k, kind, alertname, since, until, exclude_kind)
        cached = self._results.get(key) if self.caches else None
        if cached is not None:
            self._results.move_to_end(key)
            self.query_hits += 1
            return SearchResult(cached.query, cached.hits, cached.truncated, cached.note, cached=True)
        self.query_misses += 1
        result = self._search(snap, query, k, mode, kind, alertname, since, until, exclude_kind)
        self._results[key] = result
        if len(self._results) > RESULT_CACHE:
            self._results.popitem(last=False)
        return result

    def _search(self, snap, query, k, mode, kind, alertname, since, until, exclude_kind=None) -> SearchResult:
        truncated = len(query) > MAX_QUERY_CHARS
        text = query[:MAX_QUERY_CHARS]
        terms = self.tokenizer.tokens(text)
        if len(set(terms)) > MAX_QUERY_TERMS:
            truncated = True
            seen: dict[str, None] = {}
            for term in terms:
                seen.setdefault(term, None)
                if len(seen) == MAX_QUERY_TERMS:
                    break
            terms = list(seen)
        if not re.search(r"[^\W_]", text):
            return SearchResult(query, (), truncated, "the query has no words to search for")
        if len(snap.ids) == 0:
            return SearchResult(query, (), truncated, "the knowledge base is empty")
        mask = self._mask(snap, kind, alertname, since, until, exclude_kind)
        if mask is not None and not mask.any():
            return SearchResult(query, (), truncated, "no indexed passage matches the filters")
        rankings: list[np.ndarray] = []
        bm25_scores = None
        if mode in ("hybrid", "bm25"):
            bm25_scores = snap.postings.scores(terms)
            if bm25_scores is not None:
                ranked = top_k(bm25_scores, CANDIDATES, _positive(bm25_scores, mask))
                rankings.append(ranked)
        cos = None
        if mode in ("hybrid", "vector"):
            q = self.query_vector(text)
            rows, cos = self._vector_rank(snap, q, CANDIDATES, mask)
            rankings.append(rows)
        if mode == "bm25":
            if not rankings:
                return SearchResult(query, (), truncated, "none of the query's words occur in the knowledge base")
            scored = [(int(r), float(bm25_scores[r])) for r in rankings[0][:k]]
        elif mode == "vector":
            scored = list(zip(rankings[0][:k].tolist(), cos[:k].tolist()))
        else:
            scored = rrf(rankings, k)
        hits = tuple(self._hit(snap, row, score) for row, score in scored)
        return SearchResult(query, hits, truncated, "" if hits else "nothing relevant found")

    @staticmethod
    def _mask(snap, kind, alertname, since, until, exclude_kind=None) -> np.ndarray | None:
        mask = None

        def both(a, b):
            return b if a is None else a & b

        if kind:
            mask = both(mask, snap.kinds == kind)
        if exclude_kind:
            mask = both(mask, snap.kinds != exclude_kind)
        if alertname:
            mask = both(mask, np.char.lower(snap.alertnames.astype(str)) == alertname.lower())
        if since is not None:
            mask = both(mask, np.nan_to_num(snap.ts, nan=-np.inf) >= since.timestamp())
        if until is not None:
            mask = both(mask, np.nan_to_num(snap.ts, nan=np.inf) < until.timestamp())
        return mask

    def _vector_rank(self, snap, q: np.ndarray, n: int, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Rows and cosine similarities, best first, on one BLAS thread (see
        :func:`_one_blas_thread`)."""
        with _one_blas_thread():
            return self._vector_rank_inner(snap, q, n, mask)

    def _vector_rank_inner(self, snap, q: np.ndarray, n: int, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """Exact unless the store has IVF lists and no narrow filter (a filter that keeps
        few rows is scanned exactly: probing lists would find too few of them)."""
        narrow = mask is not None and mask.sum() < 0.05 * len(mask)
        if snap.centroids is not None and not narrow:
            best_lists = top_k(snap.centroids @ q, NPROBE)
            spans = [(snap.offsets[j], snap.offsets[j + 1]) for j in best_lists.tolist()]
            pos = np.concatenate([np.arange(a, b) for a, b in spans]) if spans else np.zeros(0, dtype=np.int64)
            # Each list is a contiguous block of rows: multiply views, never gather a copy.
            sims = np.concatenate([snap.vectors[a:b] @ q for a, b in spans]) if spans else np.zeros(0, dtype=np.float32)
            rows = snap.vec_rows[pos]
        elif narrow:
            rows = np.flatnonzero(mask)
            sims = snap.vectors[snap.vec_pos[rows]] @ q
        else:
            sims = snap.vectors @ q
            rows = snap.vec_rows
        keep = mask[rows] if mask is not None and not narrow else None
        best = top_k(sims, n, keep)
        return rows[best], sims[best]

    @staticmethod
    def _hit(snap, row: int, score: float) -> Hit:
        return Hit(
            path=snap.paths[row],
            start_line=int(snap.starts[row]),
            end_line=int(snap.ends[row]),
            heading=snap.headings[row] or "",
            score=float(score),
            text=snap.texts[row],
            kind=str(snap.kinds[row]),
            alertname=str(snap.alertnames[row]),
            chunk_id=int(snap.ids[row]),
        )

    # -- runbooks and incidents ------------------------------------------------------

    def runbook_sections(self, alertname: str) -> list[RunbookPassage]:
        """Alert-keyed parts from the structured runbooks, in file order."""
        with reading(self.path) as con:
            rows = con.execute(
                "SELECT path, alertname, format, part, start_line, end_line, text FROM sections "
                "WHERE lower(alertname) = lower(?) ORDER BY path, start_line",
                [alertname],
            ).fetchall()
        return [RunbookPassage(*r) for r in rows]

    def all_sections(self) -> list[RunbookPassage]:
        with reading(self.path) as con:
            rows = con.execute("SELECT path, alertname, format, part, start_line, end_line, text FROM sections ORDER BY path, start_line").fetchall()
        return [RunbookPassage(*r) for r in rows]

    def similar_incidents(self, alertname: str, labels: Mapping[str, str], summary: str = "", k: int = 3, now: datetime | None = None) -> list[SimilarIncident]:
        """Past incidents most like this alert: the last 7 days first, then older history
        (the seeds' tiered lookup). Each match says why it was chosen."""
        snap = self.snapshot()
        if not snap.incidents:
            return []
        now = now or datetime.now(timezone.utc)
        alertname = clean_text(alertname)
        labels = {clean_text(k): clean_text(v) for k, v in labels.items()}  # as add_incidents stored them
        q = self.query_vector(incident_query(alertname, labels, summary))
        rows = np.fromiter(snap.incidents.keys(), dtype=np.int64)
        sims = snap.vectors[snap.vec_pos[rows]] @ q
        recent_cut = (now - RECENT).timestamp()
        picked: list[SimilarIncident] = []
        for tier in ("recent", "older"):
            in_tier = snap.ts[rows] >= recent_cut if tier == "recent" else snap.ts[rows] < recent_cut
            in_tier &= snap.ts[rows] <= now.timestamp()
            scores = np.where(in_tier, sims + label_bonus(snap.incidents, rows, alertname, labels), -np.inf)
            for i in top_k(scores, k - len(picked)).tolist():
                if not np.isfinite(scores[i]) or sims[i] < 0.35:
                    continue
                rec = snap.incidents[int(rows[i])]
                picked.append(explained(rec, float(sims[i]), tier, alertname, labels, now))
            if len(picked) >= k:
                break
        return picked

    # -- stats -------------------------------------------------------------------------

    def stats(self) -> dict:
        with reading(self.path) as con:
            meta = read_meta(con)
            one = lambda sql: con.execute(sql).fetchone()[0]  # noqa: E731
            kinds = dict(con.execute("SELECT kind, count(*) FROM documents GROUP BY kind ORDER BY kind").fetchall())
            roots = [
                {"path": p, "state": s, "finished_at": f.isoformat() if f else None}
                for p, s, f in con.execute("SELECT path, state, finished_at FROM roots ORDER BY path").fetchall()
            ]
            out = {
                "store": str(self.path.resolve()),
                "size_bytes": self.path.stat().st_size,
                "model": meta.get("model_id"),
                "dim": int(meta.get("dim", 0)),
                "generation": int(meta.get("generation", 0)),
                "chunk_words": int(meta.get("chunk_words", 0)),
                "documents": one("SELECT count(*) FROM documents"),
                "documents_by_kind": kinds,
                "chunks": one("SELECT count(*) FROM chunks WHERE kind <> 'incident'"),
                "alert_sections": one("SELECT count(DISTINCT (path, alertname)) FROM sections"),
                "alerts_with_runbooks": one("SELECT count(DISTINCT alertname) FROM sections"),
                "incidents": one("SELECT count(*) FROM incidents"),
                "cached_embeddings": one("SELECT count(*) FROM embeddings"),
                "terms": one("SELECT count(*) FROM terms"),
                "vector_search": "ivf" if one("SELECT count(*) FROM ivf_centroids") else "exact",
                "roots": roots,
            }
        out["staging_left_by_interrupted_run"] = Path(str(self.path) + ".staging").exists()
        return out

    def close(self) -> None:
        if self._qcache is not None:
            self._qcache.close()
            self._qcache = None


def _positive(scores: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    keep = scores > 0
    return keep if mask is None else keep & mask
