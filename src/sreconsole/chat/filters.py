"""What a live question narrows its answer to: label values and a time window.

"What is firing in payments in the last 10 minutes?" keeps the alerts with
``namespace=payments`` that started in the last ten minutes. Two rules keep this honest:

* **A label value is taken from a question only when it matches something real**: a value
  of a namespace, node, service, alertname (… :data:`FILTER_LABELS`) that the alert
  source, the review queue or the incident history knows (:class:`Known`). Words that
  are never values ("last", "them", "now", :data:`NEVER`) are not looked up at all, so
  "anything new in the last 10 minutes" or "which nodes have alerts on them" narrow
  nothing. A word asked for as a scope ("in frobnitz") that matches nothing known is kept
  apart (:attr:`Filters.unknown`), so the answer can say it found nothing for it.
* **Time phrases become a window** (:func:`time_window`): "in the last 10 minutes",
  "past hour", "since yesterday", "today", "this morning", "last night", "over the
  weekend", "since 9am"… Calendar phrases are read in the time zone of the clock given.
  "Last time" is not a window: it is what the history answer is about.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

FILTER_LABELS = (
    "alertname", "namespace", "node", "service", "deployment", "statefulset", "daemonset", "job", "pod",
    "persistentvolumeclaim", "instance", "team", "cluster", "app", "severity",
)
"""The labels a question may name a value of, in the order a word is looked up in (a
word that is both a namespace and part of a job name is the namespace)."""

NEVER = frozenset("""
a about above after again against ago all am an and any anyone anything are as at be been before being below between none
both but by can could did do does doing down during each else every everything few for from further had has have
having he her here hers him his how i if in into is it its itself just last latest least let like many me more most
much my myself new next no nor not nothing now of off on once only or other our ours out over own past previous prior
recent recently right same she should since so some someone something still such than that the their theirs them
themselves then there these they this those through to today tomorrow tonight too under until up upon us very was we
were what when where which while who whom why will with within would yesterday yet you your yours u ur r pls please
alert alerts alerting firing fire fired fires going gone broken wrong red healthy ok okay fine status moment minute
minutes min mins hour hours hr hrs day days week weeks month months morning afternoon evening night weekend time
times currently current active open live namespace namespaces ns node nodes pod pods service services cluster
clusters deployment deployments team teams job jobs queue review reviews approval approvals pending proposal proposals
incident incidents history thing things stuff issue issues problem problems general everyone anybody somebody
""".split())
"""Words that are never label values, whatever some label happens to hold ("none", "now")."""

_TOKEN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_.:/-]*[A-Za-z0-9])?")
_SCOPE = re.compile(
    r"\b(?:in|for|on|from|at|of)\s+(?:the\s+)?(?:namespace\s+|ns\s+|node\s+|service\s+|cluster\s+)?"
    r"([A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Known:
    """The label values the alert source, the queue and the history know, by label:
    ``{"namespace": {"payments": "payments"}}`` (lower case → as written)."""

    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    @classmethod
    def from_records(cls, alerts: Iterable = (), records: Iterable = (), incidents: Iterable = ()) -> Known:
        """From alerts (``.labels``), review records (``.labels``, ``.namespace``,
        ``.alertname``) and incidents (records or the store's dicts with ``labels`` and
        ``alertname``)."""
        values: dict[str, dict[str, str]] = {}

        def add(labels: Mapping | None) -> None:
            for k, v in (labels or {}).items():
                if k in FILTER_LABELS and isinstance(v, str) and v and v.lower() not in NEVER:
                    values.setdefault(k, {}).setdefault(v.lower(), v)

        for a in alerts or ():
            add(getattr(a, "labels", None))
        for r in records or ():
            add({**dict(getattr(r, "labels", None) or {}), "namespace": getattr(r, "namespace", "") or "",
                 "alertname": getattr(r, "alertname", "") or ""})
        for inc in incidents or ():
            get = inc.get if isinstance(inc, Mapping) else lambda k, d=None, i=inc: getattr(i, k, d)
            add({**dict(get("labels", None) or {}), "alertname": get("alertname", "") or ""})
        return cls(values)

    def lookup(self, word: str) -> tuple[str, str] | None:
        """(label, value) a question word names, or None. A plural finds its singular
        ("criticals", "warnings")."""
        w = word.lower()
        if w in NEVER or len(w) < 2:
            return None
        for candidate in (w, w[:-1] if w.endswith("s") and len(w) > 3 else None):
            if candidate is None or candidate in NEVER:
                continue
            for label in FILTER_LABELS:
                value = self.values.get(label, {}).get(candidate)
                if value is not None:
                    return label, value
        return None


@dataclass(frozen=True)
class Filters:
    labels: dict[str, str] = field(default_factory=dict)
    """Label → value the answer is narrowed to; several values of one label are joined
    with ``|`` (either matches, as in an Alertmanager ``=~`` matcher)."""
    since: datetime | None = None
    until: datetime | None = None
    time: str = ""
    """The time phrase as the question put it ("in the last 10 minutes")."""
    unknown: tuple[str, ...] = ()
    """Words asked for as a scope ("in frobnitz") that nothing known matches."""

    def values(self, label: str) -> set[str]:
        return set(self.labels[label].split("|")) if label in self.labels else set()

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a record with these labels is inside the label filters."""
        return all(str(labels.get(k, "")).lower() in {v.lower() for v in self.values(k)} for k in self.labels)

    def within(self, when: datetime | None) -> bool:
        """Whether a moment is inside the time window (no window: always)."""
        if self.since is None and self.until is None:
            return True
        if when is None or not hasattr(when, "timestamp"):
            return False
        if when.tzinfo is None and (self.since or self.until).tzinfo is not None:
            when = when.replace(tzinfo=(self.since or self.until).tzinfo)
        return (self.since is None or when >= self.since) and (self.until is None or when < self.until)

    def as_dict(self) -> dict:
        out: dict = {"labels": dict(self.labels)}
        if self.since is not None:
            out["since"] = self.since.isoformat()
        if self.until is not None:
            out["until"] = self.until.isoformat()
        if self.time:
            out["time"] = self.time
        if self.unknown:
            out["unknown"] = list(self.unknown)
        return out


