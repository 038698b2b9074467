"""The audit chain as the store writes it: the entry schema, its canonical JSON and hash,
the optional HMAC, and :func:`append`, called inside the store's own write transaction.

Every state change of the queue (enqueue, supersede, approve, reject, executing, execute,
fail, rollback, dry run, expire, …) appends one entry **in the same transaction** as the
change itself, so the trail can never disagree with the queue about what was committed.
Reading the chain back and checking it is :mod:`sreconsole.review.audit`; this module is
what the store needs and nothing more, so the store does not depend on the verifier.

Canonical JSON (what the hash covers) is ``json.dumps(entry, sort_keys=True,
separators=(",", ":"), ensure_ascii=True)`` over the entry as
:func:`sreconsole.review.audit.export` yields it, without ``hash`` and ``mac``, and
without the fields of :data:`OPTIONAL_FIELDS` that are null — so that entries written
before those fields existed keep their hashes. The chain can be re-checked with any
language's JSON library.

Two fields came with schema 3:

* ``seal``: the digest of the proposal's executable content after the change
  (:mod:`sreconsole.review.seal`), so that what the executor and the rollback will send is
  covered by the chain;
* ``identity``: the kernel's uid and the environment's claims beside ``user``
  (:class:`~sreconsole.domain.operator.Operator`).

``mac`` (schema 3) is ``HMAC-SHA256(key, hash)`` when the store has a key
(``review.audit_key_file``). It is not part of the hash: it is computed from it. Someone
who can rewrite the file but cannot read the key can recompute hashes, not MACs.

Everything here is plain SQL on plain columns (no SQLite-only feature is relied on), so a
PostgreSQL store can keep the same entries and the same hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from collections.abc import Mapping
from typing import Any

GENESIS = "0" * 64
"""``prev_hash`` of the first entry."""

EVENTS = (
    "enqueue", "supersede", "approve", "reject", "execute", "fail", "rollback", "dry_run", "expire", "merge", "alert_state",
    "refresh", "executing", "unknown", "keyed", "outcome", "endorse",
)
"""``merge``: another alert asking for the same action on the same target joined a pending
proposal's evidence; ``alert_state``: the live state of a pending proposal's alerts changed
(resolved, firing again, silenced, acked); ``refresh``: a pending proposal's executable
content changed in place; ``executing``: the intent written before the executor sends
anything; ``unknown``: an interrupted execution whose outcome the cluster could not tell (a
human must look); ``keyed``: from here on the entries carry a MAC; ``outcome``: the effect of an
executed action on its alert (effective, not effective; :mod:`sreconsole.review.effect`);
``endorse``: the first of the two approvals a four-eyes proposal needs (it stays pending). Adding a name here needs
a schema step that calls :func:`sreconsole.review.schema.widen_audit_events` (the table's
CHECK lists them)."""

FIELDS = (
    "seq", "ts", "user", "client", "event", "proposal_id", "action", "parameters", "command", "api",
    "reason", "snapshot", "result", "prev_hash",
)
"""The fields every entry's hash covers, in column order (``hash`` is the 15th column)."""

OPTIONAL_FIELDS = ("seal", "identity")
"""Fields the hash covers when they are not null (schema 3)."""

JSON_FIELDS = ("parameters", "api", "snapshot", "result", "identity")

COLUMNS = (*FIELDS, "hash", *OPTIONAL_FIELDS, "mac")
"""Every column of the audit table (schema 3), in order."""


def _audit_table(name: str, events: tuple[str, ...]) -> str:
    return f"""CREATE TABLE {name} (
        seq INTEGER PRIMARY KEY,
        ts TEXT NOT NULL,
        user TEXT NOT NULL,
        client TEXT NOT NULL,
        event TEXT NOT NULL CHECK (event IN ({", ".join(repr(e) for e in events)})),
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
    )"""


_AUDIT_TRIGGERS = (
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
)

SCHEMA = (
    _audit_table("audit", EVENTS),
    "CREATE INDEX audit_proposal ON audit(proposal_id, seq)",
    # The newest entry, kept beside the chain so that cutting entries off the *end* (which
    # leaves a perfectly valid shorter chain) is noticed too.
    """CREATE TABLE audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL
    )""",
    *_AUDIT_TRIGGERS,
    """CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
       BEGIN SELECT RAISE(ABORT, 'the audit head cannot be deleted'); END""",
)
"""Statements of the audit part of the store's first schema version (run by the store's
migrations, inside their transaction); later steps add columns and widen the events."""

SCHEMA_V3 = (
    "ALTER TABLE audit ADD COLUMN seal TEXT",
    "ALTER TABLE audit ADD COLUMN identity TEXT",
    "ALTER TABLE audit ADD COLUMN mac TEXT",
)
"""The audit columns of schema step 3 (sealing, identity, the keyed chain); its new events
are allowed by :func:`sreconsole.review.schema.widen_audit_events` in the same step."""

TRIGGERS = ("audit_no_update", "audit_no_delete", "audit_append_only_at_end", "audit_head_forward", "audit_head_no_delete")

