"""The knowledge store's DuckDB file as both sides see it: its tables, how it is opened,
the embedding-cache key, and reading the vectors back.

The writer (:mod:`sreconsole.knowledge.store`) and the readers
(:mod:`sreconsole.knowledge.search`) both build on this; neither imports the other.
"""

from __future__ import annotations

import functools
import hashlib
import re
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

SCHEMA_VERSION = 1


class StoreError(RuntimeError):
    """Something about the store the operator must act on; ``str()`` is the message."""


class StoreBusy(StoreError):
    """Another process is writing the store."""


class StoreCorrupt(StoreError):
    """The file is not a readable DuckDB database any more (a bad block, a truncated or
    overwritten file). ``sreconsole kb index --rebuild`` moves it aside and builds anew."""

    def __init__(self, path: Path, detail: str) -> None:
        self.path = Path(path)
        self.detail = detail
        super().__init__(f"knowledge base is corrupt: run `sreconsole kb index --rebuild` ({self.path}: {detail})")


# DuckDB's words for "another process holds this file" (``Could not set lock on file "…":
# Conflicting lock is held in … (PID n)``) and for a damaged file. A bare "lock" is not
# enough: a corrupt block is reported "in block at location 8192".
_LOCKED = re.compile(r"could not set lock|conflicting lock", re.IGNORECASE)
_CORRUPT = re.compile(
    r"corrupt|checksum|not a valid duckdb database|could not read enough bytes|invalid magic|"
    r"failed to read database header|serializ|database file.*(?:truncated|too small)",
    re.IGNORECASE,
)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:240]


def as_store_error(path: Path, exc: BaseException) -> StoreError:
    """A DuckDB error on ``path`` as the operator must read it: busy, corrupt, or why not."""
    import duckdb

    text = str(exc)
    if _LOCKED.search(text):
        return StoreBusy(f"{path} is locked by another process: {_first_line(exc)}")
    if _CORRUPT.search(text) or isinstance(exc, duckdb.InternalException | duckdb.SerializationException | duckdb.FatalException):
        return StoreCorrupt(path, _first_line(exc))
    return StoreError(f"cannot use {path}: {_first_line(exc)}")


def corrupt_name(path: Path, now: datetime | None = None) -> Path:
    """Where a corrupt store is kept: ``knowledge.duckdb.corrupt-20261201T180000Z``."""
    stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    return target


def key_for(model_id: str, text: str) -> str:
    """Embedding-cache key: content hash of the model id and the exact text. Text from JSON
    may hold lone surrogates (an alert label Alertmanager carried as ``\\udce9``); they hash
    as themselves rather than raising."""
    return hashlib.sha256(f"{model_id}\x00{text}".encode("utf-8", "surrogatepass")).hexdigest()


def embed_text(heading: str, text: str) -> str:
    """What is embedded for a chunk: its heading path gives the passage its subject."""
    return f"{heading}\n{text}" if heading else text


def default_store_path(data_dir: Path) -> Path:
    return data_dir / "knowledge.duckdb"


# -- the store without pandas -------------------------------------------------------------
# DuckDB's Python client (1.5) imports pandas on every query with parameters, to ask whether
# a parameter is a pandas value, and pyarrow imports it on its first table built from a dict
# or column turned into numpy; both carry on without it where it is not installed. The store
# never hands either a pandas value, but pandas is installed (MLflow needs it), so a console's
# first knowledge query paid ~0.45 s of imports holding the GIL and 46-72 MB of RSS for
# nothing (bench/README.md, "Start-up", 2026-12-04). While a thread works on the store,
# pandas is "not installed" for that thread only; other threads, and code running where
# pandas is already imported, are untouched.

_WORKING = threading.local()


class _NoPandasForTheStore:
    """A meta-path finder: refuses ``pandas`` to a thread inside :func:`without_pandas`."""

    def find_spec(self, name: str, path=None, target=None):
        if name == "pandas" and getattr(_WORKING, "depth", 0):
            raise ModuleNotFoundError("pandas is kept out of the knowledge store's DuckDB and pyarrow calls", name=name)
        return None


_FINDER = _NoPandasForTheStore()


@contextmanager
def without_pandas() -> Iterator[None]:
    """Run the block with pandas refused to this thread (see above)."""
    if "pandas" in sys.modules:  # already imported by someone else: DuckDB may use it as it is
        yield
        return
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)
    _WORKING.depth = getattr(_WORKING, "depth", 0) + 1
    try:
        yield
    finally:
        _WORKING.depth -= 1


def no_pandas(fn: Callable) -> Callable:
    """:func:`without_pandas` around every call of ``fn``."""

    @functools.wraps(fn)
    def call(*args, **kwargs):
        with without_pandas():
            return fn(*args, **kwargs)

    return call


class Connection:
    """A DuckDB connection of the store whose every call runs :func:`without_pandas`.
    ``execute`` and ``executemany`` hand back this wrapper, so a chained ``.fetchall()``
    stays inside it too."""

    __slots__ = ("_con",)

    def __init__(self, con) -> None:
        self._con = con

    def execute(self, *args, **kwargs) -> Connection:
        with without_pandas():
            self._con.execute(*args, **kwargs)
        return self

    def executemany(self, *args, **kwargs) -> Connection:
        with without_pandas():
            self._con.executemany(*args, **kwargs)
        return self

    def __getattr__(self, name: str):
        attr = getattr(self._con, name)
        return no_pandas(attr) if callable(attr) else attr