def extract(question: str, known: Known, now: datetime) -> Filters:
    """The label filters and time window of a live question."""
    since, until, phrase, rest = time_window(question, now)
    labels: dict[str, list[str]] = {}
    for token in _TOKEN.findall(rest):
        hit = known.lookup(token)
        if hit is not None:
            label, value = hit
            if value not in labels.setdefault(label, []):
                labels[label].append(value)
    matched = {v.lower() for vs in labels.values() for v in vs}
    unknown = []
    for m in _SCOPE.finditer(rest):
        word = m.group(1).lower()
        if word in NEVER or word in matched or known.lookup(word) is not None or word.isdigit():
            continue
        if word not in unknown:
            unknown.append(word)
    return Filters({k: "|".join(v) for k, v in labels.items()}, since, until, phrase, tuple(unknown))


# -- time ------------------------------------------------------------------------------------

_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "ten": 10, "fifteen": 15,
            "twenty": 20, "thirty": 30, "few": 3, "couple of": 2, "couple": 2}
_UNITS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "wk": 604800, "wks": 604800, "week": 604800, "weeks": 604800,
    "month": 2592000, "months": 2592000,
}
_UNIT = "|".join(sorted(_UNITS, key=len, reverse=True))
_COUNT = r"\d+|an?|one|two|three|four|five|six|ten|fifteen|twenty|thirty|few|couple(?: of)?"
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WINDOWS = [
    ("relative", re.compile(rf"\b(?:(?:in|during|over|within|for|from)\s+)?(?:the\s+)?(?:last|past|previous|prior)\s+(?:(?P<n>{_COUNT})\s*)?(?P<unit>{_UNIT})\b")),
    ("ago", re.compile(rf"\b(?:since\s+)?(?P<n>{_COUNT})\s*(?P<unit>{_UNIT})\s+ago\b")),
    ("since_yesterday", re.compile(r"\bsince\s+yesterday\b")),
    ("since_last_night", re.compile(r"\bsince\s+last\s+night\b")),
    ("last_night", re.compile(r"\b(?:last\s+night|overnight)\b")),
    ("yesterday", re.compile(r"\byesterday\b")),
    ("weekend", re.compile(r"\b(?:over|during|on|at)\s+the\s+weekend\b|\bthis\s+weekend\b")),
    ("this_week", re.compile(r"\bthis\s+week\b")),
    ("this_month", re.compile(r"\bthis\s+month\b")),
    ("morning", re.compile(r"\b(?:since\s+)?this\s+morning\b")),
    ("afternoon", re.compile(r"\b(?:since\s+)?this\s+afternoon\b")),
    ("evening", re.compile(r"\b(?:since\s+)?(?:this\s+evening|tonight)\b")),
    ("today", re.compile(r"\b(?:so\s+far\s+)?today\b|\bsince\s+midnight\b")),
    ("since_clock", re.compile(r"\bsince\s+(?P<h>\d{1,2})(?::(?P<m>\d{2}))?\s*(?P<ampm>am|pm)?\b")),
    ("since_day", re.compile(r"\bsince\s+(?P<day>" + "|".join(_DAYS) + r")\b")),
]


