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
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from sreconsole.domain.text import clean
from sreconsole.sources.kube_errors import ERROR_LIMIT as _ERROR_LIMIT
from sreconsole.sources.kube_errors import api_error_line, connection_error_line
from sreconsole.triage.catalog import (
    CONTENT_TYPES,
    RISKS,
    Action,
    ApiCall,
    Catalog,
    Operation,
    bind,
    render,
)

if TYPE_CHECKING:
    import kubernetes.client

DEFAULT_TIMEOUT_S = 5.0
"""Per request. An operator is waiting on the answer during an incident."""
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
POD_TEMPLATE_HASH = "pod-template-hash"
"""Label the Deployment controller adds to each ReplicaSet's template; ``kubectl rollout
undo`` strips it before copying the template back, or the Deployment would select only
that one ReplicaSet's pods."""
MERGE_PATCH = CONTENT_TYPES["merge"]
JSON_PATCH = CONTENT_TYPES["json"]
"""Characters of an error line: server messages are untrusted and can be long."""

# Typed-API method stems by plural resource, for the two built-in groups the client has
# typed classes for here. Any other group goes through CustomObjectsApi.
_CORE_KINDS = {
    "pods": "pod",
    "persistentvolumeclaims": "persistent_volume_claim",
    "nodes": "node",
    "services": "service",
    "configmaps": "config_map",
    "namespaces": "namespace",
}
_APPS_KINDS = {
    "deployments": "deployment",
    "statefulsets": "stateful_set",
    "daemonsets": "daemon_set",
    "replicasets": "replica_set",
}
_VERB_PREFIX = {"get": "read", "patch": "patch", "delete": "delete"}


class ExecutionError(Exception):
    """A request refused before anything was sent; the message is one line for the operator."""


