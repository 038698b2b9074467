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

_SHORT = {"alertmanager": "am", "prometheus": "prom", "kubernetes": "kube"}
"""Source kinds as the per-cluster header names them (the room is shared by clusters)."""

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

    def __init__(self, environment: str, operator: Operator, clusters: tuple[str, ...] = (), **kwargs) -> None:
        super().__init__(**kwargs)
        self.environment = environment
        self.clusters = clusters
        """With more than one: the sources are shown per cluster (see :meth:`render_sources`)."""
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
        """Each source and its state. With several clusters, per cluster and per source
        (``prod-eu am ok · prom ok │ prod-us am degraded │ am-2:9093 down``), the merged
        list's overall Alertmanager health left out (the clusters say it); a member of an HA
        pair appears only while it is not ok, after every cluster, so 80 columns hold the
        state of two clusters before anything is cut."""
        text = Text(no_wrap=True, overflow="ellipsis")
        if len(self.clusters) > 1:
            return self._render_by_cluster(text)
        for h in self._health.values():
            parent, _, member = h.name.partition(" ")
            if member and parent in self._health and self._is_ok(h):
                continue  # a member of an HA pair that answers: its pair's state says so
            self._append(text, h, h.name)
        return text

    def _render_by_cluster(self, text: Text) -> Text:
        by_cluster: dict[str, list[tuple[str, SourceHealth]]] = {c: [] for c in self.clusters}
        others: list[SourceHealth] = []
        for h in self._health.values():
            words = h.name.split(" ", 2)
            if len(words) >= 2 and words[1] in by_cluster:
                if len(words) == 3 and self._is_ok(h):
                    continue
                label = words[2] if len(words) == 3 else _SHORT.get(words[0], words[0])
                by_cluster[words[1]].append((label, h))
            elif h.name != "alertmanager":
                others.append(h)
        first = True
        members: list[tuple[str, SourceHealth]] = []
        for cluster, items in by_cluster.items():
            if not first:
                text.append(" │ ", style="dim")
            first = False
            text.append_text(safe(cluster + " ", 40, style="bold"))
            shown = [(label, h) for label, h in items if len(h.name.split(" ", 2)) < 3]
            members.extend((label, h) for label, h in items if len(h.name.split(" ", 2)) == 3)
            for i, (label, h) in enumerate(shown):
                self._append(text, h, label, separator=bool(i), brief=True)
        for i, (label, h) in enumerate(members):  # last: every cluster's state fits first
            text.append(" │ " if not i else " · ", style="dim")
            aged = h.at(self.now) if self.now else h
            text.append_text(safe(f"{label} {aged.state.value}", 60, style=f"bold {self._color(aged)}"))
        for h in others:
            text.append(" │ ", style="dim")
            self._append(text, h, h.name, separator=False)
        return text

    def _is_ok(self, h: SourceHealth) -> bool:
        return (h.at(self.now) if self.now else h).state is HealthState.OK

    def _color(self, aged: SourceHealth) -> str:
        theme = self.app.current_theme
        colors = {"success": theme.success, "warning": theme.warning, "error": theme.error}
        return colors.get(_STATE_STYLE[aged.state]) or ""

    def _append(self, text: Text, h: SourceHealth, label: str, separator: bool | None = None, brief: bool = False) -> None:
        """``label state``; ``brief``: the state's word for ok and degraded (no age, no
        reason), where several clusters share the line."""
        now = self.now
        if separator is None:
            separator = bool(text.plain)
        if separator:
            text.append(" · ", style="dim")
        aged = h.at(now) if now else h  # aged: see SourceHealth.at
        color = self._color(aged)
        if aged.state is HealthState.DEGRADED or (brief and aged.state is HealthState.OK):
            phrase = aged.state.value  # which member is not ok is shown after the clusters
        else:
            phrase = h.describe(now) if now else h.state.value
        text.append_text(safe(label + " ", 40))
        text.append_text(safe(phrase, 60, style=f"bold {color}" if color else "dim"))
