"""The review store and its audit trail against real SQLite files and real processes:
states and transitions, eight processes racing to decide the same proposals, a writer
killed with SIGKILL at random moments, tampering with the trail, a held write lock, schema
versions, and hostile text."""

from __future__ import annotations

import contextlib
import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from sreconsole.domain.alerts import Alert
from sreconsole.domain.operator import Operator
from sreconsole.domain.proposal import EvidenceItem, Proposal
from sreconsole.review import audit, chain
from sreconsole.review import store as store_module
from sreconsole.review.store import (
    BUSY_MESSAGE,
    SCHEMA_VERSION,
    STATES,
    AlreadyDecided,
    InvalidTransition,
    ReviewError,
    ReviewStore,
    StoreBusy,
)

T0 = datetime(2026, 11, 23, 18, 0, 0, tzinfo=timezone.utc)
ALICE = Operator("alice", "10.0.0.5")
BOB = Operator("bob", "10.0.0.6")


def make(fp: str = "fp-1", action: str = "pod-restart", *, confidence: float | None = 0.72, starts_at: datetime = T0,
         namespace: str = "payments", annotations: dict | None = None) -> tuple[Proposal, Alert]:
    labels = {"alertname": "KubePodCrashLooping", "namespace": namespace, "pod": f"api-{fp}", "severity": "critical"}
    alert = Alert(fp, labels, annotations if annotations is not None else {"summary": "pod restarts"}, starts_at=starts_at)
    proposal = Proposal(
        fingerprint=fp, alertname="KubePodCrashLooping", action=action, title=f"{action} for {fp}",
        parameters={"namespace": namespace, "pod": f"api-{fp}"}, command=f"kubectl -n {namespace} {action} api-{fp}",
        api={"method": "DELETE", "path": f"/api/v1/namespaces/{namespace}/pods/api-{fp}"}, confidence=confidence,
        method="trm+rag", requires_human_review=True, review_reasons=("low confidence",), risk="low", reversible=False,
        evidence=(EvidenceItem("runbook", "RUNBOOK.md:10-20", "restart it", action, 0.8),
                  EvidenceItem("incident", "incident:42", "same last week", action, 0.5)),
        model_version="trm-2026-11-20", alternatives=(("escalate", 0.2),),
    )
    return proposal, alert


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "shared" / "review.sqlite"


@pytest.fixture
def store(db: Path):
    s = ReviewStore(db)
    yield s
    s.close()


def events(path: Path) -> list[str]:
    return [e["event"] for e in audit.export(path)]


