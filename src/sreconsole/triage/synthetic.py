"""Synthetic variety: one source alert becomes several rows that differ in label values and
in how the summary is phrased.

Label values are drawn from a seeded RNG over a small vocabulary of realistic names
(namespaces, workloads, nodes, claims, Flux objects); a row's provenance lists the keys
that were synthesised. The seed of a source alert's RNG includes its source file's path
as ``provenance["file"]`` holds it, so the values (and the dataset hash) depend on where the
checkout lives; ``tests/test_triage_dataset.py`` pins the hash of a location-free build.
Variants share the alert's ``group``, so a split never separates them.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sreconsole.triage.examples import Example, strip_pod_hash

_NAMESPACES = ("payments", "checkout", "search", "data", "analytics", "auth", "media", "orders", "ai", "homepage")
_WORKLOADS = ("payments-api", "checkout-web", "checkout-api", "search-frontend", "search-indexer", "auth-service",
              "media-transcoder", "notification-worker", "orders-api", "inventory-sync", "homepage-api", "agent-sre")
_NODES = ("worker-1", "worker-2", "worker-3", "worker-4", "worker-5", "k8s-node-07", "studio-gpu-1",
          "ip-10-0-3-17.eu-west-1.compute.internal", "pool-general-4xk2p")
_PVCS = ("postgres-data-postgres-0", "clickhouse-data-clickhouse-2", "redis-data-redis-master-0", "minio-data-minio-1",
         "prometheus-db-prometheus-k8s-0", "loki-storage-loki-0", "elasticsearch-data-es-data-1", "uploads-media-0")
_FLUX = {
    "kustomization": ("Kustomization", ("apps-payments", "apps-checkout", "apps-search", "infrastructure", "monitoring-stack")),
    "helmrelease": ("HelmRelease", ("kube-prometheus-stack", "ingress-nginx", "cert-manager", "loki", "minio")),
    "gitrepository": ("GitRepository", ("platform-config", "flux-system", "homelab", "apps-manifests")),
}
_VOCAB = {
    "phase": ("Pending", "Failed", "Unknown"), "reason": ("CrashLoopBackOff", "OOMKilled", "Error"),
    "device": ("sda", "nvme0n1", "vdb"), "mountpoint": ("/", "/var/lib/containerd", "/data"),
    "interface": ("eth0", "ens5", "bond0"), "if": ("eth0", "ens5", "bond0"), "hostname": _NODES, "server": _NODES,
    "region": ("eu-west-1", "us-east-1"), "zone": ("eu-west-1a", "us-east-1b"),
    "job": ("kube-state-metrics", "node-exporter", "kubelet"),
}
_WORKLOAD_KEYS = frozenset({"app", "service", "service_name", "application_name", "function", "function_name", "statefulset",
                            "daemonset", "cronjob", "job_name", "horizontalpodautoscaler", "name"})
ACTION_KINDS = {
    "pod-restart": ("pod",), "pod-check-status": ("pod",), "rollout-restart": ("deployment",),
    "rollback-deployment": ("deployment",), "scale-deployment": ("deployment",),
    "flux-reconcile-kustomization": ("kustomization",), "flux-reconcile-helmrelease": ("helmrelease",),
    "flux-reconcile-gitrepository": ("gitrepository",), "check-pvc-status": ("pvc",), "expand-pvc": ("pvc",),
    "cordon-node": ("node",), "escalate": (),
}
"""The object each action needs named in the alert's labels (its parameters)."""
_TEXT_KINDS = (
    ("pod", re.compile(r"\bpods?\b|container|crash.?loop|\boom", re.I)),
    ("deployment", re.compile(r"deployment|replicas?\b|rollout|\bhpa\b", re.I)),
    ("pvc", re.compile(r"persistent.?volume|\bpvc|volume.?claim", re.I)),
    ("node", re.compile(r"\bnodes?\b|\bhost\b|kubelet|kernel", re.I)),
)
_KEY_ORDER = ("namespace", "deployment", "pod", "container", "persistentvolumeclaim", "node", "instance",
              "kind", "name", "kustomization", "helmrelease", "gitrepository")
