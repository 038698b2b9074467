"""A simulated cluster that raises and resolves alerts from a scenario file.

Everything is a pure function of (scenario, seed, demo epoch, time): the same seed shows
the same pods, the same alerts at the same moments, the same metric curves and the same
log lines, which is what makes snapshot tests and bug reports reproducible. There is no
background thread: asking "what is firing at T?" computes the answer.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import random
import re
import string
import tomllib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from sreconsole.domain.alerts import Alert, AlertState, fingerprint
from sreconsole.domain.silences import Silence
from sreconsole.domain.health import HealthState, SourceHealth, after_success

SHAPES = ("ramp", "step", "drop", "saw", "spike")
KINDS = ("pod", "deployment", "pvc", "node", "kustomization", "helmrelease", "gitrepository", "certificate", "service", "none")


class ScenarioError(ValueError):
    """The scenario file is not usable; the message names the incident and the field."""


@dataclass(frozen=True, slots=True)
class MetricSpec:
    expr: str
    shape: str = "step"
    baseline: float = 0.0
    peak: float = 1.0
    threshold: float = 1.0
    unit: str = ""


@dataclass(frozen=True, slots=True)
class Incident:
    """One entry of the scenario: an alert template and its place on the timeline."""

    index: int
    alertname: str
    severity: str
    kind: str
    namespace: str
    workload: str
    container: str
    at_s: float
    for_s: float
    state: AlertState
    summary: str
    description: str
    metric: MetricSpec
    logs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    cycle_s: float
    nodes: tuple[str, ...]
    incidents: tuple[Incident, ...]
    normal_logs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Occurrence:
    """An incident in one cycle: concrete labels, start and end."""

    incident: Incident
    cycle: int
    values: dict[str, str]
    starts_at: datetime
    ends_at: datetime
    alert: Alert = field(compare=False)


def _require(entry: dict[str, Any], key: str, where: str) -> Any:
    if key not in entry:
        raise ScenarioError(f"{where}: missing '{key}'")
    return entry[key]


def parse_scenario(doc: dict[str, Any], source: str = "scenario") -> Scenario:
    head = doc.get("scenario", {})
    incidents = []
    for i, entry in enumerate(doc.get("incident", [])):
        where = f"{source}: incident #{i + 1} ({entry.get('alertname', '?')})"
        kind = entry.get("kind", "none")
        if kind not in KINDS:
            raise ScenarioError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
        m = entry.get("metric", {})
        shape = m.get("shape", "step")
        if shape not in SHAPES:
            raise ScenarioError(f"{where}: metric.shape must be one of {', '.join(SHAPES)}")
        try:
            state = AlertState(entry.get("state", "firing"))
        except ValueError:
            raise ScenarioError(f"{where}: state must be firing, silenced or inhibited") from None
        if float(_require(entry, "for_s", where)) <= 0:
            raise ScenarioError(f"{where}: for_s must be > 0")
        incidents.append(
            Incident(
                index=i,
                alertname=str(_require(entry, "alertname", where)),
                severity=str(entry.get("severity", "warning")),
                kind=kind,
                namespace=str(entry.get("namespace", "")),
                workload=str(entry.get("workload", "")),
                container=str(entry.get("container", "")),
                at_s=float(_require(entry, "at_s", where)),
                for_s=float(entry["for_s"]),
                state=state,
                summary=str(entry.get("summary", "")),
                description=str(entry.get("description", "")),
                metric=MetricSpec(
                    expr=str(m.get("expr", "vector(0)")),
                    shape=shape,
                    baseline=float(m.get("baseline", 0.0)),
                    peak=float(m.get("peak", 1.0)),
                    threshold=float(m.get("threshold", 1.0)),
                    unit=str(m.get("unit", "")),
                ),
                logs=tuple(str(x) for x in entry.get("logs", [])),
            )
        )
    if not incidents:
        raise ScenarioError(f"{source}: no [[incident]] entries")
    cycle = float(head.get("cycle_s", 1200))
    if cycle <= 0:
        raise ScenarioError(f"{source}: scenario.cycle_s must be > 0")
    return Scenario(
        name=str(head.get("name", "demo")),
        cycle_s=cycle,
        nodes=tuple(head.get("nodes", ["worker-1", "worker-2", "worker-3"])),
        incidents=tuple(incidents),
        normal_logs=tuple(head.get("normal_logs", [])),
    )


def load_scenario(path: str | Path | None = None) -> Scenario:
    """The shipped scenario, or a user's TOML file."""
    if path:
        p = Path(path)
        try:
            doc = tomllib.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ScenarioError(f"{p}: cannot read scenario: {exc}") from None
        return parse_scenario(doc, str(p))
    text = resources.files(__package__).joinpath("scenario.toml").read_text(encoding="utf-8")
    return parse_scenario(tomllib.loads(text), "shipped scenario")


