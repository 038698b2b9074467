"""The Review pane: the queue of proposed remediations, decided from the keyboard.

The queue lives in a SQLite file several operators share (this pane polls it, so another
operator's decision shows within one poll interval) or in PostgreSQL (it also listens: a
decision shows as soon as it is committed). Every decision is a compare-and-set in the
store: losing a race shows who decided and when, and changes nothing. Keys the approval
policy refuses for the selected proposal are greyed out, and the detail says why.
"""

from __future__ import annotations

from datetime import datetime, timezone

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static
from textual.widgets.option_list import Option

from sreconsole.services.knowledge import relative_to_roots
from sreconsole.services.review import alert_state_text, shown_target
from sreconsole.tui.evidence_view import confidence_style, named_source, shown_confidence, shown_method, thresholds
from sreconsole.tui.list_keys import ChoiceList
from sreconsole.tui.record_table import RecordTable
from sreconsole.tui.render import clean, notify_plain, safe

COLUMNS = (("id", "ID", 4), ("sev", "SEV", 4), ("cluster", "CLUSTER", 0, 12), ("alert", "ALERT", 12, 24), ("action", "ACTION", 13, 20), ("target", "TARGET", 0, 24),
           ("conf", "CONF", 4), ("method", "METHOD", 7), ("state", "STATE", 8), ("live", "LIVE", 11, 12), ("queued", "QUEUED", 0, 7),
           ("why", "WHY", 0, 24))
"""79 columns with the cell padding: the whole row fits an 80x24 terminal. A wide terminal
(see :data:`~sreconsole.tui.record_table.WIDE`) also shows the target and how long ago
the proposal was queued, and the names in full. LIVE is the alert's state now (firing,
resolved, silenced, acked) and for how long; for an executed action, whether it fixed
the alert. CLUSTER (on a wide terminal, and only while the queue holds proposals of more
than one cluster; the detail and every dialog name it at any width) is where the action
would run. CONF only for a calibrated probability; METHOD is human when a human must
decide; WHY (on a wide terminal; the detail below says it at any width) is the source of a named action with
the model's opinion, and the first review reason."""


APPROVE_REASON = "approved in the console"
"""The audit reason when the operator gives none (the CLI's --reason is optional too)."""
NO_CORRECTION = "(none: only reject)"


def dialog_target(r) -> str:
    """What a dialog acts on, for its title: ``#7 rollout-restart payments/deploy/api``, and
    ``in prod-eu`` when the proposal is for a named cluster (the only one it can run on)."""
    where = f" in {r.cluster}" if getattr(r, "cluster", "") else ""
    return f"#{r.id} {r.action} {shown_target(r)}".strip() + where


def console_now(app) -> datetime:
    """The console's clock (a replay's is the recorded moment; a test's is fixed)."""
    clock = getattr(app, "clock", None)
    return clock() if callable(clock) else datetime.now(timezone.utc)


def live_cell(r, live_style: str, theme, now: datetime) -> Text:
    """The alert's live state; for an executed action, whether it fixed the alert."""
    if getattr(r, "outcome", "") and r.state == "executed":
        return outcome_line(r, now, theme, width=40)
    return safe(alert_state_text(r, now), 40, style=live_style)


