"""``sreconsole config show``: the effective settings and where each value came from.

Exit codes: 0 ok; 2 the config file is malformed (``main`` reports it before this runs).
"""

from __future__ import annotations

from sreconsole.cli.exit_codes import EXIT_OK
from sreconsole.cli.output import rich_console, write_json


def run_config_show(settings, as_json: bool) -> int:
    """Every setting with its value and origin; secrets show only whether they are set."""
    from sreconsole.config import display_value, shown_value

    rows = settings.items()
    if as_json:
        out = {
            key: {"value": shown_value(value, is_secret), "origin": origin}
            for key, value, origin, is_secret, _ in rows
        }
        out["_config_file"] = {"value": str(settings.config_path), "origin": "default"}
        write_json(out)
        return EXIT_OK
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"sreconsole settings (file: {settings.config_path})", title_justify="left")
    table.add_column("setting", no_wrap=True)
    table.add_column("value")
    table.add_column("origin", style="dim")
    for key, value, origin, is_secret, _doc in rows:
        table.add_row(Text(key), Text(display_value(value, is_secret)), Text(origin))
    rich_console().print(table)
    return EXIT_OK
