"""The queue's own moves: what an enqueue does (create, refresh, leave standing, supersede,
merge into the pending proposal for the same action and target), the live state of the
alerts behind pending proposals, expiring proposals left pending too long, and the listing
queries.

Each write function is the body of one write transaction: the store runs it inside
``BEGIN IMMEDIATE`` (:meth:`sreconsole.review.store.ReviewStore._write`) and retries it
from scratch while the file is busy, so it reads what it needs again and appends its audit
entries in the same transaction.

One pending proposal per action and target: two alerts asking to restart the same
deployment are one decision, not two rows an operator could approve twice. The second
alert joins the first proposal's ``alerts`` (its evidence) with a ``merge`` audit entry, and
the unique index ``proposals_one_pending_target`` makes the database refuse a second row.
All of it is per cluster: ``shop/web`` in prod-eu and ``shop/web`` in prod-us are two
deployments, and a decision on one must never be taken for the other.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sreconsole.review import chain, seal
from sreconsole.review.errors import ReviewError
from sreconsole.review.records import (
    ALERT_STATES,
    DECIDED,
    SNAPSHOT_COLUMNS,
    STATES,
    SYSTEM,
    SYSTEM_USER,
    Actor,
    age,
    audit_snapshot,
    current_version,
    fetch_row,
    iso,
    loads,
    next_version,
)


@dataclass(frozen=True)
class Placement:
    """Where a proposal goes besides its snapshot: the target it acts on, the alert entry it
    brings to the proposal's evidence, the alert source that watches that alert, and the
    cluster both live in (the same fingerprint or ``namespace/name`` in two clusters is two
    things: nothing here matches across clusters)."""

    target: str
    alert: dict[str, Any]
    source: str = ""
    cluster: str = ""


def target_of(fingerprint: str, parameters: Mapping[str, str]) -> str:
    """What an action acts on, from its parameters: the catalog names the object ``name``
    and its namespace ``namespace``. An action that names no object (``escalate``, or a
    ``name`` still missing) acts for its alert alone."""
    name = str(parameters.get("name") or "")
    if not name:
        return f"alert:{fingerprint}"
    namespace = str(parameters.get("namespace") or "")
    return f"{namespace}/{name}" if namespace else name


def alert_entry(fingerprint: str, alertname: str, starts_at: str | None, state: str, at: str) -> dict[str, Any]:
    """One alert on a proposal's ``alerts`` list (plain JSON, as stored)."""
    if state not in ALERT_STATES:
        raise ReviewError(f"unknown alert state {state!r} (one of {', '.join(ALERT_STATES)})")
    return {"fingerprint": fingerprint, "alertname": alertname, "starts_at": starts_at, "state": state, "since": at}


def overall_state(alerts: Iterable[Mapping[str, Any]]) -> str:
    """The proposal's alert state: the most alive of its alerts' (see ALERT_STATES)."""
    states = {a.get("state") for a in alerts}
    return next((s for s in ALERT_STATES if s in states), "unknown")


def plan(
    c: sqlite3.Connection, fingerprint: str, action: str, values: Mapping[str, Any], place: Placement | None = None
) -> tuple[str, sqlite3.Row | None, list[sqlite3.Row]]:
    """What an enqueue has to do: ``keep`` (same pending, unchanged; or this alert already on
    the pending proposal for the same action and target), ``refresh`` (same pending,
    changed), ``stand`` (decided in this firing: leave it), ``merge`` (another alert's
    pending proposal has the same action and target: join it), ``create``; plus the pending
    proposals of the same alert with another action, to supersede. Only proposals of the
    same cluster are considered."""
    cluster = place.cluster if place is not None else ""
    pending = c.execute("SELECT * FROM proposals WHERE fingerprint = ? AND cluster = ? AND state = 'pending'",
                        (fingerprint, cluster)).fetchall()
    others = [r for r in pending if r["action"] != action]
    same = next((r for r in pending if r["action"] == action), None)
    if same is not None:
        changed = any(same[k] != values[k] for k in SNAPSHOT_COLUMNS)
        changed = changed or bool(place and place.source and not same["alert_source"])
        return ("refresh" if changed else "keep"), same, others
    last = c.execute("SELECT * FROM proposals WHERE fingerprint = ? AND action = ? AND cluster = ? ORDER BY id DESC LIMIT 1",
                     (fingerprint, action, cluster)).fetchone()
    if last is not None and last["state"] in DECIDED and last["alert_started_at"] == values["alert_started_at"]:
        return "stand", last, others
    if place is not None:
        host = c.execute("SELECT * FROM proposals WHERE action = ? AND target = ? AND cluster = ? AND state = 'pending'",
                         (action, place.target, cluster)).fetchone()
        if host is not None:
            joined = any(a.get("fingerprint") == fingerprint for a in json.loads(host["alerts"]))
            return ("keep" if joined else "merge"), host, others
    return "create", None, others


