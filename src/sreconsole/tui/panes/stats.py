"""The console's own numbers on one screen (``m`` anywhere): bars for shares and
distributions, sparklines for recent triage latencies. The same figures
:mod:`sreconsole.services.metrics_export` serves to Prometheus
(:func:`sreconsole.services.console_metrics.collect`), read in a thread worker."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from sreconsole.domain.evidence import sparkline
from sreconsole.services.console_metrics import CONFIDENCE_BUCKETS, ConsoleStats, collect
from sreconsole.tui.render import inert, safe

BAR = 24
"""Width of a share bar, in cells."""


def bar(share: float | None, width: int = BAR) -> Text:
    """``████████░░░░ 62%``; ``—`` when there is nothing to divide."""
    if share is None:
        return Text("—", style="dim")
    full = round(max(0.0, min(1.0, share)) * width)
    out = safe("█" * full, None, style="bold")
    out.append_text(safe("░" * (width - full), None, style="dim"))
    out.append_text(safe(f" {share:.0%}", None))
    return out


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:,.1f} ms"


def stats_table(s: ConsoleStats) -> Table:
    table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
    table.add_column("what", style="dim", no_wrap=True)
    table.add_column("figure")
    methods = ", ".join(f"{m} {n}" for m, n in sorted(s.by_method.items(), key=lambda kv: -kv[1])) or "none yet"
    table.add_row("proposals", safe(f"{s.proposals:,} ({methods})", 200))
    table.add_row("TRM share", inert(bar(s.trm_share)))
    table.add_row("RAG enhancement", inert(bar(s.rag_rate)))
    table.add_row("human review", inert(bar(s.human_review_share)))
    for key, name in (("without_rag", "triage latency"), ("with_rag", "  with RAG")):
        lat = s.latency.get(key)
        line = safe(f"p50 {_ms(lat and lat['p50'])}  p95 {_ms(lat and lat['p95'])}  p99 {_ms(lat and lat['p99'])}"
                    + (f"  ({int(lat['n'])})" if lat else ""), 120)
        spark = sparkline(s.recent_latency.get(key, []), 30)[0]
        if spark:
            line.append_text(safe("  " + spark, None, style="bold"))
        table.add_row(safe(name, 40), line)
    for name, (hits, misses) in (("embedding cache", s.embed_cache), ("query cache", s.query_cache)):
        cell = bar(hits / (hits + misses) if hits + misses else None)
        cell.append_text(safe(f"  {hits:,} hits / {hits + misses:,}", None, style="dim"))
        table.add_row(safe(name, 40), inert(cell))
    top = max(s.confidence) or 1
    hist = "".join("▁▂▃▄▅▆▇█"[min(7, round(n / top * 7))] if n else " " for n in s.confidence)
    table.add_row("confidence", Text.assemble(("0 ", "dim"), safe(hist, None, style="bold"), safe(f" {CONFIDENCE_BUCKETS[-1]:g}", None, style="dim"),
                                              safe(f"   ({sum(s.confidence):,} scored)", None, style="dim")))
    if s.decisions_by_operator:
        most = max(s.decisions_by_operator.values())
        for who, n in sorted(s.decisions_by_operator.items(), key=lambda kv: -kv[1])[:6]:
            cell = bar(n / most, 16)
            cell.right_crop(len(f" {n / most:.0%}"))
            cell.append_text(safe(f" {n:,}", None))
            table.add_row(safe(f"decisions {who}", 40, style="dim"), inert(cell))
    else:
        table.add_row("decisions", Text("none yet", style="dim"))
    if s.outcomes:
        for action in sorted(s.outcomes):
            counts = s.outcomes[action]
            cell = bar(s.effectiveness(action))
            cell.append_text(safe(f"  {counts['effective']} effective, {counts['not_effective']} not", None, style="dim"))
            table.add_row(safe(f"effective {action}", 40, style="dim"), inert(cell))
    else:
        table.add_row("effectiveness", Text("no executed action judged yet", style="dim"))
    return table


class StatsScreen(ModalScreen[None]):
    """The console's numbers (the seeds' "Key Metrics to Track"), refreshed every 5 s."""

    DEFAULT_CSS = """
    StatsScreen { align: center middle; }
    StatsScreen > Vertical {
        width: 100; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [Binding("escape,q,m", "close", "Close", id="stats.close")]

    def __init__(self, listen: str = "") -> None:
        super().__init__()
        self.listen = listen
        self.stats: ConsoleStats | None = None

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text("The console's numbers", style="bold"))
            yield Static(Text("reading…", style="dim"), id="stats-table")
            where = f"exported for Prometheus on {self.listen}/metrics" if self.listen else "not exported (set metrics.listen)"
            yield Label(Text.assemble(safe(where, 120, style="dim"), ("  ·  esc: close", "dim")))

    def on_mount(self) -> None:
        self.refresh_stats()
        self.set_interval(5.0, self.refresh_stats)

    @work(thread=True, exclusive=True, group="stats", exit_on_error=False, description="the console's numbers")
    def refresh_stats(self) -> None:
        app = self.app
        stats = collect(getattr(app, "review_queue", None), getattr(app, "triage_service", None),
                        getattr(getattr(app, "evidence_service", None), "knowledge", None))
        app.call_from_thread(self._show, stats)

    def _show(self, stats: ConsoleStats) -> None:
        self.stats = stats
        body = inert(stats_table(stats))
        if stats.error:
            body = Text.assemble(safe(stats.error, 200, style="bold red"))
        self.query_one("#stats-table", Static).update(body)

    def action_close(self) -> None:
        self.dismiss(None)
