"""A DataTable of keyed records that a pane refills on every poll without the cursor jumping:
the Review queue and the Training runs both use it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from rich.text import Text

from sreconsole.tui.list_keys import KeyedTable

Column = tuple
"""``(key, label, width)`` or ``(key, label, width, wide_width)``: ``wide_width`` is the
width from ``WIDE`` columns on; a ``narrow`` width of 0 means the column is shown only on
a wide terminal."""

WIDE = 140
"""Terminal width from which wide columns show (the same as the Alerts side panel)."""


class RecordTable(KeyedTable):
    """Rows keyed by record id, moved with the app's list keys (``list.*``). ``show`` updates
    cells in place when the keys are unchanged, and otherwise rebuilds the rows with the
    cursor kept on the record it was on. A wide terminal gets more and wider columns."""

    def __init__(self, columns: Sequence[Column], cells: Callable[[object], list[Text]], *, hidden: Sequence[str] = (), **kwargs) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.all_columns = tuple(columns)
        self.cells_of = cells
        self.order: list[str] = []
        self.records: Mapping[str, object] = {}
        self.wide = False
        self.hidden: frozenset[str] = frozenset(hidden)
        """Column keys left out whatever the width (a column that would say the same on every
        row, such as the cluster where the queue holds one)."""
        self._use_columns()

    def _use_columns(self) -> None:
        self._shown = [i for i, (key, label, width, *spec) in enumerate(self.all_columns)
                       if ((self.wide and spec) or width > 0) and key not in self.hidden]
        self.column_spec = tuple(
            (key, label, (spec[0] if self.wide and spec else width))
            for key, label, width, *spec in (self.all_columns[i] for i in self._shown)
        )
        for key, label, width in self.column_spec:
            self.add_column(label, key=key, width=width)

    def cells(self, record) -> list[Text]:
        every = self.cells_of(record)
        return [every[i] for i in self._shown]

    def on_mount(self) -> None:
        self._fit()

    def on_show(self) -> None:
        self._fit()

    def on_resize(self) -> None:
        self._fit()

    def _fit(self) -> None:
        """Wide or narrow columns by the terminal's width (a hidden pane gets no Resize:
        it is checked again when shown)."""
        wide = self.app.size.width >= WIDE
        if wide != self.wide:
            self.wide = wide
            self._rebuild()

    def hide(self, keys: frozenset[str]) -> None:
        """Leave out the columns ``keys`` (the others come back); rebuilt only on a change."""
        if frozenset(keys) != self.hidden:
            self.hidden = frozenset(keys)
            self._rebuild()

    def _rebuild(self) -> None:
        selected = self.selected_key()
        self.clear(columns=True)
        self.order = []
        self._use_columns()
        self.show(self.records, keep=selected)

    def show(self, records: Mapping[str, object], keep: str | None = None) -> None:
        self.records = records
        keys = list(records)
        if keys != self.order:
            selected = keep if keep is not None else self.selected_key()
            self.clear()
            for key in keys:
                self.add_row(*self.cells(records[key]), key=key)
            self.order = keys
            if selected in keys:
                self.move_cursor(row=keys.index(selected), animate=False)
            return
        for key in keys:
            for (col, *_), cell in zip(self.column_spec, self.cells(records[key])):
                self.update_cell(key, col, cell)

    def selected_key(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except Exception:  # noqa: BLE001 - an empty or changing table
            return None