def enqueue(
    c: sqlite3.Connection, fingerprint: str, action: str, values: Mapping[str, Any], *, at: datetime, actor: Actor,
    place: Placement | None = None,
) -> int:
    """The write transaction of an enqueue (planned again under the write lock: another
    process may have moved since the read); the id of the record now standing for it.

    A refresh writes no audit entry (the triage engine re-enqueues on every poll, and the
    rendered call's time stamp changes each time) unless it changes what would be executed
    (:mod:`~sreconsole.review.seal`): then a ``refresh`` entry seals the new content."""
    place = place or Placement(target_of(fingerprint, json.loads(values["parameters"])),
                               alert_entry(fingerprint, values["alertname"], values["alert_started_at"], "unknown", iso(at)))
    what, row, others = plan(c, fingerprint, action, values, place)
    if what == "keep" and not others:
        return row["id"]
    version, ts = next_version(c), iso(at)
    if what == "refresh":
        latest = chain.latest_for(c, row["id"])
        sealed_before = (latest or {}).get("seal") or seal.digest(row)
        sets = ", ".join(f"{k} = ?" for k in SNAPSHOT_COLUMNS)
        c.execute(f"UPDATE proposals SET {sets}, alert_source = ?, updated_at = ?, changed_version = ? WHERE id = ?",
                  (*[values[k] for k in SNAPSHOT_COLUMNS], row["alert_source"] or place.source, ts, version, row["id"]))
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
        columns = ("fingerprint", "action", *SNAPSHOT_COLUMNS, "state", "created_at", "updated_at", "changed_version",
                   "target", "alerts", "alert_source", "alert_state", "alert_state_since", "cluster")
        cur = c.execute(f"INSERT INTO proposals ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                        (fingerprint, action, *[values[k] for k in SNAPSHOT_COLUMNS], "pending", ts, ts, version,
                         place.target, chain.canonical([place.alert]), place.source, place.alert["state"], ts, place.cluster))
        new_id = int(cur.lastrowid)
    for old in others:
        why = f"superseded by #{new_id} ({action})"
        if what == "stand":
            why = f"superseded: the alert's newest proposal is {action}, already {row['state']} as #{new_id}"
        elif what in ("merge", "keep"):
            why = f"superseded: the alert's newest proposal is {action} on {place.target}, pending as #{new_id}"
        chain.append(c, ts=ts, **actor.audit(), event="supersede", proposal_id=old["id"], action=old["action"],
                     parameters=json.loads(old["parameters"]), command=old["command"], api=loads(old["api"]),
                     reason=why, snapshot=audit_snapshot(old), seal=seal.digest(old))
    if what == "create":
        new = fetch_row(c, new_id)
        chain.append(c, ts=ts, **actor.audit(), event="enqueue", proposal_id=new_id, action=action,
                     parameters=json.loads(new["parameters"]), command=new["command"], api=loads(new["api"]),
                     snapshot=audit_snapshot(new), seal=seal.digest(new))
    if what == "merge":
        _merge(c, row, place, version=version, ts=ts, actor=actor)
    return new_id


