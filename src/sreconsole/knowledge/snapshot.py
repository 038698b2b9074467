"""What a reader loads from the knowledge store into memory: chunk metadata, vectors (with
the IVF lists when the store has them), BM25 postings and incidents, read through Arrow in
one read-only connection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sreconsole.knowledge.store_file import StoreError, load_vectors, read_meta, reading
from sreconsole.knowledge.textindex import Postings


@dataclass
class Snapshot:
    """The store as one reader holds it in memory: chunk metadata by row, vectors (permuted
    by IVF list when the store has lists), BM25 postings and the incidents."""

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


def load_snapshot(path: Path, model_id: str) -> Snapshot:
    """Everything search needs, read from the live file through one read-only connection
    that is closed before returning (so no reader holds a lock a writer could trip over)."""
    with reading(path) as con:
        meta = read_meta(con)
        if meta.get("model_id") != model_id:
            raise StoreError(
                f"{path} was built with model {meta.get('model_id')!r} but settings name {model_id!r}"
            )
        t = con.execute(
            "SELECT chunk_id, path, kind, coalesce(alertname, '') AS alertname, heading, start_line, end_line, text, "
            "epoch(ts) AS ts FROM chunks ORDER BY chunk_id"
        ).to_arrow_table()
        ids = t.column("chunk_id").to_numpy()
        ids_v, vecs = load_vectors(con)
        if len(ids_v) != len(ids):
            raise StoreError(f"{path} is inconsistent: {len(ids)} chunks but {len(ids_v)} vectors; re-run `kb index`")
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
        return Snapshot(
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