@contextlib.contextmanager
def raw(path: Path) -> Iterator[sqlite3.Connection]:
    """A plain connection, as someone with a shell on the bastion host would open one."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


# -- states and transitions -----------------------------------------------------------------

def test_enqueue_stores_the_snapshot_and_one_audit_entry(store: ReviewStore, db: Path):
    rec = store.enqueue(*make(), now=T0, operator=ALICE)
    assert rec.state == "pending" and rec.id > 0
    assert (rec.alertname, rec.namespace, rec.severity, rec.action) == ("KubePodCrashLooping", "payments", "critical", "pod-restart")
    assert rec.parameters == {"namespace": "payments", "pod": "api-fp-1"} and rec.confidence == 0.72
    assert rec.evidence[0]["ref"] == "RUNBOOK.md:10-20" and rec.labels["pod"] == "api-fp-1"
    assert rec.created_at == T0 and rec.alert_started_at == T0 and rec.decided_at is None
    assert store.get(rec.id) == rec and store.get(rec.id + 100) is None
    json.dumps(rec.as_dict())  # JSON-safe
    [entry] = list(audit.export(db))
    assert entry["event"] == "enqueue" and entry["user"] == "alice" and entry["client"] == "10.0.0.5"
    assert entry["snapshot"] == {"model_version": "trm-2026-11-20", "confidence": 0.72, "method": "trm+rag",
                                 "evidence": ["RUNBOOK.md:10-20", "incident:42"]}
    assert entry["prev_hash"] == audit.GENESIS


def test_same_alert_and_action_refreshes_the_pending_record(store: ReviewStore, db: Path):
    first = store.enqueue(*make(confidence=0.4), now=T0)
    version = store.version()
    again = store.enqueue(*make(confidence=0.4), now=T0 + timedelta(seconds=30))
    assert again == first and store.version() == version  # nothing changed: nothing written
    refreshed = store.enqueue(*make(confidence=0.9), now=T0 + timedelta(seconds=60))
    assert refreshed.id == first.id and refreshed.confidence == 0.9 and refreshed.updated_at == T0 + timedelta(seconds=60)
    assert store.version() > version
    assert len(store.list(states=None)) == 1 and events(db) == ["enqueue"]


def test_a_different_action_supersedes_the_pending_one(store: ReviewStore, db: Path):
    old = store.enqueue(*make(action="pod-restart"), now=T0)
    new = store.enqueue(*make(action="scale-deployment"), now=T0 + timedelta(seconds=5))
    assert new.id != old.id and new.state == "pending"
    assert store.get(old.id).state == "superseded"
    assert [r.id for r in store.list()] == [new.id]
    entries = list(audit.export(db))
    assert [e["event"] for e in entries] == ["enqueue", "supersede", "enqueue"]
    assert entries[1]["proposal_id"] == old.id and f"#{new.id}" in entries[1]["reason"]
    with pytest.raises(AlreadyDecided, match="already superseded"):
        store.decide(old.id, "approved", ALICE, "")


def test_the_database_allows_one_pending_proposal_per_alert(store: ReviewStore, db: Path):
    store.enqueue(*make(action="pod-restart"), now=T0)
    with raw(db) as c, pytest.raises(sqlite3.IntegrityError):
        c.execute("INSERT INTO proposals SELECT NULL, fingerprint, alertname, namespace, severity, 'other', title, parameters,"
                  " command, api, confidence, method, requires_human_review, review_reasons, risk, reversible, model_version,"
                  " evidence, alternatives, missing_parameters, notes, labels, annotations, alert_started_at, 'pending',"
                  " created_at, updated_at, decided_by, decided_from, decided_at, reason, corrected_action, result,"
                  " changed_version, 'another-target', alerts, alert_source, alert_state, alert_state_since, decided_claim, outcome, outcome_detail, approvals, cluster"
                  " FROM proposals")


def test_a_decision_holds_for_the_firing_and_a_re_fire_gets_a_new_proposal(store: ReviewStore):
    rec = store.enqueue(*make(), now=T0)
    store.decide(rec.id, "approved", ALICE, "looks right", now=T0)
    same_firing = store.enqueue(*make(confidence=0.99), now=T0 + timedelta(minutes=1))
    assert same_firing.id == rec.id and same_firing.state == "approved" and same_firing.confidence == 0.72
    store.record_result(rec.id, "executed", {"dry_run": False, "calls": []}, ALICE, now=T0 + timedelta(minutes=1))
    assert store.enqueue(*make(), now=T0 + timedelta(minutes=2)).id == rec.id
    refire = store.enqueue(*make(starts_at=T0 + timedelta(hours=1)), now=T0 + timedelta(hours=1))
    assert refire.id != rec.id and refire.state == "pending"
    assert [r.state for r in store.list(states=None)] == ["pending", "executed"]


def test_an_expired_proposal_comes_back_fresh(store: ReviewStore, db: Path):
    old = store.enqueue(*make("fp-1"), now=T0)
    young = store.enqueue(*make("fp-2"), now=T0 + timedelta(minutes=50))
    assert store.expire_pending(timedelta(hours=1), now=T0 + timedelta(minutes=30)) == 0
    assert store.expire_pending(timedelta(hours=1), now=T0 + timedelta(minutes=61)) == 1
    assert store.expire_pending(timedelta(hours=1), now=T0 + timedelta(minutes=61)) == 0
    assert store.get(old.id).state == "expired" and store.get(young.id).state == "pending"
    assert events(db).count("expire") == 1
    again = store.enqueue(*make("fp-1"), now=T0 + timedelta(minutes=62))
    assert again.id not in (old.id, young.id) and again.state == "pending"


def test_approve_with_edits_and_reject_with_a_correction(store: ReviewStore, db: Path):
    a = store.enqueue(*make("fp-1"), now=T0)
    b = store.enqueue(*make("fp-2"), now=T0)
    approved = store.decide(a.id, "approve", ALICE, "", parameters={"namespace": "payments", "pod": "api-other"},
                            command="kubectl -n payments delete pod api-other", api={"method": "DELETE", "path": "/x"}, now=T0)
    assert approved.state == "approved" and approved.parameters["pod"] == "api-other" and approved.api == {"method": "DELETE", "path": "/x"}
    assert (approved.decided_by, approved.decided_from, approved.decided_at) == ("alice", "10.0.0.5", T0)
    rejected = store.decide(b.id, "rejected", BOB, "wrong pod", corrected_action="escalate", now=T0 + timedelta(seconds=3))
    assert rejected.state == "rejected" and rejected.corrected_action == "escalate" and rejected.parameters == b.parameters
    entries = list(audit.export(db))
    approve = next(e for e in entries if e["event"] == "approve")
    assert approve["parameters"]["pod"] == "api-other" and approve["api"]["path"] == "/x"
    assert approve["snapshot"]["proposed"]["parameters"]["pod"] == "api-fp-1"
    reject = next(e for e in entries if e["event"] == "reject")
    assert (reject["user"], reject["client"], reject["reason"]) == ("bob", "10.0.0.6", "wrong pod")
    assert store.decisions() == [
        {"alert": {"fingerprint": "fp-1", "labels": a.labels, "annotations": a.annotations}, "action": "pod-restart",
         "verdict": "approved", "corrected_action": None, "decided_at": T0.isoformat(), "outcome": "approved",
         "reason": "", "proposal_id": a.id},
        {"alert": {"fingerprint": "fp-2", "labels": b.labels, "annotations": b.annotations}, "action": "pod-restart",
         "verdict": "rejected", "corrected_action": "escalate", "decided_at": (T0 + timedelta(seconds=3)).isoformat(),
         "outcome": "rejected", "reason": "wrong pod", "proposal_id": b.id},
    ]
    assert [d["proposal_id"] for d in store.decisions(since=T0 + timedelta(seconds=1))] == [b.id]


def test_the_dataset_builder_reads_the_decisions(store: ReviewStore):
    from sreconsole.triage.dataset import decision_examples

    a = store.enqueue(*make("fp-1", "pod-restart"), now=T0)
    b = store.enqueue(*make("fp-2", "pod-restart"), now=T0)
    store.decide(a.id, "approved", ALICE, "", now=T0)
    store.decide(b.id, "rejected", ALICE, "no", corrected_action="escalate", now=T0)
    skipped: list = []
    rows = decision_examples(store.decisions(), skipped)
    assert not skipped and [r.action for r in rows] == ["pod-restart", "escalate"]


def test_rejecting_needs_a_reason(store: ReviewStore, db: Path):
    rec = store.enqueue(*make(), now=T0)
    for reason in ("", "   \n\t"):
        with pytest.raises(ReviewError, match="needs a reason"):
            store.decide(rec.id, "rejected", ALICE, reason)
    with pytest.raises(ReviewError, match="verdict"):
        store.decide(rec.id, "maybe", ALICE, "hmm")
    with pytest.raises(ReviewError, match="corrected action"):
        store.decide(rec.id, "approved", ALICE, "", corrected_action="escalate")
    with pytest.raises(ReviewError, match="no proposal #999"):
        store.decide(999, "approved", ALICE, "")
    assert store.get(rec.id).state == "pending" and events(db) == ["enqueue"]


def test_already_decided_names_who_and_how_long_ago(store: ReviewStore):
    rec = store.enqueue(*make(), now=T0)
    store.decide(rec.id, "approved", ALICE, "ok", now=T0)
    with pytest.raises(AlreadyDecided) as lost:
        store.decide(rec.id, "rejected", BOB, "no", now=T0 + timedelta(seconds=12))
    assert "already approved by alice@10.0.0.5 12 s ago" in str(lost.value) and "\n" not in str(lost.value)
    assert lost.value.record.state == "approved" and lost.value.record.decided_by == "alice"
    store.record_result(rec.id, "executed", {"dry_run": False}, ALICE, now=T0)
    with pytest.raises(AlreadyDecided, match=r"approved by alice@10.0.0.5 5 min ago \(now executed\)"):
        store.decide(rec.id, "approved", BOB, "", now=T0 + timedelta(minutes=5))


def test_results_follow_the_state_machine(store: ReviewStore, db: Path):
    rec = store.enqueue(*make("fp-1"), now=T0)
    bad = store.enqueue(*make("fp-2"), now=T0)
    with pytest.raises(InvalidTransition, match="pending"):
        store.record_result(rec.id, "executed", {}, ALICE)
    dry = store.record_result(rec.id, "dry_run", {"dry_run": True, "calls": [{"verb": "delete"}]}, ALICE)
    assert dry.state == "pending" and dry.result is None  # an audit entry only
    store.decide(rec.id, "approved", ALICE, "")
    with pytest.raises(InvalidTransition, match="rolled back"):
        store.record_result(rec.id, "rolled_back", {}, ALICE)
    done = store.record_result(rec.id, "executed", {"dry_run": False, "calls": [], "error": "", "undo": {"replicas": 3}}, ALICE)
    assert done.state == "executed" and done.result["undo"] == {"replicas": 3}
    with pytest.raises(InvalidTransition):
        store.record_result(rec.id, "executed", {}, ALICE)
    back = store.record_result(rec.id, "rolled_back", {"dry_run": False, "reason": "made it worse"}, BOB)
    assert back.state == "rolled_back"
    store.decide(bad.id, "rejected", BOB, "no")
    for outcome in ("executed", "failed", "rolled_back"):
        with pytest.raises(InvalidTransition, match="rejected"):
            store.record_result(bad.id, outcome, {}, ALICE)
    with pytest.raises(ReviewError, match="unknown outcome"):
        store.record_result(bad.id, "exploded", {}, ALICE)
    entries = list(audit.export(db))
    assert [e["event"] for e in entries] == ["enqueue", "enqueue", "dry_run", "approve", "execute", "rollback", "reject"]
    assert entries[5]["reason"] == "made it worse" and entries[2]["result"]["calls"] == [{"verb": "delete"}]
    assert audit.verify(db).ok


def test_listing_and_change_polling(store: ReviewStore):
    a = store.enqueue(*make("fp-1", namespace="payments"), now=T0)
    b = store.enqueue(*make("fp-2", namespace="search", action="scale-deployment"), now=T0)
    assert [r.id for r in store.list()] == [b.id, a.id]
    assert [r.id for r in store.list(namespace="search")] == [b.id]
    assert [r.id for r in store.list(action="pod-restart")] == [a.id]
    assert store.list(states=("approved",)) == [] and len(store.list(limit=1)) == 1
    with pytest.raises(ReviewError, match="unknown state"):
        store.list(states=("pending", "bogus"))
    version, changed = store.changed_since(0)
    assert {r.id for r in changed} == {a.id, b.id}
    assert store.changed_since(version) == (version, [])
    store.decide(a.id, "approved", ALICE, "")
    newer, changed = store.changed_since(version)
    assert newer > version and [(r.id, r.state) for r in changed] == [(a.id, "approved")]
    assert {r.id for r in store.changed_since(newer + 50)[1]} == {a.id, b.id}  # a replaced file: everything
    assert set(STATES) >= {r.state for r in store.list(states=None)}


def test_a_second_store_sees_the_firsts_decisions(db: Path):
    with ReviewStore(db) as one, ReviewStore(db) as two:
        rec = one.enqueue(*make(), now=T0)
        assert two.get(rec.id).state == "pending"
        two.decide(rec.id, "rejected", BOB, "not now", now=T0)
        with pytest.raises(AlreadyDecided, match="already rejected by bob@10.0.0.6"):
            one.decide(rec.id, "approved", ALICE, "", now=T0)


def test_the_fingerprint_must_match_the_alert(store: ReviewStore):
    proposal, _ = make("fp-1")
    _, alert = make("fp-2")
    with pytest.raises(ReviewError, match="fp-1"):
        store.enqueue(proposal, alert)


# -- eight processes racing -------------------------------------------------------------------

RACER = r"""
import json, os, random, sys, time
from sreconsole.domain.operator import Operator
from sreconsole.review.store import AlreadyDecided, ReviewStore
path, go, me = sys.argv[1], sys.argv[2], int(sys.argv[3])
ids = json.loads(sys.argv[4])
store = ReviewStore(path, busy_timeout_s=60)
print("ready", flush=True)
while not os.path.exists(go):
    time.sleep(0.002)