def _merge(c: sqlite3.Connection, host: sqlite3.Row, place: Placement, *, version: int, ts: str, actor: Actor) -> None:
    """Add an alert to the pending proposal for the same action and target, audited; when
    the newcomer is more alive than the alerts already there (a firing alert joining a
    proposal whose alerts resolved), the proposal's alert state follows, audited too."""
    alerts = [*json.loads(host["alerts"]), place.alert]
    state = overall_state(alerts)
    source = host["alert_source"] or place.source
    c.execute("UPDATE proposals SET alerts = ?, alert_source = ?, updated_at = ?, changed_version = ? WHERE id = ?",
              (chain.canonical(alerts), source, ts, version, host["id"]))
    name, fp = place.alert["alertname"], place.alert["fingerprint"]
    _audit(c, host, "merge", f"alert {name} ({fp}, {place.alert['state']}) asks for the same action on {host['target']}: "
           f"added to this proposal's evidence ({len(alerts)} alerts)", alerts, ts=ts, actor=actor)
    if state != host["alert_state"]:
        c.execute("UPDATE proposals SET alert_state = ?, alert_state_since = ? WHERE id = ?", (state, ts, host["id"]))
        _audit(c, host, "alert_state", f"{host['alert_state']} → {state}: {name} ({fp}) joined", alerts, ts=ts, actor=actor)


def _audit(c: sqlite3.Connection, row: sqlite3.Row, event: str, reason: str, alerts: list[dict], *, ts: str, actor: Actor) -> None:
    """An entry about a pending proposal's alerts; its executable content is unchanged, and
    sealed again."""
    chain.append(c, ts=ts, **actor.audit(), event=event, proposal_id=row["id"], action=row["action"],
                 parameters=json.loads(row["parameters"]), command=row["command"], api=loads(row["api"]), reason=reason,
                 snapshot={"alert_state": overall_state(alerts), "alerts": [{"fingerprint": a["fingerprint"], "state": a["state"]} for a in alerts]},
                 seal=seal.digest(row))


# -- the live state of the alerts behind pending proposals ---------------------------------------

WATCHED = "SELECT * FROM proposals WHERE state = 'pending' AND alert_source IN (?, '') ORDER BY id"
"""Pending proposals a source may speak for: its own, and those no source watches yet."""


def observed_changes(
    rows: Iterable[sqlite3.Row], source: str, observed: Mapping[str, str], at: str
) -> list[tuple[sqlite3.Row, list[dict], str]]:
    """``(row, its alerts as they are now, the proposal's alert state now)`` for each row the
    observation changes. ``observed`` is every alert the source holds now (fingerprint →
    firing / acked / silenced / inhibited): an alert of a watched proposal missing from it
    has resolved. A proposal no source watches yet is adopted by the first source that holds
    one of its alerts, and left alone by the others."""
    out = []
    for row in rows:
        alerts = json.loads(row["alerts"])
        if not row["alert_source"] and not any(a.get("fingerprint") in observed for a in alerts):
            continue
        now = []
        for a in alerts:
            state = observed.get(a.get("fingerprint"), "resolved")
            now.append(a if a.get("state") == state else {**a, "state": state, "since": at})
        if now != alerts or not row["alert_source"]:
            out.append((row, now, overall_state(now)))
    return out


def observe(
    c: sqlite3.Connection, source: str, observed: Mapping[str, str], *, at: datetime, actor: Actor
) -> list[tuple[int, str, str]]:
    """The write transaction of an observation of the alert source: each pending proposal it
    speaks for gets its alerts' states, and an audit entry saying what changed;
    ``(id, state before, state now)`` for each proposal whose alert state changed."""
    ts = iso(at)
    changes = observed_changes(c.execute(WATCHED, (source,)).fetchall(), source, observed, ts)
    if not changes:
        return []
    version, out = next_version(c), []
    for row, alerts, state in changes:
        before = row["alert_state"]
        since = ts if state != before else row["alert_state_since"]
        c.execute("UPDATE proposals SET alerts = ?, alert_source = ?, alert_state = ?, alert_state_since = ?, updated_at = ?,"
                  " changed_version = ? WHERE id = ? AND state = 'pending'",
                  (chain.canonical(alerts), source, state, since, ts, version, row["id"]))
        _audit(c, row, "alert_state", _state_reason(json.loads(row["alerts"]), alerts, before, state, source, bool(row["alert_source"])),
               alerts, ts=ts, actor=actor)
        if state != before:
            out.append((row["id"], before, state))
    return out


