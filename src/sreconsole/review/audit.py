"""The review queue's audit trail: an append-only, hash-chained log of every change.

Every state change of the queue (enqueue, supersede, approve, reject, execute, fail,
rollback, dry run, expire) appends one entry **in the same SQLite transaction** as the
change itself, so the trail can never disagree with the queue about what was committed.

Two layers of protection, because the file sits on a shared host where several people
can write it:

* triggers make ``UPDATE`` and ``DELETE`` on the ``audit`` table fail, so a mistaken
  ``sqlite3`` session cannot rewrite history by accident;
* every entry carries ``hash = sha256(prev_hash + canonical JSON of the entry without
  hash)``, so an edit, a deletion, a reordering or an insertion is *detectable* by
  :func:`verify` even after someone dropped the triggers.

What the chain cannot do: someone able to rewrite the whole file can recompute every hash
from the edited entry onwards. Copy the last entry's hash somewhere that person cannot
write (a ticket, syslog) when a stronger guarantee is needed; :func:`export` yields it.

Canonical JSON (what the hash covers) is ``json.dumps(entry, sort_keys=True,
separators=(",", ":"), ensure_ascii=True)`` over the entry as :func:`export` yields it
(without ``hash``), so the chain can be re-checked with any language's JSON library.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

GENESIS = "0" * 64
"""``prev_hash`` of the first entry."""

EVENTS = ("enqueue", "supersede", "approve", "reject", "execute", "fail", "rollback", "dry_run", "expire")

FIELDS = (
    "seq", "ts", "user", "client", "event", "proposal_id", "action", "parameters", "command", "api",
    "reason", "snapshot", "result", "prev_hash",
)
"""The fields an entry's hash covers, in column order (``hash`` is the 15th column)."""

_JSON_FIELDS = ("parameters", "api", "snapshot", "result")

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
}
"""The proposal state each event leaves behind; :func:`verify` replays them."""


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
    what is hashed here is exactly what :func:`export` reads back.
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
    row = [None if entry[k] is None else canonical(entry[k]) if k in _JSON_FIELDS else entry[k] for k in FIELDS]
    conn.execute(f"INSERT INTO audit ({', '.join(FIELDS)}, hash) VALUES ({', '.join('?' * (len(FIELDS) + 1))})", (*row, entry["hash"]))
    conn.execute(
        "INSERT INTO audit_head (id, seq, hash) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        (seq, entry["hash"]),
    )
    return entry


def _entry_from_row(row: tuple) -> dict:
    """A stored row back to the entry it was hashed as; JSON columns are parsed (a column
    edited into invalid JSON raises ValueError, which :func:`verify` reports)."""
    entry = dict(zip((*FIELDS, "hash"), row))
    for k in _JSON_FIELDS:
        if entry[k] is not None:
            entry[k] = json.loads(entry[k])
    return entry


@dataclass(frozen=True)
class VerifyResult:
    """``ok`` with ``first_bad`` None: the chain is intact. ``reason`` is one line for the
    operator; it may carry a warning even when ``ok`` (the triggers were dropped)."""

    ok: bool
    entries: int
    first_bad: int | None
    reason: str


def _path_of(path_or_store: Any) -> Path:
    path = getattr(path_or_store, "path", path_or_store)
    return Path(path).expanduser()


def _open(path: Path) -> sqlite3.Connection:
    """A separate connection that never creates a file (a mistyped path must not leave an
    empty database behind) and writes nothing."""
    if not path.exists():
        raise FileNotFoundError(f"no review store at {path}")
    uri = f"file:{quote(str(path.resolve()))}"
    try:
        conn = sqlite3.connect(f"{uri}?mode=rw", uri=True, timeout=5.0, isolation_level=None)
    except sqlite3.OperationalError:  # a copy the user may only read
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=5.0, isolation_level=None)
    conn.execute("PRAGMA query_only = ON")
    return conn


def verify(path_or_store: Any) -> VerifyResult:
    """Re-walk the chain from the first entry, then replay it against the queue.

    Reports the first bad ``seq``: a missing number (an entry deleted), an entry whose
    content no longer matches its hash (edited), an entry not linked to the one before it
    (reordered, inserted, or the one before was rewritten along with its hash), a head
    that disagrees with the newest entry (entries cut off the end). Then, in the same read
    snapshot, every proposal's state, and for approved ones the approver and the exact
    parameters/command/API call, must be what the trail says — the executor runs what the
    queue row holds, so an edit there matters most.
    """
    path = _path_of(path_or_store)
    try:
        conn = _open(path)
    except (OSError, sqlite3.Error) as exc:
        return VerifyResult(False, 0, None, f"cannot open {path}: {exc}")
    try:
        conn.execute("BEGIN")  # one snapshot for the chain and the queue, while others write
        try:
            return _verify(conn)
        finally:
            conn.execute("COMMIT")
    except sqlite3.Error as exc:
        return VerifyResult(False, 0, None, f"cannot read {path}: {exc}")
    finally:
        conn.close()


