"""The review queue for the TUI and the CLI: enqueue proposals, approve, reject, dry-run,
roll back — each decision a compare-and-set in the shared store, each execution through the
Kubernetes API (or a dry run), everything in the hash-chained audit trail.

Nothing here runs a shell. Parameters an operator edits are validated by the action
catalog before anything is stored or sent.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sreconsole.config import Settings
from sreconsole.domain.operator import Operator
from sreconsole.review.paths import review_store_path

RISKS = ("low", "medium", "high")
EXPIRE_EVERY = timedelta(seconds=60)


class ReadOnly(Exception):
    """The console runs read-only: nothing that changes the cluster or the queue."""


@dataclass(frozen=True)
class Outcome:
    """What an approve / dry-run / rollback did: the record afterwards and the execution."""

    record: object  # ProposalRecord
    execution: object | None = None  # ExecutionResult
    message: str = ""


class ReviewQueue:
    """One per process. The store and the executor open lazily (a TUI that never opens the
    Review pane never touches SQLite or imports the Kubernetes client)."""

    def __init__(self, settings: Settings, operator: Operator, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.settings = settings
        self.operator = operator
        self.clock = clock
        self.path = review_store_path(settings)
        self._store = None
        self._executor = None
        self._catalog = None
        self._lock = threading.Lock()
        self._expired_at: datetime | None = None
        self.api_error = ""

    # -- lazily built parts ------------------------------------------------------------------

    @property
    def store(self):
        from sreconsole.review.store import ReviewStore

        with self._lock:
            if self._store is None:
                self._store = ReviewStore(self.path)
            return self._store

    @property
    def catalog(self):
        if self._catalog is None:
            from sreconsole.triage.models import load_catalog_for

            self._catalog = load_catalog_for(self.settings)
        return self._catalog

    @property
    def executor(self):
        from sreconsole.review.executor import Executor
        from sreconsole.sources.kube_client import KubeClientError, make_api_client

        with self._lock:
            if self._executor is None:
                k = self.settings.kubernetes
                client = None
                if k.kubeconfig or k.in_cluster:
                    try:
                        client = make_api_client(k.kubeconfig, k.context, k.in_cluster, k.timeout_s)
                    except KubeClientError as exc:
                        client = None  # dry runs still work; the approve dialog says why nothing can run
                        self.api_error = str(exc)
                risks = [r for r in self.settings.review.apply_risks if r in RISKS]
                self._executor = Executor(self.catalog, client, apply_risks=risks, read_only=self.settings.read_only, clock=self.clock)
            return self._executor

    def executor_mode(self, risk: str) -> str:
        """What approving an action of this risk will do, in words for the approve dialog."""
        if self.read_only:
            return "nothing (read-only)"
        if risk in self.settings.review.apply_risks:
            k = self.settings.kubernetes
            if not (k.kubeconfig or k.in_cluster):
                return "an error: no Kubernetes API is configured (kubernetes.kubeconfig or in_cluster)"
            _ = self.executor
            if self.api_error:
                return f"an error: the Kubernetes API cannot be used ({self.api_error})"
            return "executed through the Kubernetes API"
        return f"a dry run ({risk} risk is not in review.apply_risks)"

    @property
    def read_only(self) -> bool:
        return bool(self.settings.read_only)

    def _writable(self, what: str) -> None:
        if self.read_only:
            raise ReadOnly(f"read-only: {what} is disabled (--read-only or read_only = true)")

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
            self._store = None

    # -- queue ------------------------------------------------------------------------------

    def enqueue(self, proposals: Sequence, alerts: Sequence) -> list:
        """Put proposals in the queue (one per alert fingerprint + action; a newer proposal
        for the same alert supersedes a pending one)."""
        self._writable("enqueueing proposals")
        now = self.clock()
        return [self.store.enqueue(p, a, now=now, operator=self.operator) for p, a in zip(proposals, alerts)]

    def list(self, *, all_states: bool = False, states: Sequence[str] | None = None, namespace: str | None = None, action: str | None = None) -> list:
        now = self.clock()
        if not self.read_only and (self._expired_at is None or now - self._expired_at > EXPIRE_EVERY):
            # A write (it takes the lock): once a minute per process, not on every poll.
            self.store.expire_pending(timedelta(seconds=self.settings.review.expire_after_s), now=now)
            self._expired_at = now
        chosen = None if all_states else (tuple(states) if states else ("pending",))
        records = self.store.list(states=chosen, namespace=namespace, action=action)
        return sorted(records, key=queue_order)

    def get(self, proposal_id: int):
        return self.store.get(proposal_id)

    # -- decisions --------------------------------------------------------------------------

    def validate_parameters(self, action_id: str, labels: Mapping[str, str], parameters: Mapping[str, str] | None):
        """(params, command, api) for an action, from the alert's labels and the operator's
        edits, re-validated by the catalog; raises ValueError naming each bad parameter."""
        from sreconsole.triage.catalog import bind, render

        action = self.catalog.get(action_id)
        if action is None:
            raise ValueError(f"unknown action {action_id!r}")
        overrides = {k: v for k, v in (parameters or {}).items() if action.parameter(k) is not None}
        binding = bind(action, labels, overrides)
        problems = [f"{n}: missing" for n in binding.missing] + [f"{n}: {why}" for n, why in binding.invalid]
        if problems:
            raise ValueError(f"{action_id}: " + "; ".join(problems))
        call = render(action, binding.params, now=self.clock())
        api = None
        if call.api is not None:
            api = {"method": call.api.method, "path": call.api.path, "content_type": call.api.content_type, "body": call.api.body, "body_from": call.api.body_from}
        return dict(binding.params), call.command, api

    def approve(self, proposal_id: int, reason: str, parameters: Mapping[str, str] | None = None, *, execute: bool = True) -> Outcome:
        """Approve (compare-and-set), then execute — a dry run unless the action's risk is
        in ``review.apply_risks`` — and record the result. Raises AlreadyDecided for a lost
        race, ValueError for invalid parameters, ReadOnly in read-only mode."""
        self._writable("approving")
        record = self.store.get(proposal_id)
        if record is None:
            raise LookupError(f"no proposal {proposal_id}")
        params, command, api = self.validate_parameters(record.action, record.labels, parameters or record.parameters)
        record = self.store.decide(proposal_id, "approved", self.operator, reason, parameters=params, command=command, api=api, now=self.clock())
        if not execute or record.action == "escalate":
            return Outcome(record, None, f"approved {record.action} (#{record.id})")
        result = self.executor.execute(record.action, record.parameters)
        if result.dry_run:
            record = self.store.record_result(record.id, "dry_run", result.as_dict(), self.operator, now=self.clock())
            return Outcome(record, result, f"approved #{record.id}; dry run only ({record.risk} risk is not in review.apply_risks)")
        record = self.store.record_result(record.id, "executed" if result.ok else "failed", result.as_dict(), self.operator, now=self.clock())
        self._remember_incident(record, result)
        return Outcome(record, result, f"{'executed' if result.ok else 'failed'}: {record.action} (#{record.id})" + (f": {result.error}" if result.error else ""))

    def reject(self, proposal_id: int, reason: str, corrected_action: str | None = None) -> Outcome:
        self._writable("rejecting")
        if corrected_action and corrected_action not in self.catalog:
            raise ValueError(f"unknown action {corrected_action!r}")
        record = self.store.decide(proposal_id, "rejected", self.operator, reason, corrected_action=corrected_action or None, now=self.clock())
        return Outcome(record, None, f"rejected #{record.id}" + (f"; labelled {corrected_action}" if corrected_action else ""))

    def dry_run(self, proposal_id: int, parameters: Mapping[str, str] | None = None) -> Outcome:
        """What approving would call, sending nothing; recorded in the audit trail."""
        record = self.store.get(proposal_id)
        if record is None:
            raise LookupError(f"no proposal {proposal_id}")
        params, _, _ = self.validate_parameters(record.action, record.labels, parameters or record.parameters)
        result = self.executor.execute(record.action, params, dry_run=True)
        if not self.read_only:
            record = self.store.record_result(record.id, "dry_run", result.as_dict(), self.operator, now=self.clock())
        return Outcome(record, result, f"dry run of {record.action}: {len(result.calls)} call(s), nothing sent")

    def rollback(self, proposal_id: int, reason: str) -> Outcome:
        self._writable("rolling back")
        record = self.store.get(proposal_id)
        if record is None:
            raise LookupError(f"no proposal {proposal_id}")
        if record.state != "executed":
            raise ValueError(f"#{proposal_id} is {record.state}: only an executed action can be rolled back")
        undo = (record.result or {}).get("undo")
        result = self.executor.rollback(record.action, record.parameters, undo or {})
        if result.dry_run:
            self.store.record_result(record.id, "dry_run", result.as_dict(), self.operator, now=self.clock())
            return Outcome(record, result, "rollback dry run only (the action's risk is not in review.apply_risks)")
        if result.ok:
            record = self.store.record_result(record.id, "rolled_back", {**result.as_dict(), "reason": reason}, self.operator, now=self.clock())
        return Outcome(record, result, ("rolled back" if result.ok else f"rollback failed: {result.error}") + f" (#{record.id})")

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


def queue_order(record) -> tuple:
    """Severity first; among those, items needing a human with the lowest confidence first,
    then the newest."""
    sev = {"critical": 0, "warning": 1, "info": 2}.get(str(record.severity).lower(), 3)
    conf = record.confidence if record.confidence is not None else -1.0
    return (sev, 0 if record.requires_human_review else 1, conf, -record.created_at.timestamp())


def age_text(then: datetime | None, now: datetime) -> str:
    if then is None:
        return ""
    from sreconsole.domain.alerts import format_age

    return format_age(max(0.0, (now - then).total_seconds()))
