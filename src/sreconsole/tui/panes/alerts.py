"""The Alerts pane: live alerts from the configured source, filterable, keyboard only."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static
from textual.widgets.data_table import RowDoesNotExist

from sreconsole.domain.alerts import Alert, AlertState, Severity, format_age, matches_filter
from sreconsole.services.alerts import AlertsSnapshot
from sreconsole.tui.render import safe
from sreconsole.tui.widgets import VimTable

SEVERITY_TEXT = {
    Severity.CRITICAL: "CRIT",
    Severity.WARNING: "WARN",
    Severity.INFO: "INFO",
    Severity.NONE: "----",
}

COLUMNS = (
    ("sev", "SEV", 4),
    ("alert", "ALERT", 22),
    ("target", "TARGET", 20),
    ("age", "AGE", 5),
    ("state", "STATE", 9),
    ("proposal", "PROPOSAL", 8),
    ("summary", "SUMMARY", 40),
)
FIXED_WIDTH = sum(width + 2 for key, _, width in COLUMNS if key != "summary")
"""Columns before the summary, with DataTable's one-cell padding on each side: 80 at 80x24."""


class AlertTable(VimTable):
    """The alerts, one row per fingerprint."""


class AlertsPane(Vertical):
    """Title with counts, the filter input (``/``) and the table."""

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="alerts.filter", tooltip="Filter alerts by text"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="alerts.clear_filter"),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.snapshot: AlertsSnapshot | None = None
        self.filter_text = ""

    def compose(self) -> ComposeResult:
        yield Static("Alerts  waiting for the first answer…", classes="pane-title", id="alerts-title")
        yield Input(placeholder="filter: text to match in labels and summary (enter: keep, esc: clear)", id="alerts-filter")
        table = AlertTable(id="alerts-table", cursor_type="row", zebra_stripes=True)
        for key, label, width in COLUMNS:
            table.add_column(label, key=key, width=width)
        yield table

    def on_resize(self) -> None:
        """The summary takes whatever width is left, so nothing scrolls sideways."""
        table = self.query_one(AlertTable)
        width = max(self.size.width - FIXED_WIDTH - 3, 10)
        column = table.columns.get("summary")  # type: ignore[call-overload]
        if column is not None and column.width != width:
            column.width = width
            table._require_update_dimensions = True  # Textual recomputes virtual size lazily
            table.refresh()

    # -- actions ------------------------------------------------------------------

    # Focus moves synchronously (display set inline, ``set_focus`` instead of ``focus()``):
    # keys typed right after ``/`` in the same burst, as over a slow SSH link or a paste,
    # must land in the filter, not in the table behind it.

    def action_filter(self) -> None:
        field = self.query_one("#alerts-filter", Input)
        field.display = True
        self.screen.set_focus(field)

    def action_clear_filter(self) -> None:
        field = self.query_one("#alerts-filter", Input)
        if self.filter_text or field.value:
            field.value = ""
            self.filter_text = ""
            self._render_rows()
        field.display = False
        self.screen.set_focus(self.query_one(AlertTable))

    @on(Input.Changed, "#alerts-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value
        self._render_rows()

    @on(Input.Submitted, "#alerts-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if not event.value:
            event.input.display = False
        self.screen.set_focus(self.query_one(AlertTable))

    # -- data ---------------------------------------------------------------------

    def show(self, snapshot: AlertsSnapshot) -> None:
        self.snapshot = snapshot
        self.set_class(bool(snapshot.error), "-stale")
        self._render_rows()

    def visible_alerts(self) -> list[Alert]:
        if self.snapshot is None:
            return []
        return [a for a in self.snapshot.alerts if matches_filter(a, self.filter_text)]

    def _row(self, alert: Alert, now: datetime) -> list[Text]:
        theme = self.app.current_theme
        sev_color = {
            Severity.CRITICAL: theme.error,
            Severity.WARNING: theme.warning,
            Severity.INFO: theme.primary,
        }.get(alert.severity)
        sev = Text(SEVERITY_TEXT[alert.severity], style=f"bold {sev_color}" if sev_color else "dim")
        state_style = "" if alert.state is AlertState.FIRING else "dim italic"
        target = "/".join(x for x in (alert.namespace, alert.target().split("/", 1)[-1]) if x)
        return [
            sev,
            safe(alert.alertname, 60),
            safe(target, 80),
            Text(format_age(alert.age_seconds(now))),
            Text(alert.state.value, style=state_style),
            Text("no model", style="dim"),
            safe(alert.summary, 300),
        ]

    def _render_rows(self) -> None:
        """Bring the table in line with the alerts to show, keeping the selection in place.

        When the set of rows is unchanged (the common poll), only cells are updated. When
        alerts come or go, rows are rebuilt in order and the cursor follows its alert by
        fingerprint, with the scroll offset kept, so the operator's place never jumps.
        """
        table = self.query_one(AlertTable)
        snapshot = self.snapshot
        if snapshot is None:
            return
        alerts = self.visible_alerts()
        now = snapshot.fetched_at
        wanted = [a.fingerprint for a in alerts]
        present = [row.key.value for row in table.ordered_rows]
        if present == wanted:
            for alert in alerts:
                for (key, _, _), cell in zip(COLUMNS, self._row(alert, now)):
                    table.update_cell(alert.fingerprint, key, cell)
        else:
            selected = self.selected_fingerprint()
            scroll_y = table.scroll_y
            table.clear()
            for alert in alerts:
                table.add_row(*self._row(alert, now), key=alert.fingerprint)
            if selected in set(wanted):
                table.move_cursor(row=table.get_row_index(selected), animate=False, scroll=False)
            table.scroll_to(y=scroll_y, animate=False, immediate=True)
        self._update_title(alerts)

    def selected_fingerprint(self) -> str | None:
        table = self.query_one(AlertTable)
        if not table.row_count:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except RowDoesNotExist:
            return None

    def _update_title(self, alerts: list[Alert]) -> None:
        snapshot = self.snapshot
        assert snapshot is not None
        counts = {s: 0 for s in Severity}
        for a in alerts:
            counts[a.severity] += 1
        theme = self.app.current_theme
        title = Text.assemble(("Alerts ", "bold"), (f"{len(alerts)}", "bold"))
        if self.filter_text:
            title.append(f"/{len(snapshot.alerts)} matching ")
            title.append_text(safe(repr(self.filter_text), 30, style="italic"))
        title.append("  ")
        for sev, color in ((Severity.CRITICAL, theme.error), (Severity.WARNING, theme.warning), (Severity.INFO, theme.primary)):
            title.append(f"{counts[sev]} {sev.label}", style=f"bold {color}" if counts[sev] else "dim")
            title.append("  ")
        if snapshot.error:
            title.append(f"stale: {snapshot.error}", style=f"bold {theme.warning}")
        self.query_one("#alerts-title", Static).update(title)
