"""The review queue's audit trail: an append-only, hash-chained log of every change, and
here the reading side of it: :func:`verify` and :func:`export`.

Every state change of the queue (enqueue, supersede, approve, reject, execute, fail,
rollback, dry run, expire) appends one entry **in the same SQLite transaction** as the
change itself, so the trail can never disagree with the queue about what was committed.
Writing entries, the entry schema and the hash are :mod:`sreconsole.review.chain` (what
the store uses); their names are importable from here too.

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

Nothing here imports the store: the store writes through :mod:`~sreconsole.review.chain`,
and this module reads the file with its own connection.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sreconsole.review.chain import (
    EVENTS,
    FIELDS,
    GENESIS,
    JSON_FIELDS,
    SCHEMA,
    STATE_AFTER,
    TRIGGERS,
    append,
    canonical,
    entry_from_row,
    entry_hash,
)
from sreconsole.review.errors import ReviewError

__all__ = [
    "EVENTS",
    "FIELDS",
    "GENESIS",
    "JSON_FIELDS",
    "SCHEMA",
    "STATE_AFTER",
    "TRIGGERS",
    "VerifyResult",
    "append",
    "canonical",
    "entry_hash",
    "export",
    "verify",
]


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
            entry = entry_from_row(row)
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
        raise ReviewError(f"cannot open {path}: {exc}") from exc
    try:
        conn.execute("BEGIN")
        for row in conn.execute(f"SELECT {', '.join(FIELDS)}, hash FROM audit ORDER BY seq"):
            yield entry_from_row(row)
        conn.execute("COMMIT")
    finally:
        conn.close()
