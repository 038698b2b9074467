"""Silences and acknowledgements (a short silence marked as an ack, as karma does)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sreconsole.domain.alerts import Alert, AlertState, parse_time
from sreconsole.domain.matchers import LABEL_NAME, Matcher, MatcherError, MatchType
from sreconsole.domain.text import to_str

ACK_PREFIX = "ACK!"
"""Comment prefix that marks a silence as an acknowledgement (karma uses the same idea)."""


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: datetime | None
    ends_at: datetime | None
    created_by: str
    comment: str
    state: str  # active | pending | expired
    cluster: str = ""
    """The cluster whose Alertmanager holds it, with several clusters ("" otherwise): it
    mutes only that cluster's alerts, however alike another cluster's labels are."""

    @property
    def is_ack(self) -> bool:
        return self.comment.startswith(ACK_PREFIX)


def parse_silence(raw: Any) -> Silence | None:
    if not isinstance(raw, dict) or not raw.get("id"):
        return None
    matchers = []
    for m in raw.get("matchers") or []:
        if not isinstance(m, dict):
            continue
        is_regex = bool(m.get("isRegex"))
        is_equal = m.get("isEqual", True) is not False
        kind = {(False, True): MatchType.EQUAL, (False, False): MatchType.NOT_EQUAL, (True, True): MatchType.REGEX, (True, False): MatchType.NOT_REGEX}[(is_regex, is_equal)]
        try:
            matchers.append(Matcher.create(to_str(m.get("name")), kind, to_str(m.get("value"))))
        except MatcherError:
            continue
    status = raw.get("status") if isinstance(raw.get("status"), dict) else {}
    return Silence(
        id=to_str(raw["id"]),
        matchers=tuple(matchers),
        starts_at=parse_time(raw.get("startsAt")),
        ends_at=parse_time(raw.get("endsAt")),
        created_by=to_str(raw.get("createdBy")),
        comment=to_str(raw.get("comment")),
        state=to_str(status.get("state", "")),
    )


def matchers_for(alert: Alert) -> list[Matcher]:
    """Equality matchers on every label of the alert.

    Alertmanager identifies an alert by its whole label set (the fingerprint is a hash of
    all of them; annotations are not part of it), and its own UI and karma fill a silence
    for one alert with all its labels. Leaving one out (``severity`` was, once) widens the
    silence to every alert that differs only there. A label whose name no matcher can
    carry is left out; :func:`muted_alerts` then shows what that widens to."""
    return [Matcher.create(k, MatchType.EQUAL, v) for k, v in sorted(alert.labels.items()) if LABEL_NAME.fullmatch(k)]


def muted_alerts(matchers: Iterable[Matcher], alerts: Iterable[Alert]) -> list[Alert]:
    """The alerts not yet resolved that a silence with ``matchers`` would mute.

    Equality on all of an alert's labels still mutes any alert that has those labels and
    more (``{alertname="X", severity="warning"}`` also matches the same alert with a
    ``pod`` label): the dialogs show this list and ask before muting more than one."""
    ms = list(matchers)
    return [a for a in alerts if a.state is not AlertState.RESOLVED and all(m.matches(a.labels) for m in ms)]


RECENT_EXPIRED = timedelta(hours=24)
"""How far back the Silences view and ``silences list`` show expired silences."""

_STATE_ORDER = {"active": 0, "pending": 1, "expired": 2}


@dataclass(frozen=True, slots=True)
class SilenceRow:
    """One silence and the alerts it mutes now (none unless it is active)."""

    silence: Silence
    muted: tuple[Alert, ...]


def silence_rows(
    silences: Iterable[Silence], alerts: Iterable[Alert], now: datetime, expired_within: timedelta = RECENT_EXPIRED
) -> list[SilenceRow]:
    """Active, pending and recently expired silences, each with the alerts it mutes now.

    The count comes from the silence's matchers against the alerts of the last poll (the
    same RE2 matchers the filter uses), not from each alert's ``silencedBy``: a silence
    created a second ago already counts, and one that matches nothing shows 0, which is
    the point of the view. Active first (soonest to end first), then pending, then expired
    (most recent first)."""
    pool = [a for a in alerts if a.state is not AlertState.RESOLVED]
    rows = []
    for s in silences:
        if s.state == "expired" and (s.ends_at is None or now - s.ends_at > expired_within):
            continue
        mine = [a for a in pool if a.cluster == s.cluster] if s.cluster else pool
        muted = tuple(muted_alerts(s.matchers, mine)) if s.state == "active" else ()
        rows.append(SilenceRow(s, muted))
    far = datetime.max.replace(tzinfo=now.tzinfo)

    def key(row: SilenceRow):
        s = row.silence
        end = s.ends_at or far
        when = -end.timestamp() if s.state == "expired" else (s.starts_at or far).timestamp() if s.state == "pending" else end.timestamp()
        return (_STATE_ORDER.get(s.state, 3), when, s.id)

    return sorted(rows, key=key)


_DURATION = re.compile(r"^\s*(?:(\d{1,12})\s*d)?\s*(?:(\d{1,12})\s*h)?\s*(?:(\d{1,12})\s*m)?\s*(?:(\d{1,12})\s*s)?\s*$")


def parse_duration(text: str, longest: timedelta = timedelta(days=365), too_long: str = "use a config change, not a silence") -> timedelta:
    """``2h``, ``30m``, ``1d12h``, ``90s`` → timedelta. Raises ValueError with a clear message
    (also for a number of days no timedelta can hold: ``99999999999d``)."""
    m = _DURATION.match(text or "")
    if not m or not any(m.groups()):
        raise ValueError(f"duration {text!r}: use forms like 30m, 2h, 1d12h")
    d, h, mi, s = (int(x) if x else 0 for x in m.groups())
    seconds = d * 86400 + h * 3600 + mi * 60 + s  # in whole numbers first: timedelta() overflows
    if seconds <= 0:
        raise ValueError("duration must be positive")
    if seconds > longest.total_seconds():
        raise ValueError(f"duration {text!r} is longer than {longest.days} days: {too_long}")
    return timedelta(seconds=seconds)