_IDENTIFYING = frozenset(_KEY_ORDER) | {"job", "service", "app", "statefulset", "daemonset"}


def _kind_keys(kind: str) -> tuple[str, ...]:
    """The labels that name an object of this kind (Flux kinds: namespace, kind, name, <kind>)."""
    keys = {"pod": ("namespace", "pod", "container"), "deployment": ("namespace", "deployment"),
            "pvc": ("namespace", "persistentvolumeclaim"), "node": ("node", "instance")}
    return keys.get(kind, ("namespace", "kind", "name", kind))


def seeded_rng(*parts: object) -> random.Random:
    """A string seed is hashed with SHA-512 by ``random``: stable across runs and machines."""
    return random.Random("|".join(str(p) for p in parts))


def _fill_labels(labels: dict[str, str], keys: Iterable[str], rng: random.Random, flux_kind: str = "") -> list[str]:
    """Give ``labels`` a plausible value for every key it lacks; returns the keys added."""
    added = []
    wanted = set(keys)
    for key in [k for k in _KEY_ORDER if k in wanted] + sorted(wanted - set(_KEY_ORDER)):
        if labels.get(key):
            continue
        kind_name, names = _FLUX.get(flux_kind or key, ("", ()))
        if key == "namespace":
            value = "flux-system" if flux_kind in ("kustomization", "gitrepository") else (
                rng.choice(("monitoring", "ingress", "flux-system")) if flux_kind == "helmrelease" else rng.choice(_NAMESPACES))
        elif key == "deployment":
            value = labels.get("app") or labels.get("service") or rng.choice(_WORKLOADS)
        elif key == "pod":
            owner = labels.get("deployment") or labels.get("app") or labels.get("service") or rng.choice(_WORKLOADS)
            hash9 = "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(9))
            value = f"{owner}-{hash9}-{''.join(rng.choice('abcdefghijklmnopqrstuvwxyz0123456789') for _ in range(5))}"
        elif key == "container":
            owner = labels.get("deployment") or strip_pod_hash(labels.get("pod", ""))
            value = owner.rsplit("-", 1)[-1] if "-" in owner else "app"
        elif key == "persistentvolumeclaim":
            value = rng.choice(_PVCS)
        elif key == "node":
            value = rng.choice(_NODES)
        elif key == "instance":
            port = 9100 if labels.get("node") else rng.choice((8080, 9090, 9187, 9121, 9104))
            value = f"10.{rng.randint(0, 3)}.{rng.randint(0, 255)}.{rng.randint(2, 254)}:{port}"
        elif key == "kind" and kind_name:
            value = kind_name
        elif key in ("name", "kustomization", "helmrelease", "gitrepository") and names:
            value = labels.get("name") or rng.choice(names)
        elif key in _VOCAB:
            value = rng.choice(_VOCAB[key])
        elif key in _WORKLOAD_KEYS:
            value = rng.choice(_WORKLOADS)
        else:  # a label only this rule knows: a neutral value, not a misleading real-looking one
            value = f"{key.replace('_', '-')}-{rng.randint(1, 9)}"
        labels[key] = value
        added.append(key)
    return added


_GO_TEMPLATE = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_HELM_ESCAPE = re.compile(r"\{\{`(.*?)`\}\}", re.DOTALL)
_TEMPLATE_LABEL = re.compile(r"\$labels\.([A-Za-z_][A-Za-z0-9_]*)")


def template_labels(*texts: str) -> set[str]:
    return {m for t in texts for m in _TEMPLATE_LABEL.findall(t)}


