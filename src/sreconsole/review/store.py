"""The review queue's store: proposals and operators' verdicts in one shared SQLite file.

A team points every operator's settings at one file on the bastion host and each operator
runs their own process, so everything here is written for several processes at once:

* **WAL mode**: readers never wait for the writer, and a killed process leaves no torn
  write (uncommitted WAL frames are ignored on the next open). WAL needs the processes to
  share one host's memory-mapped index: the file must sit on a local filesystem, not NFS.
* **``synchronous=FULL`` by default**: the WAL is fsynced at every commit, so a decision
  reported as committed survives a power cut too, not only a killed process (which
  ``NORMAL`` already survives). It costs ~0.2 ms per commit on the machine it was measured
  on; ``bench/review_decisions.py`` compares both.
* **Every change is one ``BEGIN IMMEDIATE`` transaction** that also appends its audit
  entry (:mod:`sreconsole.review.audit`), so the queue and its trail commit together.
* **A decision is a compare-and-set** (``... WHERE id = ? AND state = 'pending'``): when two
  operators press approve at once, exactly one wins and the other gets
  :class:`AlreadyDecided` naming who decided and how long ago.
* **"database is locked" never reaches the operator**: short SQLite busy waits, retried
  with exponential backoff and jitter up to ``busy_timeout_s``, then :class:`StoreBusy`
  with a sentence an operator can act on.
* **Versioned schema** (``PRAGMA user_version``): steps applied in order, each in its own
  transaction; a file written by a newer sreconsole is refused rather than misread.

No Textual, no network: the only IO is the SQLite file.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

from sreconsole.domain.alerts import Alert
from sreconsole.domain.operator import Operator
from sreconsole.domain.proposal import Proposal
from sreconsole.review import audit

T = TypeVar("T")

STATES = ("pending", "approved", "rejected", "expired", "superseded", "executed", "failed", "rolled_back")

DECIDED = ("approved", "rejected", "executed", "failed", "rolled_back")
"""States an operator's verdict leads to (expired and superseded are the store's doing)."""

SYSTEM_USER = "sreconsole"
"""Who the audit trail names for changes no operator made (expiry, or an enqueue without
an operator)."""

BUSY_MESSAGE = "the review store is busy (another process holds it); try again"

_VERDICTS = {"approve": "approved", "approved": "approved", "reject": "rejected", "rejected": "rejected"}

# outcome -> (states it may follow, state it leads to, audit event); None: no state change.
_OUTCOMES: dict[str, tuple[tuple[str, ...], str | None, str]] = {
    "executed": (("approved",), "executed", "execute"),
    "failed": (("approved",), "failed", "fail"),
    "rolled_back": (("executed",), "rolled_back", "rollback"),
    # A dry run changes nothing, so it may be recorded in any state: before approving, after
    # approving, and the dry run of a rollback of an executed action.
    "dry_run": (STATES, None, "dry_run"),
}

_BUSY_SLICE_S = 0.005
"""Longest single SQLite busy wait. SQLite's own handler backs off to sleeps of 100 ms
after a while; slicing its waits and retrying with our own jittered backoff (capped at
``_BACKOFF_CAP_S``) keeps a waiting writer polling often enough that the lock changes hands
within milliseconds. Measured with 8 saturating writers: caps of 50 ms gave a p99 of ~86 ms,
5 ms ~40 ms (the rest is 8 processes sharing 2 CPUs); see bench/review_decisions.py."""

_BACKOFF_CAP_S = 0.005


class ReviewError(Exception):
    """Anything the review store refuses or cannot do; ``str()`` is one line for the operator."""


class AlreadyDecided(ReviewError):
    """Lost the compare-and-set: someone else decided first (or the proposal expired or was
    superseded). ``record`` is the proposal as it is now."""

    def __init__(self, record: ProposalRecord, now: datetime | None = None) -> None:
        self.record = record
        super().__init__(_already_message(record, _utc(now)))


class StoreBusy(ReviewError):
    """Another process held the store for longer than ``busy_timeout_s``."""


class InvalidTransition(ReviewError):
    """The proposal's state does not allow this step (executing a rejected proposal)."""


