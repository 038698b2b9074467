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
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from sreconsole.knowledge.embedder import MAX_QUERY_CHARS, Embedder
from sreconsole.knowledge.store import StoreError, _connect, key_for, load_vectors, read_meta
from sreconsole.knowledge.textindex import MAX_QUERY_TERMS, Postings, Tokenizer, clean_text, rrf, top_k

MODES = ("hybrid", "bm25", "vector")
CANDIDATES = 50
"""How deep each ranking goes before fusion."""
NPROBE = 24
RESULT_CACHE = 512
RECENT = timedelta(days=7)


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
class SimilarIncident:
    incident_id: str
    alertname: str
    labels: dict[str, str]
    started_at: datetime
    resolved_at: datetime | None
    action: str
    outcome: str
    operator: str
    notes: str
    score: float
    reason: str


@dataclass(frozen=True)
class RunbookPassage:
    path: str
    alertname: str
    format: str
    part: str
    start_line: int
    end_line: int
    text: str


@dataclass
class _Snapshot:
    ids: np.ndarray  # chunk ids, row order
    paths: list[str]
    kinds: np.ndarray
    alertnames: np.ndarray
    headings: list[str]
    starts: np.ndarray
    ends: np.ndarray
    texts: list[str]
    ts: np.ndarray  # seconds since epoch, NaN where none
    vectors: np.ndarray  # (n, dim), rows permuted by IVF list when there are lists
    vec_rows: np.ndarray  # vectors[i] belongs to chunk row vec_rows[i]
    vec_pos: np.ndarray  # inverse: chunk row r is vectors[vec_pos[r]]
    centroids: np.ndarray | None
    offsets: np.ndarray | None
    postings: Postings
    meta: dict[str, str]
    incidents: dict[int, dict] = field(default_factory=dict)  # chunk row -> incident record