def _render(template: str, labels: Mapping[str, str], rng: random.Random) -> str:
    """Fill Prometheus ``{{ $labels.x }}`` / ``{{ $value }}`` templates with the row's values."""

    def one(match: re.Match[str]) -> str:
        expr = match.group(1)
        ref = _TEMPLATE_LABEL.search(expr)
        if ref:
            return labels.get(ref.group(1), "")
        if "$value" in expr:
            if "humanizePercentage" in expr:
                return f"{rng.uniform(5, 99):.1f}%"
            return f"{rng.uniform(1, 100):.3g}"
        return ""

    template = _HELM_ESCAPE.sub(r"\1", template)  # {{`{{ $labels.pod }}`}}: Helm's escaping
    return " ".join(_GO_TEMPLATE.sub(one, template).split())


def query_labels(query: str) -> dict[str, str]:
    """Equality selectors of identifying labels in a PromQL query (``namespace="ai"``)."""
    return {k: v for k, v in re.findall(r'\b([a-z_]+)\s*=\s*"([^"*|.\\]+)"', query) if k in _IDENTIFYING}


def _target(labels: Mapping[str, str]) -> str:
    ns = labels.get("namespace", "")
    for key in ("pod", "deployment", "persistentvolumeclaim", "name"):
        if labels.get(key):
            return f"{ns}/{labels[key]}" if ns else labels[key]
    return labels.get("node") or labels.get("instance") or ns


def first_sentence(text: str) -> tuple[str, str]:
    text = " ".join(text.split())
    match = re.search(r"(?<=[.!?])\s+(?=[A-Z`])", text)
    return (text[: match.start()], text[match.end():]) if match else (text, "")


def _phrase(variant: int, summary: str, description: str, labels: Mapping[str, str]) -> tuple[str, str]:
    """Four ways operators' rules phrase the same alert; the variant picks one."""
    target = _target(labels)
    style = variant % 4
    if style == 1 and target:
        return f"{summary.rstrip('.')} on {target}.", description
    if style == 2 and target:
        return f"{target}: {summary}", description
    if style == 3 and description:
        head, rest = first_sentence(description)
        return head, " ".join(x for x in (summary, rest) if x)
    return summary, description


@dataclass
class SourceAlert:
    """One alert of a source before variants are drawn."""

    alertname: str
    severity: str
    summary: str
    description: str
    action: str
    source: str
    provenance: dict[str, Any]
    group: str
    labels: dict[str, str] = field(default_factory=dict)
    kinds: tuple[str, ...] = ()
    extra_keys: tuple[str, ...] = ()


def label_text_kinds(text: str, action: str) -> tuple[str, ...]:
    """Objects the alert's own words name, plus what the action needs as parameters
    (pod-check-status also works from a Deployment, so it does not force a pod)."""
    kinds = [k for k, rx in _TEXT_KINDS if rx.search(text)]
    if not (action == "pod-check-status" and "deployment" in kinds):
        kinds += [k for k in ACTION_KINDS[action] if k not in kinds]
    return tuple(kinds)


def variant_rows(alert: SourceAlert, n: int, seed: int) -> list[Example]:
    out = []
    for i in range(n):
        rng = seeded_rng(seed, alert.source, alert.provenance.get("file", ""), alert.alertname, i)
        labels = {"alertname": alert.alertname, **alert.labels}
        if alert.severity:
            labels["severity"] = alert.severity
        synthesised = []
        if not labels.get("severity"):
            labels["severity"] = rng.choice(("warning", "critical"))
            synthesised.append("severity")
        flux = next((k for k in alert.kinds if k in _FLUX), "")
        keys = [key for kind in alert.kinds for key in _kind_keys(kind)] + list(alert.extra_keys)
        synthesised += _fill_labels(labels, keys, rng, flux)
        summary = _render(alert.summary, labels, rng)
        description = _render(alert.description, labels, rng)
        summary, description = _phrase(i, summary, description, labels)
        provenance = {**alert.provenance, "variant": i, "synthesised_labels": sorted(synthesised)}
        out.append(Example(alert.alertname, dict(sorted(labels.items())), {"summary": summary, "description": description},
                           alert.action, alert.source, provenance, alert.group))
    return out
