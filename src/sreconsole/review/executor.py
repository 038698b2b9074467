"""Carry out an approved remediation through the Kubernetes API — never a shell.

The action catalog decides *what* a remediation is (:func:`sreconsole.triage.catalog.render`
turns validated parameters into one API call); this module decides *how it is sent* and
*what the operator gets back*:

* **Dry run by default.** A dry run sends nothing at all — not even the reads — and
  returns the exact list of calls a real run would make, so what the operator approves is
  what the cluster would receive. An action runs for real only when the caller asks for
  it or its risk is in ``apply_risks`` (a setting), and never in a read-only console.
* **Values are checked again here**, with the catalog's own rules, before any request:
  the review queue stores parameters an operator may have edited, and the executor does
  not trust that every caller validated them.
* **Typed client calls, raw JSON answers.** Requests go through the official client's
  typed APIs (``CoreV1Api``, ``AppsV1Api``, ``CustomObjectsApi``) so that paths, auth and
  TLS are the client's; answers are read as raw JSON (``_preload_content=False``) because
  the client's models silently drop fields they do not know, and a pod template read for
  an undo must go back to the cluster exactly as it came.
* **Content types are forced.** The typed patch methods pick ``application/json-patch+json``
  by default and the REST layer then rewrites any non-list body to
  ``strategic-merge-patch+json``; every patch here passes the catalog's content type as
  ``_content_type`` so a merge patch goes out as ``application/merge-patch+json``.
* **Undo is captured before anything changes**: the fields a reversible patch sets are
  read first (``{"replicas": 3}``, ``{"unschedulable": False}``), and a rollback of a
  Deployment keeps the template it replaced. :meth:`Executor.rollback` sends them back.
* **Failures are results, not tracebacks.** An API error or an unreachable server ends
  the execution with ``ok=False`` and one readable line (``404 Not Found: pods "x" not
  found``); :class:`ExecutionError` is kept for requests refused before anything is sent.

``kubernetes`` is imported inside functions only: the TUI must start without it.

The requests themselves and their record are :mod:`~sreconsole.review.kube_calls`; what is
read before a change and how a rollback puts it back is :mod:`~sreconsole.review.undo`.
The names callers use are importable from here.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sreconsole.domain.text import clean
from sreconsole.review.kube_calls import CallFailed, CallRecord, Calls, ExecutionError, object_ref, resolve
from sreconsole.review.undo import (
    JSON_PATCH,
    MERGE_PATCH,
    POD_TEMPLATE_HASH,
    REVISION_ANNOTATION,
    captured_fields,
    label_selector,
    previous_template,
    restore_call,
    without_hash,
)
from sreconsole.sources.kube_errors import ERROR_LIMIT as _ERROR_LIMIT
from sreconsole.triage.catalog import RISKS, Action, ApiCall, Catalog, bind, render

if TYPE_CHECKING:
    import kubernetes.client

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "JSON_PATCH",
    "MERGE_PATCH",
    "POD_TEMPLATE_HASH",
    "REVISION_ANNOTATION",
    "CallRecord",
    "ExecutionError",
    "ExecutionResult",
    "Executor",
]

DEFAULT_TIMEOUT_S = 5.0
"""Per request. An operator is waiting on the answer during an incident."""


@dataclass(frozen=True)
class ExecutionResult:
    """What an execution or a rollback did (or, dry, would do)."""

    action: str
    dry_run: bool
    ok: bool
    calls: tuple[CallRecord, ...]
    error: str = ""
    """One readable line when ``ok`` is false."""
    undo: dict | None = None
    """What :meth:`Executor.rollback` needs, read before anything changed:
    ``{"replicas": 3}``, ``{"unschedulable": False}``, ``{"template": {...}}``."""
    output: dict | None = None
    """For read-only checks: a short, JSON-safe status summary."""

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe, for the audit trail."""
        return {
            "action": self.action,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "error": self.error,
            "calls": [c.as_dict() for c in self.calls],
            "undo": self.undo,
            "output": self.output,
        }


