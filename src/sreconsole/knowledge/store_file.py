"""The knowledge store's DuckDB file as both sides see it: its tables, how it is opened,
the embedding-cache key, and reading the vectors back.

The writer (:mod:`sreconsole.knowledge.store`) and the readers
(:mod:`sreconsole.knowledge.search`) both build on this; neither imports the other.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

SCHEMA_VERSION = 1


class StoreError(RuntimeError):
    """Something about the store the operator must act on; ``str()`` is the message."""


class StoreBusy(StoreError):
    """Another process is writing the store."""


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


def connect(path: Path, read_only: bool = False):
    import duckdb

    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise StoreBusy(f"{path} is locked by another process: {exc}") from exc
        raise StoreError(f"cannot open {path}: {exc}") from exc


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


def load_vectors(con) -> tuple[np.ndarray, np.ndarray]:
    """(chunk ids, vectors) in chunk-id order, through Arrow (no per-row Python objects)."""
    table = con.execute(
        "SELECT c.chunk_id, e.vec FROM chunks c JOIN embeddings e ON e.key = c.embed_key ORDER BY c.chunk_id"
    ).to_arrow_table()
    ids = table.column("chunk_id").to_numpy()
    col = table.column("vec").combine_chunks()
    dim = col.type.list_size
    vecs = col.values.to_numpy(zero_copy_only=False).reshape(-1, dim).astype(np.float32, copy=False)
    return ids, vecs
