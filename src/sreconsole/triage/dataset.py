"""The labelled dataset for the alert → remediation-action classifier (TRM).

Every row is one alert (alertname, labels, summary, description) and the catalog action an
SRE would take first. Where the label comes from, most trusted first:

* ``runbook-seed``: the shipped ``RUNBOOK.md``; each ``### Alert:`` section names its action
  on an ``**Action:**`` line, which AGENT-CAPABILITIES.md calls the reference answer.
* ``demo``: the shipped scenario's alerts, rendered by the demo simulator itself (so the
  rows look exactly like what the console shows), labelled by their RUNBOOK.md section.
* ``decision``: operators' verdicts from the review queue (approved, or corrected).
* ``annotation``: homelab PrometheusRules whose ``lambda_function`` annotation names the
  remediation; the annotation *is* the label.
* ``runbook-promop`` / ``rules-homelab`` / ``rules-awesome``: the prometheus-operator
  runbooks, the other homelab rules and awesome-prometheus-alerts, labelled by
  ``LABEL_RULES`` below.

The rule set (``LABEL_RULES``) is data: an ordered list, first match wins, default
``escalate``; every row records the rule that labelled it. A rule reads the alert's
*name* (the alertname, its words and the summary), the *alert* (that and the description)
or the whole *text* (that and the runbook's mitigation). Almost every rule reads the name
only, on purpose: descriptions and mitigations are long and mention everything ("roll
back", "delete the pod", "add nodes", "threatening"), so a keyword there says little about
the alert; only evidence rules (a crash loop caused by configuration, a failure that
started with a new revision, security words) read the description, and none currently
reads the mitigation (measured: it mislabelled more than it fixed). The order encodes the
judgement: what no catalog action can fix comes first (security, certificates, etcd, the
alerting pipeline, suspended objects, absent controllers, the control plane, failed config
reloads, databases and brokers, the monitoring stack, capacity planning, things outside
Kubernetes), then Flux, disks and volumes, nodes, pods and Deployments. Where the shipped
RUNBOOK.md disagrees with a generic intuition, the rules follow the runbook so that sources
never contradict the reference answers: an HPA at its maximum is escalated (the HPA owns
the replica count; scale-deployment is refused under an HPA), a replicas mismatch is
checked (the missing pods are usually Pending for capacity), an OOM loop gets a rolling
restart, a node filling its disk is escalated (cordon only on DiskPressure). Labels from
rules are only as good as the rules: ``bench/data/TRIAGE_DATASET.md`` lists the known
weaknesses.

Synthetic variety: one source alert becomes ``variants`` rows that differ in label values
(drawn from a seeded RNG over a small vocabulary of realistic names; provenance lists the
synthesised keys) and in how the summary is phrased. Variants share a ``group``: the
alert's *family* (see ``alert_family``), which ``split_by_group`` keeps in one split, so
the test split measures generalisation to alerts never seen in training.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sreconsole.knowledge.chunking import alert_sections
from sreconsole.triage.catalog import load_catalog

ACTION_IDS = load_catalog().ids
"""The shipped catalog's ids: what the rules and the shipped dataset may label with."""

SOURCES = ("runbook-seed", "demo", "runbook-promop", "annotation", "rules-homelab", "rules-awesome", "decision")

_PACKAGE = Path(__file__).resolve().parents[1]
SHIPPED_RUNBOOK = _PACKAGE / "sources" / "demo" / "knowledge" / "RUNBOOK.md"
SHIPPED_SCENARIO = _PACKAGE / "sources" / "demo" / "scenario.toml"
DEFAULT_CORPUS = _PACKAGE.parents[1] / ".." / "shared" / "corpus"
"""``<repo>/../shared/corpus`` in a source checkout; absent in an installed wheel."""


# -- the labelling rules ------------------------------------------------------------------


@dataclass(frozen=True)
class LabelRule:
    id: str
    scope: str
    """What the pattern reads: ``name`` (alertname, its words, the summary), ``alert`` (that
    and the description) or ``text`` (that and the runbook's mitigation)."""
    pattern: str
    action: str
    rationale: str


