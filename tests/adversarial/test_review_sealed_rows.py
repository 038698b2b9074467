"""Hole 3 of the hostile-input issue: queue rows were outside the hash chain.

The attacker can write the shared ``review.sqlite`` and uses the ``sqlite3`` command line on
it. Before the fix, (a) setting ``result.undo.replicas`` to 0 made a rollback scale the
Deployment to zero, and (b) pointing a pending row's ``parameters`` at another pod made an
approval delete that pod — and ``audit verify`` still said ok. Real SQLite files, the real
CLI in subprocesses, the Kubernetes API stand-in of ``reviewhelp`` (no API server can be
installed here).
"""

from __future__ import annotations

import json

from adversarial.reviewhelp import CRASHLOOP, SCALE, cli, cluster, enqueue, environment, kubeconfig, sqlite3_cli, store_path  # noqa: F401


def test_an_edited_undo_is_refused_before_the_rollback_sends_it(tmp_path, cluster):
    env = environment(tmp_path, review_apply_risks="medium", kubernetes_kubeconfig=str(kubeconfig(tmp_path, cluster.url)))
    (rec,) = enqueue(tmp_path, env, SCALE)
    done = json.loads(cli("review", "approve", str(rec["id"]), "--reason", "load", "--param", "replicas=5", "--json", env=env).stdout)
    assert done["proposal"]["state"] == "executed" and done["proposal"]["result"]["undo"] == {"replicas": 3}
    assert cluster.objects["/apis/apps/v1/namespaces/shop/deployments/web"]["spec"]["replicas"] == 5
    sent_before = len(cluster.requests)

    sqlite3_cli(store_path(env), f"UPDATE proposals SET result = json_set(result, '$.undo.replicas', 0) WHERE id = {rec['id']}")

    broken = cli("audit", "verify", env=env, rc=1)
    assert f"proposal #{rec['id']} does not match what audit entry" in broken.stderr and "sealed" in broken.stderr
    refused = cli("review", "rollback", str(rec["id"]), "--reason", "back to normal", env=env, rc=1)
    assert "does not match what audit entry" in refused.stderr and "nothing sent" in refused.stderr
    seq = int(refused.stderr.split("audit entry ")[1].split()[0])
    assert seq == max(e["seq"] for e in _entries(env) if e["proposal_id"] == rec["id"])  # it names the sealing entry
    assert len(cluster.requests) == sent_before  # nothing reached the cluster
    assert cluster.objects["/apis/apps/v1/namespaces/shop/deployments/web"]["spec"]["replicas"] == 5


def test_a_pending_row_pointed_at_another_pod_is_refused_at_approval(tmp_path, cluster):
    env = environment(tmp_path, review_apply_risks="low", kubernetes_kubeconfig=str(kubeconfig(tmp_path, cluster.url)))
    (rec,) = enqueue(tmp_path, env, CRASHLOOP)
    assert rec["parameters"] == {"name": "web-1", "namespace": "shop"}

    sqlite3_cli(store_path(env), f"""UPDATE proposals SET parameters = '{{"name":"db-0","namespace":"shop"}}' WHERE id = {rec['id']}""")

    broken = cli("audit", "verify", env=env, rc=1)
    assert f"proposal #{rec['id']} does not match what audit entry" in broken.stderr and "parameters" in broken.stderr
    refused = cli("review", "approve", str(rec["id"]), "--reason", "restart it", env=env, rc=1)
    assert "does not match what audit entry" in refused.stderr and "nothing sent" in refused.stderr
    assert cluster.sent() == []  # neither db-0 nor web-1 was touched
    assert set(cluster.objects) >= {"/api/v1/namespaces/shop/pods/db-0", "/api/v1/namespaces/shop/pods/web-1"}
    (still,) = json.loads(cli("review", "list", "--json", env=env).stdout)
    assert still["state"] == "pending"
    assert [e["event"] for e in _entries(env)] == ["enqueue"]  # no approval was recorded


def test_an_untampered_queue_verifies_and_executes(tmp_path, cluster):
    """The same flow without the attacker: the seal lets the honest path through."""
    env = environment(tmp_path, review_apply_risks="low,medium", kubernetes_kubeconfig=str(kubeconfig(tmp_path, cluster.url)))
    restart, scale = enqueue(tmp_path, env, CRASHLOOP, SCALE)
    cli("review", "approve", str(restart["id"]), "--reason", "go", env=env)
    cli("review", "approve", str(scale["id"]), "--reason", "go", "--param", "replicas=4", env=env)
    cli("review", "rollback", str(scale["id"]), "--reason", "quiet again", env=env)
    assert cluster.sent("DELETE", "PATCH") == [
        ("DELETE", "/api/v1/namespaces/shop/pods/web-1", None),
        ("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web", {"spec": {"replicas": 4}}),
        ("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web", {"spec": {"replicas": 3}}),
    ]
    assert "hash chain intact" in cli("audit", "verify", env=env).stdout
    assert all(e["seal"] for e in _entries(env))  # every entry seals its proposal's content


def _entries(env: dict) -> list[dict]:
    return [json.loads(line) for line in cli("audit", "export", "--json", env=env).stdout.splitlines()]
