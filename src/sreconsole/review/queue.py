"""The queue's own moves: what an enqueue does (create, refresh, leave standing, supersede),
expiring proposals left pending too long, and the listing queries.

Each write function is the body of one write transaction: the store runs it inside
``BEGIN IMMEDIATE`` (:meth:`sreconsole.review.store.ReviewStore._write`) and retries it
from scratch while the file is busy, so it reads what it needs again and appends its audit
entries in the same transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sreconsole.review import chain, seal
from sreconsole.review.errors import ReviewError
from sreconsole.review.records import (
    DECIDED,
    SNAPSHOT_COLUMNS,
    STATES,
    SYSTEM,
    Actor,
    age,
    audit_snapshot,
    current_version,
    fetch_row,
    iso,
    loads,
    next_version,
)


def plan(c: sqlite3.Connection, fingerprint: str, action: str, values: Mapping[str, Any]) -> tuple[str, sqlite3.Row | None, list[sqlite3.Row]]:
    """What an enqueue has to do: ``keep`` (same pending, unchanged), ``refresh`` (same
    pending, changed), ``stand`` (decided in this firing: leave it), ``create``; plus the
    pending proposals of the same alert with another action, to supersede."""
    pending = c.execute("SELECT * FROM proposals WHERE fingerprint = ? AND state = 'pending'", (fingerprint,)).fetchall()
    others = [r for r in pending if r["action"] != action]
    same = next((r for r in pending if r["action"] == action), None)
    if same is not None:
        changed = any(same[k] != values[k] for k in SNAPSHOT_COLUMNS)
        return ("refresh" if changed else "keep"), same, others
    last = c.execute("SELECT * FROM proposals WHERE fingerprint = ? AND action = ? ORDER BY id DESC LIMIT 1", (fingerprint, action)).fetchone()
    if last is not None and last["state"] in DECIDED and last["alert_started_at"] == values["alert_started_at"]:
        return "stand", last, others
    return "create", None, others


def enqueue(
    c: sqlite3.Connection, fingerprint: str, action: str, values: Mapping[str, Any], *, at: datetime, actor: Actor
) -> int:
    """The write transaction of an enqueue (planned again under the write lock: another
    process may have moved since the read); the id of the record now standing for it.

    A refresh writes no audit entry (the triage engine re-enqueues on every poll, and the
    rendered call's time stamp changes each time) unless it changes what would be executed:
    then a ``refresh`` entry seals the new content."""
    what, row, others = plan(c, fingerprint, action, values)
    if what == "keep" and not others:
        return row["id"]
    version, ts = next_version(c), iso(at)
    if what == "refresh":
        latest = chain.latest_for(c, row["id"])
        sealed_before = (latest or {}).get("seal") or seal.digest(row)
        sets = ", ".join(f"{k} = ?" for k in SNAPSHOT_COLUMNS)
        c.execute(f"UPDATE proposals SET {sets}, updated_at = ?, changed_version = ? WHERE id = ?",
                  (*[values[k] for k in SNAPSHOT_COLUMNS], ts, version, row["id"]))
        fresh = fetch_row(c, row["id"])
        if seal.digest(fresh) != sealed_before:
            chain.append(c, ts=ts, **actor.audit(), event="refresh", proposal_id=row["id"], action=action,
                         parameters=json.loads(fresh["parameters"]), command=fresh["command"], api=loads(fresh["api"]),
                         reason="the proposal's parameters changed", snapshot=audit_snapshot(fresh), seal=seal.digest(fresh))
    for old in others:  # before the insert: the unique index allows one pending row
        c.execute("UPDATE proposals SET state = 'superseded', updated_at = ?, changed_version = ? WHERE id = ? AND state = 'pending'",
                  (ts, version, old["id"]))
    new_id = row["id"] if row is not None and what != "create" else None
    if what == "create":
        columns = ("fingerprint", "action", *SNAPSHOT_COLUMNS, "state", "created_at", "updated_at", "changed_version")
        cur = c.execute(f"INSERT INTO proposals ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                        (fingerprint, action, *[values[k] for k in SNAPSHOT_COLUMNS], "pending", ts, ts, version))
        new_id = int(cur.lastrowid)
    for old in others:
        why = f"superseded by #{new_id} ({action})"
        if what == "stand":
            why = f"superseded: the alert's newest proposal is {action}, already {row['state']} as #{new_id}"
        chain.append(c, ts=ts, **actor.audit(), event="supersede", proposal_id=old["id"], action=old["action"],
                     parameters=json.loads(old["parameters"]), command=old["command"], api=loads(old["api"]),
                     reason=why, snapshot=audit_snapshot(old), seal=seal.digest(old))
    if what == "create":
        new = fetch_row(c, new_id)
        chain.append(c, ts=ts, **actor.audit(), event="enqueue", proposal_id=new_id, action=action,
                     parameters=json.loads(new["parameters"]), command=new["command"], api=loads(new["api"]),
                     snapshot=audit_snapshot(new), seal=seal.digest(new))
    return new_id


DUE = "SELECT * FROM proposals WHERE state = 'pending' AND created_at < ? ORDER BY id"
"""Proposals pending since before a cutoff (an ISO time), oldest first."""


def expire(c: sqlite3.Connection, cutoff: str, older_than: timedelta, *, at: datetime) -> int:
    """The write transaction of an expiry: every proposal still due, expired; how many."""
    rows = c.execute(DUE, (cutoff,)).fetchall()
    if not rows:
        return 0
    version, ts = next_version(c), iso(at)
    for row in rows:
        c.execute("UPDATE proposals SET state = 'expired', updated_at = ?, changed_version = ? WHERE id = ? AND state = 'pending'",
                  (ts, version, row["id"]))
        chain.append(c, ts=ts, **SYSTEM.audit(), event="expire", proposal_id=row["id"], action=row["action"],
                     parameters=json.loads(row["parameters"]), command=row["command"], api=loads(row["api"]),
                     reason=f"pending for more than {age(older_than.total_seconds())}", snapshot=audit_snapshot(row),
                     seal=seal.digest(row))
    return len(rows)


def list_query(
    states: Iterable[str] | None, namespace: str | None, action: str | None, limit: int
) -> tuple[str, tuple[Any, ...]] | None:
    """The SQL and arguments of a listing, newest first; ``None`` when no state was asked
    for (nothing to read). An unknown state is a ReviewError."""
    where, args = [], []
    if states is not None:
        chosen = tuple(states)
        unknown = [s for s in chosen if s not in STATES]
        if unknown:
            raise ReviewError(f"unknown state {unknown[0]!r} (states are {', '.join(STATES)})")
        if not chosen:
            return None
        where.append(f"state IN ({', '.join('?' * len(chosen))})")
        args += chosen
    if namespace is not None:
        where.append("namespace = ?")
        args.append(namespace)
    if action is not None:
        where.append("action = ?")
        args.append(action)
    sql = "SELECT * FROM proposals" + (f" WHERE {' AND '.join(where)}" if where else "") + " ORDER BY id DESC LIMIT ?"
    return sql, (*args, max(int(limit), 0))


def changed_since(c: sqlite3.Connection, version: int) -> tuple[int, list[sqlite3.Row]]:
    """``(current version, rows changed after version)`` in one read snapshot; a version
    ahead of the store (the file was replaced) returns every row."""
    current = current_version(c)
    since = 0 if version > current else version
    rows = c.execute("SELECT * FROM proposals WHERE changed_version > ? ORDER BY changed_version, id", (since,)).fetchall()
    return current, rows