def time_window(question: str, now: datetime) -> tuple[datetime | None, datetime | None, str, str]:
    """(since, until, the phrase, the question without it). The first phrase found decides."""
    q = question.lower()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    for kind, pattern in _WINDOWS:
        m = pattern.search(q)
        if m is None:
            continue
        since = until = None
        if kind in ("relative", "ago"):
            n = m.group("n")
            count = 1 if n is None else int(n) if n.isdigit() else _NUMBERS.get(n, 1)
            since = now - timedelta(seconds=count * _UNITS[m.group("unit")])
        elif kind == "since_yesterday":
            since = midnight - timedelta(days=1)
        elif kind == "since_last_night":
            since = midnight - timedelta(hours=6)
        elif kind == "last_night":
            since, until = midnight - timedelta(hours=6), midnight + timedelta(hours=6)
        elif kind == "yesterday":
            since, until = midnight - timedelta(days=1), midnight
        elif kind == "weekend":
            weekday = now.weekday()
            if weekday >= 5:
                since = midnight - timedelta(days=weekday - 5)
            else:
                since, until = midnight - timedelta(days=weekday + 2), midnight - timedelta(days=weekday)
        elif kind == "this_week":
            since = midnight - timedelta(days=now.weekday())
        elif kind == "this_month":
            since = midnight.replace(day=1)
        elif kind == "morning":
            since = midnight + timedelta(hours=6)
        elif kind == "afternoon":
            since = midnight + timedelta(hours=12)
        elif kind == "evening":
            since = midnight + timedelta(hours=18)
        elif kind == "today":
            since = midnight
        elif kind == "since_clock":
            hour, minute = int(m.group("h")), int(m.group("m") or 0)
            if m.group("ampm") == "pm" and hour < 12:
                hour += 12
            elif m.group("ampm") == "am" and hour == 12:
                hour = 0
            if hour > 23 or minute > 59:
                continue
            since = midnight.replace(hour=hour, minute=minute)
            if since > now:
                since -= timedelta(days=1)
        elif kind == "since_day":
            back = (now.weekday() - _DAYS.index(m.group("day"))) % 7
            since = midnight - timedelta(days=back)
        phrase = question[m.start():m.end()].strip()
        rest = question[: m.start()] + " " + question[m.end():]
        return since, until, phrase, rest
    return None, None, "", question