@dataclass(frozen=True)
class ProposalRecord:
    """One proposal in the queue: the proposal and its alert as they were when queued (or last
    refreshed while pending), and what operators and the executor did with it."""

    id: int
    fingerprint: str
    alertname: str
    namespace: str
    severity: str  # critical | warning | info | none
    action: str
    parameters: dict[str, str]  # after an approval with edits: the edited values
    command: str
    api: dict | None
    confidence: float | None
    method: str
    requires_human_review: bool
    review_reasons: tuple[str, ...]
    risk: str
    reversible: bool
    model_version: str
    evidence: tuple[dict, ...]
    labels: dict[str, str]
    annotations: dict[str, str]
    state: str
    created_at: datetime
    updated_at: datetime
    decided_by: str
    decided_from: str
    decided_at: datetime | None
    reason: str
    corrected_action: str
    result: dict | None  # the latest executor outcome, as given (the audit trail keeps them all)
    title: str = ""
    alternatives: tuple[tuple[str, float], ...] = ()
    missing_parameters: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    alert_started_at: datetime | None = None
    """When the alert's current firing began: a decision holds for that firing only."""

    def as_dict(self) -> dict:
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, tuple):
                value = [list(v) if isinstance(v, tuple) else v for v in value]
            out[f.name] = value
        return out


# -- schema ------------------------------------------------------------------------------------

_PROPOSALS = f"""CREATE TABLE proposals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL,
    alertname TEXT NOT NULL,
    namespace TEXT NOT NULL,
    severity TEXT NOT NULL,
    action TEXT NOT NULL,
    title TEXT NOT NULL,
    parameters TEXT NOT NULL,
    command TEXT NOT NULL,
    api TEXT,
    confidence REAL,
    method TEXT NOT NULL,
    requires_human_review INTEGER NOT NULL,
    review_reasons TEXT NOT NULL,
    risk TEXT NOT NULL,
    reversible INTEGER NOT NULL,
    model_version TEXT NOT NULL,
    evidence TEXT NOT NULL,
    alternatives TEXT NOT NULL,
    missing_parameters TEXT NOT NULL,
    notes TEXT NOT NULL,
    labels TEXT NOT NULL,
    annotations TEXT NOT NULL,
    alert_started_at TEXT,
    state TEXT NOT NULL CHECK (state IN ({", ".join(repr(s) for s in STATES)})),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    decided_by TEXT NOT NULL DEFAULT '',
    decided_from TEXT NOT NULL DEFAULT '',
    decided_at TEXT,
    reason TEXT NOT NULL DEFAULT '',
    corrected_action TEXT NOT NULL DEFAULT '',
    result TEXT,
    changed_version INTEGER NOT NULL
)"""

MIGRATIONS: list[tuple[str, ...]] = [
    (
        _PROPOSALS,
        # At most one pending proposal per alert: a newer one with another action supersedes
        # it, and the same action refreshes it. The database enforces what the code intends.
        "CREATE UNIQUE INDEX proposals_one_pending ON proposals(fingerprint) WHERE state = 'pending'",
        "CREATE INDEX proposals_pair ON proposals(fingerprint, action, id)",
        "CREATE INDEX proposals_state ON proposals(state, id)",
        "CREATE INDEX proposals_changed ON proposals(changed_version)",
        "CREATE INDEX proposals_decided ON proposals(decided_at) WHERE decided_at IS NOT NULL",
        "CREATE INDEX proposals_pending_age ON proposals(created_at) WHERE state = 'pending'",
        *audit.SCHEMA,
    ),
]
"""Schema steps; step ``i`` takes ``user_version`` from ``i`` to ``i + 1``. Append, never edit:
files already on bastion hosts were built by the existing steps."""

SCHEMA_VERSION = len(MIGRATIONS)

_SNAPSHOT_COLUMNS = (
    "alertname", "namespace", "severity", "title", "parameters", "command", "api", "confidence", "method",
    "requires_human_review", "review_reasons", "risk", "reversible", "model_version", "evidence",
    "alternatives", "missing_parameters", "notes", "labels", "annotations", "alert_started_at",
)
"""Columns an enqueue of the same pending proposal refreshes (the model re-scored it, new
evidence arrived); what an operator decided on is then the latest."""


