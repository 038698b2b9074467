"""Small widgets shared by the panes."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import DataTable


class VimTable(DataTable):
    """A DataTable that also answers to ``j``/``k``/``g``/``G`` like every list in k9s."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="list.down"),
        Binding("k", "cursor_up", "Up", show=False, id="list.up"),
        Binding("g", "scroll_top", "Top", show=False, id="list.top"),
        Binding("G", "scroll_bottom", "Bottom", show=False, id="list.bottom"),
    ]
