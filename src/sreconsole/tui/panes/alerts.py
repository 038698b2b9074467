"""The Alerts pane: live alerts, grouped, sorted and filtered, with silence/ack from the keys."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.widgets import Input, Static

from sreconsole.domain.alerts import Alert, AlertState, Severity, format_age
from sreconsole.domain.evidence import Evidence
from sreconsole.domain.matchers import Filter, MatcherError, narrows, parse_filter
from sreconsole.domain.operator import Operator
from sreconsole.services.alerts import AlertsService, AlertsSnapshot
from sreconsole.tui.evidence_view import evidence_renderable, proposal_cell, proposal_renderable, thresholds
from sreconsole.tui.messages import KnowledgeReady
from sreconsole.tui.modals import AlertDetailScreen, alert_detail
from sreconsole.tui.panes.alert_silences import SilenceActions
from sreconsole.tui.render import clean, notify_plain, safe
from sreconsole.tui.alert_list import AlertList
from sreconsole.tui.alert_order import GROUP_PREFIX, GROUPINGS, SORTINGS, display_rows, ordered

SEVERITY_TEXT = {
    Severity.CRITICAL: "CRIT",
    Severity.WARNING: "WARN",
    Severity.INFO: "INFO",
    Severity.NONE: "----",
}

COLUMNS = (
    ("sev", "SEV", 4),
    ("alert", "ALERT", 18),
    ("target", "TARGET", 13),
    ("age", "AGE", 5),
    ("state", "STATE", 9),
    ("proposal", "PROPOSAL", 19),  # "rollback 0.62 human": action, calibrated confidence, method
    # Width 0: not shown; with several clusters as wide as their names. Before SUMMARY, not
    # first: at 80 columns the summary is dropped and the cluster still shows, and the cells
    # of the columns before it keep their places for everything that reads them by index.
    ("cluster", "CLUSTER", 0),
    ("summary", "SUMMARY", 40),
)
FLEXIBLE = ("cluster", "alert", "target", "summary")
FIXED_WIDTH = sum(width + 2 for key, _, width in COLUMNS if key not in FLEXIBLE) + 2 * (len(FLEXIBLE) - 1)
"""The columns of fixed width, and the padding of the others (one cell each side; the
CLUSTER column's only when it is shown)."""
ALERT_WIDTH = (15, 34)
TARGET_WIDTH = (13, 20)
SUMMARY_MIN = 8
CLUSTER_WIDTH = 12
"""The most the CLUSTER column takes; a longer name ends in an ellipsis (the detail view
and the ``cluster=`` matcher have it whole)."""
NARROW_WITH_CLUSTER = (12, 6)
"""ALERT's and TARGET's least widths while the CLUSTER column is shown, so that 80
columns still hold every column of fixed meaning (SEV, AGE, STATE, PROPOSAL) unscrolled."""


def column_widths(table_width: int, longest_name: int, longest_cluster: int = 0) -> dict[str, int]:
    """ALERT as wide as the longest name (within ALERT_WIDTH), TARGET next, SUMMARY what
    is left; a summary that would be narrower than SUMMARY_MIN is not shown (it is in the
    detail view and the side panel) and TARGET takes its room. ``longest_cluster`` > 0
    shows the CLUSTER column (as wide as the longest name, at most CLUSTER_WIDTH), which
    ALERT and TARGET make room for down to NARROW_WITH_CLUSTER."""
    alert_min, target_min = NARROW_WITH_CLUSTER if longest_cluster else (ALERT_WIDTH[0], TARGET_WIDTH[0])
    # The room left beside ALERT and TARGET at their least (SUMMARY's padding is free then:
    # it is not shown), and never under 4 cells: "pro…" still tells prod from staging.
    room = table_width - FIXED_WIDTH - alert_min - target_min
    cluster = min(longest_cluster, CLUSTER_WIDTH, max(room, 4))
    free = max(table_width - FIXED_WIDTH - (cluster + 2 if cluster else 0), alert_min + target_min)
    alert = max(alert_min, min(longest_name, ALERT_WIDTH[1], free - TARGET_WIDTH[0]))
    target = max(target_min, min(TARGET_WIDTH[1], free - alert))
    alert = min(alert, free - target)
    summary = free - alert - target
    if summary < SUMMARY_MIN and target - (SUMMARY_MIN - summary) >= TARGET_WIDTH[0]:
        # TARGET gives up some of its width so the summary can show at all.
        target, summary = target - (SUMMARY_MIN - summary), SUMMARY_MIN
    if summary < SUMMARY_MIN:
        target, summary = min(free - alert, TARGET_WIDTH[1] + summary), 0
    return {"cluster": cluster, "alert": alert, "target": target, "summary": summary}

INCOMPLETE_MATCHER = re.compile(r'(?:^|\s)([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*$')
"""A matcher at the end of the filter whose value is not typed yet."""

NEW_FOR = timedelta(seconds=10)
"""How long a new alert is marked."""
RESOLVED_FOR = timedelta(seconds=10)
"""How long a resolved alert stays, faded, before it leaves the table."""
SIDE_PANEL_MIN_WIDTH = 140
"""Terminal width from which the detail panel sits beside the table."""
SIDE_PANEL_WIDTH = 54
REPOLL_AFTER_S = 0.4
"""After the last keystroke that changed the matchers pushed to the source, ask it again."""
TRIAGE_BATCH = 256
"""Alerts per triage batch: each batch's proposals reach the column (and the review queue,
in one transaction) as soon as they are made."""
FILTER_INLINE_CHECKS = 4_000
"""Matcher and word checks a filter may make on the event loop per redraw (alerts × parts)."""
FILTER_INLINE_WORD_CHECKS = 20_000
"""The same for a filter of words only (no matchers): one substring test per alert and word."""
FILTER_INLINE_CHARS = 1_000_000
"""Label and summary characters a filter with matchers may read on the event loop per redraw
(regular expressions on RE2); a filter of words only reads up to FILTER_INLINE_WORD_CHARS.

Matching is linear in the text (RE2, substring search), so these two bound what a keystroke
costs the event loop: a few milliseconds. A larger pool (thousands of alerts, or labels of
100,000 characters) is filtered in a thread worker; the table keeps its rows until the
answer comes, and an answer for a filter or poll that has since changed is dropped."""
FILTER_INLINE_WORD_CHARS = 4_000_000
"""Substring search is several times cheaper per character than a regular expression."""


def parse_complete(text: str) -> Filter:
    """:func:`parse_filter`, refusing a trailing matcher whose value is not typed yet."""
    incomplete = INCOMPLETE_MATCHER.search(text)
    if incomplete:
        raise MatcherError(f"{incomplete.group(1)}{incomplete.group(2)} has no value yet: type it, quoted (\"\" for an empty one)")
    return parse_filter(text)


def complete_part(text: str) -> tuple[str, Filter]:
    """The longest run of whole leading words and matchers of ``text`` that parses."""
    words = text.split()
    while words:
        words.pop()
        head = " ".join(words)
        try:
            return head, parse_complete(head)
        except MatcherError:
            continue
    return "", Filter()


class AlertTable(AlertList):
    """The alerts, one row per fingerprint, with a header row per group of several."""


class AlertsPane(SilenceActions, Vertical):
    """Title with counts, the filter input (``/``) and the table."""

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="alerts.filter", tooltip="Filter: text and matchers like severity=\"critical\""),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="alerts.clear_filter"),
        Binding("s", "silence", "Silence", id="alerts.silence", tooltip="Silence the selected alert in Alertmanager"),
        Binding("a", "acknowledge", "Ack", id="alerts.ack", tooltip="Acknowledge: a 15 min silence marked as an ack"),
        Binding("x", "expire", "Expire", id="alerts.expire", tooltip="Expire the silences on the selected alert"),
        Binding("S", "silences", "Silences", show=False, id="alerts.silences", tooltip="Every silence: active, pending, expired in 24 h, and how many alerts each mutes"),
        Binding("y", "copy", "Copy cmd", show=False, id="alerts.copy", tooltip="Copy the proposed command"),
        Binding("v", "cycle_grouping", "Group", id="alerts.group", tooltip="Group by alertname, namespace, cluster (several clusters), severity, incident, none"),
        Binding("o", "cycle_sorting", "Sort", id="alerts.sort", tooltip="Sort by severity, age, name"),
    ]

    def __init__(
        self, service: AlertsService, operator: Operator, evidence_service=None, triage_service=None,
        clusters: tuple[str, ...] = (), **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self.service = service
        self.clusters = clusters
        """The configured clusters' names; with more than one the CLUSTER column shows and
        grouping by cluster is offered."""
        self.triage_service = triage_service
        self.proposals: dict[str, object] = {}
        """Fingerprint → Proposal, filled by a thread worker after each poll."""
        self.evidence_service = evidence_service
        self.evidence: Evidence | None = None
        self.operator = operator
        self.snapshot: AlertsSnapshot | None = None
        self.filter_text = ""
        self.filter: Filter = Filter()
        self.filter_error = ""
        self.grouping = "alertname"
        self.sorting = "severity"
        self._first_seen: dict[str, datetime] = {}
        self._resolved: dict[str, tuple[Alert, datetime]] = {}
        self._polls = 0
        self._rows: dict[str, tuple[Alert | None, str, int]] = {}
        """Row key → (alert, or None for a group header; group name; group size)."""
        self._cells: dict[str, list[Text]] = {}
        self._ordered_cache: tuple[tuple, list[tuple[Alert, str]], int, tuple] | None = None
        """(key, the pool grouped and sorted, its characters, the pool's identity): rebuilt
        at most once per poll, and not at all when the poll changed nothing."""
        self._filter_generation = 0
        """Bumped at each redraw: a thread filter's answer for an older one is dropped."""
        self.filtering = False
        """A filter is running in a thread worker (the title says so)."""
        self._triaged: dict[str, tuple[Alert, str]] = {}
        """Fingerprint → (the Alert object triaged, model version) of its proposal."""
        self._triage_wanted: tuple[tuple[Alert, ...], frozenset[str]] | None = None
        """The newest poll's alerts (and the rows on screen), for the triage worker's next pass."""
        self._triaging = False
        self._title: Text | None = None
        self._shown: list[tuple[Alert, str]] | None = None
        self._shown_grouping = ""
        self._repoll = None
        self._narrow: tuple[tuple, Filter, list[tuple[Alert, str]]] | None = None
        """(pool key, filter, its answer): a filter that only grows filters this answer."""
        self._longest_name = 0
        """The longest alert name of the last poll: the ALERT column's width follows it."""

    def compose(self) -> ComposeResult:
        yield Static("Alerts  waiting for the first answer…", classes="pane-title", id="alerts-title")
        yield Input(select_on_focus=False, placeholder='filter: words and matchers, e.g. payments severity="critical" namespace=~"prod.*"', id="alerts-filter")
        yield Static("", id="alerts-filter-error")
        table = AlertTable(COLUMNS, self._render_key, id="alerts-table")
        with Horizontal(id="alerts-body"):
            yield table
            with VerticalScroll(id="alerts-side"):
                yield Static("", id="side-detail")
                proposal = Static("", id="side-proposal")
                proposal.display = self.triage_service is not None
                yield proposal
                yield Static("", id="side-evidence")

    def on_resize(self) -> None:
        """Columns share the width there is (nothing scrolls sideways); wide terminals get
        the detail panel beside the table, filled at once for the selected alert."""
        side = self.query_one("#alerts-side")
        shown = self.size.width >= SIDE_PANEL_MIN_WIDTH
        if shown != side.display:
            side.display = shown
            if shown:
                self.evidence = None
                self._load_evidence(self.selected_alert())
        self._fit_columns()

    def _fit_columns(self) -> None:
        table = self.query_one(AlertTable)
        side_width = SIDE_PANEL_WIDTH if self.query_one("#alerts-side").display else 0
        longest_cluster = max(map(len, self.clusters), default=0) if self.several_clusters else 0
        widths = column_widths(self.size.width - side_width - 3, self._longest_name, longest_cluster)
        for key, width in widths.items():
            table.set_column_width(key, width)

    # -- filter -------------------------------------------------------------------
    # Focus moves synchronously (display set inline, ``set_focus`` instead of ``focus()``):
    # keys typed right after ``/`` must land in the filter, not in the table behind it.

    def action_filter(self) -> None:
        field = self.query_one("#alerts-filter", Input)
        field.display = True
        self.screen.set_focus(field)

    def action_clear_filter(self) -> None:
        field = self.query_one("#alerts-filter", Input)
        if self.filter_text or field.value:
            field.value = ""
            self._set_filter("")
        self.filter_error = ""
        self._show_filter_error()
        field.display = False
        self.screen.set_focus(self.query_one(AlertTable))

    @on(Input.Changed, "#alerts-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._set_filter(event.value)

    def _set_filter(self, text: str) -> None:
        """A filter that does not parse, or ends in a matcher still being typed
        (``namespace=~`` has no value yet, and would match every alert without that
        label), is refused: what filters then is its complete leading parts (words and
        matchers before the refused one), never a prefix of the refused matcher; the line
        under the input says why and what is shown, at any width."""
        try:
            self.filter = parse_complete(text)
            self.filter_text = text
            self.filter_error = ""
        except MatcherError as exc:
            self.filter_error = str(exc)
            self.filter_text, self.filter = complete_part(text)
        self._show_filter_error()
        self._render_rows()
        self._push_matchers()

    def _push_matchers(self) -> None:
        """Exact matchers also go to the source (Alertmanager's ``filter=``), so a poll
        fetches only what can match; the pane still filters with all of them. When what is
        pushed changes, the source is asked again shortly after the last keystroke."""
        before = self.service.pushed()
        self.service.server_matchers = tuple(self.filter.matchers)
        if self.service.pushed() != before:
            if self._repoll is not None:
                self._repoll.stop()
            self._repoll = self.set_timer(REPOLL_AFTER_S, self._poll_now, name="alerts-repoll")

    def _poll_now(self) -> None:
        self._repoll = None
        poll = getattr(self.app, "poll_alerts_now", None)
        if poll is not None:
            poll()

    def _show_filter_error(self) -> None:
        view = self.query_one("#alerts-filter-error", Static)
        view.display = bool(self.filter_error)
        if self.filter_error:
            showing = f" — showing matches for {self.filter_text!r}" if self.filter_text else " — showing every alert"
            view.update(safe(f"refused: {self.filter_error}{showing}", 600, style=f"bold {self.app.current_theme.error or 'red'}", single_line=False))

    @on(Input.Submitted, "#alerts-filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        if self.filter_error:
            return  # enter on a refused filter stays in the field: the line under it says why
        if not event.value:
            event.input.display = False
        # At once, not deferred: a key typed right after enter (g, j) belongs to the table.
        # The enter itself was consumed by the field's binding and never reaches the table
        # (tests/test_keys.py checks that no detail view opens).
        self.screen.set_focus(self.query_one(AlertTable))

    # -- grouping and sorting -----------------------------------------------------

    @property
    def several_clusters(self) -> bool:
        return len(self.clusters) > 1

    def action_cycle_grouping(self) -> None:
        offered = [g for g in GROUPINGS if g != "cluster" or self.several_clusters]
        self.set_grouping(offered[(offered.index(self.grouping) + 1) % len(offered)] if self.grouping in offered else offered[0])

    def action_cycle_sorting(self) -> None:
        self.set_sorting(SORTINGS[(SORTINGS.index(self.sorting) + 1) % len(SORTINGS)])

    def set_grouping(self, grouping: str) -> None:
        if grouping in GROUPINGS:
            self.grouping = grouping
            self._render_rows()

    def set_sorting(self, sorting: str) -> None:
        if sorting in SORTINGS:
            self.sorting = sorting
            self._render_rows()

    # -- data ---------------------------------------------------------------------

    def show(self, snapshot: AlertsSnapshot) -> None:
        """Apply a poll: note new alerts, keep resolved ones for a moment, redraw."""
        now = snapshot.fetched_at
        previous = {a.fingerprint: a for a in self.snapshot.alerts} if self.snapshot else {}
        if self.snapshot is not None and snapshot.filtered_by != self.snapshot.filtered_by:
            # The source filtered differently: what left did not resolve, it was not asked for.
            previous = {}
            self._resolved.clear()
        current = {a.fingerprint for a in snapshot.alerts}
        if not snapshot.error:
            for alert in snapshot.alerts:
                if alert.fingerprint not in self._first_seen:
                    # Everything is "new" on the first poll; marking it all would mean nothing.
                    self._first_seen[alert.fingerprint] = now if self._polls else now - NEW_FOR
            for fp, alert in previous.items():
                if fp not in current and fp not in self._resolved:
                    self._resolved[fp] = (replace(alert, state=AlertState.RESOLVED), now)
            for fp in list(self._resolved):
                if fp in current or now - self._resolved[fp][1] >= RESOLVED_FOR:
                    del self._resolved[fp]
            self._polls += 1
        self.snapshot = snapshot
        longest = max((len(a.alertname) for a in snapshot.alerts), default=0)
        if longest != self._longest_name:
            self._longest_name = longest
            self._fit_columns()
        self.set_class(bool(snapshot.error), "-stale")
        self._render_rows()
        if self.triage_service is not None:
            self._triage_wanted = (snapshot.alerts, self._on_screen())
            if not self._triaging:
                self._triaging = True
                self._propose()

    # -- triage: off the poll's path ------------------------------------------------
    # One thread worker at a time works through what is new or changed since it last
    # looked, in batches, the rows on screen first; each batch's proposals fill the column
    # as they come. A poll while it works only leaves the newest alerts for its next pass
    # (an `exclusive` thread worker is not stopped by a newer one: each poll used to start
    # another pass over all 10,000 alerts, and they all competed with the event loop).

    def _on_screen(self) -> frozenset[str]:
        """Fingerprints of the rows the table shows now (and a screen below)."""
        table = self.query_one(AlertTable)
        top = int(table.scroll_y)
        height = max(table.scrollable_content_region.height, 1)
        return frozenset(table.keys[top : top + 2 * height])

    def _triage_todo(self, alerts: tuple[Alert, ...], first: frozenset[str], version: str) -> list[Alert]:
        """The alerts whose proposal is missing or was made for another version of the alert
        or with another model. (Alertmanager's source keeps an unchanged alert's object
        between polls, so most checks are an identity test.)"""
        done = self._triaged
        todo = [a for a in alerts if (d := done.get(a.fingerprint)) is None or d[1] != version or (d[0] is not a and d[0] != a)]
        todo.sort(key=lambda a: a.fingerprint not in first)  # stable: on-screen rows first
        return todo

    @work(thread=True, group="triage", exit_on_error=False, description="propose remediations")
    def _propose(self) -> None:
        """Embedding and the TRM run off the event loop; the engine caches per fingerprint
        and model version, so a pass costs only the new and changed alerts."""
        from textual.worker import get_current_worker

        worker = get_current_worker()
        try:
            while not worker.is_cancelled:
                wanted, self._triage_wanted = self._triage_wanted, None
                if wanted is None:
                    return
                alerts, first = wanted
                version = self.triage_service.model_version()
                todo = self._triage_todo(alerts, first, version)
                for start in range(0, len(todo), TRIAGE_BATCH):
                    if worker.is_cancelled or self._triage_wanted is not None and start >= TRIAGE_BATCH:
                        break  # a newer poll: start over from its alerts (the engine cache keeps this work)
                    batch = todo[start : start + TRIAGE_BATCH]
                    try:
                        proposals = self.triage_service.propose(batch)
                    except Exception as exc:  # noqa: BLE001 - the table keeps working without proposals
                        notify_plain(self.app, f"triage failed: {exc}", severity="error", timeout=10)
                        return
                    self.app.call_from_thread(self._proposals_ready, proposals, [(a.fingerprint, (a, version)) for a in batch])
                    self._enqueue(proposals, batch)
        finally:
            self._triaging = False

    def _enqueue(self, proposals: list, alerts: list[Alert]) -> None:
        queue = getattr(self.app, "review_queue", None)
        if queue is not None and not queue.read_only:
            # Every proposal for a firing alert goes to the shared queue (one per alert and
            # action: other operators' consoles enqueueing the same are no-ops), one batch
            # in one transaction.
            firing = self._queue_candidates([(p, a) for p, a in zip(proposals, alerts) if a.state is AlertState.FIRING])
            try:
                queue.enqueue([p for p, _ in firing], [a for _, a in firing], from_source=True)
            except Exception as exc:  # noqa: BLE001 - proposals still show; the queue says why
                notify_plain(self.app, f"review queue: {exc}", severity="warning", timeout=8)

    def _queue_candidates(self, firing: list[tuple]) -> list[tuple]:
        """One proposal per incident: an alert that a correlated alert explains is not queued
        on its own (triage.one_proposal_per_incident); its incident's cause stands for it."""
        settings = getattr(self.app, "settings", None)
        if settings is None or not settings.triage.one_proposal_per_incident or self.snapshot is None:
            return firing
        if getattr(self, "_incidents", None) is None:
            from sreconsole.services.incidents import IncidentService

            self._incidents = IncidentService(settings)
        # Correlated when the alerts change, not once per batch: at 10,000 alerts one
        # correlation is ~0.45 s of Python holding the GIL, and a pass has 40 batches (it
        # was 18 s of a 20 s pass, and every refresh and keystroke on the event loop
        # waited for it). The source keeps an unchanged alert's object between polls, so
        # "the same alerts" is an identity test.
        alerts = self.snapshot.alerts
        cached = getattr(self, "_explained_for", None)
        if cached is None or len(cached[0]) != len(alerts) or any(a is not b for a, b in zip(cached[0], alerts)):
            cached = self._explained_for = (alerts, self._incidents.explained(list(alerts)))
        return [(p, a) for p, a in firing if a.fingerprint not in cached[1]]

    def _proposals_ready(self, proposals: list, triaged: list[tuple[str, tuple]] = ()) -> None:
        for p in proposals:
            self.proposals[p.fingerprint] = p
            self._cells.pop(p.fingerprint, None)  # only these rows' cells change
        for fp, seen in triaged:
            self._triaged[fp] = seen
        if len(self.proposals) > 20000:  # alerts come and go: keep the live ones
            live = {a.fingerprint for a in self.snapshot.alerts} if self.snapshot else set()
            self.proposals = {fp: p for fp, p in self.proposals.items() if fp in live}
            self._triaged = {fp: t for fp, t in self._triaged.items() if fp in live}
        self.query_one(AlertTable).refresh_keys([p.fingerprint for p in proposals])
        alert = self.selected_alert()
        if alert is not None and alert.fingerprint in self.proposals and self.query_one("#alerts-side").display:
            self._show_proposal(alert)

    def _show_proposal(self, alert: Alert | None) -> None:
        view = self.query_one("#side-proposal", Static)
        if alert is None or self.triage_service is None:
            view.update("")
            return
        high, low = thresholds(self.app)
        view.update(proposal_renderable(self.proposals.get(alert.fingerprint), SIDE_PANEL_WIDTH - 4, high, low, self.app.current_theme))

    def visible_alerts(self) -> list[Alert]:
        """The alerts the table shows (they passed the filter), in display order."""
        return [alert for alert, _, _ in self._rows.values() if alert is not None]

    @staticmethod
    def _filtered(flt: Filter, ordered: list[tuple[Alert, str]]) -> list[tuple[Alert, str]]:
        """Filtering keeps order: the ordered list is built once per poll, and a keystroke
        is one pass over it with no sort."""
        if not flt.matchers and len(flt.terms) == 1:  # the common keystroke: one word
            term = flt.terms[0]
            return [pair for pair in ordered if term in pair[0].search_text()]
        return [pair for pair in ordered if flt.matches_alert(pair[0])]

    def _filter_pool(self, flt: Filter, ordered_rows: list[tuple[Alert, str]]) -> list[tuple[Alert, str]]:
        """What the filter has to look at: the previous answer when the filter only grew
        since (same pool, same order, every matcher kept, every word kept or lengthened: it
        can only drop rows), else the whole ordered pool."""
        key = self._pool_key()
        if self._narrow is not None and self._narrow[0] == key and narrows(flt, self._narrow[1]):
            return self._narrow[2]
        return ordered_rows

    def _remember(self, flt: Filter, pool_key: tuple, visible: list[tuple[Alert, str]]) -> None:
        self._narrow = (pool_key, flt, visible) if flt else None

    def _ordered(self) -> list[tuple[Alert, str]]:
        return self._ordered_pool()[0]

    def _ordered_pool(self) -> tuple[list[tuple[Alert, str]], int]:
        """(alert, group) grouped and sorted, and the characters a filter would read."""
        if self.snapshot is None:
            return [], 0
        cache_key = self._pool_key()
        if self._ordered_cache is not None and self._ordered_cache[0] == cache_key:
            return self._ordered_cache[1], self._ordered_cache[2]
        pool = list(self.snapshot.alerts)
        pool += [a for a, _ in self._resolved.values()]
        # A poll in which nothing changed hands back the same Alert objects (the source
        # reuses unchanged ones): keep the previous order instead of sorting 10,000 again.
        # (The cached rows hold those objects, so their ids cannot be reused meanwhile.)
        same = frozenset(map(id, pool)), self.sorting, self.grouping
        if self._ordered_cache is not None and self._ordered_cache[3] == same:
            rows, chars = self._ordered_cache[1], self._ordered_cache[2]
        else:
            rows = ordered(pool, self.sorting, self.grouping)
            chars = sum(len(a.search_text()) for a in pool)
        self._ordered_cache = (cache_key, rows, chars, same)
        return rows, chars

    def _pool_key(self) -> tuple:
        return (id(self.snapshot), len(self._resolved), self.sorting, self.grouping)

    def _display_rows(self, visible: list[tuple[Alert, str]]) -> list[tuple[str, Alert | None, str, int]]:
        return display_rows(visible, self.grouping)

    def _row(self, alert: Alert, now: datetime) -> list[Text]:
        theme = self.app.current_theme
        sev_color = {
            Severity.CRITICAL: theme.error,
            Severity.WARNING: theme.warning,
            Severity.INFO: theme.primary,
        }.get(alert.severity)
        resolved = alert.state is AlertState.RESOLVED
        fade = "dim strike" if resolved else ""
        sev = safe(SEVERITY_TEXT[alert.severity], 4, style=fade or (f"bold {sev_color}" if sev_color else "dim"))
        state_style = fade or ("" if alert.state is AlertState.FIRING else "dim italic")
        target = "/".join(x for x in (alert.namespace, alert.target().split("/", 1)[-1]) if x)
        first = self._first_seen.get(alert.fingerprint)
        is_new = first is not None and not resolved and now - first < NEW_FOR
        age = Text("new", style=f"bold {theme.accent}") if is_new else Text(format_age(alert.age_seconds(now)), style=fade)
        return [
            sev,
            safe(alert.alertname, 60, style=fade),
            safe(target, 80, style=fade),
            age,
            safe(self._state_word(alert), 12, style=state_style),
            self._proposal_cell(alert),
            safe(alert.cluster, 40, style=fade or "bold"),
            safe(alert.summary, 300, style=fade),
        ]

    def _state_word(self, alert: Alert) -> str:
        """``acked`` for an alert muted by an ack (a silence marked ``ACK!``), not
        ``silenced``: the operator must tell "someone is on it" from "muted"."""
        acks = getattr(self.snapshot, "acks", None) or ()
        if alert.state is AlertState.SILENCED and any(s in acks for s in alert.silenced_by):
            return "acked"
        return alert.state.value

    def _proposal_cell(self, alert: Alert) -> Text:
        if self.grouping == "incident" and not self._is_incident_cause(alert.fingerprint):
            return Text("↑ incident's proposal", style="dim")
        if self.triage_service is None:
            # A replay runs no model: it shows what the recorded queue held for the alert.
            recorded = getattr(getattr(self.app, "review_queue", None), "recorded_proposal", None)
            if recorded is None:
                return Text("no model", style="dim")
            r = recorded(alert.fingerprint)
            return safe(f"{r.state} {r.action}", 40, style="dim") if r is not None else Text("not queued", style="dim")
        proposal = self.proposals.get(alert.fingerprint)
        if proposal is None:
            return Text("…", style="dim")
        high, low = thresholds(self.app)
        return proposal_cell(proposal, high, low, self.app.current_theme, width=dict((k, w) for k, _, w in COLUMNS)["proposal"])

    def _is_incident_cause(self, fingerprint: str) -> bool:
        """In the "by incident" view, whether the alert leads its incident (the most likely
        cause, whose proposal stands for the incident: one proposal per incident)."""
        group = self._rows.get(fingerprint, (None, "", 0))[1]
        first = next((key for key, (alert, g, _) in self._rows.items() if alert is not None and g == group), fingerprint)
        return first == fingerprint

    def _group_row(self, name: str, size: int) -> list[Text]:
        label = {"alertname": "", "namespace": "ns ", "cluster": "", "severity": "severity ", "incident": "incident "}.get(self.grouping, "")
        return [
            Text("▾", style="bold"),
            Text.assemble(safe(label, 20, style="dim"), safe(name, 60, style="bold")),
            Text(f"{size:d} alert{'s' if size != 1 else ''}", style="dim"),
            Text(""),
            Text(""),
            Text(""),
            Text(""),
            Text(""),
        ]

    def _render_rows(self) -> None:
        """Hand the table the rows to show; it draws only those on screen.

        The cursor follows its alert by key and the scroll offset is kept, so the
        operator's place never jumps when alerts come, go or change.
        """
        if self.snapshot is None:
            return
        self._filter_generation += 1
        ordered_rows, chars = self._ordered_pool()
        flt = self.filter
        parts = len(flt.matchers) + len(flt.terms)
        pool = self._filter_pool(flt, ordered_rows)
        if pool is not ordered_rows:  # narrowed: what the filter reads shrinks with the pool
            chars = chars * len(pool) // max(len(ordered_rows), 1)
        checks = FILTER_INLINE_CHECKS if flt.matchers else FILTER_INLINE_WORD_CHECKS
        max_chars = FILTER_INLINE_CHARS if flt.matchers else FILTER_INLINE_WORD_CHARS
        if not flt:
            self._narrow = None
            self._show_rows(ordered_rows)
        elif len(pool) * parts <= checks and chars * parts <= max_chars:
            visible = self._filtered(flt, pool)
            self._remember(flt, self._pool_key(), visible)
            self._show_rows(visible)
        else:
            self.filtering = True
            self._filter_in_thread(flt, pool, (self.filter_text, self.sorting, self.grouping), self._filter_generation, self._pool_key())
            self._update_title([a for a, *_ in self._rows.values() if a is not None and a.state is not AlertState.RESOLVED])

    @work(thread=True, exclusive=True, group="alerts-filter", exit_on_error=False, description="filter alerts")
    def _filter_in_thread(self, flt: Filter, ordered_rows: list[tuple[Alert, str]], view: tuple, generation: int, pool_key: tuple = ()) -> None:
        visible = self._filtered(flt, ordered_rows)
        self.app.call_from_thread(self._filter_done, visible, view, generation, flt, pool_key)

    def _filter_done(self, visible: list[tuple[Alert, str]], view: tuple, generation: int, flt: Filter | None = None, pool_key: tuple = ()) -> None:
        if flt is not None and pool_key:
            self._remember(flt, pool_key, visible)  # still a true answer for that pool: the next keystroke narrows it
        if view != (self.filter_text, self.sorting, self.grouping):
            return  # the operator changed the filter or the order meanwhile: a newer answer comes
        # Only the alerts changed (a poll): show this answer now, or a filter slower than the
        # poll interval would never show anything; the newer answer replaces it.
        try:
            self._show_rows(visible, pending=generation != self._filter_generation)
        except NoMatches:
            return  # the app shut down while the thread filtered

    def _show_rows(self, visible: list[tuple[Alert, str]], pending: bool = False) -> None:
        table = self.query_one(AlertTable)
        self.filtering = pending
        if visible is self._shown and self.grouping == self._shown_grouping:
            # The same rows as last time (a poll that changed nothing, unfiltered): only the
            # cells on screen are drawn again (ages move on).
            self._cells.clear()
            table.refresh_rows()
            self._update_title([a for a, _ in visible if a.state is not AlertState.RESOLVED])
            return
        self._shown, self._shown_grouping = visible, self.grouping
        alerts = [a for a, _ in visible]
        rows = self._display_rows(visible)
        self._rows = {key: (alert, group, size) for key, alert, group, size in rows}
        self._cells.clear()
        keys = [key for key, *_ in rows]
        if keys == table.keys:
            table.refresh_rows()
        else:
            table.set_rows(keys)
        self._update_title([a for a in alerts if a.state is not AlertState.RESOLVED])

    def _render_key(self, key: str) -> list[Text]:
        cells = self._cells.get(key)
        if cells is None:
            alert, group, size = self._rows.get(key, (None, "", 0))
            now = self.snapshot.fetched_at if self.snapshot else datetime.now()
            cells = self._row(alert, now) if alert is not None else self._group_row(group, size)
            self._cells[key] = cells
        return cells

    def selected_key(self) -> str | None:
        return self.query_one(AlertTable).cursor_key

    def selected_fingerprint(self) -> str | None:
        key = self.selected_key()
        return None if key is None or key.startswith(GROUP_PREFIX) else key

    def selected_alert(self) -> Alert | None:
        fp = self.selected_fingerprint()
        if fp is None:
            return None
        alert = self._rows.get(fp, (None,))[0]
        return alert if alert is not None and alert.state is not AlertState.RESOLVED else None

    def select_fingerprint(self, fingerprint: str) -> None:
        table = self.query_one(AlertTable)
        index = table.index_of(fingerprint)
        if index is not None:
            table.move_cursor(index)

    def _update_title(self, alerts: list[Alert]) -> None:
        snapshot = self.snapshot
        assert snapshot is not None
        counts = {s: 0 for s in Severity}
        for a in alerts:
            counts[a.severity] += 1
        theme = self.app.current_theme
        title = Text.assemble(("Alerts ", "bold"), (f"{len(alerts)}", "bold"))
        if self.filter_text:
            title.append(f"/{len(snapshot.alerts)} matching ")
            title.append_text(safe(repr(self.filter_text), 30, style="italic"))
            if self.filtering:
                title.append(" (filtering…)", style="dim")
        title.append("  ")
        for sev, color in ((Severity.CRITICAL, theme.error), (Severity.WARNING, theme.warning), (Severity.INFO, theme.primary)):
            title.append_text(safe(f"{counts[sev]} {sev.label}", 40, style=f"bold {color}" if counts[sev] else "dim"))
            title.append("  ")
        title.append_text(safe(f"by {self.grouping} · sort {self.sorting}  ", 60, style="dim"))
        if self.filter_error:
            title.append_text(safe("filter refused (see below)", 40, style=f"bold {theme.error}"))
        elif snapshot.error:
            title.append_text(safe(f"stale: {snapshot.error}", 120, style=f"bold {theme.warning}"))
        if title != self._title:
            # One line high, whatever it says: no layout pass, only the title repaints.
            self._title = title
            self.query_one("#alerts-title", Static).update(title, layout=False)

    # -- actions on the selected alert ---------------------------------------------

    def _need_alert(self) -> Alert | None:
        alert = self.selected_alert()
        if alert is None:
            notify_plain(self, "select an alert first (this row is a group)", severity="warning")
        return alert

    def action_copy(self) -> None:
        alert = self._need_alert()
        if alert is None:
            return
        proposal = self.proposals.get(alert.fingerprint)
        if proposal is None:
            why = "triage is off" if self.triage_service is None else "the proposal is still being computed"
            notify_plain(self, f"no proposed command yet: {why}", severity="warning")
        elif proposal.api is None or not proposal.command:
            # No API call means no command: escalate's "command" is its title ("Page the
            # on-call owner (no automated action)"), and a proposal with a missing or invalid
            # parameter has none. Copying either would paste words into a shell.
            why = "it makes no change to the cluster: a human takes it from here" if proposal.action == "escalate" else "; ".join(proposal.review_reasons) or "no automated action"
            notify_plain(self, f"{proposal.action}: there is no command to copy ({why})", severity="warning", timeout=8)
        else:
            self.app.copy_to_clipboard(proposal.command)
            notify_plain(self, f"copied: {clean(proposal.command, 120)}", timeout=6)

    @on(AlertList.Selected, "#alerts-table")
    def _open_detail(self, event: AlertList.Selected) -> None:
        alert = self.selected_alert()
        if alert is not None and self.snapshot is not None:
            self.app.push_screen(
                AlertDetailScreen(alert, self.snapshot.fetched_at, self.evidence_service, self.proposals.get(alert.fingerprint), thresholds(self.app))
            )

    # -- the side panel: evidence for the selected alert only, loaded lazily ---------

    @on(AlertList.Highlighted, "#alerts-table")
    def _row_highlighted(self, event: AlertList.Highlighted) -> None:
        if not self.query_one("#alerts-side").display:
            return
        alert = self.selected_alert()
        if alert is not None and self.evidence is not None and self.evidence.fingerprint == alert.fingerprint:
            return
        self.evidence = None
        self._load_evidence(alert)

    def on_knowledge_ready(self, message: KnowledgeReady) -> None:
        """The side panel said "knowledge base still loading": gather again."""
        if self.query_one("#alerts-side").display:
            self.evidence = None
            self._load_evidence(self.selected_alert())

    @work(exclusive=True, group="side-evidence", exit_on_error=False, description="load evidence")
    async def _load_evidence(self, alert: Alert | None) -> None:
        """Debounced: while j is held or a filter is typed, only the row the cursor stops on
        is drawn and fetched. A result for a row the operator has left is dropped."""
        import asyncio

        await asyncio.sleep(0.15)
        detail = self.query_one("#side-detail", Static)
        evidence_view = self.query_one("#side-evidence", Static)
        if alert is None:
            detail.update(Text("a group: select an alert", style="dim"))
            self._show_proposal(None)
            evidence_view.update("")
            return
        now = self.snapshot.fetched_at if self.snapshot else alert.starts_at
        detail.update(alert_detail(alert, now))
        self._show_proposal(alert)
        evidence_view.update(evidence_renderable(None, SIDE_PANEL_WIDTH, self.app.current_theme, loading=True))
        if self.evidence_service is None:
            return
        evidence = await self.evidence_service.gather(alert)
        if self.selected_fingerprint() != evidence.fingerprint:
            return  # stale: the operator has moved on
        self.evidence = evidence
        evidence_view.update(evidence_renderable(evidence, SIDE_PANEL_WIDTH - 4, self.app.current_theme))