LABEL_RULES: tuple[LabelRule, ...] = tuple(
    LabelRule(*row)
    for row in (
        # Humans first: nothing in the catalog fixes these, and a restart can make them worse.
        ("security", "alert",
         r"falco|exploit|vulnerab|intrusion|attack|brute.?force|injection|privilege.?escalation|"
         r"reverse.?shell|container.?escape|malware|\bscanner|ddos|\bwaf\b|\bthreat|suspicious|\bbots?\b",
         "escalate", "security events need a human investigation; restarting destroys evidence"),
        ("certificate", "name",
         r"certificat|cert.?manager|\btls\b|\bssl\b|x509",
         "escalate", "certificates are renewed or fixed by hand (DNS, issuer credentials)"),
        ("etcd", "name",
         r"\betcd",
         "escalate", "etcd is the cluster's database: quorum and data are human decisions"),
        ("alerting-pipeline", "name",
         r"watchdog|dead.?man|info.?inhibitor",
         "escalate", "meta-alerts of the alerting pipeline; never act on them while they fire"),
        ("suspended", "name",
         r"suspend",
         "escalate", "someone suspended it on purpose; reconciling a suspended object does nothing"),
        ("controller-absent", "name",
         r"absent|disappeared|(controller|operator|component)s? (is )?(down|not ready|missing)",
         "escalate", "a missing controller is an install or platform problem, not a stuck pod"),
        ("control-plane", "name",
         r"api.?server|kube.?api|aggregated.?api|\bscheduler|controller.?manager|kube.?proxy|kubelet|coredns|"
         r"kube.?state.?metrics|cilium|calico|flannel|istio|linkerd",
         "escalate", "control-plane and cluster-network components are not workloads the catalog can act on"),
        ("config-reload-failed", "name",
         r"reload\w*.{0,20}(fail|error)|(fail|error)\w*.{0,20}reload|bad.?config|"
         r"config\w*.{0,20}(invalid|error)",
         "escalate", "a failed reload means the new config is bad: a restart would load it and crash"),
        ("data", "name",
         r"data.?loss|corrupt|backup|replication|\bwal\b|split.?brain|quorum|\braid\b|no primary|database|"
         r"postgres|mysql|mariadb|mongo|redis|cassandra|clickhouse|elasticsearch|opensearch|memcached|"
         r"couchdb|\bsql|zookeeper|\bceph|minio|\bzfs|rabbitmq|kafka|pulsar|\bnats\b|activemq|\bsolr|hadoop|"
         r"hdfs|\brds\b|dynamo|cockroach|influx",
         "escalate", "databases, brokers and stored data: a wrong automated step can lose data"),
        ("target-down", "name",
         r"targets?.{0,20}(down|missing)|scrape.{0,20}fail|exporter.{0,20}down",
         "pod-check-status", "nothing answers on the metrics port: look at the pods behind the target"),
        ("monitoring-stack", "name",
         r"prometheus|alertmanager|thanos|\bloki\b|\bmimir\b",
         "escalate", "the monitoring stack is what watches everything else: its failures go to a human"),
        ("capacity-planning", "name",
         r"overcommit|quota|limit.?range|capacity|throttl",
         "escalate", "requests, limits and quotas are capacity planning, not an incident action"),
        # GitOps: ask Flux to try again now; the kind decides which object.
        ("flux-helmrelease", "name",
         r"helm.?release|helm (upgrade|install)",
         "flux-reconcile-helmrelease", "a failed HelmRelease is retried by reconciling it"),
        ("flux-gitrepository", "name",
         r"git.?repository|flux.?source|source.?not.?ready",
         "flux-reconcile-gitrepository", "a source that failed to fetch is fetched again by reconciling it"),
        ("flux-kustomization", "name",
         r"kustomization",
         "flux-reconcile-kustomization", "a failed Kustomization is re-applied by reconciling it"),
        ("flux-reconcile", "name",
         r"\bflux\b.{0,40}(reconcil|not.?ready|fail)",
         "flux-reconcile-kustomization", "a generic Flux failure is most often a Kustomization"),
        ("outside-kubernetes", "name",
         r"\bpve|proxmox|hypervisor|vmware|esxi|openstack|systemd|\bec2\b|\bups\b|ipmi|jenkins|"
         r"virtual.?machine|\bvm\b|netdata|process.?exporter",
         "escalate", "not a Kubernetes object: the catalog acts on pods, Deployments, claims, nodes and Flux only"),
        # Disks and volumes: a node's own disk is cleaned by a human; claims are read or grown.
        ("node-disk-space", "name",
         r"^(node|host)\b[^\n]*(space|fill|full|inode|files)",
         "escalate", "node disk cleanup is human work; cordon only once DiskPressure appears (shipped runbook)"),
        ("pvc-pending", "name",
         r"(claim|\bpvc|persistent.?volume|\bpv\b|\bvolume).{0,30}(pending|lost|unbound|not.?bound|error|fail)",
         "check-pvc-status", "a claim that does not bind needs its events read; the fix is usually the storage class"),
        ("pvc-filling", "name",
         r"(claim|\bpvc|persistent.?volume|\bvolume|\bstorage).{0,40}(fill|full|space|inode|usage)",
         "expand-pvc", "a filling claim is grown before the application fails its writes"),
        # Nodes: an unhealthy node is cordoned so nothing new lands there.
        ("node-condition", "name",
         r"\bnodes?\b.{0,30}(not.?ready|unready|unreachable|down|flapping)|network.?unavailable|"
         r"(disk|memory|pid).?pressure|kernel.{0,20}(panic|oops|bug|lockup|deadlock|error)|"
         r"\b(host|node)\b.{0,30}(oom|out of memory)|network.{0,40}(err|flap)|hardware|\bedac|\bpleg",
         "cordon-node", "an unhealthy node is cordoned; draining or replacing it is a human decision"),
        # Pods.
        ("oom", "name",
         r"\boom|out of memory|memory limit",
         "rollout-restart", "an OOM loop is usually a leak: a rolling restart resets every replica (shipped runbook)"),
        ("crashloop-config", "alert",
         r"crash.?loop.{0,300}(misconfigur|missing (secret|configmap|file|volume)|permission denied|"
         r"exec format|invalid (config|argument))",
         "pod-check-status", "a pod that dies on its own configuration crashes again after a restart"),
        ("crashloop", "name",
         r"crash.?loop|restart\w* (too )?(often|frequent)|container restarts?|pod restarts?",
         "pod-restart", "a crash-looping pod is restarted to skip the backoff once its cause is gone"),
        ("image-pull", "name",
         r"image.?pull|errimagepull|invalid image",
         "pod-check-status", "a restart pulls the same missing image; read the events"),
        ("pod-not-ready", "name",
         r"\bpods?\b.{0,40}(not.?ready|pending|waiting|unhealthy|evicted|stuck|terminat|down|fail)|"
         r"container.{0,20}waiting|readiness|liveness|startup probe",
         "pod-check-status", "an unready pod usually reports a sick dependency; read before restarting"),
        # Deployments.
        ("not-a-deployment", "name",
         r"daemon.?set|stateful.?set|\bjobs?\b|cron.?job",
         "escalate", "the catalog's workload actions act on Deployments only"),
        ("bad-rollout", "alert",
         r"(after|since|following) (the )?(last |latest |new )?(deploy|rollout|release|upgrade|revision)|"
         r"new (version|revision|release|image)|(rollout|canary|release) (has )?(failed|regress)|"
         r"canary.{0,20}fail|regression",
         "rollback-deployment", "a failure that starts with a new revision is rolled back first, fixed later"),
        ("stuck-rollout", "name",
         r"generation.?mismatch|rollout.{0,20}(stuck|hung|not (rolled|progress))|update not rolled out|"
         r"progress.?deadline|deploy\w*.{0,20}(stuck|hung)|"
         r"config\w*.{0,30}(changed|stale|out of date|not reloaded)|restart required",
         "rollout-restart", "a stuck or stale rollout is restarted to replace every pod"),
        ("replicas-mismatch", "name",
         r"replicas?.{0,20}(mismatch|unavailable|not (available|ready))|unavailable replicas|"
         r"(deployment|replicas?).{0,30}(unhealthy|not.?ready)",
         "pod-check-status", "missing replicas are usually Pending for capacity: more replicas would not help (shipped runbook)"),
        ("hpa", "name",
         r"\bhpa\b|horizontal.?pod.?autoscal|autoscal|max(imum)? replicas",
         "escalate", "the HPA owns the replica count; raising its maximum is a change in Git (shipped runbook)"),
        ("host-resource", "name",
         r"\b(host|node|machine|vm)\b",
         "escalate", "a busy or degraded host needs a human; cordon is for unhealthy nodes"),
        ("needs-scale", "name",
         r"(high|saturat|spike)\w*.{0,20}(cpu|load|traffic|queue|concurren|connections)|"
         r"(cpu|load|traffic|queue)\w*.{0,20}(high|saturat|spike)|needs? scal|scale (up|out)|"
         r"under.?provisioned|backlog",
         "scale-deployment", "a saturated Deployment without an HPA is given more replicas"),
    )
)

