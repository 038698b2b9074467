"""Execution bookkeeping: the intent to execute, what the executor did with an approved
proposal (executed, failed, rolled back, or only dry-run), and what a reconciliation found
after an interrupted execution — recorded on the proposal and in the audit trail.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sreconsole.review import chain, effect, seal
from sreconsole.review.errors import InvalidTransition, ReviewError
from sreconsole.review.records import STATES, Actor, audit_snapshot, fetch_row, iso, jsonable, loads, next_version

OUTCOMES: dict[str, tuple[tuple[str, ...], str | None, str]] = {
    # From approved: a store used without intents (and files written before them); from
    # executing: the executor's answer; from unknown: a human's verdict after looking.
    "executed": (("approved", "executing", "unknown"), "executed", "execute"),
    "failed": (("approved", "executing", "unknown"), "failed", "fail"),
    "unknown": (("executing",), "unknown", "unknown"),
    "rolled_back": (("executed",), "rolled_back", "rollback"),
    # A dry run changes nothing, so it may be recorded in any state: before approving, after
    # approving, and the dry run of a rollback of an executed action.
    "dry_run": (STATES, None, "dry_run"),
}
"""outcome -> (states it may follow, state it leads to, audit event); None: no state change."""


def stored_result(outcome: str, result: dict | None) -> tuple[tuple[tuple[str, ...], str | None, str], dict | None]:
    """The outcome's rule and the result as it will be stored (plain JSON, always a table),
    or ReviewError for an unknown outcome."""
    spec = OUTCOMES.get(outcome)
    if spec is None:
        raise ReviewError(f"unknown outcome {outcome!r} (one of {', '.join(OUTCOMES)})")
    stored = jsonable(result) if result is not None else None
    if stored is not None and not isinstance(stored, dict):
        stored = {"value": stored}
    return spec, stored


def record(
    c: sqlite3.Connection,
    proposal_id: int,
    outcome: str,
    spec: tuple[tuple[str, ...], str | None, str],
    stored: dict | None,
    *,
    actor: Actor,
    at: datetime,
    expect: str | None = None,
) -> None:
    """The write transaction of an outcome: the state change (if any) and its audit entry;
    a ``reason`` key in the result is also the entry's reason. ``expect``: the state the
    caller saw (a reconciliation must not overwrite what another console just recorded)."""
    allowed, new_state, event = spec
    row = fetch_row(c, proposal_id)
    if row is None:
        raise ReviewError(f"no proposal #{proposal_id}")
    if row["state"] not in allowed or (expect is not None and row["state"] != expect):
        raise InvalidTransition(f"proposal #{proposal_id} is {row['state'].replace('_', ' ')}: it cannot be marked {outcome.replace('_', ' ')}")
    ts = iso(at)
    if new_state is not None:
        c.execute("UPDATE proposals SET state = ?, result = ?, updated_at = ?, changed_version = ? WHERE id = ? AND state = ?",
                  (new_state, None if stored is None else chain.canonical(stored), ts, next_version(c), proposal_id, row["state"]))
    if new_state == "executed" and "outcome" in row.keys():
        c.execute("UPDATE proposals SET outcome = 'watching', outcome_detail = ? WHERE id = ?",
                  (chain.canonical(effect.started(ts)), proposal_id))
    why = stored.get("reason") if isinstance(stored, dict) else None
    after = fetch_row(c, proposal_id)
    chain.append(c, ts=ts, **actor.audit(), event=event, proposal_id=proposal_id, action=row["action"],
                 parameters=json.loads(row["parameters"]), command=row["command"], api=loads(row["api"]),
                 reason=why if isinstance(why, str) else "", snapshot=audit_snapshot(row), result=stored,
                 seal=seal.digest(after))


def begin(
    c: sqlite3.Connection, proposal_id: int, plan: Mapping[str, Any], intent: Mapping[str, Any], *, actor: Actor, at: datetime
) -> None:
    """The write transaction of the intent to execute: the row must be approved, be what its
    newest audit entry sealed, and hold the action and parameters the executor is about to
    send; then it becomes ``executing`` with the intent as its result, and the audit entry
    records the call that will be sent. Exactly one process can begin (a compare-and-set)."""
    row = fetch_row(c, proposal_id)
    if row is None:
        raise ReviewError(f"no proposal #{proposal_id}")
    if row["state"] != "approved":
        raise InvalidTransition(f"proposal #{proposal_id} is {row['state'].replace('_', ' ')}: it cannot be executed (nothing sent)")
    seal.check(c, row, key=getattr(c, "audit_key", None))
    asked = (plan.get("action"), plan.get("parameters"))
    if asked != (row["action"], json.loads(row["parameters"])):
        raise seal.SealBroken(
            f"proposal #{proposal_id} holds {row['action']} with other parameters than the executor was given: nothing sent", None
        )
    # The executor names the cluster it sends to; a proposal for another one is refused here,
    # in the transaction that checked the seal (so also the cluster) of the row.
    cluster = seal.cluster_of(row)
    if cluster and plan.get("cluster") != cluster:
        sends_to = f"cluster {plan['cluster']!r}" if plan.get("cluster") else "no named cluster"
        raise seal.SealBroken(f"proposal #{proposal_id} is for cluster {cluster!r} and the executor sends to {sends_to}: nothing sent", None)
    stored = jsonable({"intent": {**dict(intent), "call": plan.get("call")}})
    ts = iso(at)
    c.execute("UPDATE proposals SET state = 'executing', result = ?, updated_at = ?, changed_version = ? WHERE id = ? AND state = 'approved'",
              (chain.canonical(stored), ts, next_version(c), proposal_id))
    after = fetch_row(c, proposal_id)
    chain.append(c, ts=ts, **actor.audit(), event="executing", proposal_id=proposal_id, action=row["action"],
                 parameters=json.loads(row["parameters"]), command=row["command"], api=loads(row["api"]),
                 reason="about to send", snapshot=audit_snapshot(row), result=stored, seal=seal.digest(after))


def sealed(c: sqlite3.Connection, proposal_id: int, states: tuple[str, ...]) -> sqlite3.Row:
    """The row, checked against its seal, in one of ``states`` (a rollback reads the undo
    data it will send from here)."""
    row = fetch_row(c, proposal_id)
    if row is None:
        raise ReviewError(f"no proposal #{proposal_id}")
    if row["state"] not in states:
        raise InvalidTransition(f"proposal #{proposal_id} is {row['state'].replace('_', ' ')}: this needs {' or '.join(states)}")
    seal.check(c, row, key=getattr(c, "audit_key", None))
    return row
