"""The Training pane: pipeline runs, the selected run's steps and live progress, and the keys
to start, cancel and promote. Training happens in worker processes; this pane only reads
their persisted state, so it stays responsive and survives a restart of the TUI."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static
from textual.widgets.option_list import Option

from sreconsole.domain.evidence import sparkline
from sreconsole.tui.list_keys import ChoiceList
from sreconsole.tui.record_table import RecordTable
from sreconsole.tui.render import clean, notify_plain, safe

COLUMNS = (("id", "RUN", 16), ("model", "MODEL", 5), ("status", "STATUS", 9), ("version", "VERSION", 17, 24),
           ("acc", "ACC", 4), ("bal", "BAL", 4), ("base", "BASE", 4), ("ece", "ECE", 4),
           ("trigger", "TRIGGER", 0, 12), ("started", "STARTED", 0, 16), ("took", "TOOK", 0, 6), ("step", "STEP", 0, 28))
"""Accuracy never alone: balanced accuracy (mean recall per action) and the majority
baseline beside it, and the calibration error, two decimals each. A wide terminal also
shows what started each run, when, how long it took and its current step."""
MODELS = (("TRM: the triage model", "trm"), ("LoRA on demo-tiny (a tiny local llama; demo only)", "lora"))
STEP_MARK = {"done": "✓", "running": "▶", "failed": "✗", "skipped": "–", "not applicable": "–", "pending": "·"}


class TrainingPane(Vertical, can_focus=False):
    BINDINGS = [
        Binding("t", "start", "Train", id="training.start", tooltip="Start a retraining run of the TRM"),
        Binding("c", "cancel", "Cancel", id="training.cancel", tooltip="Stop the selected run cleanly"),
        Binding("p", "promote", "Promote", id="training.promote", tooltip="Make the selected run's model the active one"),
        Binding("o", "mlflow", "MLflow", id="training.mlflow", tooltip="The run's MLflow details"),
        Binding("l", "log", "Log", id="training.log", tooltip="The run's full log"),
        Binding("u", "tune", "Tune", id="training.tune", tooltip="Pick the thresholds for a target accuracy of un-flagged proposals, and save them"),
        Binding("s", "shadow", "Shadow", id="training.shadow", tooltip="Score the run's model beside the active one on recent alerts and every operator decision"),
    ]

    def __init__(self, board, **kwargs) -> None:
        super().__init__(**kwargs)
        self.board = board
        self.runs: dict[str, object] = {}
        self.error = ""

    def compose(self) -> ComposeResult:
        yield Static("Training  loading…", classes="pane-title", id="training-title")
        yield RecordTable(COLUMNS, self._cells, id="training-table")
        with VerticalScroll(id="training-side"):
            yield Static("", id="training-detail")

    def on_mount(self) -> None:
        self.poll()
        self.set_interval(1.0, self.poll)
        self.set_interval(60.0, self.check_schedule)

    @work(thread=True, exclusive=True, group="training-schedule", exit_on_error=False, description="retraining schedule")
    def check_schedule(self) -> None:
        """Start a run when a schedule says so (retrain every N days, after K decisions).
        Several consoles may check at once: the run store lets only one run start."""
        from datetime import datetime, timezone

        from sreconsole.pipeline.runner import PipelineBusy, start_run
        from sreconsole.pipeline.schedule import due

        if self.app.settings.read_only:
            return
        try:
            when = due(self.app.settings, self.board.store, datetime.now(timezone.utc))
            if when is None:
                return
            run = start_run(self.app.settings, "trm", trigger=when.trigger)
        except PipelineBusy:
            return
        except Exception as exc:  # noqa: BLE001 - a failed schedule check must not break the pane
            notify_plain(self.app, f"retraining schedule: {exc}", severity="warning", timeout=8)
            return
        notify_plain(self.app, f"retraining started ({when.trigger}): {clean(when.reason, 160)} — {run.id}", timeout=8)

    @work(thread=True, exclusive=True, group="training-poll", exit_on_error=False, description="read pipeline runs")
    def poll(self) -> None:
        try:
            runs = self.board.runs()
            key = self.selected_key() or (runs[0].id if runs else None)
            stream = self.board.follow(key) if key else None
            tail = self.board.log_tail(key, 6) if key else []
            active = self.board.active_version()
            error = ""
        except Exception as exc:  # noqa: BLE001 - the pane says what is wrong and keeps polling
            runs, stream, tail, active, error = None, None, [], "", str(exc)
        self.app.call_from_thread(self._show, runs, stream, tail, active, error)

    def _show(self, runs, stream, tail, active: str, error: str) -> None:
        self.error = error
        title = self.query_one("#training-title", Static)
        if runs is not None:
            self.runs = {r.id: r for r in runs}
            self.query_one(RecordTable).show(self.runs)
        running = sum(1 for r in self.runs.values() if r.status == "running")
        title.update(Text.assemble(
            ("Training  ", "bold"), f"{len(self.runs)} runs", (f"  {running:d} running" if running else "", "bold"),
            safe(f"  active model {active}" if active else "  no active model", 80, style="dim"), ("  " + clean(error, 200) if error else "", "bold red"),
        ))
        r = self.selected()
        detail = self.query_one("#training-detail", Static)
        if r is None:
            detail.update(Text("no runs yet: press t to train the TRM (or `sreconsole pipeline run`).", style="dim"))
            return
        detail.update(run_renderable(r, stream, tail, active, self.app.current_theme))

    def _cells(self, r) -> list[Text]:
        theme = self.app.current_theme
        style = {"succeeded": theme.success or "green", "failed": theme.error or "red", "running": f"bold {theme.accent}", "cancelled": "dim"}.get(r.status, "")
        def fig(key: str) -> Text:
            v = r.metrics.get(key)
            return Text(f"{v:.2f}" if isinstance(v, (int, float)) and not isinstance(v, bool) else "—", style="dim" if key == "majority_baseline" else "")

        started = r.started_at or r.created_at
        step = next((st for st in r.steps if st.status == "running"), None) or next((st for st in reversed(r.steps) if st.status not in ("pending",)), None)
        return [
            safe(r.id, 40, style="dim"), safe(r.model, 12), safe(r.status, 12, style=style), safe(r.version or "—", 40),
            fig("accuracy"), fig("balanced_accuracy"), fig("majority_baseline"), fig("ece"),
            safe(r.trigger, 20, style="dim"),
            Text(f"{started:%Y-%m-%d %H:%M}" if started is not None else "—", style="dim"),
            Text(f"{r.duration_s:.0f}s" if r.duration_s else "—", style="dim"),
            safe(f"{step.name}: {step.status}" if step is not None else "—", 60, style="dim"),
        ]

    def selected_key(self) -> str | None:
        return self.query_one(RecordTable).selected_key()

    def selected(self):
        key = self.selected_key()
        return self.runs.get(key) if key else None

    @on(RecordTable.RowHighlighted, "#training-table")
    def _highlighted(self) -> None:
        self.poll()

    # -- keys ------------------------------------------------------------------------------

    def action_start(self) -> None:
        if self.app.settings.read_only:
            notify_plain(self, "read-only: starting a training run is disabled", severity="warning")
            return

        def done(choice: tuple[str, int] | None) -> None:
            if choice is not None:
                model, amount = choice
                self._call(lambda: self.board.start(amount or None, model=model), "started")

        self.app.push_screen(StartRunScreen(), done)

    def action_cancel(self) -> None:
        r = self.selected()
        if r is None or r.status not in ("running", "queued"):
            notify_plain(self, "select a running run to cancel", severity="warning")
            return
        self._call(lambda: self.board.cancel(r.id), "cancelled")

    def action_promote(self) -> None:
        r = self.selected()
        if r is None or r.status != "succeeded":
            notify_plain(self, "select a succeeded run to promote", severity="warning")
            return
        if self.app.settings.read_only:
            notify_plain(self, "read-only: promoting a model is disabled", severity="warning")
            return
        self._call(lambda: self.board.promote(r.id), "promoted")

    def action_mlflow(self) -> None:
        r = self.selected()
        if r is None:
            return
        step = next((s for s in r.steps if s.name == "register in MLflow"), None)
        info = dict(step.outputs) if step is not None else {}
        lines = [f"run {r.id}", f"MLflow run id: {r.mlflow_run_id or '—'}"] + [f"{k}: {v}" for k, v in info.items()]
        lines += [f"{k}: {rounded(v)}" for k, v in r.metrics.items() if not isinstance(v, dict)]
        self.app.push_screen(TextScreen(f"MLflow: {r.id}", lines))

    def action_tune(self) -> None:
        r = self.selected()
        if r is None or r.status != "succeeded" or r.model != "trm":
            notify_plain(self.app, "select a succeeded TRM run to tune the thresholds on", severity="warning")
            return
        if self.app.settings.read_only:
            notify_plain(self.app, "read-only: changing the thresholds is disabled", severity="warning")
            return

        def done(result: dict | None) -> None:
            if result is not None:
                self._save_thresholds(r.id, result)

        self.app.push_screen(ThresholdScreen(self.board, r.id), done)

    @work(thread=True, group="training-call", exit_on_error=False, description="save thresholds")
    def _save_thresholds(self, run_id: str, tuned: dict) -> None:
        try:
            out = self.board.save_thresholds(run_id, tuned["low"], tuned["high"], tuned["target"], tuned, self.app.operator)
        except Exception as exc:  # noqa: BLE001 - a config file that cannot be written: say it
            notify_plain(self.app, f"thresholds not saved: {exc}", severity="error", timeout=10)
            return
        svc = getattr(self.app, "triage_service", None)
        if svc is not None:
            svc.reload()  # the engine reads the thresholds when it is built
        notify_plain(self.app, f"thresholds low {tuned['low']:.2f}, high {tuned['high']:.2f} saved to {out['file']} (audit: settings-audit.jsonl)", timeout=8)

    def action_shadow(self) -> None:
        r = self.selected()
        if r is None or r.status != "succeeded" or r.model != "trm":
            notify_plain(self.app, "select a succeeded TRM run to shadow-score", severity="warning")
            return
        notify_plain(self.app, f"shadow scoring {r.id} beside the active model…", timeout=4)
        self._shadow(r.id)

    @work(thread=True, group="training-call", exit_on_error=False, description="shadow scoring")
    def _shadow(self, run_id: str) -> None:
        try:
            report = self.board.shadow(run_id)
        except Exception as exc:  # noqa: BLE001 - say it, change nothing
            notify_plain(self.app, f"shadow scoring failed: {exc}", severity="error", timeout=10)
            return
        self.app.call_from_thread(self.app.push_screen, TextScreen(f"shadow scoring: {run_id}", shadow_lines(report)))
        self.app.call_from_thread(self.poll)

    def action_log(self) -> None:
        r = self.selected()
        if r is not None:
            self.app.push_screen(TextScreen(f"log: {r.id}", self.board.log_tail(r.id, 2000)))

    @work(thread=True, group="training-call", exit_on_error=False, description="pipeline action")
    def _call(self, call, verb: str) -> None:
        try:
            run = call()
        except Exception as exc:  # noqa: BLE001 - PipelineBusy, ValueError, PromoteRefused: say it, change nothing
            notify_plain(self.app, exc, severity="error", timeout=10)
        else:
            if verb == "promoted":
                svc = getattr(self.app, "triage_service", None)
                if svc is not None:
                    svc.reload()  # triage switches to the promoted model without a restart
            notify_plain(self.app, f"{verb} {run.id}" + (f" ({run.version})" if run.version else ""), timeout=6)
        self.app.call_from_thread(self.poll)


def run_renderable(r, stream, tail: list[str], active: str, theme) -> Group:
    lines: list = [Text.assemble(safe(r.id, 40, style="bold"), safe(f"  {r.model}{' (demo)' if r.demo else ''}  {r.trigger}  ", 80, style="dim"), safe(r.status, 20, style="bold"),
                                 (f"  {r.duration_s:.0f}s" if r.duration_s else "", "dim"), ("  ACTIVE" if r.version and r.version == active else "", "bold reverse"))]
    for step in r.steps:
        mark = STEP_MARK.get(step.status, "?")
        bar = ""
        if step.status == "running" and step.progress is not None:
            filled = int(round(max(0.0, min(1.0, step.progress)) * 20))
            bar = " " + "█" * filled + "░" * (20 - filled) + f" {step.progress:.0%}"
        lines.append(Text.assemble(safe(f" {mark} ", 4, style="bold"), safe(step.name, 40, style="" if step.status != "pending" else "dim"), safe(bar, 40, style=theme.accent or ""),
                                   ("  " + clean(step.message, 120) if step.message else "", "dim")))
    if stream is not None and stream.losses:
        last = stream.last
        eta = ""
        done, total = (last.get("epoch"), last.get("epochs")) if last.get("epochs") else (last.get("iteration"), last.get("iters"))
        train = next((st for st in r.steps if st.name == "train" and st.status == "running"), None)
        if total and done and train is not None and train.started_at is not None:
            from datetime import datetime

            elapsed = (datetime.now(train.started_at.tzinfo) - train.started_at).total_seconds()
            eta = f"  ETA {max(0.0, (total - done) * elapsed / done):.0f}s"
        if last.get("tokens_per_s"):
            eta += f"  {last['tokens_per_s']:.0f} tok/s"
        lines.append(Text.assemble(("loss ", "dim"), safe(sparkline(stream.losses[-40:], min(40, len(stream.losses)))[0], 40, style=theme.accent or ""), (f" {stream.losses[-1]:.3f}", ""), safe(eta, 40)))
    lines += outcome_label_lines(r)
    lines.extend(metrics_lines(r.metrics))
    curves = next((st.outputs.get("curves") for st in r.steps if st.name == "evaluate" and st.outputs.get("curves")), None)
    if curves:
        lines.extend(curve_lines(curves, theme))
    shadow = r.params.get("shadow") if isinstance(r.params, dict) else None
    if shadow:
        lines.extend(shadow_summary(shadow))
    if r.error:
        lines.append(safe("error: " + r.error, 400, style="red", single_line=False))
    for line in tail[-6:]:
        lines.append(safe(line, 600, style="dim", single_line=False))  # wrapped: the reason a file was skipped is at the end
    return Group(*lines)


def outcome_label_lines(r) -> list[Text]:
    """How many outcome labels (an executed action that fixed its alert) the run trained on."""
    step = next((s for s in r.steps if s.name == "prepare dataset" and "outcome_labels" in (s.outputs or {})), None)
    if step is None:
        return []
    n = step.outputs["outcome_labels"]
    return [safe(f"outcome labels: {n} (weighted above rule labels)", 80, style="bold" if n else "dim")]


def rounded(v):
    return f"{v:.3f}" if isinstance(v, float) else v


METRIC_NAMES = (("accuracy", "accuracy"), ("balanced_accuracy", "balanced"), ("majority_baseline", "majority baseline"),
                ("macro_f1", "macro-F1"), ("ece", "ECE"), ("share_below_low", "below low"))


def metrics_lines(metrics: dict) -> list:
    """The run's test figures, rounded, accuracy with its floors beside it, then each
    classifier's (the model that proposes is ``model``)."""
    if not metrics:
        return []
    head = [f"{label} {metrics[key]:.3f}" for key, label in METRIC_NAMES if isinstance(metrics.get(key), (int, float))]
    out = [Text.assemble(("test split", "bold"), safe(f" ({metrics.get('test_n', '?')} alerts of families never trained on"
                                                      + (f", {metrics['model']} proposes" if metrics.get("model") else "") + "): ", None, style="dim"),
                         safe("  ".join(head), None))]
    per = []
    for kind in ("logreg", "trm"):
        if isinstance(metrics.get(f"{kind}_accuracy"), (int, float)):
            per.append(clean(f"{kind} acc {metrics[f'{kind}_accuracy']:.3f} bal {metrics[f'{kind}_balanced_accuracy']:.3f} ECE {metrics[f'{kind}_ece']:.3f}", None))
    if per:
        out.append(safe("  " + "   ".join(per), None, style="dim"))
    return out


