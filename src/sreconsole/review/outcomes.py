"""Execution bookkeeping: what the executor did with an approved proposal (executed,
failed, rolled back, or only dry-run), recorded on the proposal and in the audit trail.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from sreconsole.review import chain
from sreconsole.review.errors import InvalidTransition, ReviewError
from sreconsole.review.records import STATES, audit_snapshot, fetch_row, iso, jsonable, loads, next_version

OUTCOMES: dict[str, tuple[tuple[str, ...], str | None, str]] = {
    "executed": (("approved",), "executed", "execute"),
    "failed": (("approved",), "failed", "fail"),
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
    user: str,
    client: str,
    at: datetime,
) -> None:
    """The write transaction of an outcome: the state change (if any) and its audit entry;
    a ``reason`` key in the result is also the entry's reason."""
    allowed, new_state, event = spec
    row = fetch_row(c, proposal_id)
    if row is None:
        raise ReviewError(f"no proposal #{proposal_id}")
    if row["state"] not in allowed:
        raise InvalidTransition(f"proposal #{proposal_id} is {row['state'].replace('_', ' ')}: it cannot be marked {outcome.replace('_', ' ')}")
    ts = iso(at)
    if new_state is not None:
        c.execute("UPDATE proposals SET state = ?, result = ?, updated_at = ?, changed_version = ? WHERE id = ? AND state = ?",
                  (new_state, None if stored is None else chain.canonical(stored), ts, next_version(c), proposal_id, row["state"]))
    why = stored.get("reason") if isinstance(stored, dict) else None
    chain.append(c, ts=ts, user=user, client=client, event=event, proposal_id=proposal_id, action=row["action"],
                 parameters=json.loads(row["parameters"]), command=row["command"], api=loads(row["api"]),
                 reason=why if isinstance(why, str) else "", snapshot=audit_snapshot(row), result=stored)
