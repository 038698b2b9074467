"""One list behaviour for every list in the app: the alerts, the review queue, the training
runs, Bruno's citations and every dialog's options move with the same keys, under the same
binding ids, so one ``[keymap]`` line remaps them all.

``home``/``end`` go to the first/last row (not sideways, as a DataTable's own do), and no
list wraps from its last item to its first: an operator holding ``j`` stops at the end.
"""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import DataTable, OptionList

LIST_BINDINGS = [
    Binding("j,down", "cursor_down", "Down", show=False, id="list.down"),
    Binding("k,up", "cursor_up", "Up", show=False, id="list.up"),
    Binding("g,home", "first", "First row", show=False, id="list.top"),
    Binding("G,end", "last", "Last row", show=False, id="list.bottom"),
    Binding("pagedown,ctrl+f", "page_down", "Page down", show=False, id="list.page_down"),
    Binding("pageup,ctrl+b", "page_up", "Page up", show=False, id="list.page_up"),
]
"""Every list's movement keys; each list class implements these six actions."""


class KeyedTable(DataTable):
    """A row-cursor DataTable with the app's list keys."""

    BINDINGS = LIST_BINDINGS

    def action_first(self) -> None:
        self.action_scroll_top()

    def action_last(self) -> None:
        self.action_scroll_bottom()


class ChoiceList(OptionList):
    """An OptionList with the app's list keys that stops at its ends instead of wrapping."""

    BINDINGS = LIST_BINDINGS

    def _step(self, direction: int) -> None:
        if not self.option_count:
            return
        if self.highlighted is None:
            self.action_first() if direction > 0 else self.action_last()
            return
        index = self.highlighted + direction
        while 0 <= index < self.option_count:
            if not self.get_option_at_index(index).disabled:
                self.highlighted = index
                return
            index += direction

    def action_cursor_down(self) -> None:
        self._step(1)

    def action_cursor_up(self) -> None:
        self._step(-1)
