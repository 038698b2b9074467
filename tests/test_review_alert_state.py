"""The queue shows only what is true now (issue 16, item 2), against real SQLite files:

* one pending proposal per action and target, whichever alert raised it: a second alert for
  the same target joins the first proposal's evidence, audited, and the database refuses a
  second row;
* the live state of each proposal's alerts (firing, acked, silenced, resolved), kept from
  what the alert source holds now: a resolved one leaves the pending view at once, with an
  audit entry, and approving it needs the operator to say so;
* a store written before this (schema 1) is brought up to it, duplicates superseded;
* the demo started four times does not grow the queue (the TUI against the demo cluster,
  with its real knowledge base and triage).

The real-Alertmanager versions of these are in test_live_alertmanager.py.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from sreconsole.domain.alerts import Alert, AlertState
from sreconsole.domain.operator import Operator
from sreconsole.domain.proposal import Proposal
from sreconsole.review import audit, chain
from sreconsole.review import store as store_module
from sreconsole.review.store import ReviewStore

from test_review_store import raw

T0 = datetime(2026, 11, 23, 18, 0, 0, tzinfo=timezone.utc)
ALICE = Operator("alice", "10.0.0.5")


def restart(fp: str, alertname: str, *, deployment: str = "search-indexer", namespace: str = "search",
            state: AlertState = AlertState.FIRING) -> tuple[Proposal, Alert]:
    labels = {"alertname": alertname, "namespace": namespace, "deployment": deployment, "severity": "warning"}
    alert = Alert(fp, labels, {"summary": f"{alertname} on {deployment}"}, starts_at=T0, state=state)
    proposal = Proposal(
        fingerprint=fp, alertname=alertname, action="rollout-restart", title="Rolling restart",
        parameters={"name": deployment, "namespace": namespace}, command=f"kubectl rollout restart deployment/{deployment} -n {namespace}",
        api={"method": "PATCH", "path": f"/apis/apps/v1/namespaces/{namespace}/deployments/{deployment}"},
        confidence=0.8, method="trm", requires_human_review=False, risk="medium", reversible=False,
    )
    return proposal, alert


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "review.sqlite"


@pytest.fixture
def store(db: Path):
    s = ReviewStore(db)
    yield s
    s.close()


def events(path: Path) -> list[dict]:
    return list(audit.export(path))


# -- one pending proposal per action and target ----------------------------------------------------

def test_a_second_alert_for_the_same_target_joins_the_first_proposal(store: ReviewStore, db: Path):
    first = store.enqueue(*restart("fp-oom", "ContainerOOMKilled"), now=T0, operator=ALICE, source="am")
    second = store.enqueue(*restart("fp-hpa", "KubeHpaMaxedOut"), now=T0 + timedelta(seconds=5), operator=ALICE, source="am")
    assert second.id == first.id and second.target == "search/search-indexer"
    assert [a["fingerprint"] for a in second.alerts] == ["fp-oom", "fp-hpa"]
    assert [r.id for r in store.list()] == [first.id]
    merged = [e for e in events(db) if e["event"] == "merge"]
    assert len(merged) == 1 and merged[0]["proposal_id"] == first.id and "KubeHpaMaxedOut" in merged[0]["reason"]
    version = store.version()
    again = store.enqueue(*restart("fp-hpa", "KubeHpaMaxedOut"), now=T0 + timedelta(seconds=10), source="am")
    assert again.id == first.id and store.version() == version  # already there: nothing written
    other = store.enqueue(*restart("fp-web", "KubePodCrashLooping", deployment="search-web"), now=T0, source="am")
    assert other.id != first.id  # another target is another decision
    assert audit.verify(db).ok


def test_the_database_refuses_a_second_pending_row_for_an_action_and_target(store: ReviewStore, db: Path):
    store.enqueue(*restart("fp-oom", "ContainerOOMKilled"), now=T0)
    with raw(db) as c, pytest.raises(sqlite3.IntegrityError, match="action, proposals.target"):
        c.execute("INSERT INTO proposals (fingerprint, alertname, namespace, severity, action, title, parameters, command,"
                  " method, requires_human_review, review_reasons, risk, reversible, model_version, evidence, alternatives,"
                  " missing_parameters, notes, labels, annotations, state, created_at, updated_at, changed_version, target)"
                  " SELECT 'fp-other', alertname, namespace, severity, action, title, parameters, command, method,"
                  " requires_human_review, review_reasons, risk, reversible, model_version, evidence, alternatives,"
                  " missing_parameters, notes, labels, annotations, 'pending', created_at, updated_at, changed_version, target"
                  " FROM proposals")


def test_an_action_naming_no_object_stays_one_per_alert(store: ReviewStore):
    a, alert_a = restart("fp-1", "A")
    b, alert_b = restart("fp-2", "B")
    plain = dict(parameters={}, action="escalate", api=None, command="")
    from dataclasses import replace

    ra = store.enqueue(replace(a, **plain), alert_a, now=T0)
    rb = store.enqueue(replace(b, **plain), alert_b, now=T0)
    assert ra.id != rb.id and (ra.target, rb.target) == ("alert:fp-1", "alert:fp-2")


# -- the live state of the alerts -------------------------------------------------------------------

def test_a_resolved_alert_leaves_the_pending_view_at_once_with_an_audit_entry(store: ReviewStore, db: Path):
    rec = store.enqueue(*restart("fp-oom", "ContainerOOMKilled"), now=T0, source="am")
    assert (rec.alert_state, rec.alert_state_since) == ("firing", T0)
    assert store.observe("am", {"fp-oom": "firing"}, now=T0 + timedelta(seconds=5)) == []  # nothing new: nothing written
    assert store.observe("am", {}, now=T0 + timedelta(minutes=3), operator=ALICE) == [(rec.id, "firing", "resolved")]
    now = store.get(rec.id)
    assert now.state == "pending" and now.alert_state == "resolved" and now.alert_state_since == T0 + timedelta(minutes=3)
    assert store.list(hide_alert_states=("resolved",)) == [] and [r.id for r in store.list()] == [rec.id]
    entry = events(db)[-1]
    assert entry["event"] == "alert_state" and entry["proposal_id"] == rec.id and entry["user"] == "alice"
    assert entry["reason"].startswith("the alert resolved (seen by am)") and entry["snapshot"]["alert_state"] == "resolved"
    assert store.observe("am", {"fp-oom": "firing"}, now=T0 + timedelta(minutes=4)) == [(rec.id, "resolved", "firing")]
    assert "fires again" in events(db)[-1]["reason"]
    assert audit.verify(db).ok


def test_the_most_alive_alert_decides_and_acks_are_not_silences(store: ReviewStore, db: Path):
    rec = store.enqueue(*restart("fp-oom", "ContainerOOMKilled"), now=T0, source="am")
    store.enqueue(*restart("fp-hpa", "KubeHpaMaxedOut"), now=T0, source="am")
    assert store.observe("am", {"fp-hpa": "firing"}, now=T0 + timedelta(minutes=1)) == []  # one resolved, one firing
    now = store.get(rec.id)
    assert now.alert_state == "firing" and [a["state"] for a in now.alerts] == ["resolved", "firing"]
    assert "still firing" in events(db)[-1]["reason"] and "ContainerOOMKilled (fp-oom) firing → resolved" in events(db)[-1]["reason"]
    assert store.observe("am", {"fp-hpa": "acked"}, now=T0 + timedelta(minutes=2)) == [(rec.id, "firing", "acked")]
    assert store.observe("am", {"fp-hpa": "silenced"}, now=T0 + timedelta(minutes=3)) == [(rec.id, "acked", "silenced")]
    assert store.observe("am", {}, now=T0 + timedelta(minutes=4)) == [(rec.id, "silenced", "resolved")]
    assert "all 2 alerts resolved" in events(db)[-1]["reason"]
    # A firing alert joining a proposal whose alerts resolved brings it back into view.
    store.enqueue(*restart("fp-new", "ContainerOOMKilled"), now=T0 + timedelta(minutes=5), source="am")
    assert store.get(rec.id).alert_state == "firing" and [e["event"] for e in events(db)[-2:]] == ["merge", "alert_state"]
    with pytest.raises(store_module.ReviewError, match="observed alert state"):
        store.observe("am", {"fp-new": "resolved"})


def test_a_source_speaks_only_for_its_own_alerts_and_adopts_unwatched_ones_it_holds(store: ReviewStore):
    watched = store.enqueue(*restart("fp-a", "A", deployment="a"), now=T0, source="am-eu")
    from_file = store.enqueue(*restart("fp-b", "B", deployment="b"), now=T0)  # `triage --enqueue FILE`: nobody watches it
    unseen = store.enqueue(*restart("fp-c", "C", deployment="c"), now=T0)
    assert (from_file.alert_source, from_file.alert_state) == ("", "unknown")
    changes = store.observe("am-us", {"fp-b": "firing"}, now=T0 + timedelta(minutes=1))
    assert changes == [(from_file.id, "unknown", "firing")]
    assert store.get(watched.id).alert_state == "firing"  # another source's: untouched
    assert store.get(unseen.id).alert_state == "unknown"  # held by no source yet
    assert store.get(from_file.id).alert_source == "am-us"
    assert store.observe("am-us", {}, now=T0 + timedelta(minutes=2)) == [(from_file.id, "firing", "resolved")]
    assert store.get(unseen.id).alert_state == "unknown"


def test_the_queue_service_refuses_to_approve_a_resolved_proposal_unless_told(tmp_path: Path):
    from sreconsole.config import load_settings
    from sreconsole.services.alerts import AlertsSnapshot
    from sreconsole.domain.health import HealthState, SourceHealth
    from sreconsole.services.review import AlertResolved, ReviewQueue

    settings = load_settings(overrides={"data_dir": str(tmp_path / "data")})
    clock = [T0]
    queue = ReviewQueue(settings, ALICE, clock=lambda: clock[0])
    proposal, alert = restart("fp-oom", "ContainerOOMKilled")
    (rec,) = queue.enqueue([proposal], [alert], from_source=True)
    assert rec.alert_source == queue.source_id == "demo"
    health = SourceHealth("demo", HealthState.OK)
    stale = AlertsSnapshot((), health, T0, error="connection refused")
    assert queue.observe(stale) == []  # a failed poll says nothing about what resolved
    clock[0] = T0 + timedelta(minutes=7)
    assert queue.observe(AlertsSnapshot((), health, clock[0])) == [(rec.id, "firing", "resolved")]
    assert queue.list() == [] and [r.id for r in queue.list(include_resolved=True)] == [rec.id]
    clock[0] += timedelta(minutes=7)
    with pytest.raises(AlertResolved, match=r"#\d+ rollout-restart on search/search-indexer: its alert resolved 7m ago"):
        queue.approve(rec.id, "go")
    assert queue.get(rec.id).state == "pending"
    assert queue.approve(rec.id, "go", even_if_resolved=True, execute=False).record.state == "approved"
    silenced = Alert("fp-2", {"alertname": "B", "namespace": "search", "deployment": "x"}, {}, starts_at=T0,
                     state=AlertState.SILENCED, silenced_by=("s-ack",))
    p2, _ = restart("fp-2", "B", deployment="x")
    (rec2,) = queue.enqueue([p2], [silenced], from_source=True)
    assert rec2.alert_state == "silenced"
    assert queue.observe(AlertsSnapshot((silenced,), health, clock[0], acks=frozenset({"s-ack"}))) == [(rec2.id, "silenced", "acked")]
    queue.close()


# -- a store from before ----------------------------------------------------------------------------

def test_a_schema_1_store_gets_targets_and_its_duplicates_superseded(db: Path, monkeypatch: pytest.MonkeyPatch):
    with monkeypatch.context() as m:
        m.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:1])
        m.setattr(store_module, "SCHEMA_VERSION", 1)
        ReviewStore(db).close()
    with raw(db) as c:  # two pending restarts of one deployment, as the trial found them
        ids = []
        for fp, minute in (("fp-old", 0), ("fp-new", 5)):
            ts = (T0 + timedelta(minutes=minute)).isoformat(timespec="microseconds")
            cur = c.execute(
                "INSERT INTO proposals (fingerprint, alertname, namespace, severity, action, title, parameters, command, api,"
                " confidence, method, requires_human_review, review_reasons, risk, reversible, model_version, evidence,"
                " alternatives, missing_parameters, notes, labels, annotations, alert_started_at, state, created_at, updated_at,"
                " changed_version) VALUES (?, 'ContainerOOMKilled', 'search', 'warning', 'rollout-restart', 't', ?, 'k', NULL,"
                " 0.7, 'trm', 0, '[]', 'medium', 0, '', '[]', '[]', '[]', '[]', '{}', '{}', ?, 'pending', ?, ?, ?)",
                (fp, chain.canonical({"name": "search-indexer", "namespace": "search"}), ts, ts, ts, minute + 1))
            ids.append(cur.lastrowid)
            c.execute("BEGIN IMMEDIATE")
            chain.append(c, ts=ts, user="alice", client="", event="enqueue", proposal_id=cur.lastrowid, action="rollout-restart",
                         parameters={"name": "search-indexer", "namespace": "search"}, command="k")
            c.execute("COMMIT")
    with ReviewStore(db) as s:
        old, new = s.get(ids[0]), s.get(ids[1])
        assert (old.state, new.state) == ("superseded", "pending")
        assert new.target == "search/search-indexer" and new.alert_state == "unknown" and new.alerts[0]["fingerprint"] == "fp-new"
        entry = [e for e in events(db) if e["event"] == "supersede"][0]
        assert entry["proposal_id"] == ids[0] and "one pending proposal per action and target" in entry["reason"]
        s.observe("demo", {"fp-new": "firing"}, now=T0 + timedelta(minutes=6))  # the widened CHECK takes the new events
        assert s.get(ids[1]).alert_state == "firing"
    result = audit.verify(db)
    assert result.ok and not result.reason, result  # the rebuilt audit table kept every entry and its triggers
    with raw(db) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == store_module.SCHEMA_VERSION
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            c.execute("DELETE FROM audit WHERE seq = 1")


# -- the TUI: the pending view, the live column, approving a resolved proposal ---------------------

async def test_review_pane_hides_a_resolved_proposal_and_asks_before_approving_it(make_demo_app):
    """An alert the demo cluster does not hold (it resolved): the first poll marks its
    proposal, the pending view leaves it out, history shows it with LIVE resolved, and `a`
    asks first; `n` keeps it pending, `y` then the approve dialog approves it."""
    from sreconsole.config import load_settings
    from sreconsole.services.review import ReviewQueue
    from sreconsole.tui.panes.review import ApproveScreen, ResolvedScreen, ReviewPane

    from conftest import wait_for_polls

    settings = load_settings()
    queue = ReviewQueue(settings, ALICE)
    proposal, alert = restart("fp-gone", "ContainerOOMKilled")
    (rec,) = queue.enqueue([proposal], [alert], from_source=True)
    queue.close()
    app = make_demo_app(settings)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        await wait_for_polls(app, pilot, 2)
        await app.workers.wait_for_complete()
        assert app.review_queue.get(rec.id).alert_state == "resolved"
        await pilot.press("2")
        pane = app.query_one(ReviewPane)
        pane.refresh_queue()
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        assert pane.records == {}
        await pilot.press("h")
        for _ in range(100):
            await pilot.pause(0.05)
            if str(rec.id) in pane.records:
                break
        assert pane.selected().id == rec.id
        table = pane.query_one("#review-table")
        assert str(table.get_cell(str(rec.id), "live")).startswith("resolved")
        await pilot.press("u")  # undo needs an executed proposal: said in plain English ("a executed" before)
        await pilot.pause(0.1)
        assert any(n.message == f"#{rec.id} is pending: this works on executed proposals only" for n in app._notifications)
        await pilot.press("a")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ResolvedScreen)
        assert f"#{rec.id} rollout-restart search/search-indexer" in str(app.screen.query_one("Label").content)
        assert "alert has resolved" in str(app.screen.query_one("#resolved-why").content)
        await pilot.press("n")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, (ResolvedScreen, ApproveScreen)) and app.review_queue.get(rec.id).state == "pending"
        await pilot.press("a")
        await pilot.pause(0.2)
        await pilot.press("y")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ApproveScreen)
        await pilot.press(*"done anyway", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause(0.3)
        done = app.review_queue.get(rec.id)
        assert done.state == "approved" and done.reason == "done anyway"


# -- the demo, started again and again --------------------------------------------------------------

async def test_four_demo_starts_keep_only_what_is_true_now(monkeypatch, tmp_path: Path):
    """The trial: four starts of the demo, minutes apart, left 17 pending proposals. Now each
    start runs the TUI on the demo's persisted clock, with triage and the knowledge base on
    (the runbook names actions, so several alerts ask for the same target), and afterwards
    every proposal in the pending view has an alert firing now, and no action and target
    is pending twice. Started again at the same moment, the pending view is the same."""
    from sreconsole.config import load_settings
    from sreconsole.domain.alerts import AlertState as S
    from sreconsole.services.environment import persisted_demo_epoch
    from sreconsole.tui.app import make_app
    from sreconsole.tui.panes.alerts import AlertsPane

    from conftest import wait_for_polls

    monkeypatch.setenv("SRECONSOLE_KNOWLEDGE_ENABLED", "1")
    monkeypatch.setenv("SRECONSOLE_TRIAGE_ENABLED", "1")
    settings = load_settings()
    start = datetime.now(timezone.utc).replace(microsecond=0)
    assert persisted_demo_epoch(settings, lambda: start) == start

    async def demo_start(now: datetime) -> tuple[set, set]:
        app = make_app(settings, clock=lambda: now, operator=ALICE)
        if app.evidence_service.knowledge is not None:
            app.evidence_service.knowledge.prepare()
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for_polls(app, pilot)
            pane = app.query_one(AlertsPane)
            firing = [a for a in pane.snapshot.alerts if a.state is S.FIRING]
            def queued() -> set[str]:
                return {a["fingerprint"] for r in app.review_queue.list(include_resolved=True) for a in r.alerts}

            # Not workers.wait_for_complete(): a triage worker a later poll replaced is
            # cancelled, and waiting on it raises. What the test needs is in the queue.
            for _ in range(1200):
                await pilot.pause(0.05)
                if {a.fingerprint for a in firing} <= queued():
                    break
            polls = app.polls
            await wait_for_polls(app, pilot, polls + 2)  # an observation after the enqueue
            for _ in range(200):
                if not app._observing:
                    break
                await pilot.pause(0.05)
            live = {a.fingerprint for a in pane.snapshot.alerts}
            pending = app.review_queue.list()
        keys = [(r.action, r.target) for r in pending]
        assert len(keys) == len(set(keys)), keys
        for r in pending:
            assert r.alert_state != "resolved" and {a["fingerprint"] for a in r.alerts} & live, (r.id, r.alertname, r.alerts)
        assert len(pending) <= len(live)
        return {r.id for r in pending}, {r.fingerprint for r in pending}

    seen = []
    for k in range(4):
        ids, _ = await demo_start(start + timedelta(minutes=7 * k))
        seen.append(ids)
    again, _ = await demo_start(start + timedelta(minutes=21))
    assert again == seen[-1]
    with ReviewStore(settings.data_path / "review.sqlite") as s:
        everything = s.list(states=None, limit=10_000)
    assert any(r.alert_state == "resolved" for r in everything)  # the earlier starts' alerts did resolve
    assert len(seen[-1]) < len({r.id for r in everything})
    assert audit.verify(settings.data_path / "review.sqlite").ok
