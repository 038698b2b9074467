"""``?``: every binding of the app, with the keys in force after the user's keymap."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from sreconsole.tui.render import safe


def binding_rows(app, groups: list[tuple[str, list[Binding]]]) -> list[tuple[str, str, str, str]]:
    """``(group, keys, description, id)`` with remapped keys applied."""
    keymap = getattr(app, "_keymap", {}) or {}
    rows = []
    for group, bindings in groups:
        for b in bindings:
            keys = keymap.get(b.id, b.key) if b.id else b.key
            shown = ", ".join(app.get_key_display(Binding(k.strip(), b.action)) for k in keys.split(","))
            rows.append((group, shown, b.description or b.action, b.id or ""))
    return rows


class HelpScreen(ModalScreen[None]):
    """A scrollable table of bindings; any of escape, q or ? closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 76; max-width: 100%; height: 90%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close", id="help.close"),
        Binding("j,down", "scroll('down')", "Down", show=False, id="help.down"),
        Binding("k,up", "scroll('up')", "Up", show=False, id="help.up"),
    ]

    def __init__(self, groups: list[tuple[str, list[Binding]]]) -> None:
        super().__init__()
        self.groups = groups

    def compose(self) -> ComposeResult:
        table = Table(box=None, expand=True, show_header=True, header_style="bold")
        table.add_column("where", style="dim", no_wrap=True)
        table.add_column("keys", style="bold", no_wrap=True)
        table.add_column("does")
        table.add_column(Text("id (for [keymap])"), style="dim", no_wrap=True)
        for group, keys, description, binding_id in binding_rows(self.app, self.groups):
            table.add_row(safe(group, None), safe(keys, None), safe(description, None, single_line=False), safe(binding_id, None))
        with VerticalScroll():
            yield Static(Text("Key bindings — remap any id in the [keymap] table of config.toml", style="bold"))
            yield Static(table, id="help-table")
            yield Static(Text("ctrl+p opens the command palette: every action is there too.", style="dim"))

    def action_scroll(self, direction: str) -> None:
        scroller = self.query_one(VerticalScroll)
        scroller.scroll_relative(y=1 if direction == "down" else -1, animate=False)
