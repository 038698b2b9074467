"""The executor's Kubernetes calls: which typed client method sends a catalog operation, the
request itself, and :class:`Calls`, the ordered record of one execution's requests (which,
in a dry run, records and sends nothing).

Requests go through the official client's typed APIs (``CoreV1Api``, ``AppsV1Api``,
``CustomObjectsApi``) so that paths, auth and TLS are the client's; answers are read as raw
JSON (``_preload_content=False``) because the client's models silently drop fields they do
not know. Every patch passes the catalog's content type as ``_content_type``: left to the
client, a dict body would go out as a strategic merge patch.

``kubernetes`` and ``urllib3`` are imported inside functions only: the TUI must start
without them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sreconsole.domain.text import clean
from sreconsole.sources.kube_errors import api_error_line, connection_error_line
from sreconsole.triage.catalog import ApiCall, Operation

if TYPE_CHECKING:
    import kubernetes.client

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


class CallFailed(Exception):
    """A request failed after it was sent (or the answer made no sense): ends the run."""


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


def resolve(op: Operation, verb: str) -> tuple[str, str, bool]:
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


class Calls:
    """The calls of one execution, in order; in a dry run it records and sends nothing."""

    def __init__(
        self, api_client: kubernetes.client.ApiClient | None, timeout_s: float, dry: bool
    ) -> None:
        self.api_client = api_client
        self.timeout_s = timeout_s
        """Per request (``_request_timeout``)."""
        self.dry = dry
        self.records: list[CallRecord] = []
        self.undo: dict | None = None
        """What rollback needs, set once it has been read (before the change is sent)."""

    @property
    def done(self) -> tuple[CallRecord, ...]:
        return tuple(self.records)

    def request(
        self, op: Operation, values: Mapping[str, str], api: ApiCall, summary: str | None = None
    ) -> Any:
        """Send the rendered ``api`` call of ``op`` (see :meth:`send`)."""
        verb = op.verb
        if summary is None:
            summary = describe(op, values, api.body)
        return self.send(
            api.method,
            api.path,
            api.body,
            summary,
            lambda: self.invoke(op, verb, values, api.body, api.content_type),
        )

    def send(
        self, method: str, path: str, body: Any, summary: str, invoke: Callable[[], Any]
    ) -> Any:
        """The parsed JSON answer (``None`` when dry), or :class:`CallFailed` with one line."""
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
            raise CallFailed(api_error_line(self.api_client, exc)) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            self.records.append(CallRecord(method, path, body, None, summary))
            raise CallFailed(connection_error_line(self.api_client, exc, method, self.timeout_s)) from None
        self.records.append(CallRecord(method, path, body, response.status, summary))
        raw = response.data
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise CallFailed(
                f"unexpected answer from the Kubernetes API to {method} {path}: not JSON"
            ) from None

    def invoke(
        self,
        op: Operation,
        verb: str,
        values: Mapping[str, str],
        body: Any = None,
        content_type: str | None = None,
    ) -> Any:
        """One typed-client call; returns the raw urllib3 response (JSON read by :meth:`send`)."""
        from kubernetes import client as k8s

        cls, method, custom = resolve(op, verb)
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

    def list_replica_sets(self, namespace: str, selector: str | None) -> Any:
        from kubernetes import client as k8s

        return k8s.AppsV1Api(self.api_client).list_namespaced_replica_set(
            namespace,
            label_selector=selector or None,
            _request_timeout=self.timeout_s,
            _preload_content=False,
        )


def object_ref(op: Operation, values: Mapping[str, str]) -> str:
    """``deployment shop/web``, ``node node-1``: an object as the operator names it."""
    kind = (op.resource or "object").removesuffix("s")
    where = f"{values['namespace']}/" if op.namespaced and "namespace" in values else ""
    return f"{kind} {where}{values.get('name', '')}"


def describe(op: Operation, values: Mapping[str, str], body: Any) -> str:
    """A call's summary for the operator: what it reads, deletes or patches, and with what."""
    ref = object_ref(op, values)
    if op.verb == "get":
        return f"read {ref}"
    if op.verb == "delete":
        return f"delete {ref}"
    shown = json.dumps(body, separators=(",", ":"), sort_keys=True)
    return clean(f"patch {ref} ({op.patch_type}): {shown}", 300)
