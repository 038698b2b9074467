"""What a pod belongs to, from the Kubernetes API: its controller chain through
``ownerReferences`` (Pod → ReplicaSet → Deployment, or a StatefulSet, DaemonSet, Job) and
its node (``spec.nodeName``), for the incident correlation
(:func:`sreconsole.triage.correlation.correlate`'s ``owners``) where the alert labels lack them.

Reads only (GET), each with the client's total deadline; a pod that cannot be read (gone,
forbidden, no answer) contributes nothing and the rest still count. Answers are cached per
pod for :data:`TTL_S`: ownership does not change while a pod lives.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

TTL_S = 300.0
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")


class PodOwners:
    """``(namespace, pod)`` → ``[("workload", name), ("node", name)]`` through one API client."""

    def __init__(self, api_client, timeout_s: float = 5.0) -> None:
        self.api_client = api_client
        self.timeout_s = timeout_s
        self._cache: dict[tuple[str, str], tuple[float, list[tuple[str, str]]]] = {}

    def _get(self, read, *args) -> dict | None:
        from kubernetes.client.exceptions import ApiException

        try:
            answer = read(*args, _preload_content=False, _request_timeout=self.timeout_s)
            return json.loads(answer.data)
        except (ApiException, OSError, ValueError, Exception):  # noqa: BLE001 - one pod's lookup never stops the rest
            return None

    def of(self, namespace: str, pod: str) -> list[tuple[str, str]]:
        key = (namespace, pod)
        hit = self._cache.get(key)
        if hit is not None and time.monotonic() - hit[0] < TTL_S:
            return hit[1]
        from kubernetes import client as k8s

        core, apps = k8s.CoreV1Api(self.api_client), k8s.AppsV1Api(self.api_client)
        found: list[tuple[str, str]] = []
        obj = self._get(core.read_namespaced_pod, pod, namespace)
        if obj is not None:
            node = (obj.get("spec") or {}).get("nodeName")
            if node:
                found.append(("node", str(node)))
            for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
                kind, name = ref.get("kind"), str(ref.get("name") or "")
                if kind == "ReplicaSet" and name:
                    rs = self._get(apps.read_namespaced_replica_set, name, namespace)
                    for up in ((rs or {}).get("metadata") or {}).get("ownerReferences") or []:
                        if up.get("kind") in WORKLOADS and up.get("name"):
                            found.append(("workload", str(up["name"])))
                elif kind in WORKLOADS and name:
                    found.append(("workload", name))
        self._cache[key] = (time.monotonic(), found)
        return found

    def lookup(self, pods: Iterable[tuple[str, str]]) -> dict[tuple[str, str], list[tuple[str, str]]]:
        return {key: self.of(*key) for key in dict.fromkeys(pods) if key[0] and key[1]}