def _verify(conn: sqlite3.Connection) -> VerifyResult:
    replay: dict[int, dict[str, Any]] = {}
    prev_hash, expected, count = GENESIS, 1, 0
    for row in conn.execute(f"SELECT {', '.join(FIELDS)}, hash FROM audit ORDER BY seq"):
        seq = row[0]
        if seq != expected:
            return VerifyResult(False, count, expected, f"audit entry {expected} is missing (deleted?); the next one is {seq}")
        try:
            entry = _entry_from_row(row)
        except ValueError:
            return VerifyResult(False, count, seq, f"audit entry {seq} holds invalid JSON (edited)")
        if entry_hash(entry) != entry["hash"]:
            return VerifyResult(False, count, seq, f"audit entry {seq} does not match its hash (edited after it was written)")
        if entry["prev_hash"] != prev_hash:
            return VerifyResult(False, count, seq, f"audit entry {seq} does not follow entry {seq - 1} (entries reordered, inserted or rewritten)")
        prev_hash, expected, count = entry["hash"], expected + 1, count + 1
        pid = entry["proposal_id"]
        state = STATE_AFTER.get(entry["event"])
        if pid is not None and state is not None:
            seen = replay.setdefault(pid, {})
            seen.update(state=state, seq=seq)
            if entry["event"] == "approve":
                seen.update(by=entry["user"], parameters=entry["parameters"], command=entry["command"], api=entry["api"])

    head = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    if head is None and count:
        return VerifyResult(False, count, 1, "the audit head is missing (deleted)")
    if head is not None:
        head_seq, head_hash = int(head[0]), str(head[1])
        if head_seq > count:
            return VerifyResult(False, count, count + 1, f"the audit trail ends at entry {count} but its head names entry {head_seq} (entries removed from the end)")
        if head_seq < count:
            return VerifyResult(False, count, head_seq + 1, f"the audit head names entry {head_seq} but the trail goes on to {count} (entries added outside the store)")
        if head_hash != prev_hash:
            return VerifyResult(False, count, count, f"audit entry {count} is not the one the head recorded (rewritten)")

    problem = _compare_queue(conn, replay)
    if problem:
        return VerifyResult(False, count, None, problem)
    present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    missing = [t for t in TRIGGERS if t not in present]
    if missing:
        return VerifyResult(True, count, None, f"chain intact, but the append-only triggers are gone ({', '.join(missing)})")
    return VerifyResult(True, count, None, "")


def _compare_queue(conn: sqlite3.Connection, replay: dict[int, dict[str, Any]]) -> str:
    """The queue rows against the replayed trail; '' when they agree."""
    rows = conn.execute("SELECT id, state, decided_by, parameters, command, api FROM proposals ORDER BY id")
    seen_ids = set()
    for pid, state, decided_by, parameters, command, api in rows:
        seen_ids.add(pid)
        trail = replay.get(pid)
        if trail is None:
            return f"proposal #{pid} has no audit entries (added outside the store?)"
        if trail["state"] != state:
            return f"proposal #{pid} is {state} in the queue but {trail['state']} in the audit trail (entry {trail['seq']})"
        if "by" in trail:
            queued = (json.loads(parameters), command, None if api is None else json.loads(api))
            if trail["by"] != decided_by or queued != (trail["parameters"], trail["command"], trail["api"]):
                return f"proposal #{pid} differs from what {trail['by']} approved in audit entry {trail['seq']} (the queue row was edited)"
    gone = sorted(set(replay) - seen_ids)
    if gone:
        return f"proposal #{gone[0]} is in the audit trail but missing from the queue (deleted)"
    return ""


def export(path_or_store: Any) -> Iterator[dict]:
    """Every entry, oldest first, as hashed (plus ``hash``): one JSON object per entry is a
    complete, independently checkable copy of the trail. Streams; reads one snapshot."""
    path = _path_of(path_or_store)
    try:
        conn = _open(path)
    except (OSError, sqlite3.Error) as exc:
        from sreconsole.review.store import ReviewError  # the store imports this module

        raise ReviewError(f"cannot open {path}: {exc}") from exc
    try:
        conn.execute("BEGIN")
        for row in conn.execute(f"SELECT {', '.join(FIELDS)}, hash FROM audit ORDER BY seq"):
            yield _entry_from_row(row)
        conn.execute("COMMIT")
    finally:
        conn.close()
