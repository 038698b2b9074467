"""The Bruno pane's service, shared with ``sreconsole ask``: builds Bruno with the
configured generator, keeps the conversation and Bruno's own numbers on disk (answers,
latencies, the operator's ratings: :mod:`sreconsole.chat.metrics`), and turns an answer
that recommends a catalog action into a *pending* review-queue proposal (method ``chat``).

Queuing is the furthest a chat answer goes: the proposal waits in the Review pane like any
other, where an operator approves it (seeing the exact API call) or not. Nothing here
approves, executes or runs a shell; parameters are validated by the catalog before
anything is stored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from sreconsole.chat.generators import describe, local_mlx_model, make_generator
from sreconsole.chat.history import ChatHistory
from sreconsole.chat.metrics import BrunoMetrics
from sreconsole.domain.alerts import Alert, fingerprint
from sreconsole.domain.proposal import Proposal

if TYPE_CHECKING:  # Bruno (and numpy behind it) load with the first question, not at start-up
    from sreconsole.chat.bruno import Bruno
    from sreconsole.chat.recommend import ProposalDraft

CHAT_METHOD = "chat"
CHAT_SOURCE_LABEL = ("source", "bruno")
"""Added to the labels a chat proposal is filed under: its fingerprint is then its own."""


def resolve_mlx_model(settings) -> tuple[Path, Path | None, str] | None:
    """``chat.mlx_model`` as (model dir, adapter dir, label). ``run:<RUN_ID>`` names a LoRA
    pipeline run: its fused model when the export step ran, else its base and adapters."""
    value = settings.chat.mlx_model
    if not value:
        return None
    if not value.startswith("run:"):
        return local_mlx_model(value, settings.data_path)
    from sreconsole.pipeline.runs import RunStore

    run_id = value[4:]
    store = RunStore(settings.data_path)
    try:
        run = store.get(run_id)
    finally:
        store.close()
    if run is None:
        raise ValueError(f"chat.mlx_model: no pipeline run {run_id!r}")
    if run.model != "lora":
        raise ValueError(f"chat.mlx_model: run {run_id} trained {run.model}, not a LoRA model")
    fused = run.step("export for Ollama").outputs.get("fused")
    if fused and (Path(fused) / "config.json").is_file():
        return Path(fused), None, f"run {run_id}"
    base, adapters = run.step("load base model").outputs.get("base"), run.step("train").outputs.get("adapters")
    if not base or not adapters:
        raise ValueError(f"chat.mlx_model: run {run_id} has no trained adapters yet (status {run.status})")
    return Path(base), Path(adapters), f"run {run_id}"


def make_bruno(settings, knowledge, review_queue=None, alerts=None, clock: Callable[[], datetime] | None = None) -> "Bruno":
    """Bruno with the generator ``chat.generator`` names. A setting that cannot work (no
    Ollama URL, no such run) gives the extractive generator, and every knowledge answer
    says why in its note."""
    from sreconsole.chat.bruno import Bruno
    from sreconsole.chat.extractive import ExtractiveGenerator
    from sreconsole.triage.models import load_catalog_for

    try:
        catalog = load_catalog_for(settings)
        ids: tuple[str, ...] = catalog.ids
    except Exception:  # noqa: BLE001 - CatalogError, OSError: Bruno reports it when asked what it can do
        catalog, ids = None, ()
    problem = ""
    try:
        generator = make_generator(settings, ids, resolve_mlx_model(settings))
    except (ValueError, OSError) as exc:
        generator, problem = ExtractiveGenerator(), str(exc)
    local = (lambda: clock().astimezone()) if clock is not None else None  # time phrases in the operator's zone
    return Bruno(settings, knowledge, review_queue, alerts, catalog=catalog, generator=generator, generator_problem=problem, clock=local)


def history_path(settings) -> Path | None:
    return settings.data_path / "chat" / "history.jsonl" if settings.chat.history else None


def metrics_for(settings, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> BrunoMetrics:
    """Bruno's numbers and ratings, under ``<data dir>/chat/``."""
    return BrunoMetrics(settings.data_path / "chat", clock)


