"""``sreconsole doctor``: check the configured sources and the local prerequisites.

Exit codes: 0 every configured check passed; 1 a check failed (its row says why).
"""

from __future__ import annotations

from sreconsole.cli.exit_codes import EXIT_OK
from sreconsole.cli.output import rich_console, write_json


def run_doctor(settings, as_json: bool) -> int:
    """One row per check; the exit code is the services layer's verdict on them all."""
    from sreconsole.services.doctor import exit_code, run_checks

    checks = run_checks(settings)
    code = exit_code(checks)
    if as_json:
        write_json([{"check": c.name, "ok": c.ok, "detail": c.detail} for c in checks])
        return code
    from rich.table import Table
    from rich.text import Text

    table = Table(title="sreconsole doctor", title_justify="left")
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("detail")
    for c in checks:
        status = Text("ok", style="green") if c.ok else Text("failed", style="bold red") if c.ok is False else Text("-", style="dim")
        table.add_row(Text(c.name), status, Text(c.detail))
    console = rich_console()
    console.print(table)
    console.print("all configured checks passed" if code == EXIT_OK else "some checks failed", style="green" if code == EXIT_OK else "bold red")
    return code
