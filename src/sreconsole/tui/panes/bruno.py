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
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from sreconsole.tui.render import clean, safe

HISTORY = 50


class BrunoPane(Vertical, can_focus=False):
    BINDINGS = [
        Binding("ctrl+n", "new_chat", "New chat", id="bruno.new", tooltip="Start over: clear the conversation"),
        Binding("escape", "leave_input", "Leave input", id="bruno.leave", tooltip="Leave the input (then 1-4 switch panes); i or / come back"),
        Binding("i,slash", "enter_input", "Ask", show=False, id="bruno.ask"),
        Binding("o", "open_citations", "Open citations", id="bruno.open", tooltip="The passages the last answer cites, with their lines"),
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
        self._restore()

    # -- history on disk ---------------------------------------------------------------------

    def _history_path(self):
        settings = getattr(self.app, "settings", None)
        if settings is None or not settings.chat.history:
            return None
        return settings.data_path / "chat" / "history.jsonl"

    def _restore(self) -> None:
        """The conversation since the last "new chat", as it was (capped): questions go back
        into the input's history, answers are shown again with their citations."""
        import json

        path = self._history_path()
        if path is None or not path.exists():
            return
        rows: list[dict] = []
        try:
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines()[-400:]:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if row.get("role") == "new":
                    rows = []
                elif row.get("role") in ("user", "assistant") and isinstance(row.get("text"), str):
                    rows.append(row)
        except OSError:
            return
        for row in rows[-40:]:
            if row["role"] == "user":
                self.asked.append(row["text"])
                self._say(Text.assemble(("you  ", "bold"), safe(row["text"], 2000, single_line=False)))
            else:
                self._say(Group(Markdown(clean(row["text"], 8000, single_line=False)), safe(f"— {row.get('generator', '')} (earlier)", 200, style="dim italic")))
            self.turns.append((row["role"], row["text"]))
        self._cursor = len(self.asked)

    def _remember(self, *rows: dict) -> None:
        import json

        path = self._history_path()
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as fh:
                for row in rows:
                    fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        except OSError:
            pass  # history is a convenience; the answer is on screen

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
        self._remember({"role": "user", "text": answer.query},
                       {"role": "assistant", "text": answer.text, "generator": answer.generator,
                        "citations": [{"path": c.path, "start_line": c.start_line, "end_line": c.end_line, "heading": c.heading} for c in answer.citations]})
        self.query_one("#bruno-log", VerticalScroll).scroll_end(animate=False)
        self.query_one("#bruno-title", Static).update(Text.assemble(("Bruno  ", "bold"), (f"last answer by: {answer.generator}", "dim")))

    def action_leave_input(self) -> None:
        """Digits belong to the question while typing; esc hands the keys back to the app."""
        self.app.set_focus(self.query_one("#bruno-log", VerticalScroll))

    def action_enter_input(self) -> None:
        self.app.set_focus(self.query_one("#bruno-input", Input))

    def action_open_citations(self) -> None:
        answer = self.last_answer
        if answer is None or not answer.citations:
            self.app.notify("the last answer cites nothing", severity="warning")
            return
        self.app.push_screen(CitationsScreen(answer.citations))

    def action_new_chat(self) -> None:
        self._remember({"role": "new"})
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


class CitationsScreen(ModalScreen[None]):
    """Each cited passage as it stands in its file now, with line numbers (inert text)."""

    DEFAULT_CSS = """
    CitationsScreen { align: center middle; }
    CitationsScreen > VerticalScroll { width: 100%; height: 100%; border: round $primary; background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,q,o", "dismiss", "Close", id="citations.close")]

    def __init__(self, citations) -> None:
        super().__init__()
        self.citations = citations

    def compose(self) -> ComposeResult:
        parts: list = []
        for c in self.citations:
            parts.append(Text.assemble((f"[{c.n}] ", "bold"), safe(f"{c.path}:{c.start_line}-{c.end_line}", 300, style="underline"), ("  ", ""), safe(c.heading, 200, style="dim")))
            parts.extend(self._lines(c))
            parts.append(Text(""))
        with VerticalScroll():
            yield Static(Group(*parts))

    @staticmethod
    def _lines(c) -> list[Text]:
        if c.path.startswith("incident:"):
            return [safe(c.text, 2000, single_line=False)]
        try:
            lines = open(c.path, encoding="utf-8", errors="replace").read().splitlines()
        except OSError as exc:
            return [Text(f"(cannot read the file now: {exc.strerror or exc})", style="red")]
        chosen = lines[c.start_line - 1 : c.end_line][:200]
        if not chosen:
            return [Text("(the file no longer has these lines: re-index it)", style="yellow")]
        return [Text.assemble((f"{c.start_line + i:>5} ", "dim"), safe(line, 400)) for i, line in enumerate(chosen)]