class ReviewPane(Vertical, can_focus=False):
    BINDINGS = [
        Binding("a", "approve", "Approve", id="review.approve", tooltip="Approve the selected proposal (shows the exact call first)"),
        Binding("r", "reject", "Reject", id="review.reject", tooltip="Reject with a reason; optionally name the right action"),
        Binding("e", "edit", "Edit", id="review.edit", tooltip="Edit the parameters (re-validated)"),
        Binding("d", "dry_run", "Dry-run", id="review.dry_run", tooltip="Show exactly what would be called; send nothing"),
        Binding("u", "rollback", "Undo", id="review.rollback", tooltip="Roll back an executed, reversible action"),
        Binding("h", "history", "History", id="review.history", tooltip="Toggle: pending only / every decided item"),
        Binding("slash", "filter", "Filter", id="review.filter", tooltip="Filter by words: namespace, action, state, alert"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="review.clear_filter", tooltip="Clear the filter (as in Alerts)"),
    ]

    def __init__(self, queue, **kwargs) -> None:
        super().__init__(**kwargs)
        self.queue = queue
        self.records: dict[str, object] = {}
        self.edits: dict[int, dict[str, str]] = {}
        self.show_all = False
        self.filter_text = ""
        self.error = ""
        self.last_result: dict[int, object] = {}
        self._doc_roots: tuple[str, ...] | None = None

    def compose(self) -> ComposeResult:
        yield Static("Review  loading…", classes="pane-title", id="review-title")
        yield Input(select_on_focus=False, placeholder="filter: words matched against namespace, action, state, alert", id="review-filter")
        yield RecordTable(COLUMNS, self._cells, hidden=("cluster",), id="review-table")  # until a second cluster shows up
        with VerticalScroll(id="review-side"):
            yield Static("", id="review-detail")

    def on_mount(self) -> None:
        self.query_one("#review-filter", Input).display = False
        interval = getattr(self.app, "poll_interval_s", 5.0) or 5.0
        self.reconcile_interrupted()
        self.refresh_queue()
        self.set_interval(max(1.0, interval), self.refresh_queue)
        if self.queue.notifies:
            self.listen_for_changes()

    @work(thread=True, exclusive=True, group="review-listen", exit_on_error=False, description="hear other consoles' decisions")
    def listen_for_changes(self) -> None:
        """On PostgreSQL: refresh as soon as another console's decision is committed
        (LISTEN/NOTIFY), not at the next poll."""
        from textual.worker import get_current_worker

        worker = get_current_worker()
        while not worker.is_cancelled:
            try:
                heard = self.queue.wait_for_change(1.0)
            except Exception:  # noqa: BLE001 - the poll still runs, and says what is wrong
                return
            if heard and not worker.is_cancelled:
                self.app.call_from_thread(self.refresh_queue)

    @work(thread=True, exclusive=True, group="review-reconcile", exit_on_error=False, description="settle interrupted executions")
    def reconcile_interrupted(self) -> None:
        """Once at start: executions another process left without an outcome are checked
        against the cluster and recorded (executed, failed, or outcome unknown)."""
        try:
            found = self.queue.reconcile()
        except Exception as exc:  # noqa: BLE001 - the pane says so and goes on
            notify_plain(self.app, f"could not settle interrupted executions: {exc}", severity="error", timeout=10)
            return
        for f in found:
            word = "outcome unknown — needs a human" if f.outcome == "unknown" else f.outcome
            notify_plain(self.app, f"#{f.id} {f.action} was interrupted: {word}: {f.reason}",
                         severity="warning" if f.outcome == "unknown" else "information", timeout=15)
        if found:
            self.app.call_from_thread(self.refresh_queue)

    # -- data --------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="review-poll", exit_on_error=False, description="read the review queue")
    def refresh_queue(self) -> None:
        try:
            records = self.queue.list(all_states=self.show_all)
            error = ""
        except Exception as exc:  # noqa: BLE001 - the pane says what is wrong and keeps polling
            records, error = None, str(exc)
        self.app.call_from_thread(self._show, records, error)

    def _show(self, records, error: str) -> None:
        self.error = error
        if records is not None:
            words = self.filter_text.lower().split()
            shown = [r for r in records if all(w in f"{r.namespace} {r.action} {r.state} {r.alertname} {r.severity} {r.cluster}".lower() for w in words)]
            self.records = {str(r.id): r for r in shown}
            table = self.query_one(RecordTable)
            table.hide(frozenset() if len({r.cluster for r in records}) > 1 else frozenset({"cluster"}))
            table.show(self.records)
        self._title(records)
        self._detail()

    def _cells(self, r) -> list[Text]:
        theme = self.app.current_theme
        high, low = thresholds(self.app)
        sev_style = {"critical": f"bold {theme.error}", "warning": f"bold {theme.warning}"}.get(r.severity.lower(), "dim")
        shown = shown_confidence(r.confidence, r.method)
        conf = Text("—", style="dim") if shown is None else Text(f"{shown:.2f}", style=confidence_style(shown, high, low, theme))
        why = " · ".join(x for x in (named_source(r.method, r.evidence), (r.review_reasons[0] if r.review_reasons else "")) if x)
        state_style = {"pending": "bold", "approved": theme.success or "green", "executed": theme.success or "green", "rejected": "dim",
                       "failed": theme.error or "red", "unknown": f"bold {theme.warning or 'yellow'}", "executing": "bold"}.get(r.state, "dim")
        action = r.action + ("*" if r.id in self.edits else "")
        live_style = {"firing": f"bold {theme.error or 'red'}", "resolved": theme.success or "green", "acked": theme.warning or "yellow"}.get(r.alert_state, "dim")
        from sreconsole.services.review import age_text

        now = console_now(self.app)
        return [
            safe(r.id, 8, style="dim"),
            safe(r.severity[:4].upper(), 4, style=sev_style),
            safe(r.cluster or "—", 60, style="bold"),
            safe(r.alertname, 60),
            safe(action, 40, style="bold" if r.requires_human_review else ""),
            safe(shown_target(r) or "—", 80, style="dim"),
            conf,
            safe(shown_method(r.method, r.requires_human_review)[:7], 7, style="bold" if r.requires_human_review else "dim"),
            safe("unknown?" if r.state == "unknown" else f"{len(r.approvals)} of 2" if r.state == "pending" and r.approvals else r.state, 12, style=state_style),
            live_cell(r, live_style, theme, now),
            safe(age_text(r.created_at, now), 12, style="dim"),
            safe(why, 200, style="dim"),
        ]

    def _title(self, records) -> None:
        title = self.query_one("#review-title", Static)
        if self.error:
            title.update(Text.assemble(("Review  ", "bold"), safe(self.error, 200, style="bold red")))
            return
        n = len(self.records)
        human = sum(1 for r in self.records.values() if r.requires_human_review and r.state == "pending")
        mode = "every state" if self.show_all else "pending"
        extra = f"  filter: {self.filter_text}" if self.filter_text else ""
        ro = "  READ-ONLY" if self.queue.read_only else ""
        title.update(Text.assemble(("Review  ", "bold"), f"{n:d} {mode}", (f"  {human:d} need{'s' if human == 1 else ''} a human" if human else "", "bold"), safe(extra, 80, style="dim"), (ro, "bold reverse")))

    @property
    def order(self) -> list[str]:
        """Record keys in display order."""
        return self.query_one(RecordTable).order

    def selected_key(self) -> str | None:
        return self.query_one(RecordTable).selected_key()

    def selected(self):
        key = self.selected_key()
        return self.records.get(key) if key else None

    @on(RecordTable.RowHighlighted, "#review-table")
    def _highlighted(self) -> None:
        self._detail()
        self.refresh_bindings()

    _POLICY_VERBS = {"approve": "approve", "reject": "reject", "edit": "approve", "rollback": "rollback"}

    def refusal(self, action: str) -> str:
        """Why the approval policy (review.policy_file) does not let this operator use
        ``action`` on the selected proposal ('' when it does, or no policy is set)."""
        verb = self._POLICY_VERBS.get(action)
        if verb is None:
            return ""
        try:
            if not self.queue.policy.enforced:
                return ""
            r = self.selected()
            if r is None:
                return ""
            answer = self.queue.may_decide(r, verb)
        except Exception as exc:  # noqa: BLE001 - a policy that cannot be read refuses, in words
            return f"the approval policy cannot be read: {exc}"
        return "" if answer else answer.reason

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Keys the policy does not allow on the selected proposal are shown greyed out (the
        detail says why) instead of failing after a dialog."""
        return None if self.refusal(action) else True

    def _detail(self) -> None:
        view = self.query_one("#review-detail", Static)
        r = self.selected()
        if r is None:
            empty = "no proposals waiting" if not self.show_all else "the queue is empty"
            view.update(Text(empty + ". Proposals arrive from the Alerts pane and `sreconsole triage --batch FILE --enqueue`.", style="dim"))
            return
        view.update(Group(*self.policy_notes_renderable(r), record_renderable(
            r, self.edits.get(r.id), self.last_result.get(r.id), thresholds(self.app), self.app.current_theme,
            console_now(self.app), self._roots())))

    def _roots(self) -> tuple[str, ...]:
        """The indexed directories: evidence paths are shown relative to them."""
        if self._doc_roots is None:
            from sreconsole.services.knowledge import index_roots

            settings = getattr(self.app, "settings", None)
            self._doc_roots = index_roots(settings) if settings is not None else ()
        return self._doc_roots

    def policy_notes_renderable(self, r) -> tuple[Text, ...]:
        """Lines above the detail: the approvals gathered (four eyes) and the keys the policy
        greys out, each with its reason (none without a policy or approvals)."""
        lines = []
        if r.approvals and r.state == "pending":
            names = ", ".join(str(a.get("user", "?")) for a in r.approvals)
            lines.append(safe(f"approvals: {len(r.approvals)} of 2 ({names}); a second person must approve", 300, style="bold"))
        for key, action in (("a", "approve"), ("r", "reject"), ("u", "rollback")):
            why = self.refusal(action)
            if why:
                lines.append(Text.assemble(safe(f"{key} greyed: ", 20, style="dim bold"), safe(why, 400, style="dim")))
        return tuple(lines)

    # -- actions -----------------------------------------------------------------------------

    def _need(self, states: tuple[str, ...] = ("pending",)):
        r = self.selected()
        if r is None:
            notify_plain(self, "no proposal selected", severity="warning")
            return None
        if r.state not in states:
            notify_plain(self, f"#{r.id} is {r.state}: this works on {' or '.join(states)} proposals only", severity="warning")
            return None
        return r

    def _writable(self) -> bool:
        if self.queue.read_only:
            notify_plain(self, f"{self.queue.read_only_reason}: approve, reject, edit and undo are disabled", severity="warning")
            return False
        return True

    def _permitted(self, action: str) -> bool:
        why = self.refusal(action)
        if why:
            notify_plain(self, f"refused: {why}", severity="warning", timeout=10)
        return not why

    def action_approve(self) -> None:
        r = self._need()
        if r is None or not self._writable() or not self._permitted("approve"):
            return
        params = self.edits.get(r.id) or r.parameters
        try:
            params, command, api = self.queue.validate_parameters(r.action, r.labels, params)
        except ValueError as exc:
            notify_plain(self, f"cannot approve: {clean(str(exc), 300)} (press e to edit)", severity="error", timeout=10)
            return

        resolved = r.alert_state == "resolved"

        def done(reason: str | None) -> None:
            if reason is not None:
                self._run(lambda: self.queue.approve(r.id, reason, params, even_if_resolved=resolved), r.id)

        def approve() -> None:
            self.app.push_screen(ApproveScreen(r, command, api, self.queue.executor_mode(r.risk, r.cluster)), done)

        if resolved:
            # Its alert is no longer firing: say so, and ask before the usual dialog.
            self.app.push_screen(ResolvedScreen(r), lambda yes: approve() if yes else None)
        else:
            approve()

    def action_reject(self) -> None:
        r = self._need()
        if r is None or not self._writable() or not self._permitted("reject"):
            return

        def done(result: tuple[str, str] | None) -> None:
            if result is not None:
                reason, corrected = result
                self._run(lambda: self.queue.reject(r.id, reason, corrected or None), r.id)

        self.app.push_screen(ReasonScreen(f"Reject {dialog_target(r)}", "why is this wrong? (required)", list(self.queue.catalog.ids)), done)

    def action_edit(self) -> None:
        r = self._need()
        if r is None or not self._writable():
            return
        action = self.queue.catalog.get(r.action)
        names = [p.name for p in action.parameters] if action else []
        if not names:
            notify_plain(self, f"{r.action} has no parameters", severity="warning")
            return

        def done(values: dict[str, str] | None) -> None:
            if values is not None:
                self.edits[r.id] = values
                notify_plain(self, f"#{r.id}: parameters edited; approve to use them")
                self.query_one(RecordTable).show(self.records)
                self._detail()

        current = {**r.parameters, **self.edits.get(r.id, {})}
        self.app.push_screen(EditScreen(r, names, current, self.queue), done)

    def action_dry_run(self) -> None:
        r = self._need(("pending", "approved", "executed"))
        if r is not None:
            self._run(lambda: self.queue.dry_run(r.id, self.edits.get(r.id)), r.id)

    def action_rollback(self) -> None:
        r = self._need(("executed",))
        if r is None or not self._writable():
            return

        def done(result: tuple[str, str] | None) -> None:
            if result is not None:
                self._run(lambda: self.queue.rollback(r.id, result[0]), r.id)

        self.app.push_screen(ReasonScreen(f"Roll back {dialog_target(r)}", "why roll back? (required)", None), done)

    def action_history(self) -> None:
        self.show_all = not self.show_all
        self.refresh_queue()

    def action_filter(self) -> None:
        box = self.query_one("#review-filter", Input)
        box.display = True
        self.app.set_focus(box)

    def action_clear_filter(self) -> None:
        box = self.query_one("#review-filter", Input)
        had = bool(self.filter_text or box.value)
        box.value = ""
        box.display = False
        self.filter_text = ""
        self.app.set_focus(self.query_one(RecordTable))
        if had:
            self.refresh_queue()

    @on(Input.Submitted, "#review-filter")
    def _filter(self, event: Input.Submitted) -> None:
        self.filter_text = event.value.strip()
        event.input.display = bool(self.filter_text)
        self.app.set_focus(self.query_one(RecordTable))
        self.refresh_queue()

    @work(thread=True, group="review-decide", exit_on_error=False, description="decide")
    def _run(self, call, proposal_id: int) -> None:
        """Decisions and executions run off the event loop (the store may retry a busy lock;
        the Kubernetes API may be slow); the outcome is a notification and a redraw."""
        from sreconsole.review.store import AlreadyDecided, ReviewError
        from sreconsole.services.review import AlertResolved, ReadOnly

        try:
            outcome = call()
        except AlertResolved as exc:  # it resolved while the dialog was open
            notify_plain(self.app, f"not approved: {exc}; press a again to confirm", severity="warning", timeout=10)
        except AlreadyDecided as exc:
            notify_plain(self.app, f"#{proposal_id}: {exc}", severity="warning", timeout=10)
        except (ReviewError, ReadOnly, ValueError, LookupError) as exc:
            notify_plain(self.app, f"#{proposal_id}: {exc}", severity="error", timeout=10)
        else:
            if outcome.execution is not None:
                self.last_result[proposal_id] = outcome.execution
            if outcome.record.state != "pending":
                self.edits.pop(proposal_id, None)
            failed = outcome.execution is not None and not outcome.execution.ok
            notify_plain(self.app, outcome.message, severity="error" if failed else "information", timeout=8)
        self.app.call_from_thread(self.refresh_queue)


def record_renderable(r, edits, execution, thresholds, theme, now: datetime, roots: tuple[str, ...] = ()) -> Group:
    """Everything an operator needs to decide: the alert, the action and its exact call,
    confidence, method, why it needs a human, the evidence, and what happened so far."""
    from sreconsole.services.review import age_text

    high, low = thresholds
    shown = shown_confidence(r.confidence, r.method)
    style = confidence_style(shown, high, low, theme)
    source = named_source(r.method, r.evidence)
    head = Text.assemble((f"#{r.id:d} ", "dim"), safe(r.alertname, 80, style="bold"), ("  ", ""), safe(r.namespace or "", 60, style="dim"))
    if getattr(r, "cluster", ""):  # the only cluster this proposal can run on
        head.append_text(Text.assemble(("  cluster ", "dim"), safe(r.cluster, 60, style="bold")))
    lines: list = [
        head,
        Text.assemble(("action ", "dim"), safe(r.action, 60, style=f"bold {style}"), safe(f"  risk {r.risk}" + (", reversible" if r.reversible else ", not reversible"), 60, style="dim")),
        Text.assemble(("confidence ", "dim"), ("—" if shown is None else f"{shown:.2f}", style), safe(f"  method {r.method}", 40, style="dim"), safe(f"  model {r.model_version}" if r.model_version else "", 80, style="dim")),
    ]
    if source:
        lines.append(Text.assemble(("named by ", "dim"), safe(source, 200), ("  (not a calibrated probability)", "dim")))
    params = {**r.parameters, **(edits or {})}
    if params:
        lines.append(Text.assemble(("parameters ", "dim"), safe(", ".join(f"{k}={v}" for k, v in params.items()), 300), (" (edited)" if edits else "", "italic")))
    if r.command:
        lines.append(Text.assemble(("$ ", "dim"), safe(r.command, 500, style="bold")))
    for reason in r.review_reasons:
        if edits and any(reason.startswith(f"parameter {name} ") for name in edits):
            continue  # the edit supplied it, and the catalog accepted the edited set
        lines.append(Text.assemble(("review: ", theme.warning or "yellow"), safe(reason, 300)))
    for item in r.evidence[:5]:
        lines.append(Text.assemble(safe(f"  {item.get('kind', '')} ", 40, style="dim"), safe(relative_to_roots(item.get("ref", ""), roots), 120, style="underline"), (" ", ""), safe(item.get("summary", ""), 160, style="dim")))
    lines.append(safe(f"state {r.state}, queued {age_text(r.created_at, now)} ago", None, style="dim", single_line=False))
    lines.append(alert_state_line(r, now, theme))
    if getattr(r, "outcome", "") and r.state == "executed":
        line = outcome_line(r, now, theme, width=300)
        if r.outcome == "not_effective" and r.reversible:
            line.append_text(Text("  u rolls it back", style="bold"))
        lines.append(line)
    if r.decided_by:
        lines.append(Text.assemble(("decided by ", "dim"), safe(r.decided_by + (f"@{r.decided_from}" if r.decided_from else ""), 80), (f" {age_text(r.decided_at, now)} ago: ", "dim"), safe(r.reason, 300)))
    if r.corrected_action:
        lines.append(Text.assemble(("the right action: ", "dim"), safe(r.corrected_action, 60, style="bold")))
    ex = execution
    if ex is None and r.result:
        calls = r.result.get("calls") or []
        lines.append(safe(f"last run: {'dry run' if r.result.get('dry_run') else 'executed'}, {len(calls)} call(s)" + (f", error: {r.result.get('error')}" if r.result.get("error") else ""), 600, style="dim", single_line=False))
    elif ex is not None:
        lines.append(safe(("would send" if ex.dry_run else "sent") + f" ({len(ex.calls)} call(s))" + (f": {ex.error}" if ex.error else ""), 600, style="bold", single_line=False))
        for call in ex.calls:
            lines.append(Text.assemble(("  ", ""), safe(f"{call.method} {call.path}", 200), safe(f" → {call.status}" if call.status else "", 40, style="dim")))
    return Group(*lines)


def outcome_line(r, now: datetime, theme, *, width: int) -> Text:
    """Did the executed action fix its alert: "executed 12 min ago — resolved after 3 min"."""
    from sreconsole.review.effect import history_text

    style = {"effective": theme.success or "green", "not_effective": f"bold {theme.error or 'red'}"}.get(r.outcome, "dim")
    return safe(history_text(r, now), width, style=style)


def alert_state_line(r, now: datetime, theme) -> Text:
    """The live state of the proposal's alerts, each one named when there are several."""
    head = "alert " + alert_state_text(r, now) + (" (no alert source watches it)" if r.alert_state == "unknown" else "")
    style = f"bold {theme.success or 'green'}" if r.alert_state == "resolved" else "dim"
    line = safe(head, 300, style=style)
    if len(r.alerts) > 1:
        line.append_text(Text(": ", style="dim"))
        line.append_text(safe(", ".join(f"{a.get('alertname', '')} {a.get('state', '')}" for a in r.alerts), 300, style="dim"))
    return line


