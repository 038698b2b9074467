"""What the Bruno pane shows beside or over the conversation: a cited passage as it stands
in its file, the dialog that queues a recommended action for review, and Bruno's own
numbers."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from sreconsole.tui.evidence_view import short_path
from sreconsole.tui.list_keys import ChoiceList
from sreconsole.tui.render import clean, inert, safe

MAX_LINES = 200


def passage_lines(c) -> list:
    """The cited lines, numbered, read from the file now (so an edited runbook shows what
    it says today, and a shortened one says to re-index); a record's text for a record.
    Long lines wrap beside their number, not under it."""
    if c.is_record:
        return [safe(c.text or "(no detail kept for this record)", 4000, single_line=False)]
    try:
        with open(c.path, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        return [safe(f"(cannot read the file now: {exc.strerror or exc})", 300, style="red", single_line=False)]
    chosen = lines[c.start_line - 1 : c.end_line][:MAX_LINES]
    if not chosen:
        return [Text("(the file no longer has these lines: re-index it with sreconsole kb index)", style="yellow")]
    table = Table(box=None, show_header=False, padding=(0, 1, 0, 0), expand=True)
    table.add_column("line", style="dim", justify="right", width=5, no_wrap=True)
    table.add_column("text", overflow="fold", ratio=1)
    for i, line in enumerate(chosen):
        table.add_row(Text(f"{c.start_line + i:d}"), Text(clean(line, 400)))
    return [table]


def display_ref(c, roots: tuple[str, ...] = ()) -> str:
    """``path:first-last`` with the path relative to the indexed directory holding it
    (``kubernetes/KubePodCrashLooping.md:8-17``), absolute when none does."""
    from sreconsole.services.knowledge import relative_to_roots

    if c.is_record:
        return c.ref
    return f"{relative_to_roots(c.path, roots)}:{c.start_line}-{c.end_line}"


def short_ref(c) -> str:
    """``knowledge/RUNBOOK.md:14-24`` for a list where the full path would wrap (the
    passage header shows the full path)."""
    return c.ref if c.is_record else f"{short_path(c.path)}:{c.start_line}-{c.end_line}"


class CitationList(ChoiceList):
    """The side panel's list of citations; it moves like every other list here."""