rng = random.Random(me)
won, lost = [], 0
for pid in ids:
    verdict = rng.choice(["approved", "rejected"])
    try:
        store.decide(pid, verdict, Operator(f"op{me}", f"10.0.1.{me}"), f"op{me} says {verdict}")
        won.append(pid)
    except AlreadyDecided:
        lost += 1
print(json.dumps({"won": won, "lost": lost}), flush=True)
"""


def test_eight_processes_decide_each_proposal_exactly_once(db: Path, tmp_path: Path):
    with ReviewStore(db) as s:
        ids = [s.enqueue(*make(f"race-{n:02d}"), now=T0).id for n in range(50)]
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", RACER, str(db), str(go), str(me), json.dumps(ids)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for me in range(8)]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        go.touch()  # all eight start deciding together
        results = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    won = [pid for r in results for pid in r["won"]]
    assert sorted(won) == sorted(ids)  # each proposal decided exactly once...
    assert sum(r["lost"] for r in results) == 7 * 50  # ...and seven losers each time
    with ReviewStore(db) as s:
        for me, r in enumerate(results):
            for pid in r["won"]:
                rec = s.get(pid)
                assert rec.state in ("approved", "rejected") and rec.decided_by == f"op{me}"
                assert rec.reason == f"op{me} says {rec.state}"
    kinds = events(db)
    assert kinds.count("approve") + kinds.count("reject") == 50
    result = audit.verify(db)
    assert result.ok and result.entries == 100, result


# -- SIGKILL at random moments ------------------------------------------------------------------

CRASHER = r"""
import itertools, sys
from datetime import datetime, timezone
from sreconsole.domain.alerts import Alert
from sreconsole.domain.operator import Operator
from sreconsole.domain.proposal import Proposal
from sreconsole.review.store import ReviewStore
path, run = sys.argv[1], sys.argv[2]
store = ReviewStore(path, busy_timeout_s=30)
op = Operator("crash", "10.9.9.9")
print("ready", flush=True)
for n in itertools.count():
    fp = f"{run}-{n:05d}"
    alert = Alert(fp, {"alertname": "Crash", "namespace": "ns", "pod": fp}, starts_at=datetime(2026, 1, 1, tzinfo=timezone.utc))
    proposal = Proposal(fp, "Crash", "pod-restart", "restart", {"pod": fp}, "kubectl delete pod " + fp, None, 0.5, "trm", True)
    rec = store.enqueue(proposal, alert, operator=op)
    print(f"E {rec.id}", flush=True)
    rec = store.decide(rec.id, "approved" if n % 2 else "rejected", op, f"crash test {n}")
    print(f"D {rec.id} {rec.state}", flush=True)
    if rec.state == "approved" and n % 3 == 1:
        rec = store.record_result(rec.id, "executed", {"dry_run": True, "calls": []}, op)
        print(f"X {rec.id} {rec.state}", flush=True)