class Executor:
    """Sends catalog actions to one cluster. Holds no state between calls: safe to share
    between worker threads (the client's connection pool is thread-safe).

    ``cluster`` names that cluster: every plan handed to ``before_send`` carries it, so the
    review queue can refuse to record the intent for a proposal of another cluster (an
    executor cannot be pointed at a proposal it does not serve and still send)."""

    def __init__(
        self,
        catalog: Catalog,
        api_client: kubernetes.client.ApiClient | None,
        *,
        apply_risks: Collection[str] = (),
        read_only: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        timeout_s: float | None = None,
        cluster: str = "",
    ) -> None:
        unknown = sorted(set(apply_risks) - set(RISKS))
        if unknown:
            raise ExecutionError(
                f"apply_risks: unknown risk {unknown[0]!r} (known: {', '.join(RISKS)})"
            )
        self.catalog = catalog
        self.api_client = api_client
        self.apply_risks = frozenset(apply_risks)
        """Risk levels that run for real when the caller does not say."""
        self.read_only = read_only
        self.cluster = cluster
        """The configured cluster's name this executor's client talks to."""
        self.clock = clock
        if timeout_s is None:
            # make_api_client records the configured timeout on the client it builds.
            timeout_s = getattr(api_client, "sreconsole_timeout_s", DEFAULT_TIMEOUT_S)
        self.timeout_s = float(timeout_s)
        """Per request (``_request_timeout``)."""

    # -- public ------------------------------------------------------------------------------

    def execute(
        self,
        action_id: str,
        params: Mapping[str, str],
        *,
        dry_run: bool | None = None,
        before_send: Callable[[dict], None] | None = None,
    ) -> ExecutionResult:
        """Run ``action_id`` with ``params`` (or, dry, list what it would send).

        ``dry_run=None``: dry unless the action's risk is in ``apply_risks``. Raises
        :class:`ExecutionError` — with nothing sent — for an unknown action, a missing or
        invalid parameter, a read-only console, or no configured API.

        ``before_send(plan)`` is called once, after every check and before the first request
        of a real run, with what is about to be sent (``action``, ``parameters``, ``cluster``, ``call``:
        the rendered request). The review queue checks the proposal against its sealed audit
        entry and records the intent to execute there; whatever it raises propagates, and
        nothing is sent.
        """
        action, values = self._checked(action_id, params)
        dry = self._decide(action, dry_run, "run")
        try:
            rendered = render(action, values, now=self.clock())
        except ValueError as exc:  # values were checked above; kept as a second guard
            raise ExecutionError(clean(str(exc), _ERROR_LIMIT)) from None
        if rendered.api is None:
            return ExecutionResult(action.id, dry, True, ())
        resolve(action.operation, action.operation.verb)  # unsupported: refuse now
        if not dry and before_send is not None:
            before_send({"action": action.id, "parameters": dict(values), "call": _call_plan(rendered.api), "cluster": self.cluster})
        calls = Calls(self.api_client, self.timeout_s, dry)
        output: dict | None = None
        try:
            if action.operation.body_from == "previous-replicaset":
                output = self._roll_back_deployment(calls, action, values, rendered.api)
            elif fields := captured_fields(action, rendered.api):
                self._patch_with_undo(calls, action, values, rendered.api, fields)
            else:
                answer = calls.request(action.operation, values, rendered.api)
                if action.operation.verb == "get" and answer is not None:
                    output = _status_summary(action.operation.resource, answer)
        except CallFailed as exc:
            # The undo stays with a failed run: a patch that timed out may have been applied.
            return ExecutionResult(action.id, dry, False, calls.done, str(exc), calls.undo)
        return ExecutionResult(action.id, dry, True, calls.done, undo=calls.undo, output=output)

    def rollback(
        self,
        action_id: str,
        params: Mapping[str, str],
        undo: dict,
        *,
        dry_run: bool | None = None,
        before_send: Callable[[dict], None] | None = None,
    ) -> ExecutionResult:
        """Undo an earlier execution of ``action_id`` with what it recorded in ``undo``.

        Scale and cordon put back the fields read before the change (cordon falls back to
        the catalog's ``undo_operation``, uncordon, when nothing was recorded); a rollback of
        a Deployment puts back the template it replaced. Anything else raises
        :class:`ExecutionError` with the catalog's own rollback text. ``undo`` comes from
        the review store, so its shape and types are checked before anything is sent; and
        ``before_send(plan)`` (as for :meth:`execute`, with the ``undo`` it will send back)
        lets the queue check the proposal against its sealed audit entry first.
        """
        action, values = self._checked(action_id, params)
        if not action.reversible:
            raise ExecutionError(f"{action.id} cannot be rolled back: {action.rollback}")
        if not isinstance(undo, Mapping):
            raise ExecutionError(f"{action.id}: the recorded undo is not a table")
        op, restore, summary = restore_call(action, values, undo, self.clock)
        dry = self._decide(action, dry_run, "roll back")
        resolve(op, op.verb)
        if not dry and before_send is not None:
            before_send({"action": action.id, "parameters": dict(values), "undo": dict(undo), "call": _call_plan(restore),
                         "cluster": self.cluster})
        calls = Calls(self.api_client, self.timeout_s, dry)
        try:
            calls.request(op, values, restore, summary)
        except CallFailed as exc:
            return ExecutionResult(action.id, dry, False, calls.done, str(exc))
        return ExecutionResult(action.id, dry, True, calls.done)

    # -- checks --------------------------------------------------------------------------------

    def _checked(self, action_id: str, params: Mapping[str, str]) -> tuple[Action, dict[str, str]]:
        """The action and its values, validated by the catalog's rules, or ExecutionError."""
        action = self.catalog.get(action_id)
        if action is None:
            raise ExecutionError(f"unknown action {clean(repr(action_id), 80)}")
        if not isinstance(params, Mapping):
            raise ExecutionError(f"{action.id}: parameters must be a mapping")
        try:
            binding = bind(action, {}, params)
        except ValueError as exc:  # a parameter the action does not take
            raise ExecutionError(clean(str(exc), _ERROR_LIMIT)) from None
        if binding.invalid:
            name, reason = binding.invalid[0]
            raise ExecutionError(clean(f"{action.id}: parameter {name}: {reason}", _ERROR_LIMIT))
        if binding.missing:
            raise ExecutionError(f"{action.id}: parameter {binding.missing[0]} is missing")
        return action, binding.params

    def _decide(self, action: Action, dry_run: bool | None, doing: str) -> bool:
        """Whether this is a dry run; refuses a real run that this console may not make."""
        dry = action.risk not in self.apply_risks if dry_run is None else bool(dry_run)
        if dry:
            return True
        if self.read_only:
            raise ExecutionError(
                f"read-only: this console does not change the cluster ({action.id} not {doing})"
            )
        if self.api_client is None:
            raise ExecutionError(
                f"no Kubernetes API configured (kubernetes.kubeconfig or kubernetes.in_cluster):"
                f" {action.id} can only be dry-run"
            )
        return False

    # -- action shapes -----------------------------------------------------------------------

    def _patch_with_undo(
        self,
        calls: Calls,
        action: Action,
        values: Mapping[str, str],
        api: ApiCall,
        fields: Mapping[str, Any],
    ) -> None:
        """Read the fields the patch sets (into ``calls.undo``), then patch: scale, cordon."""
        op = action.operation
        names = ", ".join(f"spec.{f}" for f in fields)
        current = calls.send(
            "GET",
            api.path,
            None,
            f"read {object_ref(op, values)}: current {names} (to undo)",
            lambda: calls.invoke(op, "get", values),
        )
        if current is not None:
            spec = current.get("spec") if isinstance(current, dict) else None
            if not isinstance(spec, dict):
                ref = object_ref(op, values)
                raise CallFailed(f"unexpected answer from the Kubernetes API: {ref} has no spec")
            # An absent boolean is false (a node never cordoned has no spec.unschedulable).
            calls.undo = {
                name: bool(spec.get(name)) if isinstance(new, bool) else spec.get(name)
                for name, new in fields.items()
            }
        calls.request(op, values, api)

    def _roll_back_deployment(
        self, calls: Calls, action: Action, values: Mapping[str, str], api: ApiCall
    ) -> dict | None:
        """``kubectl rollout undo``: the previous ReplicaSet's template, copied back.

        Like kubectl: a paused Deployment is refused, the ReplicaSets are those the
        Deployment controls (owner reference), the previous one has the second-highest
        revision, its ``pod-template-hash`` label is dropped, and nothing is sent when the
        Deployment already runs that template (then the returned output says so).
        """
        op = action.operation
        ref = object_ref(op, values)
        deployment = calls.send(
            "GET",
            api.path,
            None,
            f"read {ref}: current pod template (to undo) and selector",
            lambda: calls.invoke(op, "get", values),
        )
        selector = label_selector(deployment) if deployment is not None else None
        rs_path = api.path.rsplit("/", 2)[0] + "/replicasets"
        listed = calls.send(
            "GET",
            rs_path,
            None,
            f"list the ReplicaSets of {ref}"
            + (f" (labelSelector {selector})" if selector else " (by its selector)"),
            lambda: calls.list_replica_sets(values["namespace"], selector),
        )
        body = None
        summary = (
            f"replace spec.template of {ref} with the pod template of the previous ReplicaSet"
            " (read when it runs)"
        )
        if deployment is not None and listed is not None:
            spec = deployment.get("spec") or {}
            if spec.get("paused"):
                raise CallFailed(f"{ref} is paused: resume it before rolling back")
            current = spec.get("template")
            if not isinstance(current, dict):
                raise CallFailed(f"unexpected answer from the Kubernetes API: {ref} has no template")
            revision, template = previous_template(deployment, listed)
            if without_hash(current) == template:
                # kubectl: "skipped rollback (current template already matches revision N)"
                return {"skipped": f"{ref} already runs the template of revision {revision}"}
            calls.undo = {"template": current}
            body = [{"op": "replace", "path": "/spec/template", "value": template}]
            summary = (
                f"replace spec.template of {ref} with the pod template of revision {revision}"
            )
        calls.request(op, values, replace(api, body=body), summary)
        return None


