"""Hole 6 of the hostile-input issue: approved but never executed.

Before the fix, ``kill -9`` between the approval's commit and recording the execution left
the proposal ``approved`` for ever, with no execute or fail entry, although the API call had
been sent. Now an ``executing`` intent (with its audit entry) is committed before the first
request; ``review reconcile`` (and the Review pane when it starts) reads the cluster and
records executed, failed or outcome unknown.

The moment is chosen without any hook in sreconsole: the Kubernetes API stand-in of
``reviewhelp`` holds the request open (after applying it, or before), and the test
SIGKILLs the real CLI process while it waits for the answer.
"""

from __future__ import annotations

import json
import signal

from adversarial.reviewhelp import CORDON, CRASHLOOP, SCALE, cli, cluster, enqueue, environment, exported, kubeconfig, start  # noqa: F401

POD = "/api/v1/namespaces/shop/pods/web-1"
DEPLOY = "/apis/apps/v1/namespaces/shop/deployments/web"
NODE = "/api/v1/nodes/node-1"


def _kill_while_held(cluster, proc) -> None:
    assert cluster.arrived.wait(90), proc.communicate(timeout=5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def _state(env: dict, pid: int) -> dict:
    return next(r for r in json.loads(cli("review", "list", "--all", "--json", env=env).stdout) if r["id"] == pid)


def test_killed_while_the_delete_was_in_flight_is_settled_as_executed(tmp_path, cluster):
    env = environment(tmp_path, review_apply_risks="low", kubernetes_kubeconfig=str(kubeconfig(tmp_path, cluster.url)))
    (rec,) = enqueue(tmp_path, env, CRASHLOOP)
    release = cluster.hold("DELETE", POD, apply_first=True)
    proc = start("review", "approve", str(rec["id"]), "--reason", "restart", env=env)
    try:
        assert cluster.arrived.wait(90)
        # Still running: another console leaves it alone.
        assert json.loads(cli("review", "reconcile", "--json", env=env).stdout) == []
        _kill_while_held(cluster, proc)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
    assert POD not in cluster.objects  # the call was sent and done

    shown = json.loads(cli("review", "list", "--json", env=env).stdout)
    assert [(r["id"], r["state"]) for r in shown] == [(rec["id"], "executing")]  # visible, not "approved" for ever
    (settled,) = json.loads(cli("review", "reconcile", "--json", env=env).stdout)
    assert (settled["id"], settled["outcome"]) == (rec["id"], "executed") and "gone" in settled["reason"]
    assert _state(env, rec["id"])["state"] == "executed"
    events = [(e["event"], e["proposal_id"]) for e in exported(env)]
    # After the execute entry, the watch of whether it fixed the alert may start (issue 21).
    assert events[:4] == [("enqueue", rec["id"]), ("approve", rec["id"]), ("executing", rec["id"]), ("execute", rec["id"])]
    assert all(e == ("outcome", rec["id"]) for e in events[4:])
    last = [e for e in exported(env) if e["event"] == "execute"][-1]
    assert last["result"]["reconciled"] is True and "ended without recording" in last["result"]["interrupted"]
    assert "hash chain intact" in cli("audit", "verify", env=env).stdout
    assert json.loads(cli("review", "reconcile", "--json", env=env).stdout) == []  # nothing left in limbo


def test_killed_before_the_patch_was_sent_is_settled_as_failed(tmp_path, cluster):
    env = environment(tmp_path, review_apply_risks="medium", kubernetes_kubeconfig=str(kubeconfig(tmp_path, cluster.url)))
    (rec,) = enqueue(tmp_path, env, SCALE)
    release = cluster.hold("GET", DEPLOY, apply_first=False)  # the read of the undo data
    proc = start("review", "approve", str(rec["id"]), "--reason", "load", "--param", "replicas=5", env=env)
    try:
        _kill_while_held(cluster, proc)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
    assert cluster.sent("PATCH") == []
    (settled,) = json.loads(cli("review", "reconcile", "--json", env=env).stdout)
    assert settled["outcome"] == "failed" and "spec.replicas is 3, not 5" in settled["reason"]
    assert _state(env, rec["id"])["state"] == "failed"
    assert "hash chain intact" in cli("audit", "verify", env=env).stdout


def test_with_no_cluster_to_ask_it_waits_for_a_human(tmp_path, cluster):
    env = environment(tmp_path, review_apply_risks="medium", kubernetes_kubeconfig=str(kubeconfig(tmp_path, cluster.url)))
    (rec,) = enqueue(tmp_path, env, CORDON)
    release = cluster.hold("PATCH", NODE, apply_first=True)
    proc = start("review", "approve", str(rec["id"]), "--reason", "drain it", env=env)
    try:
        _kill_while_held(cluster, proc)
    finally:
        release.set()
        if proc.poll() is None:
            proc.kill()
    blind = {k: v for k, v in env.items() if k != "SRECONSOLE_KUBERNETES_KUBECONFIG"}
    out = cli("review", "reconcile", env=blind, rc=1)
    assert f"#{rec['id']} cordon-node: interrupted; outcome unknown (needs a human)" in out.stdout
    assert _state(env, rec["id"])["state"] == "unknown"
    listed = cli("review", "list", env=env).stdout
    assert "outcome unknown" in listed  # the default listing shows what needs a human
    cli("review", "reconcile", str(rec["id"]), "--outcome", "executed", "--reason", "kubectl shows it cordoned", env=env)
    assert _state(env, rec["id"])["state"] == "executed"
    assert [e["event"] for e in exported(env) if e["event"] != "outcome"][-2:] == ["unknown", "execute"]
    assert "hash chain intact" in cli("audit", "verify", env=env).stdout


async def test_the_review_pane_settles_interrupted_executions_when_it_starts(tmp_path, cluster, monkeypatch):
    env = environment(tmp_path, review_apply_risks="low", kubernetes_kubeconfig=str(kubeconfig(tmp_path, cluster.url)))
    (rec,) = enqueue(tmp_path, env, CRASHLOOP)
    release = cluster.hold("DELETE", POD, apply_first=True)
    proc = start("review", "approve", str(rec["id"]), "--reason", "restart", env=env)
    try:
        _kill_while_held(cluster, proc)
    finally:
        release.set()
    for name, value in env.items():
        if name.startswith("SRECONSOLE_"):
            monkeypatch.setenv(name, value)
    from sreconsole.config import load_settings
    from sreconsole.domain.operator import Operator
    from sreconsole.tui.app import make_app

    app = make_app(load_settings(), operator=Operator("carol"))
    async with app.run_test(size=(120, 30)) as pilot:
        notes: list[str] = []
        for _ in range(400):
            await pilot.pause(0.05)
            notes = [n.message for n in app._notifications]
            if any("was interrupted" in n for n in notes):
                break
    assert _state(env, rec["id"])["state"] == "executed"
    assert any(f"#{rec['id']} pod-restart was interrupted: executed" in n for n in notes), notes
