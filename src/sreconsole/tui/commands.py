"""Command palette: every pane and action by name, namespaced like ``alerts: filter``."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

# (name shown, help, action run on the app)
COMMANDS: list[tuple[str, str, str]] = [
    ("pane: alerts", "Live alerts (1)", "show_pane('alerts')"),
    ("pane: review", "Review queue (2)", "show_pane('review')"),
    ("pane: training", "Training runs (3)", "show_pane('training')"),
    ("pane: bruno", "Chat with the runbooks (4)", "show_pane('bruno')"),
    ("alerts: filter", "Filter alerts by text (/)", "alerts_filter"),
    ("alerts: clear filter", "Show every alert again", "alerts_clear_filter"),
    ("alerts: refresh now", "Poll the alert source now", "alerts_refresh"),
    ("help: key bindings", "Every binding and its id (?)", "help"),
    ("theme: toggle light/dark", "Switch between the light and dark theme", "toggle_theme"),
    ("app: quit", "Leave sreconsole (q)", "quit"),
]


class SreCommands(Provider):
    async def discover(self) -> Hits:
        for name, help_text, action in COMMANDS:
            yield DiscoveryHit(name, partial(self.app.run_action, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, action in COMMANDS:
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), partial(self.app.run_action, action), help=help_text)