class KnowledgeBase:
    def __init__(self, path: Path, embedder: Embedder | None = None, *, caches: bool = True) -> None:
        """``caches=False`` turns off both caches (benchmarks measure the full path)."""
        self.path = Path(path)
        self.caches = caches
        self.embedder = embedder or Embedder()
        self.tokenizer = Tokenizer()
        self._snap: _Snapshot | None = None
        self._stamp: tuple[int, int] | None = None
        self._checked = 0.0
        self._results: OrderedDict[tuple, SearchResult] = OrderedDict()
        self._lock = threading.RLock()
        self._qcache: sqlite3.Connection | None = None

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

    def snapshot(self) -> _Snapshot:
        with self._lock:
            now = time.monotonic()
            if self._snap is not None and now - self._checked < 1.0:
                return self._snap
            self._checked = now
            stamp = self._file_stamp()
            if stamp is None:
                raise StoreError(f"no knowledge store at {self.path}; run `sreconsole kb index PATH` first")
            if self._snap is None or stamp != self._stamp:
                self._snap = self._load()
                self._stamp = stamp
                self._results.clear()
            return self._snap

    def _load(self) -> _Snapshot:
        con = _connect(self.path, read_only=True)
        try:
            meta = read_meta(con)
            if meta.get("model_id") != self.embedder.model_id:
                raise StoreError(
                    f"{self.path} was built with model {meta.get('model_id')!r} but settings name {self.embedder.model_id!r}"
                )
            t = con.execute(
                "SELECT chunk_id, path, kind, coalesce(alertname, '') AS alertname, heading, start_line, end_line, text, "
                "epoch(ts) AS ts FROM chunks ORDER BY chunk_id"
            ).to_arrow_table()
            ids = t.column("chunk_id").to_numpy()
            ids_v, vecs = load_vectors(con)
            if len(ids_v) != len(ids):
                raise StoreError(f"{self.path} is inconsistent: {len(ids)} chunks but {len(ids_v)} vectors; re-run `kb index`")
            row_of = {int(c): i for i, c in enumerate(ids)}
            post = con.execute("SELECT chunk_id, term_id, tf FROM postings").to_arrow_table()
            vocab = dict(con.execute("SELECT term, term_id - 1 FROM terms").fetchall())
            lengths = con.execute("SELECT n_tokens FROM chunks ORDER BY chunk_id").fetchnumpy()["n_tokens"].astype(np.float32)
            pc = post.column("chunk_id").to_numpy()
            rows = np.searchsorted(ids, pc)
            postings = Postings.build(rows, post.column("term_id").to_numpy().astype(np.int64) - 1, post.column("tf").to_numpy(), lengths, vocab)
            centroids = offsets = None
            vec_rows = np.arange(len(ids))
            lists = con.execute("SELECT l.chunk_id, l.list_id FROM ivf_lists l ORDER BY l.list_id, l.chunk_id").fetchnumpy()
            if len(lists["chunk_id"]) == len(ids) and len(ids):
                cent = con.execute("SELECT vec FROM ivf_centroids ORDER BY list_id").to_arrow_table().column("vec").combine_chunks()
                centroids = cent.values.to_numpy(zero_copy_only=False).reshape(-1, cent.type.list_size).astype(np.float32)
                vec_rows = np.searchsorted(ids, lists["chunk_id"])
                vecs = vecs[vec_rows]
                offsets = np.searchsorted(lists["list_id"], np.arange(len(centroids) + 1))
            incidents = {}
            for rec in con.execute(
                "SELECT incident_id, alertname, labels, started_at, resolved_at, action, outcome, operator, notes, chunk_id FROM incidents"
            ).fetchall():
                row = row_of.get(int(rec[9]))
                if row is not None:
                    incidents[row] = {
                        "incident_id": rec[0], "alertname": rec[1], "labels": json.loads(rec[2] or "{}"), "started_at": rec[3],
                        "resolved_at": rec[4], "action": rec[5], "outcome": rec[6], "operator": rec[7], "notes": rec[8],
                    }
            ts = t.column("ts").to_numpy(zero_copy_only=False)
            return _Snapshot(
                ids=ids,
                paths=t.column("path").to_pylist(),
                kinds=np.asarray(t.column("kind").to_pylist(), dtype=object),
                alertnames=np.asarray(t.column("alertname").to_pylist(), dtype=object),
                headings=t.column("heading").to_pylist(),
                starts=t.column("start_line").to_numpy(),
                ends=t.column("end_line").to_numpy(),
                texts=t.column("text").to_pylist(),
                ts=np.asarray(ts, dtype=np.float64),
                vectors=np.ascontiguousarray(vecs),
                vec_rows=vec_rows,
                vec_pos=np.argsort(vec_rows),
                centroids=centroids,
                offsets=offsets,
                postings=postings,
                meta=meta,
                incidents=incidents,
            )
        finally:
            con.close()

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
            return SearchResult(cached.query, cached.hits, cached.truncated, cached.note, cached=True)
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
        """Rows and cosine similarities, best first. Exact unless the store has IVF lists
        and no narrow filter (a filter that keeps few rows is scanned exactly: probing
        lists would find too few of them)."""
        narrow = mask is not None and mask.sum() < 0.05 * len(mask)
        if snap.centroids is not None and not narrow:
            best_lists = top_k(snap.centroids @ q, NPROBE)
            spans = [(snap.offsets[j], snap.offsets[j + 1]) for j in best_lists.tolist()]
            pos = np.concatenate([np.arange(a, b) for a, b in spans]) if spans else np.zeros(0, dtype=np.int64)
            sims = snap.vectors[pos] @ q
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
        con = _connect(self.path, read_only=True)
        try:
            rows = con.execute(
                "SELECT path, alertname, format, part, start_line, end_line, text FROM sections "
                "WHERE lower(alertname) = lower(?) ORDER BY path, start_line",
                [alertname],
            ).fetchall()
        finally:
            con.close()
        return [RunbookPassage(*r) for r in rows]

    def all_sections(self) -> list[RunbookPassage]:
        con = _connect(self.path, read_only=True)
        try:
            rows = con.execute("SELECT path, alertname, format, part, start_line, end_line, text FROM sections ORDER BY path, start_line").fetchall()
        finally:
            con.close()
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
        where = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in ("alertname", "severity"))
        query = f"Incident {alertname} ({where})\n{summary}".strip()
        q = self.query_vector(query)
        rows = np.fromiter(snap.incidents.keys(), dtype=np.int64)
        sims = snap.vectors[snap.vec_pos[rows]] @ q
        recent_cut = (now - RECENT).timestamp()
        picked: list[SimilarIncident] = []
        for tier in ("recent", "older"):
            in_tier = snap.ts[rows] >= recent_cut if tier == "recent" else snap.ts[rows] < recent_cut
            in_tier &= snap.ts[rows] <= now.timestamp()
            scores = np.where(in_tier, sims + self._label_bonus(snap, rows, alertname, labels), -np.inf)
            for i in top_k(scores, k - len(picked)).tolist():
                if not np.isfinite(scores[i]) or sims[i] < 0.35:
                    continue
                rec = snap.incidents[int(rows[i])]
                picked.append(self._incident(rec, float(sims[i]), tier, alertname, labels, now))
            if len(picked) >= k:
                break
        return picked

    @staticmethod
    def _label_bonus(snap, rows, alertname, labels) -> np.ndarray:
        out = np.zeros(len(rows), dtype=np.float32)
        for n, row in enumerate(rows.tolist()):
            rec = snap.incidents[row]
            if rec["alertname"] == alertname:
                out[n] += 0.2
                if labels.get("namespace") and rec["labels"].get("namespace") == labels.get("namespace"):
                    out[n] += 0.1
        return out

    @staticmethod
    def _incident(rec: dict, sim: float, tier: str, alertname: str, labels: Mapping[str, str], now: datetime) -> SimilarIncident:
        reasons = []
        if rec["alertname"] == alertname:
            reasons.append("same alert")
            same = [k for k in ("namespace", "deployment", "pod", "node", "persistentvolumeclaim") if labels.get(k) and rec["labels"].get(k) == labels.get(k)]
            if same:
                reasons[-1] += " on the same " + "/".join(same)
        else:
            reasons.append(f"similar alert {rec['alertname']}")
        reasons.append(f"similarity {sim:.2f}")
        started = rec["started_at"]
        if isinstance(started, datetime):
            age = now - (started if started.tzinfo else started.replace(tzinfo=timezone.utc))
            days = age.total_seconds() / 86400
            when = f"{days * 24:.0f} h ago" if days < 2 else f"{days:.0f} days ago"
            reasons.append(when + ("" if tier == "recent" else " (nothing closer in the last 7 days)"))
        return SimilarIncident(
            rec["incident_id"], rec["alertname"], rec["labels"], rec["started_at"], rec["resolved_at"], rec["action"] or "",
            rec["outcome"] or "", rec["operator"] or "", rec["notes"] or "", sim, "; ".join(reasons),
        )

    # -- stats -------------------------------------------------------------------------

    def stats(self) -> dict:
        con = _connect(self.path, read_only=True)
        try:
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
        finally:
            con.close()
        out["staging_left_by_interrupted_run"] = Path(str(self.path) + ".staging").exists()
        return out

    def close(self) -> None:
        if self._qcache is not None:
            self._qcache.close()
            self._qcache = None


def _positive(scores: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    keep = scores > 0
    return keep if mask is None else keep & mask