# --- helpers ----------------------------------------------------------------------------------


def _call_plan(api: ApiCall) -> dict[str, Any]:
    """A rendered request as plain JSON, for the intent and the audit entry."""
    return {"method": api.method, "path": api.path, "content_type": api.content_type, "body": api.body, "body_from": api.body_from}


def _status_summary(resource: str | None, obj: Any) -> dict:
    """A short, JSON-safe summary of a pod or a PVC for the operator (untrusted text cleaned)."""
    if not isinstance(obj, dict):
        return {}
    status = obj.get("status") or {}
    spec = obj.get("spec") or {}
    conditions = [
        {
            k: clean(c[k], 200)
            for k in ("type", "status", "reason", "message")
            if isinstance(c, dict) and c.get(k)
        }
        for c in status.get("conditions") or []
    ]
    if resource == "pods":
        containers = []
        for c in status.get("containerStatuses") or []:
            state = c.get("state") or {}
            word = next(iter(state), "unknown")
            detail = (state.get(word) or {}).get("reason", "")
            containers.append(
                {
                    "name": clean(c.get("name", ""), 80),
                    "ready": bool(c.get("ready")),
                    "restarts": int(c.get("restartCount") or 0),
                    "state": clean(f"{word}: {detail}" if detail else word, 120),
                }
            )
        return {
            "phase": clean(status.get("phase", "Unknown"), 40),
            "node": clean(spec.get("nodeName", ""), 253),
            "restarts": sum(c["restarts"] for c in containers),
            "containers": containers,
            "conditions": conditions,
        }
    if resource == "persistentvolumeclaims":
        requests = ((spec.get("resources") or {}).get("requests")) or {}
        return {
            "phase": clean(status.get("phase", "Unknown"), 40),
            "capacity": clean((status.get("capacity") or {}).get("storage", ""), 40),
            "requested": clean(requests.get("storage", ""), 40),
            "storage_class": clean(spec.get("storageClassName", ""), 253),
            "access_modes": [clean(m, 40) for m in status.get("accessModes") or []],
            "conditions": conditions,
        }
    return {"phase": clean(status.get("phase", ""), 40), "conditions": conditions}
