"""Undo: what an execution reads before it changes anything, and the call that puts it back.

* A reversible patch that sets scalar ``spec`` fields (scale, cordon) has those fields read
  first (``{"replicas": 3}``, ``{"unschedulable": False}``); a rollback patches them back,
  after checking that what the review store recorded still has the patch's types.
* A rollback of a Deployment (``kubectl rollout undo``) copies the previous ReplicaSet's
  pod template back and keeps the template it replaced; a rollback of that puts the kept
  template back.
* Otherwise the catalog's ``undo_operation`` (uncordon for cordon), or a refusal that
  quotes the catalog's own rollback text.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from sreconsole.domain.text import clean
from sreconsole.review.kube_calls import CallFailed, ExecutionError, object_ref
from sreconsole.triage.catalog import CONTENT_TYPES, Action, ApiCall, Operation, render

REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
POD_TEMPLATE_HASH = "pod-template-hash"
"""Label the Deployment controller adds to each ReplicaSet's template; ``kubectl rollout
undo`` strips it before copying the template back, or the Deployment would select only
that one ReplicaSet's pods."""
MERGE_PATCH = CONTENT_TYPES["merge"]
JSON_PATCH = CONTENT_TYPES["json"]


def restore_call(
    action: Action, values: Mapping[str, str], undo: Mapping[str, Any], clock: Callable[[], datetime]
) -> tuple[Operation, ApiCall, str]:
    """``(operation, call, summary)`` that undoes an earlier execution of ``action`` with
    what it recorded in ``undo``, or ExecutionError (nothing sent) when it cannot be undone
    or the record does not fit the action."""
    rendered = render(action, values, now=clock())
    api = rendered.api
    op = action.operation
    if api is not None and op.body_from == "previous-replicaset":
        template = undo.get("template")
        if not isinstance(template, Mapping) or not isinstance(template.get("spec"), Mapping):
            raise ExecutionError(
                f"{action.id}: no pod template was recorded before the change;"
                f" {action.rollback}"
            )
        extra = sorted(set(undo) - {"template"})
        if extra:
            shown = clean(repr(extra[0]), 60)
            raise ExecutionError(f"{action.id}: unexpected field {shown} in the undo")
        body = [{"op": "replace", "path": "/spec/template", "value": dict(template)}]
        restore = ApiCall("PATCH", api.path, JSON_PATCH, body)
        summary = f"put back the pod template of {object_ref(op, values)} it had before"
    elif api is not None and (fields := captured_fields(action, api)) and undo:
        restore = ApiCall(
            "PATCH", api.path, MERGE_PATCH, {"spec": checked_undo(action, fields, undo)}
        )
        shown = ", ".join(f"spec.{k}={json.dumps(v)}" for k, v in restore.body["spec"].items())
        summary = f"put back {object_ref(op, values)}: {shown}"
    elif action.undo_operation is not None:
        undo_action = replace(action, operation=action.undo_operation)
        restore = render(undo_action, values, now=clock()).api  # type: ignore[assignment]
        op = action.undo_operation
        summary = f"undo {action.title.lower()}: {object_ref(op, values)}"
    elif api is not None and captured_fields(action, api):
        raise ExecutionError(
            f"{action.id}: nothing was recorded before the change; {action.rollback}"
        )
    else:
        raise ExecutionError(f"{action.id} cannot be rolled back: {action.rollback}")
    return op, restore, summary


def captured_fields(action: Action, api: ApiCall) -> dict[str, Any]:
    """For a reversible patch that sets scalar ``spec`` fields (scale, cordon): the fields
    and their new values, which are read before the patch so that rollback can put them
    back. Empty for anything else."""
    op = action.operation
    body = api.body
    if not action.reversible or op.verb != "patch" or not isinstance(body, dict):
        return {}
    spec = body.get("spec")
    if set(body) != {"spec"} or not isinstance(spec, dict) or not spec:
        return {}
    if not all(isinstance(v, bool | int | str) for v in spec.values()):
        return {}
    return dict(spec)


def checked_undo(action: Action, fields: Mapping[str, Any], undo: Mapping[str, Any]) -> dict:
    """The recorded values, each of the type the action's patch uses, or ExecutionError."""
    extra = sorted(set(undo) - set(fields))
    if extra:
        shown = clean(repr(extra[0]), 60)
        raise ExecutionError(f"{action.id}: unexpected field {shown} in the undo")
    restored: dict[str, Any] = {}
    for name, new in fields.items():
        if name not in undo:
            raise ExecutionError(f"{action.id}: the undo does not record spec.{name}")
        old = undo[name]
        if old is not None and type(old) is not type(new):
            raise ExecutionError(
                f"{action.id}: the undo's spec.{name} is {clean(repr(old), 60)},"
                f" not a {type(new).__name__}"
            )
        if isinstance(old, int) and not isinstance(old, bool) and old < 0:
            raise ExecutionError(f"{action.id}: the undo's spec.{name} is negative")
        if isinstance(old, str) and (len(old) > 253 or clean(old, None) != old):
            raise ExecutionError(f"{action.id}: the undo's spec.{name} is not a plain value")
        restored[name] = old
    return restored


def label_selector(deployment: Any) -> str:
    """The Deployment's ``spec.selector`` as a label-selector string for the list call."""
    selector = ((deployment or {}).get("spec") or {}).get("selector") or {}
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, operator = expr.get("key", ""), expr.get("operator", "")
        values = ",".join(expr.get("values") or [])
        if operator == "In":
            parts.append(f"{key} in ({values})")
        elif operator == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif operator == "Exists":
            parts.append(key)
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def previous_template(deployment: dict, listed: Any) -> tuple[int, dict]:
    """``(revision, template)`` of the ReplicaSet with the second-highest revision among
    those ``deployment`` controls, its ``pod-template-hash`` label removed."""
    meta = deployment.get("metadata") or {}
    uid, name = meta.get("uid"), meta.get("name")
    owned: list[tuple[int, dict]] = []
    items = listed.get("items") if isinstance(listed, dict) else None
    for rs in items or []:
        rs_meta = rs.get("metadata") or {}
        owners = [
            o
            for o in rs_meta.get("ownerReferences") or []
            if o.get("kind") == "Deployment" and o.get("controller", True)
        ]
        # The owner uid is what kubectl matches; the name only when the Deployment has none.
        if not any((o.get("uid") == uid) if uid else (o.get("name") == name) for o in owners):
            continue
        try:
            revision = int((rs_meta.get("annotations") or {})[REVISION_ANNOTATION])
        except (KeyError, TypeError, ValueError):
            continue
        template = (rs.get("spec") or {}).get("template")
        if isinstance(template, dict):
            owned.append((revision, template))
    revisions = sorted({r for r, _ in owned})
    if len(revisions) < 2:
        raise CallFailed(
            f"no previous revision to roll back to: deployment {name} has"
            f" {len(revisions)} revision{'s' if len(revisions) != 1 else ''}"
        )
    previous = revisions[-2]
    template = next(t for r, t in owned if r == previous)
    return previous, without_hash(template)


def without_hash(template: dict) -> dict:
    template = copy.deepcopy(template)
    labels = (template.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(POD_TEMPLATE_HASH, None)
    return template
