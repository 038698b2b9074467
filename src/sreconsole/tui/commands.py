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
    ("alerts: silence selected alert", "Create a silence in Alertmanager (s)", "alerts('action_silence')"),
    ("alerts: acknowledge selected alert", "A 15 min silence marked as an ack (a)", "alerts('action_acknowledge')"),
    ("alerts: expire silences of selected alert", "Expire the silences that mute it (x)", "alerts('action_expire')"),
    ("alerts: copy proposed command", "Copy the proposed remediation command (y)", "alerts('action_copy')"),
    ("alerts: group by alertname", "Group rows by alertname", "alerts('set_grouping', 'alertname')"),
    ("alerts: group by namespace", "Group rows by namespace", "alerts('set_grouping', 'namespace')"),
    ("alerts: group by severity", "Group rows by severity", "alerts('set_grouping', 'severity')"),
    ("alerts: no grouping", "One flat list", "alerts('set_grouping', 'none')"),
    ("alerts: sort by severity", "Worst first", "alerts('set_sorting', 'severity')"),
    ("alerts: sort by age", "Oldest first", "alerts('set_sorting', 'age')"),
    ("alerts: sort by name", "Alphabetical", "alerts('set_sorting', 'name')"),
    ("review: approve selected proposal", "Approve: shows the exact call first (a)", "review('action_approve')"),
    ("review: reject selected proposal", "Reject with a reason, optionally the right action (r)", "review('action_reject')"),
    ("review: edit parameters", "Edit the selected proposal's parameters (e)", "review('action_edit')"),
    ("review: dry-run selected proposal", "What would be called; nothing is sent (d)", "review('action_dry_run')"),
    ("review: roll back executed action", "Undo an executed, reversible action (u)", "review('action_rollback')"),
    ("review: toggle history", "Pending only / every decided item (h)", "review('action_history')"),
    ("review: filter", "Filter the queue by words (/)", "review('action_filter')"),
    ("review: clear filter", "Show the whole queue again (esc)", "review('action_clear_filter')"),
    ("training: start a run", "Retrain the TRM in a worker process (t)", "training('action_start')"),
    ("training: cancel selected run", "Stop it cleanly (c)", "training('action_cancel')"),
    ("training: promote selected run", "Make its model the active one (p)", "training('action_promote')"),
    ("training: MLflow details", "The run's MLflow run and metrics (o)", "training('action_mlflow')"),
    ("training: full log", "The run's log (l)", "training('action_log')"),
    ("training: tune thresholds", "Pick the thresholds for a target un-flagged accuracy and save them (u)", "training('action_tune')"),
    ("training: shadow scoring", "The run's model beside the active one on recent alerts and decisions (s)", "training('action_shadow')"),
    ("bruno: new chat", "Start the conversation over (ctrl+n)", "bruno('action_new_chat')"),
    ("bruno: clear screen", "Clear the screen; the conversation goes on (ctrl+l)", "bruno('action_clear')"),
    ("bruno: open citations", "The last answer's citations and their lines, in a side panel (o)", "bruno('action_open_citations')"),
    ("bruno: queue recommended action", "Queue what the last answer recommends for review (p)", "bruno('action_propose')"),
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
