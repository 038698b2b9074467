"""The knowledge store: one DuckDB file of documents, chunks, vectors, postings, the
embedding cache and incident history — and how several processes share it.

DuckDB lets one process write a file *or* many read it, never both. Operators on one
bastion host run several sreconsole processes against one store, and an index run can take
minutes, so writers never open the live file:

* a writer takes an exclusive ``flock`` on ``<store>.lock`` (a second writer is told who
  holds it, and since when — no traceback);
* it works on ``<store>.staging``: a copy of the live file, or the staging file a killed
  run left behind (DuckDB replays its WAL, and files already committed there are not
  redone — that is how an interrupted run resumes);
* it commits per batch of files, checkpoints, closes, and ``os.replace``-s the staging file
  over the live one. Readers that opened the old file keep reading it (POSIX keeps the old
  inode alive); new readers see the new one.

Readers open the live file read-only, load what search needs into memory and close it, so
no reader ever holds a lock a writer could trip over.

This module is the writer. What both sides share (tables, opening, the cache key) is
:mod:`~sreconsole.knowledge.store_file`; the lock is :mod:`~sreconsole.knowledge.write_lock`,
the IVF lists :mod:`~sreconsole.knowledge.ivf`, incident records
:mod:`~sreconsole.knowledge.incidents`. The names callers use are importable from here.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from sreconsole.knowledge.chunking import DEFAULT_CHUNK_WORDS, Chunk, alert_sections, chunk_markdown, chunk_text
from sreconsole.knowledge.embedder import Embedder
from sreconsole.knowledge.files import (
    MARKDOWN_SUFFIXES,
    Candidate,
    Skipped,
    UnreadableFile,
    discover,
    external_link_reason,
    name_is_utf8,
    outside,
    read_text,
)
from sreconsole.knowledge.incidents import IncidentRecord
from sreconsole.knowledge.ivf import IVF_MIN_CHUNKS, kmeans_lists, rebuild_ivf
from sreconsole.knowledge.store_file import (
    SCHEMA_VERSION,
    StoreBusy,
    StoreCorrupt,
    StoreError,
    as_store_error,
    connect,
    create_schema,
    default_store_path,
    embed_text,
    has_table,
    key_for,
    load_vectors,
    no_pandas,
    read_meta,
)
from sreconsole.knowledge.textindex import Tokenizer
from sreconsole.knowledge.write_lock import WriteLock

_connect = connect  # the name services.knowledge imports

__all__ = [
    "BATCH_CHUNKS",
    "IVF_MIN_CHUNKS",
    "SCHEMA_VERSION",
    "IncidentRecord",
    "IndexSummary",
    "Progress",
    "StoreBusy",
    "StoreCorrupt",
    "StoreError",
    "Writer",
    "default_store_path",
    "embed_text",
    "key_for",
    "kmeans_lists",
    "load_vectors",
    "read_meta",
    "writer",
]

BATCH_CHUNKS = 512


@dataclass
class IndexSummary:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks_written: int = 0
    embedded: int = 0
    """Texts the model had to embed (the rest came from the cache)."""
    cached: int = 0
    sections: int = 0
    ignored: int = 0
    ignored_paths: list[str] = field(default_factory=list)
    """The files ``ignored`` counts (not a document type), so the operator can see which."""
    skipped: list[Skipped] = field(default_factory=list)
    resumed: bool = False
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    """What a rebuild did with the previous store (moved aside, what it recovered)."""

    def as_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k != "skipped"}
        out["skipped"] = [{"path": s.path, "reason": s.reason} for s in self.skipped]
        return out


Progress = Callable[[str, int, int], None]
"""(phase, done, total) — drives the CLI's progress bar."""


