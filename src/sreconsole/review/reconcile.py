"""What an interrupted execution did, read back from the cluster.

An ``executing`` proposal whose process is gone (:func:`sreconsole.review.intent.interrupted`)
may or may not have reached the cluster: the process could have died before its request,
while it was in flight, or after the answer. :func:`observe` reads the target with the same
Kubernetes client and the catalog's own read of the action's object, and says:

* ``executed`` — the cluster shows the change: the pod of a delete is gone, being deleted,
  or was created again after the request (a controller replaced it); a merge patch's fields
  (replicas, unschedulable, the restartedAt / requestedAt annotation, a PVC's size) hold the
  values that were sent;
* ``failed`` — the cluster shows it did not happen: the pod is still there and older than
  the request, the fields hold other values, the object does not exist; or the action was a
  read, which changed nothing;
* ``unknown`` — nobody can tell from here: no Kubernetes API is configured, the read
  failed, or the action's effect cannot be read back (a Deployment rollback chooses its
  template while it runs). A human decides, with ``sreconsole review reconcile ID
  --outcome executed|failed``.

An execution settled as executed here has no undo data (it was read by the process that
died, and never recorded): a rollback of it says so instead of guessing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sreconsole.domain.text import clean
from sreconsole.review.kube_calls import CallFailed, Calls, object_ref


@dataclass(frozen=True)
class Observation:
    outcome: str  # executed | failed | unknown
    reason: str
    observed: dict = field(default_factory=dict)


def observe(executor: Any, action_id: str, params: Mapping[str, str], intent: Mapping[str, Any]) -> Observation:
    """What the cluster says about the execution ``intent`` announced (see the module)."""
    action = executor.catalog.get(action_id)
    if action is None:
        return Observation("unknown", f"{clean(action_id, 80)} is not in this console's catalog")
    op = action.operation
    call = intent.get("call") if isinstance(intent.get("call"), dict) else {}
    if op.verb == "get":
        return Observation("failed", "a read that was interrupted: nothing was changed; run the check again")
    if executor.api_client is None:
        return Observation("unknown", "this console has no Kubernetes API to check the cluster with: a human must look")
    try:
        started = datetime.fromisoformat(str(intent.get("started_at")))
    except ValueError:
        started = None
    values = dict(params)
    ref = object_ref(op, values)
    calls = Calls(executor.api_client, executor.timeout_s, dry=False)
    path = str(call.get("path") or "")
    try:
        obj = calls.send("GET", path, None, f"read {ref} (what the interrupted execution did)", lambda: calls.invoke(op, "get", values))
    except CallFailed as exc:
        status = calls.records[-1].status if calls.records else None
        if status == 404:
            if op.verb == "delete":
                return Observation("executed", f"{ref} is gone", {"status": 404})
            return Observation("failed", f"{ref} does not exist", {"status": 404})
        return Observation("unknown", f"could not read {ref}: {exc}", {"status": status})
    obj = obj if isinstance(obj, dict) else {}
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    if op.verb == "delete":
        if meta.get("deletionTimestamp"):
            return Observation("executed", f"{ref} is being deleted (since {clean(str(meta['deletionTimestamp']), 40)})", {"status": 200})
        created = _time(meta.get("creationTimestamp"))
        if created is not None and started is not None and created >= started.replace(microsecond=0):
            return Observation("executed", f"{ref} was created again at {created.isoformat()}, after the request: the old one was deleted", {"status": 200})
        when = created.isoformat() if created else "at an unknown time"
        return Observation("failed", f"{ref} is still there, created {when}, before the request: the delete did not happen", {"status": 200})
    body = call.get("body")
    if op.verb == "patch" and isinstance(body, dict):
        difference = first_difference(body, obj)
        if difference is None:
            return Observation("executed", f"{ref} shows the change that was sent", {"status": 200})
        return Observation("failed", f"{ref} does not show the change: {difference}", {"status": 200})
    return Observation("unknown", f"what {action.id} did to {ref} cannot be read back from the cluster: compare it by hand", {"status": 200})


def first_difference(patch: Mapping[str, Any], obj: Any, where: str = "") -> str | None:
    """Where an object does not hold a JSON merge patch's values (None: it holds all of them).
    A ``false`` matches an absent field (a node never cordoned has no ``unschedulable``); a
    ``null`` asks for the field to be gone."""
    current = obj if isinstance(obj, Mapping) else {}
    for key, wanted in patch.items():
        here = f"{where}.{key}" if where else str(key)
        actual = current.get(key)
        if isinstance(wanted, Mapping):
            inner = first_difference(wanted, actual, here)
            if inner is not None:
                return inner
        elif wanted is None:
            if key in current:
                return f"{here} is still set"
        elif wanted is False and actual in (None, False):
            continue
        elif actual != wanted:
            return clean(f"{here} is {json.dumps(actual)}, not {json.dumps(wanted)} as sent", 200)
    return None


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
