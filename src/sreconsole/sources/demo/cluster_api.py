"""The demo's Kubernetes API: what an approved action does to the simulated cluster.

In the demo there is no API server; with ``review.apply_risks`` set (``make demo`` sets
``low``), the review queue's executor talks to :class:`DemoApiClient`, the official
client's ``ApiClient`` whose transport answers in-process. A change to an object (a pod
deleted, a deployment patched) is written to the data dir's ``demo-remedies.jsonl``, and
every process's :class:`~sreconsole.sources.demo.simulator.DemoCluster` resolves the alerts
on that object :data:`FIX_AFTER` later — so approving a restart is followed, minutes later,
by "resolved after 2 min" in Review, as a working fix would be.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

FIX_AFTER = timedelta(minutes=2)
"""How long after an action its alerts resolve in the demo."""

REMEDIES_FILE = "demo-remedies.jsonl"

_PATH = re.compile(r"^/(?:api/v1|apis/[a-z0-9.]+/v[0-9a-z]+)/(?:namespaces/(?P<ns>[a-z0-9-]+)/)?(?P<resource>[a-z]+)/(?P<name>[a-z0-9.-]+)$")


@dataclass(frozen=True)
class Remedy:
    namespace: str
    resource: str
    name: str
    at: datetime

    def fixes(self, labels: dict[str, str]) -> bool:
        """Whether an alert with these labels is about the object the action changed."""
        if self.resource == "nodes":
            return labels.get("node") == self.name
        if labels.get("namespace", "") != self.namespace:
            return False
        key = {"pods": "pod", "deployments": "deployment", "persistentvolumeclaims": "persistentvolumeclaim"}.get(self.resource)
        # A deployment's change fixes the alerts of its pods too (they carry its label).
        return key is not None and labels.get(key) == self.name


class DemoRemedies:
    """The remedies file, re-read when it changes (several processes share one demo)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._items: list[Remedy] = []

    def add(self, namespace: str, resource: str, name: str, at: datetime) -> None:
        line = json.dumps({"namespace": namespace, "resource": resource, "name": name, "at": at.isoformat()})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def items(self) -> list[Remedy]:
        try:
            st = self.path.stat()
        except OSError:
            return []
        stamp = (st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            out = []
            for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
                try:
                    d = json.loads(line)
                    out.append(Remedy(str(d["namespace"]), str(d["resource"]), str(d["name"]), datetime.fromisoformat(d["at"])))
                except (ValueError, KeyError, TypeError):
                    continue  # a torn line: the rest still count
            self._items, self._stamp = out, stamp
        return self._items

    def resolved_at(self, labels: dict[str, str], started: datetime) -> datetime | None:
        """When an alert that began at ``started`` resolves because of an action taken
        after it began; None when no action touched its object."""
        ends = [r.at + FIX_AFTER for r in self.items() if r.at >= started and r.fixes(labels)]
        return min(ends) if ends else None


class _Answer:
    """What the official client reads from its transport: status, data, headers."""

    def __init__(self, status: int, body: dict) -> None:
        self.status = status
        self.reason = "OK"
        self.data = json.dumps(body).encode()

    def getheaders(self) -> dict:
        return {"Content-Type": "application/json"}

    def getheader(self, name: str, default=None):
        return self.getheaders().get(name, default)


def demo_api_client(remedies: DemoRemedies, clock: Callable[[], datetime]):
    """An official ``kubernetes.client.ApiClient`` answering for the simulated cluster."""
    from kubernetes import client as k8s

    class DemoApiClient(k8s.ApiClient):
        def request(self, method, url, query_params=None, headers=None, post_params=None, body=None,
                    _preload_content=True, _request_timeout=None):
            path = url.split("://", 1)[-1]
            path = "/" + path.split("/", 1)[1] if "/" in path else "/"
            m = _PATH.match(path.split("?", 1)[0])
            if m is None:
                return _Answer(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404,
                                     "reason": "NotFound", "message": "the demo cluster has no such object"})
            ns, resource, name = m["ns"] or "", m["resource"], m["name"]
            if method in ("DELETE", "PATCH", "PUT", "POST"):
                remedies.add(ns, resource, name, clock())
            meta = {"name": name, "namespace": ns, "creationTimestamp": "2026-01-01T00:00:00Z", "uid": f"demo-{resource}-{name}"}
            obj = {"apiVersion": "v1", "kind": resource.rstrip("s").title(), "metadata": meta,
                   "spec": {"replicas": 3, "unschedulable": False}, "status": {"phase": "Running", "replicas": 3}}
            if method == "DELETE":
                return _Answer(200, {"kind": "Status", "apiVersion": "v1", "status": "Success", "details": {"name": name, "kind": resource}})
            return _Answer(200, obj)

    config = k8s.Configuration()
    config.host = "https://demo.cluster.invalid"
    return DemoApiClient(config)
