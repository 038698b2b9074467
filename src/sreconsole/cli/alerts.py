"""``sreconsole alerts list``: the live alerts from the configured source (or the demo).

Exit codes: 0 ok; 1 the source cannot be read (stderr names it and why); 2 a bad --filter.
"""

from __future__ import annotations

import sys

from sreconsole.cli.exit_codes import EXIT_CONFIG, EXIT_FAILED, EXIT_OK
from sreconsole.cli.output import rich_console, write_json


def run_alerts_list(settings, filter_text: str, as_json: bool) -> int:
    """What the Alerts pane shows, for scripts: exit 1 when the source cannot be read."""
    from sreconsole.domain.alerts import format_age
    from sreconsole.domain.matchers import MatcherError, parse_filter
    from sreconsole.domain.text import clean
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

    alerts = sorted((a for a in snapshot.alerts if flt.matches(a.labels, a.search_text())), key=sort_key)
    if as_json:
        write_json([
            {
                "fingerprint": a.fingerprint,
                "alertname": a.alertname,
                "severity": a.severity.label,
                "state": a.state.value,
                "labels": dict(a.labels),
                "annotations": dict(a.annotations),
                "starts_at": a.starts_at.isoformat(),
                "silenced_by": list(a.silenced_by),
                "inhibited_by": list(a.inhibited_by),
            }
            for a in alerts
        ])
        return EXIT_OK
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{len(alerts)} alerts from {snapshot.health.name}", title_justify="left")
    for column, width in (("severity", 8), ("alertname", 12), ("target", 10), ("age", 5), ("state", 9), ("summary", 10)):
        table.add_column(column, no_wrap=column != "summary", overflow="ellipsis", min_width=width)
    for a in alerts:
        target = "/".join(x for x in (a.namespace, a.target().split("/", 1)[-1]) if x)
        table.add_row(*(Text(clean(v, 200)) for v in (a.severity.label, a.alertname, target, format_age(a.age_seconds(snapshot.fetched_at)), a.state.value, a.summary)))
    rich_console().print(table)
    return EXIT_OK
