"""The Bruno pane: ask the knowledge base; answers stream in, render as Markdown, and cite
``path:first-last`` under each answer. Nothing here can approve or execute anything."""

from __future__ import annotations

from rich.console import Group
from rich.markdown import Markdown
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Input, Static

from sreconsole.tui.render import clean, safe

HISTORY = 50


class BrunoPane(Vertical, can_focus=False):
    BINDINGS = [
        Binding("ctrl+n", "new_chat", "New chat", id="bruno.new", tooltip="Start over: clear the conversation"),
        Binding("escape", "leave_input", "Leave input", id="bruno.leave", tooltip="Leave the input (then 1-4 switch panes); i or / come back"),
        Binding("i,slash", "enter_input", "Ask", show=False, id="bruno.ask"),
        Binding("up", "history(-1)", "Previous", show=False, id="bruno.history.up"),
        Binding("down", "history(1)", "Next", show=False, id="bruno.history.down"),
    ]

    def __init__(self, bruno, **kwargs) -> None:
        super().__init__(**kwargs)
        self.bruno = bruno
        self.turns: list[tuple[str, str]] = []
        self.asked: list[str] = []
        self._cursor = 0
        self.last_answer = None

    def compose(self) -> ComposeResult:
        yield Static(Text.assemble(("Bruno  ", "bold"), ("answers from the team's runbooks, with citations", "dim")), classes="pane-title", id="bruno-title")
        yield VerticalScroll(id="bruno-log")
        yield Input(placeholder="ask: how do I fix a pod stuck in CrashLoopBackOff?  (ctrl+n: new chat)", id="bruno-input")

    def on_mount(self) -> None:
        self._say(Text("Ask about a runbook, what is firing, what waits for review, or what can be remediated.", style="dim"))

    def _say(self, renderable) -> Static:
        log = self.query_one("#bruno-log", VerticalScroll)
        widget = Static(renderable, classes="bruno-turn")
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
        self._answer(question, answer_box)

    @work(thread=True, exclusive=True, group="bruno", exit_on_error=False, description="ask Bruno")
    def _answer(self, question: str, box: Static) -> None:
        """Retrieval and generation run off the event loop; chunks are shown as they come,
        then the final answer (whose citations were checked) replaces them."""
        shown = ""
        try:
            for part in self.bruno.stream(question, list(self.turns)):
                if isinstance(part, str):
                    shown += part
                    self.app.call_from_thread(box.update, Text(clean(shown, 8000, single_line=False)))
                else:
                    self.last_answer = part
                    self.app.call_from_thread(self._final, box, part)
        except Exception as exc:  # noqa: BLE001 - a failed answer says why; the chat goes on
            self.app.call_from_thread(box.update, safe(f"Bruno could not answer: {exc}", 400, style="red", single_line=False))

    def _final(self, box: Static, answer) -> None:
        parts: list = [Markdown(answer.text or "")]
        if answer.citations:
            parts.append(Text(""))
            for c in answer.citations:
                parts.append(Text.assemble((f"[{c.n}] ", "bold"), safe(f"{c.path}:{c.start_line}-{c.end_line}", 300, style="underline"),
                                           ("  ", ""), safe(c.heading, 200, style="dim")))
        footer = f"— {answer.generator}" + (f" · {answer.note}" if answer.note else "")
        parts.append(safe(footer, 300, style="dim italic"))
        box.update(Group(*parts))
        self.turns.append(("user", answer.query))
        self.turns.append(("assistant", answer.text))
        self.query_one("#bruno-log", VerticalScroll).scroll_end(animate=False)
        self.query_one("#bruno-title", Static).update(Text.assemble(("Bruno  ", "bold"), (f"last answer by: {answer.generator}", "dim")))

    def action_leave_input(self) -> None:
        """Digits belong to the question while typing; esc hands the keys back to the app."""
        self.app.set_focus(self.query_one("#bruno-log", VerticalScroll))

    def action_enter_input(self) -> None:
        self.app.set_focus(self.query_one("#bruno-input", Input))

    def action_new_chat(self) -> None:
        self.turns.clear()
        self.query_one("#bruno-log", VerticalScroll).remove_children()
        self._say(Text("new chat", style="dim"))

    def action_history(self, step: int) -> None:
        if not self.asked:
            return
        self._cursor = max(0, min(len(self.asked), self._cursor + step))
        box = self.query_one("#bruno-input", Input)
        box.value = self.asked[self._cursor] if self._cursor < len(self.asked) else ""
        box.cursor_position = len(box.value)