DEFAULT_RULE = LabelRule("default", "text", "", "escalate", "no rule matched: a human decides")
_COMPILED = [(rule, re.compile(rule.pattern, re.IGNORECASE | re.DOTALL)) for rule in LABEL_RULES]


def alertname_words(alertname: str) -> str:
    """``KubePodCrashLooping`` → ``Kube Pod Crash Looping`` (also ``etcdNoLeader``, ``HTTPErrors``)."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|[_:.\-]+", " ", alertname)
    return " ".join(spaced.split())


def rule_label(alertname: str, summary: str = "", description: str = "", mitigation: str = "") -> LabelRule:
    """The first rule of ``LABEL_RULES`` that matches, else ``DEFAULT_RULE``."""
    name = f"{alertname_words(alertname)}\n{alertname}\n{summary}"
    scopes = {"name": name, "alert": f"{name}\n{description}", "text": f"{name}\n{description}\n{mitigation}"}
    for rule, regex in _COMPILED:
        if regex.search(scopes[rule.scope]):
            return rule
    return DEFAULT_RULE


# -- rows -----------------------------------------------------------------------------------


@dataclass
class Example:
    """One labelled alert. ``provenance`` holds only JSON types so rows round-trip exactly."""

    alertname: str
    labels: dict[str, str]
    annotations: dict[str, str]
    action: str
    source: str
    provenance: dict[str, Any]
    group: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Example:
        """Validates as it goes: a hand-edited row with a typo must not train silently."""
        if not isinstance(data, Mapping):
            raise ValueError("row is not a JSON object")
        names = [f for f in cls.__dataclass_fields__]
        missing = [n for n in names if n not in data]
        if missing:
            raise ValueError(f"missing field(s): {', '.join(missing)}")
        for key in ("labels", "annotations"):
            value = data[key]
            if not isinstance(value, Mapping) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
                raise ValueError(f"{key} must map strings to strings")
        for key in ("alertname", "action", "source", "group"):
            if not isinstance(data[key], str) or not data[key]:
                raise ValueError(f"{key} must be a non-empty string")
        if data["action"] not in ACTION_IDS:
            raise ValueError(f"unknown action {data['action']!r}")
        if not isinstance(data["provenance"], Mapping):
            raise ValueError("provenance must be an object")
        return cls(**{n: (dict(data[n]) if isinstance(data[n], Mapping) else data[n]) for n in names})

    def text(self) -> str:
        return alert_text(self.alertname, self.labels, self.annotations)


@dataclass
class Dataset:
    examples: list[Example]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(what, why) for every source, file, rule or decision that produced no row."""
    sources: dict[str, int] = field(default_factory=dict)
    """Rows per source, every name of ``SOURCES`` present (0 where a source gave nothing)."""