class Writer:
    """The one process allowed to change the store (see the module docstring)."""

    def __init__(
        self,
        path: Path,
        embedder: Embedder,
        chunk_words: int = DEFAULT_CHUNK_WORDS,
        *,
        follow_external_links: bool = False,
        rebuild: bool = False,
    ) -> None:
        self.path = Path(path)
        self.rebuild = rebuild
        """Start from an empty store (``kb index --rebuild``; see :mod:`~sreconsole.knowledge.rebuild`)."""
        self.notes: list[str] = []
        """What the rebuild did, for the summary."""
        self.embedder = embedder
        self.chunk_words = chunk_words
        self.follow_external_links = follow_external_links
        """``knowledge.follow_external_links``: index files that symlinks lead to outside
        the indexed folders (see :mod:`~sreconsole.knowledge.files`)."""
        self.staging = self.path.with_name(self.path.name + ".staging")
        self.lock = WriteLock(self.path)
        self.con = None
        self.resumed = False
        self.tokenizer = Tokenizer()
        self._vocab: dict[str, int] | None = None
        self._dirty_vectors = False

    # -- lifecycle -----------------------------------------------------------------

    def __enter__(self) -> Writer:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock.acquire()
        try:
            self._open_staging()
        except BaseException:
            self.lock.release()
            raise
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        import duckdb

        try:
            if exc_type is None:
                self._publish()
            elif self.con is not None:
                # Keep the staging file: what was committed there is resumed next time.
                self.con.close()
                self.con = None
        finally:
            self.lock.release()
        if isinstance(exc, duckdb.Error):
            # A damaged block met half-way through (the copy of a corrupt live file opens
            # and fails later): never resume from it, and say what to do.
            error = as_store_error(self.path, exc)
            if isinstance(error, StoreCorrupt):
                self._discard_staging()
            raise error from exc

    def _open_staging(self) -> None:
        if self.rebuild:
            self._open_empty()
            return
        if self.staging.exists():
            try:
                self.con = connect(self.staging)
                self.resumed = True
            except StoreError:
                self._discard_staging()
        if self.con is None:
            if self.path.exists():
                shutil.copyfile(self.path, self.staging)
            try:
                self.con = connect(self.staging)
            except StoreCorrupt as exc:
                self._discard_staging()
                raise StoreCorrupt(self.path, exc.detail) from None
        meta = read_meta(self.con) if has_table(self.con, "meta") else {}
        if meta:
            if int(meta.get("schema_version", "0")) > SCHEMA_VERSION:
                raise StoreError(f"{self.path} was written by a newer sreconsole (schema {meta['schema_version']})")
            if meta.get("model_id") != self.embedder.model_id:
                raise StoreError(
                    f"{self.path} holds vectors from model {meta.get('model_id')!r}, settings name {self.embedder.model_id!r}; "
                    "index into another store (knowledge.store) or rebuild this one (`sreconsole kb index --rebuild`)"
                )
        else:
            self._create()

    def _create(self) -> None:
        create_schema(self.con, self.embedder.dim)
        self.con.execute(
            "INSERT INTO meta VALUES ('schema_version', ?), ('model_id', ?), ('dim', ?), ('generation', '0'), ('chunk_words', ?)",
            [str(SCHEMA_VERSION), self.embedder.model_id, str(self.embedder.dim), str(self.chunk_words)],
        )

    def _open_empty(self) -> None:
        """A rebuild: an empty staging store, with the incidents and the embedding cache
        the previous file can still give; a damaged previous file is moved aside."""
        from sreconsole.knowledge import rebuild

        self._discard_staging()
        old = rebuild.inspect(self.path) if self.path.exists() else None
        self.con = connect(self.staging)
        self._create()
        if old is None:
            return
        if not old.readable:
            aside = rebuild.move_aside(self.path)
            self.notes.append(f"the store was corrupt ({old.problem}): moved it aside to {aside}")
            source = aside
        else:
            source = self.path
        if old.readable and old.model_id == self.embedder.model_id:
            try:
                rebuild.copy_embeddings(self.con, source)
            except Exception:  # noqa: BLE001 - the cache is a speed-up; without it the model embeds again
                pass
        if old.incidents:
            self.add_incidents(old.incidents)
            self.notes.append(f"carried {len(old.incidents)} incidents over from the previous store")
        if old.incidents_lost:
            self.notes.append("the previous store's incident history could not be read; the review audit trail still has every executed action")

    def _discard_staging(self) -> None:
        for suffix in ("", ".wal"):
            try:
                os.unlink(str(self.staging) + suffix)
            except FileNotFoundError:
                pass

    def _publish(self) -> None:
        con = self.con
        assert con is not None
        if self._dirty_vectors:
            rebuild_ivf(con)
        generation = int(read_meta(con).get("generation", "0")) + 1
        con.execute("UPDATE meta SET value = ? WHERE key = 'generation'", [str(generation)])
        con.execute("CHECKPOINT")
        con.close()
        self.con = None
        os.replace(self.staging, self.path)
        try:
            os.unlink(str(self.staging) + ".wal")
        except FileNotFoundError:
            pass

    # -- documents -----------------------------------------------------------------

    @no_pandas  # its pyarrow tables import pandas otherwise (store_file)
    def index(self, paths: Sequence[str | Path], progress: Progress | None = None) -> IndexSummary:
        """Bring the store in line with the files under ``paths``: new and changed files are
        (re)chunked and embedded, unchanged ones cost a ``stat``, vanished ones leave."""
        started = time.perf_counter()
        con = self.con
        summary = IndexSummary(resumed=self.resumed, notes=list(self.notes))
        candidates, skipped, summary.ignored_paths = discover(list(paths), follow_external_links=self.follow_external_links)
        summary.ignored = len(summary.ignored_paths)
        summary.skipped.extend(skipped)
        # A root whose own name is not UTF-8 cannot be a row (discover already skipped each
        # file under it with that reason), so it is not recorded as a root either.
        roots = sorted(
            r for r in {str(Path(os.path.abspath(os.path.expanduser(str(p))))) for p in paths} if name_is_utf8(r)
        )
        now = datetime.now(timezone.utc)
        for root in roots:
            con.execute("INSERT OR REPLACE INTO roots VALUES (?, 'indexing', ?, NULL)", [root, now])
        known = {
            row[0]: row[1:]
            for row in con.execute("SELECT path, doc_id, size, mtime_ns, sha256 FROM documents").fetchall()
        }
        seen: set[str] = set()
        todo: list[tuple[Candidate, int | None]] = []
        for cand in candidates:
            p = str(cand.path)
            seen.add(p)
            old = known.get(p)
            if old and old[1] == cand.size and old[2] == cand.mtime_ns:
                summary.unchanged += 1
            else:
                todo.append((cand, old[0] if old else None))
        # Whatever was indexed under these roots and is gone now (or now unreadable) leaves.
        gone = [
            (p, row[0])
            for p, row in known.items()
            if p not in seen and any(p == r or p.startswith(r.rstrip("/") + "/") for r in roots)
        ]
        for _, doc_id in gone:
            self._delete_doc(doc_id)
        summary.removed = len(gone)
        if gone:
            self._dirty_vectors = True

        total = len(todo)
        if progress:
            progress("index", 0, total)
        batch: list[tuple[Candidate, int | None, str, str]] = []
        batch_chunks = 0
        for n, (cand, old_id) in enumerate(todo, 1):
            try:
                # Checked again as the file is read: a link may have been pointed elsewhere
                # since it was found.
                target = "" if self.follow_external_links or cand.explicit else outside(cand.path, cand.root)
                if target:
                    raise UnreadableFile(external_link_reason(target, cand.root))
                text, sha = read_text(cand.path)
            except UnreadableFile as exc:
                summary.skipped.append(Skipped(str(cand.path), str(exc)))
                if old_id is not None:
                    self._delete_doc(old_id)
                    summary.removed += 1
                continue
            old = known.get(str(cand.path))
            if old and old[3] == sha:
                con.execute("UPDATE documents SET size = ?, mtime_ns = ? WHERE doc_id = ?", [cand.size, cand.mtime_ns, old_id])
                summary.unchanged += 1
                continue
            batch.append((cand, old_id, text, sha))
            batch_chunks += max(1, len(text) // 900)
            if batch_chunks >= BATCH_CHUNKS:
                self._write_batch(batch, summary)
                batch, batch_chunks = [], 0
                if progress:
                    progress("index", n, total)
        if batch:
            self._write_batch(batch, summary)
        if progress:
            progress("index", total, total)
        done = datetime.now(timezone.utc)
        for root in roots:
            con.execute("UPDATE roots SET state = 'complete', finished_at = ? WHERE path = ?", [done, root])
        summary.seconds = time.perf_counter() - started
        return summary

    def _delete_doc(self, doc_id: int) -> None:
        con = self.con
        con.execute("DELETE FROM postings WHERE chunk_id IN (SELECT chunk_id FROM chunks WHERE doc_id = ?)", [doc_id])
        con.execute("DELETE FROM chunks WHERE doc_id = ?", [doc_id])
        con.execute("DELETE FROM sections WHERE doc_id = ?", [doc_id])
        con.execute("DELETE FROM documents WHERE doc_id = ?", [doc_id])

    def _write_batch(self, batch: list[tuple[Candidate, int | None, str, str]], summary: IndexSummary) -> None:
        """One transaction: a document row appears only with all its chunks, so a killed
        run never leaves a half-indexed file that looks complete."""
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            next_doc = con.execute("SELECT coalesce(max(doc_id), 0) + 1 FROM documents").fetchone()[0]
            rows: list[tuple] = []
            section_rows: list[tuple] = []
            for cand, old_id, text, sha in batch:
                if old_id is not None:
                    self._delete_doc(old_id)
                    summary.updated += 1
                else:
                    summary.added += 1
                doc_id = old_id if old_id is not None else next_doc
                if old_id is None:
                    next_doc += 1
                chunks, sections, kind = self._parse(cand.path, text)
                con.execute(
                    "INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [doc_id, str(cand.path), str(cand.root), kind, cand.size, cand.mtime_ns, sha, datetime.now(timezone.utc), len(chunks), len(sections)],
                )
                for c in chunks:
                    rows.append((doc_id, str(cand.path), kind, c.alertname, c.heading, c.start_line, c.end_line, c.text, None))
                for s in sections:
                    for part, body in s.parts.items():
                        a, b = s.part_lines.get(part, (s.start_line, s.end_line))
                        section_rows.append((doc_id, str(cand.path), s.alertname, s.format, part, a, b, body))
            if section_rows:
                con.executemany("INSERT INTO sections VALUES (?, ?, ?, ?, ?, ?, ?, ?)", section_rows)
            summary.sections += len(section_rows)
            self._insert_chunks(rows, summary)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def _parse(self, path: Path, text: str) -> tuple[list[Chunk], list, str]:
        if path.suffix.lower() in MARKDOWN_SUFFIXES:
            sections = alert_sections(text)
            chunks = chunk_markdown(text, self.chunk_words, title=path.name)
            return chunks, sections, "runbook" if sections else "markdown"
        return chunk_text(text, self.chunk_words, title=path.name), [], "text"

    def _insert_chunks(self, rows: list[tuple], summary: IndexSummary) -> list[int]:
        """rows: (doc_id, path, kind, alertname, heading, start, end, text, ts). Embeds what
        the cache does not have, writes chunks and postings. Returns the new chunk ids."""
        import pyarrow as pa

        if not rows:
            return []
        con = self.con
        model_id = self.embedder.model_id
        texts = [embed_text(r[4], r[7]) for r in rows]
        keys = [key_for(model_id, t) for t in texts]
        con.register("_keys", pa.table({"key": pa.array(sorted(set(keys)))}))
        have = {k for (k,) in con.execute("SELECT e.key FROM embeddings e JOIN _keys USING (key)").fetchall()}
        con.unregister("_keys")
        missing_keys: dict[str, str] = {}
        for k, t in zip(keys, texts):
            if k not in have and k not in missing_keys:
                missing_keys[k] = t
        summary.cached += len(keys) - sum(1 for k in keys if k in missing_keys)
        if missing_keys:
            vecs = self.embedder.embed(list(missing_keys.values()))
            summary.embedded += len(missing_keys)
            self._insert_embeddings(list(missing_keys), vecs)
        first = con.execute("SELECT coalesce(max(chunk_id), 0) + 1 FROM chunks").fetchone()[0]
        ids = list(range(first, first + len(rows)))
        token_lists = [self.tokenizer.tokens(t) for t in texts]
        chunk_table = pa.table(
            {
                "chunk_id": pa.array(ids, pa.int64()),
                "doc_id": pa.array([r[0] for r in rows], pa.int64()),
                "path": [r[1] for r in rows],
                "kind": [r[2] for r in rows],
                "alertname": [r[3] for r in rows],
                "heading": [r[4] for r in rows],
                "start_line": pa.array([r[5] for r in rows], pa.int32()),
                "end_line": pa.array([r[6] for r in rows], pa.int32()),
                "text": [r[7] for r in rows],
                "embed_key": keys,
                "n_tokens": pa.array([len(t) for t in token_lists], pa.int32()),
                "ts": pa.array([r[8] for r in rows], pa.timestamp("us", tz="UTC")),
            }
        )
        con.register("_chunks", chunk_table)
        con.execute("INSERT INTO chunks SELECT * FROM _chunks")
        con.unregister("_chunks")
        self._insert_postings(ids, token_lists)
        summary.chunks_written += len(rows)
        self._dirty_vectors = True
        return ids

    def _insert_embeddings(self, keys: list[str], vecs: np.ndarray) -> None:
        import pyarrow as pa

        dim = vecs.shape[1]
        table = pa.table(
            {
                "key": keys,
                "model": [self.embedder.model_id] * len(keys),
                "vec": pa.FixedSizeListArray.from_arrays(pa.array(vecs.astype(np.float32).ravel()), dim),
                "created_at": pa.array([datetime.now(timezone.utc)] * len(keys), pa.timestamp("us", tz="UTC")),
            }
        )
        self.con.register("_emb", table)
        self.con.execute("INSERT OR IGNORE INTO embeddings SELECT * FROM _emb")
        self.con.unregister("_emb")

    def _vocab_map(self) -> dict[str, int]:
        if self._vocab is None:
            self._vocab = dict(self.con.execute("SELECT term, term_id FROM terms").fetchall())
        return self._vocab

    def _insert_postings(self, ids: list[int], token_lists: list[list[str]]) -> None:
        import pyarrow as pa

        vocab = self._vocab_map()
        new_terms: list[tuple[int, str]] = []
        cids: list[int] = []
        tids: list[int] = []
        tfs: list[int] = []
        for cid, tokens in zip(ids, token_lists):
            # Counter counts in C, and in order of first occurrence, so new terms get the ids
            # they would get token by token; only distinct terms reach the Python loop.
            for tok, tf in Counter(tokens).items():
                tid = vocab.get(tok)
                if tid is None:
                    tid = len(vocab) + 1
                    vocab[tok] = tid
                    new_terms.append((tid, tok))
                cids.append(cid)
                tids.append(tid)
                tfs.append(tf if tf < 32767 else 32767)
        if new_terms:
            self.con.register("_terms", pa.table({"term_id": pa.array([t[0] for t in new_terms], pa.int32()), "term": [t[1] for t in new_terms]}))
            self.con.execute("INSERT INTO terms SELECT * FROM _terms")
            self.con.unregister("_terms")
        self.con.register(
            "_post", pa.table({"chunk_id": pa.array(cids, pa.int64()), "term_id": pa.array(tids, pa.int32()), "tf": pa.array(tfs, pa.int16())})
        )
        self.con.execute("INSERT INTO postings SELECT * FROM _post")
        self.con.unregister("_post")

    # -- incidents -----------------------------------------------------------------

    @no_pandas
    def add_incidents(self, incidents: Iterable[IncidentRecord]) -> int:
        """Record incidents (an id seen before is replaced: an outcome may be updated)."""
        incidents = list(incidents)
        if not incidents:
            return 0
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            ids = [i.incident_id for i in incidents]
            old = con.execute(
                "SELECT chunk_id FROM incidents WHERE incident_id IN (SELECT unnest(?))", [ids]
            ).fetchall()
            for (cid,) in old:
                con.execute("DELETE FROM postings WHERE chunk_id = ?", [cid])
                con.execute("DELETE FROM chunks WHERE chunk_id = ?", [cid])
            con.execute("DELETE FROM incidents WHERE incident_id IN (SELECT unnest(?))", [ids])
            rows = [
                (None, f"incident:{i.incident_id}", "incident", i.alertname, f"Incident {i.incident_id}", 1, 1, i.text(), i.started_at)
                for i in incidents
            ]
            chunk_ids = self._insert_chunks(rows, IndexSummary())
            con.executemany(
                "INSERT INTO incidents VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        i.incident_id, i.fingerprint, i.alertname, json.dumps(i.labels, sort_keys=True), i.severity,
                        i.namespace, i.started_at, i.resolved_at, i.action, i.outcome, i.operator, i.notes, cid,
                    )
                    for i, cid in zip(incidents, chunk_ids)
                ],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return len(incidents)

@contextmanager
def writer(path: Path, embedder: Embedder, chunk_words: int = DEFAULT_CHUNK_WORDS):
    with Writer(path, embedder, chunk_words) as w:
        yield w