class ProposeScreen(ModalScreen["tuple | None"]):
    """The action an answer recommends, its parameters (from the context, editable, checked
    by the catalog as you type) and the exact command; enter queues it as *pending*.
    Returns ``(draft, action id, parameters)`` or ``None``."""

    DEFAULT_CSS = """
    ProposeScreen { align: center middle; }
    ProposeScreen > Vertical {
        width: 90; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    ProposeScreen #propose-actions { height: auto; max-height: 6; }
    ProposeScreen #propose-params { height: auto; }
    ProposeScreen #propose-params Input { margin: 0 0 0 2; }
    ProposeScreen #propose-preview { height: auto; }
    ProposeScreen #propose-evidence { height: auto; max-height: 5; color: $text-muted; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="propose.cancel"),
        Binding("enter", "submit", "Queue", show=False, id="propose.submit"),
    ]

    def __init__(self, draft, chat) -> None:
        super().__init__()
        self.draft = draft
        self.chat = chat
        self.catalog = chat.bruno.catalog
        self.action_id = draft.action
        self.values: dict[str, str] = dict(draft.parameters)
        """What the inputs of the chosen action start with (they hold what is typed)."""

    def compose(self) -> ComposeResult:
        d = self.draft
        with Vertical():
            yield Label(Text("Queue a proposal for review", style="bold"))
            if d.alert is not None:
                target = d.alert.target() or d.alert.namespace
                yield Static(Text.assemble(("for ", "dim"), safe(f"{d.alert.alertname} {target}", 120, style="bold"), ("  ", ""),
                                           safe(d.context, 200, style="dim")), id="propose-for")
            else:
                name = d.alertname or "BrunoChat"
                yield Static(Text.assemble(("no firing alert matched: filed under ", "dim"), safe(name, 80, style="bold"),
                                           (" (source=bruno)", "dim")), id="propose-for")
            if len(d.candidates) > 1:
                yield ChoiceList(*[Option(self._action_line(a), id=a) for a in d.candidates], id="propose-actions", markup=False, compact=True)
            else:
                yield Static(self._action_line(self.action_id), id="propose-action")
            yield Vertical(id="propose-params")
            yield Static("", id="propose-preview")
            refs = "  ".join(short_path(e.ref) if e.kind == "runbook" else e.ref for e in d.evidence)
            yield Static(safe(f"evidence: {refs}" if refs else "evidence: none", 600, single_line=False), id="propose-evidence")
            yield Label(Text("enter: queue as pending · tab: next field · esc: cancel\n"
                             "nothing runs from here: an operator approves it in the Review pane (2)", style="dim"))

    def _action_line(self, action_id: str) -> Text:
        """The candidate, its risk, and where it comes from: the cited runbook line or
        incident, or "the model's own words only" (never the default over a cited one)."""
        a = self.catalog.get(action_id)
        where = self.draft.sources.get(action_id, ())
        origin = "; ".join(f"{p.kind} {short_path(p.path)}:{p.line}" if p.line else p.text() for p in where[:3]) or "no source recorded"
        model_only = bool(where) and not any(p.cited for p in where)
        return Text.assemble(safe(action_id, 60, style="bold"), safe(f" — {a.title} (risk {a.risk}{', reversible' if a.reversible else ''})", 200),
                             ("\n   from ", "dim"), safe(origin, 160, style="bold red" if model_only else "dim"))

    async def on_mount(self) -> None:
        await self._show_params()
        inputs = self.query(Input)
        if len(self.draft.candidates) > 1:
            self.query_one("#propose-actions", OptionList).highlighted = 0
            self.query_one("#propose-actions", OptionList).focus()
        elif inputs:
            empty = [i for i in inputs if not i.value]
            (empty[0] if empty else inputs.first()).focus()

    async def _show_params(self) -> None:
        box = self.query_one("#propose-params", Vertical)
        await box.remove_children()
        action = self.catalog.get(self.action_id)
        widgets = []
        for p in action.parameters:
            source = f"from label {' / '.join(p.label_order)}" if p.label_order else "you decide"
            widgets.append(Label(Text.assemble(safe(p.name, 60, style="bold"), safe(f"  {source}", 120, style="dim"))))
            widgets.append(Input(select_on_focus=False, value=clean(self.values.get(p.name, ""), 300), placeholder=clean(f"{p.name} (required)", 80), id=f"propose-{p.name}", compact=True))
        await box.mount_all(widgets)
        self._preview()

    def _current(self) -> dict[str, str]:
        action = self.catalog.get(self.action_id)
        return {p.name: self.query_one(f"#propose-{p.name}", Input).value.strip() for p in action.parameters}

    def _preview(self) -> bool:
        preview = self.query_one("#propose-preview", Static)
        values = {k: v for k, v in self._current().items() if v}
        try:
            _, command, _ = self.chat.validate(self.draft, self.action_id, values)
        except ValueError as exc:
            preview.update(safe(str(exc), 400, style="red", single_line=False))
            return False
        preview.update(Text.assemble(("command: ", "dim"), safe(command, 400, single_line=False)))
        return True

    @on(Input.Changed)
    def _changed(self) -> None:
        self._preview()

    @on(OptionList.OptionHighlighted, "#propose-actions")
    async def _action_changed(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id and event.option.id != self.action_id:
            self.action_id = event.option.id
            self.values = self.draft.parameters_for(self.catalog.get(self.action_id))
            await self._show_params()

    @on(OptionList.OptionSelected, "#propose-actions")
    def _action_chosen(self, event: OptionList.OptionSelected) -> None:
        """enter on an action queues it when its parameters are complete; otherwise it
        moves to the first one still missing."""
        if self._preview():
            self.action_submit()
            return
        empty = [i for i in self.query(Input) if not i.value.strip()]
        if empty:
            empty[0].focus()
        elif self.query(Input):
            self.query(Input).first().focus()

    @on(Input.Submitted)
    def _submitted(self) -> None:
        self.action_submit()

    def action_submit(self) -> None:
        if not self._preview():
            return
        values = {k: v for k, v in self._current().items() if v}
        self.dismiss((self.draft, self.action_id, values))

    def action_cancel(self) -> None:
        self.dismiss(None)


def _share(x: float | None) -> str:
    return "—" if x is None else f"{x:.0%}"


def _ms(x: float | None) -> str:
    return "—" if x is None else f"{x:,.0f} ms"


def stats_table(stats) -> Table:
    """Bruno's numbers (:class:`~sreconsole.chat.metrics.Stats`) as a two-column table."""
    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
    table.add_column("what", style="dim", no_wrap=True)
    table.add_column("figure")
    intents = ", ".join(f"{k} {v}" for k, v in sorted(stats.by_intent.items(), key=lambda kv: -kv[1])) or "none yet"
    table.add_row("answers", safe(f"{stats.answers:,} ({intents})", None))
    table.add_row("RAG usage rate", safe(f"{_share(stats.rag_usage_rate)}  searched the knowledge base", None))
    table.add_row("citation rate", safe(f"{_share(stats.citation_rate)}  cite a passage or a record", None))
    table.add_row("knowledge-base coverage", safe(f"{_share(stats.kb_coverage)}  of the searches, answered from the knowledge base", None))
    lat = stats.latency_ms
    table.add_row("latency p50 / p95 / p99", safe(f"{_ms(lat.get('p50'))} / {_ms(lat.get('p95'))} / {_ms(lat.get('p99'))}", None))
    table.add_row("ratings", safe(f"{stats.up} up, {stats.down} down  ({_share(stats.rated_share)} of answers rated)", None))
    return table


class StatsScreen(ModalScreen[None]):
    """Bruno's own numbers, as the seeds' "Key Metrics to Track" name them."""

    DEFAULT_CSS = """
    StatsScreen { align: center middle; }
    StatsScreen > Vertical {
        width: 84; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [Binding("escape,q,S", "close", "Close", id="bruno.stats.close")]

    def __init__(self, stats, where: str = "") -> None:
        super().__init__()
        self.stats = stats
        self.where = where

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text("Bruno's numbers", style="bold"))
            yield Static(inert(stats_table(self.stats)), id="bruno-stats-table")
            yield Label(Text.assemble(("kept in ", "dim"), safe(self.where or "(nowhere: no data dir)", 200, style="dim"),
                                      ("\n+/- rate the last answer · sreconsole chat export FILE writes the ratings · esc: close", "dim")))

    def action_close(self) -> None:
        self.dismiss(None)