# -- the model's input ----------------------------------------------------------------------

_TEXT_LABEL_ORDER = ("severity", "namespace", "pod", "container", "deployment", "persistentvolumeclaim",
                     "kind", "name", "kustomization", "helmrelease", "gitrepository", "node", "instance", "job", "service")
_TEXT_SKIP_LABELS = frozenset({"alertname", "cluster", "prometheus", "prometheus_replica", "receive", "tenant_id",
                               "uid", "id", "image", "container_id", "pod_template_hash", "endpoint", "fingerprint"})
_POD_HASH = re.compile(r"-[a-z0-9]{6,10}-[a-z0-9]{5}$|-[a-z0-9]{5}$")
_POD_HASH_IN_TEXT = re.compile(r"(?<=[a-z0-9])-[a-z0-9]{6,10}-[a-z0-9]{5}\b")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_TEXT_FIELD_CHARS = 400


def _clean(text: str, limit: int = _TEXT_FIELD_CHARS) -> str:
    return " ".join(_POD_HASH_IN_TEXT.sub("", _CONTROL.sub(" ", text)).split())[:limit]


def alert_text(alertname: str, labels: Mapping[str, str], annotations: Mapping[str, str]) -> str:
    """The one text the model reads for an alert, in training and at inference alike.

    Included: the alertname and its words (so an unseen ``FooPodCrashLooping`` shares
    tokens with a known one), the labels that say what is affected (in the operator's
    order, then the rest sorted), the summary and the description, each whitespace-collapsed
    and cut at 400 characters (the TRM's context is small). Left out: labels that identify
    the Prometheus or cluster rather than the problem (``cluster``, ``prometheus``…), pod
    name hashes in labels and text (``payments-api-7d9f8b6c5d-x2x9q`` → ``payments-api``: a
    hash tells nothing about the action and never repeats), and every other annotation: ``runbook_url`` and
    ``lambda_function`` would hand the model the answer.
    """
    parts = [f"alert: {alertname} ({alertname_words(alertname).lower()})"]
    keys = [k for k in _TEXT_LABEL_ORDER if k in labels] + sorted(k for k in labels if k not in _TEXT_LABEL_ORDER)
    pairs = []
    for key in keys:
        if key in _TEXT_SKIP_LABELS or not labels[key]:
            continue
        value = _POD_HASH.sub("", labels[key]) if key == "pod" else labels[key]
        pairs.append(f"{key}={_clean(value, 120)}")
    parts.append("labels: " + " ".join(pairs))
    parts.append("summary: " + _clean(annotations.get("summary", "")))
    parts.append("description: " + _clean(annotations.get("description", "")))
    return "\n".join(parts)


