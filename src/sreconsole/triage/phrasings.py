"""More ways to say the same thing, for the actions the corpora rarely show.

The rare actions have 2–20 alert families each, all written in one style: CamelCase names
of rule collections and PromQL-template descriptions. Alerts in the field come named
``orders_consumer_lag_high``, ``pod-crashloop`` or "Checkout conversion drop", and say
what happened in the words of the kubelet, the controller or the person who wrote the rule
("Back-off restarting failed container", "0/6 nodes are available", "since revision 23").

:func:`restyled_rows` gives every non-``escalate`` source alert extra rows that keep its
labels, its action and its family (so a split never separates them) but rename it in
another style and describe it the way such an alert is described in practice: the
messages Kubernetes, Flux and exporters print for that situation, with values. The
templates name the situation an action fits, never an alert of any evaluation set; they
were written from the Kubernetes, Flux and Prometheus documentation's own messages.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping

from sreconsole.triage.examples import Example, alertname_words
from sreconsole.triage.synthetic import seeded_rng

STYLES = ("snake", "kebab", "words", "prefixed")

TEMPLATES: dict[str, tuple[str, ...]] = {
    "pod-restart": (
        "Back-off restarting failed container {container} in pod {pod}; {n} restarts in the last {m} minutes.",
        "Container {container} exited with code {code} and keeps restarting; the dependency it failed on is healthy again.",
        "Pod {pod} is Running and Ready but has handled no work for {m} minutes: the process is stuck.",
        "Liveness probe failed for {pod}: context deadline exceeded; the container was restarted {n} times.",
        "One replica ({pod}) times out on every request while the other replicas serve normally.",
    ),
    "pod-check-status": (
        "Pod {pod} is Pending: 0/{k} nodes are available: {k} Insufficient cpu.",
        "Readiness probe failed for {pod}: HTTP probe failed with statuscode: 503.",
        "Failed to pull image for container {container}: ImagePullBackOff.",
        "Pod {pod} has been in phase {phase} for {m} minutes.",
        "Only {a} of {b} desired replicas are available; no rollout is in progress.",
        "CreateContainerConfigError: a secret referenced by {pod} was not found.",
        "Container {container} in CrashLoopBackOff: invalid configuration, exit code 78.",
    ),
    "rollout-restart": (
        "Memory of every replica grows steadily since the last restart and is at {pct}% of the limit; last state OOMKilled.",
        "The ConfigMap changed {m} minutes ago but the pods read it only at start and still run the old configuration.",
        "Rollout stuck: ProgressDeadlineExceeded, new pods are not progressing.",
        "A rotated secret is not picked up until the pods restart.",
        "Open file descriptors at {pct}% of the limit on all replicas, growing since the last deploy.",
    ),
    "rollback-deployment": (
        "Error ratio rose to {pct}% right after revision {rev} was rolled out.",
        "p99 latency went from {a}ms to {b}ms since the deploy of version {ver}.",
        "Canary analysis failed: the new version's success rate is {pct}% below the baseline.",
        "New pods of release {ver} crash at start while the old replicas still serve.",
    ),
    "scale-deployment": (
        "CPU usage at {pct}% of requests across all {n} replicas; there is no autoscaler.",
        "Backlog of {count} messages and growing; consumers are healthy and CPU-bound.",
        "Request rate tripled and every replica is at its concurrency limit.",
        "Throughput is below the incoming rate; each worker is busy and healthy.",
    ),
    "flux-reconcile-kustomization": (
        "Kustomization {name} reconciliation failed: dry-run failed; the cause has been fixed since.",
        "Kustomization {name} is not ready: health check failed; the workload is healthy now.",
        "Kustomization {name} applied revision is behind its source; the last apply timed out.",
    ),
    "flux-reconcile-helmrelease": (
        "HelmRelease {name} upgrade failed: timed out waiting for the condition.",
        "HelmRelease {name} install retries exhausted; the conflicting resource was removed.",
        "HelmRelease {name} is not ready: the chart could not be fetched from its repository.",
    ),
    "flux-reconcile-gitrepository": (
        "GitRepository {name} failed to fetch: connection timed out; the Git server is reachable again.",
        "source {name} artifact is stale: the last successful fetch was {m} minutes ago.",
        "GitRepository {name}: authentication failed; the deploy key was updated.",
    ),
    "check-pvc-status": (
        "PersistentVolumeClaim {pvc} is Pending: waiting for a volume to be created by the external provisioner.",
        "AttachVolume.Attach failed for the volume of {pvc}: it is attached to another node.",
        "ProvisioningFailed for {pvc}: storageclass not found.",
        "Unable to attach or mount volumes for {pvc}: timed out waiting for the condition.",
    ),
    "expand-pvc": (
        "Volume of {pvc} is {pct}% full and predicted to fill within {h} hours.",
        "Only {a} GiB free of {b} GiB on the volume of {pvc}.",
        "Inode usage of the volume of {pvc} at {pct}%.",
    ),
    "cordon-node": (
        "Node {node} is NotReady: the kubelet stopped posting node status.",
        "Node {node} reports {cond}; the kubelet is evicting pods.",
        "Kernel on {node} reports a soft lockup.",
        "Network interface of {node} shows rising receive errors.",
        "Correctable memory errors are rising on {node}.",
    ),
}

_CONDITIONS = ("MemoryPressure", "DiskPressure", "PIDPressure")
_PHASES = ("Pending", "Unknown", "Failed")
_PREFIXES = ("prod", "platform", "sre", "team-core", "k8s")


def restyle_name(alertname: str, style: str, rng: random.Random) -> str:
    """``KubePodCrashLooping`` as ``kube_pod_crash_looping``, ``kube-pod-crash-looping``,
    ``Kube pod crash looping`` or ``prod:KubePodCrashLooping``."""
    words = alertname_words(alertname).split()
    if style == "snake":
        return "_".join(w.lower() for w in words)
    if style == "kebab":
        return "-".join(w.lower() for w in words)
    if style == "words":
        return " ".join([words[0]] + [w.lower() for w in words[1:]]) if words else alertname
    return f"{rng.choice(_PREFIXES)}:{alertname}"


def _fill(template: str, labels: Mapping[str, str], rng: random.Random) -> str:
    values = {
        "pod": labels.get("pod") or labels.get("deployment") or "the pod", "container": labels.get("container") or "app",
        "pvc": labels.get("persistentvolumeclaim") or "the claim", "node": labels.get("node") or labels.get("instance") or "the node",
        "name": labels.get("name") or labels.get("kustomization") or labels.get("helmrelease") or "the object",
        "n": rng.randint(3, 30), "m": rng.choice((5, 10, 15, 20, 30, 45)), "k": rng.randint(3, 12), "code": rng.choice((1, 2, 137, 139)),
        "pct": rng.randint(85, 99), "a": rng.randint(2, 9), "b": rng.randint(10, 400), "h": rng.randint(6, 48),
        "rev": rng.randint(10, 90), "ver": f"{rng.randint(1, 6)}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
        "count": f"{rng.randint(5, 900)}k", "cond": rng.choice(_CONDITIONS), "phase": rng.choice(_PHASES),
    }
    return re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), m.group(0))), template)


def restyled_rows(examples: Iterable[Example], extra: int, seed: int = 0) -> list[Example]:
    """``extra`` rows per non-escalate source alert (its variant 0), each in the next naming
    style with a description from its action's templates, the original summary kept.
    Operators' decisions are not restyled: each is one real alert, already weighted
    (``TrainOptions.decision_weight``), and a restyled copy would count it again."""
    out: list[Example] = []
    if extra < 1:
        return out
    for ex in examples:
        templates = TEMPLATES.get(ex.action)
        if not templates or ex.provenance.get("variant", 0) != 0 or ex.source == "decision":
            continue
        for i in range(extra):
            rng = seeded_rng(seed, "restyle", ex.source, ex.alertname, ex.group, i)
            style = STYLES[i % len(STYLES)]
            name = restyle_name(ex.alertname, style, rng)
            labels = {**ex.labels, "alertname": name}
            description = _fill(rng.choice(templates), labels, rng)
            provenance = {**ex.provenance, "variant": 100 + i, "restyled": {"style": style, "from": ex.alertname}}
            out.append(Example(name, dict(sorted(labels.items())), {"summary": ex.annotations.get("summary", ""), "description": description},
                               ex.action, ex.source, provenance, ex.group))
    return out
