"""One trace's span tree, opened with ``enter`` on a trace line of an alert's evidence.

The spans are fetched through the evidence service in a worker (never in the screen's own
handlers), and every name, service and id in them came from Tempo: they reach the screen
only as ``safe`` text in a Rich table.
"""

from __future__ import annotations

import asyncio

from rich.console import Group
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from sreconsole.domain.traces import MAX_TREE_SPANS, span_tree
from sreconsole.sources.base import SourceError
from sreconsole.tui.evidence_view import span_tree_renderable, trace_line
from sreconsole.tui.render import safe


class SpanTreeScreen(ModalScreen[None]):
    """The spans of one trace, indented by parent, with service, duration and status."""

    DEFAULT_CSS = """
    SpanTreeScreen { align: center middle; }
    SpanTreeScreen > VerticalScroll {
        width: 100%; height: 100%; border: round $accent; background: $surface; padding: 0 1;
    }
    SpanTreeScreen #span-tree-title { height: auto; }
    """
    BINDINGS = [
        Binding("escape,q", "dismiss", "Close", id="spans.close"),
        Binding("j,down", "scroll('down')", "Down", show=False, id="spans.down"),
        Binding("k,up", "scroll('up')", "Up", show=False, id="spans.up"),
    ]

    def __init__(self, trace, evidence_service) -> None:
        super().__init__()
        self.trace = trace
        """The ``TraceSummary`` whose line was chosen."""
        self.evidence_service = evidence_service
        self.rows: list = []
        """``(depth, Span)`` once loaded; tests read it."""
        self.error = ""

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Label(Text.assemble(("trace ", "bold"), safe(self.trace.trace_id, 32, style="bold"), ("  esc: close", "dim")), id="span-tree-title")
            yield Static(trace_line(self.trace, self.app.current_theme, id_len=0), id="span-tree-summary")
            yield Static(Text("spans: loading…", style="dim"), id="span-tree")

    def on_mount(self) -> None:
        self._load()

    @work(exclusive=True, group="span-tree", exit_on_error=False, description="load a trace")
    async def _load(self) -> None:
        view = self.query_one("#span-tree", Static)
        try:
            spans = await self.evidence_service.trace(self.trace.trace_id)
        except SourceError as exc:
            self.error = str(exc)
            view.update(safe(f"trace not loaded: {exc}", 300, style="dim", single_line=False))
            return
        self.rows = await asyncio.to_thread(span_tree, spans)  # 50,000 spans: a few hundred ms
        table = span_tree_renderable(self.rows, self.app.current_theme, max(self.size.width - 4, 20))
        left = len(spans) - len(self.rows)
        note = Text(f"{left:d} more spans not drawn (at most {MAX_TREE_SPANS:d})" if left else f"{len(spans):d} spans", style="dim")
        view.update(Group(table, note))

    def action_scroll(self, direction: str) -> None:
        self.query_one(VerticalScroll).scroll_relative(y=1 if direction == "down" else -1, animate=False)
