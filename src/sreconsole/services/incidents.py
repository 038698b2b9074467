"""Incidents for the TUI: the correlation of :mod:`sreconsole.triage.correlation`, with the
pods' owners and nodes from the Kubernetes API where it is configured
(:mod:`sreconsole.sources.kube_owners`); from the labels alone where it is not. Called from
thread workers: the API reads block."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from sreconsole.config import Settings
from sreconsole.domain.alerts import Alert

OWNER_LABELS = ("deployment", "statefulset", "daemonset", "replicaset")
"""A pod alert carrying one of these needs no API read to find its workload."""


class IncidentService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._owners = None
        self._lock = threading.Lock()
        self.error = ""
        """Why the Kubernetes API could not be used ('' when it was, or is not configured)."""

    def _pod_owners(self):
        k = self.settings.kubernetes
        if not (k.kubeconfig or k.in_cluster):
            return None
        with self._lock:
            if self._owners is None and not self.error:
                from sreconsole.sources.kube_client import KubeClientError, make_api_client
                from sreconsole.sources.kube_owners import PodOwners

                try:
                    self._owners = PodOwners(make_api_client(k.kubeconfig, k.context, k.in_cluster, k.timeout_s), k.timeout_s)
                except KubeClientError as exc:
                    self.error = str(exc)
            return self._owners

    def owners(self, alerts: Iterable[Alert]) -> dict | None:
        """``(namespace, pod)`` → owners, for the pod alerts whose labels do not name their
        workload or node; None without a Kubernetes API."""
        lookup = self._pod_owners()
        if lookup is None:
            return None
        pods = [(a.labels.get("namespace", ""), a.labels["pod"]) for a in alerts
                if a.labels.get("pod") and not (any(a.labels.get(k) for k in OWNER_LABELS) and a.labels.get("node"))]
        return lookup.lookup(pods)

    def explained(self, alerts: list[Alert]) -> dict[str, str]:
        """Fingerprint → its incident's cause, for every alert another one explains."""
        from sreconsole.triage.correlation import explained

        return explained(alerts, owners=self.owners(alerts))