# -- synthetic label values -----------------------------------------------------------------

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
_ACTION_KINDS = {
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


def _rng(*parts: object) -> random.Random:
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
            owner = labels.get("deployment") or _POD_HASH.sub("", labels.get("pod", ""))
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


def _template_labels(*texts: str) -> set[str]:
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


def _query_labels(query: str) -> dict[str, str]:
    """Equality selectors of identifying labels in a PromQL query (``namespace="ai"``)."""
    return {k: v for k, v in re.findall(r'\b([a-z_]+)\s*=\s*"([^"*|.\\]+)"', query) if k in _IDENTIFYING}


def _target(labels: Mapping[str, str]) -> str:
    ns = labels.get("namespace", "")
    for key in ("pod", "deployment", "persistentvolumeclaim", "name"):
        if labels.get(key):
            return f"{ns}/{labels[key]}" if ns else labels[key]
    return labels.get("node") or labels.get("instance") or ns


def _plain(markdown: str) -> str:
    """Runbook prose as an alert would say it: no HTML, link targets or backticks."""
    text = re.sub(r"<summary>.*?</summary>|<[^>]+>", " ", markdown)
    text = re.sub(r"!?\[([^\]]*)\](\([^)]*\)|\[[^\]]*\])", r"\1", text)
    return " ".join(text.replace("`", "").split())


def _first_sentence(text: str) -> tuple[str, str]:
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
        head, rest = _first_sentence(description)
        return head, " ".join(x for x in (summary, rest) if x)
    return summary, description


@dataclass
class _SourceAlert:
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


def _label_text_kinds(text: str, action: str) -> tuple[str, ...]:
    """Objects the alert's own words name, plus what the action needs as parameters
    (pod-check-status also works from a Deployment, so it does not force a pod)."""
    kinds = [k for k, rx in _TEXT_KINDS if rx.search(text)]
    if not (action == "pod-check-status" and "deployment" in kinds):
        kinds += [k for k in _ACTION_KINDS[action] if k not in kinds]
    return tuple(kinds)


def _variants(alert: _SourceAlert, n: int, seed: int) -> list[Example]:
    out = []
    for i in range(n):
        rng = _rng(seed, alert.source, alert.provenance.get("file", ""), alert.alertname, i)
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


def alert_family(alertname: str) -> str:
    """The split group of an alertname: lower-case letters only, ``Kubernetes`` read as
    ``Kube``, digits and a trailing severity word dropped. So ``PersistentVolumeFillingUpWarning``
    and ``…Critical``, ``CloudflareArgo10GBConsumed`` and ``…20GB…``, ``KubePodCrashLooping``
    and awesome's ``KubernetesPodCrashLooping`` share a group and never straddle splits."""
    trimmed = re.sub(r"(?<=[a-z0-9])(Warning|Critical|Info|High|Low|Major|Minor)$", "", alertname)  # not "Slow"
    key = re.sub(r"^kubernetes", "kube", re.sub(r"[^a-z]", "", trimmed.lower()))
    return key or alertname.lower()


# -- sources --------------------------------------------------------------------------------


def _read(path: Path, skipped: list[tuple[str, str]]) -> str | None:
    """A corpus file's text, or None with the reason recorded: one bad file skips, not aborts."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        skipped.append((str(path), f"cannot read: {exc}"))
        return None


def _seed_runbook(path: Path, skipped: list[tuple[str, str]]) -> list[_SourceAlert]:
    out = []
    for section in alert_sections(path.read_text(encoding="utf-8")):
        where = f"{path}:{section.start_line} {section.alertname}"
        action = section.parts.get("action", "")
        if section.format != "seed":
            continue
        if action not in ACTION_IDS:
            skipped.append((where, f"**Action:** {action!r} is not a catalog id" if action else "no **Action:** line"))
            continue
        # Bullets that are mostly PromQL or log lines read nothing like an alert summary.
        bullets = [line.lstrip("-* ").strip() for line in section.parts.get("symptoms", "").splitlines()]
        symptoms = [_plain(b) for b in bullets if b and sum(len(c) for c in re.findall(r"`[^`]*`", b)) <= len(b) / 2]
        if not symptoms:
            skipped.append((where, "no symptoms to phrase an alert from"))
            continue
        # The runbook's <placeholders> are the alert's labels (its introduction says so).
        placeholders = set(re.findall(r"<([a-z]+)>", "\n".join(section.parts.values())))
        kinds = [k for k in ("pod", "deployment", "pvc", "node") if k in placeholders]
        kinds += [k for k in _ACTION_KINDS[action] if k not in kinds]
        extra = tuple(key for p, key in (("namespace", "namespace"), ("container", "container"), ("name", "name"),
                                         ("ip", "instance")) if p in placeholders)
        out.append(_SourceAlert(
            section.alertname, section.parts.get("severity", "").split()[0] if section.parts.get("severity") else "",
            symptoms[0], " ".join(symptoms[1:3]), action, "runbook-seed",
            {"file": str(path), "lines": [section.start_line, section.end_line], "rule": "runbook-action"},
            alert_family(section.alertname), kinds=tuple(kinds), extra_keys=extra))
    return out


def _demo(scenario_path: Path, runbook: Mapping[str, str], variants: int, seed: int) -> list[Example]:
    """The shipped scenario rendered by the simulator, so labels match what the console shows."""
    from sreconsole.sources.demo.simulator import DemoCluster, parse_scenario  # the demo layer, only here

    scenario = parse_scenario(tomllib.loads(scenario_path.read_text(encoding="utf-8")), str(scenario_path))
    lines = scenario_path.read_text(encoding="utf-8").splitlines()
    starts = [i + 1 for i, line in enumerate(lines) if line.strip() == "[[incident]]"]
    epoch = datetime(2026, 1, 1, tzinfo=timezone.utc)
    out = []
    for inc in scenario.incidents:
        if inc.alertname in runbook:
            action, rule = runbook[inc.alertname], "runbook-action"
        else:
            found = rule_label(inc.alertname, inc.summary, inc.description)
            action, rule = found.action, found.id
        for i in range(variants):
            demo_seed = int.from_bytes(hashlib.sha256(f"{seed}|demo|{i}".encode()).digest()[:4], "big")
            cluster = DemoCluster(scenario, seed=demo_seed, epoch=epoch)
            at = epoch + timedelta(seconds=inc.at_s + min(1.0, inc.for_s / 2))
            occ = next(o for o in cluster.occurrences_at(at) if o.incident.index == inc.index)
            annotations = {k: occ.alert.annotations.get(k, "") for k in ("summary", "description")}
            provenance = {"file": str(scenario_path), "lines": [starts[inc.index], starts[inc.index]], "rule": rule,
                          "variant": i, "synthesised_labels": ["simulator"]}
            out.append(Example(inc.alertname, dict(sorted(occ.alert.labels.items())), annotations, action, "demo",
                               provenance, alert_family(inc.alertname)))
    return out


def _promop_runbooks(root: Path, skipped: list[tuple[str, str]]) -> list[_SourceAlert]:
    out = []
    for path in sorted(root.rglob("*.md")):
        if path.name.startswith("_"):
            continue
        text = _read(path, skipped)
        if text is None:
            continue
        sections = [s for s in alert_sections(text) if s.format != "seed"]
        if not sections:
            skipped.append((str(path), "not in the Meaning/Impact/Diagnosis/Mitigation shape the parser reads"))
            continue
        section = sections[0]
        # An upstream copy-paste (PrometheusRemoteWriteBehind.md titled PrometheusRemoteStorageFailures):
        # the file name is the alert the page is about.
        name = path.stem if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", path.stem) else section.alertname
        summary, rest = _first_sentence(_plain(section.parts.get("meaning", "")))
        impact, _ = _first_sentence(_plain(section.parts.get("impact", "")))
        if not summary:
            skipped.append((str(path), "no Meaning to phrase an alert from"))
            continue
        description = " ".join(x for x in (rest, impact) if x)
        rule = rule_label(name, summary, description, section.parts.get("mitigation", ""))
        provenance = {"file": str(path), "lines": [section.start_line, section.end_line], "rule": rule.id}
        if name != section.alertname:
            provenance["title"] = section.alertname
        out.append(_SourceAlert(name, "", summary, description, rule.action, "runbook-promop", provenance,
                                alert_family(name), kinds=_label_text_kinds(f"{alertname_words(name)} {summary}", rule.action)))
    return out


def _yaml_loader() -> Any:
    """PyYAML's safe loader that reads a bare ``=`` as a string (the YAML 1.1 "value" tag
    breaks AlertmanagerConfig matchers such as ``matchType: =``)."""
    import yaml  # optional: the test extra; callers skip the YAML sources when it is missing

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))
    return yaml, Loader


def _homelab(root: Path, skipped: list[tuple[str, str]]) -> list[_SourceAlert]:
    yaml, loader = _yaml_loader()
    out = []
    for path in sorted(root.glob("*.yaml")):
        text = _read(path, skipped)
        if text is None:
            continue
        line_of = {m.group(1): text.count("\n", 0, m.start()) + 1
                   for m in re.finditer(r"^[ \t]*-[ \t]*alert:[ \t]*['\"]?([A-Za-z0-9_:]+)", text, re.M)}
        try:
            docs = [d for d in yaml.load_all(text, Loader=loader) if isinstance(d, dict)]
        except yaml.YAMLError as exc:
            skipped.append((str(path), f"not valid YAML: {exc}"))
            continue
        for doc in docs:
            if doc.get("kind") != "PrometheusRule":
                continue
            for group in (doc.get("spec") or {}).get("groups") or []:
                for rule in group.get("rules") or []:
                    name = rule.get("alert")
                    if not name:
                        continue  # a recording rule
                    ann = {k: str(v) for k, v in (rule.get("annotations") or {}).items()}
                    labels = {k: str(v) for k, v in (rule.get("labels") or {}).items()}
                    summary, description = ann.get("summary", ""), ann.get("description", "")
                    where = f"{path}:{line_of.get(name, 0)} {name}"
                    lambda_function = ann.get("lambda_function", "").strip()
                    if lambda_function and lambda_function not in ACTION_IDS:
                        skipped.append((where, f"lambda_function {lambda_function!r} is not a catalog id"))
                        continue
                    if lambda_function:
                        action, rule_id, source = lambda_function, "annotation", "annotation"
                    else:
                        found = rule_label(name, summary, description)
                        action, rule_id, source = found.action, found.id, "rules-homelab"
                    refs = _template_labels(summary, description, ann.get("lambda_parameters", ""))
                    kinds = list(_ACTION_KINDS[action])
                    provenance = {"file": str(path), "lines": [line_of.get(name, 0)] * 2, "rule": rule_id}
                    severity = labels.pop("severity", "")
                    out.append(_SourceAlert(name, severity, summary, description, action, source, provenance,
                                            alert_family(name), labels={**_query_labels(str(rule.get("expr", ""))), **labels},
                                            kinds=tuple(kinds), extra_keys=tuple(sorted(refs))))
    return out


def awesome_alertname(rule_name: str) -> str:
    """The site's CamelCase (Liquid ``capitalize`` on each space-separated word, then the
    spaces removed), with the characters a Prometheus alert name cannot hold dropped:
    ``Prometheus target missing`` → ``PrometheusTargetMissing``,
    ``Mysql too many connections (> 80%)`` → ``MysqlTooManyConnections80``."""
    words = re.split(r"[^A-Za-z0-9]+", rule_name)
    return "".join(w[:1].upper() + w[1:].lower() for w in words if w)


def _awesome(path: Path, skipped: list[tuple[str, str]]) -> list[_SourceAlert]:
    yaml, loader = _yaml_loader()
    text = _read(path, skipped)
    if text is None:
        return []
    line_of: dict[str, int] = {}
    for m in re.finditer(r"^[ \t]*-[ \t]*name:[ \t]*(.+?)[ \t]*$", text, re.M):
        line_of.setdefault(m.group(1).strip("'\""), text.count("\n", 0, m.start()) + 1)
    try:
        doc = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        skipped.append((str(path), f"not valid YAML: {exc}"))
        return []
    out = []
    seen: set[str] = set()
    for group in doc.get("groups") or []:
        for service in group.get("services") or []:
            job = re.sub(r"[^a-z0-9]+", "-", str(service.get("name", "")).lower()).strip("-")
            for exporter in service.get("exporters") or []:
                for rule in exporter.get("rules") or []:
                    rule_name = str(rule.get("name", ""))
                    name = awesome_alertname(rule_name)
                    where = f"{path}:{line_of.get(rule_name, 0)} {rule_name}"
                    if not name or name in seen:
                        skipped.append((where, "empty or duplicate alert name"))
                        continue
                    seen.add(name)
                    description = str(rule.get("description", ""))
                    summary = f"{rule_name} (instance {{{{ $labels.instance }}}})"
                    found = rule_label(name, summary, description)
                    kinds = _label_text_kinds(f"{alertname_words(name)} {rule_name}", found.action)
                    provenance = {"file": str(path), "lines": [line_of.get(rule_name, 0)] * 2, "rule": found.id,
                                  "service": str(service.get("name", ""))}
                    family = alert_family(awesome_alertname(re.sub(r"\([^)]*\)", "", rule_name)))
                    labels = {"job": job, **_query_labels(str(rule.get("query", "")))}
                    out.append(_SourceAlert(name, str(rule.get("severity", "")), summary, description, found.action,
                                            "rules-awesome", provenance, family, labels=labels, kinds=kinds,
                                            extra_keys=("instance", *sorted(_template_labels(description)))))
    return out


def decision_examples(decisions: Iterable[Mapping[str, Any]], skipped: list[tuple[str, str]] | None = None) -> list[Example]:
    """Operators' verdicts as rows: approved confirms the proposed action, rejected with a
    ``corrected_action`` relabels to it, rejected without one is dropped (we only know
    what was wrong, not what was right). Not varied: these are real alerts."""
    skipped = skipped if skipped is not None else []
    out = []
    for n, decision in enumerate(decisions):
        alert = decision.get("alert") or {}
        labels = {str(k): str(v) for k, v in (alert.get("labels") or {}).items()}
        annotations = {str(k): str(v) for k, v in (alert.get("annotations") or {}).items()}
        name = labels.get("alertname", "")
        verdict = decision.get("verdict")
        action = decision.get("action") if verdict == "approved" else decision.get("corrected_action")
        where = f"decision #{n} {name or '?'}"
        if not name:
            skipped.append((where, "the alert has no alertname label"))
        elif verdict not in ("approved", "rejected"):
            skipped.append((where, f"verdict must be approved or rejected, got {verdict!r}"))
        elif verdict == "rejected" and not action:
            skipped.append((where, "rejected without a corrected action: no label to learn"))
        elif action not in ACTION_IDS:
            skipped.append((where, f"{action!r} is not a catalog id"))
        else:
            provenance = {"rule": "decision-approved" if verdict == "approved" else "decision-corrected",
                          "verdict": verdict, "proposed_action": str(decision.get("action", "")),
                          "decided_at": str(decision.get("decided_at", "")), "fingerprint": str(alert.get("fingerprint", "")),
                          "synthesised_labels": []}
            out.append(Example(name, dict(sorted(labels.items())),
                               {"summary": annotations.get("summary", ""), "description": annotations.get("description", "")},
                               action, "decision", provenance, alert_family(name)))
    return out


def build_dataset(
    corpus_dir: Path | None = None, decisions: Iterable[Mapping[str, Any]] = (), variants: int = 4, seed: int = 0
) -> Dataset:
    """All sources, in a fixed order; the same inputs give byte-identical JSONL.

    ``corpus_dir`` defaults to ``<repo>/../shared/corpus``; where it does not exist only the
    shipped RUNBOOK.md and scenario are used and ``skipped`` names the missing sources.
    The homelab and awesome sources need PyYAML (the test extra); without it they are
    skipped with that reason rather than failing the whole build.
    """
    if variants < 1:
        raise ValueError("variants must be at least 1")
    skipped: list[tuple[str, str]] = []
    corpus = Path(corpus_dir if corpus_dir is not None else DEFAULT_CORPUS).resolve()
    alerts = _seed_runbook(SHIPPED_RUNBOOK, skipped)
    runbook_actions = {a.alertname: a.action for a in alerts}
    examples = [ex for a in alerts for ex in _variants(a, variants, seed)]
    examples += _demo(SHIPPED_SCENARIO, runbook_actions, variants, seed)

    corpus_sources = (
        ("runbook-promop", corpus / "runbooks" / "prometheus-operator", _promop_runbooks, False),
        ("annotation+rules-homelab", corpus / "alert-rules" / "homelab", _homelab, True),
        ("rules-awesome", corpus / "alert-rules" / "awesome-prometheus-alerts.yml", _awesome, True),
    )
    for label, path, reader, needs_yaml in corpus_sources:
        if not path.exists():
            skipped.append((f"source {label}", f"{path} not found (corpus {corpus})"))
            continue
        if needs_yaml:
            try:
                import yaml  # noqa: F401
            except ImportError:
                skipped.append((f"source {label}", "PyYAML is not installed (pip install sreconsole[test])"))
                continue
        examples += [ex for a in reader(path, skipped) for ex in _variants(a, variants, seed)]
    examples += decision_examples(decisions, skipped)
    counts = Counter(ex.source for ex in examples)
    return Dataset(examples, skipped, {s: counts.get(s, 0) for s in SOURCES})


# -- splits, files, summaries ---------------------------------------------------------------

SPLITS = ("train", "validation", "test")


def split_by_group(
    examples: Iterable[Example], seed: int = 0, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
) -> dict[str, list[Example]]:
    """Whole groups go to one split, so the test measures alerts never seen in training.

    Groups that share an alertname are merged first (a hand-edited or decision row may carry
    another group), which makes "every alertname in exactly one split" hold by construction.
    Groups are stratified by their majority action; within an action the shuffled groups are
    cut by ``fractions`` of the *group* count, with train first to get one: an action with a
    single group goes to train, with two to train and test, with three or more to all three.
    """
    rows = list(examples)
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for ex in rows:
        a, b = find("g:" + ex.group), find("a:" + ex.alertname)
        if a != b:
            parent[max(a, b)] = min(a, b)
    members: dict[str, list[Example]] = {}
    for ex in rows:
        members.setdefault(find("g:" + ex.group), []).append(ex)
    by_action: dict[str, list[str]] = {}
    for key, group_rows in members.items():
        counts = Counter(ex.action for ex in group_rows)
        majority = min(counts, key=lambda action: (-counts[action], action))
        by_action.setdefault(majority, []).append(key)
    place: dict[str, str] = {}
    for action in sorted(by_action):
        keys = sorted(by_action[action])
        _rng(seed, "split", action).shuffle(keys)
        n = len(keys)
        n_test = max(1 if n >= 2 else 0, int(n * fractions[2] + 0.5))
        n_val = max(1 if n >= 3 else 0, int(n * fractions[1] + 0.5))
        while n_test + n_val > n - 1 and (n_test or n_val):
            if n_val >= n_test and n_val:
                n_val -= 1
            else:
                n_test -= 1
        for i, key in enumerate(keys):
            place[key] = "test" if i < n_test else "validation" if i < n_test + n_val else "train"
    # A minority action (say one corrected decision inside a group) may still miss train:
    # move the smallest group holding it there, so the model can at least learn it.
    for action in sorted({ex.action for ex in rows}):
        holders = sorted((len(group_rows), key) for key, group_rows in members.items()
                         if any(ex.action == action for ex in group_rows))
        if holders and not any(place[key] == "train" for _, key in holders):
            place[holders[0][1]] = "train"
    out: dict[str, list[Example]] = {name: [] for name in SPLITS}
    for ex in rows:
        out[place[find("g:" + ex.group)]].append(ex)
    return out


def _line(ex: Example) -> str:
    return json.dumps(ex.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def write_jsonl(examples: Iterable[Example], path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(_line(ex) + "\n" for ex in examples), encoding="utf-8")
    return path


def read_jsonl(path: Path | str) -> list[Example]:
    """Rows back; a bad row raises ``ValueError`` naming the file, the line and the reason."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                out.append(Example.from_dict(json.loads(line)))
            except (ValueError, TypeError) as exc:  # JSONDecodeError is a ValueError
                raise ValueError(f"{path}:{number}: bad dataset row: {exc}") from None
    return out


