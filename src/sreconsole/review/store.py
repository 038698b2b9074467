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
  entry (:mod:`sreconsole.review.chain`), so the queue and its trail commit together; a
  triage pass's burst of enqueues is one such transaction (:meth:`ReviewStore.enqueue_many`,
  a group commit: one fsync for the burst). Why FULL and not NORMAL, and what a power loss
  could lose with NORMAL: the README's "Review queue: commit policy".
* **A decision is a compare-and-set** (``... WHERE id = ? AND state = 'pending'``): when two
  operators press approve at once, exactly one wins and the other gets
  :class:`AlreadyDecided` naming who decided and how long ago.
* **"database is locked" never reaches the operator**: short SQLite busy waits, retried
  with exponential backoff and jitter up to ``busy_timeout_s``, then :class:`StoreBusy`
  with a sentence an operator can act on.
* **Versioned schema** (``PRAGMA user_version``): steps applied in order, each in its own
  transaction; a file written by a newer sreconsole is refused rather than misread.
* **Sealed content** (:mod:`~sreconsole.review.seal`): every audit entry carries the digest
  of what the proposal would execute after the change; an approval and the intent to
  execute check the row against it in their own transaction, and refuse an edited row.
* **An intent before the cluster is touched**: :meth:`ReviewStore.begin_execution` moves an
  approved proposal to ``executing`` (with its audit entry) before the executor sends
  anything, so a process killed mid-call leaves a visible ``executing`` record that
  :meth:`sreconsole.services.review.ReviewQueue.reconcile` settles, never a silent
  ``approved``.
* **Anchored and keyed** (optional): each committed entry's ``seq hash`` goes to a witness
  file and the system log (:mod:`~sreconsole.review.anchor`); with a key every entry carries
  an HMAC.
* **Readers open read-only** (``read_only=True``): ``mode=ro``, or ``immutable=1`` on a
  read-only filesystem (:mod:`~sreconsole.review.files`); files are private (``0600``) or
  shared with a group (``share_group``).

This module holds the connection, the transactions and their retries, and the store's
public methods. What each change does is in its own module: the schema
(:mod:`~sreconsole.review.schema`), the queue's moves (:mod:`~sreconsole.review.queue`),
verdicts (:mod:`~sreconsole.review.decisions`), execution bookkeeping
(:mod:`~sreconsole.review.outcomes`), the record type and value normalising
(:mod:`~sreconsole.review.records`), the audit chain (:mod:`~sreconsole.review.chain`).
The names callers use are importable from here.

No Textual, no network: the only IO is the SQLite file, its witness and the syslog socket.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from sreconsole.domain.alerts import Alert, AlertState
from sreconsole.domain.operator import Operator
from sreconsole.domain.proposal import Proposal
from sreconsole.review import decisions as _decisions
from sreconsole.review import effect, files, outcomes, queue, seal
from sreconsole.review.backend import is_postgres
from sreconsole.review.anchor import SystemLog, Witness
from sreconsole.review.chain import AuditConnection
from sreconsole.review.chain import append as chain_append
from sreconsole.review.errors import BUSY_MESSAGE, AlreadyDecided, InvalidTransition, PolicyRefused, ReadOnlyStore, ReviewError, StoreBusy
from sreconsole.review.records import (
    ALERT_STATES,
    DECIDED,
    STATES,
    SYSTEM_USER,
    Actor,
    ProposalRecord,
    current_version,
    fetch_row,
    iso,
    snapshot,
    storable_text,
    to_record,
    utc,
)
from sreconsole.review.schema import MIGRATIONS, SCHEMA_VERSION

__all__ = [
    "ALERT_STATES",
    "BUSY_MESSAGE",
    "DECIDED",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "STATES",
    "SYSTEM_USER",
    "AlreadyDecided",
    "InvalidTransition",
    "PolicyRefused",
    "ProposalRecord",
    "ReadOnlyStore",
    "ReviewError",
    "ReviewStore",
    "SealBroken",
    "StoreBusy",
]

SealBroken = seal.SealBroken

T = TypeVar("T")

