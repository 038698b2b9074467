"""The audit chain as the store writes it: the entry schema, its canonical JSON and hash,
and :func:`append`, called inside the store's own write transaction.

Every state change of the queue (enqueue, supersede, approve, reject, execute, fail,
rollback, dry run, expire) appends one entry **in the same SQLite transaction** as the
change itself, so the trail can never disagree with the queue about what was committed.
Reading the chain back and checking it is :mod:`sreconsole.review.audit`; this module is
what the store needs and nothing more, so the store does not depend on the verifier.

Canonical JSON (what the hash covers) is ``json.dumps(entry, sort_keys=True,
separators=(",", ":"), ensure_ascii=True)`` over the entry as
:func:`sreconsole.review.audit.export` yields it (without ``hash``), so the chain can be
re-checked with any language's JSON library.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Mapping
from typing import Any

GENESIS = "0" * 64
"""``prev_hash`` of the first entry."""

EVENTS = ("enqueue", "supersede", "approve", "reject", "execute", "fail", "rollback", "dry_run", "expire", "merge", "alert_state")
"""``merge``: another alert asking for the same action on the same target joined a pending
proposal's evidence; ``alert_state``: the live state of a pending proposal's alerts changed
(resolved, firing again, silenced, acked). Adding a name here needs a schema step that calls
:func:`sreconsole.review.schema.widen_audit_events` (the table's CHECK lists them)."""

FIELDS = (
    "seq", "ts", "user", "client", "event", "proposal_id", "action", "parameters", "command", "api",
    "reason", "snapshot", "result", "prev_hash",
)
"""The fields an entry's hash covers, in column order (``hash`` is the 15th column)."""

JSON_FIELDS = ("parameters", "api", "snapshot", "result")

SCHEMA = (
    f"""CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        ts TEXT NOT NULL,
        user TEXT NOT NULL,
        client TEXT NOT NULL,
        event TEXT NOT NULL CHECK (event IN ({", ".join(repr(e) for e in EVENTS)})),
        proposal_id INTEGER,
        action TEXT NOT NULL,
        parameters TEXT,
        command TEXT NOT NULL,
        api TEXT,
        reason TEXT NOT NULL,
        snapshot TEXT,
        result TEXT,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    )""",
    "CREATE INDEX audit_proposal ON audit(proposal_id, seq)",
    # The newest entry, kept beside the chain so that cutting entries off the *end* (which
    # leaves a perfectly valid shorter chain) is noticed too.
    """CREATE TABLE audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL
    )""",
    """CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
       BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: entries cannot be changed'); END""",
    """CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
       BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only: entries cannot be deleted'); END""",
    # Appends must extend the chain: the next seq, linked to the newest hash.
    f"""CREATE TRIGGER audit_append_only_at_end BEFORE INSERT ON audit
       WHEN NEW.seq IS NOT coalesce((SELECT max(seq) FROM audit), 0) + 1
         OR NEW.prev_hash IS NOT coalesce((SELECT hash FROM audit WHERE seq = NEW.seq - 1), '{GENESIS}')
       BEGIN SELECT RAISE(ABORT, 'the audit trail only grows at its end'); END""",
    """CREATE TRIGGER audit_head_forward BEFORE UPDATE ON audit_head
       WHEN NEW.seq IS NOT OLD.seq + 1 OR NEW.hash IS NOT (SELECT hash FROM audit WHERE seq = NEW.seq)
       BEGIN SELECT RAISE(ABORT, 'the audit head only moves to the next entry'); END""",
    """CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
       BEGIN SELECT RAISE(ABORT, 'the audit head cannot be deleted'); END""",
)
"""Statements of the audit part of the store's first schema version (run by the store's
migrations, inside their transaction)."""

TRIGGERS = ("audit_no_update", "audit_no_delete", "audit_append_only_at_end", "audit_head_forward", "audit_head_no_delete")

STATE_AFTER = {
    "enqueue": "pending",
    "supersede": "superseded",
    "approve": "approved",
    "reject": "rejected",
    "execute": "executed",
    "fail": "failed",
    "rollback": "rolled_back",
    "expire": "expired",
    "dry_run": None,  # an audit entry only: the proposal keeps its state
    "merge": None,  # the proposal stays pending, with one more alert
    "alert_state": None,  # the alert's state is bookkeeping beside the proposal's state
}
"""The proposal state each event leaves behind; :func:`sreconsole.review.audit.verify`
replays them."""


def canonical(value: Any) -> str:
    """The one JSON spelling of a value that hashes and JSON columns use."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def entry_hash(entry: Mapping[str, Any]) -> str:
    body = {k: entry[k] for k in FIELDS}
    return hashlib.sha256((body["prev_hash"] + canonical(body)).encode("ascii")).hexdigest()


def append(
    conn: sqlite3.Connection,
    *,
    ts: str,
    user: str,
    client: str,
    event: str,
    proposal_id: int | None,
    action: str = "",
    parameters: Mapping[str, Any] | None = None,
    command: str = "",
    api: Mapping[str, Any] | None = None,
    reason: str = "",
    snapshot: Mapping[str, Any] | None = None,
    result: Mapping[str, Any] | None = None,
) -> dict:
    """Append one entry. The caller holds the write transaction (``BEGIN IMMEDIATE``) that
    also makes the change being recorded: that is what serialises the chain across
    processes and makes the entry commit or vanish with the change.

    JSON-valued fields must already be plain JSON values (the store normalises them), so
    what is hashed here is exactly what :func:`sreconsole.review.audit.export` reads back.
    """
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}")
    last = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev_hash = (int(last[0]) + 1, str(last[1])) if last else (1, GENESIS)
    entry: dict[str, Any] = {
        "seq": seq,
        "ts": ts,
        "user": user,
        "client": client,
        "event": event,
        "proposal_id": proposal_id,
        "action": action,
        "parameters": None if parameters is None else dict(parameters),
        "command": command,
        "api": None if api is None else dict(api),
        "reason": reason,
        "snapshot": None if snapshot is None else dict(snapshot),
        "result": None if result is None else dict(result),
        "prev_hash": prev_hash,
    }
    entry["hash"] = entry_hash(entry)
    row = [None if entry[k] is None else canonical(entry[k]) if k in JSON_FIELDS else entry[k] for k in FIELDS]
    conn.execute(f"INSERT INTO audit ({', '.join(FIELDS)}, hash) VALUES ({', '.join('?' * (len(FIELDS) + 1))})", (*row, entry["hash"]))
    conn.execute(
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        (seq, entry["hash"]),
    )
    return entry


def entry_from_row(row: tuple) -> dict:
    """A stored row back to the entry it was hashed as; JSON columns are parsed (a column
    edited into invalid JSON raises ValueError, which :func:`sreconsole.review.audit.verify`
    reports)."""
    entry = dict(zip((*FIELDS, "hash"), row))
    for k in JSON_FIELDS:
        if entry[k] is not None:
            entry[k] = json.loads(entry[k])
    return entry
