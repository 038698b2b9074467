"""The sreconsole application: a header, four panes, a footer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from textual import events, on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.lazy import Lazy
from textual.widgets import TabbedContent, TabPane
from textual.worker import Worker, WorkerState

from sreconsole.config import Settings
from sreconsole.domain.operator import Operator
from sreconsole.resources import stylesheets
from sreconsole.services.alerts import AlertsService
from sreconsole.services.environment import build_alert_source, poll_interval, wall_clock
from sreconsole.services.evidence import build_evidence_service
from sreconsole.services.training import TrainingBoard
from sreconsole.services.review import ReviewQueue
from sreconsole.tui.commands import SreCommands
from sreconsole.tui.header import StatusHeader
from sreconsole.tui.footer import KeyFooter
from sreconsole.tui.help import HelpScreen, binding_groups
from sreconsole.tui.modals import AlertDetailScreen
from sreconsole.tui.messages import AlertsRefreshed, KnowledgeReady, SourcesChecked
from sreconsole.tui.panes.alerts import AlertsPane, AlertTable
from sreconsole.tui.panes.bruno import BrunoPane
from sreconsole.tui.panes.review import ReviewPane
from sreconsole.tui.panes.training import TrainingPane
from sreconsole.tui.render import notify_plain
from sreconsole.tui.typeahead import TypeAhead

PANES = ("alerts", "review", "training", "bruno")
REPLAY_POLL_S = 0.25
THEMES = {"dark": "textual-dark", "light": "textual-light"}
MOUNT_WAIT_REFRESHES = 50
"""How many refreshes a key for a hidden pane waits for Lazy to mount it (a few, in practice)."""


class SreConsoleApp(App[None]):
    """One screen: header, the four panes as tabs, a footer with the focused pane's keys."""

    TITLE = "sreconsole"
    COMMANDS = App.COMMANDS | {SreCommands}
    BINDINGS = [
        # The tabs show 1-4 already; the footer keeps its width for the pane's keys.
        Binding("1", "show_pane('alerts')", "Alerts", show=False, id="app.pane.alerts", tooltip="Live alerts"),
        Binding("2", "show_pane('review')", "Review", show=False, id="app.pane.review", tooltip="Review queue"),
        Binding("3", "show_pane('training')", "Training", show=False, id="app.pane.training", tooltip="Training runs"),
        Binding("4", "show_pane('bruno')", "Bruno", show=False, id="app.pane.bruno", tooltip="Chat with the runbooks"),
        Binding("question_mark", "help", "Help", id="app.help", tooltip="Every key binding: this pane's first"),
        # In a text field ? and q are typed; the footer then shows these two instead.
        Binding("f1", "help", "Help", id="app.help_anywhere", tooltip="Every key binding, from a text field too"),
        Binding("ctrl+t", "toggle_theme", "Theme", show=False, id="app.theme"),
        Binding("m", "stats", "Stats", show=False, id="app.stats", tooltip="The console's own numbers (also exported: metrics.listen)"),
        # As in k9s and lazygit: in a text field q is a letter (esc leaves the field, then
        # q quits); ctrl+q quits from anywhere, a text field included.
        Binding("q", "quit", "Quit", id="app.quit", tooltip="Quit (in a text field: esc first, or ctrl+q)"),
        # Not in the footer: it would take the place of "q Quit" there (priority bindings come first).
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True, id="app.quit_anywhere", tooltip="Quit, from a text field too"),
    ]

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = wall_clock,
        demo_epoch: datetime | None = None,
        operator: Operator | None = None,
        recorder=None,
        replay=None,
    ) -> None:
        super().__init__(css_path=[str(p) for p in stylesheets()])
        # No animations: over SSH every animated frame is bytes and latency, and an operator
        # switching panes wants the pane now (measured: 450 ms → 190 ms per switch, headless).
        self.animation_level = "none"
        self.settings = settings
        self.clock = clock
        self.operator = operator or Operator("unknown")
        self.replay = replay
        """A :class:`~sreconsole.services.replay.ReplaySession` (``sreconsole replay``): its
        source, evidence and queue answer from the recording; no model runs."""
        self.recorder = recorder
        """A :class:`~sreconsole.services.recording.Recorder` (``--record``), or None."""
        if replay is not None:
            self.clock = clock = replay.timeline.now
            self.alerts_service = AlertsService(replay.source, clock)
            self.evidence_service = replay.evidence
            self.triage_service = None
            self.review_queue = replay.queue(settings, self.operator)
        else:
            source = build_alert_source(settings, clock, demo_epoch)
            self.alerts_service = AlertsService(source, clock)
            self.evidence_service = build_evidence_service(settings, source, clock)
            self.triage_service = None
            if settings.triage.enabled:
                from sreconsole.services.triage import TriageService

                self.triage_service = TriageService(settings, self.evidence_service.knowledge, clock)
            self.review_queue = ReviewQueue(settings, self.operator, clock)
        if recorder is not None:
            # The services write what they receive; the app itself writes nothing.
            self.alerts_service.recorder = recorder
            self.evidence_service.recorder = recorder
            self.review_queue.recorder = recorder
        self.training_board = TrainingBoard(settings)
        # The approval policy (review.policy_file) decides who may silence and promote.
        self.alerts_service.allow = self.review_queue.refusal
        self.training_board.allow = self.review_queue.refusal
        # A replay polls its recording often: each recorded poll shows at its recorded time
        # (scaled by the speed), not up to a whole live interval late.
        self.poll_interval_s = REPLAY_POLL_S if replay is not None else poll_interval(settings)
        self._probes = None
        self.polls = 0
        self._poll_timer = None
        """Completed polls of the alert source (tests wait on this)."""
        self._observing = False
        """An observation of the alert source is on its way into the review queue."""
        self._typeahead = TypeAhead(self)

    # -- layout -------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        clusters = tuple(c.name for c in self.settings.cluster_list())
        # Several clusters name themselves in the header's sources; the count is enough here.
        environment = self.settings.environment or (f"{len(clusters)} clusters" if len(clusters) > 1 else self.settings.environment_name)
        yield StatusHeader(environment, self.operator, clusters=clusters, id="header")
        with TabbedContent(id="panes", initial="alerts"):
            with TabPane("1 Alerts", id="alerts"):
                yield AlertsPane(
                    self.alerts_service, self.operator, self.evidence_service, self.triage_service,
                    clusters=tuple(c.name for c in self.settings.cluster_list()), id="alerts-pane",
                )
            # The hidden panes mount after the first paint (Textual's Lazy): styling their
            # ~150 widgets was most of what the first paint spent above a trivial app's
            # (bench/README.md, "Start-up", 2026-12-04). A key that switches to one in that
            # first frame finds it mounted a refresh later.
            with TabPane("2 Review", id="review"):
                yield Lazy(ReviewPane(self.review_queue, id="review-pane"))
            with TabPane("3 Training", id="training"):
                yield Lazy(TrainingPane(self.training_board, id="training-pane"))
            with TabPane("4 Bruno", id="bruno"):
                yield Lazy(BrunoPane(self._make_chat(), id="bruno-pane"))
        yield KeyFooter()

    def on_mount(self) -> None:
        self.theme = THEMES[self.settings.theme]
        if self.settings.keymap:
            self._apply_keymap(self.settings.keymap)
        for warning in self.settings.warnings:
            notify_plain(self, warning, severity="warning", timeout=8)
        self.query_one(AlertTable).focus()
        self.poll_alerts()
        self._start_probes()
        self._start_metrics()
        header = self.query_one(StatusHeader)  # its own timer (it dies with it) ages the health while a call is out
        header.set_interval(1.0, lambda: header.update_health([], self.clock()), name="header-clock")
        if self.evidence_service.knowledge is not None:
            # After the first paint: importing DuckDB/numpy and (in the demo, first run only)
            # indexing the bundled documents must not delay the alert table.
            self.set_timer(1.0, self._prepare_knowledge)

    def _prepare_knowledge(self) -> None:
        self.run_worker(self.evidence_service.knowledge.prepare, thread=True, exclusive=True, group="knowledge", exit_on_error=False, description="prepare knowledge base")

    def _apply_keymap(self, keymap: dict[str, str]) -> None:
        known = {b.id for _, bindings in self.binding_groups() for b in bindings if b.id}
        unknown = sorted(set(keymap) - known)
        for binding_id in unknown:
            notify_plain(self, f"keymap: unknown binding id '{binding_id}' ignored", severity="warning", timeout=8)
        self.set_keymap({k: v for k, v in keymap.items() if k in known})

    def binding_groups(self) -> list[tuple[str, list[Binding]]]:
        """Every binding by where it applies: the shown pane's first, then the global
        ones, then the other panes and the dialogs (the help screen and keymap use this)."""
        try:
            pane = self.query_one(TabbedContent).active
        except NoMatches:
            pane = "alerts"
        return binding_groups(pane, list(self.BINDINGS))

    async def on_event(self, event: events.Event) -> None:
        """Type-ahead: see :mod:`sreconsole.tui.typeahead`."""
        if isinstance(event, events.Key):
            if not event.is_forwarded:
                if self._typeahead.should_hold(event):
                    return
                target = self.focused
                await super().on_event(event)
                self._typeahead.forwarded(event, target)
                return
            if not self._typeahead.returned(event):
                await super().on_event(event)
            self._typeahead.settled()
            return
        await super().on_event(event)

    def on_input_submitted(self, message) -> None:
        self._typeahead.submitted()

    def get_system_commands(self, screen):
        """Textual's own palette entries, less its theme picker: the app's
        ``theme: toggle light/dark`` (ctrl+t) is the one way to change the theme."""
        for command in super().get_system_commands(screen):
            if command.title.lower() != "theme":
                yield command

    # -- polling ------------------------------------------------------------------

    def poll_alerts_now(self) -> None:
        """Poll at once (the Alerts pane's pushed matchers changed); the regular schedule
        restarts from this poll."""
        if self._poll_timer is not None:
            self._poll_timer.stop()
            self._poll_timer = None
        self.poll_alerts()

    @work(exclusive=True, group="alerts-poll", exit_on_error=False, description="poll alert source")
    async def poll_alerts(self) -> None:
        snapshot = await self.alerts_service.refresh()
        self.post_message(AlertsRefreshed(snapshot))

    def on_alerts_refreshed(self, message: AlertsRefreshed) -> None:
        try:
            pane = self.query_one(AlertsPane)
            self.polls += 1
            pane.show(message.snapshot)
        except NoMatches:
            # A poll that ends while the app shuts down finds its panes (or their tables)
            # already removed (seen on a loaded machine when a test exits right after a key).
            return
        self.query_one(StatusHeader).update_health(message.snapshot.healths(), message.snapshot.fetched_at)
        # A snapshot the source filtered (matchers pushed from the Alerts pane) does not
        # hold every alert: the review queue would read the rest as resolved.
        if not message.snapshot.error and not message.snapshot.filtered_by and not self.review_queue.read_only and not self._observing:
            # One observation at a time; a poll that finds one still running leaves it to the
            # next (not exclusive=True: a cancelled worker would fail whoever waits on it).
            self._observing = True
            self._observe_alerts(message.snapshot)
        self._schedule_poll()

    def _schedule_poll(self) -> None:
        """The next poll: one timer at a time (a poll asked for early replaces it)."""
        if self._poll_timer is not None:
            self._poll_timer.stop()
        self._poll_timer = self.set_timer(self.poll_interval_s, self.poll_alerts, name="alerts-poll")

    @work(thread=True, group="review-observe", exit_on_error=False, description="alert states into the review queue")
    def _observe_alerts(self, snapshot) -> None:
        """Each poll tells the review queue what is true now: a proposal whose alert
        resolved leaves the pending view at once (one read when nothing changed)."""
        try:
            changes = self.review_queue.observe(snapshot)
        except Exception:  # noqa: BLE001 - the Review pane's title says what is wrong with the store
            return
        finally:
            self._observing = False
        if changes:
            self.call_from_thread(self._review_changed)

    def _review_changed(self) -> None:
        from sreconsole.tui.panes.review import ReviewPane

        try:
            self.query_one(ReviewPane).refresh_queue()
        except NoMatches:  # shutting down
            return

    def _start_probes(self) -> None:
        from sreconsole.services.environment import probe_sources

        sources = {k: v for k, v in self.settings.configured_sources().items() if k.split()[0] != "alertmanager"}  # the polls report those
        self._probes = probe_sources(sources, self.settings)
        if self._probes:
            self.check_sources()

    @work(exclusive=True, group="source-probes", exit_on_error=False, description="probe sources")
    async def check_sources(self) -> None:
        from sreconsole.sources.probes import check_all

        health = await check_all(self._probes, self.clock)
        self.post_message(SourcesChecked(health))

    def on_sources_checked(self, message: SourcesChecked) -> None:
        try:
            header = self.query_one(StatusHeader)
        except NoMatches:  # the app is shutting down (as in on_alerts_refreshed)
            return
        header.update_health(message.health, self.clock())
        self.set_timer(self.poll_interval_s, self.check_sources, name="source-probes")

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """One place for worker failures: say what failed, keep polling. The knowledge
        base's preparation finishing tells the views waiting for it."""
        if event.state is WorkerState.SUCCESS and event.worker.group == "knowledge":
            self._knowledge_ready()
            return
        if event.state is not WorkerState.ERROR:
            return
        error = event.worker.error
        notify_plain(self, f"{event.worker.description}: {type(error).__name__}: {error}", severity="error", timeout=10)
        if event.worker.group == "alerts-poll":
            self._schedule_poll()
        elif event.worker.group == "source-probes":
            self.set_timer(self.poll_interval_s, self.check_sources, name="source-probes")

    def _knowledge_ready(self) -> None:
        """Every screen's evidence views redraw what was "still loading"."""
        for screen in self.screen_stack:
            for node in [screen, *screen.query("*")]:
                if hasattr(node, "on_knowledge_ready"):
                    node.post_message(KnowledgeReady())

    async def on_unmount(self) -> None:
        if getattr(self, "_metrics_server", None) is not None:
            self._metrics_server.shutdown()
        await self.alerts_service.aclose()
        if self.recorder is not None:
            self.recorder.close()

    def _start_metrics(self) -> None:
        """The console's own metrics for Prometheus, when ``metrics.listen`` asks (opt-in;
        loopback unless ``metrics.allow_remote``). A refusal is one toast, not a crash."""
        self._metrics_server = None
        m = self.settings.metrics
        if not m.listen:
            return
        from sreconsole.services.console_metrics import collect
        from sreconsole.services.metrics_export import MetricsRefused, serve

        def numbers():
            return collect(self.review_queue, self.triage_service, self.evidence_service.knowledge)

        try:
            self._metrics_server = serve(m.listen, numbers, allow_remote=m.allow_remote)
        except (MetricsRefused, OSError) as exc:
            notify_plain(self, f"metrics not exported: {exc}", severity="warning", timeout=10)

    def action_stats(self) -> None:
        from sreconsole.tui.panes.stats import StatsScreen

        if not isinstance(self.screen, StatsScreen):
            self.push_screen(StatsScreen(self.settings.metrics.listen))

    # -- actions ------------------------------------------------------------------

    def action_show_pane(self, pane: str) -> None:
        if pane not in PANES:
            return
        self.query_one(TabbedContent).active = pane
        self._focus_pane(pane)

    def _focus_pane(self, pane: str, tries: int = 0) -> None:
        # Synchronous on purpose: a deferred ``focus()`` would land after keys already
        # typed (``1`` then ``/`` then text) and pull focus back from the filter.
        try:
            if pane == "alerts":
                target = self.query_one(AlertTable)
            elif pane in ("review", "training"):
                target = self.query_one(f"#{pane}-table")
            elif pane == "bruno":
                target = self.query_one("#bruno-input")
            else:
                target = self.query_one(f"#{pane}-pane")
        except NoMatches:
            # A hidden pane that Lazy has not mounted yet (the key came in the first frame):
            # focus it once it is there, unless the operator has moved on meanwhile.
            tabs = self.query(TabbedContent)  # gone while the app shuts down
            if tries < MOUNT_WAIT_REFRESHES and tabs and tabs.first().active == pane:
                self.call_after_refresh(self._focus_pane, pane, tries + 1)
            return
        if self.focused is not target and not (pane == "alerts" and self.focused is not None and self.query_one(AlertsPane) in self.focused.ancestors):
            self.screen.set_focus(target)

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id in PANES:
            self._focus_pane(event.pane.id)

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.binding_groups(), self.query_one(TabbedContent).active))

    def action_toggle_theme(self) -> None:
        self.theme = THEMES["light"] if self.theme == THEMES["dark"] else THEMES["dark"]
        pane = self.query_one(AlertsPane)
        if pane.snapshot is not None:
            pane.show(pane.snapshot)  # severity colours come from the theme

    def action_alerts_filter(self) -> None:
        self.action_show_pane("alerts")
        self.query_one(AlertsPane).action_filter()

    def action_alerts_clear_filter(self) -> None:
        self.action_show_pane("alerts")
        self.query_one(AlertsPane).action_clear_filter()

    def action_alerts_refresh(self) -> None:
        self.poll_alerts()

    def action_alerts(self, method: str, *args: str) -> None:
        """Palette entry point: ``alerts('set_grouping', 'namespace')`` and the like."""
        self.action_show_pane("alerts")
        getattr(self.query_one(AlertsPane), method)(*args)

    def _make_chat(self):
        """Bruno reads the knowledge base, the live alerts the Alerts pane shows (and its
        selection, as the context of "how do I fix this?"), the review queue and the
        catalog. It can queue a pending proposal; nothing in it approves or executes."""
        from sreconsole.services.chat import ChatService

        def alerts():
            pane = self.query_one(AlertsPane)
            return list(pane.snapshot.alerts) if pane.snapshot is not None else None

        def selected():
            return self.query_one(AlertsPane).selected_alert()

        knowledge = self.evidence_service.knowledge
        if knowledge is None:
            from sreconsole.services.knowledge import KnowledgeService

            knowledge = KnowledgeService(self.settings, self.clock)
        return ChatService(self.settings, knowledge, self.review_queue, alerts, selected, self.clock)

    def action_training(self, method: str, *args: str) -> None:
        """Palette entry point for the Training pane's actions."""
        self._pane_action("training", TrainingPane, method, args)

    def action_bruno(self, method: str, *args: str) -> None:
        """Palette entry point for the Bruno pane's actions."""
        self._pane_action("bruno", BrunoPane, method, args)

    def action_review(self, method: str, *args: str) -> None:
        """Palette entry point for the Review pane's actions."""
        self._pane_action("review", ReviewPane, method, args)

    def _pane_action(self, pane: str, kind: type, method: str, args: tuple, tries: int = 0) -> None:
        if tries == 0:
            self.action_show_pane(pane)
        try:
            target = self.query_one(kind)
        except NoMatches:  # not mounted yet (Lazy): call it once it is
            if tries < MOUNT_WAIT_REFRESHES:
                self.call_after_refresh(self._pane_action, pane, kind, method, args, tries + 1)
            return
        getattr(target, method)(*args)


def make_app(
    settings: Settings,
    *,
    clock: Callable[[], datetime] = wall_clock,
    demo_epoch: datetime | None = None,
    operator: Operator | None = None,
    recorder=None,
    replay=None,
) -> SreConsoleApp:
    """The one factory the CLI, the tests and the benchmarks share. ``recorder``: write the
    session to a recording (``--record``); ``replay``: play one back instead of polling."""
    if operator is None:
        from sreconsole.services.identity import current_operator

        operator = current_operator()  # the kernel's user; $USER and SSH_CONNECTION as claims
    if replay is not None:
        from sreconsole.tui.replay import ReplayApp

        return ReplayApp(settings, clock=clock, operator=operator, replay=replay)
    return SreConsoleApp(settings, clock=clock, demo_epoch=demo_epoch, operator=operator, recorder=recorder)
