"""``?``: every binding of the app, with the keys in force after the user's keymap: the
shown pane's first, then the global ones, then the other panes and the dialogs, and a
legend of the Alerts table's proposal markers."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from sreconsole.tui.render import inert, safe


def binding_groups(pane: str, global_bindings: list[Binding]) -> list[tuple[str, list[Binding]]]:
    """(where, bindings) in the order help shows them; ``pane`` is the shown pane's id."""
    from sreconsole.tui.alert_list import AlertList
    from sreconsole.tui.list_keys import LIST_BINDINGS
    from sreconsole.tui.modals import AlertDetailScreen, MuteConfirmScreen, SilenceScreen
    from sreconsole.tui.panes.alerts import AlertsPane
    from sreconsole.tui.panes.bruno import BrunoPane
    from sreconsole.tui.panes.bruno_dialogs import ProposeScreen, StatsScreen
    from sreconsole.tui.panes.review import ApproveScreen, EditScreen, ReasonScreen, ResolvedScreen, ReviewPane
    from sreconsole.tui.panes.silences import ConfirmExpireScreen, DurationScreen, SilencesScreen
    from sreconsole.tui.panes.stats import StatsScreen as ConsoleStatsScreen
    from sreconsole.tui.panes.training import StartRunScreen, TextScreen, ThresholdScreen, TrainingPane
    from sreconsole.tui.span_tree import SpanTreeScreen

    listed = {b.id for b in LIST_BINDINGS}
    alerts = list(AlertsPane.BINDINGS) + [b for b in AlertList.BINDINGS if b.id not in listed]
    panes = {
        "alerts": [("alerts", alerts), ("lists", list(LIST_BINDINGS))],
        "review": [("review", list(ReviewPane.BINDINGS)), ("lists", list(LIST_BINDINGS))],
        "training": [("training", list(TrainingPane.BINDINGS)), ("lists", list(LIST_BINDINGS))],
        "bruno": [("bruno", list(BrunoPane.BINDINGS)), ("bruno citations (a list)", list(LIST_BINDINGS))],
    }
    shown = panes.get(pane, panes["alerts"])
    groups = [*shown, ("global", list(global_bindings))]
    names = {name for name, _ in shown}
    for other, entries in panes.items():
        if other != pane:
            groups += [(name, b) for name, b in entries if name not in names and not (name.startswith("bruno citations") and "lists" in names)]
            names |= {name for name, _ in entries}
    dialogs = (
        ("help", HelpScreen), ("alert detail", AlertDetailScreen), ("silence dialog", SilenceScreen), ("mute confirmation", MuteConfirmScreen),
        ("approve dialog", ApproveScreen), ("resolved alert", ResolvedScreen), ("reject / roll back dialog", ReasonScreen), ("edit dialog", EditScreen),
        ("training start dialog", StartRunScreen), ("log / MLflow view", TextScreen), ("propose dialog", ProposeScreen), ("Bruno's numbers", StatsScreen),
        ("silences view", SilencesScreen), ("expire confirmation", ConfirmExpireScreen), ("extend / re-create dialog", DurationScreen),
        ("threshold tuning", ThresholdScreen), ("the console's numbers", ConsoleStatsScreen), ("span tree", SpanTreeScreen),
    )
    groups += [(name, list(cls.BINDINGS)) for name, cls in dialogs]
    from sreconsole.tui.replay import REPLAY_BINDINGS

    global_ids = {b.id for b in global_bindings}
    groups.append(("replay (sreconsole replay)", [b for b in REPLAY_BINDINGS if b.id not in global_ids]))
    return groups


def marker_legend() -> Text:
    """What the Alerts table's PROPOSAL column means (its short names and marks)."""
    from sreconsole.tui.evidence_view import SHORT_ACTION

    text = Text.assemble(("PROPOSAL column", "bold"), ": the action triage proposes, coloured by its confidence "
                         "(green: high, yellow: medium, red: low); ", ("!", "bold"), " a human must review it "
                         "(a missing parameter, high risk, low confidence); … still computing; no model: triage is off.\n")
    shorts = [(short, action) for action, short in SHORT_ACTION.items() if short != action]
    if shorts:
        text.append("short names: ", style="dim")
        text.append_text(safe(", ".join(f"{short} = {action}" for short, action in shorts), None, style="dim", single_line=False))
    return text


def binding_rows(app, groups: list[tuple[str, list[Binding]]]) -> list[tuple[str, str, str, str]]:
    """``(group, keys, description, id)`` with remapped keys applied."""
    keymap = getattr(app, "_keymap", {}) or {}
    rows = []
    seen: set[tuple[str, str]] = set()
    for group, bindings in groups:
        for b in bindings:
            if (group, b.id or b.key) in seen:
                continue
            seen.add((group, b.id or b.key))
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

    def __init__(self, groups: list[tuple[str, list[Binding]]], pane: str = "") -> None:
        super().__init__()
        self.groups = groups
        self.pane = pane

    def compose(self) -> ComposeResult:
        table = Table(box=None, expand=True, show_header=True, header_style="bold")
        table.add_column("where", style="dim", no_wrap=True)
        table.add_column("keys", style="bold", no_wrap=True)
        table.add_column("does")
        table.add_column(Text("id (for [keymap])"), style="dim", no_wrap=True)
        for group, keys, description, binding_id in binding_rows(self.app, self.groups):
            table.add_row(safe(group, None), safe(keys, None), safe(description, None, single_line=False), safe(binding_id, None))
        with VerticalScroll():
            head = f"Key bindings — {self.pane} first, then global" if self.pane else "Key bindings"
            yield Static(safe(head + " · remap any id in [keymap] of config.toml", None, style="bold", single_line=False))
            yield Static(Text("In a text field (a filter, Bruno's question, a dialog) letters and digits are typed: "
                              "esc leaves the field, then q quits; ctrl+q quits from anywhere.", style="dim"))
            yield Static(table, id="help-table")
            yield Static(inert(marker_legend()), id="help-legend")
            yield Static(Text("ctrl+p opens the command palette: every action is there too.", style="dim"))

    def action_scroll(self, direction: str) -> None:
        scroller = self.query_one(VerticalScroll)
        scroller.scroll_relative(y=1 if direction == "down" else -1, animate=False)