"""


def test_sigkill_never_loses_a_reported_decision(db: Path):
    ReviewStore(db).close()
    rng = random.Random(1234)
    enqueued, decided, executed, killed = set(), {}, set(), 0
    for run in range(15):
        p = subprocess.Popen([sys.executable, "-c", CRASHER, str(db), f"run{run}"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
            time.sleep(rng.uniform(0.0, 0.25))
            p.send_signal(signal.SIGKILL)
            out, err = p.communicate(timeout=30)
        finally:
            if p.poll() is None:
                p.kill()
        killed += p.returncode == -signal.SIGKILL
        lines = out.split("\n")[:-1]  # the last one is cut short if the kill landed mid-print
        for line in lines:
            kind, pid, *rest = line.split()
            if kind == "E":
                enqueued.add(int(pid))
            elif kind == "D":
                decided[int(pid)] = rest[0]
            elif kind == "X":
                executed.add(int(pid))
    assert killed == 15 and len(decided) >= 15  # the kills landed while it was working
    with raw(db) as c:
        assert c.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    with ReviewStore(db) as s:
        assert all(s.get(pid) is not None for pid in enqueued)
        for pid, state in decided.items():
            now = s.get(pid).state
            if pid in executed:
                assert now == "executed"
            else:  # killed after the execution committed but before it printed "X"
                assert now == state or (state, now) == ("approved", "executed")
            assert s.get(pid).decided_by == "crash"
    result = audit.verify(db)
    assert result.ok, result


# -- tampering ---------------------------------------------------------------------------------

def trail(db: Path) -> int:
    """A store with a few of every kind of entry; returns how many."""
    with ReviewStore(db) as s:
        recs = [s.enqueue(*make(f"fp-{n}"), now=T0, operator=ALICE) for n in range(3)]
        s.decide(recs[0].id, "approved", ALICE, "go", now=T0)
        s.decide(recs[1].id, "rejected", BOB, "wrong", now=T0)
        s.record_result(recs[0].id, "executed", {"dry_run": False, "calls": []}, ALICE, now=T0)
    result = audit.verify(db)
    assert result == audit.VerifyResult(True, 6, None, "")
    return result.entries


def test_the_triggers_refuse_to_change_the_trail(db: Path):
    trail(db)
    with raw(db) as c:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            c.execute("UPDATE audit SET reason = 'edited' WHERE seq = 4")
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            c.execute("DELETE FROM audit WHERE seq = 6")
        with pytest.raises(sqlite3.DatabaseError, match="only grows at its end"):
            c.execute("INSERT INTO audit SELECT 3, ts, user, client, event, proposal_id, action, parameters, command, api,"
                      " reason, snapshot, result, prev_hash, hash, seal, identity, mac FROM audit WHERE seq = 6")
    assert audit.verify(db).ok


def test_an_edited_entry_is_named(db: Path):
    trail(db)
    with raw(db) as c:
        c.execute("DROP TRIGGER audit_no_update")
        c.execute("UPDATE audit SET reason = 'it was fine' WHERE seq = 5")
    result = audit.verify(db)
    assert (result.ok, result.first_bad, result.entries) == (False, 5, 4) and "edited" in result.reason


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(db: Path):
    trail(db)
    entry = next(e for e in audit.export(db) if e["seq"] == 4)
    entry["reason"] = "rewritten"
    with raw(db) as c:
        c.execute("DROP TRIGGER audit_no_update")
        c.execute("UPDATE audit SET reason = ?, hash = ? WHERE seq = 4", ("rewritten", audit.entry_hash(entry)))
    result = audit.verify(db)
    assert (result.ok, result.first_bad) == (False, 5) and "does not follow" in result.reason


def test_a_deleted_entry_is_named(db: Path):
    trail(db)
    with raw(db) as c:
        c.execute("DROP TRIGGER audit_no_delete")
        c.execute("DELETE FROM audit WHERE seq = 3")
    result = audit.verify(db)
    assert (result.ok, result.first_bad) == (False, 3) and "missing" in result.reason


def test_cutting_entries_off_the_end_is_noticed(db: Path):
    n = trail(db)
    with raw(db) as c:
        c.execute("DROP TRIGGER audit_no_delete")
        c.execute("DELETE FROM audit WHERE seq = ?", (n,))
    result = audit.verify(db)
    assert (result.ok, result.first_bad) == (False, n) and "removed from the end" in result.reason


def test_swapped_entries_are_named(db: Path):
    trail(db)
    with raw(db) as c:
        c.execute("DROP TRIGGER audit_no_update")
        rows = {r[0]: r for r in c.execute("SELECT * FROM audit WHERE seq IN (2, 5)")}
        for seq, other in ((2, 5), (5, 2)):
            c.execute(f"UPDATE audit SET {', '.join(f'{f} = ?' for f in audit.COLUMNS[1:])} WHERE seq = ?",
                      (*rows[other][1:], seq))
    result = audit.verify(db)
    assert (result.ok, result.first_bad) == (False, 2)


def test_renumbered_entries_are_named(db: Path):
    trail(db)
    with raw(db) as c:
        for t in ("audit_no_update", "audit_no_delete"):
            c.execute(f"DROP TRIGGER {t}")
        c.execute("DELETE FROM audit WHERE seq = 3")
        c.execute("UPDATE audit SET seq = seq - 1 WHERE seq > 3")
        c.execute("DROP TRIGGER audit_head_forward")
        c.execute("UPDATE audit_head SET seq = seq - 1")
    result = audit.verify(db)
    assert (result.ok, result.first_bad) == (False, 3)


def test_a_forged_entry_with_valid_hashes_is_caught_by_the_queue_replay(db: Path):
    """Someone who knows the algorithm appends a perfectly chained "approve" of a pending
    proposal and moves the head: the chain is fine, but the queue never saw that approval."""
    n = trail(db)
    last = list(audit.export(db))[-1]
    forged = {**last, "seq": n + 1, "event": "approve", "proposal_id": 3, "user": "mallory", "prev_hash": last["hash"]}
    forged["hash"] = audit.entry_hash(forged)
    row = [audit.canonical(forged[f]) if f in audit.JSON_FIELDS and forged[f] is not None else forged[f]
           for f in audit.COLUMNS]
    with raw(db) as c:
        c.execute("DROP TRIGGER audit_head_forward")
        c.execute(f"INSERT INTO audit VALUES ({', '.join('?' * len(audit.COLUMNS))})", row)
        c.execute("UPDATE audit_head SET seq = ?, hash = ?", (n + 1, forged["hash"]))
    result = audit.verify(db)
    assert not result.ok and "proposal #3 is pending in the queue but approved" in result.reason


def test_an_edited_approval_in_the_queue_is_caught(db: Path):
    trail(db)
    with raw(db) as c:
        c.execute("UPDATE proposals SET command = 'kubectl delete namespace payments' WHERE id = 1")
    result = audit.verify(db)
    assert not result.ok and "proposal #1 differs from what alice approved" in result.reason


def test_verify_reports_a_missing_file_and_warns_about_dropped_triggers(db: Path, tmp_path: Path):
    assert not audit.verify(tmp_path / "nope.sqlite").ok and not (tmp_path / "nope.sqlite").exists()
    trail(db)
    with raw(db) as c:
        c.execute("DROP TRIGGER audit_no_update")
    result = audit.verify(db)
    assert result.ok and "audit_no_update" in result.reason


# -- a held write lock ----------------------------------------------------------------------------

HOLDER = r"""
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
print("held", flush=True)
sys.stdin.readline()
c.execute("ROLLBACK")
print("released", flush=True)
sys.stdin.readline()
"""


def test_a_held_lock_becomes_store_busy_then_clears(db: Path):
    s = ReviewStore(db, busy_timeout_s=0.3)
    rec = s.enqueue(*make(), now=T0)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        start = time.monotonic()
        with pytest.raises(StoreBusy) as busy:
            s.decide(rec.id, "approved", ALICE, "", now=T0)
        waited = time.monotonic() - start
        assert 0.3 <= waited < 1.5, waited
        assert str(busy.value) == BUSY_MESSAGE and "locked" not in str(busy.value)
        assert s.get(rec.id).state == "pending"  # readers are not blocked by the writer (WAL)
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "released"
        assert s.decide(rec.id, "approved", ALICE, "", now=T0).state == "approved"
    finally:
        holder.kill()
        holder.wait()
        s.close()
    assert events(db) == ["enqueue", "approve"] and audit.verify(db).ok


# -- schema versions ------------------------------------------------------------------------------

def test_a_fresh_store_is_at_the_current_schema_in_wal_mode(store: ReviewStore, db: Path):
    with raw(db) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 1
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


OPENER = r"""
import os, sys, time
from sreconsole.review.store import ReviewStore
path, go = sys.argv[1], sys.argv[2]
print("ready", flush=True)
while not os.path.exists(go):
    time.sleep(0.001)
