"""The review store's one suite for both backends: every test here runs against a real SQLite
file and a real PostgreSQL server (tests/pgharness.py, Debian's postgresql package, peer
authentication on a Unix socket), through ``ReviewStore(location)`` — the queue's states,
the compare-and-set decisions and who lost, the sealed content, intents before execution,
the hash chain and its verification, the keyed chain, eight processes racing, and hostile
text. Each operator opens their own store (on PostgreSQL their own login role: the name the
audit records is the database's ``session_user``).

PostgreSQL-only tests at the end: the role layout (no write right on the audit table), the
append function refusing another name, identity that environment variables cannot change,
read-only operators, LISTEN/NOTIFY, and ``review migrate`` from SQLite with the chain intact.
The SQLite file's own matters (WAL, schema steps, raw file tampering, SIGKILL) stay in
tests/test_review_store.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from sreconsole.domain.operator import Operator
from sreconsole.review import audit, pg_backend
from sreconsole.review.store import AlreadyDecided, InvalidTransition, ReviewError, ReviewStore, SealBroken
from test_review_store import RACER, T0, make

SRC = str(Path(__file__).resolve().parents[1] / "src")


class Backend:
    """One queue: where it is, how each operator opens it, and a raw connection with an
    operator's rights (what someone with a shell and those rights could run)."""

    def __init__(self, kind: str, tmp_path: Path, postgres=None) -> None:
        self.kind = kind
        self.pg = postgres
        if kind == "sqlite":
            self.path = tmp_path / "shared" / "review.sqlite"
            ReviewStore(self.path).close()
        else:
            self.database = postgres.new_database()
            pg_backend.init_db(postgres.dsn(database=self.database), operators=["alice", "bob", "carol", "crash",
                                                                                 *(f"op{n}" for n in range(8))],
                               readers=["rita"])

    def location(self, role: str = "alice") -> Path | str:
        return self.path if self.kind == "sqlite" else self.pg.dsn(role, self.database)

    def open(self, role: str = "alice", **options) -> ReviewStore:
        return ReviewStore(self.location(role), **options)

    def tamper(self, sql: str, args: tuple = ()) -> None:
        """Run one statement as the operator alice could (SQLite: the file; PostgreSQL: her role)."""
        if self.kind == "sqlite":
            import sqlite3

            conn = sqlite3.connect(self.path, isolation_level=None)
            try:
                conn.execute(sql, args)
            finally:
                conn.close()
        else:
            import psycopg

            with psycopg.connect(self.location("alice"), autocommit=True) as conn:
                conn.execute("SET search_path TO sreconsole")
                conn.execute(sql.replace("?", "%s"), args)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return Backend("sqlite", tmp_path)
    return Backend("postgresql", tmp_path, request.getfixturevalue("postgres"))


def op(name: str, n: int = 5) -> Operator:
    return Operator(name, f"10.0.0.{n}")


ALICE, BOB = op("alice", 5), op("bob", 6)


def events(backend: Backend) -> list[str]:
    return [e["event"] for e in audit.export(backend.location())]


# -- the queue -----------------------------------------------------------------------------------

def test_enqueue_refresh_supersede_and_one_audit_entry_each(backend: Backend):
    with backend.open() as s:
        rec = s.enqueue(*make(), now=T0, operator=ALICE)
        assert rec.state == "pending" and rec.parameters == {"namespace": "payments", "pod": "api-fp-1"}
        assert rec.confidence == 0.72 and rec.created_at == T0 and s.get(rec.id) == rec and s.get(rec.id + 100) is None
        again = s.enqueue(*make(confidence=0.9), now=T0 + timedelta(minutes=1), operator=ALICE)
        assert again.id == rec.id and again.confidence == 0.9  # refreshed in place
        other = s.enqueue(*make(action="scale-deployment"), now=T0 + timedelta(minutes=2), operator=ALICE)
        assert other.id != rec.id and s.get(rec.id).state == "superseded"
    entries = list(audit.export(backend.location()))
    assert [e["event"] for e in entries] == ["enqueue", "supersede", "enqueue"]
    assert entries[0]["user"] == "alice" and entries[0]["client"] == "10.0.0.5" and entries[0]["prev_hash"] == audit.GENESIS
    assert entries[0]["snapshot"]["evidence"] == ["RUNBOOK.md:10-20", "incident:42"]
    assert all(e["seal"] for e in entries)
    assert audit.verify(backend.location()).ok


