"""Alerts that belong together: firing alerts correlated into incidents by the entity they
share (node, PVC, workload, pod — from labels, and from ownerReferences where Kubernetes is
configured), time proximity, and Alertmanager's own groups; the most likely cause first.

The rules are data (``incident_rules.toml`` beside this module; the file says why each is
there). Plain Python over :class:`~sreconsole.domain.alerts.Alert`: the Alerts pane's "by
incident" view and the bench (``bench/incident_correlation.py``) call the same
:func:`correlate`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from sreconsole.domain.alerts import Alert

RULES_FILE = Path(__file__).with_name("incident_rules.toml")


@dataclass(frozen=True)
class EntityRule:
    kind: str
    labels: tuple[str, ...]
    strip: tuple[re.Pattern[str], ...] = ()
    namespaced: bool = True
    only_through_own_alert: bool = False


@dataclass(frozen=True)
class CauseRule:
    alertnames: tuple[str, ...]
    rank: int
    why: str


@dataclass(frozen=True)
class Rules:
    proximity: timedelta
    entities: tuple[EntityRule, ...]
    causes: tuple[CauseRule, ...]
    default_rank: int = 40

    def rank(self, alertname: str) -> tuple[int, str]:
        """(rank, why) of an alert as a cause: lower explains more."""
        for rule in self.causes:
            if any(fnmatch.fnmatchcase(alertname, pattern) for pattern in rule.alertnames):
                return rule.rank, rule.why
        return self.default_rank, ""


@dataclass(frozen=True)
class Incident:
    """Alerts that belong together; ``alerts[0]`` is the most likely cause."""

    key: str
    """Stable while the incident's alerts are: ``incident:`` and a digest of their fingerprints."""
    alerts: tuple[Alert, ...]
    shared: tuple[str, ...]
    """What joined them, in words: ``workload shop/checkout``, ``node node-3``, ``alertmanager group``."""
    why: str
    """Why the first alert is taken for the cause ('' for an incident of one alert)."""

    @property
    def cause(self) -> Alert:
        return self.alerts[0]

    def title(self) -> str:
        others = len(self.alerts) - 1
        head = f"{self.cause.alertname}" + (f" + {others} related" if others else "")
        return head + (f" ({', '.join(self.shared[:2])})" if self.shared else "")


def load_rules(path: Path | None = None) -> Rules:
    """The rules file (the shipped one by default); ValueError naming what is wrong."""
    from sreconsole.domain.silences import parse_duration

    where = Path(path or RULES_FILE)
    data = tomllib.loads(where.read_text(encoding="utf-8"))
    try:
        entities = tuple(
            EntityRule(str(e["kind"]), tuple(e["labels"]), tuple(re.compile(p) for p in e.get("strip", [])),
                       bool(e.get("namespaced", True)), bool(e.get("only_through_own_alert", False)))
            for e in data.get("entity", [])
        )
        causes = tuple(CauseRule(tuple(c["alertnames"]), int(c["rank"]), str(c.get("why", ""))) for c in data.get("cause", []))
        return Rules(parse_duration(str(data.get("proximity", "15m"))), entities, causes, int(data.get("default_rank", 40)))
    except (KeyError, TypeError, re.error) as exc:
        raise ValueError(f"{where}: {exc}") from exc


@lru_cache(maxsize=1)
def shipped_rules() -> Rules:
    return load_rules()


def entities(alert: Alert, rules: Rules, owners: Mapping[tuple[str, str], Sequence[tuple[str, str]]] | None = None) -> set[tuple[str, str]]:
    """What the alert is about, as ``(kind, name)``; ``owners``: ``(namespace, pod)`` →
    extra ``(kind, name)`` from the Kubernetes API (its workload, its node)."""
    out: set[tuple[str, str]] = set()
    ns = alert.labels.get("namespace", "")
    for rule in rules.entities:
        for label in rule.labels:
            value = alert.labels.get(label, "")
            if not value:
                continue
            for pattern in rule.strip:
                shorter = pattern.sub("", value, count=1)
                if shorter != value and shorter:
                    value = shorter
                    break
            out.add((rule.kind, f"{ns}/{value}" if rule.namespaced else value))
    pod = alert.labels.get("pod", "")
    if owners and pod:
        for kind, name in owners.get((ns, pod), ()):
            out.add((kind, name if kind == "node" else f"{ns}/{name}"))
    return out


