"""Modal dialogs that return typed results: silence, confirm a wide mute, alert detail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static
from textual.widgets.option_list import Option

from sreconsole.domain.alerts import Alert, format_age
from sreconsole.domain.matchers import Matcher
from sreconsole.domain.silences import matchers_for, parse_duration
from sreconsole.tui.evidence_view import evidence_renderable, proposal_renderable, trace_line, traces_heading, traces_query
from sreconsole.tui.list_keys import ChoiceList
from sreconsole.tui.messages import KnowledgeReady
from sreconsole.tui.render import clean, safe
from sreconsole.tui.span_tree import SpanTreeScreen


@dataclass(frozen=True)
class SilenceRequest:
    duration: timedelta
    comment: str


class SilenceScreen(ModalScreen[SilenceRequest | None]):
    """Duration and comment for a silence of the selected alert; shows the matchers used."""

    DEFAULT_CSS = """
    SilenceScreen { align: center middle; }
    SilenceScreen > Vertical {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: round $warning; background: $surface; padding: 0 1;
    }
    SilenceScreen Input { margin: 0; }
    SilenceScreen #silence-error { color: $error; height: auto; }
    SilenceScreen #silence-matchers { color: $text-muted; height: auto; max-height: 6; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="silence.cancel")]

    def __init__(self, alert: Alert, operator: str, default_duration: str = "2h", muted: list[Alert] | None = None) -> None:
        super().__init__()
        self.alert = alert
        self.operator = operator
        self.default_duration = default_duration
        self.muted = [alert] if muted is None else muted
        """The firing alerts these matchers mute now (the pane computes them)."""

    def compose(self) -> ComposeResult:
        matchers = ", ".join(str(m) for m in matchers_for(self.alert))
        with Vertical():
            yield Label(Text.assemble(("Silence ", "bold"), safe(f"{self.alert.alertname} {self.alert.target()}".strip(), 120, style="bold"),
                                      safe(f"  as {self.operator}", 80, style="dim")))
            yield Static(safe("matchers: " + matchers, 600, single_line=False), id="silence-matchers")
            yield Static(mute_count(self.muted), id="silence-mutes")
            yield Input(select_on_focus=False, value=clean(self.default_duration, 20), placeholder="duration: 30m, 2h, 1d", id="silence-duration")
            yield Input(select_on_focus=False, placeholder="comment: why (required)", id="silence-comment")
            yield Static("", id="silence-error")
            yield Label(Text("enter: create silence · tab: next field · esc: cancel", style="dim"))

    def on_mount(self) -> None:
        self.query_one("#silence-comment", Input).focus()

    @on(Input.Submitted)
    def _submit(self) -> None:
        error = self.query_one("#silence-error", Static)
        try:
            duration = parse_duration(self.query_one("#silence-duration", Input).value)
        except ValueError as exc:
            error.update(safe(exc, 300, single_line=False))
            self.query_one("#silence-duration", Input).focus()
            return
        comment = self.query_one("#silence-comment", Input).value.strip()
        if not comment:
            error.update(Text("a comment is required: say why the alert is silenced"))
            self.query_one("#silence-comment", Input).focus()
            return
        self.dismiss(SilenceRequest(duration, comment))

    def action_cancel(self) -> None:
        self.dismiss(None)


def mute_count(muted: list[Alert]) -> Text:
    """``mutes 1 firing alert: this one`` or, in warning colours, how many and which."""
    n = len(muted)
    if n <= 1:
        return Text(f"mutes {n:d} firing alert" + (": this one" if n else "s"), style="dim")
    names = ", ".join(dict.fromkeys(a.alertname for a in muted))
    return Text.assemble((f"mutes {n:d} firing alerts: ", "bold yellow"), safe(names, 200, style="yellow"))


