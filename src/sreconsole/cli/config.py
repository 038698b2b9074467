"""``sreconsole config show``: the effective settings and where each value came from.

Exit codes: 0 ok; 2 the config file is malformed (``main`` reports it before this runs).
"""

from __future__ import annotations

from sreconsole.cli.exit_codes import EXIT_OK
from sreconsole.cli.output import rich_console, write_json


def effective(settings) -> dict[str, str]:
    """What a setting left at its default actually means in this run, by key: the data dir
    in use, and whether the demo runs (and why) whatever ``demo_mode`` says."""
    out = {"data_dir": str(settings.data_path)}
    if settings.demo_mode:
        out["demo_mode"] = "the demo runs (--demo or demo_mode)"
    elif settings.is_demo:
        out["demo_mode"] = "the demo runs: alertmanager.url is unset"
    else:
        from sreconsole.domain.text import redact_url

        out["demo_mode"] = f"live: alerts from {redact_url(settings.alertmanager.url)}"
    return out


def config_file_line(settings) -> str:
    path = settings.config_path
    if path is None:
        return "no config file"
    return f"file: {path}" if path.exists() else f"file: {path} (not found: defaults, environment and flags only)"


def run_config_show(settings, as_json: bool) -> int:
    """Every setting with its value and origin; secrets show only whether they are set.
    A default that depends on the run (the data dir, the demo) is shown as what it means."""
    from sreconsole.config import display_value, shown_value

    rows = settings.items()
    meaning = effective(settings)
    if as_json:
        out = {
            key: {"value": shown_value(value, is_secret), "origin": origin}
            for key, value, origin, is_secret, _ in rows
        }
        for key, text in meaning.items():
            out[key]["effective"] = text
        path = settings.config_path
        out["_config_file"] = {"value": str(path), "origin": "default", "exists": bool(path and path.exists())}
        write_json(out)
        return EXIT_OK
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"sreconsole settings ({config_file_line(settings)})", title_justify="left")
    table.add_column("setting", no_wrap=True)
    table.add_column("value")
    table.add_column("origin", style="dim")
    for key, value, origin, is_secret, _doc in rows:
        shown = display_value(value, is_secret)
        if key == "data_dir" and not value:
            shown = meaning[key]
            origin = "default ($XDG_DATA_HOME/sreconsole)" if origin == "default" else origin
        elif key == "demo_mode":
            shown = f"{shown} ({meaning[key]})"
        table.add_row(Text(key), Text(shown), Text(origin))
    rich_console().print(table)
    return EXIT_OK
