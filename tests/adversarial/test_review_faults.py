"""Faults the review queue must survive, from the hostile-input issue's "also required":
eight operators deciding at once, processes SIGKILLed while they decide and execute, and a
full disk.

Real CLI processes and real SQLite files; the full disk is a tiny tmpfs when the test runs
as root (``RLIMIT_FSIZE`` on the deciding process otherwise); the Kubernetes API is the
stand-in of ``reviewhelp``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adversarial.reviewhelp import CRASHLOOP, SCALE, am_alert, cli, cluster, enqueue, environment, exported, kubeconfig, start  # noqa: F401


def test_eight_operators_approving_at_once_execute_each_proposal_once(tmp_path, cluster):
    env = environment(tmp_path, review_apply_risks="low", kubernetes_kubeconfig=str(kubeconfig(tmp_path, cluster.url)))
    alerts = [am_alert("KubePodCrashLooping", {"namespace": "shop", "pod": pod}, "pod-restart", f"e{n}e{n}e{n}e{n}e{n}e{n}e{n}e{n}")
              for n, pod in enumerate(("web-1", "web-2"))]
    records = enqueue(tmp_path, env, *alerts)
    for rec in records:
        procs = [start("review", "approve", str(rec["id"]), "--reason", f"operator {n}", env={**env, "USER": f"op{n}"}) for n in range(8)]
        results = [(p.wait(timeout=180), *p.communicate()) for p in procs]
        codes = sorted(rc for rc, _, _ in results)
        assert codes == [0] + [4] * 7, results  # one wins, seven are told
        losers = [err for rc, _, err in results if rc == 4]
        assert all("was already approved by" in err and len(err.strip().splitlines()) == 1 for err in losers)
    deletes = cluster.sent("DELETE")
    assert sorted(path for _, path, _ in deletes) == ["/api/v1/namespaces/shop/pods/web-1", "/api/v1/namespaces/shop/pods/web-2"]
    events = [e["event"] for e in exported(env)]
    assert events.count("approve") == 2 and events.count("executing") == 2 and events.count("execute") == 2
    assert "hash chain intact" in cli("audit", "verify", env=env).stdout


def test_sigkill_during_decisions_and_executions_leaves_nothing_in_limbo(tmp_path, cluster):
    env = environment(tmp_path, review_apply_risks="low,medium", kubernetes_kubeconfig=str(kubeconfig(tmp_path, cluster.url)))
    cluster.delay_s = 0.3  # every request takes a while: kills land before, during and after them
    pods = [f"web-{n}" for n in range(6)]
    for pod in pods:
        cluster.objects[f"/api/v1/namespaces/shop/pods/{pod}"] = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod, "namespace": "shop", "creationTimestamp": "2026-01-01T00:00:00Z"}}
    alerts = [am_alert("KubePodCrashLooping", {"namespace": "shop", "pod": pod}, "pod-restart", f"{n:x}f" * 8) for n, pod in enumerate(pods)]
    records = enqueue(tmp_path, env, *alerts)
    rng = random.Random(15)
    killed = 0
    for rec in records:
        proc = start("review", "approve", str(rec["id"]), "--reason", "crash test", env=env)
        time.sleep(rng.uniform(0.5, 3.0))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait(timeout=60)
    assert killed >= 2  # the kills landed while it was working
    cluster.delay_s = 0.0
    cli("review", "reconcile", "--json", env=env, rc=None)
    states = {r["id"]: r["state"] for r in json.loads(cli("review", "list", "--all", "--json", env=env).stdout)}
    assert "executing" not in states.values() and "unknown" not in states.values(), states
    for rec in records:
        gone = f"/api/v1/namespaces/shop/pods/{rec['parameters']['name']}" not in cluster.objects
        # What the queue says is what the cluster shows: executed exactly when the pod is gone.
        assert states[rec["id"]] in ("pending", "approved", "executed", "failed"), states
        if states[rec["id"]] == "executed":
            assert gone
        if gone:
            assert states[rec["id"]] == "executed"
    assert "hash chain intact" in cli("audit", "verify", env=env).stdout


@contextlib.contextmanager
def tiny_disk(where: Path, size_kb: int):
    """A tmpfs of ``size_kb`` at ``where`` (root), else None: the caller limits file sizes."""
    where.mkdir()
    if os.geteuid() != 0:
        yield None
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k,mode=0755", "tmpfs", str(where)], capture_output=True, text=True)
    if mounted.returncode != 0:
        yield None
        return
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], capture_output=True)


def _fill(directory: Path) -> Path:
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"\0" * 512)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def test_a_full_disk_refuses_the_decision_in_words_and_loses_nothing(tmp_path):
    with tiny_disk(tmp_path / "disk", 1024) as disk:
        if disk is None:
            pytest.skip("needs root to mount a small tmpfs")  # RLIMIT_FSIZE would kill SQLite's mmap'd -shm instead
        env = environment(tmp_path, review_store=str(disk / "review.sqlite"))
        restart, scale = enqueue(tmp_path, env, CRASHLOOP, SCALE)
        cli("review", "reject", str(scale["id"]), "--reason", "not now", env=env)
        before = exported(env)
        filler = _fill(disk)
        out = cli("review", "approve", str(restart["id"]), "--reason", "go", env=env, rc=1)
        assert "the disk is full" in out.stderr and "nothing was changed" in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1
        filler.unlink()
        assert exported(env) == before  # nothing committed was lost, nothing half-written
        states = {r["id"]: r["state"] for r in json.loads(cli("review", "list", "--all", "--json", env=env).stdout)}
        assert states == {restart["id"]: "pending", scale["id"]: "rejected"}
        assert "hash chain intact" in cli("audit", "verify", env=env).stdout
        cli("review", "approve", str(restart["id"]), "--reason", "go", env=env)  # with space again, it goes through
        assert "hash chain intact" in cli("audit", "verify", env=env).stdout