def _state_reason(old: list[dict], new: list[dict], before: str, after: str, source: str, watched: bool) -> str:
    moved = [f"{n['alertname']} ({n['fingerprint']}) {o['state']} → {n['state']}" for o, n in zip(old, new) if o["state"] != n["state"]]
    head = {
        "resolved": "the alert resolved" if len(new) == 1 else f"all {len(new)} alerts resolved",
        "firing": "the alert fires again" if before == "resolved" else "the alert is firing",
    }.get(after, f"the alert is {after}")
    if after == before:
        head = f"still {after}"
    why = f"{head} (seen by {source}" + ("" if watched else ", which now watches it") + ")"
    return why + (": " + "; ".join(moved) if moved else "")


def adopt_existing(c: sqlite3.Connection, *, at: datetime) -> None:
    """Schema step 2 for proposals queued before it: each gets its target and its alert on
    the ``alerts`` list (state unknown until a source sees it), and of pending proposals with
    the same action and target only the newest stays pending; the others are superseded by
    it, audited, before the unique index is built."""
    ts = iso(at)
    for row in c.execute("SELECT * FROM proposals ORDER BY id").fetchall():
        entry = alert_entry(row["fingerprint"], row["alertname"], row["alert_started_at"], "unknown", row["created_at"])
        c.execute("UPDATE proposals SET target = ?, alerts = ?, alert_state = 'unknown', alert_state_since = ? WHERE id = ?",
                  (target_of(row["fingerprint"], json.loads(row["parameters"])), chain.canonical([entry]), row["created_at"], row["id"]))
    keep: dict[tuple[str, str], int] = {}
    rows = c.execute("SELECT * FROM proposals WHERE state = 'pending' ORDER BY id DESC").fetchall()
    version = next_version(c) if rows else 0
    for row in rows:
        newest = keep.setdefault((row["action"], row["target"]), row["id"])
        if newest == row["id"]:
            continue
        c.execute("UPDATE proposals SET state = 'superseded', updated_at = ?, changed_version = ? WHERE id = ?", (ts, version, row["id"]))
        chain.append(c, ts=ts, user=SYSTEM_USER, client="", event="supersede", proposal_id=row["id"], action=row["action"],
                     parameters=json.loads(row["parameters"]), command=row["command"], api=loads(row["api"]),
                     reason=f"superseded by #{newest}: one pending proposal per action and target ({row['target']})",
                     snapshot=audit_snapshot(row))


DUE = "SELECT * FROM proposals WHERE state = 'pending' AND created_at < ? ORDER BY id"
"""Proposals pending since before a cutoff (an ISO time), oldest first."""


def expire(c: sqlite3.Connection, cutoff: str, older_than: timedelta, *, at: datetime, actor: Actor = SYSTEM) -> int:
    """The write transaction of an expiry: every proposal still due, expired; how many.
    ``actor``: the store's own name for changes no operator made."""
    rows = c.execute(DUE, (cutoff,)).fetchall()
    if not rows:
        return 0
    version, ts = next_version(c), iso(at)
    for row in rows:
        c.execute("UPDATE proposals SET state = 'expired', updated_at = ?, changed_version = ? WHERE id = ? AND state = 'pending'",
                  (ts, version, row["id"]))
        chain.append(c, ts=ts, **actor.audit(), event="expire", proposal_id=row["id"], action=row["action"],
                     parameters=json.loads(row["parameters"]), command=row["command"], api=loads(row["api"]),
                     reason=f"pending for more than {age(older_than.total_seconds())}", snapshot=audit_snapshot(row),
                     seal=seal.digest(row))
    return len(rows)


def list_query(
    states: Iterable[str] | None, namespace: str | None, action: str | None, limit: int,
    hide_alert_states: Iterable[str] = (),
) -> tuple[str, tuple[Any, ...]] | None:
    """The SQL and arguments of a listing, newest first; ``None`` when no state was asked
    for (nothing to read). An unknown state is a ReviewError. ``hide_alert_states``: leave
    out proposals whose alerts are in these states (the pending view hides ``resolved``)."""
    where, args = [], []
    hidden = tuple(hide_alert_states)
    if hidden:
        # Only pending proposals are hidden so: an execution whose outcome is not recorded
        # must show whatever its alert did.
        where.append(f"(state != 'pending' OR alert_state NOT IN ({', '.join('?' * len(hidden))}))")
        args += hidden
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
