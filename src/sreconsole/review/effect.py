"""Did the fix work? The effect of an executed action on its alert, judged from what the
alert source holds after the execution and recorded on the proposal (``outcome``,
``outcome_detail``) and in the audit trail (an ``outcome`` entry per verdict).

The rule, per action's window ``W`` (``effect_window`` in the catalog):

* **effective** when none of the proposal's alerts fires any more within ``W`` of the
  execution. The verdict is recorded at once ("resolved after 3 min"), and the watch goes on
  for one more ``W``;
* **not effective** when an alert is still firing (or silenced, acked, inhibited: muted is
  not fixed) at the end of ``W``, or fires again within the ``W`` after it resolved.

An alert of the proposal is its fingerprint, or, for the same target, an alert with the same
name in the same namespace whose owner labels (deployment, node, PVC, ...) agree — a restarted
pod comes back under a new name and its alert under a new fingerprint.

This module knows SQLite rows and the audit chain, nothing of the catalog: the caller gives
the windows. The PostgreSQL backend needs the same two columns and the same transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from sreconsole.review import chain, seal
from sreconsole.review.records import Actor, fetch_row, iso, loads, next_version

OUTCOMES = ("", "watching", "effective", "not_effective")
"""``''``: never executed (or executed before outcomes were recorded); ``watching``: executed,
no verdict yet; ``effective`` (it may still turn, see ``final`` in the detail);
``not_effective``."""

OWNER_LABELS = ("deployment", "statefulset", "daemonset", "replicaset", "job", "node", "persistentvolumeclaim", "service")
"""Labels that name what a pod alert is about beyond the pod: the same target under a new pod."""

WATCHED = ("SELECT * FROM proposals WHERE state = 'executed' AND outcome_detail IS NOT NULL"
           " AND outcome IN ('watching', 'effective') ORDER BY id")
"""Plain SQL on purpose (the same on SQLite and PostgreSQL): an effective verdict whose watch
has ended (``final`` in its detail) is left out in Python, by :func:`watch`."""


def started(at: str) -> dict[str, Any]:
    """The detail written when an execution is recorded: the watch starts now."""
    return {"executed_at": at, "final": 0}


def matches(row: Mapping[str, Any], alert: Mapping[str, Any]) -> bool:
    """Whether an alert the source holds is one of this executed proposal's: never one of
    another cluster (the same labels there are another workload), when both name theirs."""
    cluster, theirs = (row["cluster"] if "cluster" in row.keys() else "") or "", str(alert.get("cluster") or "")
    if cluster and theirs and cluster != theirs:
        return False
    mine = json.loads(row["alerts"] or "[]") or [{"fingerprint": row["fingerprint"], "alertname": row["alertname"]}]
    if alert.get("fingerprint") in {a.get("fingerprint") for a in mine} | {row["fingerprint"]}:
        return True
    labels = alert.get("labels") or {}
    if labels.get("alertname") not in {a.get("alertname") for a in mine} | {row["alertname"]}:
        return False
    own = json.loads(row["labels"] or "{}")
    if labels.get("namespace", "") != own.get("namespace", ""):
        return False
    keys = [k for k in OWNER_LABELS if own.get(k)]
    if keys:
        return all(labels.get(k) == own[k] for k in keys)
    name = json.loads(row["parameters"] or "{}").get("name")
    return bool(name) and name in labels.values()


def judge(detail: Mapping[str, Any], window_s: float, firing: bool, now: datetime) -> tuple[str, dict, str] | None:
    """``(outcome, detail, reason)`` when this observation changes the verdict, else None."""
    executed = datetime.fromisoformat(detail["executed_at"])
    window = timedelta(seconds=window_s)
    d = {**detail, "window_s": window_s}
    if not detail.get("resolved_at"):
        if not firing:
            after = (now - executed).total_seconds()
            d.update(resolved_at=iso(now), resolved_after_s=round(after, 1), watch_until=iso(now + window))
            return "effective", d, f"the alert resolved {minutes(after)} after the action"
        if now >= executed + window:
            d.update(final=1, still_firing_at=iso(now))
            return "not_effective", d, f"the alert is still firing {minutes(window_s)} after the action"
        return None
    if firing:
        back = (now - datetime.fromisoformat(detail["resolved_at"])).total_seconds()
        d.update(final=1, returned_at=iso(now))
        return "not_effective", d, f"the alert came back {minutes(back)} after it resolved"
    if now >= datetime.fromisoformat(detail["watch_until"]):
        d.update(final=1)
        return "effective", d, f"the alert stayed resolved for {minutes(window_s)} after resolving"
    return None


def watch(
    c: sqlite3.Connection, alerts: Iterable[Mapping[str, Any]], windows: Mapping[str, float], *, at: datetime, actor: Actor,
    dry: bool = False, clusters: Collection[str] | None = None,
) -> list[tuple[int, str, str]]:
    """The verdicts one observation changes — ``alerts``: every alert the source holds now
    (``fingerprint``, ``labels``, ``state``, and ``cluster`` where several are watched; a
    resolved one may be left out or say so); ``windows``: action id → seconds;
    ``clusters``: the clusters this observation speaks for (None: all) — a proposal of
    another cluster is not judged by it, since its alerts cannot be in it. Written with an
    ``outcome`` audit entry each, unless ``dry`` (a read transaction asking whether there
    is anything to write)."""
    holding = [a for a in alerts if a.get("state") != "resolved"]
    out = []
    for row in c.execute(WATCHED).fetchall():
        window = windows.get(row["action"])
        if window is None:
            continue
        cluster = (row["cluster"] if "cluster" in row.keys() else "") or ""
        if clusters is not None and cluster and cluster not in clusters:
            continue
        detail = json.loads(row["outcome_detail"])
        if row["outcome"] == "effective" and detail.get("final"):
            continue  # the watch after the verdict has ended
        firing = any(matches(row, a) for a in holding)
        verdict = judge(detail, window, firing, at)
        if verdict is None:
            continue
        outcome, detail, reason = verdict
        out.append((int(row["id"]), row["outcome"], outcome))
        if not dry:
            _record(c, row, outcome, detail, reason, at=at, actor=actor)
    return out


def _record(c: sqlite3.Connection, row: sqlite3.Row, outcome: str, detail: dict, reason: str, *, at: datetime, actor: Actor) -> None:
    ts = iso(at)
    c.execute("UPDATE proposals SET outcome = ?, outcome_detail = ?, changed_version = ? WHERE id = ? AND state = 'executed'",
              (outcome, chain.canonical(detail), next_version(c), row["id"]))
    after = fetch_row(c, int(row["id"]))
    chain.append(c, ts=ts, **actor.audit(), event="outcome", proposal_id=int(row["id"]), action=row["action"],
                 parameters=json.loads(row["parameters"]), command=row["command"], api=loads(row["api"]), reason=reason,
                 snapshot={"outcome": outcome, "detail": detail}, result=loads(row["result"]), seal=seal.digest(after))


def minutes(seconds: float) -> str:
    """``3 min``, ``45 s``: how long, in the words of the history line."""
    s = max(0, int(round(seconds)))
    return f"{s} s" if s < 60 else f"{round(s / 60)} min"


def history_text(record: Any, now: datetime) -> str:
    """The effect of an executed proposal in Review's history, e.g. ``executed 12 min ago —
    resolved after 3 min``, ``still firing — roll back?``; '' when there is none to show."""
    outcome, detail = getattr(record, "outcome", ""), getattr(record, "outcome_detail", None) or {}
    if not outcome or not detail.get("executed_at"):
        return ""
    ago = f"executed {minutes((now - datetime.fromisoformat(detail['executed_at'])).total_seconds())} ago"
    if outcome == "watching":
        left = detail.get("window_s")
        return f"{ago} — watching the alert" + (f" for {minutes(left)}" if left else "")
    if outcome == "effective":
        tail = "" if detail.get("final") else ", watching for a return"
        return f"{ago} — resolved after {minutes(detail.get('resolved_after_s') or 0)}{tail}"
    if detail.get("returned_at"):
        return f"{ago} — came back after resolving — roll back?"
    return f"{ago} — still firing — roll back?"
