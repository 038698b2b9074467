"""Alerts as the operator sees them, independent of where they come from."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone


class Severity(enum.IntEnum):
    """Alert severity, ordered so that sorting ascending puts the worst first."""

    CRITICAL = 0
    WARNING = 1
    INFO = 2
    NONE = 3

    @classmethod
    def parse(cls, value: str | None) -> Severity:
        """Map the many spellings seen in rule files onto four levels."""
        v = (value or "").strip().lower()
        if v in ("critical", "page", "p1", "error", "high", "emergency", "fatal"):
            return cls.CRITICAL
        if v in ("warning", "warn", "p2", "p3", "medium", "major", "minor"):
            return cls.WARNING
        if v in ("info", "informational", "low", "p4", "p5", "notice"):
            return cls.INFO
        return cls.NONE

    @property
    def label(self) -> str:
        return self.name.lower()


class AlertState(enum.Enum):
    """Alertmanager's view of an alert (``status.state`` in API v2)."""

    FIRING = "firing"  # Alertmanager calls it "active"
    SILENCED = "silenced"
    INHIBITED = "inhibited"
    RESOLVED = "resolved"


# Labels that say *what* is affected, in the order an operator looks for them.
TARGET_LABELS = (
    "namespace",
    "pod",
    "deployment",
    "statefulset",
    "daemonset",
    "persistentvolumeclaim",
    "kustomization",
    "helmrelease",
    "gitrepository",
    "node",
    "instance",
    "job",
)


def fingerprint(labels: Mapping[str, str]) -> str:
    """Alertmanager-compatible fingerprint: FNV-1a 64 over sorted ``name\\xffvalue\\xff``.

    The same label set gets the same fingerprint Alertmanager would give it, so alerts
    from the demo and from a real Alertmanager diff and cache the same way.
    """
    h = 0xCBF29CE484222325
    for name in sorted(labels):
        for part in (name, "\xff", labels[name], "\xff"):
            for byte in part.encode("utf-8", errors="surrogateescape"):
                h ^= byte
                h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert instance. Label and annotation values are untrusted text.

    ``cluster`` names the configured cluster whose Alertmanager reported it ("" where no
    cluster is known: the default cluster). With several clusters the ``fingerprint`` is
    ``cluster/fingerprint``: two clusters may report the same label set, and the pane, the
    review queue and the caches key alerts by fingerprint."""

    fingerprint: str
    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    starts_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    ends_at: datetime | None = None
    state: AlertState = AlertState.FIRING
    generator_url: str = ""
    silenced_by: tuple[str, ...] = ()
    inhibited_by: tuple[str, ...] = ()
    cluster: str = ""
    """The configured cluster the alert came from (its ``[[clusters]]`` ``name``, or the one
    cluster's name made from the flat keys); '' for the demo's own alerts. Evidence,
    silences and proposals go back to this cluster."""
    _search: str | None = field(default=None, init=False, repr=False, compare=False)
    _severity: Severity | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")

    @property
    def severity(self) -> Severity:
        if self._severity is None:  # sorted and counted on every poll: parse once
            object.__setattr__(self, "_severity", Severity.parse(self.labels.get("severity")))
        return self._severity

    @property
    def summary(self) -> str:
        a = self.annotations
        return a.get("summary") or a.get("message") or a.get("description", "")

    @property
    def namespace(self) -> str:
        return self.labels.get("namespace", "")

    def target(self) -> str:
        """The most specific affected object, for example ``pod/payments-api-7d9f``."""
        for name in TARGET_LABELS[1:]:
            value = self.labels.get(name)
            if value:
                return f"{name}/{value}"
        return ""

    def age_seconds(self, now: datetime) -> float:
        return max((now - self.starts_at).total_seconds(), 0.0)

    def search_text(self) -> str:
        """Lower-cased text that free-text filtering matches against (computed once: a
        filter keystroke over 10,000 alerts must not rebuild 10,000 strings)."""
        if self._search is None:
            parts = [f"{k}={v}" for k, v in self.labels.items()]
            if self.cluster and "cluster" not in self.labels:
                parts.append(f"cluster={self.cluster}")  # the pseudo-label, as matchers see it
            parts.append(self.summary)
            parts.append(self.state.value)
            object.__setattr__(self, "_search", " ".join(parts).lower())  # a cache, not state
        return self._search


def format_age(seconds: float) -> str:
    """Compact age like ``45s``, ``12m``, ``3h``, ``2d`` (what k9s and karma show)."""
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m"
    if s < 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m" if s < 36000 else f"{s // 3600}h"
    return f"{s // 86400}d"


def matches_filter(alert: Alert, query: str) -> bool:
    """Free-text filter: every whitespace-separated term must occur somewhere."""
    terms = query.lower().split()
    if not terms:
        return True
    haystack = alert.search_text()
    return all(term in haystack for term in terms)


def sort_key(alert: Alert) -> tuple[int, float, str]:
    """Worst severity first, then the oldest, then by name."""
    return (int(alert.severity), alert.starts_at.timestamp(), alert.alertname)


def parse_time(value: object) -> datetime | None:
    """An RFC 3339 timestamp as Alertmanager and Prometheus write them (nanoseconds too)."""
    if not isinstance(value, str) or not value:
        return None
    text = value.replace("Z", "+00:00")
    # Go writes nanoseconds; Python's fromisoformat takes at most microseconds.
    if "." in text:
        head, _, tail = text.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        zone = tail[len(digits) :]
        text = f"{head}.{digits[:6]}{zone}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class AlertGroup:
    """One of Alertmanager's notification groups: its receiver, the ``group_by`` label
    values that define it, and its alerts."""

    receiver: str
    labels: Mapping[str, str]
    alerts: tuple[Alert, ...]
