"""The embedder as settings name it, and a content-hash cache in front of it.

Training, evaluation and the triage engine embed the same alert texts again and again; the
cache (SQLite, WAL, under the data directory) makes a retrain or a cold process embed only
texts it has never seen. Nothing heavy is imported until a text is embedded.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sreconsole.config import Settings

if TYPE_CHECKING:
    import numpy as np

EMBED_BATCH = 256
"""Texts embedded (and written to the cache) per step: a killed run keeps what it embedded,
and progress moves every few seconds."""


def make_embedder(settings: Settings):
    from sreconsole.knowledge.embedder import Embedder

    return Embedder(settings.knowledge.model, settings.knowledge.model_path)


class CachedEmbed:
    """The embedder behind a content-hash cache (SQLite, WAL) under the data dir, so that a
    retrain or a cold process embeds only texts it has never seen."""

    def __init__(self, embedder, path: Path) -> None:
        self.embedder = embedder
        self.path = path
        self._local = threading.local()
        self.hits = 0
        self.misses = 0

    def _con(self) -> sqlite3.Connection | None:
        con = getattr(self._local, "con", None)
        if con is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                con = sqlite3.connect(self.path, timeout=2.0)
                con.execute("PRAGMA journal_mode=WAL")
                con.execute("CREATE TABLE IF NOT EXISTS e (key TEXT PRIMARY KEY, vec BLOB)")
            except sqlite3.Error:
                return None
            self._local.con = con
        return con

    def __call__(self, texts: list[str], progress: Callable[[int, int], None] | None = None) -> np.ndarray:
        """Vectors for ``texts``, from the cache where it has them. ``progress(done, total)``
        is called as the texts the cache lacks are embedded, a batch at a time: a first
        training run embeds thousands of them (minutes on a small CPU), and a board that
        says nothing meanwhile looks hung."""
        import numpy as np

        from sreconsole.knowledge.store import key_for
        from sreconsole.knowledge.textindex import clean_text

        texts = [clean_text(t) for t in texts]
        model = self.embedder.model_id
        keys = [key_for(model, t) for t in texts]
        found: dict[str, np.ndarray] = {}
        con = self._con()
        if con is not None:
            try:
                for a in range(0, len(keys), 500):
                    part = keys[a : a + 500]
                    q = f"SELECT key, vec FROM e WHERE key IN ({','.join('?' * len(part))})"
                    for key, blob in con.execute(q, part):
                        found[key] = np.frombuffer(blob, dtype=np.float32)
            except sqlite3.Error:
                pass
        todo = sorted({k: t for k, t in zip(keys, texts) if k not in found}.items())
        self.hits += len(keys) - len(todo)
        self.misses += len(todo)
        for a in range(0, len(todo), EMBED_BATCH):
            part = todo[a : a + EMBED_BATCH]
            vecs = self.embedder.embed([t for _, t in part])
            for (key, _), vec in zip(part, vecs):
                found[key] = vec
            if con is not None:
                try:
                    with con:
                        con.executemany("INSERT OR REPLACE INTO e VALUES (?, ?)", [(k, v.astype(np.float32).tobytes()) for (k, _), v in zip(part, vecs)])
                except sqlite3.Error:
                    pass
            if progress is not None:
                progress(min(a + EMBED_BATCH, len(todo)), len(todo))
        return np.stack([found[k] for k in keys]) if keys else np.zeros((0, 384), dtype=np.float32)


def make_embed(settings: Settings) -> CachedEmbed:
    return CachedEmbed(make_embedder(settings), settings.data_path / "cache" / "text-embeddings.sqlite")