@dataclass(frozen=True)
class CallRecord:
    """One API request as it was sent (or, in a dry run, would be sent)."""

    method: str
    path: str
    """URL path without the query (a ReplicaSet list's label selector is in ``summary``)."""
    body: Any
    """The JSON body; ``None`` for reads and deletes, and for a body only the cluster's
    state can decide (a dry run of rollback-deployment)."""
    status: int | None
    """HTTP status; ``None`` in a dry run or when the server could not be reached."""
    summary: str
    """What the call is for, in the operator's words."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "body": self.body,
            "status": self.status,
            "summary": self.summary,
        }


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


class _Failed(Exception):
    """A request failed after it was sent (or the answer made no sense): ends the run."""


class Executor:
    """Sends catalog actions to one cluster. Holds no state between calls: safe to share
    between worker threads (the client's connection pool is thread-safe)."""

    def __init__(
        self,
        catalog: Catalog,
        api_client: kubernetes.client.ApiClient | None,
        *,
        apply_risks: Collection[str] = (),
        read_only: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        timeout_s: float | None = None,
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
        self.clock = clock
        if timeout_s is None:
            # make_api_client records the configured timeout on the client it builds.
            timeout_s = getattr(api_client, "sreconsole_timeout_s", DEFAULT_TIMEOUT_S)
        self.timeout_s = float(timeout_s)
        """Per request (``_request_timeout``)."""

    # -- public ------------------------------------------------------------------------------

    def execute(
        self, action_id: str, params: Mapping[str, str], *, dry_run: bool | None = None
    ) -> ExecutionResult:
        """Run ``action_id`` with ``params`` (or, dry, list what it would send).

        ``dry_run=None``: dry unless the action's risk is in ``apply_risks``. Raises
        :class:`ExecutionError` — with nothing sent — for an unknown action, a missing or
        invalid parameter, a read-only console, or no configured API.
        """
        action, values = self._checked(action_id, params)
        dry = self._decide(action, dry_run, "run")
        try:
            rendered = render(action, values, now=self.clock())
        except ValueError as exc:  # values were checked above; kept as a second guard
            raise ExecutionError(clean(str(exc), _ERROR_LIMIT)) from None
        if rendered.api is None:
            return ExecutionResult(action.id, dry, True, ())
        self._resolve(action.operation, action.operation.verb)  # unsupported: refuse now
        calls = _Calls(self, dry)
        output: dict | None = None
        try:
            if action.operation.body_from == "previous-replicaset":
                output = self._roll_back_deployment(calls, action, values, rendered.api)
            elif fields := _captured_fields(action, rendered.api):
                self._patch_with_undo(calls, action, values, rendered.api, fields)
            else:
                answer = self._send(calls, action.operation, values, rendered.api)
                if action.operation.verb == "get" and answer is not None:
                    output = _status_summary(action.operation.resource, answer)
        except _Failed as exc:
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
    ) -> ExecutionResult:
        """Undo an earlier execution of ``action_id`` with what it recorded in ``undo``.

        Scale and cordon put back the fields read before the change (cordon falls back to
        the catalog's ``undo_operation``, uncordon, when nothing was recorded); a rollback of
        a Deployment puts back the template it replaced. Anything else raises
        :class:`ExecutionError` with the catalog's own rollback text. ``undo`` comes from
        the review store, so its shape and types are checked before anything is sent.
        """
        action, values = self._checked(action_id, params)
        if not action.reversible:
            raise ExecutionError(f"{action.id} cannot be rolled back: {action.rollback}")
        if not isinstance(undo, Mapping):
            raise ExecutionError(f"{action.id}: the recorded undo is not a table")
        rendered = render(action, values, now=self.clock())
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
            summary = f"put back the pod template of {_ref(op, values)} it had before"
        elif api is not None and (fields := _captured_fields(action, api)) and undo:
            restore = ApiCall(
                "PATCH", api.path, MERGE_PATCH, {"spec": _checked_undo(action, fields, undo)}
            )
            shown = ", ".join(f"spec.{k}={json.dumps(v)}" for k, v in restore.body["spec"].items())
            summary = f"put back {_ref(op, values)}: {shown}"
        elif action.undo_operation is not None:
            undo_action = replace(action, operation=action.undo_operation)
            restore = render(undo_action, values, now=self.clock()).api  # type: ignore[assignment]
            op = action.undo_operation
            summary = f"undo {action.title.lower()}: {_ref(op, values)}"
        elif api is not None and _captured_fields(action, api):
            raise ExecutionError(
                f"{action.id}: nothing was recorded before the change; {action.rollback}"
            )
        else:
            raise ExecutionError(f"{action.id} cannot be rolled back: {action.rollback}")
        dry = self._decide(action, dry_run, "roll back")
        self._resolve(op, op.verb)
        calls = _Calls(self, dry)
        try:
            self._send(calls, op, values, restore, summary)
        except _Failed as exc:
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
        calls: _Calls,
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
            f"read {_ref(op, values)}: current {names} (to undo)",
            lambda: self._invoke(op, "get", values),
        )
        if current is not None:
            spec = current.get("spec") if isinstance(current, dict) else None
            if not isinstance(spec, dict):
                ref = _ref(op, values)
                raise _Failed(f"unexpected answer from the Kubernetes API: {ref} has no spec")
            # An absent boolean is false (a node never cordoned has no spec.unschedulable).
            calls.undo = {
                name: bool(spec.get(name)) if isinstance(new, bool) else spec.get(name)
                for name, new in fields.items()
            }
        self._send(calls, op, values, api)

    def _roll_back_deployment(
        self, calls: _Calls, action: Action, values: Mapping[str, str], api: ApiCall
    ) -> dict | None:
        """``kubectl rollout undo``: the previous ReplicaSet's template, copied back.

        Like kubectl: a paused Deployment is refused, the ReplicaSets are those the
        Deployment controls (owner reference), the previous one has the second-highest
        revision, its ``pod-template-hash`` label is dropped, and nothing is sent when the
        Deployment already runs that template (then the returned output says so).
        """
        op = action.operation
        ref = _ref(op, values)
        deployment = calls.send(
            "GET",
            api.path,
            None,
            f"read {ref}: current pod template (to undo) and selector",
            lambda: self._invoke(op, "get", values),
        )
        selector = _label_selector(deployment) if deployment is not None else None
        rs_path = api.path.rsplit("/", 2)[0] + "/replicasets"
        listed = calls.send(
            "GET",
            rs_path,
            None,
            f"list the ReplicaSets of {ref}"
            + (f" (labelSelector {selector})" if selector else " (by its selector)"),
            lambda: self._list_replica_sets(values["namespace"], selector),
        )
        body = None
        summary = (
            f"replace spec.template of {ref} with the pod template of the previous ReplicaSet"
            " (read when it runs)"
        )
        if deployment is not None and listed is not None:
            spec = deployment.get("spec") or {}
            if spec.get("paused"):
                raise _Failed(f"{ref} is paused: resume it before rolling back")
            current = spec.get("template")
            if not isinstance(current, dict):
                raise _Failed(f"unexpected answer from the Kubernetes API: {ref} has no template")
            revision, template = _previous_template(deployment, listed)
            if _without_hash(current) == template:
                # kubectl: "skipped rollback (current template already matches revision N)"
                return {"skipped": f"{ref} already runs the template of revision {revision}"}
            calls.undo = {"template": current}
            body = [{"op": "replace", "path": "/spec/template", "value": template}]
            summary = (
                f"replace spec.template of {ref} with the pod template of revision {revision}"
            )
        self._send(calls, op, values, replace(api, body=body), summary)
        return None

    # -- sending -------------------------------------------------------------------------------

    def _send(
        self,
        calls: _Calls,
        op: Operation,
        values: Mapping[str, str],
        api: ApiCall,
        summary: str | None = None,
    ) -> Any:
        verb = op.verb
        if summary is None:
            summary = _describe(op, values, api.body)
        return calls.send(
            api.method,
            api.path,
            api.body,
            summary,
            lambda: self._invoke(op, verb, values, api.body, api.content_type),
        )

    def _resolve(self, op: Operation, verb: str) -> tuple[str, str, bool]:
        """``(api class, method name, custom)`` for ``verb`` on ``op``'s resource, or
        ExecutionError when this client has no typed call for it — before anything is sent."""
        group_version = op.api or ""
        resource = op.resource or ""
        prefix = _VERB_PREFIX.get(verb)
        if prefix is None:
            raise ExecutionError(f"verb {verb!r} is not something the executor sends")
        scope = "namespaced_" if op.namespaced else ""
        if group_version in ("core/v1", "apps/v1"):
            core = group_version == "core/v1"
            kinds, cls = (_CORE_KINDS, "CoreV1Api") if core else (_APPS_KINDS, "AppsV1Api")
            if resource not in kinds:
                raise ExecutionError(
                    f"the executor has no typed Kubernetes API for {group_version} {resource}"
                )
            return cls, f"{prefix}_{scope}{kinds[resource]}", False
        if prefix == "read":
            prefix = "get"
        return "CustomObjectsApi", f"{prefix}_{scope or 'cluster_'}custom_object", True

    def _invoke(
        self,
        op: Operation,
        verb: str,
        values: Mapping[str, str],
        body: Any = None,
        content_type: str | None = None,
    ) -> Any:
        """One typed-client call; returns the raw urllib3 response (JSON read by the caller)."""
        from kubernetes import client as k8s

        cls, method, custom = self._resolve(op, verb)
        function = getattr(getattr(k8s, cls)(self.api_client), method)
        kwargs: dict[str, Any] = {
            "_request_timeout": self.timeout_s,
            "_preload_content": False,
        }
        if custom:
            group, version = (op.api or "").rsplit("/", 1)
            kwargs.update(group=group, version=version, plural=op.resource)
        if op.namespaced:
            kwargs["namespace"] = values["namespace"]
        kwargs["name"] = values["name"]
        if verb == "patch":
            kwargs["body"] = body
            # Forced: left to the client, a dict body would go out as a strategic merge
            # patch (typed APIs) whatever the catalog says.
            kwargs["_content_type"] = content_type
        return function(**kwargs)

    def _list_replica_sets(self, namespace: str, selector: str | None) -> Any:
        from kubernetes import client as k8s

        return k8s.AppsV1Api(self.api_client).list_namespaced_replica_set(
            namespace,
            label_selector=selector or None,
            _request_timeout=self.timeout_s,
            _preload_content=False,
        )


