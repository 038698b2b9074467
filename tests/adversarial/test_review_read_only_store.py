"""Hole 15 of the hostile-input issue: on a read-only review store, ``audit verify``, ``review
list`` and even ``--read-only review list`` failed with "unable to open database file".

Now readers open the file read-only (``mode=ro``, or ``immutable=1`` where no ``-shm`` can be
created beside it). The store is a real copy of a populated one on a really read-only
directory: a read-only bind mount when the test runs as root (``chmod`` does not stop root),
``chmod 0555``/``0444`` otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from adversarial.reviewhelp import CRASHLOOP, SCALE, cli, enqueue, environment, store_path


@contextlib.contextmanager
def read_only(source: Path):
    """``source`` seen through a read-only directory; yields its path."""
    if os.geteuid() != 0:
        for f in source.iterdir():
            os.chmod(f, 0o444)
        os.chmod(source, 0o555)
        try:
            yield source
        finally:
            os.chmod(source, 0o755)
        return
    view = source.parent / "read-only-view"
    view.mkdir()
    mounted = subprocess.run(["mount", "--bind", str(source), str(view)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"running as root but cannot bind-mount read-only here: {mounted.stderr.strip()}")
    try:
        remount = subprocess.run(["mount", "-o", "remount,bind,ro", str(view)], capture_output=True, text=True)
        assert remount.returncode == 0, remount.stderr
        probe = view / "probe"
        with pytest.raises(OSError):
            probe.write_text("x")
        yield view
    finally:
        subprocess.run(["umount", str(view)], capture_output=True)


def _populated(tmp_path) -> dict:
    env = environment(tmp_path)
    restart, _ = enqueue(tmp_path, env, CRASHLOOP, SCALE)
    cli("review", "approve", str(restart["id"]), "--reason", "go", env=env)
    return env


@pytest.mark.parametrize("companions", [False, True], ids=["closed-copy", "live-copy-with-wal-and-shm"])
def test_readers_work_on_a_read_only_copy(tmp_path, companions):
    env = _populated(tmp_path)
    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy2(store_path(env), copy / "review.sqlite")
    if companions:  # a copy taken while a process held it open: -wal and -shm beside it
        import sqlite3

        holder = sqlite3.connect(store_path(env))
        holder.execute("PRAGMA wal_autocheckpoint = 0")
        holder.execute("SELECT count(*) FROM proposals").fetchone()
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("UPDATE proposals SET updated_at = updated_at")  # a frame in the WAL, then rolled back
        holder.execute("ROLLBACK")
        for suffix in ("-wal", "-shm"):
            if Path(f"{store_path(env)}{suffix}").exists():
                shutil.copy2(f"{store_path(env)}{suffix}", copy / f"review.sqlite{suffix}")
        holder.close()
    before = sorted(p.name for p in copy.iterdir())
    with read_only(copy) as view:
        ro = {**env, "SRECONSOLE_REVIEW_STORE": str(view / "review.sqlite")}
        ok = cli("audit", "verify", env=ro)
        assert "4 entries, hash chain intact" in ok.stdout
        listed = json.loads(cli("review", "list", "--all", "--json", env=ro).stdout)
        assert sorted(r["state"] for r in listed) == ["approved", "pending"]
        assert [r["action"] for r in json.loads(cli("--read-only", "review", "list", "--json", env=ro).stdout)] == ["scale-deployment"]
        assert "scale-deployment" in cli("review", "list", env=ro).stdout
        assert len(list(cli("audit", "export", "--json", env=ro).stdout.splitlines())) == 4
        # A change is refused in one line, and nothing is half-written.
        pending = next(r for r in listed if r["state"] == "pending")
        refused = cli("review", "reject", str(pending["id"]), "--reason", "no", env=ro, rc=1)
        assert len(refused.stderr.strip().splitlines()) == 1 and "cannot be written here" in refused.stderr
        assert sorted(p.name for p in view.iterdir()) == before
