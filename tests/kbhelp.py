"""Helpers shared by the knowledge tests: writing a docs tree and the environment a `kb`
subprocess runs with (its own store, and docs named so it does not index the demo's)."""

from __future__ import annotations

import os
from pathlib import Path

# Variables that make rich colour its output even into a pipe; the CLI's JSON must be plain.
_COLOUR = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "CLICOLOR_FORCE")


def write_docs(directory: Path, docs: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in docs.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def cli_env(store: Path, docs: Path, columns: int = 250) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _COLOUR}
    env["SRECONSOLE_KNOWLEDGE_STORE"] = str(store)
    # Any knowledge.paths keeps `kb search` from indexing the demo's documents into this store.
    env["SRECONSOLE_KNOWLEDGE_PATHS"] = str(docs)
    env["COLUMNS"] = str(columns)
    return env


class OneStore:
    """What Bruno needs of the knowledge service, over one store a test built."""

    def __init__(self, kb) -> None:
        self.kb = kb

    def prepare(self) -> None:
        pass

    def knowledge_base(self):
        return self.kb


def runbook_store(root: Path, embedder, docs: dict[str, str]) -> OneStore:
    """``docs`` written under ``root/docs`` and indexed into ``root/kb.duckdb``."""
    from sreconsole.knowledge.search import KnowledgeBase
    from sreconsole.knowledge.store import Writer

    write_docs(root / "docs", docs)
    with Writer(root / "kb.duckdb", embedder) as w:
        w.index([root / "docs"])
    return OneStore(KnowledgeBase(root / "kb.duckdb", embedder))