class _Calls:
    """The calls of one execution, in order; in a dry run it records and sends nothing."""

    def __init__(self, executor: Executor, dry: bool) -> None:
        self.executor = executor
        self.dry = dry
        self.records: list[CallRecord] = []
        self.undo: dict | None = None
        """What rollback needs, set once it has been read (before the change is sent)."""

    @property
    def done(self) -> tuple[CallRecord, ...]:
        return tuple(self.records)

    def send(
        self, method: str, path: str, body: Any, summary: str, invoke: Callable[[], Any]
    ) -> Any:
        """The parsed JSON answer (``None`` when dry), or :class:`_Failed` with one line."""
        if self.dry:
            self.records.append(CallRecord(method, path, body, None, summary))
            return None
        import urllib3
        from kubernetes.client.exceptions import ApiException

        try:
            response = invoke()
        except ApiException as exc:
            status = exc.status if isinstance(exc.status, int) and exc.status > 0 else None
            self.records.append(CallRecord(method, path, body, status, summary))
            raise _Failed(api_error_line(self.executor.api_client, exc)) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            self.records.append(CallRecord(method, path, body, None, summary))
            raise _Failed(connection_error_line(self.executor.api_client, exc, method, self.executor.timeout_s)) from None
        self.records.append(CallRecord(method, path, body, response.status, summary))
        raw = response.data
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise _Failed(
                f"unexpected answer from the Kubernetes API to {method} {path}: not JSON"
            ) from None