class ChatService:
    """One per console."""

    def __init__(
        self,
        settings,
        knowledge,
        review_queue=None,
        alerts: Callable[[], Sequence | None] | None = None,
        selected_alert: Callable[[], Alert | None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self.settings = settings
        self.knowledge = knowledge
        self.review_queue = review_queue
        self.alerts = alerts
        self.selected_alert = selected_alert
        self.clock = clock
        self.history = ChatHistory(history_path(settings))
        self.metrics = metrics_for(settings, clock)
        self._bruno: Bruno | None = None
        self._roots: tuple[str, ...] | None = None
        self._lock = threading.Lock()

    @property
    def bruno(self) -> "Bruno":
        """Built on first use (from the worker thread of the first question)."""
        with self._lock:
            if self._bruno is None:
                self._bruno = make_bruno(self.settings, self.knowledge, self.review_queue, self.alerts, self.clock)
            return self._bruno

    def warm(self) -> None:
        """Build Bruno and embed the routing examples (loading the embedding model), so the
        first question does not wait for them. Run in a worker thread; failures are left
        for the first question to report."""
        if not self.settings.knowledge.enabled:
            return
        try:
            self.bruno.router.warm()
        except Exception:  # noqa: BLE001 - no store yet, no model: the first question says so
            pass

    @property
    def roots(self) -> tuple[str, ...]:
        """The indexed directories, longest first: the pane shows citation paths relative
        to the one that holds them (the side panel and ``ask --json`` keep them absolute)."""
        from sreconsole.services.knowledge import index_roots

        if self._roots is None:
            self._roots = index_roots(self.settings)
        return self._roots

    def _description(self) -> tuple[str, str]:
        """(who answers, why not the configured generator): Bruno's own once it is built,
        else read off the settings without building anything."""
        if self._bruno is not None:
            return self._bruno.generator.name, self._bruno.generator_problem
        try:
            return describe(self.settings), ""
        except ValueError as exc:
            return "extractive", str(exc)

    @property
    def generator_name(self) -> str:
        return self._description()[0]

    @property
    def generator_problem(self) -> str:
        return self._description()[1]

    # -- Bruno's own numbers --------------------------------------------------------------

    def record(self, answer) -> str:
        """Keep a final answer: in the conversation and in the numbers. Returns the
        answer's id, which a rating names."""
        self.history.record(answer)
        return self.metrics.record(answer, source="console")

    def rate(self, answer_id: str, answer, up: bool) -> None:
        """The operator's thumbs up or down; a later rating of the same answer replaces it."""
        operator = getattr(getattr(self.review_queue, "operator", None), "user", "") or ""
        self.metrics.rate(answer_id, answer, up, operator)

    def stats(self):
        return self.metrics.stats()

    # -- turning an answer into a proposal ----------------------------------------------------

    def draft(self, answer, action_id: str | None = None) -> "ProposalDraft | None":
        """The proposal ``answer`` leads to (``None``: it recommends no catalog action)."""
        alerts = None
        if self.alerts is not None:
            try:
                alerts = self.alerts()
            except Exception:  # noqa: BLE001 - no live alerts: parameters are asked for instead
                alerts = None
        selected = None
        if self.selected_alert is not None:
            try:
                selected = self.selected_alert()
            except Exception:  # noqa: BLE001 - no selection is a fine context too
                selected = None
        from sreconsole.chat.recommend import draft

        return draft(answer, self.bruno.catalog, alerts, selected, action_id)

    def validate(self, d: "ProposalDraft", action_id: str, parameters: Mapping[str, str]):
        """(params, command, api) for the dialog's values; ValueError names each bad one."""
        if self.review_queue is None:
            raise ValueError("no review queue in this console")
        labels = dict(d.alert.labels) if d.alert is not None else {}
        return self.review_queue.validate_parameters(action_id, labels, dict(parameters))

    def enqueue(self, d: "ProposalDraft", action_id: str, parameters: Mapping[str, str]):
        """Queue a pending proposal for review; returns ``(record, queued)``, ``queued``
        False when the same action already waits for review for that alert (the record is
        that one, untouched). Raises ValueError for bad parameters, ReadOnly in read-only
        mode.

        A chat proposal is filed under the alert's labels plus ``source=bruno``, so its
        fingerprint is its own: the triage engine re-proposes for the alert on every poll
        and would otherwise supersede the operator's choice (or be overwritten by it)."""
        params, command, api = self.validate(d, action_id, parameters)
        action = self.bruno.catalog.get(action_id)
        alert = self._chat_alert(d, action, params)
        for_same = {alert.fingerprint} | ({d.alert.fingerprint} if d.alert is not None else set())
        for record in self.review_queue.list():
            if (record.fingerprint in for_same and record.action == action_id and record.parameters == params
                    and record.cluster == alert.cluster):
                return record, False
        proposal = Proposal(
            fingerprint=alert.fingerprint,
            alertname=alert.alertname,
            action=action.id,
            title=action.title,
            parameters=params,
            command=command,
            api=api,
            confidence=None,
            method=CHAT_METHOD,
            requires_human_review=True,
            review_reasons=("proposed from a chat answer: no model scored it",),
            risk=action.risk,
            reversible=action.reversible,
            evidence=d.evidence,
            notes=(f"asked: {d.question[:300]}",) + ((f"context: {d.context}",) if d.context else ()),
            cluster=alert.cluster,
        )
        (record,) = self.review_queue.enqueue([proposal], [alert])
        return record, True

    def _chat_alert(self, d: "ProposalDraft", action, params: Mapping[str, str]) -> Alert:
        """The alert a chat proposal is filed under: the firing alert's labels (or, with
        none, the cited runbook's alert name and the parameters under their label names),
        plus ``source=bruno``; in the firing alert's cluster (none without an alert: then it
        can only be executed where a single cluster is configured)."""
        if d.alert is not None:
            labels = dict(d.alert.labels)
            annotations = dict(d.alert.annotations)
            started = d.alert.starts_at
        else:
            labels = {"alertname": d.alertname or "BrunoChat"}
            for p in action.parameters:
                if p.name in params:
                    labels[p.label or p.name] = params[p.name]
            annotations = {"summary": f"proposed from Bruno: {d.question[:200]}"}
            started = self.clock()
        labels[CHAT_SOURCE_LABEL[0]] = CHAT_SOURCE_LABEL[1]
        cluster = d.alert.cluster if d.alert is not None else ""
        return Alert(fingerprint(labels), labels, annotations, starts_at=started, cluster=cluster)
