"""The one-line header: environment, state of each source, operator identity."""

from __future__ import annotations

from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from sreconsole.domain.health import HealthState, SourceHealth
from sreconsole.domain.operator import Operator
from sreconsole.tui.render import safe

_STATE_STYLE = {
    HealthState.OK: "success",
    HealthState.STALE: "warning",
    HealthState.DOWN: "error",
    HealthState.DEGRADED: "warning",
    HealthState.UNCONFIGURED: "text-muted",
}


class StatusHeader(Horizontal):
    """``sreconsole │ demo │ demo ok 1s · prometheus down: … │ alice@10.0.0.5``."""

    DEFAULT_CSS = """
    StatusHeader {
        height: 1;
        background: $panel;
        color: $text;
    }
    StatusHeader > #header-env { width: auto; padding: 0 1; text-style: bold; }
    StatusHeader > #header-sources { width: 1fr; padding: 0 1; }
    StatusHeader > #header-operator { width: auto; padding: 0 1; color: $text-muted; }
    """

    def __init__(self, environment: str, operator: Operator, **kwargs) -> None:
        super().__init__(**kwargs)
        self.environment = environment
        self.operator = operator
        self._health: dict[str, SourceHealth] = {}
        self.now: datetime | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text.assemble("sreconsole ", safe(self.environment, 30)), id="header-env")
        yield Static("", id="header-sources")
        # The kernel's user; a different $USER only beside it, marked as a claim.
        yield Static(safe(self.operator.display(), 60), id="header-operator")

    def update_health(self, health: list[SourceHealth], now: datetime) -> None:
        for h in health:
            self._health[h.name] = h
        self.now = now
        self.query_one("#header-sources", Static).update(self.render_sources())

    def render_sources(self) -> Text:
        theme = self.app.current_theme
        colors = {"success": theme.success, "warning": theme.warning, "error": theme.error}
        text = Text(no_wrap=True, overflow="ellipsis")
        now = self.now
        for i, h in enumerate(self._health.values()):
            if i:
                text.append(" · ", style="dim")
            color = colors.get(_STATE_STYLE[(h.at(now) if now else h).state])  # aged: see SourceHealth.at
            text.append_text(safe(h.name + " ", 40))
            text.append_text(safe(h.describe(now) if now else h.state.value, 60, style=f"bold {color}" if color else "dim"))
        return text