def test_a_decision_holds_for_its_firing_and_a_re_fire_gets_a_new_proposal(backend: Backend):
    with backend.open() as s:
        rec = s.enqueue(*make(), now=T0)
        s.decide(rec.id, "rejected", ALICE, "not now", now=T0)
        assert s.enqueue(*make(), now=T0 + timedelta(minutes=1)).id == rec.id  # the same firing: left alone
        refire = s.enqueue(*make(starts_at=T0 + timedelta(hours=1)), now=T0 + timedelta(hours=1))
        assert refire.id != rec.id and refire.state == "pending"


def test_approve_with_edits_and_reject_with_a_correction(backend: Backend):
    with backend.open() as s:
        a = s.enqueue(*make("fp-1"), now=T0)
        b = s.enqueue(*make("fp-2"), now=T0)
        approved = s.decide(a.id, "approved", ALICE, "smaller blast radius", parameters={"namespace": "payments", "pod": "api-x"},
                            command="kubectl -n payments delete pod api-x", now=T0)
        assert approved.state == "approved" and approved.parameters["pod"] == "api-x" and approved.decided_by == "alice"
        rejected = s.decide(b.id, "rejected", ALICE, "wrong fix", corrected_action="escalate", now=T0)
        assert rejected.corrected_action == "escalate"
        assert [d["verdict"] for d in s.decisions()] == ["approved", "rejected"]
        with pytest.raises(ReviewError, match="needs a reason"):
            s.decide(s.enqueue(*make("fp-3"), now=T0).id, "rejected", ALICE, "  ")
    approve = [e for e in audit.export(backend.location()) if e["event"] == "approve"][0]
    assert approve["parameters"]["pod"] == "api-x" and approve["snapshot"]["proposed"]["parameters"]["pod"] == "api-fp-1"
    assert audit.verify(backend.location()).ok


def test_the_loser_of_a_race_is_told_who_won_and_when(backend: Backend):
    with backend.open("alice") as one, backend.open("bob") as two:
        rec = one.enqueue(*make(), now=T0)
        assert two.get(rec.id).state == "pending"
        two.decide(rec.id, "approved", BOB, "ok", now=T0)
        with pytest.raises(AlreadyDecided) as lost:
            one.decide(rec.id, "rejected", ALICE, "no", now=T0 + timedelta(seconds=12))
        assert "already approved by bob@10.0.0.6 12 s ago" in str(lost.value)
        assert one.get(rec.id).decided_by == "bob"


PLAN = {"action": "pod-restart", "parameters": {"namespace": "payments", "pod": "api-fp-1"}, "call": None}


def test_intent_results_and_the_state_machine(backend: Backend):
    with backend.open() as s:
        rec = s.enqueue(*make(), now=T0)
        with pytest.raises(InvalidTransition):
            s.begin_execution(rec.id, PLAN, {"pid": 1}, ALICE, now=T0)
        s.decide(rec.id, "approved", ALICE, "", now=T0)
        assert s.begin_execution(rec.id, PLAN, {"pid": 1}, ALICE, now=T0).state == "executing"
        with pytest.raises(InvalidTransition):
            s.begin_execution(rec.id, PLAN, {"pid": 2}, ALICE, now=T0)
        done = s.record_result(rec.id, "executed", {"dry_run": False, "calls": [], "undo": {"replicas": 3}}, ALICE, now=T0)
        assert done.state == "executed" and done.result["undo"] == {"replicas": 3}
        assert s.sealed(rec.id).id == rec.id
        back = s.record_result(rec.id, "rolled_back", {"dry_run": False, "reason": "made it worse"}, ALICE, now=T0)
        assert back.state == "rolled_back"
    assert events(backend) == ["enqueue", "approve", "executing", "execute", "rollback"]
    assert audit.verify(backend.location()).ok


