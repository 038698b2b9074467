"""Every silence in view (``S`` in the Alerts pane): active, pending and expired in the last
24 h, each with its matchers, author, comment, start, end and how many alerts it mutes now,
zero included. Silences that match nothing are the ones nobody sees in the alert table.

From the keyboard: ``x`` expires the selected silence (after a confirmation naming its id),
``e`` extends it by a typed duration, ``r`` re-creates an expired one with a new comment.
Every write goes through :class:`~sreconsole.services.alerts.AlertsService`, as the Alerts
pane's ``s``/``a`` do, so it can be routed by cluster later. Read-only consoles list only.
Comments, authors and matcher values are outside text: they reach the screen through
:func:`~sreconsole.tui.render.safe` and :func:`~sreconsole.tui.render.notify_plain`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from sreconsole.domain.alerts import Alert
from sreconsole.domain.operator import Operator
from sreconsole.domain.silences import Silence, SilenceRow, muted_alerts, parse_duration
from sreconsole.sources.base import SourceError
from sreconsole.tui.record_table import RecordTable
from sreconsole.tui.render import clean, notify_plain, safe

STATE_STYLE = {"active": "bold", "pending": "yellow", "expired": "dim"}


def when(moment: datetime | None) -> str:
    return moment.strftime("%m-%d %H:%M") if moment else "—"


def silence_cells(row: SilenceRow) -> list[Text]:
    s = row.silence
    n = len(row.muted)
    return [
        safe(s.state or "?", 10, style=STATE_STYLE.get(s.state, "")),
        safe(", ".join(str(m) for m in s.matchers) or "(none readable)", 300),
        safe(f"{n:d}", 8, style="bold red" if n == 0 and s.state == "active" else ""),
        safe(s.created_by, 40),
        safe(s.comment, 200),
        safe(when(s.starts_at), 12),
        safe(when(s.ends_at), 12),
        safe(s.id, 40, style="dim"),
    ]


COLUMNS = (
    ("state", "state", 8), ("matchers", "matchers", 34), ("mutes", "mutes", 5), ("by", "by", 16),
    ("comment", "comment", 24), ("start", "start", 11), ("end", "end", 11), ("id", "id", 36),
)


class SilenceTable(RecordTable):
    """The silences, with the list keys (and binding ids) every other list has."""


class SilencesScreen(ModalScreen[None]):
    """All of Alertmanager's silences, refreshed every 5 s and after each change."""

    DEFAULT_CSS = """
    SilencesScreen { align: center middle; }
    SilencesScreen > Vertical {
        width: 100%; height: 100%; border: round $accent; background: $surface; padding: 0 1;
    }
    SilencesScreen SilenceTable { height: 1fr; }
    SilencesScreen #silences-status { height: auto; color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape,q", "close", "Close", id="silences.close"),
        Binding("x", "expire", "Expire", id="silences.expire", tooltip="Expire the selected silence (asks first, naming its id)"),
        Binding("e", "extend", "Extend", id="silences.extend", tooltip="Extend the selected silence by a duration: 30m, 2h, 1d"),
        Binding("r", "recreate", "Re-create", id="silences.recreate", tooltip="Re-create an expired silence with a new comment"),
    ]

    def __init__(self, service, operator: Operator, alerts: Callable[[], tuple[Alert, ...]], read_only: bool = False) -> None:
        super().__init__()
        self.service = service
        self.operator = operator
        self.alerts = alerts
        self.read_only = read_only
        self.rows: dict[str, SilenceRow] = {}

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text("Silences: active, pending, expired in the last 24 h", style="bold"))
            yield SilenceTable(COLUMNS, silence_cells, id="silences-table")
            yield Static(Text("reading…", style="dim"), id="silences-status")
            yield Label(Text("x: expire · e: extend · r: re-create expired · j/k/g/G: move · esc: close", style="dim"))

    def on_mount(self) -> None:
        self.reload()
        self.set_interval(5.0, self.reload)
        self.query_one(SilenceTable).focus()

    @work(exclusive=True, group="silences-list", exit_on_error=False, description="list silences")
    async def reload(self) -> None:
        status = self.query_one("#silences-status", Static)
        try:
            rows = await self.service.silence_rows(tuple(self.alerts()))
        except SourceError as exc:
            status.update(safe(f"silences not read: {exc}", 300, style="bold red"))
            return
        self.rows = {r.silence.id: r for r in rows}
        self.query_one(SilenceTable).show(self.rows)
        silent = sum(1 for r in rows if r.silence.state == "active" and not r.muted)
        status.update(safe(f"{len(rows):d} silences, {silent:d} active muting nothing", 100))

    def selected(self) -> Silence | None:
        key = self.query_one(SilenceTable).selected_key()
        row = self.rows.get(key) if key else None
        if row is None:
            notify_plain(self, "no silence selected", severity="warning")
        return row.silence if row else None

    def _writable(self) -> Silence | None:
        if self.read_only:
            notify_plain(self, "read-only mode: silences are disabled", severity="warning")
            return None
        return self.selected()

    # -- expire -------------------------------------------------------------------

    def action_expire(self) -> None:
        silence = self._writable()
        if silence is None:
            return
        if silence.state == "expired":
            notify_plain(self, f"silence {silence.id} is already expired", severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._expire(silence)
            else:
                notify_plain(self, f"silence {silence.id} kept", severity="warning")

        self.app.push_screen(ConfirmExpireScreen(silence), answered)

    @work(group="silences-write", exit_on_error=False, description="expire silence")
    async def _expire(self, silence: Silence) -> None:
        await self._write(f"expire {silence.id}", self.service.expire(silence.id), lambda _: f"expired silence {silence.id}")

    # -- extend and re-create -----------------------------------------------------

    def action_extend(self) -> None:
        silence = self._writable()
        if silence is None:
            return
        if silence.state == "expired":
            notify_plain(self, f"silence {silence.id} is expired: r re-creates it", severity="warning")
            return

        def done(request: DurationRequest | None) -> None:
            if request is not None:
                self._extend(silence, request.duration)

        self.app.push_screen(DurationScreen(f"Extend silence {silence.id} by", ask_comment=False), done)

    @work(group="silences-write", exit_on_error=False, description="extend silence")
    async def _extend(self, silence: Silence, by: timedelta) -> None:
        await self._write(f"extend {silence.id}", self.service.extend(silence, by), lambda sid: f"silence {sid} extended")

    def action_recreate(self) -> None:
        silence = self._writable()
        if silence is None:
            return
        if silence.state != "expired":
            notify_plain(self, f"silence {silence.id} is {silence.state}: e extends it", severity="warning")
            return

        def done(request: DurationRequest | None) -> None:
            if request is not None:
                self._recreate(silence, request)

        preview = muted_alerts(silence.matchers, self.alerts()) if silence.matchers else []
        self.app.push_screen(DurationScreen(f"Re-create silence {silence.id} for", ask_comment=True, muted=preview), done)

    @work(group="silences-write", exit_on_error=False, description="re-create silence")
    async def _recreate(self, silence: Silence, request: DurationRequest) -> None:
        call = self.service.recreate(silence, request.duration, request.comment, self.operator)
        await self._write(f"re-create {silence.id}", call, lambda sid: f"silence {sid} created in place of {silence.id}")

    async def _write(self, what: str, call, done: Callable[[object], str]) -> None:
        try:
            result = await call
        except SourceError as exc:
            notify_plain(self, f"{what} failed: {exc}", severity="error", timeout=10)
            return
        notify_plain(self, done(result), timeout=8)
        self.reload()
        refresh = getattr(self.app, "action_alerts_refresh", None)
        if refresh is not None:
            refresh()

    def action_close(self) -> None:
        self.dismiss(None)


class ConfirmExpireScreen(ModalScreen[bool]):
    """``Expire silence <id>?``: the id, its matchers and its comment, then y or n."""

    DEFAULT_CSS = """
    ConfirmExpireScreen { align: center middle; }
    ConfirmExpireScreen > Vertical {
        width: 80; max-width: 100%; height: auto; border: round $error; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [
        Binding("y,enter", "answer(True)", "Expire", id="silences.expire.confirm"),
        Binding("n,escape", "answer(False)", "Keep", id="silences.expire.cancel"),
    ]

    def __init__(self, silence: Silence) -> None:
        super().__init__()
        self.silence = silence

    def compose(self) -> ComposeResult:
        s = self.silence
        with Vertical():
            yield Label(Text.assemble(("Expire silence ", "bold"), safe(s.id, 64, style="bold"), ("?", "bold")))
            yield Static(safe("matchers: " + ", ".join(str(m) for m in s.matchers), 600, single_line=False))
            yield Static(safe(f"by {s.created_by}: {s.comment}", 400, single_line=False, style="dim"))
            yield Label(Text("y/enter: expire · n/esc: keep", style="dim"))

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


def would_mute(muted: list[Alert]) -> Text:
    """``would mute 0 alerts now`` or how many and which, before a silence is created."""
    names = ", ".join(dict.fromkeys(a.alertname for a in muted))
    line = safe(f"would mute {len(muted):d} alerts now" + (": " if muted else ""), None, style="bold yellow" if muted else "dim")
    line.append_text(safe(names, 200, style="yellow"))
    return line


@dataclass(frozen=True)
class DurationRequest:
    duration: timedelta
    comment: str


class DurationScreen(ModalScreen[DurationRequest | None]):
    """A duration (``parse_duration``: 30m, 2h, 1d12h) and, to re-create, a comment."""

    DEFAULT_CSS = """
    DurationScreen { align: center middle; }
    DurationScreen > Vertical {
        width: 76; max-width: 100%; height: auto; border: round $warning; background: $surface; padding: 0 1;
    }
    DurationScreen #duration-error { color: $error; height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="duration.cancel")]

    def __init__(self, title: str, ask_comment: bool, default: str = "2h", muted: list[Alert] | None = None) -> None:
        super().__init__()
        self.heading = title
        self.ask_comment = ask_comment
        self.default = default
        self.muted = muted
        """For a new silence: the alerts its matchers would mute now (a preview)."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(safe(self.heading, 120, style="bold"))
            if self.muted is not None:
                yield Static(would_mute(self.muted), id="duration-mutes")
            yield Input(select_on_focus=False, value=clean(self.default, 20), placeholder="duration: 30m, 2h, 1d", id="duration-value")
            if self.ask_comment:
                yield Input(select_on_focus=False, placeholder="comment: why (required)", id="duration-comment")
            yield Static("", id="duration-error")
            yield Label(Text("enter: confirm · tab: next field · esc: cancel", style="dim"))

    def on_mount(self) -> None:
        self.query_one("#duration-comment" if self.ask_comment else "#duration-value", Input).focus()

    @on(Input.Submitted)
    def _submit(self) -> None:
        error = self.query_one("#duration-error", Static)
        try:
            duration = parse_duration(self.query_one("#duration-value", Input).value)
        except ValueError as exc:
            error.update(safe(exc, 300, single_line=False))
            self.query_one("#duration-value", Input).focus()
            return
        comment = ""
        if self.ask_comment:
            comment = self.query_one("#duration-comment", Input).value.strip()
            if not comment:
                error.update(Text("a comment is required: say why"))
                self.query_one("#duration-comment", Input).focus()
                return
        self.dismiss(DurationRequest(duration, comment))

    def action_cancel(self) -> None:
        self.dismiss(None)