# --- helpers ----------------------------------------------------------------------------------


def _captured_fields(action: Action, api: ApiCall) -> dict[str, Any]:
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


def _checked_undo(action: Action, fields: Mapping[str, Any], undo: Mapping[str, Any]) -> dict:
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


def _label_selector(deployment: Any) -> str:
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


def _previous_template(deployment: dict, listed: Any) -> tuple[int, dict]:
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
        raise _Failed(
            f"no previous revision to roll back to: deployment {name} has"
            f" {len(revisions)} revision{'s' if len(revisions) != 1 else ''}"
        )
    previous = revisions[-2]
    template = next(t for r, t in owned if r == previous)
    return previous, _without_hash(template)


def _without_hash(template: dict) -> dict:
    template = copy.deepcopy(template)
    labels = (template.get("metadata") or {}).get("labels")
    if isinstance(labels, dict):
        labels.pop(POD_TEMPLATE_HASH, None)
    return template


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


def _ref(op: Operation, values: Mapping[str, str]) -> str:
    """``deployment shop/web``, ``node node-1``: an object as the operator names it."""
    kind = (op.resource or "object").removesuffix("s")
    where = f"{values['namespace']}/" if op.namespaced and "namespace" in values else ""
    return f"{kind} {where}{values.get('name', '')}"


def _describe(op: Operation, values: Mapping[str, str], body: Any) -> str:
    ref = _ref(op, values)
    if op.verb == "get":
        return f"read {ref}"
    if op.verb == "delete":
        return f"delete {ref}"
    shown = json.dumps(body, separators=(",", ":"), sort_keys=True)
    return clean(f"patch {ref} ({op.patch_type}): {shown}", 300)