def test_listing_change_polling_observe_and_expiry(backend: Backend):
    with backend.open() as s:
        a = s.enqueue(*make("fp-1", namespace="payments"), now=T0, source="am")
        b = s.enqueue(*make("fp-2", namespace="search", action="scale-deployment"), now=T0, source="am")
        assert [r.id for r in s.list()] == [b.id, a.id] and [r.id for r in s.list(namespace="search")] == [b.id]
        version, changed = s.changed_since(0)
        assert {r.id for r in changed} == {a.id, b.id} and s.changed_since(version) == (version, [])
        assert s.observe("am", {"fp-2": "firing"}, now=T0) == [(a.id, "firing", "resolved")]
        assert [r.id for r in s.list(hide_alert_states=("resolved",))] == [b.id]
        assert s.expire_pending(timedelta(hours=1), now=T0 + timedelta(hours=2)) == 2
        newer, changed = s.changed_since(version)
        assert newer > version and {r.state for r in changed} == {"expired"}
    assert audit.verify(backend.location()).ok


# -- clusters (issue 20) ----------------------------------------------------------------------------

def in_cluster(pair: tuple, cluster: str, **parameters: str) -> tuple:
    """A proposal and its alert, as they come from the alert source of ``cluster``
    (``parameters``: the proposal's instead of make()'s; ``name`` makes a target)."""
    from dataclasses import replace

    proposal, alert = pair
    proposal = replace(proposal, cluster=cluster, parameters=parameters or proposal.parameters)
    return proposal, replace(alert, cluster=cluster)


def test_each_proposal_records_its_cluster_and_nothing_is_merged_across_clusters(backend: Backend):
    """The same alert (same labels, so the same fingerprint) and the same target in two
    clusters are two proposals, each recording its cluster; within one cluster a second alert
    for the same target still joins the first proposal, and a re-poll refreshes in place."""
    from dataclasses import replace

    web = {"namespace": "shop", "name": "web"}
    with backend.open() as s:
        eu = s.enqueue(*in_cluster(make("fp-1"), "prod-eu", **web), now=T0, operator=ALICE)
        us = s.enqueue(*in_cluster(make("fp-1"), "prod-us", **web), now=T0, operator=ALICE)
        assert eu.id != us.id and (eu.cluster, us.cluster) == ("prod-eu", "prod-us")
        assert eu.target == us.target == "shop/web" and {r.state for r in s.list()} == {"pending"}
        assert s.enqueue(*in_cluster(make("fp-1", confidence=0.9), "prod-us", **web), now=T0, operator=ALICE).id == us.id
        # another alert asking for the same action on the same deployment: merged in its own cluster only
        p, a = in_cluster(make("fp-2"), "prod-eu", **web)
        joined = s.enqueue(p, a, now=T0, operator=ALICE)
        assert joined.id == eu.id and [x["fingerprint"] for x in s.get(eu.id).alerts] == ["fp-1", "fp-2"]
        assert [x["fingerprint"] for x in s.get(us.id).alerts] == ["fp-1"]
        with pytest.raises(ReviewError, match="cluster"):  # a proposal for another cluster than its alert's
            s.enqueue(replace(p, cluster="prod-us"), a, now=T0)
        s.decide(eu.id, "approved", ALICE, "ok", now=T0)
        assert s.get(us.id).state == "pending"  # the decision in prod-eu is not taken for prod-us
    assert events(backend) == ["enqueue", "enqueue", "merge", "approve"]
    assert audit.verify(backend.location()).ok