def dataset_hash(examples: Iterable[Example]) -> str:
    """SHA-256 of the canonical JSONL (what ``write_jsonl`` writes): the dataset's version."""
    digest = hashlib.sha256()
    for ex in examples:
        digest.update((_line(ex) + "\n").encode("utf-8"))
    return digest.hexdigest()


def class_balance(examples: Iterable[Example]) -> dict[str, dict[str, float]]:
    """Rows, groups and row share per catalog action, zeros included (a missing class shows)."""
    rows = list(examples)
    by_rows = Counter(ex.action for ex in rows)
    by_groups = Counter(action for action, _ in {(ex.action, ex.group) for ex in rows})
    total = len(rows) or 1
    return {a: {"rows": by_rows.get(a, 0), "groups": by_groups.get(a, 0), "share": round(by_rows.get(a, 0) / total, 4)}
            for a in ACTION_IDS}


def dataset_stats(examples: Iterable[Example], splits: Mapping[str, Iterable[Example]] | None = None) -> dict[str, Any]:
    rows = list(examples)
    stats: dict[str, Any] = {
        "rows": len(rows),
        "groups": len({ex.group for ex in rows}),
        "alertnames": len({ex.alertname for ex in rows}),
        "by_action": {a: c["rows"] for a, c in class_balance(rows).items()},
        "by_source": dict(sorted(Counter(ex.source for ex in rows).items())),
    }
    if splits is not None:
        stats["splits"] = {}
        for name, part in splits.items():
            part = list(part)
            stats["splits"][name] = {"rows": len(part), "groups": len({ex.group for ex in part}),
                                     "by_action": dict(sorted(Counter(ex.action for ex in part).items()))}
    return stats
