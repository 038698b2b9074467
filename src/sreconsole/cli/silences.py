"""``sreconsole silences list``: every silence the Silences view shows (``S`` in the Alerts
pane): active, pending and expired in the last 24 h, with how many alerts each mutes now.

Exit codes: 0 ok; 1 the alerts or the silences cannot be read (stderr names the source and why).
"""

from __future__ import annotations

import sys

from sreconsole.cli.exit_codes import EXIT_FAILED, EXIT_OK
from sreconsole.cli.output import write_json


def _time(moment) -> str | None:
    return moment.isoformat() if moment else None


def run_silences_list(settings, as_json: bool, wide: bool = False) -> int:
    from sreconsole.services.environment import fetch_silences_once
    from sreconsole.sources.base import SourceError

    try:
        snapshot, rows = fetch_silences_once(settings)
    except SourceError as exc:
        print(f"sreconsole: silences not read: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if rows is None:
        print(f"sreconsole: {snapshot.health.name}: {snapshot.error}", file=sys.stderr)
        return EXIT_FAILED
    if as_json:
        write_json([
            {
                "id": r.silence.id,
                "state": r.silence.state,
                "matchers": [m.to_api() for m in r.silence.matchers],
                "created_by": r.silence.created_by,
                "comment": r.silence.comment,
                "starts_at": _time(r.silence.starts_at),
                "ends_at": _time(r.silence.ends_at),
                "mutes": len(r.muted),
                "muted_fingerprints": [a.fingerprint for a in r.muted],
            }
            for r in rows
        ])
        return EXIT_OK
    from sreconsole.cli.tables import Column, print_table

    columns = [
        Column("id", key=True), Column("state", key=True), Column("mutes", key=True, justify="right"),
        Column("ends at", key=True), Column("by"), Column("starts at", wide=True), Column("matchers"),
        Column("comment", second_line=True),
    ]
    style = {"active": "bold", "expired": "dim", "pending": "yellow"}
    table = []
    for r in rows:
        s = r.silence
        mutes = (str(len(r.muted)), "bold red" if s.state == "active" and not r.muted else "")
        table.append([s.id, (s.state, style.get(s.state, "")), mutes, _time(s.ends_at) or "", s.created_by,
                      _time(s.starts_at) or "", ", ".join(str(m) for m in s.matchers), s.comment])
    print_table(columns, table, title=f"{len(rows)} silences on {snapshot.health.name}", wide=wide,
                empty=f"no silences on {snapshot.health.name} (active, pending or expired in 24 h)")
    return EXIT_OK