def test_moving_an_approved_proposal_to_another_cluster_breaks_its_seal(backend: Backend):
    """Whoever can write the queue row (an operator's rights) and points an approved proposal
    at another cluster gets nothing sent: the intent to execute checks the row against its
    seal, and verify names the proposal. Clearing the cluster is refused the same way."""
    with backend.open() as s:
        one = s.enqueue(*in_cluster(make("fp-1"), "staging"), now=T0, operator=ALICE)
        two = s.enqueue(*in_cluster(make("fp-2"), "staging"), now=T0, operator=ALICE)
        for rec in (one, two):
            s.decide(rec.id, "approved", ALICE, "ok", now=T0)
        backend.tamper("UPDATE proposals SET cluster = ? WHERE id = ?", ("prod", one.id))
        backend.tamper("UPDATE proposals SET cluster = ? WHERE id = ?", ("", two.id))
        for rec in (one, two):
            plan = {**PLAN, "parameters": dict(rec.parameters)}
            with pytest.raises(SealBroken, match="cluster"):
                s.begin_execution(rec.id, plan, {"pid": 1}, ALICE, now=T0)
            assert s.get(rec.id).state == "approved"
    result = audit.verify(backend.location())
    assert not result.ok and f"proposal #{one.id}" in result.reason


def test_the_intent_is_refused_for_an_executor_of_another_cluster(backend: Backend):
    """The executor says which cluster it sends to; the intent, recorded in the same
    transaction that checks the seal, is refused when that is not the proposal's."""
    with backend.open() as s:
        rec = s.enqueue(*in_cluster(make(), "prod-eu"), now=T0, operator=ALICE)
        s.decide(rec.id, "approved", ALICE, "ok", now=T0)
        with pytest.raises(SealBroken, match="prod-eu.*prod-us"):
            s.begin_execution(rec.id, {**PLAN, "cluster": "prod-us"}, {"pid": 1}, ALICE, now=T0)
        with pytest.raises(SealBroken, match="prod-eu"):
            s.begin_execution(rec.id, PLAN, {"pid": 1}, ALICE, now=T0)  # an executor that names no cluster
        assert s.get(rec.id).state == "approved"
        assert s.begin_execution(rec.id, {**PLAN, "cluster": "prod-eu"}, {"pid": 1}, ALICE, now=T0).state == "executing"
    assert audit.verify(backend.location()).ok


# -- sealed content and the chain -------------------------------------------------------------------

def test_an_edited_row_is_refused_at_approval_and_named_by_verify(backend: Backend):
    with backend.open() as s:
        rec = s.enqueue(*make(), now=T0)
        backend.tamper("UPDATE proposals SET parameters = ? WHERE id = ?", ('{"namespace":"kube-system","pod":"coredns"}', rec.id))
        with pytest.raises(SealBroken):
            s.decide(rec.id, "approved", ALICE, "", now=T0)
        assert s.get(rec.id).state == "pending"
    result = audit.verify(backend.location())
    assert not result.ok and f"proposal #{rec.id}" in result.reason


def test_the_trail_cannot_be_changed_in_place(backend: Backend):
    with backend.open() as s:
        s.enqueue(*make(), now=T0)
    for sql in ("UPDATE audit SET reason = 'nothing happened' WHERE seq = 1", "DELETE FROM audit WHERE seq = 1"):
        with pytest.raises(Exception, match="append-only|permission denied"):
            backend.tamper(sql)
    assert audit.verify(backend.location()).ok and events(backend) == ["enqueue"]


def test_the_keyed_chain(backend: Backend):
    key = b"k" * 32
    with backend.open(audit_key=key) as s:
        rec = s.enqueue(*make(), now=T0, operator=ALICE)
        s.decide(rec.id, "approved", ALICE, "", now=T0)
    assert all(e["mac"] for e in audit.export(backend.location()))
    assert audit.verify(backend.location(), key=key).ok
    wrong = audit.verify(backend.location(), key=b"x" * 32)
    assert not wrong.ok and "wrong MAC" in wrong.reason


