"""Retargeting a proposal at another cluster through the queue file (issue 20).

The attacker can write the shared ``review.sqlite`` and uses the ``sqlite3`` command line on
it: they set a pending proposal's ``cluster`` so that an operator's approval would run it
somewhere else, and they put terminal escapes and markup into the column for whoever lists
the queue. The cluster is part of the sealed content (``review/seal.py``): the approval is
refused and nothing reaches the Kubernetes API (the stand-in of ``reviewhelp``, since no API
server can be installed here), ``audit verify`` names the row, and the listing shows the
text inert. Real SQLite files, the real CLI in subprocesses.
"""

from __future__ import annotations

import json
import re

from adversarial.reviewhelp import CRASHLOOP, cli, cluster, enqueue, environment, kubeconfig, sqlite3_cli, store_path  # noqa: F401

HOSTILE = "prod\x1b[2J\x1b]52;c;cHduZWQ=\x07[bold red]LOUD[/]\u202egpj"


def test_a_cluster_written_into_the_queue_file_is_refused_at_approval(tmp_path, cluster):
    env = environment(tmp_path, review_apply_risks="low", kubernetes_kubeconfig=str(kubeconfig(tmp_path, cluster.url)))
    (rec,) = enqueue(tmp_path, env, CRASHLOOP)
    assert rec["cluster"] == ""  # from a file: the one configured cluster

    # a cluster this console does not know: refused by name, before anything is stored
    sqlite3_cli(store_path(env), f"UPDATE proposals SET cluster = 'prod-eu' WHERE id = {rec['id']}")
    refused = cli("review", "approve", str(rec["id"]), "--reason", "restart", env=env, rc=1)
    assert "its cluster 'prod-eu' is not configured" in refused.stderr and "nothing sent" in refused.stderr
    # the console's own cluster (the one the flat keys make, named as the refusal says): the seal refuses it
    own = re.search(r"\(configured: '([^']+)'\)", refused.stderr).group(1)
    sqlite3_cli(store_path(env), f"UPDATE proposals SET cluster = '{own}' WHERE id = {rec['id']}")
    refused = cli("review", "approve", str(rec["id"]), "--reason", "restart", env=env, rc=1)
    assert f"proposal #{rec['id']} does not match what audit entry" in refused.stderr and "cluster" in refused.stderr
    assert cluster.requests == []
    assert json.loads(cli("review", "list", "--json", env=env).stdout)[0]["state"] == "pending"
    broken = cli("audit", "verify", env=env, rc=1)
    assert f"proposal #{rec['id']}" in broken.stderr


def test_hostile_text_in_the_cluster_column_stays_inert_when_listed(tmp_path, cluster):
    env = environment(tmp_path, kubernetes_kubeconfig=str(kubeconfig(tmp_path, cluster.url)))
    first, second = enqueue(tmp_path, env, CRASHLOOP, {**CRASHLOOP, "fingerprint": "d4d4d4d4d4d4d4d4",
                                                      "labels": {**CRASHLOOP["labels"], "pod": "web-2"}})
    sqlite3_cli(store_path(env), f"UPDATE proposals SET cluster = '{HOSTILE}' WHERE id = {second['id']}")

    table = cli("review", "list", env=env).stdout  # two clusters now: the table has a CLUSTER column
    assert "CLUSTER" in table and "LOUD" in table
    assert not any(ch in table for ch in ("\x1b", "\x07", "\u202e"))
    listed = cli("review", "list", "--json", env=env).stdout
    assert not any(ch in listed for ch in ("\x1b", "\x07", "\u202e"))  # escaped in the JSON ...
    assert {r["id"]: r["cluster"] for r in json.loads(listed)}[second["id"]] == HOSTILE  # ... and read back as stored
    refused = cli("review", "approve", str(second["id"]), "--reason", "x", env=env, rc=1)
    assert not any(ch in refused.stderr for ch in ("\x1b", "\x07", "\u202e")) and cluster.requests == []