with ReviewStore(path) as store:
    print(store.version(), flush=True)
"""


def test_eight_processes_creating_the_store_at_once_migrate_it_once(db: Path, tmp_path: Path):
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", OPENER, str(db), str(go)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(8)]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        go.touch()
        for p in procs:
            out, err = p.communicate(timeout=60)
            assert p.returncode == 0 and out.strip() == "0", err
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    with raw(db) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert c.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'proposals'").fetchone()[0] == 1


def test_a_store_from_a_newer_sreconsole_is_refused(db: Path):
    ReviewStore(db).close()
    with raw(db) as c:
        c.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(ReviewError, match=rf"written by a newer sreconsole \(schema {SCHEMA_VERSION + 1}"):
        ReviewStore(db)


def test_new_migration_steps_apply_in_order_and_a_failing_one_changes_nothing(db: Path, monkeypatch: pytest.MonkeyPatch):
    with ReviewStore(db) as s:
        rec = s.enqueue(*make(), now=T0)
    monkeypatch.setattr(store_module, "MIGRATIONS", [*store_module.MIGRATIONS, ("CREATE TABLE half (x)", "NOT SQL AT ALL")])
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", SCHEMA_VERSION + 1)
    with pytest.raises(ReviewError):
        ReviewStore(db)
    with raw(db) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert c.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half'").fetchone()[0] == 0
    monkeypatch.setattr(store_module, "MIGRATIONS", [*store_module.MIGRATIONS[:-1], ("CREATE TABLE extra (x)", "INSERT INTO extra VALUES (1)")])
    with ReviewStore(db) as s:
        assert s.get(rec.id) == rec
    with raw(db) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
        assert c.execute("SELECT x FROM extra").fetchall() == [(1,)]


def test_an_unusable_file_is_one_readable_line(tmp_path: Path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database, just some bytes " * 100)
    with pytest.raises(ReviewError) as err:
        ReviewStore(junk)
    assert str(junk) in str(err.value) and "\n" not in str(err.value)


# -- hostile text -----------------------------------------------------------------------------------

HOSTILE = ("first line\nsecond line\r\n\x1b[31mred\x1b[0m \x1b]52;c;ZXZpbA==\x07 [bold]markup[/] \x00nul\u202etxet"
           " é漢字🔥 " + "x" * 10_000)


def test_hostile_text_is_stored_as_given_and_the_chain_holds(store: ReviewStore, db: Path):
    proposal, alert = make(annotations={"summary": HOSTILE, "bad": "lone \ud800 surrogate"})
    rec = store.enqueue(proposal, alert, now=T0, operator=Operator("eve\n\x1b[2J", "::1"))
    assert rec.annotations["summary"] == HOSTILE and rec.annotations["bad"] == "lone \ufffd surrogate"
    rejected = store.decide(rec.id, "rejected", Operator("eve\n\x1b[2J", "::1"), HOSTILE, corrected_action="escalate")
    assert rejected.reason == HOSTILE and store.get(rec.id).reason == HOSTILE
    entries = list(audit.export(db))
    assert entries[-1]["reason"] == HOSTILE and entries[-1]["user"] == "eve\n\x1b[2J"
    assert audit.verify(db).ok
    assert store.decisions()[0]["alert"]["annotations"]["summary"] == HOSTILE


def test_a_store_of_the_previous_schema_is_upgraded_and_its_chain_kept(db: Path, monkeypatch: pytest.MonkeyPatch):
    """Schema 3 (sealing, intents, identity) on a file written at schema 2: the proposals and
    audit tables are widened in place, every entry keeps its hash, the rows predating sealing
    are named by verify, and from then on every entry seals its proposal."""
    with monkeypatch.context() as m:
        m.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:2])
        m.setattr(store_module, "SCHEMA_VERSION", 2)
        ReviewStore(db).close()
    params = {"name": "web", "namespace": "shop"}
    with raw(db) as c:  # what schema 2 wrote: rows, and entries without seal, identity or mac
        ids = []
        for fp, state in (("fp-a", "approved"), ("fp-b", "pending")):
            ts = T0.isoformat(timespec="microseconds")
            cur = c.execute(
                "INSERT INTO proposals (fingerprint, alertname, namespace, severity, action, title, parameters, command, api,"
                " confidence, method, requires_human_review, review_reasons, risk, reversible, model_version, evidence,"
                " alternatives, missing_parameters, notes, labels, annotations, alert_started_at, state, created_at, updated_at,"
                " changed_version, target, decided_by) VALUES (?, 'X', 'shop', 'warning', 'pod-restart', 't', ?, 'k', NULL,"
                " 0.7, 'trm', 0, '[]', 'low', 0, '', '[]', '[]', '[]', '[]', '{}', '{}', ?, ?, ?, ?, 1, ?, ?)",
                (fp, chain.canonical(params), ts, state, ts, ts, f"shop/web-{fp}", "alice" if state == "approved" else ""))
            ids.append(cur.lastrowid)
            c.execute("BEGIN IMMEDIATE")
            chain.append(c, ts=ts, user="alice", client="", event="enqueue", proposal_id=cur.lastrowid, action="pod-restart",
                         parameters=params, command="k")
            if state == "approved":
                chain.append(c, ts=ts, user="alice", client="", event="approve", proposal_id=cur.lastrowid, action="pod-restart",
                             parameters=params, command="k")
            c.execute("COMMIT")
    before = [(e["seq"], e["hash"]) for e in audit.export(db)]
    assert audit.verify(db).ok
    with ReviewStore(db) as s:
        assert [(e["seq"], e["hash"]) for e in audit.export(db)] == before
        with raw(db) as c:
            assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        result = audit.verify(db)
        assert result.ok and "2 proposal(s) that may still be executed" in result.reason
        s.begin_execution(ids[0], {"action": "pod-restart", "parameters": params, "call": None},
                          {"pid": 1, "deadline": T0.isoformat()}, ALICE, now=T0)  # a state schema 2 did not allow
        s.decide(ids[1], "rejected", BOB, "not needed", now=T0)
        assert s.get(ids[0]).state == "executing"
        newest = list(audit.export(db))[-2:]
        assert all(e["seal"] for e in newest) and [e["event"] for e in newest] == ["executing", "reject"]
        with raw(db) as c:  # the widened tables kept their indexes and triggers
            names = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type IN ('index', 'trigger')")}
            assert {"proposals_one_pending", "proposals_one_pending_target", "proposals_watched", "audit_proposal", *audit.TRIGGERS} <= names
    result = audit.verify(db)
    assert result.ok and "may still be executed" not in result.reason, result


def test_seals_written_before_clusters_still_hold_after_the_cluster_step(db: Path, monkeypatch: pytest.MonkeyPatch):
    """Schema 6 (several clusters) on a file written at schema 5: its proposals get cluster ''
    (the one cluster there was), the seals digested then, without a cluster, still match, so
    verify passes and the proposal can be approved and executed; a cluster written into a row
    sealed without one breaks its seal."""
    import hashlib

    with monkeypatch.context() as m:
        m.setattr(store_module, "MIGRATIONS", store_module.MIGRATIONS[:5])
        m.setattr(store_module, "SCHEMA_VERSION", 5)
        ReviewStore(db).close()
    params = {"namespace": "shop", "pod": "web-1"}
    content = {"action": "pod-restart", "fingerprint": "fp-a", "parameters": params, "undo": None}
    sealed_then = hashlib.sha256(chain.canonical(content).encode("ascii")).hexdigest()  # schema 5's digest
    ts = T0.isoformat(timespec="microseconds")
    with raw(db) as c:
        pid = c.execute(
            "INSERT INTO proposals (fingerprint, alertname, namespace, severity, action, title, parameters, command, api,"
            " confidence, method, requires_human_review, review_reasons, risk, reversible, model_version, evidence,"
            " alternatives, missing_parameters, notes, labels, annotations, alert_started_at, state, created_at, updated_at,"
            " changed_version, target) VALUES ('fp-a', 'X', 'shop', 'warning', 'pod-restart', 't', ?, 'k', NULL,"
            " 0.7, 'trm', 0, '[]', 'low', 0, '', '[]', '[]', '[]', '[]', '{}', '{}', ?, 'pending', ?, ?, 1, 'alert:fp-a')",
            (chain.canonical(params), ts, ts, ts)).lastrowid
        c.execute("BEGIN IMMEDIATE")
        chain.append(c, ts=ts, user="alice", client="", event="enqueue", proposal_id=pid, action="pod-restart",
                     parameters=params, command="k", seal=sealed_then)
        c.execute("COMMIT")
    assert audit.verify(db).ok
    with ReviewStore(db) as s:
        assert s.get(pid).cluster == ""
        result = audit.verify(db)
        assert result.ok and "before sealing" not in result.reason, result
        s.decide(pid, "approved", ALICE, "ok", now=T0)
        assert s.begin_execution(pid, {"action": "pod-restart", "parameters": params, "call": None}, {"pid": 1}, ALICE,
                                 now=T0).state == "executing"
        assert list(audit.export(db))[-1]["seal"] == sealed_then  # the intent changed the result, not the content
        later = s.enqueue(*make("fp-b"), now=T0)
    with raw(db) as c:
        c.execute("UPDATE proposals SET cluster = 'prod' WHERE id = ?", (later.id,))
    result = audit.verify(db)
    assert not result.ok and f"proposal #{later.id}" in result.reason


# -- group commit: a triage pass's burst of enqueues -------------------------------------------------


def _commits(store: ReviewStore) -> list[str]:
    seen: list[str] = []
    store._conn.set_trace_callback(lambda sql: seen.append(sql) if sql.strip().upper() == "COMMIT" else None)
    return seen


def test_a_burst_of_enqueues_is_one_write_transaction_with_the_same_records_as_one_by_one(tmp_path: Path) -> None:
    pairs = [make(f"fp-{i}") for i in range(40)] + [make("fp-3", "scale-up")]  # the last supersedes fp-3's
    with ReviewStore(tmp_path / "burst.db") as burst, ReviewStore(tmp_path / "single.db") as single:
        commits = _commits(burst)
        records = burst.enqueue_many(pairs, now=T0, operator=ALICE, source="am")
        writes = list(commits)
        one_by_one = [single.enqueue(p, a, now=T0, operator=ALICE, source="am") for p, a in pairs]
        assert len(writes) == 3  # one read to plan, one write for all 41, one read back
        strip = lambda r: (r.id, r.fingerprint, r.action, r.state, r.parameters)  # noqa: E731
        # Read back after the whole burst: fp-3's restart is already superseded by its scale-up.
        assert [strip(r) for r in records] == [strip(single.get(r.id)) for r in one_by_one]
        assert [(r.fingerprint, r.state) for r in burst.list(states=None)] == [(r.fingerprint, r.state) for r in single.list(states=None)]
        assert any(r.state == "superseded" for r in burst.list(states=None))
        # Enqueued again (the next poll): nothing changes, so no write transaction at all.
        commits.clear()
        stable = [(p, a) for p, a in pairs if p.fingerprint != "fp-3"]  # (a superseded one would come back)
        again = burst.enqueue_many(stable, now=T0 + timedelta(seconds=5), operator=ALICE, source="am")
        assert [r.id for r in again] == [r.id for r in records if r.fingerprint != "fp-3"]
        assert len(commits) == 2  # the plan and the read back
        assert audit.verify(tmp_path / "burst.db").ok


def test_a_burst_with_a_bad_pair_enqueues_nothing(tmp_path: Path) -> None:
    good = [make(f"fp-{i}") for i in range(5)]
    bad_proposal, _ = make("fp-x")
    _, other_alert = make("fp-y")
    with ReviewStore(tmp_path / "q.db") as store:
        with pytest.raises(ReviewError, match="proposal is for alert fp-x"):
            store.enqueue_many([*good, (bad_proposal, other_alert)], now=T0, operator=ALICE)
        assert store.list(states=None) == []
