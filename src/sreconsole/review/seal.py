"""Sealing: what the executor or a rollback will send is covered by the audit chain.

A proposal's **executable content** is everything that decides what reaches the cluster:
the action, its parameters, the alert it is for (its fingerprint: the target) and the undo
data a rollback sends back (``result.undo``, read before an execution changed anything).
The command and the rendered call shown to the operator are not part of it: the executor
renders the call again from the action and its parameters.

Every audit entry about a proposal carries ``seal = sha256(canonical JSON of that content
after the change)``, and the entry is covered by the chain's hash (and MAC, when keyed).
So a queue row edited with ``sqlite3`` no longer matches the newest entry about it:

* :func:`check` is called inside the store's write transaction that approves a proposal or
  records the intent to execute it, and before a rollback reads its undo data; on a
  mismatch it raises :class:`SealBroken` naming the entry, and nothing is sent;
* :func:`sreconsole.review.audit.verify` compares every queue row with its newest entry.

The content is plain JSON from plain columns; a PostgreSQL store computes the same digests.

**The cluster** decides where the call goes, so it is part of the content: a row moved from
prod-us to prod-eu after its approval no longer matches its seal, and nothing is sent. It
is in the content **only when it is not empty**: every entry sealed before clusters existed
digested the four keys below, and a proposal of those files has cluster '' (the one cluster
there was); writing ``"cluster": ""`` into the content would break every one of those seals.
Leaving the key out for '' keeps them verifying, and still seals a change in either
direction (adding a cluster adds a key; clearing one removes it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from sreconsole.review import chain
from sreconsole.review.errors import ReviewError


class SealBroken(ReviewError):
    """The queue row does not match what its newest audit entry sealed: someone changed it
    outside sreconsole. ``seq`` is the entry."""

    def __init__(self, message: str, seq: int | None) -> None:
        super().__init__(message)
        self.seq = seq


def content(row: Mapping[str, Any]) -> dict:
    """A proposals row's executable content, as plain JSON values."""
    result = _json(row["result"])
    undo = result.get("undo") if isinstance(result, dict) else None
    out = {
        "action": row["action"],
        "fingerprint": row["fingerprint"],
        "parameters": _json(row["parameters"]),
        "undo": undo,
    }
    cluster = cluster_of(row)
    if cluster:  # only when set: see the module (seals written before clusters must still hold)
        out["cluster"] = cluster
    return out


def cluster_of(row: Mapping[str, Any]) -> str:
    """The row's cluster; '' for a row of a store opened at a schema step before clusters."""
    return (row["cluster"] or "") if "cluster" in row.keys() else ""


def digest(row: Mapping[str, Any]) -> str:
    return hashlib.sha256(chain.canonical(content(row)).encode("ascii")).hexdigest()


def check(conn, row: Mapping[str, Any], *, key: bytes | None = None) -> dict | None:
    """Raise :class:`SealBroken` unless ``row`` is what its newest audit entry sealed (and,
    with a key, that entry's MAC is right). Returns that entry; None for a proposal whose
    entries all predate sealing (schema 1: there is nothing to compare with)."""
    pid = int(row["id"])
    entry = chain.latest_for(conn, pid)
    if entry is None:
        raise SealBroken(f"proposal #{pid} has no audit entry (added outside sreconsole?): nothing sent", None)
    seq = int(entry["seq"])
    if chain.entry_hash(entry) != entry["hash"]:
        raise SealBroken(f"audit entry {seq}, the newest about proposal #{pid}, does not match its hash (edited): nothing sent", seq)
    if key is not None:
        _check_keyed(conn, entry, pid, key)
    if entry.get("seal") is None:
        return None
    if entry["seal"] != digest(row):
        raise SealBroken(
            f"proposal #{pid} does not match what audit entry {seq} sealed ({differs(row, entry)}):"
            " the queue row was changed outside sreconsole; nothing sent",
            seq,
        )
    return entry


def _check_keyed(conn, entry: Mapping[str, Any], pid: int, key: bytes) -> None:
    """With a key: the entry's MAC is right, or the entry predates the first keyed one and the
    chain from it to that one holds (the keyed entry's MAC covers it through the hashes)."""
    seq = int(entry["seq"])
    if entry.get("mac") is not None:
        if not chain.mac_ok(key, entry):
            raise SealBroken(f"audit entry {seq}, the newest about proposal #{pid}, has a wrong MAC (forged or rewritten): nothing sent", seq)
        return
    first = conn.execute("SELECT min(seq) FROM audit WHERE mac IS NOT NULL").fetchone()[0]
    if first is None or seq > int(first):
        raise SealBroken(f"audit entry {seq}, the newest about proposal #{pid}, has no MAC although the audit is keyed: nothing sent", seq)
    prev = None
    for row in conn.execute(f"SELECT {', '.join(chain.COLUMNS)} FROM audit WHERE seq BETWEEN ? AND ? ORDER BY seq", (seq, int(first))):
        e = chain.entry_from_row(tuple(row))
        if chain.entry_hash(e) != e["hash"] or (prev is not None and e["prev_hash"] != prev):
            raise SealBroken(f"audit entry {e['seq']} does not match the chain (edited): nothing sent", int(e["seq"]))
        prev = e["hash"]
        last = e
    if not chain.mac_ok(key, last):
        raise SealBroken(f"audit entry {first} has a wrong MAC (forged or rewritten): nothing sent", int(first))


def differs(row: Mapping[str, Any], entry: Mapping[str, Any]) -> str:
    """Which part of the content changed, in words, as far as the entry's own fields tell."""
    now = content(row)
    if now["action"] != entry.get("action"):
        return "its action"
    if now["parameters"] != entry.get("parameters"):
        return "its parameters"
    sealed_cluster = (entry.get("snapshot") or {}).get("cluster") if isinstance(entry.get("snapshot"), Mapping) else None
    if sealed_cluster is not None and sealed_cluster != now.get("cluster", ""):
        return f"its cluster, sealed as {sealed_cluster!r}"
    return "its cluster, its undo data or its alert"


def _json(text: Any) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):  # an edited column: hash what is there
        return {"unreadable": str(text)}
