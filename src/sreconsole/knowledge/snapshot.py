"""What a reader loads from the knowledge store into memory: chunk metadata, vectors (with
the IVF lists when the store has them), BM25 postings and incidents, read through Arrow in
one read-only connection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sreconsole.knowledge.store_file import BATCH_ROWS, StoreError, no_pandas, read_meta, reading, stream_vectors
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


@no_pandas  # pyarrow's to_numpy imports pandas otherwise (store_file)
def load_snapshot(path: Path, model_id: str) -> Snapshot:
    """Everything search needs, read from the live file through one read-only connection
    that is closed before returning (so no reader holds a lock a writer could trip over).

    Every table is streamed in record batches into arrays sized once (no ``ORDER BY`` for
    DuckDB to materialise; rows are put in chunk-id order here), repeated strings (paths,
    kinds, alert names, headings) are held once, and the C heap is trimmed at the end: a
    reader of a 100k-chunk store held ~950 MB before, for ~470 MB of data
    (bench/kb_speed.py, "reader RSS")."""
    with reading(path) as con:
        meta = read_meta(con)
        if meta.get("model_id") != model_id:
            raise StoreError(
                f"{path} was built with model {meta.get('model_id')!r} but settings name {model_id!r}"
            )
        rows = _chunk_rows(con)
        ids = rows["chunk_id"]
        vec_ids, stream = stream_vectors(con)
        if len(vec_ids) != len(ids):
            raise StoreError(f"{path} is inconsistent: {len(ids)} chunks but {len(vec_ids)} vectors; re-run `kb index`")
        postings = _postings(con, ids, rows["n_tokens"])
        centroids = offsets = None
        vec_rows = np.arange(len(ids))
        lists = con.execute("SELECT l.chunk_id, l.list_id FROM ivf_lists l ORDER BY l.list_id, l.chunk_id").fetchnumpy()
        if len(lists["chunk_id"]) == len(ids) and len(ids):
            cent = con.execute("SELECT vec FROM ivf_centroids ORDER BY list_id").to_arrow_table().column("vec").combine_chunks()
            centroids = cent.values.to_numpy(zero_copy_only=False).reshape(-1, cent.type.list_size).astype(np.float32)
            vec_rows = np.searchsorted(ids, lists["chunk_id"])
            offsets = np.searchsorted(lists["list_id"], np.arange(len(centroids) + 1))
        # One gather puts the streamed vectors in the order search wants (IVF list order).
        at_row = np.empty(len(ids), dtype=np.int64)
        at_row[np.searchsorted(ids, vec_ids)] = np.arange(len(vec_ids))
        vecs = stream[at_row[vec_rows]]
        del stream
        incidents = _incidents(con, {int(c): i for i, c in enumerate(ids)})
    _trim_heap()
    return Snapshot(
        ids=ids,
        paths=rows["path"],
        kinds=np.asarray(rows["kind"], dtype=object),
        alertnames=np.asarray(rows["alertname"], dtype=object),
        headings=rows["heading"],
        starts=rows["start_line"],
        ends=rows["end_line"],
        texts=rows["text"],
        ts=rows["ts"],
        vectors=vecs,
        vec_rows=vec_rows,
        vec_pos=np.argsort(vec_rows),
        centroids=centroids,
        offsets=offsets,
        postings=postings,
        meta=meta,
        incidents=incidents,
    )


_STRINGS = ("path", "kind", "alertname", "heading", "text")
_NUMBERS = {"chunk_id": np.int64, "start_line": np.int64, "end_line": np.int64, "n_tokens": np.float32, "ts": np.float64}


def _chunk_rows(con) -> dict:
    """The chunks table, column by column, in chunk-id order: numbers as numpy arrays
    (``ts`` NaN where none), strings as lists in which a repeated value is one object."""
    n = con.execute("SELECT count(*) FROM chunks").fetchone()[0]
    reader = con.execute(
        "SELECT chunk_id, path, kind, coalesce(alertname, '') AS alertname, heading, start_line, end_line, text, "
        "n_tokens, epoch(ts) AS ts FROM chunks"
    ).to_arrow_reader(BATCH_ROWS)
    nums = {k: np.empty(n, dtype=t) for k, t in _NUMBERS.items()}
    strs: dict[str, list] = {k: [] for k in _STRINGS}
    seen: dict[str, str] = {}
    at = 0
    for batch in reader:
        m = min(batch.num_rows, n - at)
        for k in _NUMBERS:
            col = batch.column(k).slice(0, m)
            nums[k][at : at + m] = col.to_numpy(zero_copy_only=False) if k != "ts" else col.fill_null(float("nan")).to_numpy(zero_copy_only=False)
        for k in _STRINGS:
            values = batch.column(k).slice(0, m).to_pylist()
            strs[k].extend(values if k == "text" else [seen.setdefault(v, v) if v is not None else v for v in values])
        at += m
    order = np.argsort(nums["chunk_id"][:at], kind="stable")
    out: dict = {k: v[:at][order] for k, v in nums.items()}
    for k, values in strs.items():
        out[k] = [values[i] for i in order.tolist()]
    return out


def _postings(con, ids: np.ndarray, lengths: np.ndarray) -> Postings:
    """BM25 postings, streamed into arrays sized from the row count."""
    n = con.execute("SELECT count(*) FROM postings").fetchone()[0]
    rows = np.empty(n, dtype=np.int32)  # int32: 7M postings at 100k chunks, half the transient memory
    terms = np.empty(n, dtype=np.int32)
    tfs = np.empty(n, dtype=np.float32)
    at = 0
    for batch in con.execute("SELECT chunk_id, term_id, tf FROM postings").to_arrow_reader(BATCH_ROWS):
        m = min(batch.num_rows, n - at)
        rows[at : at + m] = np.searchsorted(ids, batch.column(0).to_numpy()[:m])
        terms[at : at + m] = batch.column(1).to_numpy()[:m] - 1
        tfs[at : at + m] = batch.column(2).to_numpy()[:m]
        at += m
    vocab = dict(con.execute("SELECT term, term_id - 1 FROM terms").fetchall())
    return Postings.build(rows[:at], terms[:at], tfs[:at], lengths, vocab)


def _incidents(con, row_of: dict[int, int]) -> dict[int, dict]:
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
    return incidents


def _trim_heap() -> None:
    """Hand the C heap's free pages back to the system (glibc ``malloc_trim``): the load's
    temporaries are freed by then, but glibc keeps small and mid-sized freed blocks in the
    process. A no-op where the C library has no such call."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