BAR = 20


def bar_renderable(value: float, style: str) -> Text:
    filled = int(round(max(0.0, min(1.0, value)) * BAR))
    return Text.assemble(safe("█" * filled, None, style=style), safe("░" * (BAR - filled), None, style="dim"))


def curve_lines(curves: dict, theme) -> list:
    """The selected run's reliability curve (accuracy against mean confidence per bin; a
    calibrated model's bars end at the bin's own confidence) and its accuracy–coverage
    curve (for each threshold, the share of proposals at or above it and their accuracy),
    drawn with block bars: no images, any terminal."""
    out: list = [Text("reliability (test split): accuracy per confidence bin", style="bold")]
    for b in curves.get("reliability", []):
        gap = b["accuracy"] - b["confidence"]
        out.append(Text.assemble((f" {b['from']:.1f}–{b['to']:.1f} ", "dim"), bar_renderable(b["accuracy"], theme.accent or ""),
                                 (f" acc {b['accuracy']:.2f} conf {b['confidence']:.2f} ", ""), (f"{gap:+.2f}", "bold" if abs(gap) > 0.1 else "dim"),
                                 (f"  n={int(b['n']):d}", "dim")))
    out.append(Text("accuracy–coverage: proposals at or above each threshold", style="bold"))
    for c in curves.get("coverage", []):
        if round(c["threshold"] * 10, 6) % 1:
            continue  # every 0.1: the curve, not every point of it
        acc = c.get("accuracy")
        out.append(Text.assemble((f" ≥{c['threshold']:.1f} ", "dim"), bar_renderable(c["coverage"], theme.primary or ""),
                                 (f" cover {c['coverage']:5.1%}  acc ", ""), ("—" if acc is None else f"{acc:.3f}", "")))
    return out


