"""A proposal as the queue holds it: the record type, how a proposal and its alert become
column values, how a row becomes a record again, and the normalising of outside values
(text, JSON, times) so that what is stored is exactly what is read back and hashed.

Shared by every part of the store (queue, decisions, execution bookkeeping) and by the
audit chain's snapshots; it knows SQLite rows and nothing of transactions.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sreconsole.domain.alerts import Alert
from sreconsole.domain.operator import Operator
from sreconsole.domain.proposal import Proposal
from sreconsole.review.chain import canonical

STATES = ("pending", "approved", "rejected", "expired", "superseded", "executed", "failed", "rolled_back", "executing", "unknown")
"""``executing``: the intent to execute is recorded and the executor may be sending;
``unknown``: an execution was interrupted and the cluster could not tell what happened —
a human must look (``sreconsole review reconcile ID --outcome ...``)."""

DECIDED = ("approved", "rejected", "executed", "failed", "rolled_back", "executing", "unknown")
"""States an operator's verdict leads to (expired and superseded are the store's doing)."""

ALERT_STATES = ("firing", "acked", "silenced", "inhibited", "unknown", "resolved")
"""The live state of a proposal's alert, most alive first: a proposal with several alerts
takes the first state any of them is in. ``unknown``: no alert source watches it (queued
from a file) and none has seen it yet."""

SYSTEM_USER = "sreconsole"
"""Who the audit trail names for changes no operator made (expiry, or an enqueue without
an operator)."""


@dataclass(frozen=True)
class Actor:
    """Who makes a change, as the queue and the audit record it: the (verified) user, the
    claimed client address, the identity details beside them and a claimed other name."""

    user: str
    client: str = ""
    identity: dict | None = None
    claim: str = ""

    def audit(self) -> dict[str, Any]:
        """The keyword arguments of :func:`sreconsole.review.chain.append` that say who."""
        return {"user": self.user, "client": self.client, "identity": self.identity}

    @classmethod
    def of(cls, operator: Operator | None) -> Actor:
        if operator is None:
            return SYSTEM
        identity = jsonable(operator.identity()) or None
        return cls(storable_text(operator.user), storable_text(operator.client_address), identity, storable_text(operator.claimed_user))


SYSTEM = Actor(SYSTEM_USER)


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
    """The verified user who decided (the kernel's, for decisions made by sreconsole's CLI
    and TUI)."""
    decided_from: str
    """The client address the decider's environment claimed (``SSH_CONNECTION``)."""
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
    target: str = ""
    """What the action acts on (``namespace/name``; ``alert:<fingerprint>`` when it names no
    object): one pending proposal per action and target."""
    alerts: tuple[dict, ...] = ()
    """Every alert asking for this action on this target, the first being the one that
    raised it: ``fingerprint``, ``alertname``, ``starts_at``, ``state``, ``since``."""
    alert_source: str = ""
    """The alert source that watches the alerts ('' until one has seen them)."""
    alert_state: str = "unknown"
    """The live state of the alerts (:data:`ALERT_STATES`), as last observed."""
    alert_state_since: datetime | None = None
    decided_claim: str = ""
    """The user name the decider's environment claimed (``$USER``) when it differed from
    ``decided_by``: recorded beside it, never instead of it."""
    outcome: str = ""
    """Did the executed action fix its alert: '' (not executed), ``watching``, ``effective``,
    ``not_effective`` (:mod:`sreconsole.review.effect`)."""
    outcome_detail: dict | None = None
    """When it executed, resolved (``resolved_after_s``), came back; ``final`` once the watch ended."""
    approvals: tuple[dict, ...] = ()
    """Approvals gathered while pending (four eyes): ``user``, ``client``, ``at``, ``reason``."""
    cluster: str = ""
    """The cluster the proposal is for (its alert's), the only one it is executed or rolled
    back against; '' for a proposal queued where only one cluster was configured."""

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


SNAPSHOT_COLUMNS = (
    "alertname", "namespace", "severity", "title", "parameters", "command", "api", "confidence", "method",
    "requires_human_review", "review_reasons", "risk", "reversible", "model_version", "evidence",
    "alternatives", "missing_parameters", "notes", "labels", "annotations", "alert_started_at",
)
"""Columns an enqueue of the same pending proposal refreshes (the model re-scored it, new
evidence arrived); what an operator decided on is then the latest."""


def current_version(c: sqlite3.Connection) -> int:
    """The data version of the newest change (see :meth:`ReviewStore.changed_since`)."""
    return int(c.execute("SELECT coalesce(max(changed_version), 0) FROM proposals").fetchone()[0])


def next_version(c: sqlite3.Connection) -> int:
    """The data version a write transaction stamps on the rows it changes (rows are
    never deleted, so the maximum only grows; the write lock makes it unique)."""
    return current_version(c) + 1


def fetch_row(c: sqlite3.Connection, proposal_id: int) -> sqlite3.Row | None:
    return c.execute("SELECT * FROM proposals WHERE id = ?", (int(proposal_id),)).fetchone()