_BUSY_SLICE_S = 0.005
"""Longest single SQLite busy wait. SQLite's own handler backs off to sleeps of 100 ms
after a while; slicing its waits and retrying with our own jittered backoff (capped at
``_BACKOFF_CAP_S``) keeps a waiting writer polling often enough that the lock changes hands
within milliseconds. Measured with 8 saturating writers: caps of 50 ms gave a p99 of ~86 ms,
5 ms ~40 ms (the rest is 8 processes sharing 2 CPUs); see bench/review_decisions.py."""

_BACKOFF_CAP_S = 0.005



# -- the store -----------------------------------------------------------------------------------

class ReviewStore:
    """The queue in one SQLite file. Safe to share between threads of one process (calls are
    serialised on one connection) and between processes (SQLite locking, WAL).

    A ``postgresql://`` location opens the same queue in PostgreSQL instead
    (:class:`sreconsole.review.pg_backend.PgReviewStore`, see :mod:`~sreconsole.review.backend`)."""

    def __new__(cls, path: Path | str = "", *args: object, **kwargs: object) -> ReviewStore:
        if cls is ReviewStore and is_postgres(path):
            from sreconsole.review.pg_backend import PgReviewStore

            return super().__new__(PgReviewStore)
        return super().__new__(cls)

    def _actor(self, operator: Operator | None) -> Actor:
        """Who the queue and the audit name for a change by ``operator``: the operator as
        given (its user is the kernel's, :mod:`sreconsole.services.identity`)."""
        return Actor.of(operator)

    def __init__(
        self,
        path: Path | str,
        *,
        busy_timeout_s: float = 5.0,
        synchronous: str = "FULL",
        read_only: bool = False,
        audit_key: bytes | None = None,
        witness: Path | str | None = None,
        syslog: str = "",
        share_group: str = "",
    ) -> None:
        """``read_only``: never write, never create, open ``mode=ro`` (or ``immutable=1`` where
        the directory is read-only); an older schema is read as it is. ``audit_key``: MAC
        every entry (and refuse to extend an unkeyed trail until :meth:`adopt_key`).
        ``witness``/``syslog``: where each committed entry's ``seq hash`` also goes.
        ``share_group``: the group the files are shared with (else they are private)."""
        if synchronous.upper() not in ("NORMAL", "FULL", "EXTRA"):
            raise ValueError("synchronous must be NORMAL, FULL or EXTRA")
        self.path = Path(path).expanduser()
        self.busy_timeout_s = max(float(busy_timeout_s), 0.0)
        self.read_only = bool(read_only)
        self.audit_key = audit_key
        self.share_group = share_group
        self._lock = threading.RLock()
        self._witness = Witness(witness, mode=files.file_mode(share_group)) if witness else None
        self._syslog = SystemLog(syslog, self.path.resolve()) if syslog else None
        self.anchor_error = ""
        """Why the last entry could not be written to the witness or the system log ('' when it
        was): the entry itself is committed; the operator is told."""
        try:
            if self.read_only:
                conn = files.open_read_only(self.path, AuditConnection, timeout=min(self.busy_timeout_s, _BUSY_SLICE_S))
            else:
                why = files.unwritable(self.path)
                if why:
                    raise ReadOnlyStore(f"the review store {self.path} cannot be written here ({why}): nothing was changed")
                files.prepare(self.path, share_group)
                conn = sqlite3.connect(
                    str(self.path), timeout=min(self.busy_timeout_s, _BUSY_SLICE_S), isolation_level=None,
                    check_same_thread=False, factory=AuditConnection,
                )
            self._conn: AuditConnection | None = conn  # type: ignore[assignment]
        except (OSError, sqlite3.Error) as exc:
            raise ReviewError(f"cannot open the review store {self.path}: {_one_line(exc)}") from exc
        self._conn.row_factory = sqlite3.Row
        try:
            if self.read_only:
                self._check_version(self._retry(lambda: self._connection().execute("PRAGMA user_version").fetchone()[0]))
            else:
                self._retry(lambda: self._configure(synchronous.upper()))
                self._migrate()
        except BaseException:
            self.close()
            raise
        # After the migrations: entries an upgrade step appends (built for its own schema)
        # carry no MAC; the next write then asks for `audit adopt-key`.
        self._conn.audit_key = audit_key

    def _configure(self, synchronous: str) -> None:
        conn = self._connection()
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal" and str(self.path) != ":memory:":
            raise ReviewError(f"the review store {self.path} cannot use WAL mode (journal_mode is {mode})")
        conn.execute(f"PRAGMA synchronous = {synchronous}")

    def _migrate(self) -> None:
        self._check_version(self._retry(lambda: self._connection().execute("PRAGMA user_version").fetchone()[0]))
        # MIGRATIONS and SCHEMA_VERSION are read from this module's namespace at call time, so
        # a test can add a step by patching them here.
        for target, statements in enumerate(MIGRATIONS, start=1):

            def step(conn: sqlite3.Connection, target: int = target, statements: tuple = statements) -> None:
                current = conn.execute("PRAGMA user_version").fetchone()[0]
                self._check_version(current)
                if current >= target:  # another process got there first
                    return
                for statement in statements:
                    if callable(statement):
                        statement(conn)
                    else:
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
            if self._syslog is not None:
                self._syslog.close()

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
        while the store is busy; then its audit entries go to the witness and the log."""
        if self.read_only:
            raise ReadOnlyStore(f"the review store {self.path} is open read-only here: nothing was changed")
        with self._lock:
            out = self._retry(lambda: self._transaction("BEGIN IMMEDIATE", work))
            self._publish()
            return out

    def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work`` in one read snapshot (never blocks the writer, never waits for it)."""
        return self._retry(lambda: self._transaction("BEGIN", work))

    def _transaction(self, begin: str, work: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            conn = self._connection()
            conn.execute(begin)
            conn.appended.clear()
            try:
                out = work(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.appended.clear()
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return out

    def _publish(self) -> None:
        """The committed entries of the last transaction, to the system log and the witness.
        Their failure is reported in :attr:`anchor_error`, never raised: the entries are
        committed, and saying otherwise would be false."""
        conn = self._connection()
        entries, conn.appended = list(conn.appended), []
        if not entries:
            return
        self.anchor_error = ""
        if self._syslog is not None:
            self._syslog.publish(entries)
            if self._syslog.error:
                self.anchor_error = f"the system log {self._syslog.address} did not take the audit entries: {self._syslog.error}"
                self._syslog.error = ""
        if self._witness is not None:
            def after(seq: int) -> list[tuple[int, str]]:
                return [(int(r[0]), str(r[1])) for r in conn.execute("SELECT seq, hash FROM audit WHERE seq > ? ORDER BY seq", (seq,))]

            try:
                self._witness.publish(after)
            except (OSError, sqlite3.Error) as exc:
                self.anchor_error = f"the audit witness {self._witness.path} could not be written: {_one_line(exc)}"

    def _retry(self, attempt: Callable[[], T]) -> T:
        deadline = time.monotonic() + self.busy_timeout_s
        delay = 0.0005
        while True:
            try:
                return attempt()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise ReviewError(self._error_line(exc)) from exc
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StoreBusy(BUSY_MESSAGE) from exc
                time.sleep(min(left, delay * random.uniform(0.5, 1.5)))
                delay = min(delay * 2, _BACKOFF_CAP_S)
            except sqlite3.Error as exc:  # corrupt file, read-only file, full disk: one line
                raise ReviewError(self._error_line(exc)) from exc

    def _error_line(self, exc: sqlite3.Error) -> str:
        code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
        if code == sqlite3.SQLITE_FULL:
            return (f"review store {self.path}: the disk is full ({_one_line(exc)}); nothing was changed —"
                    f" free space in {self.path.parent} and try again")
        if code == sqlite3.SQLITE_READONLY:
            return f"review store {self.path} cannot be written here ({_one_line(exc)}); nothing was changed"
        return f"review store {self.path}: {_one_line(exc)}"

    # -- reads ----------------------------------------------------------------------------------

    def get(self, proposal_id: int) -> ProposalRecord | None:
        row = self._read(lambda c: fetch_row(c, proposal_id))
        return None if row is None else to_record(row)

    def list(
        self,
        *,
        states: Iterable[str] | None = ("pending",),
        namespace: str | None = None,
        action: str | None = None,
        limit: int = 1000,
        hide_alert_states: Iterable[str] = (),
    ) -> list[ProposalRecord]:
        """Newest first. ``states=None``: every state. ``hide_alert_states``: leave out
        proposals whose alerts are in these states (the pending view hides ``resolved``)."""
        query = queue.list_query(states, namespace, action, limit, hide_alert_states)
        if query is None:
            return []
        sql, args = query
        rows = self._read(lambda c: c.execute(sql, args).fetchall())
        return [to_record(r) for r in rows]

    def version(self) -> int:
        """The current data version (see :meth:`changed_since`)."""
        return self._read(current_version)

    def changed_since(self, version: int) -> tuple[int, list[ProposalRecord]]:
        """``(current version, records changed after version)``, oldest change first: one
        indexed query, cheap enough to poll every second from every operator's TUI. A version
        ahead of the store (the file was replaced) returns every record."""
        current, rows = self._read(lambda c: queue.changed_since(c, version))
        return current, [to_record(r) for r in rows]

    def decisions(self, since: datetime | None = None) -> list[dict]:
        """Operators' verdicts as rows for the dataset builder
        (:func:`sreconsole.triage.dataset.decision_examples`), oldest first. An approved
        proposal stays "approved" whatever its execution did; ``outcome`` says what that was
        (a rolled-back action may still have been the right one)."""
        rows = self._read(lambda c: _decisions.decided_rows(c, since))
        return [_decisions.as_example(r) for r in rows]

    # -- writes -------------------------------------------------------------------------------

    def enqueue(
        self, proposal: Proposal, alert: Alert, *, now: datetime | None = None, operator: Operator | None = None,
        source: str = "",
    ) -> ProposalRecord:
        """Put a proposal in the queue, or return the record already standing for it.

        * a pending record for the same alert and action is refreshed in place (no new row,
          no audit entry: the triage engine re-enqueues on every poll);
        * a record an operator already decided for the same alert, action *and firing*
          (the alert's ``starts_at``) is left alone and returned: approving must not make
          the same proposal reappear on the next poll. A re-fire (a new ``starts_at``)
          after the decision gets a new pending proposal; so does a proposal that only
          expired or was superseded;
        * a pending record of *another* alert with the same action and target (two alerts
          asking to restart one deployment) gets this alert added to its ``alerts``, with a
          ``merge`` audit entry, instead of a second row;
        * any pending proposal for the same alert with another action is superseded.

        All of this within the proposal's cluster (``proposal.cluster``, else the alert's),
        which the record keeps and seals: it is the only cluster the proposal is executed on.

        ``source`` names the alert source the alert came from (it then watches the alert's
        live state, see :meth:`observe`); '' for alerts from elsewhere (a file).
        A poll that changes nothing takes no write lock.
        """
        return self.enqueue_many([(proposal, alert)], now=now, operator=operator, source=source)[0]

    def enqueue_many(
        self, pairs: Iterable[tuple[Proposal, Alert]], *, now: datetime | None = None, operator: Operator | None = None,
        source: str = "",
    ) -> list[ProposalRecord]:
        """:meth:`enqueue` for a burst (one triage pass), as a group commit: one read to
        plan them all, then every change in **one** write transaction, so a storm of a few
        hundred proposals costs one fsync and holds the write lock once instead of once per
        proposal (which put operators' decisions behind hundreds of fsyncs). All or nothing:
        an error leaves none of the burst enqueued. Records in the order given."""
        at = utc(now)
        actor = self._actor(operator)
        source = storable_text(source)
        items = [self._enqueue_item(p, a, at, source) for p, a in pairs]
        if not items:
            return []

        def plan_all(c: sqlite3.Connection) -> list:
            return [queue.plan(c, fp, action, values, place) for fp, action, values, place in items]

        planned = self._read(plan_all)
        writes = [i for i, (what, _, others) in enumerate(planned) if what not in ("keep", "stand") or others]
        ids: dict[int, int] = {}
        if writes:
            def work(c: sqlite3.Connection) -> list[int]:
                return [queue.enqueue(c, *items[i][:3], at=at, actor=actor, place=items[i][3]) for i in writes]

            ids = dict(zip(writes, self._write(work)))
        rows = self._read(lambda c: [fetch_row(c, ids[i]) if i in ids else None for i in range(len(items))])
        out = []
        for i, row in enumerate(rows):
            row = row if row is not None else planned[i][1]
            assert row is not None  # rows are never deleted
            out.append(to_record(row))
        return out

    def _enqueue_item(self, proposal: Proposal, alert: Alert, at: datetime, source: str) -> tuple:
        if proposal.fingerprint != alert.fingerprint:
            raise ReviewError(f"proposal is for alert {proposal.fingerprint} but the alert given is {alert.fingerprint}")
        if proposal.cluster and alert.cluster and proposal.cluster != alert.cluster:
            raise ReviewError(f"proposal is for cluster {proposal.cluster!r} but its alert came from cluster {alert.cluster!r}")
        values = snapshot(proposal, alert)
        fingerprint, action = storable_text(proposal.fingerprint), storable_text(proposal.action)
        state = alert_state_of(alert) if source else "unknown"
        place = queue.Placement(queue.target_of(fingerprint, json.loads(values["parameters"])),
                                queue.alert_entry(fingerprint, values["alertname"], values["alert_started_at"], state, iso(at)), source,
                                storable_text(proposal.cluster or alert.cluster))
        return fingerprint, action, values, place

    def observe(
        self, source: str, observed: Mapping[str, str], *, now: datetime | None = None, operator: Operator | None = None
    ) -> list[tuple[int, str, str]]:
        """What the alert source ``source`` holds now (every alert it has, fingerprint →
        firing / acked / silenced / inhibited), applied to the pending proposals it watches:
        an alert it no longer holds has resolved. ``(id, state before, state now)`` for each
        proposal whose alert state changed; each change is audited. Cheap when nothing
        changed (one read, no write lock), so a console can call it on every poll."""
        unknown = sorted({s for s in observed.values() if s not in ALERT_STATES or s in ("resolved", "unknown")})
        if unknown:
            raise ReviewError(f"an observed alert state must be one the source can report, not {unknown[0]!r}")
        at = utc(now)
        source = storable_text(source)
        observed = {storable_text(k): v for k, v in observed.items()}
        actor = self._actor(operator)
        rows = self._read(lambda c: c.execute(queue.WATCHED, (source,)).fetchall())
        if not queue.observed_changes(rows, source, observed, iso(at)):
            return []
        return self._write(lambda c: queue.observe(c, source, observed, at=at, actor=actor))

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
        approvals_needed: int = 1,
    ) -> ProposalRecord:
        """Approve or reject a pending proposal, atomically: exactly one of several racing
        operators wins; the others get :class:`AlreadyDecided`.

        ``verdict``: ``"approved"``/``"approve"`` or ``"rejected"``/``"reject"``. A rejection
        needs a reason and may name the action that would have been right
        (``corrected_action``, a training label). An approval may carry the operator's edited
        ``parameters``/``command``/``api`` — validated by the caller; stored here, and the
        audit entry records both the approved and the proposed values. An approval of a row
        that is not what its newest audit entry sealed raises :class:`SealBroken`.

        ``approvals_needed`` = 2 (four eyes, from the policy): the first approval is recorded
        (``approvals``, an ``endorse`` entry) and the proposal stays pending; the second, by
        another person, approves it. :class:`PolicyRefused` (naming the rule) for the same
        person twice, for changed parameters under four eyes, and for approving a proposal
        one created from Bruno.
        """
        edited = parameters is not None or command is not None or api is not None
        state, reason = _decisions.verdict_state(verdict, reason, corrected_action=corrected_action, edited=edited)
        at = utc(now)
        actor = self._actor(operator)
        self._write(lambda c: _decisions.decide(
            c, proposal_id, state, actor=actor, reason=reason, corrected_action=corrected_action,
            parameters=parameters, command=command, api=api, at=at, approvals_needed=approvals_needed,
        ))
        return self._must_get(proposal_id)

    def record_result(
        self, proposal_id: int, outcome: str, result: dict, operator: Operator, *, now: datetime | None = None,
        expect: str | None = None,
    ) -> ProposalRecord:
        """What the executor did: ``executed``/``failed`` after an approval or an intent,
        ``unknown`` for an interrupted execution nobody can tell the outcome of,
        ``rolled_back`` after an execution (the record's ``result`` becomes the rollback's),
        or ``dry_run`` in any state (an audit entry only). A ``reason`` key in ``result`` is
        also written as the audit entry's reason. ``expect``: refuse unless the proposal is
        still in that state."""
        spec, stored = outcomes.stored_result(outcome, result)
        at = utc(now)
        actor = self._actor(operator)
        self._write(lambda c: outcomes.record(c, proposal_id, outcome, spec, stored, actor=actor, at=at, expect=expect))
        return self._must_get(proposal_id)

    def watch_outcomes(
        self, alerts: Iterable[Mapping], windows: Mapping[str, float], *, now: datetime | None = None,
        operator: Operator | None = None, clusters: Iterable[str] | None = None,
    ) -> list[tuple[int, str, str]]:
        """Judge executed actions by what the alert source holds now (``alerts``: each with
        ``fingerprint``, ``labels``, ``state``, and ``cluster`` where several are watched;
        ``windows``: action id → seconds, from the catalog; ``clusters``: the clusters the
        observation speaks for, None for all): ``(id, outcome before, outcome now)`` per
        verdict, each audited (:mod:`~sreconsole.review.effect`). One read and no write lock
        when nothing is due."""
        at = utc(now)
        actor = self._actor(operator)  # on PostgreSQL the entry must name the session's user
        alerts = [dict(a) for a in alerts]
        spoken = None if clusters is None else frozenset(clusters)
        if not self._read(lambda c: effect.watch(c, alerts, windows, at=at, actor=actor, dry=True, clusters=spoken)):
            return []
        return self._write(lambda c: effect.watch(c, alerts, windows, at=at, actor=actor, clusters=spoken))

    def begin_execution(
        self, proposal_id: int, plan: dict, intent: dict, operator: Operator, *, now: datetime | None = None
    ) -> ProposalRecord:
        """Record the intent to execute before anything is sent: ``plan`` is what the
        executor is about to send (action, parameters, the call), ``intent`` who sends it and
        until when (:func:`sreconsole.review.intent.mark`). Refuses — :class:`SealBroken`,
        :class:`InvalidTransition` — a row that was edited, is not approved, or another
        process began executing."""
        at = utc(now)
        actor = self._actor(operator)
        self._write(lambda c: outcomes.begin(c, proposal_id, plan, intent, actor=actor, at=at))
        return self._must_get(proposal_id)

    def sealed(self, proposal_id: int, states: tuple[str, ...] = ("executed",)) -> ProposalRecord:
        """The proposal, checked against its newest audit entry (:class:`SealBroken` when it
        was edited), in one of ``states``: what a rollback may send."""
        return to_record(self._read(lambda c: outcomes.sealed(c, proposal_id, states)))

    def adopt_key(self, operator: Operator, *, now: datetime | None = None) -> int:
        """Start the keyed chain on a trail written without a key: a ``keyed`` entry whose MAC
        covers, through the hash chain, every entry before it. Returns its seq; 0 when the
        trail's newest entry already carries a MAC (or the trail is empty)."""
        if self.audit_key is None:
            raise ReviewError("no key: set review.audit_key_file first")
        at = utc(now)
        actor = self._actor(operator)

        def work(c: sqlite3.Connection) -> int:
            last = c.execute("SELECT seq, mac FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            if last is None or last["mac"] is not None:
                return 0
            return int(chain_append(c, ts=iso(at), **actor.audit(), event="keyed", proposal_id=None,
                                    reason=f"entries from here on carry an HMAC; entries 1-{last['seq']} are covered through this one")["seq"])

        return self._write(work)

    def expire_pending(self, older_than: timedelta, *, now: datetime | None = None) -> int:
        """Expire proposals pending since before ``now - older_than``; how many. Called on
        every listing, so it takes the write lock only when something is due."""
        at = utc(now)
        cutoff = iso(at - older_than)
        if not self._read(lambda c: c.execute(queue.DUE + " LIMIT 1", (cutoff,)).fetchone()):
            return 0
        actor = self._actor(None)
        return self._write(lambda c: queue.expire(c, cutoff, older_than, at=at, actor=actor))

    def _must_get(self, proposal_id: int) -> ProposalRecord:
        record = self.get(proposal_id)
        if record is None:
            raise ReviewError(f"no proposal #{proposal_id}")
        return record


def alert_state_of(alert: Alert) -> str:
    """The alert's state in the queue's words, as its source reported it (an ack is a
    silence to the alert itself; :meth:`ReviewStore.observe` is told which ones are acks)."""
    return {AlertState.SILENCED: "silenced", AlertState.INHIBITED: "inhibited", AlertState.RESOLVED: "resolved"}.get(alert.state, "firing")


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
