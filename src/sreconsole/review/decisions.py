"""Operators' verdicts: approve or reject a pending proposal as a compare-and-set, and the
decided proposals read back as training rows.

The compare-and-set is ``UPDATE ... WHERE id = ? AND state = 'pending'``: when two
operators press approve at once, exactly one update changes a row and the other gets
:class:`~sreconsole.review.errors.AlreadyDecided` naming who decided and how long ago.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

from sreconsole.review import chain, seal
from sreconsole.review.errors import AlreadyDecided, PolicyRefused, ReviewError
from sreconsole.review.records import (
    DECIDED,
    Actor,
    audit_snapshot,
    fetch_row,
    iso,
    jsonable,
    loads,
    next_version,
    storable_text,
    str_dict,
    to_record,
)

_VERDICTS = {"approve": "approved", "approved": "approved", "reject": "rejected", "rejected": "rejected"}


def verdict_state(
    verdict: str, reason: str | None, *, corrected_action: str | None, edited: bool
) -> tuple[str, str]:
    """``(state the verdict leads to, reason as stored)``, or ReviewError for a verdict that
    cannot be recorded as given (``edited``: the approval carries changed values)."""
    state = _VERDICTS.get(verdict)
    if state is None:
        raise ReviewError(f"verdict must be approved or rejected, not {verdict!r}")
    reason = storable_text(reason or "")
    if state == "rejected":
        if not reason.strip():
            raise ReviewError("a rejection needs a reason (it is what the next operator and the next model learn from)")
        if edited:
            raise ReviewError("edited parameters go with an approval, not a rejection")
    elif corrected_action:
        raise ReviewError("an approval runs the proposed action; to name another one, reject with it as the corrected action")
    return state, reason


def decide(
    c: sqlite3.Connection,
    proposal_id: int,
    state: str,
    *,
    actor: Actor,
    reason: str,
    corrected_action: str | None,
    parameters: dict[str, str] | None,
    command: str | None,
    api: dict | None,
    at: datetime,
    approvals_needed: int = 1,
) -> None:
    """The write transaction of a verdict: the compare-and-set and its audit entry, which
    records both the approved values and, when the operator edited them, the proposed ones,
    and seals what was approved. An approval first checks that the pending row is what its
    newest audit entry sealed (:class:`~sreconsole.review.seal.SealBroken` otherwise): an
    operator approves what sreconsole proposed, not what someone wrote into the file."""
    row = fetch_row(c, proposal_id)
    if row is None:
        raise ReviewError(f"no proposal #{proposal_id}")
    if state == "approved" and row["state"] == "pending":
        seal.check(c, row, key=getattr(c, "audit_key", None))
    proposed = (json.loads(row["parameters"]), row["command"], loads(row["api"]))
    final = (
        proposed[0] if parameters is None else str_dict(parameters),
        proposed[1] if command is None else storable_text(command),
        proposed[2] if api is None else jsonable(api),
    )
    version, ts = next_version(c), iso(at)
    gathered: list[dict] = []
    if state == "approved" and row["state"] == "pending":
        _not_their_own(c, row, actor)
        if approvals_needed > 1:
            gathered = _four_eyes(c, row, actor, final[0] != proposed[0], approvals_needed, reason=reason, ts=ts, version=version)
            if len(gathered) < approvals_needed:
                return
    cur = c.execute(
        "UPDATE proposals SET state = ?, decided_by = ?, decided_from = ?, decided_claim = ?, decided_at = ?, reason = ?,"
        " corrected_action = ?, parameters = ?, command = ?, api = ?, updated_at = ?, changed_version = ?"
        " WHERE id = ? AND state = 'pending'",
        (state, actor.user, actor.client, actor.claim, ts, reason, storable_text(corrected_action or ""), chain.canonical(final[0]),
         final[1], None if final[2] is None else chain.canonical(final[2]), ts, version, proposal_id),
    )
    if cur.rowcount == 0:
        raise AlreadyDecided(to_record(row), at)
    snapshot = audit_snapshot(row)
    if final != proposed:
        snapshot["proposed"] = {"parameters": proposed[0], "command": proposed[1], "api": proposed[2]}
    if corrected_action:
        snapshot["corrected_action"] = storable_text(corrected_action)
    if gathered:
        snapshot["approvals"] = [a["user"] for a in gathered]
    chain.append(c, ts=ts, **actor.audit(), event="approve" if state == "approved" else "reject",
                 proposal_id=proposal_id, action=row["action"], parameters=final[0], command=final[1], api=final[2],
                 reason=reason, snapshot=snapshot,
                 seal=seal.digest({**dict(row), "parameters": chain.canonical(final[0])}))  # the row as updated


BRUNO_METHOD = "chat"
"""The method of a proposal an operator created from a Bruno answer (``p``)."""


def _not_their_own(c: sqlite3.Connection, row: Any, actor: Actor) -> None:
    """Nobody approves a proposal they created from Bruno: whoever enqueued it (the trail's
    first entry about it) cannot also be the one who approves it."""
    if row["method"] != BRUNO_METHOD:
        return
    first = c.execute("SELECT user FROM audit WHERE proposal_id = ? AND event = 'enqueue' ORDER BY seq LIMIT 1", (row["id"],)).fetchone()
    if first is not None and first[0] == actor.user:
        raise PolicyRefused(f"#{row['id']}: {actor.user} created this proposal from Bruno and cannot approve it"
                            " (rule: no self-approval); another operator must", "no self-approval")


def _four_eyes(c: sqlite3.Connection, row: Any, actor: Actor, edited: bool, needed: int, *, reason: str, ts: str,
               version: int) -> list[dict]:
    """Approvals of a proposal that needs ``needed`` people: this one added to those already
    given, by someone who has not approved it yet. Short of ``needed``, the approval is
    recorded (an ``endorse`` entry, "1 of 2") and the proposal stays pending."""
    rule = f"four eyes: {row['risk']} risk needs {needed} approvals from {needed} different people"
    given = json.loads(row["approvals"]) if "approvals" in row.keys() else []
    # An approval counts only if the trail holds it, after the content last changed: an
    # approval written into the row by hand, or given before a refresh, does not.
    changed = c.execute("SELECT coalesce(max(seq), 0) FROM audit WHERE proposal_id = ? AND event IN ('enqueue', 'refresh', 'merge')",
                        (row["id"],)).fetchone()[0]
    endorsed = {(r[0], r[1]) for r in c.execute("SELECT user, ts FROM audit WHERE proposal_id = ? AND event = 'endorse' AND seq > ?",
                                                  (row["id"], changed)).fetchall()}
    given = [a for a in given if (a.get("user"), a.get("at")) in endorsed]
    if any(a.get("user") == actor.user for a in given):
        raise PolicyRefused(f"#{row['id']}: {actor.user} approved it already ({len(given)} of {needed}); {rule}", "four eyes")
    if edited:
        raise PolicyRefused(f"#{row['id']}: an approval under four eyes cannot change the parameters (both people approve"
                            f" the same thing): approve it as it is, or reject it ({rule})", "four eyes")
    gathered = [*given, {"user": actor.user, "client": actor.client, "at": ts, "reason": reason}]
    if len(gathered) >= needed:
        return gathered
    c.execute("UPDATE proposals SET approvals = ?, updated_at = ?, changed_version = ? WHERE id = ? AND state = 'pending'",
              (chain.canonical(gathered), ts, version, row["id"]))
    chain.append(c, ts=ts, **actor.audit(), event="endorse", proposal_id=row["id"], action=row["action"],
                 parameters=json.loads(row["parameters"]), command=row["command"], api=loads(row["api"]), reason=reason,
                 snapshot={**audit_snapshot(row), "approval": f"{len(gathered)} of {needed}"}, seal=seal.digest(row))
    return gathered


def decided_rows(c: sqlite3.Connection, since: datetime | None) -> list[sqlite3.Row]:
    """Proposals an operator decided (at or after ``since``), oldest decision first."""
    sql = f"SELECT * FROM proposals WHERE decided_at IS NOT NULL AND state IN ({', '.join('?' * len(DECIDED))})"
    args: list[Any] = list(DECIDED)
    if since is not None:
        sql += " AND decided_at >= ?"
        args.append(iso(since))
    return c.execute(sql + " ORDER BY decided_at, id", args).fetchall()


def as_example(r: sqlite3.Row) -> dict:
    """One decided proposal as a row for the dataset builder. An approved proposal stays
    "approved" whatever its execution did; ``outcome`` says what that was."""
    rec = to_record(r)
    return {
        "alert": {"fingerprint": rec.fingerprint, "labels": dict(rec.labels), "annotations": dict(rec.annotations)},
        "action": rec.action,
        "verdict": "rejected" if rec.state == "rejected" else "approved",
        "corrected_action": rec.corrected_action or None,
        "decided_at": rec.decided_at.isoformat() if rec.decided_at else "",
        "outcome": rec.state,
        "reason": rec.reason,
        "proposal_id": rec.id,
        # Did it fix the alert (effective, not_effective; absent while unknown): a training
        # label stronger than the rules' (triage.dataset.weight_outcome_labels).
        **({"effect": rec.outcome} if rec.outcome in ("effective", "not_effective") else {}),
    }
