"""The review queue's audit trail: an append-only, hash-chained log of every change, and
here the reading side of it: :func:`verify` and :func:`export`.

Every state change of the queue (enqueue, supersede, approve, reject, execute, fail,
rollback, dry run, expire) appends one entry **in the same SQLite transaction** as the
change itself, so the trail can never disagree with the queue about what was committed.
Writing entries, the entry schema and the hash are :mod:`sreconsole.review.chain` (what
the store uses); their names are importable from here too.

Layers of protection, because the file sits on a shared host where several people can
write it:

* triggers make ``UPDATE`` and ``DELETE`` on the ``audit`` table fail, so a mistaken
  ``sqlite3`` session cannot rewrite history by accident;
* every entry carries ``hash = sha256(prev_hash + canonical JSON of the entry without
  hash)``, so an edit, a deletion, a reordering or an insertion is *detectable* by
  :func:`verify` even after someone dropped the triggers;
* every entry about a proposal carries the ``seal`` of the proposal's executable content
  (:mod:`~sreconsole.review.seal`), so an edited queue row is detectable too — and the
  store refuses to approve or execute it;
* with a key (``review.audit_key_file``) every entry carries an HMAC of its hash, which
  someone without the key cannot compute;
* with an anchor (the witness file, or ``seq hash`` lines from the system log,
  :mod:`~sreconsole.review.anchor`) a trail cut off at its end, or rewritten from some
  entry on, is detectable too.

What the chain cannot do alone: someone able to rewrite the whole file can recompute every
hash from the edited entry onwards (and cut entries off the end). The key stops the first
for anyone who cannot read it; the anchor stops both for anyone who cannot rewrite it.

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

from sreconsole.review import anchor as _anchor
from sreconsole.review import files, seal
from sreconsole.review.chain import (
    COLUMNS,
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
    mac_ok,
)
from sreconsole.review.errors import ReviewError
from sreconsole.review.backend import is_postgres

__all__ = [
    "COLUMNS",
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
    operator; it may carry a warning even when ``ok`` (the triggers were dropped, MACs that
    were not checked, entries newer than the anchor)."""

    ok: bool
    entries: int
    first_bad: int | None
    reason: str


def _path_of(path_or_store: Any) -> Path:
    path = getattr(path_or_store, "path", path_or_store)
    return Path(path).expanduser()


def _open(path: Path) -> sqlite3.Connection:
    """A separate read-only connection that never creates a file (a mistyped path must not
    leave an empty database behind) and works on a read-only filesystem."""
    return files.open_read_only(path)


def _columns(conn: sqlite3.Connection) -> tuple[str, ...]:
    """The audit columns this file has (schema 1 lacks seal, identity and mac)."""
    own = getattr(conn, "audit_columns", None)
    if own is not None:  # PostgreSQL
        return tuple(own())
    present = {r[1] for r in conn.execute("PRAGMA table_info(audit)")}
    return tuple(c for c in COLUMNS if c in present)


def verify(path_or_store: Any, *, key: bytes | None = None, anchor: Path | str | None = None) -> VerifyResult:
    """Re-walk the chain from the first entry, then replay it against the queue.

    Reports the first bad ``seq``: a missing number (an entry deleted), an entry whose
    content no longer matches its hash (edited), an entry not linked to the one before it
    (reordered, inserted, or the one before was rewritten along with its hash), a head
    that disagrees with the newest entry (entries cut off the end). With ``key``: a missing
    or wrong MAC. With ``anchor`` (a witness file or syslog lines): an anchored entry the
    trail no longer has or holds differently. Then, in the same read snapshot, every
    proposal must be what its newest entry sealed, in the state the trail says, and for
    approved ones with the approver and the exact parameters/command/API call the trail
    recorded — the executor runs what the queue row holds, so an edit there matters most.
    """
    if is_postgres(path_or_store):
        return _verify_postgres(getattr(path_or_store, "location", path_or_store), key, anchor)
    path = _path_of(path_or_store)
    try:
        conn = _open(path)
    except (OSError, sqlite3.Error, ReviewError) as exc:
        return VerifyResult(False, 0, None, f"cannot open {path}: {exc}")
    try:
        conn.execute("BEGIN")  # one snapshot for the chain and the queue, while others write
        try:
            return _verify(conn, path, key, anchor)
        finally:
            conn.execute("COMMIT")
    except sqlite3.Error as exc:
        return VerifyResult(False, 0, None, f"cannot read {path}: {exc}")
    finally:
        conn.close()