def shadow_summary(shadow: dict) -> list:
    def fig(v):
        return "—" if v is None else f"{v:.3f}"

    c, a = shadow.get("candidate_on_decisions", {}), shadow.get("active_on_decisions", {})
    verdict = "WORSE than the active model on decisions" if shadow.get("worse_on_decisions") else "not worse on decisions"
    return [Text("shadow scoring", style="bold"),
            safe(f" vs {shadow.get('active') or '(no active model)'}: agreement {fig(shadow.get('agreement'))} on {shadow.get('rows', 0)} alerts; "
                 f"on {c.get('n', 0)} decisions accuracy {fig(c.get('accuracy'))} vs {fig(a.get('accuracy'))}, ECE {fig(c.get('ece'))} vs {fig(a.get('ece'))}: {verdict}",
                 None, style="dim", single_line=False)]


def shadow_lines(report) -> list[str]:
    d = report.as_dict()

    def fig(v):
        return "—" if v is None else f"{v:.3f}"

    c, a = d["candidate_on_decisions"], d["active_on_decisions"]
    lines = [f"candidate {d['candidate']} ({d['kind']}) vs active {d['active'] or '(none)'}",
             f"{d['rows']} alerts: {d['decisions']} operator decisions, the rest from the queue and incident history of the last {d['days']:g} days",
             f"agreement: {fig(d['agreement'])}",
             f"accuracy on operators' decisions: candidate {fig(c.get('accuracy'))}, active {fig(a.get('accuracy'))} ({c.get('n', 0)} with a known right action)",
             f"ECE on them: candidate {fig(c.get('ece'))}, active {fig(a.get('ece'))}",
             "promote: " + ("refused unless forced (`sreconsole pipeline promote ID --force`)" if d["worse_on_decisions"] else "allowed"), ""]
    if d["differences"]:
        lines.append("where they differ (alert, from, operators, candidate, active):")
        for x in d["differences"]:
            lines.append(clean(f"  {x['alertname']}  {x['origin']}  {x['truth'] or '—'}  {x['candidate']} {x['candidate_confidence']:.2f}  {x['active']} {x['active_confidence']:.2f}", None))
    lines += d["notes"]
    return lines