def connect(path: Path, read_only: bool = False) -> Connection:
    """Open the store; :class:`StoreBusy` when another process holds it,
    :class:`StoreCorrupt` when it is damaged, :class:`StoreError` for anything else."""
    import duckdb

    try:
        return Connection(duckdb.connect(str(path), read_only=read_only))
    except duckdb.Error as exc:
        raise as_store_error(path, exc) from exc


@contextmanager
def reading(path: Path) -> Iterator:
    """A read-only connection, closed afterwards. A damaged file may open and fail on the
    first query that touches a bad block: every DuckDB error inside becomes a
    :class:`StoreError` too (corrupt, busy or why)."""
    import duckdb

    con = connect(path, read_only=True)
    try:
        yield con
    except duckdb.Error as exc:
        raise as_store_error(path, exc) from exc
    finally:
        con.close()


def create_schema(con, dim: int) -> None:
    con.execute(
        f"""
        CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
        CREATE TABLE IF NOT EXISTS roots (path VARCHAR PRIMARY KEY, state VARCHAR, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ);
        CREATE TABLE IF NOT EXISTS documents (
            doc_id BIGINT PRIMARY KEY, path VARCHAR UNIQUE, root VARCHAR, kind VARCHAR,
            size BIGINT, mtime_ns BIGINT, sha256 VARCHAR, indexed_at TIMESTAMPTZ, n_chunks INTEGER, n_sections INTEGER);
        CREATE TABLE IF NOT EXISTS chunks (
            chunk_id BIGINT, doc_id BIGINT, path VARCHAR, kind VARCHAR, alertname VARCHAR, heading VARCHAR,
            start_line INTEGER, end_line INTEGER, text VARCHAR, embed_key VARCHAR, n_tokens INTEGER, ts TIMESTAMPTZ);
        CREATE TABLE IF NOT EXISTS terms (term_id INTEGER PRIMARY KEY, term VARCHAR);
        CREATE TABLE IF NOT EXISTS postings (chunk_id BIGINT, term_id INTEGER, tf SMALLINT);
        CREATE TABLE IF NOT EXISTS embeddings (key VARCHAR PRIMARY KEY, model VARCHAR, vec FLOAT[{dim}], created_at TIMESTAMPTZ);
        CREATE TABLE IF NOT EXISTS sections (
            doc_id BIGINT, path VARCHAR, alertname VARCHAR, format VARCHAR, part VARCHAR,
            start_line INTEGER, end_line INTEGER, text VARCHAR);
        CREATE TABLE IF NOT EXISTS incidents (
            incident_id VARCHAR PRIMARY KEY, fingerprint VARCHAR, alertname VARCHAR, labels JSON, severity VARCHAR,
            namespace VARCHAR, started_at TIMESTAMPTZ, resolved_at TIMESTAMPTZ, action VARCHAR, outcome VARCHAR,
            operator VARCHAR, notes VARCHAR, chunk_id BIGINT);
        CREATE TABLE IF NOT EXISTS ivf_centroids (list_id INTEGER, vec FLOAT[{dim}]);
        CREATE TABLE IF NOT EXISTS ivf_lists (chunk_id BIGINT, list_id INTEGER);
        """
    )


def read_meta(con) -> dict[str, str]:
    return dict(con.execute("SELECT key, value FROM meta").fetchall())


def has_table(con, name: str) -> bool:
    return bool(con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [name]).fetchone()[0])


BATCH_ROWS = 8192
"""Rows per Arrow record batch when a whole table is read into memory."""


def stream_vectors(con) -> tuple[np.ndarray, np.ndarray]:
    """(chunk ids, vectors) in whatever order DuckDB yields them, streamed batch by batch
    into one preallocated float32 array. Asking DuckDB for the whole result at once
    (``to_arrow_table`` with ``ORDER BY``) made it materialise and sort every vector first:
    at 100k chunks that left ~400 MB more in a reader's RSS than the 155 MB of vectors
    (bench/kb_speed.py, "reader RSS"). Sorting here is one permutation of the ids."""
    query = "SELECT c.chunk_id, e.vec FROM chunks c JOIN embeddings e ON e.key = c.embed_key"
    n = con.execute(f"SELECT count(*) FROM ({query})").fetchone()[0]
    reader = con.execute(query).to_arrow_reader(BATCH_ROWS)
    dim = reader.schema.field("vec").type.list_size
    ids = np.empty(n, dtype=np.int64)
    vecs = np.empty((n, dim), dtype=np.float32)
    at = 0
    for batch in reader:
        m = min(batch.num_rows, n - at)  # a writer cannot add rows under a read-only connection; guard anyway
        ids[at : at + m] = batch.column(0).to_numpy()[:m]
        vecs[at : at + m] = batch.column(1).values.to_numpy(zero_copy_only=False).reshape(-1, dim)[:m]
        at += m
    return ids[:at], vecs[:at]


def load_vectors(con) -> tuple[np.ndarray, np.ndarray]:
    """(chunk ids, vectors) in chunk-id order, through Arrow (no per-row Python objects)."""
    ids, vecs = stream_vectors(con)
    order = np.argsort(ids, kind="stable")
    if np.any(order != np.arange(len(order))):
        ids, vecs = ids[order], vecs[order]
    return ids, vecs
