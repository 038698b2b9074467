"""``sreconsole alerts list``: the live alerts from the configured source (or the demo).

Exit codes: 0 ok; 1 the source cannot be read (stderr names it and why); 2 a bad --filter.
"""

from __future__ import annotations

import sys

from sreconsole.cli.exit_codes import EXIT_CONFIG, EXIT_FAILED, EXIT_OK
from sreconsole.cli.output import write_json


def run_alerts_list(settings, filter_text: str, as_json: bool, wide: bool = False) -> int:
    """What the Alerts pane shows, for scripts: exit 1 when the source cannot be read."""
    from sreconsole.domain.alerts import format_age
    from sreconsole.domain.matchers import MatcherError, parse_filter
    from sreconsole.services.environment import fetch_alerts_once

    try:
        flt = parse_filter(filter_text)
    except MatcherError as exc:
        print(f"sreconsole: invalid filter: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    snapshot = fetch_alerts_once(settings)
    if snapshot.error:
        print(f"sreconsole: {snapshot.health.name}: {snapshot.error}", file=sys.stderr)
        return EXIT_FAILED
    from sreconsole.domain.alerts import sort_key

    alerts = sorted((a for a in snapshot.alerts if flt.matches_alert(a)), key=sort_key)
    clusters = [c.name for c in settings.cluster_list()]
    default_cluster = clusters[0]  # the demo's alerts and those of one plain Alertmanager name none
    if as_json:
        write_json([
            {
                "cluster": a.cluster or default_cluster,
                "fingerprint": a.fingerprint,
                "alertname": a.alertname,
                "severity": a.severity.label,
                "state": a.state.value,
                "labels": dict(a.labels),
                "annotations": dict(a.annotations),
                "starts_at": a.starts_at.isoformat(),
                "silenced_by": list(a.silenced_by),
                "acked": any(s in snapshot.acks for s in a.silenced_by),
                "inhibited_by": list(a.inhibited_by),
            }
            for a in alerts
        ])
        return EXIT_OK
    from sreconsole.cli.tables import Column, print_table

    columns = [
        Column("severity", key=True), Column("name", key=True), Column("target"), Column("age", key=True),
        Column("state", key=True), Column("fingerprint", wide=True), Column("starts at", wide=True),
        Column("summary", second_line=True),  # free text last: a pipe's columns before it split on spaces
    ]
    several = len(clusters) > 1
    if several:
        columns.insert(0, Column("cluster", key=True))  # which cluster is the first thing to know
    sev_style = {"critical": "bold red", "warning": "bold yellow"}
    rows = []
    for a in alerts:
        target = "/".join(x for x in (a.namespace, a.target().split("/", 1)[-1]) if x)
        state = "acked" if any(s in snapshot.acks for s in a.silenced_by) else a.state.value
        rows.append([(a.severity.label, sev_style.get(a.severity.label, "")), a.alertname, target,
                     format_age(a.age_seconds(snapshot.fetched_at)), (state, "bold" if state == "firing" else "dim"),
                     a.fingerprint, a.starts_at.isoformat(), a.summary])
        if several:
            rows[-1].insert(0, a.cluster or default_cluster)
    print_table(columns, rows, title=f"{len(alerts)} alerts from {snapshot.health.name}", wide=wide,
                empty=f"no alerts from {snapshot.health.name}" + (" match the filter" if filter_text else ""))
    return EXIT_OK