def correlate(
    alerts: Iterable[Alert],
    rules: Rules | None = None,
    *,
    groups: Iterable[tuple[Mapping[str, str], Iterable[str]]] = (),
    owners: Mapping[tuple[str, str], Sequence[tuple[str, str]]] | None = None,
) -> list[Incident]:
    """Incidents of ``alerts``, most important first (the cause's rank, then the largest).

    ``groups``: Alertmanager's groups as ``(group labels, fingerprints)``; a group whose
    labels name an entity label joins its alerts (one grouped only by alertname does not:
    that says they are alike, not related)."""
    rules = rules or shipped_rules()
    pool = list({a.fingerprint: a for a in alerts}.values())
    parent = list(range(len(pool)))
    why_joined: dict[int, set[str]] = {}

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int, what: str) -> None:
        a, b = find(i), find(j)
        if a != b:
            parent[b] = a
            why_joined.setdefault(a, set()).update(why_joined.pop(b, set()))
        why_joined.setdefault(a, set()).add(what)

    by_entity: dict[tuple[str, str], list[int]] = {}
    kinds_of: list[set[str]] = []
    for i, alert in enumerate(pool):
        found = entities(alert, rules, owners)
        kinds_of.append({k for k, _ in found})
        for entity in found:
            by_entity.setdefault(entity, []).append(i)
    through_own = {r.kind for r in rules.entities if r.only_through_own_alert}
    for (kind, name), members in sorted(by_entity.items()):
        members.sort(key=lambda i: pool[i].starts_at)
        if kind in through_own:
            own = [i for i in members if kinds_of[i] == {kind}]
            for i in members:
                near = [o for o in own if o != i and abs(pool[i].starts_at - pool[o].starts_at) <= rules.proximity]
                if near:
                    union(near[0], i, f"{kind} {name}")
            continue
        # sorted by start: each alert joins the one before it when close enough in time
        for before, after in zip(members, members[1:]):
            if pool[after].starts_at - pool[before].starts_at <= rules.proximity:
                union(before, after, f"{kind} {name}")

    index = {a.fingerprint: i for i, a in enumerate(pool)}
    entity_labels = {label for rule in rules.entities for label in rule.labels}
    for labels, fingerprints in groups:
        if not entity_labels & set(labels):
            continue
        members = [index[fp] for fp in fingerprints if fp in index]
        for other in members[1:]:
            union(members[0], other, "alertmanager group " + ",".join(f"{k}={v}" for k, v in sorted(labels.items())))

    clusters: dict[int, list[int]] = {}
    for i in range(len(pool)):
        clusters.setdefault(find(i), []).append(i)
    out = []
    for root, members in clusters.items():
        ordered = sorted((pool[i] for i in members), key=lambda a: (rules.rank(a.alertname)[0], a.starts_at, a.alertname, a.fingerprint))
        why = rules.rank(ordered[0].alertname)[1] if len(ordered) > 1 else ""
        digest = hashlib.sha256(",".join(sorted(a.fingerprint for a in ordered)).encode()).hexdigest()[:12]
        out.append(Incident(f"incident:{digest}", tuple(ordered), tuple(sorted(why_joined.get(root, set()))), why))
    out.sort(key=lambda inc: (rules.rank(inc.cause.alertname)[0], -len(inc.alerts), int(inc.cause.severity), inc.cause.starts_at))
    return out


def pairs(groups: Iterable[Iterable[str]]) -> set[frozenset[str]]:
    """Every unordered pair of members of the same group: what pairwise precision and
    recall of a grouping count."""
    out: set[frozenset[str]] = set()
    for group in groups:
        members = sorted(set(group))
        out.update(frozenset((a, b)) for i, a in enumerate(members) for b in members[i + 1:])
    return out


def explained(alerts: Iterable[Alert], rules: Rules | None = None, owners=None) -> dict[str, str]:
    """Fingerprint → the fingerprint of its incident's cause, for every alert that is not
    itself a cause: the alerts whose own proposal the incident's proposal replaces."""
    return {a.fingerprint: inc.cause.fingerprint for inc in correlate(alerts, rules, owners=owners) for a in inc.alerts[1:]}


def one_proposal_each(incidents: Iterable[Incident], proposals: Mapping[str, object]) -> dict[str, object]:
    """The proposals to show or queue: one per incident, the cause's (or, when the cause has
    none, the first alert's that has one); a lone alert keeps its own."""
    out = {}
    for inc in incidents:
        chosen = next((proposals[a.fingerprint] for a in inc.alerts if a.fingerprint in proposals), None)
        if chosen is not None:
            out[inc.key] = chosen
    return out
