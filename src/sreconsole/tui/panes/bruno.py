"""The Bruno pane: ask the knowledge base and the live state; answers stream in, render as
Markdown, and list their citations (``path:first-last`` and heading) under each answer.

``o`` opens the side panel: the last answer's citations, and the passage under the cursor
as it stands in its file, with line numbers. ``p`` turns an answer that recommends a
catalog action into a *pending* review-queue proposal after a dialog that shows the action,
its parameters and the exact command; nothing here approves or executes anything. ``+`` and
``-`` rate the last answer (thumbs up / down, kept with Bruno's numbers under the data dir)
and ``S`` shows those numbers: RAG usage, citation rate, knowledge-base coverage, latency
percentiles and the ratings.
"""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from sreconsole.domain.chat import RECORD_GENERATORS
from sreconsole.tui.panes.bruno_dialogs import CitationList, ProposeScreen, StatsScreen, display_ref, passage_lines, short_ref
from sreconsole.tui.render import clean, inert, inert_markdown, notify_plain, safe

HISTORY = 50
NARROW = 110
"""Below this width the side panel covers the conversation instead of sharing the row."""


def answer_renderable(answer, earlier: bool = False, roots: tuple[str, ...] = (), rating: str = ""):
    """An answer as shown: Markdown for what a generator wrote (links shown as text, never
    as terminal hyperlinks), plain text for answers built from records; then its citations
    (paths relative to the indexed directory holding them), what it recommends, and who
    answered."""
    if answer.generator in RECORD_GENERATORS:
        body = Text(clean(answer.text, 8000, single_line=False))
    else:
        from rich.markdown import Markdown  # markdown-it costs ~0.1 s at start-up: load it with the first answer

        body = Markdown(inert_markdown(clean(answer.text, 8000, single_line=False)), hyperlinks=False)
    parts: list = [body]
    if answer.citations:
        parts.append(Text(""))
        for c in answer.citations:
            parts.append(Text.assemble((f"[{c.n:d}] ", "bold"), safe(display_ref(c, roots), 300, style="underline"), ("  ", ""), safe(c.heading, 200, style="dim")))
    if answer.recommends and not earlier:
        parts.append(Text.assemble(("recommends ", "dim"), safe(", ".join(answer.recommends), 200, style="bold"),
                                   (" · p queues it for review", "dim")))
    footer = f"— {answer.generator}" + (" (earlier)" if earlier else "") + (f" · rated {rating}" if rating else "") + (f" · {answer.note}" if answer.note else "")
    parts.append(safe(footer, 400, style="dim italic", single_line=False))
    return Group(*parts)