STATE_AFTER = {
    "enqueue": "pending",
    "refresh": "pending",
    "supersede": "superseded",
    "approve": "approved",
    "reject": "rejected",
    "executing": "executing",
    "execute": "executed",
    "fail": "failed",
    "unknown": "unknown",
    "rollback": "rolled_back",
    "expire": "expired",
    "dry_run": None,  # an audit entry only: the proposal keeps its state
    "merge": None,  # the proposal stays pending, with one more alert
    "alert_state": None,  # the alert's state is bookkeeping beside the proposal's state
    "keyed": None,
    "endorse": None,  # the first of two approvals (four eyes): still pending
}
"""The proposal state each event leaves behind; :func:`sreconsole.review.audit.verify`
replays them."""


class AuditConnection(sqlite3.Connection):
    """The store's connection: it carries the chain's key and collects the entries appended
    in the current transaction, which the store publishes to the witness and the system log
    once they are committed (:mod:`sreconsole.review.anchor`)."""

    audit_key: bytes | None = None
    appended: list[dict]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.appended = []


def canonical(value: Any) -> str:
    """The one JSON spelling of a value that hashes and JSON columns use."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def hashed_body(entry: Mapping[str, Any]) -> dict:
    """The fields an entry's hash covers."""
    body = {k: entry[k] for k in FIELDS}
    for k in OPTIONAL_FIELDS:
        if entry.get(k) is not None:
            body[k] = entry[k]
    return body


def entry_hash(entry: Mapping[str, Any]) -> str:
    body = hashed_body(entry)
    return hashlib.sha256((body["prev_hash"] + canonical(body)).encode("ascii")).hexdigest()


def entry_mac(key: bytes, entry_hash_hex: str) -> str:
    """``HMAC-SHA256(key, hash)`` in hex: the hash covers the entry and, through
    ``prev_hash``, everything before it."""
    return hmac.new(key, entry_hash_hex.encode("ascii"), hashlib.sha256).hexdigest()


def mac_ok(key: bytes, entry: Mapping[str, Any]) -> bool:
    mac = entry.get("mac")
    return isinstance(mac, str) and hmac.compare_digest(mac, entry_mac(key, str(entry["hash"])))


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
    seal: str | None = None,
    identity: Mapping[str, Any] | None = None,
) -> dict:
    """Append one entry. The caller holds the write transaction (``BEGIN IMMEDIATE``) that
    also makes the change being recorded: that is what serialises the chain across
    processes and makes the entry commit or vanish with the change.

    JSON-valued fields must already be plain JSON values (the store normalises them), so
    what is hashed here is exactly what :func:`sreconsole.review.audit.export` reads back.
    ``seal`` is the proposal's content digest after the change; ``identity`` what the
    operator's process is (uid) and claims (an empty identity is stored as null).
    """
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}")
    last = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev_hash = (int(last[0]) + 1, str(last[1])) if last else (1, GENESIS)
    key = getattr(conn, "audit_key", None)
    unkeyed = key and last is not None and conn.execute("SELECT mac FROM audit WHERE seq = ?", (last[0],)).fetchone()[0] is None
    if unkeyed and event != "keyed":
        from sreconsole.review.errors import ReviewError  # errors -> records -> chain: import here

        raise ReviewError(
            f"review.audit_key_file is set but the audit trail is not keyed (its newest entry, {last[0]}, carries no MAC):"
            " check it with `sreconsole audit verify`, then run `sreconsole audit adopt-key` once; nothing was changed"
        )
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
        "seal": seal,
        "identity": dict(identity) if identity else None,
    }
    entry["hash"] = entry_hash(entry)
    entry["mac"] = entry_mac(key, entry["hash"]) if key else None
    # Only the columns with a value: an entry appended by an earlier schema step (a migration
    # adopting old rows) has none of the later columns, and needs none.
    writer = getattr(conn, "write_audit", None)
    if writer is not None:  # PostgreSQL: through its SECURITY DEFINER function (review/pg_schema.py)
        writer(entry)
    else:
        columns = [k for k in COLUMNS if k in (*FIELDS, "hash") or entry[k] is not None]
        row = [None if entry[k] is None else canonical(entry[k]) if k in JSON_FIELDS else entry[k] for k in columns]
        conn.execute(f"INSERT INTO audit ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})", row)
        conn.execute(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            (seq, entry["hash"]),
        )
    appended = getattr(conn, "appended", None)
    if appended is not None:
        appended.append(entry)
    return entry


def entry_from_row(row: tuple | Mapping[str, Any], columns: tuple[str, ...] = COLUMNS) -> dict:
    """A stored row (its values in ``columns`` order) back to the entry it was hashed as;
    JSON columns are parsed (a column edited into invalid JSON raises ValueError, which
    :func:`sreconsole.review.audit.verify` reports)."""
    entry = dict(zip(columns, row))
    for k in JSON_FIELDS:
        if entry.get(k) is not None:
            entry[k] = json.loads(entry[k])
    for k in (*OPTIONAL_FIELDS, "mac"):
        entry.setdefault(k, None)
    return entry


def latest_for(conn: sqlite3.Connection, proposal_id: int) -> dict | None:
    """The newest entry about a proposal (the one that sealed its current content), or None."""
    row = conn.execute(
        f"SELECT {', '.join(COLUMNS)} FROM audit WHERE proposal_id = ? ORDER BY seq DESC LIMIT 1", (int(proposal_id),)
    ).fetchone()
    return None if row is None else entry_from_row(tuple(row))
