"""The order of the Alerts table: sorting, grouping, and the header rows between groups.

Plain Python over :class:`~sreconsole.domain.alerts.Alert` (no widgets), so the pane only
decides *when* to reorder — once per poll or key, cached — and this decides *how*.
"""

from __future__ import annotations

from collections.abc import Iterable

from sreconsole.domain.alerts import Alert

GROUPINGS = ("alertname", "namespace", "cluster", "severity", "incident", "none")
"""``cluster`` is offered only when several clusters are watched (the pane skips it)."""
SORTINGS = ("severity", "age", "name")
GROUP_PREFIX = "group:"
"""Row keys of group headers start with this (alert rows are keyed by fingerprint)."""


def sort_key(sorting: str):
    if sorting == "age":
        return lambda a: (a.starts_at, int(a.severity), a.alertname)
    if sorting == "name":
        return lambda a: (a.alertname.lower(), int(a.severity), a.starts_at)
    return lambda a: (int(a.severity), a.starts_at, a.alertname)


def group_of(alert: Alert, grouping: str) -> str:
    if grouping == "alertname":
        return alert.alertname or "(no alertname)"
    if grouping == "namespace":
        return alert.namespace or "(no namespace)"
    if grouping == "severity":
        return alert.severity.label
    if grouping == "cluster":
        return alert.cluster or "(default)"
    return ""


def ordered(pool: Iterable[Alert], sorting: str, grouping: str) -> list[tuple[Alert, str]]:
    """(alert, group) sorted, then grouped with the groups in order of their first alert
    (the sort order holds inside a group)."""
    pool = sorted(pool, key=sort_key(sorting))
    if grouping == "none":
        return [(a, "") for a in pool]
    if grouping == "incident":
        return by_incident(pool)
    keyed = [(group_of(a, grouping), a) for a in pool]
    rank: dict[str, int] = {}
    for g, _ in keyed:
        if g not in rank:
            rank[g] = len(rank)
    keyed.sort(key=lambda pair: rank[pair[0]])  # stable: the sort order holds inside a group
    return [(a, g) for g, a in keyed]


def by_incident(pool: list[Alert]) -> list[tuple[Alert, str]]:
    """(alert, incident) with each incident's most likely cause first
    (:func:`sreconsole.triage.correlation.correlate`); the group name is the incident's short
    id and title, unique per incident."""
    from sreconsole.triage.correlation import correlate

    return [(a, f"{inc.key.split(':', 1)[1][:6]} {inc.title()}") for inc in correlate(pool) for a in inc.alerts]


def display_rows(visible: list[tuple[Alert, str]], grouping: str) -> list[tuple[str, Alert | None, str, int]]:
    """(row key, alert or None for a group header, group name, group size).

    Grouped by namespace or severity, every group gets its header, a group of one alert
    too: without it the lone alert read as part of the group above (the payments crash
    loop under ``ns (no namespace)``). Grouped by alertname a lone alert's row names its
    group itself, and at 80x24 every line counts: no header over a single row there.
    """
    if grouping == "none":
        return [(a.fingerprint, a, "", 0) for a, _ in visible]
    sizes: dict[str, int] = {}
    for _, g in visible:
        sizes[g] = sizes.get(g, 0) + 1
    rows: list[tuple[str, Alert | None, str, int]] = []
    last = None
    for a, g in visible:
        if g != last and (sizes[g] > 1 or grouping != "alertname"):
            rows.append((GROUP_PREFIX + g, None, g, sizes[g]))
        last = g
        rows.append((a.fingerprint, a, g, 0))
    return rows