class BrunoPane(Vertical, can_focus=False):
    BINDINGS = [
        Binding("ctrl+n", "new_chat", "New chat", id="bruno.new", tooltip="Start over: forget the conversation"),
        Binding("ctrl+l", "clear", "Clear", show=False, id="bruno.clear", tooltip="Clear the screen; the conversation goes on"),
        Binding("escape", "leave_input", "Leave input", id="bruno.leave", tooltip="Leave the input (then 1-4 switch panes); i or / come back"),
        Binding("i,slash", "enter_input", "Ask", show=False, id="bruno.ask"),
        Binding("o", "open_citations", "Citations", id="bruno.open", tooltip="The last answer's citations and their passages, in a side panel"),
        Binding("p", "propose", "Propose", id="bruno.propose", tooltip="Queue the action the last answer recommends for review"),
        Binding("plus", "rate(1)", "Good", show=False, id="bruno.rate.up", tooltip="Thumbs up: the last answer helped (kept as training data)"),
        Binding("minus", "rate(0)", "Bad", show=False, id="bruno.rate.down", tooltip="Thumbs down: the last answer did not help"),
        Binding("S", "stats", "Stats", show=False, id="bruno.stats", tooltip="Bruno's own numbers: RAG use, citations, coverage, latency, ratings"),
        Binding("up", "history(-1)", "Previous", show=False, id="bruno.history.up"),
        Binding("down", "history(1)", "Next", show=False, id="bruno.history.down"),
    ]

    def __init__(self, chat, **kwargs) -> None:
        super().__init__(**kwargs)
        self.chat = chat
        """The :class:`~sreconsole.services.chat.ChatService`."""
        self.turns: list[tuple[str, str]] = []
        """(role, text) of the conversation: the context sent with the next question."""
        self.asked: list[str] = []
        self._cursor = 0
        self.last_answer = None
        self.last_answer_id = ""
        """The id the numbers keep the last answer under (what ``+`` / ``-`` rate)."""
        self._last_box: Static | None = None
        self.shown_citations: tuple = ()
        self._warmed = False

    def compose(self) -> ComposeResult:
        yield Static(self._title(None), classes="pane-title", id="bruno-title")
        with Horizontal(id="bruno-body"):
            yield VerticalScroll(id="bruno-log")
            with Vertical(id="bruno-side"):
                yield CitationList(id="bruno-citations", markup=False, compact=True)
                with VerticalScroll(id="bruno-passage-scroll"):
                    yield Static(id="bruno-passage")
        yield Input(select_on_focus=False, placeholder="ask: how do I fix a pod stuck in CrashLoopBackOff?  (esc: leave · ctrl+n: new chat)", id="bruno-input")

    def _title(self, answered_by: str | None) -> Text:
        title = Text.assemble(("Bruno  ", "bold"), ("generator: ", "dim"), safe(self.chat.generator_name, 60))
        if self.chat.generator_problem:
            title.append_text(safe(f" ({self.chat.generator_problem})", 120, style="yellow"))
        if answered_by and answered_by != self.chat.generator_name:
            title.append_text(Text.assemble(("  · last answer: ", "dim"), safe(answered_by, 60)))
        return title

    def on_mount(self) -> None:
        self._say(Text("Ask about a runbook, what is firing, what waits for review, or what can be remediated.", style="dim"))
        self._restore()

    def on_show(self) -> None:
        """The first time the pane is shown, load what the first question needs (the
        embedding model, the routing examples) while the operator types it. Not at start-up:
        an operator who never opens Bruno should not pay ~100 MB for its model."""
        if not self._warmed:
            self._warmed = True
            self.run_worker(self.chat.warm, thread=True, group="bruno-warm", exit_on_error=False, description="warm Bruno")

    def on_resize(self) -> None:
        self.set_class(self.size.width < NARROW, "-narrow")

    # -- the conversation ------------------------------------------------------------------

    def _restore(self) -> None:
        """The conversation since the last "new chat": questions go back into the input's
        history, answers are shown again with their citations."""
        from sreconsole.domain.chat import Answer

        for turn in self.chat.history.load():
            if turn.role == "user":
                self.asked.append(turn.text)
                self._say(Text.assemble(("you  ", "bold"), safe(turn.text, 2000, single_line=False)))
            else:
                self._say(answer_renderable(Answer("", turn.text, turn.generator, turn.citations, ""), earlier=True, roots=self.chat.roots))
            self.turns.append((turn.role, turn.text))
        self._cursor = len(self.asked)

    def _say(self, renderable) -> Static:
        log = self.query_one("#bruno-log", VerticalScroll)
        widget = Static(inert(renderable), classes="bruno-turn")
        log.mount(widget)
        log.scroll_end(animate=False)
        return widget

    @on(Input.Submitted, "#bruno-input")
    def _ask(self, event: Input.Submitted) -> None:
        question = event.value.strip()
        if not question:
            return
        event.input.value = ""
        self.asked.append(question)
        self.asked = self.asked[-HISTORY:]
        self._cursor = len(self.asked)
        self._say(Text.assemble(("you  ", "bold"), safe(question, 2000, single_line=False)))
        answer_box = self._say(Text("…", style="dim"))
        self._answer(question, list(self.turns), answer_box)

    @work(thread=True, exclusive=True, group="bruno", exit_on_error=False, description="ask Bruno")
    def _answer(self, question: str, turns: list[tuple[str, str]], box: Static) -> None:
        """Retrieval and generation run off the event loop; chunks are shown as they come,
        then the final answer (whose citations were checked) replaces them. A newer
        question cancels this one: leaving the loop stops a local model's generation."""
        worker = get_current_worker()
        shown = ""
        try:
            for part in self.chat.bruno.stream(question, turns):
                if worker.is_cancelled:
                    self.app.call_from_thread(box.update, Text(clean(shown, 8000, single_line=False) + "\n(stopped: you asked something else)", style="dim"))
                    return
                if isinstance(part, str):
                    shown += part
                    self.app.call_from_thread(box.update, Text(clean(shown, 8000, single_line=False)))
                else:
                    answer_id = self.chat.record(part)
                    self.app.call_from_thread(self._final, box, part, answer_id)
        except Exception as exc:  # noqa: BLE001 - a failed answer says why; the chat goes on
            self.app.call_from_thread(box.update, safe(f"Bruno could not answer: {exc}", 400, style="red", single_line=False))

    def _final(self, box: Static, answer, answer_id: str = "") -> None:
        self.last_answer = answer
        self.last_answer_id = answer_id
        self._last_box = box
        box.update(answer_renderable(answer, roots=self.chat.roots))
        self.turns.append(("user", answer.query))
        self.turns.append(("assistant", answer.text))
        self.query_one("#bruno-log", VerticalScroll).scroll_end(animate=False)
        self.query_one("#bruno-title", Static).update(self._title(answer.generator))
        if self.has_class("-side"):
            self._fill_side(answer.citations)

    # -- keys ---------------------------------------------------------------------------------

    def action_leave_input(self) -> None:
        """Digits belong to the question while typing; esc hands the keys back to the app.
        In the side panel, esc closes it."""
        if self.has_class("-side") and self.query_one("#bruno-side").has_focus_within:
            self.close_side()
            return
        self.app.set_focus(self.query_one("#bruno-log", VerticalScroll))

    def action_enter_input(self) -> None:
        self.app.set_focus(self.query_one("#bruno-input", Input))

    def action_new_chat(self) -> None:
        self.chat.history.new_chat()
        self.turns.clear()
        self.last_answer = None
        self.last_answer_id = ""
        self._last_box = None
        self.close_side()
        self.query_one("#bruno-log", VerticalScroll).remove_children()
        self._say(Text("new chat", style="dim"))
        self.query_one("#bruno-title", Static).update(self._title(None))

    def action_clear(self) -> None:
        """Only the screen: the context sent with the next question and the history on
        disk stay (ctrl+n forgets them)."""
        self.close_side()
        self.query_one("#bruno-log", VerticalScroll).remove_children()
        self._say(Text("cleared (the conversation goes on; ctrl+n starts a new one)", style="dim"))

    def action_history(self, step: int) -> None:
        box = self.query_one("#bruno-input", Input)
        if not self.asked or not box.has_focus:
            return
        self._cursor = max(0, min(len(self.asked), self._cursor + step))
        box.value = self.asked[self._cursor] if self._cursor < len(self.asked) else ""
        box.cursor_position = len(box.value)

    # -- citations side panel --------------------------------------------------------------

    def action_open_citations(self) -> None:
        if self.has_class("-side"):
            self.close_side()
            return
        answer = self.last_answer
        if answer is None or not answer.citations:
            notify_plain(self, "the last answer cites nothing", severity="warning")
            return
        self._fill_side(answer.citations)
        self.add_class("-side")
        self.query_one("#bruno-citations", OptionList).focus()

    def close_side(self) -> None:
        if self.has_class("-side"):
            self.remove_class("-side")
            self.app.set_focus(self.query_one("#bruno-log", VerticalScroll))

    def _fill_side(self, citations) -> None:
        self.shown_citations = tuple(citations)
        options = self.query_one("#bruno-citations", OptionList)
        options.clear_options()
        options.add_options([
            Option(Text.assemble((f"[{c.n:d}] ", "bold"), safe(short_ref(c), 200), ("  ", ""), safe(c.heading.split(" > ")[-1], 80, style="dim")), id=str(i))
            for i, c in enumerate(citations)
        ])
        if citations:
            options.highlighted = 0
            self.show_passage(0)

    @on(OptionList.OptionHighlighted, "#bruno-citations")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option.id is not None:
            self.show_passage(int(event.option.id))

    @on(OptionList.OptionSelected, "#bruno-citations")
    def _selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id is not None:
            self.show_passage(int(event.option.id))
            self.query_one("#bruno-passage-scroll", VerticalScroll).focus()

    def show_passage(self, index: int) -> None:
        """The cited lines as they stand in the file now (a record's text for a record)."""
        c = self.shown_citations[index]
        head = Text.assemble((f"[{c.n:d}] ", "bold"), safe(display_ref(c, self.chat.roots), 300, style="underline"), ("  ", ""), safe(c.heading, 200, style="dim"))
        self.query_one("#bruno-passage", Static).update(Group(head, *passage_lines(c)))
        self.query_one("#bruno-passage-scroll", VerticalScroll).scroll_home(animate=False)

    # -- turning an answer into a proposal -------------------------------------------------

    def action_propose(self) -> None:
        answer = self.last_answer
        if answer is None:
            busy = any(w.group == "bruno" and w.is_running for w in self.workers)
            notify_plain(self, "Bruno is still answering" if busy else "ask something first: p queues what the last answer recommends",
                         severity="warning")
            return
        try:
            draft = self.chat.draft(answer)
        except Exception as exc:  # noqa: BLE001 - a broken catalog: say so
            notify_plain(self, f"cannot draft a proposal: {exc}", severity="error")
            return
        if draft is None:
            notify_plain(self, "the last answer recommends no catalog action; nothing to propose", severity="warning")
            return
        self.app.push_screen(ProposeScreen(draft, self.chat), self._proposed)

    def _proposed(self, result) -> None:
        if result is None:
            return
        draft, action_id, params = result
        self._enqueue(draft, action_id, params)

    @work(thread=True, group="bruno-propose", exit_on_error=False, description="queue a chat proposal")
    def _enqueue(self, draft, action_id: str, params: dict) -> None:
        try:
            record, queued = self.chat.enqueue(draft, action_id, params)
        except Exception as exc:  # noqa: BLE001 - ReadOnly, ValueError, a busy store: one line
            notify_plain(self.app, f"not queued: {exc}", severity="error", timeout=8)
            return
        if queued:
            message = f"queued #{record.id} {record.action} for review (pending): see the Review pane (2)"
        else:
            message = f"#{record.id} {record.action} already waits for review ({record.method}); nothing added"
        notify_plain(self.app, message, timeout=6)

    # -- ratings and numbers ----------------------------------------------------------------

    def action_rate(self, up: int) -> None:
        """Thumbs up (``+``) or down (``-``) on the last answer; rating it again replaces it."""
        answer = self.last_answer
        if answer is None or not self.last_answer_id:
            notify_plain(self, "ask something first: + and - rate the last answer", severity="warning")
            return
        self._rate(self.last_answer_id, answer, bool(up))

    @work(thread=True, group="bruno-rate", exit_on_error=False, description="rate an answer")
    def _rate(self, answer_id: str, answer, up: bool) -> None:
        self.chat.rate(answer_id, answer, up)
        problem = self.chat.metrics.problem
        if problem:
            notify_plain(self, f"rating not kept: {problem}", severity="error")
            return
        self.app.call_from_thread(self._rated, answer, "up" if up else "down")

    def _rated(self, answer, rating: str) -> None:
        if self._last_box is not None and answer is self.last_answer:
            self._last_box.update(answer_renderable(answer, roots=self.chat.roots, rating=rating))
        notify_plain(self, f"rated the last answer {rating}; S shows Bruno's numbers", timeout=4)

    def action_stats(self) -> None:
        self._load_stats()

    @work(thread=True, exclusive=True, group="bruno-stats", exit_on_error=False, description="read Bruno's numbers")
    def _load_stats(self) -> None:
        stats = self.chat.stats()
        self.app.call_from_thread(self.app.push_screen, StatsScreen(stats, str(self.chat.metrics.directory or "")))
