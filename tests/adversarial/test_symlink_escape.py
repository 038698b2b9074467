"""Issue 15, hole 9: a symlink in a knowledge folder that points outside it.

Anyone who can drop a file into a shared runbook folder could add ``notes.md ->
~/.kube/config``; the next ``kb index`` by an operator indexed that operator's private
file, and ``kb search`` and ``ask`` served its token to everyone. Links that leave the
indexed folder are now skipped with the reason (listed like any other skipped file);
``knowledge.follow_external_links = true`` is the explicit opt-in. The real CLI, the real
model and a real DuckDB store.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TOKEN = "kubetoken0a1b2c3d4e5f"
KUBECONFIG = f"""apiVersion: v1
kind: Config
users:
- name: admin
  user:
    token: {TOKEN}
"""


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    home = tmp_path / "home" / ".kube"
    home.mkdir(parents=True)
    (home / "config").write_text(KUBECONFIG, encoding="utf-8")
    outside_dir = tmp_path / "elsewhere"
    outside_dir.mkdir()
    (outside_dir / "more.md").write_text(f"# More\n\nanother copy of {TOKEN}\n", encoding="utf-8")
    kb = tmp_path / "runbooks"
    (kb / "inside").mkdir(parents=True)
    (kb / "crash.md").write_text("# Crash looping pods\n\nRestart the pod when it crash loops.\n", encoding="utf-8")
    (kb / "inside" / "db.md").write_text("# Database\n\nCheck the connection pool.\n", encoding="utf-8")
    (kb / "notes.md").symlink_to(home / "config")  # the attack: a file link out of the folder
    (kb / "linked").symlink_to(outside_dir)  # and a directory link out of it
    (kb / "same.md").symlink_to(kb / "inside" / "db.md")  # a link that stays inside: fine
    return kb, home / "config"


def _cli(kb: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    # knowledge.paths set: the demo's own documents are not indexed into the same store.
    return subprocess.run([sys.executable, "-m", "sreconsole", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "SRECONSOLE_KNOWLEDGE_PATHS": str(kb), **(env or {})})


def test_links_out_of_the_folder_are_skipped_with_the_reason_and_never_served(folders) -> None:
    kb, secret_file = folders
    index = _cli(kb, "kb", "index", str(kb), "--json")
    assert index.returncode == 0, index.stderr
    summary = json.loads(index.stdout)
    skipped = {Path(s["path"]).name: s["reason"] for s in summary["skipped"]}
    assert "notes.md" in skipped and "linked" in skipped, skipped
    assert "outside the indexed folder" in skipped["notes.md"] and str(secret_file) in skipped["notes.md"]
    assert "follow_external_links" in skipped["notes.md"]
    assert summary["added"] == 3  # crash.md, inside/db.md and same.md (a link within the folder)
    assert TOKEN not in index.stdout

    search = _cli(kb, "kb", "search", TOKEN, "--json", "-k", "10")
    assert search.returncode == 0, search.stderr
    hits = json.loads(search.stdout)["hits"]
    assert hits and not any(TOKEN in h["text"] for h in hits)
    assert all("notes.md" not in h["path"] and "more.md" not in h["path"] for h in hits)
    ask = _cli(kb, "ask", f"what is the token {TOKEN} for the admin user?", "--json", "--generator", "extractive")
    assert ask.returncode == 0, ask.stderr
    answer = json.loads(ask.stdout)
    assert TOKEN not in answer["answer"]
    assert all("notes.md" not in c["path"] and "more.md" not in c["path"] for c in answer["citations"])

    table = _cli(kb, "kb", "index", str(kb), env={"COLUMNS": "400"})
    assert f"skipped {kb / 'notes.md'}: symlink to {secret_file}, outside the indexed folder" in table.stdout


def test_following_external_links_is_an_explicit_opt_in(folders) -> None:
    kb, _ = folders
    index = _cli(kb, "kb", "index", str(kb), "--json", env={"SRECONSOLE_KNOWLEDGE_FOLLOW_EXTERNAL_LINKS": "true"})
    assert index.returncode == 0, index.stderr
    assert json.loads(index.stdout)["added"] == 5
    search = _cli(kb, "kb", "search", TOKEN, "--json", env={"SRECONSOLE_KNOWLEDGE_FOLLOW_EXTERNAL_LINKS": "true"})
    assert any(TOKEN in h["text"] for h in json.loads(search.stdout)["hits"])  # what the operator asked for, and only then


def test_a_file_named_explicitly_is_read_wherever_it_leads(folders, embedder, tmp_path) -> None:
    """The operator named it: that is consent. And a link repointed after it was found is
    checked again when it is read."""
    from sreconsole.knowledge import files
    from sreconsole.knowledge.store import Writer

    kb, secret_file = folders
    found, skipped, _ = files.discover([kb / "notes.md"])
    assert [c.path.name for c in found] == ["notes.md"] and not skipped

    # Found while it pointed inside, repointed outside before it was read: refused at read.
    (kb / "swap.md").symlink_to(kb / "crash.md")
    real_discover = files.discover

    def discover_then_swap(paths, *args, **kwargs):
        out = real_discover(paths, *args, **kwargs)
        (kb / "swap.md").unlink()
        (kb / "swap.md").symlink_to(secret_file)
        return out

    import sreconsole.knowledge.store as store_module

    store_module.discover = discover_then_swap
    try:
        with Writer(tmp_path / "k.duckdb", embedder) as w:
            summary = w.index([kb])
    finally:
        store_module.discover = real_discover
    reasons = {Path(s.path).name: s.reason for s in summary.skipped}
    assert "outside the indexed folder" in reasons.get("swap.md", ""), reasons