def _verify_postgres(dsn: str, key: bytes | None, anchor: Path | str | None) -> VerifyResult:
    from sreconsole.review import pg_backend

    try:
        conn = pg_backend.open_snapshot(dsn)
    except ReviewError as exc:
        return VerifyResult(False, 0, None, f"cannot open {pg_backend.redacted(dsn)}: {exc}")
    try:
        return _verify(conn, Path(pg_backend.redacted(dsn)), key, anchor)
    except Exception as exc:  # noqa: BLE001 - a database error: one line, not ok
        return VerifyResult(False, 0, None, f"cannot read {pg_backend.redacted(dsn)}: {' '.join(str(exc).split())}")
    finally:
        conn.close()


def _verify(conn: sqlite3.Connection, path: Path, key: bytes | None, anchor: Path | str | None) -> VerifyResult:
    replay: dict[int, dict[str, Any]] = {}
    hashes: dict[int, str] = {}
    prev_hash, expected, count = GENESIS, 1, 0
    macs, first_mac = 0, None
    columns = _columns(conn)
    for row in conn.execute(f"SELECT {', '.join(columns)} FROM audit ORDER BY seq"):
        seq = row[0]
        if seq != expected:
            return VerifyResult(False, count, expected, f"audit entry {expected} is missing (deleted?); the next one is {seq}")
        try:
            entry = entry_from_row(tuple(row), columns)
        except ValueError:
            return VerifyResult(False, count, seq, f"audit entry {seq} holds invalid JSON (edited)")
        if entry_hash(entry) != entry["hash"]:
            return VerifyResult(False, count, seq, f"audit entry {seq} does not match its hash (edited after it was written)")
        if entry["prev_hash"] != prev_hash:
            return VerifyResult(False, count, seq, f"audit entry {seq} does not follow entry {seq - 1} (entries reordered, inserted or rewritten)")
        if entry["mac"] is not None:
            macs += 1
            first_mac = first_mac or seq
        if key is not None:
            problem = _mac_problem(entry, key, first_mac)
            if problem:
                return VerifyResult(False, count, seq, problem)
        prev_hash, expected, count = entry["hash"], expected + 1, count + 1
        hashes[seq] = entry["hash"]
        pid = entry["proposal_id"]
        state = STATE_AFTER.get(entry["event"])
        if pid is not None:
            seen = replay.setdefault(pid, {})
            seen.update(last=seq, seal=entry["seal"])
            if state is not None:
                seen.update(state=state, seq=seq)
            if entry["event"] == "approve":
                seen.update(by=entry["user"], parameters=entry["parameters"], command=entry["command"], api=entry["api"])

    if key is not None and count and first_mac is None:
        return VerifyResult(False, count, count, f"no audit entry carries a MAC although a key was given: written without the key, or rewritten (entries 1-{count})")

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

    warnings: list[str] = []
    if anchor is not None:
        try:
            anchored = list(_anchor.read(anchor, str(path.resolve())))
        except OSError as exc:
            return VerifyResult(False, count, None, f"cannot read the anchor {anchor}: {exc.strerror or exc}")
        problem, highest = _anchor.check(anchored, hashes, count)
        if problem is not None:
            return VerifyResult(False, count, problem.seq, problem.reason)
        if not anchored and count:
            warnings.append(f"the anchor {anchor} names no entry of this trail")
        elif highest < count:
            warnings.append(f"entries {highest + 1}-{count} are newer than the anchor's last line")

    problem, unsealed = _compare_queue(conn, replay)
    if problem:
        return VerifyResult(False, count, None, problem)
    if unsealed:
        warnings.append(f"{unsealed} proposal(s) that may still be executed or rolled back were last changed before sealing"
                        " existed: their content is checked against their approval only")
    if key is None and macs:
        warnings.append(f"{macs} entries carry a MAC that was not checked (no key given)")
    names = getattr(conn, "trigger_names", None)
    present = names() if names is not None else {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    missing = [t for t in TRIGGERS if t not in present]
    if missing:
        warnings.insert(0, f"chain intact, but the append-only triggers are gone ({', '.join(missing)})")
    return VerifyResult(True, count, None, "; ".join(warnings))


def _mac_problem(entry: dict, key: bytes, first_mac: int | None) -> str:
    """Keyed entries: from the first one with a MAC on, every entry has a right one; the
    first is entry 1 or a ``keyed`` entry (the start of the keyed chain)."""
    seq = entry["seq"]
    if entry["mac"] is None:
        if first_mac is not None:
            return f"audit entry {seq} has no MAC although entry {first_mac} and those after it are keyed (written without the key)"
        return ""
    if not mac_ok(key, entry):
        return f"audit entry {seq} has a wrong MAC (forged, rewritten, or another key)"
    if first_mac == seq and seq != 1 and entry["event"] != "keyed":
        return f"audit entry {seq} is the first with a MAC but does not start the keyed chain (entries before it were rewritten?)"
    return ""


_STILL_ACTS = ("pending", "approved", "executing", "executed", "unknown")
"""States in which a proposal may still be executed or rolled back: an unsealed one is worth
a warning (a rejected or superseded one is not)."""


def _compare_queue(conn: sqlite3.Connection, replay: dict[int, dict[str, Any]]) -> tuple[str, int]:
    """The queue rows against the replayed trail: ('' when they agree, how many rows were
    last changed before sealing)."""
    wanted: tuple[str, ...] = ("id", "state", "decided_by", "parameters", "command", "api", "action", "fingerprint", "result")
    own = getattr(conn, "proposal_columns", None)  # PostgreSQL
    present = own() if own is not None else {r[1] for r in conn.execute("PRAGMA table_info(proposals)")}
    if "cluster" in present:  # sealed since schema step 6 (several clusters)
        wanted += ("cluster",)
    rows = conn.execute(f"SELECT {', '.join(wanted)} FROM proposals ORDER BY id")
    seen_ids = set()
    unsealed = 0
    for values in rows:
        row = dict(zip(wanted, values))
        pid, state = row["id"], row["state"]
        seen_ids.add(pid)
        trail = replay.get(pid)
        if trail is None or "state" not in trail:
            return f"proposal #{pid} has no audit entries (added outside the store?)", unsealed
        if trail["state"] != state:
            return f"proposal #{pid} is {state} in the queue but {trail['state']} in the audit trail (entry {trail['seq']})", unsealed
        if trail.get("seal") is not None:
            if seal.digest(row) != trail["seal"]:
                return (f"proposal #{pid} does not match what audit entry {trail['last']} sealed ({seal.differs(row, _last_entry(conn, trail['last']))}):"
                        " the queue row was edited"), unsealed
        elif state in _STILL_ACTS:
            unsealed += 1
        if "by" in trail:
            queued = (json.loads(row["parameters"]), row["command"], None if row["api"] is None else json.loads(row["api"]))
            if trail["by"] != row["decided_by"] or queued != (trail["parameters"], trail["command"], trail["api"]):
                return f"proposal #{pid} differs from what {trail['by']} approved in audit entry {trail['seq']} (the queue row was edited)", unsealed
    gone = sorted(set(replay) - seen_ids)
    if gone:
        return f"proposal #{gone[0]} is in the audit trail but missing from the queue (deleted)", unsealed
    return "", unsealed


def _last_entry(conn: sqlite3.Connection, seq: int) -> dict:
    columns = _columns(conn)
    return entry_from_row(tuple(conn.execute(f"SELECT {', '.join(columns)} FROM audit WHERE seq = ?", (seq,)).fetchone()), columns)


def export(path_or_store: Any) -> Iterator[dict]:
    """Every entry, oldest first, as hashed (plus ``hash`` and ``mac``): one JSON object per
    entry is a complete, independently checkable copy of the trail. Streams; reads one
    snapshot."""
    if is_postgres(path_or_store):
        from sreconsole.review import pg_backend

        conn = pg_backend.open_snapshot(getattr(path_or_store, "location", path_or_store))
        try:
            for row in conn.execute(f"SELECT {', '.join(COLUMNS)} FROM audit ORDER BY seq").fetchall():
                yield entry_from_row(tuple(row), COLUMNS)
        finally:
            conn.close()
        return
    path = _path_of(path_or_store)
    try:
        conn = _open(path)
    except (OSError, sqlite3.Error) as exc:
        raise ReviewError(f"cannot open {path}: {exc}") from exc
    try:
        conn.execute("BEGIN")
        columns = _columns(conn)
        for row in conn.execute(f"SELECT {', '.join(columns)} FROM audit ORDER BY seq"):
            yield entry_from_row(tuple(row), columns)
        conn.execute("COMMIT")
    finally:
        conn.close()
