"""The review queue for the TUI and the CLI: enqueue proposals, approve, reject, dry-run,
roll back, reconcile — each decision a compare-and-set in the shared store, each execution
through the Kubernetes API (or a dry run), everything in the hash-chained audit trail.

Nothing here runs a shell. Parameters an operator edits are validated by the action
catalog before anything is stored or sent; a parameter the action does not take is an
error naming the ones it does. A real execution goes: approve (sealed) → the executor's
checks → the intent to execute, recorded after the row is checked against its seal →
the request → the outcome. A process killed after the intent leaves an ``executing``
record that :meth:`ReviewQueue.reconcile` settles from what the cluster shows.

Readers (listings, ``audit verify``, a read-only console) open the store read-only, so they
work on a read-only filesystem too.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sreconsole.config import Settings
from sreconsole.domain.operator import Operator
from sreconsole.review.backend import is_postgres
from sreconsole.review.paths import review_store_path
from sreconsole.services.recording import NO_RECORDER

RISKS = ("low", "medium", "high")
EXPIRE_EVERY = timedelta(seconds=60)


class ReadOnly(Exception):
    """The console runs read-only: nothing that changes the cluster or the queue."""


class UnknownCluster(LookupError):
    """A proposal's cluster is not one this console is configured for (or it names none and
    several are): nothing is sent, and no other cluster ever stands in for it."""


class UnknownParameter(ValueError):
    """An edit names a parameter the action does not take (a typo must not leave the original
    value in place silently)."""


@dataclass(frozen=True)
class Reconciled:
    """An interrupted execution and what was found (``outcome``: executed, failed, unknown;
    ``recorded``: whether it was written to the queue — a read-only console only shows it)."""

    id: int
    action: str
    outcome: str
    reason: str
    recorded: bool = True
    observed: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"id": self.id, "action": self.action, "outcome": self.outcome, "reason": self.reason,
                "recorded": self.recorded, "observed": self.observed}


class AlertResolved(Exception):
    """Approving a proposal whose alerts have all resolved needs the operator to say so
    (``even_if_resolved``): the action may no longer be needed, or may now do harm."""

    def __init__(self, record, now: datetime) -> None:
        self.record = record
        since = age_text(record.alert_state_since, now)
        super().__init__(
            f"#{record.id} {record.action}" + (f" on {shown_target(record)}" if shown_target(record) else "") + ": its alert resolved" + (f" {since} ago" if since else "")
            + "; approving acts on something no longer firing"
        )


@dataclass(frozen=True)
class Outcome:
    """What an approve / dry-run / rollback did: the record afterwards and the execution."""

    record: object  # ProposalRecord
    execution: object | None = None  # ExecutionResult
    message: str = ""


def _recorded(verdict: str | None):
    """Also write what the method changed to the session recording (``--record``): the
    decision (``verdict``, from the returned :class:`Outcome`), then the queue as it is
    now. With ``verdict=None`` only the queue, and only when the method changed something.
    A recording that cannot be written never fails the decision: it is a witness."""

    def wrap(method):
        @functools.wraps(method)
        def recorded(self, *args, **kwargs):
            result = method(self, *args, **kwargs)
            if self.recorder.enabled and result:
                try:
                    records = self.reader.list(states=None)
                    if verdict is not None:
                        reason = kwargs.get("reason", args[1] if len(args) > 1 and isinstance(args[1], str) else "")
                        self.recorder.decision(verdict, result.record, str(reason or ""), self.operator, queue=records)
                    else:
                        self.recorder.queue(records)
                except Exception:  # noqa: BLE001 - see the docstring: the decision stands
                    pass
            return result

        return recorded

    return wrap


class ReviewQueue:
    """One per process. The store and the executor open lazily (a TUI that never opens the
    Review pane never touches SQLite or imports the Kubernetes client)."""

    def __init__(self, settings: Settings, operator: Operator, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.settings = settings
        self.operator = operator
        self.clock = clock
        self.path = review_store_path(settings)
        self._store = None
        self._reader = None
        self._executors: dict[str, object] = {}
        self._catalog = None
        self._lock = threading.Lock()
        self._expired_at: datetime | None = None
        self._policy = None
        self._groups: frozenset[str] | None = None
        self.api_errors: dict[str, str] = {}
        """Cluster name → why its Kubernetes API cannot be used ('' or absent: it can)."""

    recorder = NO_RECORDER
    """Where decisions and queue changes are also written (``--record``)."""

    read_only_reason = "read-only"
    """How a refused change begins ("read-only: approve ... disabled"); a replay says so."""

    # -- lazily built parts ------------------------------------------------------------------

    @property
    def store(self):
        """The store for changes (opened read-write, with the chain's key and anchors)."""
        from sreconsole.review.store import ReviewStore

        with self._lock:
            if self._store is None:
                self._store = ReviewStore(self.path, **self._store_options())
            return self._store

    @property
    def reader(self):
        """The store for reading: opened read-only (``mode=ro``, or ``immutable=1`` where the
        directory is read-only), so listings work on a read-only filesystem and never create
        the file."""
        from sreconsole.review.store import ReviewStore

        with self._lock:
            if self._store is not None:
                return self._store
            if self._reader is None:
                self._reader = ReviewStore(self.path, read_only=True)
            return self._reader

    def _store_options(self) -> dict:
        from sreconsole.review.files import load_key

        r = self.settings.review
        syslog = r.audit_syslog if r.audit_syslog and Path(r.audit_syslog).exists() else ""
        return {
            "audit_key": load_key(r.audit_key_file) if r.audit_key_file else None,
            "witness": r.audit_witness or None,
            "syslog": syslog,
            "share_group": r.share_group,
        }

    @property
    def anchor_error(self) -> str:
        """Why the last committed audit entry could not also go to the witness or the system
        log ('' when it did, or nothing was written)."""
        return self._store.anchor_error if self._store is not None else ""

    @property
    def notifies(self) -> bool:
        """Whether the store announces other consoles' changes (PostgreSQL's NOTIFY): then
        :meth:`wait_for_change` returns as soon as one is committed."""
        return is_postgres(self.path)

    def wait_for_change(self, timeout_s: float) -> bool:
        """Block until another console's change is committed or ``timeout_s`` passes;
        whether one came (always False for the SQLite file, which is polled)."""
        if not self.notifies:
            return False
        return self.reader.wait_for_change(timeout_s)

    def _writable_here(self) -> bool:
        """Whether this process could write the store at all (a read-only filesystem, a copy
        it may only read): then nothing tries to."""
        if self._store is not None or is_postgres(self.path):  # the server decides who may write
            return True
        directory = self.path.parent
        if self.path.exists():
            return os.access(self.path, os.W_OK) and os.access(directory, os.W_OK)
        return not directory.exists() or os.access(directory, os.W_OK)

    @property
    def catalog(self):
        if self._catalog is None:
            from sreconsole.triage.models import load_catalog_for

            self._catalog = load_catalog_for(self.settings)
        return self._catalog

    # -- where executions go: one executor per configured cluster ------------------------------

    def cluster_for(self, name: str):
        """The configured cluster a proposal of cluster ``name`` goes to
        (:class:`~sreconsole.config.ClusterSettings`), looked up by name and nothing else:
        :class:`UnknownCluster`, naming it, when none has that name. A proposal that names no
        cluster (queued before there were several) goes to the one configured cluster, and
        is refused where there are several: guessing would be executing on the wrong one."""
        clusters = self.settings.cluster_list()
        names = ", ".join(repr(c.name) for c in clusters) or "none"
        if name:
            for cluster in clusters:
                if cluster.name == name:
                    return cluster
            raise UnknownCluster(f"its cluster {name!r} is not configured in this console (configured: {names}): nothing sent")
        if len(clusters) == 1:
            return clusters[0]
        raise UnknownCluster(f"it names no cluster and {len(clusters)} are configured ({names}): nothing sent to any of them")

    def executor_for(self, name: str):
        """The executor bound to the proposal's cluster (:meth:`cluster_for`), built once per
        cluster from that cluster's own ``kubernetes`` settings. It names its cluster in every
        plan it hands the queue, and the queue refuses the intent to execute a proposal of
        another cluster (:func:`sreconsole.review.outcomes.begin`)."""
        from sreconsole.review.executor import Executor
        from sreconsole.sources.kube_client import KubeClientError, make_api_client

        cluster = self.cluster_for(name)
        with self._lock:
            if cluster.name not in self._executors:
                k = cluster.kubernetes
                client = None
                if self._is_demo(cluster) and self.settings.review.apply_risks:
                    # (only when something may run for real: the official client takes a
                    # while to import, and a demo of dry runs never needs it)
                    from sreconsole.services.environment import demo_remedies
                    from sreconsole.sources.demo.cluster_api import demo_api_client

                    client = demo_api_client(demo_remedies(self.settings), self.clock)
                elif k.kubeconfig or k.in_cluster:
                    try:
                        client = make_api_client(k.kubeconfig, k.context, k.in_cluster, k.timeout_s)
                    except KubeClientError as exc:
                        client = None  # dry runs still work; the approve dialog says why nothing can run
                        self.api_errors[cluster.name] = str(exc)
                risks = [r for r in self.settings.review.apply_risks if r in RISKS]
                self._executors[cluster.name] = Executor(self.catalog, client, apply_risks=risks, read_only=self.settings.read_only,
                                                         clock=self.clock, cluster=cluster.name)
            return self._executors[cluster.name]

    def _executor_of(self, record):
        """:meth:`executor_for` the record's cluster; UnknownCluster names the proposal."""
        try:
            return self.executor_for(record.cluster)
        except UnknownCluster as exc:
            raise UnknownCluster(f"#{record.id} {record.action}: {exc}") from None

    def _cluster_kind(self, name: str = "") -> str:
        """Where executions go: ``demo`` (the simulated cluster) or ``kubernetes``. Recorded in
        each execution's intent, so an interrupted one is settled only against the same."""
        return "demo" if self._is_demo(self.cluster_for(name)) and self.settings.review.apply_risks else "kubernetes"

    def _is_demo(self, cluster) -> bool:
        """The demo with no Kubernetes API configured: actions change the simulated cluster."""
        k = cluster.kubernetes
        return self.settings.is_demo and not (k.kubeconfig or k.in_cluster)

    def executor_mode(self, risk: str, cluster: str = "") -> str:
        """What approving an action of this risk, for a proposal of ``cluster``, will do, in
        words for the approve dialog."""
        if self.read_only:
            return "nothing (read-only)"
        try:
            target = self.cluster_for(cluster)
        except UnknownCluster as exc:
            return f"an error: {exc}"
        where = f" of cluster {target.name}" if len(self.settings.cluster_list()) > 1 else ""
        if risk in self.settings.review.apply_risks and self._is_demo(target):
            return "executed on the simulated demo cluster"
        if risk in self.settings.review.apply_risks:
            k = target.kubernetes
            if not (k.kubeconfig or k.in_cluster):
                return f"an error: no Kubernetes API is configured{where} (kubernetes.kubeconfig or in_cluster)"
            self.executor_for(cluster)
            if self.api_errors.get(target.name):
                return f"an error: the Kubernetes API{where} cannot be used ({self.api_errors[target.name]})"
            return f"executed through the Kubernetes API{where}"
        return f"a dry run ({risk} risk is not in review.apply_risks)"

    @property
    def read_only(self) -> bool:
        return bool(self.settings.read_only)

    def _writable(self, what: str) -> None:
        if self.read_only:
            raise ReadOnly(f"read-only: {what} is disabled (--read-only or read_only = true)")

    # -- the approval policy -------------------------------------------------------------------

    @property
    def policy(self):
        """The approval policy (``review.policy_file``), loaded once; the open policy
        (everyone may do everything) without one."""
        from sreconsole.review.policy import Policy

        if self._policy is None:
            f = self.settings.review.policy_file
            self._policy = Policy.load(f) if f else Policy.open()
        return self._policy

    @property
    def groups(self) -> frozenset[str]:
        """The operator's Unix groups, and on PostgreSQL the database roles their login role
        is a member of: what the policy's ``groups`` name."""
        if self._groups is None:
            from sreconsole.services.identity import unix_groups

            groups = set(unix_groups(self.operator.user))
            if self.notifies:
                groups |= self.reader.db_groups()
            self._groups = frozenset(groups)
        return self._groups

    @property
    def who(self) -> str:
        """The name the policy's answers use: the database's user on PostgreSQL."""
        return self.reader.db_user if self.notifies else self.operator.user

    def may_decide(self, record, verb: str = "approve"):
        """The policy's answer for this operator on ``record`` (a Decision: falsy, with the
        rule's sentence, when refused)."""
        return self.policy.may_decide(self.who, self.groups, record.risk, record.action, verb)

    def may(self, verb: str):
        """``silence`` or ``promote`` for this operator."""
        return self.policy.may(self.who, self.groups, verb)

    def refusal(self, verb: str) -> str:
        """'' when this operator may ``silence``/``promote``, else the refusal naming the rule
        (what the alerts service and the training board ask before acting)."""
        if not self.policy.enforced:
            return ""
        answer = self.may(verb)
        return "" if answer else answer.reason

    def _allowed(self, record, verb: str) -> None:
        from sreconsole.review.errors import PolicyRefused

        answer = self.may_decide(record, verb)
        if not answer:
            raise PolicyRefused(answer.reason, answer.rule)

    def close(self) -> None:
        for store in (self._store, self._reader):
            if store is not None:
                store.close()
        self._store = self._reader = None

    # -- queue ------------------------------------------------------------------------------

    @_recorded(None)
    def enqueue(self, proposals: Sequence, alerts: Sequence, *, from_source: bool = False) -> list:
        """Put proposals in the queue: one pending proposal per action and target (a second
        alert for the same target joins the first one's evidence), and a newer proposal for
        the same alert supersedes a pending one. ``from_source``: the alerts came from the
        configured alert source, which then keeps their live state (:meth:`observe`)."""
        self._writable("enqueueing proposals")
        now = self.clock()
        if not from_source:
            return self.store.enqueue_many(zip(proposals, alerts), now=now, operator=self.operator, source="")
        # One burst per cluster's source (each its own group commit), records in the order given.
        by_source: dict[str, list[int]] = {}
        for i, alert in enumerate(alerts):
            by_source.setdefault(self.source_of(alert.cluster), []).append(i)
        out: list = [None] * len(alerts)
        for source, indexes in by_source.items():
            records = self.store.enqueue_many([(proposals[i], alerts[i]) for i in indexes], now=now, operator=self.operator, source=source)
            for i, record in zip(indexes, records):
                out[i] = record
        return out

    ATTENTION = ("pending", "executing", "unknown")
    """What the default listing shows: pending proposals, and executions whose outcome is
    not recorded (running now, interrupted, or waiting for a human)."""

    @property
    def source_id(self) -> str:
        """The name the queue knows the configured alert source by."""
        from sreconsole.services.environment import alert_source_id

        return alert_source_id(self.settings)

    def source_of(self, cluster: str) -> str:
        """The name the queue knows the alert source of ``cluster`` by: the configured
        source's own (:attr:`source_id`), and where several clusters are configured, with the
        cluster's name after it (``…#prod-eu``). The same fingerprint in two clusters is two
        alerts: each cluster's source watches its own, and never speaks for the other's."""
        if not cluster or len(self.settings.cluster_list()) <= 1:
            return self.source_id
        return f"{self.source_id}#{cluster}"

    @_recorded(None)
    def observe(self, snapshot) -> list[tuple[int, str, str]]:
        """Apply one poll of the alert source (an
        :class:`~sreconsole.services.alerts.AlertsSnapshot`) to the pending proposals it
        watches: an alert it no longer holds has resolved. A failed poll (stale alerts)
        and a read-only console change nothing. ``(id, before, now)`` per changed proposal.

        With several clusters, each cluster's alerts are one observation by that cluster's
        source (:meth:`source_of`). A cluster with no alert in the poll is not observed: in
        one snapshot, a cluster whose Alertmanager did not answer and one whose alerts all
        resolved look the same, and marking the first one's proposals resolved would be
        wrong; its proposals keep their last state until its alerts are seen again."""
        if self.read_only or snapshot.error or not self._writable_here():
            return []
        from sreconsole.review.store import alert_state_of

        several = len(self.settings.cluster_list()) > 1
        groups: dict[str, list] = {} if several else {self.source_id: []}
        for a in snapshot.alerts:
            groups.setdefault(self.source_of(a.cluster) if several else self.source_id, []).append(a)
        changes: list[tuple[int, str, str]] = []
        states: dict[tuple[str, str], str] = {}
        for source, alerts in groups.items():
            observed = {}
            for a in alerts:
                state = alert_state_of(a)
                if state == "silenced" and any(s in snapshot.acks for s in a.silenced_by):
                    state = "acked"
                if state != "resolved":
                    observed[a.fingerprint] = state
                    states[(a.cluster, a.fingerprint)] = state
            changes += self.store.observe(source, observed, now=self.clock(), operator=self.operator)
        clusters = {a.cluster for a in snapshot.alerts} if several else None
        return changes + self.watch_outcomes(snapshot.alerts, states, clusters)

    def watch_outcomes(self, alerts: Sequence, states: Mapping[tuple[str, str], str], clusters=None) -> list[tuple[int, str, str]]:
        """Executed actions judged by the alerts the source holds now (``states``: the state
        of each alert held, by ``(cluster, fingerprint)``, resolved ones left out; ``clusters``: the
        clusters this poll speaks for, None for all): did the fix work, within the window
        the catalog gives the action. ``(id, outcome before, outcome now)`` per verdict."""
        windows = {a.id: a.effect_window_s for a in self.catalog.actions if a.effect_window_s}
        held = [{"fingerprint": a.fingerprint, "labels": dict(a.labels), "state": states[(a.cluster, a.fingerprint)],
                 "cluster": a.cluster} for a in alerts if (a.cluster, a.fingerprint) in states]
        return self.store.watch_outcomes(held, windows, now=self.clock(), operator=self.operator, clusters=clusters)

    def outcomes(self, limit: int = 200) -> list:
        """Executed proposals with a verdict on their effect (or still watched), newest first."""
        return [r for r in self.reader.list(states=("executed", "rolled_back"), limit=limit) if r.outcome]

    def observe_source(self) -> str:
        """One poll of the configured alert source, applied as :meth:`observe` does (the
        CLI's way to see what is true now); '' or the one line saying why it could not."""
        if self.read_only:
            return ""
        from sreconsole.services.environment import fetch_alerts_once

        snapshot = fetch_alerts_once(self.settings)
        if snapshot.error:
            return f"alert states as last seen: {snapshot.health.name}: {snapshot.error}"
        self.observe(snapshot)
        return ""

    def list(
        self, *, all_states: bool = False, states: Sequence[str] | None = None, namespace: str | None = None,
        action: str | None = None, include_resolved: bool = False,
    ) -> list:
        """Severity first (see :func:`queue_order`). The pending view (the default) leaves
        out proposals whose alerts resolved unless ``include_resolved``; ``all_states``
        shows everything."""
        now = self.clock()
        if not self.path.exists():
            return []
        due = self._expired_at is None or now - self._expired_at > EXPIRE_EVERY
        if not self.read_only and due and self._writable_here():
            # A write (it takes the lock): once a minute per process, not on every poll.
            self.store.expire_pending(timedelta(seconds=self.settings.review.expire_after_s), now=now)
            self._expired_at = now
        chosen = None if all_states else (tuple(states) if states else self.ATTENTION)
        hidden = () if all_states or include_resolved else ("resolved",)
        records = self.reader.list(states=chosen, namespace=namespace, action=action, hide_alert_states=hidden)
        return sorted(records, key=queue_order)

    def get(self, proposal_id: int):
        if self._store is None and not self.path.exists():
            return None
        return self.reader.get(proposal_id)

    def verify(self, anchor: str | Path | None = None):
        """See :func:`verify_store`."""
        return verify_store(self.settings, anchor)

    # -- decisions --------------------------------------------------------------------------

    def validate_parameters(self, action_id: str, labels: Mapping[str, str], parameters: Mapping[str, str] | None):
        """(params, command, api) for an action, from the alert's labels and the operator's
        edits, re-validated by the catalog; raises ValueError naming each bad parameter."""
        from sreconsole.triage.catalog import bind, render

        action = self.catalog.get(action_id)
        if action is None:
            raise ValueError(f"unknown action {action_id!r}")
        names = [p.name for p in action.parameters]
        unknown = sorted(set(parameters or {}) - set(names))
        if unknown:
            raise UnknownParameter(
                f"{action_id} has no parameter {', '.join(repr(n) for n in unknown)};"
                f" its parameters are {', '.join(names) if names else 'none'}"
            )
        binding = bind(action, labels, dict(parameters or {}))
        problems = [f"{n}: missing" for n in binding.missing] + [f"{n}: {why}" for n, why in binding.invalid]
        if problems:
            raise ValueError(f"{action_id}: " + "; ".join(problems))
        call = render(action, binding.params, now=self.clock())
        api = None
        if call.api is not None:
            api = {"method": call.api.method, "path": call.api.path, "content_type": call.api.content_type, "body": call.api.body, "body_from": call.api.body_from}
        return dict(binding.params), call.command, api

    @_recorded("approved")
    def approve(
        self, proposal_id: int, reason: str, parameters: Mapping[str, str] | None = None, *, execute: bool = True,
        even_if_resolved: bool = False,
    ) -> Outcome:
        """Approve (compare-and-set), then execute — a dry run unless the action's risk is
        in ``review.apply_risks`` — and record the result. ``parameters`` are edits on top
        of the proposal's own. Raises AlreadyDecided for a lost race, UnknownParameter /
        ValueError for bad parameters (nothing stored, nothing sent), SealBroken for a row
        edited outside sreconsole, ReadOnly in read-only mode, AlertResolved when the
        proposal's alerts resolved and ``even_if_resolved`` is not given, UnknownCluster
        (nothing stored, nothing sent) when the proposal's cluster is not configured here.

        The executor is the one bound to the proposal's cluster (:meth:`executor_for`); it
        names that cluster in its plan, and the queue refuses the intent to execute unless it
        is the sealed row's."""
        from sreconsole.review.executor import ExecutionError
        from sreconsole.review.intent import mark

        self._writable("approving")
        record = self.store.get(proposal_id)
        if record is None:
            raise LookupError(f"no proposal {proposal_id}")
        if record.state == "pending" and record.alert_state == "resolved" and not even_if_resolved:
            raise AlertResolved(record, self.clock())
        self._allowed(record, "approve")
        executor = self._executor_of(record) if execute and record.action != "escalate" else None
        params, command, api = self.validate_parameters(record.action, record.labels, {**record.parameters, **(parameters or {})})
        needed = self.policy.approvals_needed(record.risk)
        record = self.store.decide(proposal_id, "approved", self.operator, reason, parameters=params, command=command, api=api,
                                   now=self.clock(), approvals_needed=needed)
        if record.state == "pending":  # the first of two approvals (four eyes)
            return Outcome(record, None, f"approved #{record.id}: approval {len(record.approvals)} of {needed}"
                                         f" ({record.risk} risk needs two people); it executes after the second")
        if executor is None:
            return Outcome(record, None, f"approved {record.action} (#{record.id})")

        def intent(plan: dict) -> None:  # called by the executor right before its first request
            self.store.begin_execution(record.id, plan, {**mark(executor.timeout_s, self.clock()), "cluster": self._cluster_kind(record.cluster)},
                                       self.operator, now=self.clock())

        try:
            result = executor.execute(record.action, record.parameters, before_send=intent)
        except ExecutionError as exc:  # refused before anything was sent: a failure, not limbo
            failed = {"action": record.action, "dry_run": False, "ok": False, "error": str(exc), "calls": [], "undo": None}
            record = self.store.record_result(record.id, "failed", failed, self.operator, now=self.clock())
            return Outcome(record, None, f"failed: {record.action} (#{record.id}): {exc} (nothing was sent)")
        if result.dry_run:
            record = self.store.record_result(record.id, "dry_run", result.as_dict(), self.operator, now=self.clock())
            return Outcome(record, result, f"approved #{record.id}; dry run only ({record.risk} risk is not in review.apply_risks)")
        record = self.store.record_result(record.id, "executed" if result.ok else "failed", result.as_dict(), self.operator,
                                          now=self.clock(), expect="executing")
        self._remember_incident(record, result)
        return Outcome(record, result, f"{'executed' if result.ok else 'failed'}: {record.action} (#{record.id})" + (f": {result.error}" if result.error else ""))

    @_recorded("rejected")
    def reject(self, proposal_id: int, reason: str, corrected_action: str | None = None) -> Outcome:
        self._writable("rejecting")
        if corrected_action and corrected_action not in self.catalog:
            raise ValueError(f"unknown action {corrected_action!r}")
        record = self.store.get(proposal_id)
        if record is None:
            raise LookupError(f"no proposal {proposal_id}")
        self._allowed(record, "reject")
        record = self.store.decide(proposal_id, "rejected", self.operator, reason, corrected_action=corrected_action or None, now=self.clock())
        return Outcome(record, None, f"rejected #{record.id}" + (f"; labelled {corrected_action}" if corrected_action else ""))

    @_recorded("dry_run")
    def dry_run(self, proposal_id: int, parameters: Mapping[str, str] | None = None) -> Outcome:
        """What approving would call, sending nothing; recorded in the audit trail (not by a
        read-only console, which opens the store read-only)."""
        record = (self.reader if self.read_only else self.store).get(proposal_id)
        if record is None:
            raise LookupError(f"no proposal {proposal_id}")
        params, _, _ = self.validate_parameters(record.action, record.labels, {**record.parameters, **(parameters or {})})
        result = self._executor_of(record).execute(record.action, params, dry_run=True)
        if not self.read_only:
            record = self.store.record_result(record.id, "dry_run", result.as_dict(), self.operator, now=self.clock())
        return Outcome(record, result, f"dry run of {record.action}: {len(result.calls)} call(s), nothing sent")

    @_recorded("rolled_back")
    def rollback(self, proposal_id: int, reason: str) -> Outcome:
        """Send back what an execution recorded before it changed anything — after checking
        the proposal, its undo data included, against its sealed audit entry (SealBroken:
        nothing sent)."""
        from sreconsole.review.errors import InvalidTransition
        from sreconsole.review.seal import SealBroken

        self._writable("rolling back")
        record = self.store.get(proposal_id)
        if record is None:
            raise LookupError(f"no proposal {proposal_id}")
        self._allowed(record, "rollback")
        if record.state != "executed":
            raise ValueError(f"#{proposal_id} is {record.state}: only an executed action can be rolled back")
        try:
            record = self.store.sealed(proposal_id, ("executed",))
        except InvalidTransition as exc:
            raise ValueError(str(exc)) from None
        undo = (record.result or {}).get("undo")
        executor = self._executor_of(record)  # where it was executed: the cluster sealed on it

        def still_sealed(plan: dict) -> None:  # right before the request: the same values, still sealed
            now = self.store.sealed(proposal_id, ("executed",))
            if (plan["parameters"], plan["undo"]) != (now.parameters, (now.result or {}).get("undo") or {}):
                raise SealBroken(f"proposal #{proposal_id} changed while the rollback was prepared: nothing sent", None)
            if now.cluster and plan.get("cluster") != now.cluster:
                raise SealBroken(f"proposal #{proposal_id} is for cluster {now.cluster!r}, not {plan.get('cluster')!r}: nothing sent", None)

        result = executor.rollback(record.action, record.parameters, undo or {}, before_send=still_sealed)
        if result.dry_run:
            self.store.record_result(record.id, "dry_run", result.as_dict(), self.operator, now=self.clock())
            return Outcome(record, result, "rollback dry run only (the action's risk is not in review.apply_risks)")
        if result.ok:
            record = self.store.record_result(record.id, "rolled_back", {**result.as_dict(), "reason": reason}, self.operator, now=self.clock())
        return Outcome(record, result, ("rolled back" if result.ok else f"rollback failed: {result.error}") + f" (#{record.id})")

    # -- interrupted executions ------------------------------------------------------------

    def reconcile(self) -> list[Reconciled]:
        """Settle every interrupted execution: read the target from the cluster and record
        executed, failed or unknown (needs a human). Executions still running in another
        process are left alone. A read-only console records nothing and only reports them,
        as outcome unknown."""
        from sreconsole.review.errors import InvalidTransition
        from sreconsole.review.intent import interrupted
        now = self.clock()
        out: list[Reconciled] = []
        if not self.path.exists():
            return out
        for record in self.reader.list(states=("executing",)):
            intent = (record.result or {}).get("intent")
            why = interrupted(intent, now)
            if not why:
                continue
            if self.read_only or not self._writable_here():
                out.append(Reconciled(record.id, record.action, "unknown", f"interrupted: {why}; outcome unknown (not recorded here)", False))
                continue
            seen = self._look(record, intent or {})
            result = {"action": record.action, "dry_run": False, "ok": seen.outcome == "executed", "error": "" if seen.outcome == "executed" else seen.reason,
                      "calls": [], "undo": None, "reconciled": True, "interrupted": why, "observed": seen.observed,
                      "reason": f"interrupted ({why}); {seen.reason}", "intent": intent}
            try:
                self.store.record_result(record.id, seen.outcome, result, self.operator, now=now, expect="executing")
            except InvalidTransition:  # another console settled it first
                continue
            out.append(Reconciled(record.id, record.action, seen.outcome, seen.reason, True, seen.observed))
        return out

    def _look(self, record, intent: dict):
        """What the proposal's own cluster shows of an interrupted execution (never another
        cluster's: one that is not configured here is a human's to look at)."""
        from sreconsole.review.reconcile import Observation, observe

        try:
            kind = self._cluster_kind(record.cluster)
        except UnknownCluster as exc:
            return Observation("unknown", f"{exc}: a human must look")
        where = intent.get("cluster", "kubernetes")
        if where != kind:
            # Sent to the simulated demo cluster and asked of a real one, or the other way
            # round: neither can say what happened to the other's request.
            return Observation("unknown", f"it was sent to the {where} cluster, and this console talks to the {kind} one: a human must look")
        return observe(self.executor_for(record.cluster), record.action, record.parameters, intent)

    def resolve(self, proposal_id: int, outcome: str, reason: str) -> Outcome:
        """A human's verdict on an execution whose outcome is unknown: ``executed`` or
        ``failed``, with the reason (what they saw in the cluster)."""
        self._writable("recording an outcome")
        if outcome not in ("executed", "failed"):
            raise ValueError("the outcome is executed or failed")
        if not reason.strip():
            raise ValueError("say what you saw in the cluster (--reason)")
        record = self.store.record_result(proposal_id, outcome, {"reason": reason, "resolved_by": "operator", "undo": None},
                                          self.operator, now=self.clock(), expect="unknown")
        return Outcome(record, None, f"#{proposal_id} recorded as {outcome}")

    def _remember_incident(self, record, result) -> None:
        """An executed action becomes incident history for the knowledge base (best effort:
        another process may hold the knowledge store's writer lock)."""
        if not self.settings.knowledge.enabled:
            return
        try:
            from sreconsole.knowledge.store import IncidentRecord, StoreBusy, Writer
            from sreconsole.services.knowledge import make_embedder, store_path

            inc = IncidentRecord(
                incident_id=f"review-{record.id}",
                alertname=record.alertname,
                labels=dict(record.labels),
                started_at=record.created_at,
                resolved_at=None,
                action=record.action,
                outcome="executed" if result.ok else "failed",
                operator=record.decided_by,
                notes=record.reason,
                fingerprint=record.fingerprint,
                severity=record.severity,
            )
            with Writer(store_path(self.settings), make_embedder(self.settings)) as w:
                w.add_incidents([inc])
        except Exception:  # noqa: BLE001 - history is a convenience; the audit trail has the truth
            return


def verify_store(settings: Settings, anchor: str | Path | None = None):
    """The audit chain checked (:func:`sreconsole.review.audit.verify`) with the key when
    this user can read it, against ``anchor`` or else the configured witness. Returns
    ``(result, notes)``: notes say what could not be checked."""
    from sreconsole.review.audit import verify
    from sreconsole.review.errors import ReviewError
    from sreconsole.review.files import load_key

    r = settings.review
    notes: list[str] = []
    key = None
    if r.audit_key_file:
        try:
            key = load_key(r.audit_key_file)
        except ReviewError as exc:
            notes.append(f"MACs not checked: {exc}")
    if anchor is None and r.audit_witness and Path(r.audit_witness).expanduser().exists():
        anchor = Path(r.audit_witness).expanduser()
    return verify(review_store_path(settings), key=key, anchor=anchor), notes


def queue_order(record) -> tuple:
    """Severity first; among those, items needing a human with the lowest confidence first,
    then the newest."""
    sev = {"critical": 0, "warning": 1, "info": 2}.get(str(record.severity).lower(), 3)
    conf = record.confidence if record.confidence is not None else -1.0
    return (sev, 0 if record.requires_human_review else 1, conf, -record.created_at.timestamp())


def shown_target(record) -> str:
    """The object a proposal acts on, for people: '' for an action that names none (its
    target is then its alert, ``alert:<fingerprint>``)."""
    target = getattr(record, "target", "") or ""
    return "" if target.startswith("alert:") else target


def alert_state_text(record, now: datetime) -> str:
    """The live state of a proposal's alert with its age, for a table cell: ``firing 5m``,
    ``resolved 2m``, ``acked 30s``; several alerts: ``firing 5m (3)``; ``unknown`` when no
    source watches it."""
    if record.alert_state == "unknown":
        return "unknown"
    since = age_text(record.alert_state_since, now)
    many = f" ({len(record.alerts)})" if len(record.alerts) > 1 else ""
    return f"{record.alert_state} {since}".strip() + many


def age_text(then: datetime | None, now: datetime) -> str:
    if then is None:
        return ""
    from sreconsole.domain.alerts import format_age

    return format_age(max(0.0, (now - then).total_seconds()))
