"""Executing against the wrong cluster is impossible by construction (issue 20): a proposal
records the cluster its alert came from, the executor is the one built for that cluster's
own Kubernetes settings, and the queue refuses the intent to execute (and a rollback) unless
the executor's cluster is the one sealed on the row.

Two clusters are configured, each with its own Kubernetes API. No Kubernetes API server can
be installed here, so each is the stateful stand-in of tests/adversarial/reviewhelp.py (on
tests/kubestub.py, which records every request): it answers the official client's requests
in the API's documented JSON shapes. What is asserted is where each request arrived.

Every test runs on the SQLite file and on a real PostgreSQL server (tests/pgharness.py),
like the store suite in tests/test_review_backends.py.

The two clusters are given to the settings through ``Settings.cluster_list`` (the one
interface the console reads clusters by): parsing ``[[clusters]]`` tables is the settings'
own matter, tested with them.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from adversarial.reviewhelp import Cluster, kubeconfig
from sreconsole.config import ClusterSettings, KubernetesSettings, load_settings
from sreconsole.domain.alerts import Alert, fingerprint
from sreconsole.domain.operator import Operator
from sreconsole.review import audit
from sreconsole.review.store import SealBroken
from test_review_backends import Backend

ALICE = Operator("alice", "10.0.0.5")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return Backend("sqlite", tmp_path)
    return Backend("postgresql", tmp_path, request.getfixturevalue("postgres"))


@pytest.fixture
def apis():
    """The API servers of cluster prod-a and of cluster prod-b."""
    a, b = Cluster(), Cluster()
    yield a, b
    a.close()
    b.close()


def two_clusters(backend: Backend, tmp_path: Path, a: Cluster, b: Cluster):
    """Settings with clusters prod-a and prod-b, each with a kubeconfig naming its own API
    server, the queue in ``backend``, and low and medium risk executed for real."""
    settings = load_settings(overrides={"review.store": str(backend.location("alice")), "review.apply_risks": ["low", "medium"],
                                        "knowledge.enabled": False})
    clusters = []
    for name, server in (("prod-a", a), ("prod-b", b)):
        directory = tmp_path / name
        directory.mkdir()
        k = KubernetesSettings(kubeconfig=str(kubeconfig(directory, server.url)))
        clusters.append(ClusterSettings(name, settings.alertmanager, settings.prometheus, settings.loki, k))
    settings.cluster_list = lambda: list(clusters)
    return settings


def alert(cluster: str, labels: dict, function: str) -> Alert:
    labels = {"severity": "warning", **labels}
    return Alert(fingerprint(labels), labels, {"summary": "it broke", "lambda_function": function}, cluster=cluster)


def crashloop(cluster: str) -> Alert:
    """The same alert (same labels, same fingerprint) wherever it fires."""
    return alert(cluster, {"alertname": "KubePodCrashLooping", "namespace": "shop", "pod": "web-1"}, "pod-restart")


def enqueue(queue, alerts: list[Alert], *, from_source: bool = False) -> list:
    from sreconsole.triage.catalog import load_catalog
    from sreconsole.triage.engine import TriageEngine

    proposals = TriageEngine(load_catalog()).propose_many(alerts)
    assert [p.cluster for p in proposals] == [a.cluster for a in alerts]  # the engine carries the alert's cluster
    return queue.enqueue(proposals, alerts, from_source=from_source)


def test_a_proposal_for_cluster_b_reaches_b_and_never_a(backend: Backend, apis, tmp_path: Path):
    from sreconsole.services.review import ReviewQueue

    a, b = apis
    queue = ReviewQueue(two_clusters(backend, tmp_path, a, b), ALICE)
    try:
        for_a, for_b = enqueue(queue, [crashloop("prod-a"), crashloop("prod-b")])
        assert for_a.id != for_b.id and (for_a.cluster, for_b.cluster) == ("prod-a", "prod-b")
        assert for_a.fingerprint == for_b.fingerprint and for_a.target == for_b.target  # the same alert, two proposals

        done = queue.approve(for_b.id, "restart it in b")
        assert done.record.state == "executed" and done.record.cluster == "prod-b"
        assert b.sent() == [("DELETE", "/api/v1/namespaces/shop/pods/web-1", None)]
        assert a.requests == []
        assert queue.get(for_a.id).state == "pending"  # the decision for b is not a's

        done = queue.approve(for_a.id, "and in a")
        assert done.record.state == "executed"
        assert a.sent() == [("DELETE", "/api/v1/namespaces/shop/pods/web-1", None)] and len(b.requests) == 1
    finally:
        queue.close()
    entries = [e for e in audit.export(backend.location()) if e["event"] == "execute"]
    assert [(e["proposal_id"], e["snapshot"]["cluster"]) for e in entries] == [(for_b.id, "prod-b"), (for_a.id, "prod-a")]
    assert audit.verify(backend.location()).ok


def test_a_proposal_for_a_cluster_not_configured_is_refused_and_nothing_is_called(backend: Backend, apis, tmp_path: Path):
    from sreconsole.services.review import ReviewQueue, UnknownCluster

    a, b = apis
    settings = two_clusters(backend, tmp_path, a, b)
    queue = ReviewQueue(settings, ALICE)
    try:
        (stray,) = enqueue(queue, [crashloop("prod-c")])
        with pytest.raises(UnknownCluster, match=r"#\d+ pod-restart: its cluster 'prod-c' is not configured.*'prod-a', 'prod-b'"):
            queue.approve(stray.id, "restart")
        with pytest.raises(UnknownCluster, match="prod-c"):
            queue.dry_run(stray.id)
        assert queue.get(stray.id).state == "pending"  # nothing stored either
        assert "prod-c" in queue.executor_mode("low", "prod-c") and queue.executor_mode("low", "prod-b").endswith("of cluster prod-b")

        # A proposal that names no cluster (queued before there were several) goes nowhere.
        (old,) = enqueue(queue, [crashloop("")])
        assert old.cluster == ""
        with pytest.raises(UnknownCluster, match="names no cluster and 2 are configured"):
            queue.approve(old.id, "restart")
    finally:
        queue.close()
    assert a.requests == [] and b.requests == []
    # With one cluster configured, it goes to that one.
    only_a = settings.cluster_list()[0]
    settings.cluster_list = lambda: [only_a]
    single = ReviewQueue(settings, ALICE)
    try:
        assert single.approve(old.id, "restart").record.state == "executed"
    finally:
        single.close()
    assert a.sent() == [("DELETE", "/api/v1/namespaces/shop/pods/web-1", None)] and b.requests == []


def test_moving_a_proposal_to_another_cluster_after_approval_breaks_the_seal(backend: Backend, apis, tmp_path: Path):
    """Cordon a node in b, then point the executed proposal at a (an operator's rights on the
    queue row): the rollback is refused by the seal and neither API server hears of it."""
    from sreconsole.services.review import ReviewQueue

    a, b = apis
    queue = ReviewQueue(two_clusters(backend, tmp_path, a, b), ALICE)
    try:
        (cordon,) = enqueue(queue, [alert("prod-b", {"alertname": "KubeNodeNotReady", "node": "node-1"}, "cordon-node")])
        assert queue.approve(cordon.id, "cordon it").record.state == "executed"
        assert [m for m, _, _ in b.sent()] == ["GET", "PATCH"] and a.requests == []
        backend.tamper("UPDATE proposals SET cluster = ? WHERE id = ?", ("prod-a", cordon.id))
        with pytest.raises(SealBroken, match="cluster"):
            queue.rollback(cordon.id, "put it back")
        assert queue.get(cordon.id).state == "executed"
    finally:
        queue.close()
    assert a.requests == [] and len(b.requests) == 2
    result = audit.verify(backend.location())
    assert not result.ok and f"proposal #{cordon.id}" in result.reason and "cluster" in result.reason


def test_a_rollback_goes_to_the_cluster_recorded_on_the_proposal(backend: Backend, apis, tmp_path: Path):
    from sreconsole.services.review import ReviewQueue

    a, b = apis
    queue = ReviewQueue(two_clusters(backend, tmp_path, a, b), ALICE)
    try:
        node = {"alertname": "KubeNodeNotReady", "node": "node-1"}
        in_a, in_b = enqueue(queue, [alert("prod-a", node, "cordon-node"), alert("prod-b", node, "cordon-node")])
        for rec in (in_a, in_b):
            assert queue.approve(rec.id, "cordon").record.state == "executed"
        assert a.objects["/api/v1/nodes/node-1"]["spec"]["unschedulable"] is True
        assert b.objects["/api/v1/nodes/node-1"]["spec"]["unschedulable"] is True
        before_a = len(a.requests)
        assert queue.rollback(in_b.id, "false alarm").record.state == "rolled_back"
        assert b.sent("PATCH")[-1] == ("PATCH", "/api/v1/nodes/node-1", {"spec": {"unschedulable": False}})
        assert len(a.requests) == before_a and a.objects["/api/v1/nodes/node-1"]["spec"]["unschedulable"] is True
    finally:
        queue.close()
    assert audit.verify(backend.location()).ok


async def test_the_review_pane_names_the_cluster_once_there_are_two(make_demo_app):
    """The Review pane on a wide terminal: no CLUSTER column while every proposal is for one
    cluster, one as soon as a second cluster's proposal is queued; the detail names the
    cluster, and the approve dialog says this console cannot execute it there."""
    from test_review_flow import open_review

    from sreconsole.services.review import ReviewQueue
    from sreconsole.tui.panes.review import ApproveScreen, record_renderable

    settings = load_settings()
    queue = ReviewQueue(settings, ALICE)
    (in_a,) = enqueue(queue, [crashloop("prod-a")])
    app = make_demo_app(settings)
    async with app.run_test(size=(150, 40)) as pilot:
        pane = await open_review(app, pilot, 1)
        table = pane.query_one("#review-table")
        assert "CLUSTER" not in [str(c.label) for c in table.columns.values()]
        (in_b,) = enqueue(queue, [crashloop("prod-b")])
        for _ in range(100):
            await pilot.pause(0.05)
            if len(pane.records) == 2:
                break
        labels = [str(c.label) for c in table.columns.values()]
        assert "CLUSTER" in labels
        column = list(table.columns)[labels.index("CLUSTER")]
        assert {table.get_cell(str(r.id), column).plain for r in (in_a, in_b)} == {"prod-a", "prod-b"}
        table.move_cursor(row=pane.order.index(str(in_b.id)))
        await pilot.pause(0.1)
        detail = record_renderable(pane.selected(), {}, None, (0.9, 0.5), app.current_theme, datetime.now(timezone.utc))
        assert pane.selected().id == in_b.id and "cluster prod-b" in detail.renderables[0].plain
        await pilot.press("a")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ApproveScreen)
        shown = " ".join(str(w.render()) for w in app.screen.query("Label"))
        assert f"#{in_b.id} pod-restart" in shown and "in prod-b" in shown
        assert "'prod-b' is not configured" in app.screen.mode  # the demo's one cluster is not prod-b: said before approving
        await pilot.press("escape")
    queue.close()
    assert queue.get(in_b.id).state == "pending"


def test_the_cli_lists_each_proposals_cluster_and_refuses_one_it_cannot_reach(tmp_path: Path):
    """`review list --json` has each proposal's cluster, the table a CLUSTER column once two
    clusters are queued, and `review approve` of a proposal for a cluster this console is not
    configured for fails naming it, with nothing stored."""
    import json

    from test_review_flow import cli

    from sreconsole.services.review import ReviewQueue

    env = {k: v for k, v in __import__("os").environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")}
    env.update(SRECONSOLE_DATA_DIR=str(tmp_path / "data"), SRECONSOLE_KNOWLEDGE_ENABLED="0", COLUMNS="200")
    queue = ReviewQueue(load_settings(overrides={"data_dir": str(tmp_path / "data")}), ALICE)
    in_a, in_b = enqueue(queue, [crashloop("prod-a"), crashloop("prod-b")])
    queue.close()
    listed = {row["id"]: row["cluster"] for row in json.loads(cli("review", "list", "--json", env=env).stdout)}
    assert listed == {in_a.id: "prod-a", in_b.id: "prod-b"}
    table = cli("review", "list", env=env).stdout
    header = next(line for line in table.splitlines() if line.startswith("ID"))
    assert header.split()[:2] == ["ID", "CLUSTER"] and "prod-a" in table and "prod-b" in table
    refused = cli("review", "approve", str(in_b.id), "--reason", "restart", env=env, check_rc=1)
    assert f"#{in_b.id} pod-restart: its cluster 'prod-b' is not configured" in refused.stderr and "nothing sent" in refused.stderr
    (still,) = [r for r in json.loads(cli("review", "list", "--json", env=env).stdout) if r["id"] == in_b.id]
    assert still["state"] == "pending"


def snapshot(*alerts: Alert, acks: frozenset[str] = frozenset()):
    from sreconsole.domain.health import HealthState, SourceHealth
    from sreconsole.services.alerts import AlertsSnapshot

    now = datetime.now(timezone.utc)
    return AlertsSnapshot(tuple(alerts), SourceHealth("alertmanager", HealthState.OK, now), now, acks=acks)


def test_each_clusters_alerts_speak_only_for_that_clusters_proposals(backend: Backend, apis, tmp_path: Path):
    """The same alert in two clusters: prod-b's is acked while prod-a's fires, and each
    proposal follows its own; a poll holding no alert of a cluster leaves that cluster's
    proposals as they were (a cluster that did not answer is not a cluster whose alerts
    resolved); and an executed restart in prod-a is judged by prod-a's alerts only, not by
    the identical alert still firing in prod-b."""
    from dataclasses import replace

    from sreconsole.domain.alerts import AlertState
    from sreconsole.services.review import ReviewQueue

    a, b = apis
    queue = ReviewQueue(two_clusters(backend, tmp_path, a, b), ALICE)
    try:
        in_a, in_b = enqueue(queue, [crashloop("prod-a"), crashloop("prod-b")], from_source=True)
        assert (in_a.alert_source, in_b.alert_source) == (f"{queue.source_id}#prod-a", f"{queue.source_id}#prod-b")
        acked = replace(crashloop("prod-b"), state=AlertState.SILENCED, silenced_by=("ack-1",))
        queue.observe(snapshot(crashloop("prod-a"), acked, acks=frozenset({"ack-1"})))
        assert (queue.get(in_a.id).alert_state, queue.get(in_b.id).alert_state) == ("firing", "acked")
        queue.observe(snapshot(crashloop("prod-a")))  # nothing of prod-b in this poll
        assert (queue.get(in_a.id).alert_state, queue.get(in_b.id).alert_state) == ("firing", "acked")

        assert queue.approve(in_a.id, "restart in a").record.outcome == "watching"
        other_in_a = alert("prod-a", {"alertname": "KubeNodeNotReady", "node": "node-9"}, "escalate")
        queue.observe(snapshot(other_in_a, crashloop("prod-b")))  # a's crash loop gone, b's (same labels) firing
        assert queue.get(in_a.id).outcome == "effective"
    finally:
        queue.close()