class MuteConfirmScreen(ModalScreen[bool]):
    """Asked before a silence or an ack that would mute more than the selected alert:
    names each alert it would mute and the labels that make it match."""

    DEFAULT_CSS = """
    MuteConfirmScreen { align: center middle; }
    MuteConfirmScreen > Vertical {
        width: 90; max-width: 100%; height: auto; max-height: 100%;
        border: round $error; background: $surface; padding: 0 1;
    }
    MuteConfirmScreen #mute-list { height: auto; max-height: 14; }
    """
    BINDINGS = [
        Binding("enter", "confirm", "Mute all", id="mute.confirm"),
        Binding("escape", "cancel", "Cancel", id="mute.cancel"),
    ]

    def __init__(self, what: str, alert: Alert, matchers: list[Matcher], muted: list[Alert]) -> None:
        super().__init__()
        self.what = what
        self.alert = alert
        self.matchers = matchers
        self.muted = muted

    def compose(self) -> ComposeResult:
        n = len(self.muted)
        lines: list = [safe("matchers: " + ", ".join(str(m) for m in self.matchers), 600, style="dim", single_line=False)]
        for a in self.muted[:12]:
            extra = ", ".join(f"{k}={v}" for k, v in sorted(a.labels.items()) if k not in self.alert.labels)
            mark = "this alert" if a.fingerprint == self.alert.fingerprint else extra or "the same labels"
            lines.append(Text.assemble(("  • ", "dim"), safe(a.alertname, 60, style="bold"), ("  ", ""), safe(mark, 120, style="dim")))
        if n > 12:
            lines.append(Text(f"  … and {n - 12:d} more", style="dim"))
        with Vertical():
            yield Label(Text.assemble(safe(f"{self.what} ", 20, style="bold"), safe(self.alert.alertname, 60, style="bold"),
                                      (f": these matchers mute {n:d} firing alerts, not only this one", "bold red")))
            yield Static(Group(*lines), id="mute-list")
            yield Label(safe(f"enter: {self.what} all {n:d} · esc: cancel (nothing is created)", 100, style="dim"))

    def action_confirm(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class AlertDetailScreen(ModalScreen[None]):
    """Everything about one alert: labels, annotations, times, silences, evidence; where
    Tempo is configured, its slow or failed traces as a list (``t`` moves into it, ``enter``
    on a trace opens its span tree)."""

    DEFAULT_CSS = """
    AlertDetailScreen { align: center middle; }
    AlertDetailScreen > VerticalScroll {
        width: 100%; height: 100%; border: round $primary; background: $surface; padding: 0 1;
    }
    AlertDetailScreen #detail-traces { height: auto; max-height: 12; display: none; }
    AlertDetailScreen #detail-traces.-has-traces { display: block; }
    """
    BINDINGS = [
        Binding("escape,q,enter", "dismiss", "Close", id="detail.close"),
        Binding("t", "traces", "Traces", id="detail.traces"),
        Binding("j,down", "scroll('down')", "Down", show=False, id="detail.down"),
        Binding("k,up", "scroll('up')", "Up", show=False, id="detail.up"),
    ]

    def __init__(self, alert: Alert, now, evidence_service=None, proposal=None, thresholds: tuple[float, float] = (0.8, 0.5)) -> None:
        super().__init__()
        self.alert = alert
        self.proposal = proposal
        self.thresholds = thresholds
        self.now = now
        self.evidence_service = evidence_service
        self.evidence = None

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            if self.proposal is not None:
                yield Static(id="detail-proposal")
            yield Static(alert_detail(self.alert, self.now), id="detail-body")
            yield Static(Text("evidence: loading…", style="dim"), id="detail-evidence")
            yield Static("", id="detail-traces-head")
            yield ChoiceList(id="detail-traces", markup=False, compact=True)
            yield Static("", id="detail-traces-query")

    def on_mount(self) -> None:
        if self.proposal is not None:
            high, low = self.thresholds
            width = max(self.size.width - 6, 20)
            self.query_one("#detail-proposal", Static).update(proposal_renderable(self.proposal, width, high, low, self.app.current_theme))
        if self.evidence_service is not None:
            self._load()
        else:
            self.query_one("#detail-evidence", Static).update(Text("evidence: not available", style="dim"))

    @work(exclusive=True, group="detail-evidence", exit_on_error=False, description="load evidence")
    async def _load(self) -> None:
        self.evidence = await self.evidence_service.gather(self.alert)
        width = max(self.size.width - 6, 20)
        self.query_one("#detail-evidence", Static).update(evidence_renderable(self.evidence, width, self.app.current_theme, trace_lines=False))
        traces = self.query_one("#detail-traces", ChoiceList)
        traces.clear_options()
        id_len = 32 if width >= 100 else 16
        traces.add_options([Option(trace_line(t, self.app.current_theme, id_len), id=t.trace_id) for t in self.evidence.traces])
        traces.set_class(bool(self.evidence.traces), "-has-traces")
        if self.evidence.traces_configured:
            head = traces_heading(self.evidence, "t: into the list · enter on a trace: its span tree")
            self.query_one("#detail-traces-head", Static).update(Group(Text(""), *head))
            self.query_one("#detail-traces-query", Static).update(Group(*traces_query(self.evidence)))

    def action_traces(self) -> None:
        """Into the trace list, on its first trace (nothing to do without traces)."""
        traces = self.query_one("#detail-traces", ChoiceList)
        if traces.option_count:
            traces.focus()
            if traces.highlighted is None:
                traces.highlighted = 0
            traces.scroll_visible()

    @on(ChoiceList.OptionSelected, "#detail-traces")
    def _open_trace(self, event: ChoiceList.OptionSelected) -> None:
        chosen = next((t for t in self.evidence.traces if t.trace_id == event.option.id), None) if self.evidence else None
        if chosen is not None:
            self.app.push_screen(SpanTreeScreen(chosen, self.evidence_service))

    def action_scroll(self, direction: str) -> None:
        self.query_one(VerticalScroll).scroll_relative(y=1 if direction == "down" else -1, animate=False)

    def on_knowledge_ready(self, message: KnowledgeReady) -> None:
        """Evidence gathered while the knowledge base was loading is gathered again."""
        if self.evidence_service is not None:
            self._load()


def alert_detail(alert: Alert, now) -> Table:
    """A two-column table of everything known about the alert, all values inert."""
    table = Table(box=None, show_header=False, expand=True, pad_edge=False)
    table.add_column("key", style="bold", no_wrap=True, max_width=28)
    table.add_column("value", overflow="fold")
    table.add_row(Text("alert"), safe(alert.alertname, 200))
    table.add_row(Text("state"), safe(alert.state.value, 20))
    table.add_row(Text("since"), Text(f"{alert.starts_at:%Y-%m-%d %H:%M:%S} UTC ({format_age(alert.age_seconds(now))} ago)"))
    table.add_row(Text("fingerprint"), safe(alert.fingerprint, 64))
    if alert.silenced_by:
        table.add_row(Text("silenced by"), safe(", ".join(alert.silenced_by), 400))
    if alert.inhibited_by:
        table.add_row(Text("inhibited by"), safe(", ".join(alert.inhibited_by), 400))
    table.add_row(Text("labels", style="underline"), Text(""))
    for key, value in sorted(alert.labels.items()):
        table.add_row(safe(key, 60), safe(value, 2000, single_line=False))
    if alert.annotations:
        table.add_row(Text("annotations", style="underline"), Text(""))
        for key, value in sorted(alert.annotations.items()):
            table.add_row(safe(key, 60), safe(value, 4000, single_line=False))
    if alert.generator_url:
        table.add_row(Text("source"), safe(alert.generator_url, 500))
    return table
