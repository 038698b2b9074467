"""A DataTable of keyed records that a pane refills on every poll without the cursor jumping:
the Review queue and the Training runs both use it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from rich.text import Text
from textual.widgets import DataTable


class RecordTable(DataTable):
    """Rows keyed by record id. ``show`` updates cells in place when the keys are unchanged,
    and otherwise rebuilds the rows with the cursor kept on the record it was on."""

    def __init__(self, columns: Sequence[tuple[str, str, int]], cells: Callable[[object], list[Text]], **kwargs) -> None:
        super().__init__(cursor_type="row", **kwargs)
        self.column_spec = tuple(columns)
        self.cells = cells
        self.order: list[str] = []
        for key, label, width in self.column_spec:
            self.add_column(label, key=key, width=width)

    def show(self, records: Mapping[str, object]) -> None:
        keys = list(records)
        if keys != self.order:
            selected = self.selected_key()
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
