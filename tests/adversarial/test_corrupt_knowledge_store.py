"""Issue 15, hole 16: a corrupted ``knowledge.duckdb``.

A block overwritten in the middle of the file was reported as "locked by another process"
with exit 3 (DuckDB says "… in block at location 8192", and "block" contains "lock"), and
``kb index`` could not recover. Now it is called corrupt, readers say what to do, and
``kb index --rebuild`` keeps the broken file aside and builds a working store again,
carrying over the incidents it can still read. The real CLI, real DuckDB files, real
bytes overwritten. (SIGKILL during indexing is ``tests/test_knowledge_processes.py``.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from sreconsole.domain.alerts import Alert


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sreconsole", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})


def _damage(path: Path, offset: int = 8192, length: int = 8192) -> None:
    """Overwrite a block in the middle of the file (its checksum no longer matches)."""
    with open(path, "r+b") as fh:
        fh.seek(offset)
        fh.write(os.urandom(length))


@pytest.fixture
def store(tmp_path: Path, embedder):
    """A store with one runbook and one incident, as `kb index` and the review queue build it."""
    from sreconsole.knowledge.store import IncidentRecord, Writer

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "crash.md").write_text("# Crash looping pods\n\nRestart the frobnicator pod when it crash loops.\n", encoding="utf-8")
    path = tmp_path / "data" / "knowledge.duckdb"
    with Writer(path, embedder) as w:
        w.index([docs])
        w.add_incidents([IncidentRecord("review-7", "KubePodCrashLooping", {"namespace": "shop", "pod": "web-1"},
                                        datetime(2026, 11, 20, tzinfo=timezone.utc), None, "pod-restart", "executed", "alice")])
    # A live setup (not the demo, whose bundled documents would be indexed too); nothing
    # here contacts the Alertmanager.
    env = {"SRECONSOLE_DATA_DIR": str(path.parent), "SRECONSOLE_KNOWLEDGE_PATHS": str(docs),
           "SRECONSOLE_ALERTMANAGER_URL": "http://127.0.0.1:9"}
    return path, docs, env


def test_a_damaged_store_is_called_corrupt_not_locked(store) -> None:
    path, docs, env = store
    _damage(path)
    for args in (("kb", "index", str(docs)), ("kb", "search", "frobnicator"), ("kb", "stats")):
        result = _cli(*args, env=env)
        assert result.returncode == 1, (args, result.returncode, result.stderr)  # not 3: nobody holds it
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        assert "knowledge base is corrupt: run `sreconsole kb index --rebuild`" in lines[0], lines[0]
        assert "locked" not in lines[0]
    assert not Path(str(path) + ".staging").exists()  # a corrupt copy is never resumed from


def test_rebuild_moves_the_corrupt_file_aside_and_works_again(store) -> None:
    path, docs, env = store
    _damage(path)
    broken = path.read_bytes()
    result = _cli("kb", "index", "--rebuild", "--json", env=env)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    aside = [p for p in path.parent.iterdir() if p.name.startswith("knowledge.duckdb.corrupt-")]
    assert len(aside) == 1 and aside[0].read_bytes() == broken  # kept as it was, never deleted
    assert any("corrupt" in n and str(aside[0]) in n for n in summary["notes"]), summary["notes"]
    assert summary["added"] == 1
    search = _cli("kb", "search", "frobnicator", "--json", env=env)
    assert search.returncode == 0, search.stderr
    assert [Path(h["path"]).name for h in json.loads(search.stdout)["hits"]][:1] == ["crash.md"]


def test_rebuild_of_a_readable_store_keeps_its_incident_history(store) -> None:
    path, docs, env = store
    result = _cli("kb", "index", "--rebuild", env={**env, "COLUMNS": "300"})
    assert result.returncode == 0, result.stderr
    assert "carried 1 incidents over" in result.stdout
    assert not [p for p in path.parent.iterdir() if ".corrupt-" in p.name]  # nothing was corrupt
    stats = json.loads(_cli("kb", "stats", "--json", env=env).stdout)
    assert stats["incidents"] == 1 and stats["documents"] == 1


def test_the_evidence_panel_says_what_to_do(store, settings, monkeypatch) -> None:
    """What the TUI's evidence panel shows for the selected alert (its knowledge part)."""
    import asyncio

    from sreconsole.config import load_settings
    from sreconsole.services.evidence import EvidenceService
    from sreconsole.services.knowledge import KnowledgeService

    path, _, env = store
    _damage(path)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    knowledge = KnowledgeService(load_settings())
    service = EvidenceService(None, None, knowledge=knowledge, knowledge_timeout_s=60)
    evidence = asyncio.run(service.gather(Alert("f", {"alertname": "KubePodCrashLooping", "namespace": "shop"})))
    assert evidence.knowledge_error.startswith("knowledge base is corrupt: run `sreconsole kb index --rebuild`"), evidence.knowledge_error