class ResolvedScreen(ModalScreen[bool]):
    """Approving a proposal whose alert resolved: say so first, and ask."""

    DEFAULT_CSS = """
    ResolvedScreen { align: center middle; }
    ResolvedScreen > Vertical { width: 70; max-width: 100%; height: auto; border: round $warning; background: $surface; padding: 0 1; }
    """
    BINDINGS = [
        Binding("y,enter", "answer(True)", "Approve anyway", id="resolved.confirm"),
        Binding("n,escape", "answer(False)", "Cancel", id="resolved.cancel"),
    ]

    def __init__(self, record) -> None:
        super().__init__()
        self.record = record

    def compose(self) -> ComposeResult:
        r = self.record
        with Vertical():
            yield Label(Text.assemble(("Approve ", "bold"), safe(dialog_target(r), 90, style="bold"), ("?", "bold")))
            yield Static(Text.assemble(("Its alert has resolved: ", "bold"), safe(alert_state_text(r, datetime.now(timezone.utc)), 40),
                                       (". The action may no longer be needed.", "")), id="resolved-why")
            yield Label(Text("y/enter: approve anyway · n/esc: cancel", style="dim"))

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class ApproveScreen(ModalScreen[str | None]):
    """The exact call, its risk and reversibility; a reason; for high risk, the action id
    typed to confirm (a slip of the finger must not delete production)."""

    DEFAULT_CSS = """
    ApproveScreen { align: center middle; }
    ApproveScreen > Vertical { width: 90; max-width: 100%; height: auto; max-height: 100%; border: round $warning; background: $surface; padding: 0 1; }
    ApproveScreen .field-error { color: $error; height: auto; }
    ApproveScreen #approve-call { height: auto; max-height: 12; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="approve.cancel")]

    def __init__(self, record, command: str, api: dict | None, mode: str) -> None:
        super().__init__()
        self.record = record
        self.command = command
        self.api = api
        self.mode = mode

    def compose(self) -> ComposeResult:
        r = self.record
        with Vertical():
            yield Label(Text.assemble(("Approve ", "bold"), safe(dialog_target(r), 90, style="bold"), safe(f"  risk {r.risk}", 40, style="bold red" if r.risk == "high" else "dim")))
            call = [safe(("reversible: " + ("yes" if r.reversible else "no")) + f" · on approval: {self.mode}", None, style="dim", single_line=False)]
            if self.api:
                call.append(safe(f"{self.api.get('method')} {self.api.get('path')}", 300, style="bold"))
                if self.api.get("body") is not None:
                    import json

                    call.append(safe(json.dumps(self.api["body"], separators=(",", ":")), 400, single_line=False))
                elif self.api.get("body_from"):
                    call.append(safe(f"body from: {self.api['body_from']}", 100, style="dim"))
            if self.command:
                call.append(Text.assemble(("$ ", "dim"), safe(self.command, 500, single_line=False)))
            yield Static(Group(*call), id="approve-call")
            if r.risk == "high":
                yield Input(select_on_focus=False, placeholder=clean(f"type {r.action} to confirm", 100), id="approve-confirm")
                yield Static("", id="approve-error", classes="field-error")
            yield Input(select_on_focus=False, placeholder="reason (optional; recorded in the audit trail)", id="approve-reason")
            yield Label(Text("enter: approve · tab: next field · esc: cancel", style="dim"))

    def on_mount(self) -> None:
        first = self.query("#approve-confirm")
        (first.first() if first else self.query_one("#approve-reason")).focus()

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        """enter in either field approves when the form is valid (the reason is optional);
        otherwise the line under the confirmation field says what is missing."""
        if self.record.risk == "high":
            typed = self.query_one("#approve-confirm", Input).value.strip()
            if typed != self.record.action:
                said = f"you typed {typed!r}: " if typed else ""
                self.query_one("#approve-error", Static).update(safe(f"{said}type {self.record.action} exactly to approve this high-risk action", None, single_line=False))
                self.query_one("#approve-confirm", Input).focus()
                return
        reason = self.query_one("#approve-reason", Input).value.strip() or APPROVE_REASON
        self.dismiss(reason)

    def action_cancel(self) -> None:
        self.dismiss(None)


class ReasonScreen(ModalScreen[tuple[str, str] | None]):
    """A required reason and, for a rejection, optionally the action that is right (it
    becomes a labelled example for the next training run)."""

    DEFAULT_CSS = """
    ReasonScreen { align: center middle; }
    ReasonScreen > Vertical { width: 80; max-width: 100%; height: auto; border: round $primary; background: $surface; padding: 0 1; }
    ReasonScreen #reason-error { color: $error; height: auto; }
    ReasonScreen #reason-action { height: auto; max-height: 8; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="reason.cancel")]

    def __init__(self, title: str, placeholder: str, actions: list[str] | None) -> None:
        super().__init__()
        self.heading = title
        self.placeholder = placeholder
        self.actions = actions

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(safe(self.heading, 160, style="bold", single_line=False))
            yield Input(select_on_focus=False, placeholder=clean(self.placeholder, 100), id="reason-text")
            yield Static("", id="reason-error")
            if self.actions is not None:
                yield Label(Text("the right action (optional; it trains the next model):", style="dim"))
                yield ChoiceList(Option(safe(NO_CORRECTION, None, style="dim"), id=""), *[Option(safe(a, 60), id=a) for a in self.actions],
                                 id="reason-action", compact=True)
            yield Label(Text("enter: confirm · tab: next field · esc: cancel", style="dim"))

    def on_mount(self) -> None:
        self.query_one("#reason-text", Input).focus()
        if self.actions is not None:
            self.query_one("#reason-action", ChoiceList).highlighted = 0

    @on(Input.Submitted)
    def _typed(self, event: Input.Submitted) -> None:
        self._submit()

    @on(ChoiceList.OptionSelected, "#reason-action")
    def _chosen(self, event: ChoiceList.OptionSelected) -> None:
        event.stop()
        self._submit()

    def _submit(self) -> None:
        """enter anywhere confirms when a reason is given; otherwise it says so under the
        reason field and puts the cursor there."""
        reason = self.query_one("#reason-text", Input).value.strip()
        if not reason:
            self.query_one("#reason-error", Static).update(Text("a reason is required: say why"))
            self.query_one("#reason-text", Input).focus()
            return
        corrected = ""
        if self.actions is not None:
            choices = self.query_one("#reason-action", ChoiceList)
            option = choices.highlighted_option
            corrected = option.id if option is not None and option.id else ""
        self.dismiss((reason, corrected))

    def action_cancel(self) -> None:
        self.dismiss(None)