HOSTILE = "first\nsecond\r\n\x1b[31mred\x1b[0m \x1b]52;c;ZXZpbA==\x07 [bold]markup[/] \u202etxet é漢字🔥 " + "x" * 5000


def test_hostile_text_is_stored_as_given_and_the_chain_holds(backend: Backend):
    with backend.open() as s:
        rec = s.enqueue(*make(annotations={"summary": HOSTILE, "bad": "lone \ud800 surrogate", "nul": "a\x00b"}), now=T0)
        assert rec.annotations["summary"] == HOSTILE and rec.annotations["bad"] == "lone \ufffd surrogate"
        assert rec.annotations["nul"] == "a\x00b"  # JSON columns hold it as an escape on both
        assert s.decide(rec.id, "rejected", ALICE, HOSTILE, now=T0).reason == HOSTILE
    assert list(audit.export(backend.location()))[-1]["reason"] == HOSTILE
    assert audit.verify(backend.location()).ok


# -- eight processes racing ---------------------------------------------------------------------------

def test_eight_processes_decide_each_proposal_exactly_once(backend: Backend, tmp_path: Path):
    """8 processes × 50 proposals: each decided once, seven losers each time, the chain intact.
    On PostgreSQL each process is its own login role (op0 … op7)."""
    with backend.open() as s:
        ids = [s.enqueue(*make(f"race-{n:02d}"), now=T0).id for n in range(50)]
    go = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": SRC}
    procs = [subprocess.Popen([sys.executable, "-c", RACER, str(backend.location(f"op{me}")), str(go), str(me), json.dumps(ids)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for me in range(8)]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready", p.stderr.read()
        go.touch()
        results = []
        for p in procs:
            out, err = p.communicate(timeout=300)
            assert p.returncode == 0, err
            results.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert sorted(pid for r in results for pid in r["won"]) == sorted(ids)
    assert sum(r["lost"] for r in results) == 7 * 50
    with backend.open() as s:
        for me, r in enumerate(results):
            for pid in r["won"]:
                rec = s.get(pid)
                assert rec.decided_by == f"op{me}" and rec.reason == f"op{me} says {rec.state}"
    result = audit.verify(backend.location())
    assert result.ok and result.entries == 100, result


# -- PostgreSQL: roles, identity, notifications, migration ---------------------------------------------

@pytest.fixture
def pg(tmp_path: Path, postgres) -> Backend:
    return Backend("postgresql", tmp_path, postgres)


def test_operators_hold_no_write_right_on_the_audit_table(pg: Backend):
    import psycopg

    with pg.open() as s:
        s.enqueue(*make(), now=T0, operator=ALICE)
    for sql in ("INSERT INTO audit (seq, ts, \"user\", client, event, action, command, reason, prev_hash, hash)"
                " VALUES (2, 't', 'alice', '', 'enqueue', '', '', '', 'x', 'y')",
                "UPDATE audit SET reason = 'x'", "DELETE FROM audit", "TRUNCATE audit", "UPDATE audit_head SET seq = 5"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            pg.tamper(sql)
    with pg.pg.admin(pg.database) as admin:  # even the administrator cannot rewrite it: the triggers refuse
        admin.execute("SET search_path TO sreconsole")
        for sql in ("UPDATE audit SET reason = 'x'", "DELETE FROM audit", "TRUNCATE audit"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                admin.execute(sql)
    with psycopg.connect(pg.location("alice"), autocommit=True) as conn:
        grants = {r[0] for r in conn.execute(
            "SELECT privilege_type FROM information_schema.role_table_grants WHERE table_schema = 'sreconsole'"
            " AND table_name = 'audit' AND grantee = 'sreconsole_operator'")}
    assert grants == {"SELECT"}
    assert audit.verify(pg.location()).ok


def test_the_append_function_refuses_another_operators_name(pg: Backend):
    import psycopg

    from sreconsole.review.chain import COLUMNS

    with psycopg.connect(pg.location("alice"), autocommit=True) as conn:
        conn.execute("SET search_path TO sreconsole")
        forged = {c: None for c in COLUMNS} | {"seq": 1, "ts": "t", "user": "bob", "client": "", "event": "enqueue", "action": "",
                                                "command": "", "reason": "", "prev_hash": audit.GENESIS, "hash": "h",
                                                "identity": json.dumps({"db_user": "bob"})}
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match=r"database user \(alice\), not bob"):
            conn.execute(f"SELECT audit_append({', '.join(['%s'] * len(COLUMNS))})", [forged[c] for c in COLUMNS])
        forged |= {"user": "alice"}
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="in its identity"):
            conn.execute(f"SELECT audit_append({', '.join(['%s'] * len(COLUMNS))})", [forged[c] for c in COLUMNS])
    assert list(audit.export(pg.location())) == []


def test_the_recorded_name_is_the_databases_not_what_the_environment_says(pg: Backend):
    """A console that says it is bob (``USER``, ``LOGNAME``, ``PGUSER`` and the operator it
    passes) but authenticated as alice is recorded as alice, bob kept as a claim beside it."""
    script = (
        "import sys\nfrom datetime import datetime, timezone\n"
        "sys.path.insert(0, sys.argv[2])\n"
        "from test_review_store import make, T0\n"
        "from sreconsole.domain.operator import Operator\nfrom sreconsole.review.store import ReviewStore\n"
        "s = ReviewStore(sys.argv[1])\nrec = s.enqueue(*make(), now=T0, operator=Operator('bob', '10.0.0.6'))\n"
        "print(s.decide(rec.id, 'approved', Operator('bob', '10.0.0.6'), 'as bob', now=T0).decided_by)\n"
    )
    env = {**os.environ, "PYTHONPATH": SRC, "USER": "bob", "LOGNAME": "bob", "PGUSER": "bob"}
    out = subprocess.run([sys.executable, "-c", script, str(pg.location("alice")), str(Path(__file__).parent)],
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "alice"
    with pg.open("carol") as s:
        [rec] = s.list(states=None)
    assert rec.decided_by == "alice" and rec.decided_claim == "bob"
    entries = list(audit.export(pg.location()))
    assert {e["user"] for e in entries} == {"alice"}
    assert entries[-1]["identity"]["db_user"] == "alice" and entries[-1]["identity"]["os_user"] == "bob"


def test_a_role_the_server_does_not_map_is_refused(pg: Backend):
    with pytest.raises(ReviewError, match="mallory.*(authentication|no pg_hba|Peer)|(authentication|Peer).*mallory"):
        ReviewStore(pg.pg.dsn("mallory", pg.database))


def test_a_reader_sees_everything_and_changes_nothing(pg: Backend):
    with pg.open("alice") as s:
        rec = s.enqueue(*make(), now=T0, operator=ALICE)
    with pg.open("rita") as reader:
        assert reader.get(rec.id).state == "pending"
        with pytest.raises(ReviewError, match="permission denied"):
            reader.decide(rec.id, "approved", op("rita"), "", now=T0)
        assert reader.get(rec.id).state == "pending"
    assert events(pg) == ["enqueue"]


def test_a_console_hears_another_ones_decision(pg: Backend):
    with pg.open("alice") as mine, pg.open("bob") as theirs:
        rec = mine.enqueue(*make(), now=T0, operator=ALICE)
        version = mine.version()
        assert mine.wait_for_change(0.2) is False  # listening now; nothing new
        decider = threading.Thread(target=lambda: theirs.decide(rec.id, "approved", BOB, "ok", now=T0))
        decider.start()
        assert mine.wait_for_change(60) is True
        decider.join()
        _, changed = mine.changed_since(version)
        assert [(r.id, r.state, r.decided_by) for r in changed] == [(rec.id, "approved", "bob")]


def test_a_text_postgresql_cannot_hold_is_refused_in_one_line(pg: Backend):
    with pg.open() as s:
        rec = s.enqueue(*make(), now=T0)
        with pytest.raises(ReviewError) as err:
            s.decide(rec.id, "rejected", ALICE, "nul\x00here", now=T0)
        assert "\n" not in str(err.value) and s.get(rec.id).state == "pending"


def test_init_db_is_idempotent_and_a_queue_without_it_is_named(pg: Backend, postgres):
    again = pg_backend.init_db(postgres.dsn(database=pg.database), operators=["alice"])
    assert not any(line.startswith("created") for line in again)
    bare = postgres.new_database()
    with pytest.raises(ReviewError, match="review init-db"):
        ReviewStore(postgres.dsn("alice", bare))


def test_init_db_upgrades_a_queue_made_before_clusters(pg: Backend, postgres):
    """A queue created by an older sreconsole (no cluster column, the one-pending indexes
    without the cluster): consoles are told to have init-db run again, which adds them,
    and the queue's rows and chain are as they were."""
    import psycopg

    with pg.open() as s:
        rec = s.enqueue(*make(), now=T0, operator=ALICE)
    with psycopg.connect(postgres.dsn(database=pg.database), autocommit=True) as conn:  # as the administrator
        conn.execute("SET search_path TO sreconsole")
        conn.execute("ALTER TABLE proposals DROP COLUMN cluster")  # drops the indexes on it too
        conn.execute("CREATE UNIQUE INDEX proposals_one_pending ON proposals(fingerprint) WHERE state = 'pending'")
        conn.execute("CREATE UNIQUE INDEX proposals_one_pending_target ON proposals(action, target) WHERE state = 'pending'")
    with pytest.raises(ReviewError, match="older sreconsole.*init-db"):
        pg.open()
    assert "added column proposals.cluster" in pg_backend.init_db(postgres.dsn(database=pg.database))
    assert not any("added" in line for line in pg_backend.init_db(postgres.dsn(database=pg.database)))
    with pg.open() as s:
        assert s.get(rec.id).cluster == "" and s.get(rec.id).state == "pending"
        other = s.enqueue(*in_cluster(make(), "prod-eu"), now=T0, operator=ALICE)  # the same alert in a cluster of its own
        assert other.id != rec.id and s.get(rec.id).state == "pending"
    assert audit.verify(pg.location()).ok


def test_migrate_copies_a_sqlite_queue_with_its_chain(pg: Backend, tmp_path: Path):
    source = tmp_path / "old" / "review.sqlite"
    key = b"m" * 32
    with ReviewStore(source, audit_key=key) as s:
        a = s.enqueue(*make("fp-1"), now=T0, operator=ALICE)
        b = s.enqueue(*in_cluster(make("fp-2"), "prod-eu"), now=T0, operator=BOB)
        s.decide(a.id, "approved", ALICE, "ok", now=T0)
        s.decide(b.id, "rejected", BOB, "no", now=T0)
    before = list(audit.export(source))
    assert pg_backend.migrate(source, pg.pg.dsn(database=pg.database)) == (2, 4)
    assert list(audit.export(pg.location())) == before
    assert audit.verify(pg.location(), key=key).ok
    with pg.open("carol", audit_key=key) as s:
        assert s.get(a.id).decided_by == "alice" and s.get(b.id).state == "rejected"
        assert (s.get(a.id).cluster, s.get(b.id).cluster) == ("", "prod-eu")  # and its seal with it: verified below
        c = s.enqueue(*make("fp-3"), now=T0, operator=op("carol"))
        assert c.id == b.id + 1  # the id sequence moved past the copied rows
    assert audit.verify(pg.location(), key=key).ok
    with pytest.raises(ReviewError, match="empty one only"):
        pg_backend.migrate(source, pg.pg.dsn(database=pg.database))


def test_a_team_queue_from_the_cli_init_db_migrate_decide_and_verify(tmp_path: Path, postgres):
    """The README's team set-up, by the commands it shows: `review init-db`, `review migrate
    --to` from a bastion's SQLite queue, then decisions by two operators on PostgreSQL, the
    loser told who won (exit 4), and `audit verify` on the server."""
    from test_review_flow import ALERTS, cli

    database = postgres.new_database()
    admin, as_alice, as_bob = postgres.dsn(database=database), postgres.dsn("alice", database), postgres.dsn("bob", database)
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")}
    env |= {"SRECONSOLE_DATA_DIR": str(tmp_path / "data"), "SRECONSOLE_KNOWLEDGE_ENABLED": "0", "COLUMNS": "200",
            "PYTHONPATH": SRC}
    out = cli("review", "init-db", "--dsn", admin, "--operator", "alice", "--operator", "bob", "--reader", "rita", env=env)
    assert "alice is a member of sreconsole_operator" in out.stdout and "review queue ready" in out.stdout
    batch = tmp_path / "alerts.jsonl"
    batch.write_text("".join(json.dumps({"alert": a}) + "\n" for a in ALERTS))
    cli("triage", "--batch", str(batch), "--json", "--enqueue", env=env)  # the old SQLite queue
    old = json.loads(cli("review", "list", "--json", env=env).stdout)
    cli("review", "reject", str(old[0]["id"]), "--reason", "before the move", env=env)
    out = cli("review", "migrate", "--to", admin, env=env)
    assert "copied 2 proposals and 3 audit entries" in out.stdout and "the chain verifies there" in out.stdout
    alice = {**env, "SRECONSOLE_REVIEW_STORE": as_alice, "USER": "bob"}  # a claim the database does not believe
    bob = {**env, "SRECONSOLE_REVIEW_STORE": as_bob}
    pending = json.loads(cli("review", "list", "--json", env=alice).stdout)
    assert [r["id"] for r in pending] == [old[1]["id"]]
    cli("review", "reject", str(old[1]["id"]), "--reason", "not on the team queue either", env=alice)
    lost = cli("review", "reject", str(old[1]["id"]), "--reason", "me too", env=bob, check_rc=4)
    assert "already rejected by alice" in lost.stderr
    every = json.loads(cli("review", "list", "--all", "--json", env=bob).stdout)
    moved = next(r for r in every if r["id"] == old[1]["id"])
    assert (moved["decided_by"], moved["decided_claim"]) == ("alice", "bob")
    cli("audit", "verify", env=bob)
    rita = {**env, "SRECONSOLE_REVIEW_STORE": postgres.dsn("rita", database)}
    refused = cli("review", "approve", str(old[0]["id"]), "--reason", "x", env=rita, check_rc=None)
    assert refused.returncode != 0 and "permission denied" in refused.stderr + refused.stdout


def test_the_consoles_queue_hears_another_consoles_decision(pg: Backend, settings):
    """What the Review pane listens with (services.review.ReviewQueue on review.store =
    postgresql://…): a decision by another operator wakes it, no poll needed."""
    from dataclasses import replace

    from sreconsole.services.review import ReviewQueue

    team = replace(settings, review=replace(settings.review, store=str(pg.location("alice"))))
    queue = ReviewQueue(team, ALICE)
    assert queue.notifies
    with pg.open("bob") as theirs:
        rec = theirs.enqueue(*make(), now=T0, operator=BOB)
        assert queue.get(rec.id).state == "pending"
        assert queue.wait_for_change(0.2) is False
        theirs.decide(rec.id, "approved", BOB, "ok", now=T0)
        assert queue.wait_for_change(60) is True
        assert queue.get(rec.id).decided_by == "bob"
    queue.reader.close()