# -- the store -----------------------------------------------------------------------------------

class ReviewStore:
    """The queue in one SQLite file. Safe to share between threads of one process (calls are
    serialised on one connection) and between processes (SQLite locking, WAL)."""

    def __init__(self, path: Path | str, *, busy_timeout_s: float = 5.0, synchronous: str = "FULL") -> None:
        if synchronous.upper() not in ("NORMAL", "FULL", "EXTRA"):
            raise ValueError("synchronous must be NORMAL, FULL or EXTRA")
        self.path = Path(path).expanduser()
        self.busy_timeout_s = max(float(busy_timeout_s), 0.0)
        self._lock = threading.RLock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn: sqlite3.Connection | None = sqlite3.connect(
                str(self.path), timeout=min(self.busy_timeout_s, _BUSY_SLICE_S), isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise ReviewError(f"cannot open the review store {self.path}: {_one_line(exc)}") from exc
        self._conn.row_factory = sqlite3.Row
        try:
            self._retry(lambda: self._configure(synchronous.upper()))
            self._migrate()
        except BaseException:
            self.close()
            raise

    def _configure(self, synchronous: str) -> None:
        conn = self._connection()
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal" and str(self.path) != ":memory:":
            raise ReviewError(f"the review store {self.path} cannot use WAL mode (journal_mode is {mode})")
        conn.execute(f"PRAGMA synchronous = {synchronous}")

    def _migrate(self) -> None:
        self._check_version(self._retry(lambda: self._connection().execute("PRAGMA user_version").fetchone()[0]))
        for target, statements in enumerate(MIGRATIONS, start=1):

            def step(conn: sqlite3.Connection, target: int = target, statements: tuple[str, ...] = statements) -> None:
                current = conn.execute("PRAGMA user_version").fetchone()[0]
                self._check_version(current)
                if current >= target:  # another process got there first
                    return
                for statement in statements:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {int(target)}")  # transactional: in the header

            self._write(step)

    def _check_version(self, version: int) -> None:
        if version > SCHEMA_VERSION:
            raise ReviewError(
                f"the review store {self.path} was written by a newer sreconsole (schema {version}; "
                f"this one knows up to {SCHEMA_VERSION}): upgrade sreconsole or point review.store elsewhere"
            )

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> ReviewStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- transactions ------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise ReviewError("the review store is closed")
        return self._conn

    def _write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` inside ``BEGIN IMMEDIATE`` (the write lock is taken up front, so the
        transaction cannot fail half-way for lack of it), committed, retried from scratch
        while the store is busy."""
        return self._retry(lambda: self._transaction("BEGIN IMMEDIATE", work))

    def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` in one read snapshot (never blocks the writer, never waits for it)."""
        return self._retry(lambda: self._transaction("BEGIN", work))

    def _transaction(self, begin: str, work: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            conn = self._connection()
            conn.execute(begin)
            try:
                out = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return out

    def _retry(self, attempt: Callable[[], T]) -> T:
        deadline = time.monotonic() + self.busy_timeout_s
        delay = 0.0005
        while True:
            try:
                return attempt()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise ReviewError(f"review store {self.path}: {_one_line(exc)}") from exc
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StoreBusy(BUSY_MESSAGE) from exc
                time.sleep(min(left, delay * random.uniform(0.5, 1.5)))
                delay = min(delay * 2, _BACKOFF_CAP_S)
            except sqlite3.Error as exc:  # corrupt file, read-only file, full disk: one line
                raise ReviewError(f"review store {self.path}: {_one_line(exc)}") from exc

    def _next_version(self, conn: sqlite3.Connection) -> int:
        """The data version a write transaction stamps on the rows it changes (rows are
        never deleted, so the maximum only grows; the write lock makes it unique)."""
        return int(conn.execute("SELECT coalesce(max(changed_version), 0) FROM proposals").fetchone()[0]) + 1

    # -- reads ----------------------------------------------------------------------------------

    def get(self, proposal_id: int) -> ProposalRecord | None:
        row = self._read(lambda c: _row(c, proposal_id))
        return None if row is None else _record(row)

    def list(
        self,
        *,
        states: Iterable[str] | None = ("pending",),
        namespace: str | None = None,
        action: str | None = None,
        limit: int = 1000,
    ) -> list[ProposalRecord]:
        """Newest first. ``states=None``: every state."""
        where, args = [], []
        if states is not None:
            chosen = tuple(states)
            unknown = [s for s in chosen if s not in STATES]
            if unknown:
                raise ReviewError(f"unknown state {unknown[0]!r} (states are {', '.join(STATES)})")
            if not chosen:
                return []
            where.append(f"state IN ({', '.join('?' * len(chosen))})")
            args += chosen
        if namespace is not None:
            where.append("namespace = ?")
            args.append(namespace)
        if action is not None:
            where.append("action = ?")
            args.append(action)
        sql = "SELECT * FROM proposals" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id DESC LIMIT ?"
        rows = self._read(lambda c: c.execute(sql, (*args, max(int(limit), 0))).fetchall())
        return [_record(r) for r in rows]

    def version(self) -> int:
        """The current data version (see :meth:`changed_since`)."""
        return self._read(lambda c: int(c.execute("SELECT coalesce(max(changed_version), 0) FROM proposals").fetchone()[0]))

    def changed_since(self, version: int) -> tuple[int, list[ProposalRecord]]:
        """``(current version, records changed after version)``, oldest change first: one
        indexed query, cheap enough to poll every second from every operator's TUI. A version
        ahead of the store (the file was replaced) returns every record."""

        def read(c: sqlite3.Connection) -> tuple[int, list[sqlite3.Row]]:
            current = int(c.execute("SELECT coalesce(max(changed_version), 0) FROM proposals").fetchone()[0])
            since = 0 if version > current else version
            rows = c.execute("SELECT * FROM proposals WHERE changed_version > ? ORDER BY changed_version, id", (since,)).fetchall()
            return current, rows

        current, rows = self._read(read)
        return current, [_record(r) for r in rows]

    def decisions(self, since: datetime | None = None) -> list[dict]:
        """Operators' verdicts as rows for the dataset builder
        (:func:`sreconsole.triage.dataset.decision_examples`), oldest first. An approved
        proposal stays "approved" whatever its execution did; ``outcome`` says what that was
        (a rolled-back action may still have been the right one)."""
        sql = f"SELECT * FROM proposals WHERE decided_at IS NOT NULL AND state IN ({', '.join('?' * len(DECIDED))})"
        args: list[Any] = list(DECIDED)
        if since is not None:
            sql += " AND decided_at >= ?"
            args.append(_iso(since))
        rows = self._read(lambda c: c.execute(sql + " ORDER BY decided_at, id", args).fetchall())
        out = []
        for r in rows:
            rec = _record(r)
            out.append({
                "alert": {"fingerprint": rec.fingerprint, "labels": dict(rec.labels), "annotations": dict(rec.annotations)},
                "action": rec.action,
                "verdict": "rejected" if rec.state == "rejected" else "approved",
                "corrected_action": rec.corrected_action or None,
                "decided_at": rec.decided_at.isoformat() if rec.decided_at else "",
                "outcome": rec.state,
                "reason": rec.reason,
                "proposal_id": rec.id,
            })
        return out

    # -- writes -------------------------------------------------------------------------------

    def enqueue(
        self, proposal: Proposal, alert: Alert, *, now: datetime | None = None, operator: Operator | None = None
    ) -> ProposalRecord:
        """Put a proposal in the queue, or return the record already standing for it.

        * a pending record for the same alert and action is refreshed in place (no new row,
          no audit entry: the triage engine re-enqueues on every poll);
        * a record an operator already decided for the same alert, action *and firing*
          (the alert's ``starts_at``) is left alone and returned: approving must not make
          the same proposal reappear on the next poll. A re-fire (a new ``starts_at``)
          after the decision gets a new pending proposal; so does a proposal that only
          expired or was superseded;
        * any pending proposal for the same alert with another action is superseded.

        A poll that changes nothing takes no write lock.
        """
        if proposal.fingerprint != alert.fingerprint:
            raise ReviewError(f"proposal is for alert {proposal.fingerprint} but the alert given is {alert.fingerprint}")
        at = _utc(now)
        values = _snapshot(proposal, alert)
        fingerprint, action = _text(proposal.fingerprint), _text(proposal.action)
        user, client = (_text(operator.user), _text(operator.client_address)) if operator else (SYSTEM_USER, "")

        plan, row, others = self._read(lambda c: _plan(c, fingerprint, action, values))
        if plan == "keep" or (plan == "stand" and not others):
            return _record(row)

        def work(c: sqlite3.Connection) -> int:
            plan, row, others = _plan(c, fingerprint, action, values)
            if plan == "keep" and not others:
                return row["id"]
            version, ts = self._next_version(c), _iso(at)
            if plan == "refresh":
                sets = ", ".join(f"{k} = ?" for k in _SNAPSHOT_COLUMNS)
                c.execute(f"UPDATE proposals SET {sets}, updated_at = ?, changed_version = ? WHERE id = ?",
                          (*[values[k] for k in _SNAPSHOT_COLUMNS], ts, version, row["id"]))
            for old in others:  # before the insert: the unique index allows one pending row
                c.execute("UPDATE proposals SET state = 'superseded', updated_at = ?, changed_version = ? WHERE id = ? AND state = 'pending'",
                          (ts, version, old["id"]))
            new_id = row["id"] if row is not None and plan != "create" else None
            if plan == "create":
                columns = ("fingerprint", "action", *_SNAPSHOT_COLUMNS, "state", "created_at", "updated_at", "changed_version")
                cur = c.execute(f"INSERT INTO proposals ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                                (fingerprint, action, *[values[k] for k in _SNAPSHOT_COLUMNS], "pending", ts, ts, version))
                new_id = int(cur.lastrowid)
            for old in others:
                why = f"superseded by #{new_id} ({action})"
                if plan == "stand":
                    why = f"superseded: the alert's newest proposal is {action}, already {row['state']} as #{new_id}"
                audit.append(c, ts=ts, user=user, client=client, event="supersede", proposal_id=old["id"], action=old["action"],
                             parameters=json.loads(old["parameters"]), command=old["command"], api=_loads(old["api"]),
                             reason=why, snapshot=_audit_snapshot(old))
            if plan == "create":
                new = _row(c, new_id)
                audit.append(c, ts=ts, user=user, client=client, event="enqueue", proposal_id=new_id, action=action,
                             parameters=json.loads(new["parameters"]), command=new["command"], api=_loads(new["api"]),
                             snapshot=_audit_snapshot(new))
            return new_id

        proposal_id = self._write(work)
        record = self.get(proposal_id)
        assert record is not None  # rows are never deleted
        return record

    def decide(
        self,
        proposal_id: int,
        verdict: str,
        operator: Operator,
        reason: str,
        *,
        corrected_action: str | None = None,
        parameters: dict[str, str] | None = None,
        command: str | None = None,
        api: dict | None = None,
        now: datetime | None = None,
    ) -> ProposalRecord:
        """Approve or reject a pending proposal, atomically: exactly one of several racing
        operators wins; the others get :class:`AlreadyDecided`.

        ``verdict``: ``"approved"``/``"approve"`` or ``"rejected"``/``"reject"``. A rejection
        needs a reason and may name the action that would have been right
        (``corrected_action``, a training label). An approval may carry the operator's edited
        ``parameters``/``command``/``api`` — validated by the caller; stored here, and the
        audit entry records both the approved and the proposed values.
        """
        state = _VERDICTS.get(verdict)
        if state is None:
            raise ReviewError(f"verdict must be approved or rejected, not {verdict!r}")
        reason = _text(reason or "")
        if state == "rejected":
            if not reason.strip():
                raise ReviewError("a rejection needs a reason (it is what the next operator and the next model learn from)")
            if parameters is not None or command is not None or api is not None:
                raise ReviewError("edited parameters go with an approval, not a rejection")
        elif corrected_action:
            raise ReviewError("an approval runs the proposed action; to name another one, reject with it as the corrected action")
        at = _utc(now)
        user, client = _text(operator.user), _text(operator.client_address)

        def work(c: sqlite3.Connection) -> None:
            row = _row(c, proposal_id)
            if row is None:
                raise ReviewError(f"no proposal #{proposal_id}")
            proposed = (json.loads(row["parameters"]), row["command"], _loads(row["api"]))
            final = (
                proposed[0] if parameters is None else _str_dict(parameters),
                proposed[1] if command is None else _text(command),
                proposed[2] if api is None else _jsonable(api),
            )
            version, ts = self._next_version(c), _iso(at)
            cur = c.execute(
                "UPDATE proposals SET state = ?, decided_by = ?, decided_from = ?, decided_at = ?, reason = ?, corrected_action = ?,"
                " parameters = ?, command = ?, api = ?, updated_at = ?, changed_version = ? WHERE id = ? AND state = 'pending'",
                (state, user, client, ts, reason, _text(corrected_action or ""), audit.canonical(final[0]), final[1],
                 None if final[2] is None else audit.canonical(final[2]), ts, version, proposal_id),
            )
            if cur.rowcount == 0:
                raise AlreadyDecided(_record(row), at)
            snapshot = _audit_snapshot(row)
            if final != proposed:
                snapshot["proposed"] = {"parameters": proposed[0], "command": proposed[1], "api": proposed[2]}
            if corrected_action:
                snapshot["corrected_action"] = _text(corrected_action)
            audit.append(c, ts=ts, user=user, client=client, event="approve" if state == "approved" else "reject",
                         proposal_id=proposal_id, action=row["action"], parameters=final[0], command=final[1], api=final[2],
                         reason=reason, snapshot=snapshot)

        self._write(work)
        return self._must_get(proposal_id)

    def record_result(
        self, proposal_id: int, outcome: str, result: dict, operator: Operator, *, now: datetime | None = None
    ) -> ProposalRecord:
        """What the executor did: ``executed``/``failed`` after an approval, ``rolled_back``
        after an execution (the record's ``result`` becomes the rollback's), or ``dry_run``
        in any state (an audit entry only). A ``reason`` key in ``result`` is also written
        as the audit entry's reason."""
        spec = _OUTCOMES.get(outcome)
        if spec is None:
            raise ReviewError(f"unknown outcome {outcome!r} (one of {', '.join(_OUTCOMES)})")
        allowed, new_state, event = spec
        at = _utc(now)
        user, client = _text(operator.user), _text(operator.client_address)
        stored = _jsonable(result) if result is not None else None
        if stored is not None and not isinstance(stored, dict):
            stored = {"value": stored}

        def work(c: sqlite3.Connection) -> None:
            row = _row(c, proposal_id)
            if row is None:
                raise ReviewError(f"no proposal #{proposal_id}")
            if row["state"] not in allowed:
                raise InvalidTransition(f"proposal #{proposal_id} is {row['state'].replace('_', ' ')}: it cannot be marked {outcome.replace('_', ' ')}")
            ts = _iso(at)
            if new_state is not None:
                c.execute("UPDATE proposals SET state = ?, result = ?, updated_at = ?, changed_version = ? WHERE id = ? AND state = ?",
                          (new_state, None if stored is None else audit.canonical(stored), ts, self._next_version(c), proposal_id, row["state"]))
            why = stored.get("reason") if isinstance(stored, dict) else None
            audit.append(c, ts=ts, user=user, client=client, event=event, proposal_id=proposal_id, action=row["action"],
                         parameters=json.loads(row["parameters"]), command=row["command"], api=_loads(row["api"]),
                         reason=why if isinstance(why, str) else "", snapshot=_audit_snapshot(row), result=stored)

        self._write(work)
        return self._must_get(proposal_id)

    def expire_pending(self, older_than: timedelta, *, now: datetime | None = None) -> int:
        """Expire proposals pending since before ``now - older_than``; how many. Called on
        every listing, so it takes the write lock only when something is due."""
        at = _utc(now)
        cutoff = _iso(at - older_than)
        due = "SELECT * FROM proposals WHERE state = 'pending' AND created_at < ? ORDER BY id"
        if not self._read(lambda c: c.execute(due + " LIMIT 1", (cutoff,)).fetchone()):
            return 0

        def work(c: sqlite3.Connection) -> int:
            rows = c.execute(due, (cutoff,)).fetchall()
            if not rows:
                return 0
            version, ts = self._next_version(c), _iso(at)
            for row in rows:
                c.execute("UPDATE proposals SET state = 'expired', updated_at = ?, changed_version = ? WHERE id = ? AND state = 'pending'",
                          (ts, version, row["id"]))
                audit.append(c, ts=ts, user=SYSTEM_USER, client="", event="expire", proposal_id=row["id"], action=row["action"],
                             parameters=json.loads(row["parameters"]), command=row["command"], api=_loads(row["api"]),
                             reason=f"pending for more than {_age(older_than.total_seconds())}", snapshot=_audit_snapshot(row))
            return len(rows)

        return self._write(work)

    def _must_get(self, proposal_id: int) -> ProposalRecord:
        record = self.get(proposal_id)
        if record is None:
            raise ReviewError(f"no proposal #{proposal_id}")
        return record


# -- helpers ----------------------------------------------------------------------------------

def _plan(c: sqlite3.Connection, fingerprint: str, action: str, values: Mapping[str, Any]) -> tuple[str, sqlite3.Row | None, list[sqlite3.Row]]:
    """What an enqueue has to do: ``keep`` (same pending, unchanged), ``refresh`` (same
    pending, changed), ``stand`` (decided in this firing: leave it), ``create``; plus the
    pending proposals of the same alert with another action, to supersede."""
    pending = c.execute("SELECT * FROM proposals WHERE fingerprint = ? AND state = 'pending'", (fingerprint,)).fetchall()
    others = [r for r in pending if r["action"] != action]
    same = next((r for r in pending if r["action"] == action), None)
    if same is not None:
        changed = any(same[k] != values[k] for k in _SNAPSHOT_COLUMNS)
        return ("refresh" if changed else "keep"), same, others
    last = c.execute("SELECT * FROM proposals WHERE fingerprint = ? AND action = ? ORDER BY id DESC LIMIT 1", (fingerprint, action)).fetchone()
    if last is not None and last["state"] in DECIDED and last["alert_started_at"] == values["alert_started_at"]:
        return "stand", last, others
    return "create", None, others


def _row(c: sqlite3.Connection, proposal_id: int) -> sqlite3.Row | None:
    return c.execute("SELECT * FROM proposals WHERE id = ?", (int(proposal_id),)).fetchone()


def _snapshot(p: Proposal, alert: Alert) -> dict[str, Any]:
    """Column values for what an operator decides on, in their stored (canonical) form so a
    refresh can tell "unchanged" by comparing text."""
    severity = alert.severity
    return {
        "alertname": _text(p.alertname or alert.alertname),
        "namespace": _text(alert.namespace),
        "severity": _text(getattr(severity, "label", None) or str(severity).lower()),
        "title": _text(p.title),
        "parameters": audit.canonical(_str_dict(p.parameters)),
        "command": _text(p.command),
        "api": None if p.api is None else audit.canonical(_jsonable(p.api)),
        "confidence": None if p.confidence is None else float(p.confidence),
        "method": _text(p.method),
        "requires_human_review": int(bool(p.requires_human_review)),
        "review_reasons": audit.canonical([_text(r) for r in p.review_reasons]),
        "risk": _text(p.risk),
        "reversible": int(bool(p.reversible)),
        "model_version": _text(p.model_version),
        "evidence": audit.canonical(_jsonable([e.as_dict() for e in p.evidence])),
        "alternatives": audit.canonical(_jsonable([[a, float(pr)] for a, pr in p.alternatives])),
        "missing_parameters": audit.canonical([_text(m) for m in p.missing_parameters]),
        "notes": audit.canonical([_text(n) for n in p.notes]),
        "labels": audit.canonical(_str_dict(alert.labels)),
        "annotations": audit.canonical(_str_dict(alert.annotations)),
        "alert_started_at": _iso(alert.starts_at) if alert.starts_at else None,
    }


def _audit_snapshot(row: sqlite3.Row) -> dict[str, Any]:
    """What the model said when the entry was written: enough to ask later "what did the
    operator see?" without copying the evidence texts into every entry."""
    return {
        "model_version": row["model_version"],
        "confidence": row["confidence"],
        "method": row["method"],
        "evidence": [e.get("ref", "") for e in json.loads(row["evidence"]) if isinstance(e, dict)],
    }


def _record(r: sqlite3.Row) -> ProposalRecord:
    return ProposalRecord(
        id=int(r["id"]),
        fingerprint=r["fingerprint"],
        alertname=r["alertname"],
        namespace=r["namespace"],
        severity=r["severity"],
        action=r["action"],
        parameters=json.loads(r["parameters"]),
        command=r["command"],
        api=_loads(r["api"]),
        confidence=r["confidence"],
        method=r["method"],
        requires_human_review=bool(r["requires_human_review"]),
        review_reasons=tuple(json.loads(r["review_reasons"])),
        risk=r["risk"],
        reversible=bool(r["reversible"]),
        model_version=r["model_version"],
        evidence=tuple(json.loads(r["evidence"])),
        labels=json.loads(r["labels"]),
        annotations=json.loads(r["annotations"]),
        state=r["state"],
        created_at=datetime.fromisoformat(r["created_at"]),
        updated_at=datetime.fromisoformat(r["updated_at"]),
        decided_by=r["decided_by"],
        decided_from=r["decided_from"],
        decided_at=datetime.fromisoformat(r["decided_at"]) if r["decided_at"] else None,
        reason=r["reason"],
        corrected_action=r["corrected_action"],
        result=_loads(r["result"]),
        title=r["title"],
        alternatives=tuple((str(a), float(p)) for a, p in json.loads(r["alternatives"])),
        missing_parameters=tuple(json.loads(r["missing_parameters"])),
        notes=tuple(json.loads(r["notes"])),
        alert_started_at=datetime.fromisoformat(r["alert_started_at"]) if r["alert_started_at"] else None,
    )


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


_SURROGATES = re.compile("[\ud800-\udfff]")


def _text(value: Any) -> str:
    """Text as given — newlines, escape sequences, NULs and all (the renderer strips them) —
    except lone surrogates, which SQLite cannot store as UTF-8 and become U+FFFD."""
    s = value if isinstance(value, str) else str(value)
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        s = _SURROGATES.sub("\ufffd", s)
    return s


def _str_dict(mapping: Mapping[Any, Any] | None) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in (mapping or {}).items()}


def _jsonable(value: Any) -> Any:
    """Plain JSON values (str keys, no tuples or datetimes), exactly as they will be read back,
    so the audit hash covers what is stored. Non-finite floats become null."""

    def clean(v: Any) -> Any:
        if isinstance(v, Mapping):
            return {_text(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple, set, frozenset)):
            return [clean(x) for x in v]
        if isinstance(v, bool) or v is None or isinstance(v, int):
            return v
        if isinstance(v, float):
            return v if math.isfinite(v) else None
        if isinstance(v, datetime):
            return v.isoformat()
        return _text(v)

    return clean(value)


def _utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(timezone.utc)
    return now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now.astimezone(timezone.utc)


def _iso(dt: datetime) -> str:
    """One fixed-width UTC spelling, so stored times compare correctly as text."""
    return _utc(dt).isoformat(timespec="microseconds")


def _age(seconds: float) -> str:
    s = max(int(seconds), 0)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s // 3600} h"
    return f"{s // 86400} d"


def _already_message(rec: ProposalRecord, now: datetime) -> str:
    if rec.decided_at is not None and rec.decided_by:
        who = rec.decided_by + (f"@{rec.decided_from}" if rec.decided_from else "")
        verb = "rejected" if rec.state == "rejected" else "approved"
        text = f"#{rec.id} was already {verb} by {who} {_age((now - rec.decided_at).total_seconds())} ago"
        if rec.state not in ("approved", "rejected"):
            text += f" (now {rec.state.replace('_', ' ')})"
        return text
    return f"#{rec.id} was already {rec.state} {_age((now - rec.updated_at).total_seconds())} ago"


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