class EditScreen(ModalScreen[dict[str, str] | None]):
    """One input per parameter; the catalog validates the whole set before it is kept."""

    DEFAULT_CSS = """
    EditScreen { align: center middle; }
    EditScreen > Vertical { width: 80; max-width: 100%; height: auto; border: round $primary; background: $surface; padding: 0 1; }
    EditScreen #edit-error { color: $error; height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="edit.cancel")]

    def __init__(self, record, names: list[str], current: dict[str, str], queue) -> None:
        super().__init__()
        self.record = record
        self.names = names
        self.current = current
        self.queue = queue

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text.assemble(("Edit parameters of ", "bold"), safe(dialog_target(self.record), 90, style="bold")))
            for name in self.names:
                yield Label(safe(name, 60, style="dim"))
                yield Input(select_on_focus=False, value=clean(self.current.get(name, ""), 300), id=f"edit-{name}")
            yield Static("", id="edit-error")
            yield Label(Text("enter: validate and keep · esc: cancel", style="dim"))

    def on_mount(self) -> None:
        """The cursor starts in the first empty field: the one the proposal is missing."""
        inputs = list(self.query(Input))
        empty = [i for i in inputs if not i.value.strip()]
        (empty or inputs)[0].focus()

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        values = {name: self.query_one(f"#edit-{name}", Input).value for name in self.names}
        try:
            params, _, _ = self.queue.validate_parameters(self.record.action, self.record.labels, values)
        except ValueError as exc:
            self.query_one("#edit-error", Static).update(safe(str(exc), 400, single_line=False))
            return
        self.dismiss(params)

    def action_cancel(self) -> None:
        self.dismiss(None)