_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def _render(template: str, values: dict[str, str]) -> str:
    """Fill ``{name}`` placeholders; leave everything else alone.

    ``str.format`` cannot be used: PromQL selectors are full of braces.
    """
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


class DemoCluster:
    """The simulated cluster. ``epoch`` is the moment the demo started."""

    def __init__(self, scenario: Scenario, seed: int, epoch: datetime) -> None:
        self.scenario = scenario
        self.seed = seed
        self.epoch = epoch
        self._by_fingerprint: dict[str, Occurrence] = {}
        self.remedies = None
        """The actions taken on the simulated cluster (a
        :class:`~sreconsole.sources.demo.cluster_api.DemoRemedies`): an alert on an object an
        action changed resolves a little later. None: nothing is ever fixed."""

    # -- naming ------------------------------------------------------------------

    def _rng(self, *parts: object) -> random.Random:
        digest = hashlib.blake2b(repr((self.seed, *parts)).encode(), digest_size=8).digest()
        return random.Random(int.from_bytes(digest, "big"))

    def _values(self, inc: Incident, cycle: int) -> dict[str, str]:
        rng = self._rng("labels", inc.index, cycle)
        alnum = string.ascii_lowercase + string.digits
        rs_hash = "".join(rng.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(9))
        suffix = "".join(rng.choice(alnum) for _ in range(5))
        node = rng.choice(self.scenario.nodes) if self.scenario.nodes else "worker-1"
        ip = f"10.{rng.randint(0, 3)}.{rng.randint(0, 255)}.{rng.randint(2, 254)}"
        return {
            "namespace": inc.namespace,
            "pod": f"{inc.workload}-{rs_hash}-{suffix}" if inc.workload else "",
            "container": inc.container,
            "deployment": inc.workload,
            "pvc": inc.workload,
            "name": inc.workload,
            "node": node,
            "instance": f"{ip}:9100" if inc.kind == "node" else f"{ip}:8080",
            "ip": ip,
        }

    def _labels(self, inc: Incident, v: dict[str, str]) -> dict[str, str]:
        labels = {"alertname": inc.alertname, "severity": inc.severity, "cluster": "shop-prod"}
        if inc.namespace:
            labels["namespace"] = inc.namespace
        if inc.kind == "pod":
            labels.update(pod=v["pod"], container=v["container"], deployment=v["deployment"], node=v["node"])
            labels["job"] = "kube-state-metrics"
        elif inc.kind == "deployment":
            labels.update(deployment=v["deployment"], job="kube-state-metrics")
        elif inc.kind == "pvc":
            labels.update(persistentvolumeclaim=v["pvc"], job="kubelet")
        elif inc.kind == "node":
            labels.update(node=v["node"], instance=v["instance"], job="node-exporter")
        elif inc.kind in ("kustomization", "helmrelease", "gitrepository"):
            kind = {"kustomization": "Kustomization", "helmrelease": "HelmRelease", "gitrepository": "GitRepository"}[inc.kind]
            labels.update(kind=kind, name=v["name"], job="flux-system")
            labels[inc.kind] = v["name"]
        elif inc.kind == "certificate":
            labels.update(name=v["name"], job="cert-manager")
        elif inc.kind == "service":
            labels.update(job=inc.workload, instance=v["instance"], service=inc.workload)
        return labels

    def _occurrence(self, inc: Incident, cycle: int) -> Occurrence:
        values = self._values(inc, cycle)
        start = self.epoch + timedelta(seconds=cycle * self.scenario.cycle_s + inc.at_s)
        end = start + timedelta(seconds=inc.for_s)
        labels = self._labels(inc, values)
        peak = inc.metric.peak
        values = {**values, "value": f"{peak:g}", "n": str(self._rng("n", inc.index, cycle).randint(2, 9))}
        annotations = {
            "summary": _render(inc.summary, values),
            "description": _render(inc.description, values),
            "runbook_url": f"runbook://demo/RUNBOOK.md#alert-{inc.alertname.lower()}",
        }
        fp = fingerprint(labels)
        silenced = (SCENARIO_SILENCE + fp[:8],) if inc.state is AlertState.SILENCED else ()
        inhibited = (fingerprint({"alertname": "KubeNodeNotReady"}),) if inc.state is AlertState.INHIBITED else ()
        alert = Alert(
            fingerprint=fp,
            labels=labels,
            annotations=annotations,
            starts_at=start,
            ends_at=end,
            state=inc.state,
            generator_url=f"demo://prometheus/graph?expr={inc.alertname}",
            silenced_by=silenced,
            inhibited_by=inhibited,
        )
        return Occurrence(inc, cycle, values, start, end, alert)

    # -- the timeline -------------------------------------------------------------

    def occurrences_at(self, now: datetime) -> list[Occurrence]:
        elapsed = (now - self.epoch).total_seconds()
        cycle_s = self.scenario.cycle_s
        current = math.floor(elapsed / cycle_s)
        found: dict[str, Occurrence] = {}
        for inc in self.scenario.incidents:
            # An occurrence of cycle c covers [c*cycle + at_s, c*cycle + at_s + for_s).
            if inc.for_s >= cycle_s:
                # A standing alert (Watchdog): one occurrence from cycle 0, not one per cycle.
                cycles = range(0, 1)
            else:
                first = math.floor((elapsed - inc.at_s - inc.for_s) / cycle_s) + 1
                last = math.floor((elapsed - inc.at_s) / cycle_s)
                cycles = range(max(first, current - 2), last + 1)
            for cycle in cycles:
                occ = self._occurrence(inc, cycle)
                fixed = self.remedies.resolved_at(occ.alert.labels, occ.starts_at) if self.remedies is not None else None
                if occ.starts_at <= now < occ.ends_at and (fixed is None or now < fixed):
                    kept = found.get(occ.alert.fingerprint)
                    if kept is None or occ.starts_at < kept.starts_at:
                        found[occ.alert.fingerprint] = occ
        for occ in found.values():
            self._by_fingerprint[occ.alert.fingerprint] = occ
        return sorted(found.values(), key=lambda o: (o.starts_at, o.incident.index))

    def alerts_at(self, now: datetime) -> list[Alert]:
        return [o.alert for o in self.occurrences_at(now)]

    def occurrence(self, fingerprint_: str) -> Occurrence | None:
        return self._by_fingerprint.get(fingerprint_)

    # -- evidence the alert would have in a real cluster --------------------------

    def rule_expression(self, alert: Alert) -> tuple[str, float, str] | None:
        """The alert's PromQL expression, threshold and unit."""
        occ = self.occurrence(alert.fingerprint)
        if occ is None:
            return None
        spec = occ.incident.metric
        return _render(spec.expr, occ.values), spec.threshold, spec.unit

    def metric_series(
        self, alert: Alert, start: datetime, end: datetime, step_s: float = 60.0
    ) -> list[tuple[datetime, float]]:
        """Values of the alert's expression between ``start`` and ``end``."""
        occ = self.occurrence(alert.fingerprint)
        if occ is None or end <= start or step_s <= 0:
            return []
        spec = occ.incident.metric
        span = max(spec.peak - spec.baseline, 1e-9) if spec.peak >= spec.baseline else spec.baseline - spec.peak
        noise = abs(span) * 0.03
        out: list[tuple[datetime, float]] = []
        t = start
        lead_s = 300.0  # the condition builds up before the alert fires ("for:" duration)
        while t <= end:
            rng = self._rng("metric", occ.incident.index, occ.cycle, int(t.timestamp() // step_s))
            into = (t - occ.starts_at).total_seconds() + lead_s
            total = occ.incident.for_s + lead_s
            if into < 0 or t >= occ.ends_at:
                frac = 0.0
            else:
                frac = _shape(spec.shape, into / total, into)
            value = spec.baseline + (spec.peak - spec.baseline) * frac + rng.uniform(-noise, noise)
            if spec.baseline >= 0 and spec.peak >= 0:
                value = max(value, 0.0)  # counts, ratios and bytes are never negative
            out.append((t, round(value, 4)))
            t += timedelta(seconds=step_s)
        return out

    def log_lines(self, alert: Alert, now: datetime, limit: int = 50) -> list[tuple[datetime, str]]:
        """Recent log lines of the affected workload, oldest first, up to ``now``."""
        occ = self.occurrence(alert.fingerprint)
        if occ is None or limit <= 0:
            return []
        # Line k is written at origin + k*STEP + jitter(k): any window can be produced
        # without replaying the hours before it, and every window agrees with the others.
        step = 12.0
        origin = occ.starts_at - timedelta(seconds=120)
        end = min(now, occ.ends_at)
        last_k = math.floor((end - origin).total_seconds() / step)
        first_k = max(0, last_k - limit + 1)
        templates = occ.incident.logs
        normal = self.scenario.normal_logs
        lines: list[tuple[datetime, str]] = []
        for k in range(first_k, last_k + 1):
            rng = self._rng("log", occ.incident.index, occ.cycle, k)
            t = origin + timedelta(seconds=k * step + rng.uniform(0.0, step * 0.8))
            if t > end:
                break
            pool = normal if t < occ.starts_at else templates
            if not pool:
                continue
            template = pool[k % len(pool)] if t < occ.starts_at else pool[min(k % (len(pool) + 1), len(pool) - 1)]
            values = {**occ.values, "n": str(rng.randint(2, 99999)), "ms": str(rng.randint(3, 2500))}
            lines.append((t, _render(template, values)))
        return lines


def _shape(shape: str, frac: float, seconds: float) -> float:
    frac = min(max(frac, 0.0), 1.0)
    if shape == "ramp":
        return min(frac / 0.6, 1.0)
    if shape == "drop":
        return min(frac / 0.5, 1.0)
    if shape == "saw":
        return (seconds % 240.0) / 240.0
    if shape == "spike":
        return math.exp(-((frac - 0.4) ** 2) / 0.02)
    return 1.0 if frac > 0.25 else frac * 4  # step: reaches the peak as the alert fires


SCENARIO_SILENCE = "demo-silence-"
"""Id prefix of the silences behind the alerts a scenario starts silenced."""


class DemoAlertSource:
    """The demo cluster behind the same interface a real Alertmanager has.

    Silences made in the demo live in this process only; they mute matching alerts the
    way Alertmanager would, so the silence and ack flows can be tried without a cluster.
    """

    name = "demo"

    def __init__(self, cluster: DemoCluster, clock: Callable[[], datetime]) -> None:
        self.cluster = cluster
        self.clock = clock
        self._health = SourceHealth("demo", HealthState.OK)
        self._silences: dict[str, Silence] = {}
        self._seed_quiet_silence()

    def _seed_quiet_silence(self) -> None:
        """A silence left over from a maintenance that matches no alert of the scenario:
        the one the Silences view (``S``) shows with 0 muted, as karma users ask to see."""
        from sreconsole.domain.matchers import Matcher, MatchType

        now = self.clock()
        quiet = Silence(
            "demo-0000-quiet-maintenance", (Matcher.create("alertname", MatchType.EQUAL, "LegacyBatchJobFailed"),),
            now - timedelta(hours=1), now + timedelta(hours=8), "demo", "maintenance of the retired batch cluster", "active",
        )
        self._silences[quiet.id] = quiet

    async def fetch_alerts(self) -> Sequence[Alert]:
        now = self.clock()
        raw = self.cluster.alerts_at(now)
        self._adopt_scenario_silences(raw, now)
        alerts = [self._apply_silences(a, now) for a in raw]
        self._health = after_success(self.name, now)
        return alerts

    def _adopt_scenario_silences(self, alerts: Sequence[Alert], now: datetime) -> None:
        """An alert the scenario starts silenced gets a real silence in this source (every
        label matched, as ``s`` makes one), so the Silences view lists what mutes it and
        ``x`` can expire it: a row that says "silenced" always has a silence behind it."""
        from sreconsole.domain.silences import matchers_for

        for a in alerts:
            for sid in a.silenced_by:
                if sid.startswith(SCENARIO_SILENCE) and sid not in self._silences:
                    self._silences[sid] = Silence(sid, tuple(matchers_for(a)), a.starts_at, now + timedelta(hours=4), "demo",
                                                  "muted while the owners renew it (demo scenario)", "active")

    def _apply_silences(self, alert: Alert, now: datetime) -> Alert:
        ids = tuple(
            s.id
            for s in self._silences.values()
            if s.starts_at and s.ends_at and s.starts_at <= now < s.ends_at and all(m.matches(alert.labels) for m in s.matchers)
        )
        if ids:
            return dataclasses.replace(alert, state=AlertState.SILENCED, silenced_by=ids)
        if alert.state is AlertState.SILENCED:  # its scenario silence was expired or ended
            return dataclasses.replace(alert, state=AlertState.FIRING, silenced_by=())
        return alert

    async def list_silences(self) -> list[Silence]:
        now = self.clock()
        return [
            dataclasses.replace(s, state="active" if s.ends_at and now < s.ends_at else "expired")
            for s in self._silences.values()
        ]

    async def create_silence(self, matchers, starts_at: datetime, ends_at: datetime, created_by: str, comment: str, silence_id: str = "") -> str:
        if silence_id not in self._silences:  # an update keeps the id, as Alertmanager does for an active one
            silence_id = str(uuid.uuid4())
        self._silences[silence_id] = Silence(silence_id, tuple(matchers), starts_at, ends_at, created_by, comment, "active")
        return silence_id

    async def expire_silence(self, silence_id: str) -> None:
        from sreconsole.sources.base import SourceError

        silence = self._silences.get(silence_id)
        if silence is None:
            raise SourceError(f"no silence {silence_id}")
        self._silences[silence_id] = dataclasses.replace(silence, ends_at=self.clock(), state="expired")

    def health(self) -> SourceHealth:
        return self._health

    async def aclose(self) -> None:
        return None


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
