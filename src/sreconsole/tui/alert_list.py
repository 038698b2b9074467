"""A virtual table for thousands of alerts: only the rows on screen are ever rendered.

Textual's DataTable keeps every row as widgets' data and re-measures on change; at 10,000
alerts a refresh or a filter keystroke took seconds. Here the pane hands over an ordered
list of row keys and a function that renders one row; scrolling, the cursor and repaints
cost O(rows on screen), whatever the number of alerts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from sreconsole.tui.list_keys import LIST_BINDINGS
from sreconsole.tui.render import safe

Column = tuple[str, str, int]
"""(key, header label, width)"""


class AlertList(ScrollView, can_focus=True):
    """Rows of cells under a fixed header line; ``j``/``k``/``g``/``G`` move the cursor."""

    DEFAULT_CSS = """
    AlertList { background: $surface; }
    AlertList > .alert-list--header { text-style: bold; background: $panel; }
    AlertList > .alert-list--cursor { background: $primary 40%; text-style: bold; }
    AlertList:focus > .alert-list--cursor { background: $primary 70%; }
    AlertList > .alert-list--even { background: $surface; }
    AlertList > .alert-list--odd { background: $surface-lighten-1; }
    """
    COMPONENT_CLASSES = {"alert-list--header", "alert-list--cursor", "alert-list--even", "alert-list--odd"}

    BINDINGS = [
        *LIST_BINDINGS,
        Binding("enter", "select", "Detail", id="list.select"),
    ]

    cursor_row: reactive[int] = reactive(0, always_update=False)

    @dataclass
    class Highlighted(Message):
        list: AlertList
        key: str | None

        @property
        def control(self) -> AlertList:
            return self.list

    @dataclass
    class Selected(Message):
        list: AlertList
        key: str

        @property
        def control(self) -> AlertList:
            return self.list

    def __init__(self, columns: Sequence[Column], render_row: Callable[[str], list[Text]], **kwargs) -> None:
        super().__init__(**kwargs)
        self.columns = list(columns)
        self.render_row = render_row
        self._keys: list[str] = []
        self._index: dict[str, int] = {}

    # -- data -----------------------------------------------------------------------

    @property
    def keys(self) -> list[str]:
        return self._keys

    @property
    def row_count(self) -> int:
        return len(self._keys)

    def index_of(self, key: str) -> int | None:
        return self._index.get(key)

    def cells(self, key: str) -> list[Text]:
        return self.render_row(key)

    @property
    def cursor_key(self) -> str | None:
        return self._keys[self.cursor_row] if 0 <= self.cursor_row < len(self._keys) else None

    def set_rows(self, keys: list[str], keep: str | None = None) -> None:
        """Replace the rows. The cursor stays on ``keep`` (or on the row it was on) and
        the scroll offset is kept unless the cursor would leave the screen."""
        keep = keep if keep is not None else self.cursor_key
        self._keys = keys
        self._index = {k: i for i, k in enumerate(keys)}
        self.virtual_size = Size(self._content_width(), len(keys) + 1)
        target = self._index.get(keep, min(self.cursor_row, max(len(keys) - 1, 0))) if keep is not None else 0
        if target != self.cursor_row:
            self.cursor_row = target
        else:
            self.post_message(self.Highlighted(self, self.cursor_key))
        self._keep_cursor_visible()
        self.refresh()

    def refresh_rows(self) -> None:
        """Cells changed (ages, states) but not the rows: repaint what is on screen."""
        self.refresh()

    def refresh_keys(self, keys: Iterable[str]) -> int:
        """The cells of ``keys`` changed: repaint those of them that are on screen, and
        nothing when none is (a triage pass over 10,000 alerts fills the column in 40
        batches, most of them far below the screen). Returns how many rows it repainted."""
        top = int(self.scroll_y)
        height = max(self.scrollable_content_region.height - 1, 0)  # line 0 is the header
        rows = sorted(i for k in keys if (i := self._index.get(k)) is not None and top <= i < top + height)
        if rows:
            self.refresh_lines(rows[0] + 1, rows[-1] - rows[0] + 1)
        return len(rows)

    def set_column_width(self, key: str, width: int) -> None:
        for i, (k, label, w) in enumerate(self.columns):
            if k == key and w != width:
                self.columns[i] = (k, label, width)
                self.virtual_size = Size(self._content_width(), len(self._keys) + 1)
                self.refresh()

    def _content_width(self) -> int:
        return sum(w + 2 for _, _, w in self.columns if w > 0)

    # -- cursor -----------------------------------------------------------------------

    def watch_cursor_row(self, old: int, new: int) -> None:
        self._keep_cursor_visible()
        self.refresh()
        self.post_message(self.Highlighted(self, self.cursor_key))

    def move_cursor(self, row: int) -> None:
        if self._keys:
            self.cursor_row = max(0, min(row, len(self._keys) - 1))

    def _page(self) -> int:
        return max(self.scrollable_content_region.height - 2, 1)

    def _keep_cursor_visible(self) -> None:
        height = self.scrollable_content_region.height - 1  # minus the header line
        if height <= 0:
            return
        top = int(self.scroll_y)
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True)
        elif self.cursor_row >= top + height:
            self.scroll_to(y=self.cursor_row - height + 1, animate=False, immediate=True)

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor_row + 1)

    def action_cursor_up(self) -> None:
        self.move_cursor(self.cursor_row - 1)

    def action_first(self) -> None:
        self.move_cursor(0)

    def action_last(self) -> None:
        self.move_cursor(len(self._keys) - 1)

    def action_page_down(self) -> None:
        self.move_cursor(self.cursor_row + self._page())

    def action_page_up(self) -> None:
        self.move_cursor(self.cursor_row - self._page())

    def action_select(self) -> None:
        if self.cursor_key is not None:
            self.post_message(self.Selected(self, self.cursor_key))

    # -- rendering --------------------------------------------------------------------

    def _line(self, cells: list[Text], style: Style) -> list[Segment]:
        """Segments for one row. Single-style cells (nearly all) skip Rich's renderer."""
        segments: list[Segment] = []
        console = self.app.console
        for cell, (_, _, width) in zip(cells, self.columns):
            if width <= 0:
                continue  # a column the width does not allow (the summary at 80 columns)
            segments.append(Segment(" ", style))
            if not cell.spans and width > 0:
                text = cell.plain
                if cell_len(text) > width:
                    text = set_cell_size(text, width - 1) + "…"
                else:
                    text = text + " " * (width - cell_len(text))
                cell_style = cell.style
                if isinstance(cell_style, str):
                    cell_style = console.get_style(cell_style, default=Style.null()) if cell_style else Style.null()
                segments.append(Segment(text, style + cell_style))
            else:
                piece = cell.copy()
                piece.truncate(width, overflow="ellipsis", pad=True)
                segments.extend(Segment(seg.text, style + seg.style if seg.style else style) for seg in piece.render(console))
            segments.append(Segment(" ", style))
        return segments

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        scroll_x = int(self.scroll_x)
        if y == 0:
            style = self.get_component_rich_style("alert-list--header")
            cells = [safe(label, None) for _, label, _ in self.columns]
        else:
            index = int(self.scroll_y) + y - 1
            if index >= len(self._keys):
                return Strip.blank(width, self.rich_style)
            if index == self.cursor_row:
                style = self.get_component_rich_style("alert-list--cursor")
            else:
                style = self.get_component_rich_style("alert-list--odd" if index % 2 else "alert-list--even")
            cells = self.render_row(self._keys[index])
        strip = Strip(self._line(cells, style))
        return strip.crop_extend(scroll_x, scroll_x + width, style)