class ThresholdScreen(ModalScreen[dict | None]):
    """Pick the thresholds for a target accuracy of the proposals not sent to a human: the
    run's test split says which low threshold reaches it and what share then goes to a
    human; ``enter`` saves them to the settings file (with a line in the settings audit)."""

    DEFAULT_CSS = """
    ThresholdScreen { align: center middle; }
    ThresholdScreen > Vertical { width: 78; max-width: 100%; height: auto; border: round $primary; background: $surface; padding: 0 1; }
    ThresholdScreen #tune-result { height: auto; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="tune.cancel")]

    def __init__(self, board, run_id: str, target: float = 0.97) -> None:
        super().__init__()
        self.board, self.run_id, self.target = board, run_id, target
        self.result: dict = {}

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(safe(f"Tune the thresholds on run {self.run_id}", 120, style="bold"))
            yield Input(value=clean(f"{self.target:.2f}", 8), placeholder="target accuracy of un-flagged proposals, e.g. 0.97", id="tune-target")
            yield Static("", id="tune-result")
            yield Label(Text("enter: save to the settings file · esc: cancel", style="dim"))

    def on_mount(self) -> None:
        self._compute(f"{self.target:.2f}")
        self.query_one(Input).focus()

    @on(Input.Changed, "#tune-target")
    def _changed(self, event: Input.Changed) -> None:
        self._compute(event.value)

    def _compute(self, value: str) -> None:
        out = self.query_one("#tune-result", Static)
        try:
            target = float(value)
        except ValueError:
            self.result = {}
            out.update(Text("a number between 0.5 and 1.0", style="bold"))
            return
        if not 0.5 <= target <= 1.0:
            self.result = {}
            out.update(Text("a number between 0.5 and 1.0", style="bold"))
            return
        r = self.board.tuning(self.run_id, target)
        self.result = r if r.get("found") else {}
        cur = r.get("current", {})
        if not r.get("found"):
            out.update(safe(r.get("why", "no threshold found"), 300))
            return
        out.update(Text.assemble(
            (f"low threshold {r['low']:.3f}", "bold"), f" (now {cur.get('low', 0):.2f}): proposals at or above it are right {r['accuracy']:.1%} of the time\n",
            f"{r['coverage']:.1%} stand without a human, ", (f"{r['to_human']:.1%} go to a human", "bold"), f" ({int(r['n']):d} of {int(r['rows']):d} test alerts above)\n",
            f"high threshold {r['high']:.3f} (now {cur.get('high', 0):.2f}: at least the low one)",
        ))

    @on(Input.Submitted, "#tune-target")
    def _submit(self) -> None:
        if self.result:
            self.dismiss(self.result)
        else:
            self.query_one("#tune-result", Static).update(Text("nothing to save: give a target that a threshold reaches", style="bold"))

    def action_cancel(self) -> None:
        self.dismiss(None)


class StartRunScreen(ModalScreen[tuple[str, int] | None]):
    """Which model and how long: the TRM (epochs) or LoRA on the demo-tiny llama (iterations;
    a real base model is named on the command line, `pipeline run --model lora --base PATH`)."""

    DEFAULT_CSS = """
    StartRunScreen { align: center middle; }
    StartRunScreen > Vertical { width: 74; max-width: 100%; height: auto; border: round $primary; background: $surface; padding: 0 1; }
    StartRunScreen #start-error { color: $error; height: auto; }
    StartRunScreen #start-model { height: auto; max-height: 4; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="start.cancel")]

    def compose(self) -> ComposeResult:
        with Vertical():
            # The title fits 80 columns; what the run learns from is the line under it.
            yield Label(Text("Start a training run", style="bold"))
            yield Label(Text("learns from runbooks, rule corpora, demo data and operators' decisions", style="dim"))
            yield ChoiceList(*[Option(safe(label, None), id=model) for label, model in MODELS], id="start-model", compact=True)
            yield Input(select_on_focus=False, placeholder="epochs (TRM) or iterations (LoRA); empty: the default", id="start-epochs")
            yield Static("", id="start-error")
            yield Label(Text("enter: start in a worker process · tab: next field · esc: cancel", style="dim"))

    def on_mount(self) -> None:
        self.query_one(ChoiceList).highlighted = 0
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _typed(self, event: Input.Submitted) -> None:
        self._submit()

    @on(ChoiceList.OptionSelected, "#start-model")
    def _chosen(self, event: ChoiceList.OptionSelected) -> None:
        event.stop()
        self._submit()

    def _submit(self) -> None:
        """enter in either field starts the run when the number is valid (or empty: the
        default); otherwise the line under the number says what is wrong."""
        option = self.query_one("#start-model", ChoiceList).highlighted_option
        model = option.id if option is not None and option.id else "trm"
        field = self.query_one("#start-epochs", Input)
        value = field.value.strip()
        if not value:
            self.dismiss((model, 0))
            return
        limit = 1000 if model == "trm" else 100000
        if not value.isdigit() or not 1 <= int(value) <= limit:
            self.query_one("#start-error", Static).update(Text(f"{'epochs' if model == 'trm' else 'iterations'}: a whole number from 1 to {limit:d}"))
            field.focus()
            return
        self.dismiss((model, int(value)))

    def action_cancel(self) -> None:
        self.dismiss(None)


class TextScreen(ModalScreen[None]):
    """Plain lines (a log, MLflow details), scrollable, shown inert."""

    DEFAULT_CSS = """
    TextScreen { align: center middle; }
    TextScreen > VerticalScroll { width: 100%; height: 100%; border: round $primary; background: $surface; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,q", "dismiss", "Close", id="text.close")]

    def __init__(self, title: str, lines: list[str]) -> None:
        super().__init__()
        self.title_text = title
        self.lines = lines

    def compose(self) -> ComposeResult:
        body = [safe(line, 2000, single_line=False) for line in self.lines] or [Text("(empty)", style="dim")]
        with VerticalScroll():
            yield Static(Group(safe(self.title_text, 100, style="bold"), *body))