def snapshot(p: Proposal, alert: Alert) -> dict[str, Any]:
    """Column values for what an operator decides on, in their stored (canonical) form so a
    refresh can tell "unchanged" by comparing text."""
    severity = alert.severity
    return {
        "alertname": storable_text(p.alertname or alert.alertname),
        "namespace": storable_text(alert.namespace),
        "severity": storable_text(getattr(severity, "label", None) or str(severity).lower()),
        "title": storable_text(p.title),
        "parameters": canonical(str_dict(p.parameters)),
        "command": storable_text(p.command),
        "api": None if p.api is None else canonical(jsonable(p.api)),
        "confidence": None if p.confidence is None else float(p.confidence),
        "method": storable_text(p.method),
        "requires_human_review": int(bool(p.requires_human_review)),
        "review_reasons": canonical([storable_text(r) for r in p.review_reasons]),
        "risk": storable_text(p.risk),
        "reversible": int(bool(p.reversible)),
        "model_version": storable_text(p.model_version),
        "evidence": canonical(jsonable([e.as_dict() for e in p.evidence])),
        "alternatives": canonical(jsonable([[a, float(pr)] for a, pr in p.alternatives])),
        "missing_parameters": canonical([storable_text(m) for m in p.missing_parameters]),
        "notes": canonical([storable_text(n) for n in p.notes]),
        "labels": canonical(str_dict(alert.labels)),
        "annotations": canonical(str_dict(alert.annotations)),
        "alert_started_at": iso(alert.starts_at) if alert.starts_at else None,
    }


def audit_snapshot(row: sqlite3.Row) -> dict[str, Any]:
    """What the model said when the entry was written: enough to ask later "what did the
    operator see?" without copying the evidence texts into every entry."""
    out = {
        "model_version": row["model_version"],
        "confidence": row["confidence"],
        "method": row["method"],
        "evidence": [e.get("ref", "") for e in json.loads(row["evidence"]) if isinstance(e, dict)],
    }
    cluster = _column(row, "cluster", "")
    if cluster:  # which cluster the decision was about, for whoever reads the trail
        out["cluster"] = cluster
    return out


def to_record(r: sqlite3.Row) -> ProposalRecord:
    return ProposalRecord(
        id=int(r["id"]),
        fingerprint=r["fingerprint"],
        alertname=r["alertname"],
        namespace=r["namespace"],
        severity=r["severity"],
        action=r["action"],
        parameters=json.loads(r["parameters"]),
        command=r["command"],
        api=loads(r["api"]),
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
        result=loads(r["result"]),
        title=r["title"],
        alternatives=tuple((str(a), float(p)) for a, p in json.loads(r["alternatives"])),
        missing_parameters=tuple(json.loads(r["missing_parameters"])),
        notes=tuple(json.loads(r["notes"])),
        alert_started_at=datetime.fromisoformat(r["alert_started_at"]) if r["alert_started_at"] else None,
        # Columns of later schema steps: a store opened read-only is read at its own step.
        target=_column(r, "target", ""),
        alerts=tuple(json.loads(_column(r, "alerts", "[]"))),
        alert_source=_column(r, "alert_source", ""),
        alert_state=_column(r, "alert_state", "unknown"),
        alert_state_since=datetime.fromisoformat(r["alert_state_since"]) if _column(r, "alert_state_since", None) else None,
        decided_claim=_column(r, "decided_claim", ""),
        outcome=_column(r, "outcome", ""),
        outcome_detail=loads(_column(r, "outcome_detail", None)),
        approvals=tuple(json.loads(_column(r, "approvals", "[]"))),
        cluster=_column(r, "cluster", ""),
    )


def _column(r: sqlite3.Row, name: str, default: Any) -> Any:
    return r[name] if name in r.keys() else default


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


_SURROGATES = re.compile("[\ud800-\udfff]")


def storable_text(value: Any) -> str:
    """Text as given — newlines, escape sequences, NULs and all (the renderer strips them) —
    except lone surrogates, which SQLite cannot store as UTF-8 and become U+FFFD."""
    s = value if isinstance(value, str) else str(value)
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        s = _SURROGATES.sub("\ufffd", s)
    return s


def str_dict(mapping: Mapping[Any, Any] | None) -> dict[str, str]:
    return {storable_text(k): storable_text(v) for k, v in (mapping or {}).items()}


def jsonable(value: Any) -> Any:
    """Plain JSON values (str keys, no tuples or datetimes), exactly as they will be read back,
    so the audit hash covers what is stored. Non-finite floats become null."""

    def clean(v: Any) -> Any:
        if isinstance(v, Mapping):
            return {storable_text(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple, set, frozenset)):
            return [clean(x) for x in v]
        if isinstance(v, bool) or v is None or isinstance(v, int):
            return v
        if isinstance(v, float):
            return v if math.isfinite(v) else None
        if isinstance(v, datetime):
            return v.isoformat()
        return storable_text(v)

    return clean(value)


def utc(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(timezone.utc)
    return now.replace(tzinfo=timezone.utc) if now.tzinfo is None else now.astimezone(timezone.utc)


def iso(dt: datetime) -> str:
    """One fixed-width UTC spelling, so stored times compare correctly as text."""
    return utc(dt).isoformat(timespec="microseconds")


def age(seconds: float) -> str:
    s = max(int(seconds), 0)
    if s < 120:
        return f"{s} s"
    if s < 7200:
        return f"{s // 60} min"
    if s < 172800:
        return f"{s // 3600} h"
    return f"{s // 86400} d"
