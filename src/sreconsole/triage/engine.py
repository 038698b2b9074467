"""The tiered decision flow: named action → model → model re-scored with retrieved evidence → human.

1. **Named**: a ``lambda_function`` annotation on the rule (method ``annotation``), or the
   ``Action:`` that a *trusted* runbook section names for this alert (method ``runbook``),
   is proposed as written — as evidence, not certainty: it carries no confidence (nothing
   calibrated it), its provenance (``path:line``) and the model's own opinion beside it,
   and when the model proposes something else the proposal requires a human. Only
   documents under a trusted root (``knowledge.trusted_paths``, plus the shipped demo
   runbook) can name or vote for an action; any other document is shown as evidence with
   no weight, so nothing an untrusted document says changes a proposal.
2. **Model**: the classifier (``triage.model``: the logistic regression or the TRM)
   proposes an action with a calibrated confidence that falls for alerts unlike anything
   it was trained on. At or above the high threshold it stands (method ``trm``: the
   model's answer alone, whichever classifier it is).
3. **TRM + RAG**: below it, evidence is retrieved — the runbook section for the alert and
   similar past incidents (last 7 days first) — and turned into a vote over actions. The
   vote enters as a second expert: ``score(a) = log p_trm(a) + beta * log(vote(a) + eps)``,
   and the confidence is re-estimated by a logistic model over (TRM confidence, the vote's
   support for the chosen action, agreement with the TRM). ``beta`` and the logistic weights
   are fitted on the validation split when the model is trained and stored in its metadata,
   so the re-scored confidence is calibrated like the first (method ``trm+rag``).
4. Below the low threshold, or whenever a parameter is missing or invalid, or the action is
   high risk, the proposal requires human review — and says why.

Without a trained model the flow still answers: annotation, else the evidence vote alone
(method ``retrieval``), else ``escalate`` — and the proposal says no model is loaded.

Parameters are never guessed: :func:`sreconsole.triage.catalog.bind` reads them from the
alert's labels and validates each; anything missing or invalid is named in the proposal.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sreconsole.domain.alerts import Alert
from sreconsole.domain.proposal import EvidenceItem, Proposal
from sreconsole.triage.catalog import Catalog, bind, render
from sreconsole.triage.dataset import alert_text, rule_label
from sreconsole.triage.trm import CheckpointError, Prediction, TRMRunner, features

EPS = 0.05
RUNBOOK_WEIGHT = 1.0
INCIDENT_WEIGHT = 0.6
CACHE = 4096
LATENCY_SAMPLES = 2000
"""Recent per-proposal triage latencies kept for the console's metrics."""
SECTIONS_TTL_S = 60.0
RETRIEVAL_CAP = 0.49


class EvidenceStore(Protocol):
    """What retrieval needs; :class:`sreconsole.knowledge.search.KnowledgeBase` is one."""

    def runbook_sections(self, alertname: str) -> list: ...

    def similar_incidents(self, alertname: str, labels: Mapping[str, str], summary: str = "", k: int = 3, now: datetime | None = None) -> list: ...


@dataclass(frozen=True)
class Rescorer:
    """How evidence re-scores the TRM (fitted on validation; see :func:`fit_rescorer`)."""

    beta: float = 1.0
    weights: tuple[float, float, float, float] = (1.0, 2.0, 1.0, 0.0)  # logit(c), vote[chosen], agree, bias

    def combine(self, probs: np.ndarray, vote: np.ndarray) -> int:
        return int(np.argmax(np.log(probs + 1e-9) + self.beta * np.log(vote + EPS)))

    def confidence(self, trm_conf: float, vote_chosen: float, agree: bool) -> float:
        c = min(max(trm_conf, 1e-6), 1 - 1e-6)
        w = self.weights
        s = w[0] * math.log(c / (1 - c)) + w[1] * vote_chosen + w[2] * float(agree) + w[3]
        return 1.0 / (1.0 + math.exp(-s))

    def as_dict(self) -> dict:
        return {"beta": self.beta, "weights": list(self.weights)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Rescorer:
        if not data:
            return cls()
        try:
            weights = tuple(float(x) for x in data.get("weights", cls.weights))
            beta = float(data.get("beta", 1.0))
        except (TypeError, ValueError):
            raise CheckpointError("metadata.json: rescorer beta and weights must be numbers") from None
        if len(weights) != 4 or not all(math.isfinite(x) for x in weights) or not math.isfinite(beta):
            raise CheckpointError("metadata.json: rescorer weights must be four finite numbers")
        return cls(beta, weights)  # type: ignore[arg-type]


def trust_everything(path: str) -> bool:
    """The trust predicate of training: the corpus's runbooks are ours to learn from."""
    return True


def trust_nothing(path: str) -> bool:
    return False


def named_action(text: str) -> str:
    """The action an ``**Action:**`` part names: its first word, backticks dropped (the part
    runs on to the next field, and a line of prose may follow the id)."""
    words = text.strip().split()
    return words[0].strip("`*.,;:") if words else ""


def runbook_evidence(
    alertname: str, sections: Sequence, actions: Sequence[str], trusted: Callable[[str], bool] = trust_everything,
) -> tuple[np.ndarray, list[EvidenceItem], str]:
    """Votes from the runbook sections for this alert, and the action a seed-format section
    of a trusted document names outright ('' if none). A prometheus-operator section names
    no action: its Mitigation text is read by the dataset's labelling rules, with less
    weight. A section whose document is not ``trusted`` gives an evidence item of weight 0
    that says so, and no vote."""
    index = {a: i for i, a in enumerate(actions)}
    vote = np.zeros(len(actions), dtype=np.float64)
    items: list[EvidenceItem] = []
    static = ""
    by_path: dict[str, dict[str, Any]] = {}
    for s in sections:
        by_path.setdefault(s.path, {})[s.part] = s
    for path, parts in by_path.items():
        named = parts.get("action")
        named_id = named_action(named.text) if named is not None else ""
        if not trusted(path):
            first = named or next(iter(parts.values()))
            said = f"names {named_id[:60]!r}" if named is not None else "has a section for this alert"
            items.append(EvidenceItem("runbook", f"{path}:{first.start_line}-{first.end_line}",
                                      f"untrusted document (not under knowledge.trusted_paths) {said}: shown, not used", "", 0.0))
            continue
        if named is not None and named_id in index:
            act = named_id
            static = static or act
            vote[index[act]] += RUNBOOK_WEIGHT
            items.append(EvidenceItem("runbook", f"{path}:{named.start_line}-{named.end_line}", f"the runbook names {act}", act, RUNBOOK_WEIGHT))
            continue
        text = {k: v.text for k, v in parts.items()}
        fix = parts.get("mitigation") or parts.get("resolution") or next(iter(parts.values()))
        rule = rule_label(alertname, text.get("meaning", ""), text.get("impact", "") + "\n" + text.get("diagnosis", ""), text.get("mitigation", "") + text.get("resolution", ""))
        if rule.action in index:
            w = RUNBOOK_WEIGHT * 0.8
            vote[index[rule.action]] += w
            items.append(EvidenceItem("runbook", f"{path}:{fix.start_line}-{fix.end_line}", f"runbook {fix.part} suggests {rule.action} (rule {rule.id})", rule.action, w))
    return vote, items, static


def incident_evidence(incidents: Sequence, actions: Sequence[str]) -> tuple[np.ndarray, list[EvidenceItem]]:
    """Votes from similar past incidents: what was done, weighted by similarity; an action
    that failed counts against itself."""
    index = {a: i for i, a in enumerate(actions)}
    vote = np.zeros(len(actions), dtype=np.float64)
    items: list[EvidenceItem] = []
    for inc in incidents:
        if inc.action not in index:
            continue
        good = (inc.outcome or "").lower() in ("resolved", "success", "succeeded", "executed", "ok")
        weight = INCIDENT_WEIGHT * max(0.0, inc.score) * (1.0 if good else -0.5)
        if weight > 0:
            vote[index[inc.action]] += weight
        items.append(EvidenceItem("incident", f"incident:{inc.incident_id}", f"{inc.action} → {inc.outcome} ({inc.reason})", inc.action, weight))
    return vote, items


def normalise(vote: np.ndarray) -> np.ndarray:
    total = vote.sum()
    return vote / total if total > 0 else vote


class TriageEngine:
    """Proposals for alerts. Thread-safe; proposals are cached per fingerprint and model."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        runner: TRMRunner | None = None,
        model_error: str = "",
        embed: Callable[[list[str]], np.ndarray] | None = None,
        store: EvidenceStore | None = None,
        high: float = 0.8,
        low: float = 0.5,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        trusted: Callable[[str], bool] = trust_nothing,
    ) -> None:
        self.catalog = catalog
        self.runner = runner
        self.model_error = model_error
        self.embed = embed
        self.latencies: deque[tuple[str, float]] = deque(maxlen=LATENCY_SAMPLES)
        """(method, seconds) of each recent proposal that was computed (not cached): the
        console's metrics read p50/p95/p99 with and without retrieval from here."""
        self.store = store
        self.trusted = trusted
        """Whether a document (by path) may name or vote for an action; see the module doc."""
        self.high, self.low = high, low
        self.clock = clock
        self.rescorer = Rescorer()
        if runner is not None:
            try:
                meta = runner.checkpoint.metadata
                by_kind = meta.get("rescorers") if isinstance(meta.get("rescorers"), dict) else {}
                self.rescorer = Rescorer.from_dict(by_kind.get(getattr(runner, "kind", "trm")) or meta.get("rescorer"))
            except CheckpointError as exc:
                self.runner, self.model_error = None, str(exc)
        self._cache: OrderedDict[tuple, Proposal] = OrderedDict()
        self._lock = threading.Lock()
        self._sections_cache: dict[str, tuple[float, list]] = {}
        if self.runner is not None:
            unknown = [a for a in self.runner.config.actions if a not in catalog]
            if unknown:
                self.runner, self.model_error = None, f"the model knows actions the catalog lacks: {', '.join(unknown)}"

    @classmethod
    def load(cls, catalog: Catalog, model_dir: Path | None, kind: str = "trm", **kwargs: Any) -> TriageEngine:
        """An engine with the checkpoint in ``model_dir`` (its ``kind`` classifier proposes);
        a missing, corrupt or mismatched one leaves the engine model-less with
        ``model_error`` saying why."""
        runner, error = None, ""
        if model_dir is not None:
            try:
                runner = TRMRunner.load(model_dir, kind)
            except CheckpointError as exc:
                error = str(exc)
        return cls(catalog, runner=runner, model_error=error, **kwargs)

    def clear_cache(self) -> None:
        """Forget cached proposals: after the re-scorer or a threshold changed in place."""
        with self._lock:
            self._cache.clear()

    @property
    def model_version(self) -> str:
        return self.runner.version if self.runner else ""

    # -- the flow -----------------------------------------------------------------------

    def propose(self, alert: Alert) -> Proposal:
        return self.propose_many([alert])[0]

    def propose_many(self, alerts: Sequence[Alert]) -> list[Proposal]:
        version = self.model_version
        out: list[Proposal | None] = []
        todo: list[int] = []
        with self._lock:
            for i, alert in enumerate(alerts):
                hit = self._cache.get(_cache_key(alert, version))
                out.append(hit)
                if hit is None:
                    todo.append(i)
        if not todo:
            return out  # type: ignore[return-value]
        started = time.perf_counter()
        preds = self._predict([alerts[i] for i in todo])
        shared = (time.perf_counter() - started) / len(todo)  # one batched prediction, split evenly
        for i, pred in zip(todo, preds):
            t = time.perf_counter()
            proposal = self._decide(alerts[i], pred)
            self.latencies.append((proposal.method, shared + time.perf_counter() - t))
            out[i] = proposal
            with self._lock:
                self._cache[_cache_key(alerts[i], version)] = proposal
                if len(self._cache) > CACHE:
                    self._cache.popitem(last=False)
        return out  # type: ignore[return-value]

    def _predict(self, alerts: Sequence[Alert]) -> list[Prediction | None]:
        if self.runner is None or self.embed is None:
            return [None] * len(alerts)
        texts = [alert_text(a.alertname, a.labels, a.annotations) for a in alerts]
        x = features(texts, self.embed, self.runner.config.hash_dim)
        rules = [rule_label(a.alertname, a.annotations.get("summary", ""), a.annotations.get("description", "")).action for a in alerts]
        return self.runner.predict_features(x, rules)

    def _decide(self, alert: Alert, pred: Prediction | None) -> Proposal:
        notes: list[str] = []
        evidence: list[EvidenceItem] = []
        static = alert.annotations.get("lambda_function", "").strip()
        if static and static not in self.catalog:
            notes.append(f"the rule's lambda_function {static[:60]!r} is not in the action catalog")
            static = ""
        if static:
            evidence.append(EvidenceItem("annotation", "lambda_function", f"the alert rule names {static}", static, 1.0))
            return self._named(alert, static, "annotation", "annotation lambda_function", evidence, notes, pred)

        acts = self._actions(pred)
        vote, items, runbook_action = self._evidence(alert, pred, acts, notes)
        untrusted = [i for i in items if i.kind == "runbook" and i.weight == 0.0 and not i.action]
        if runbook_action:
            named = [i for i in items if i.kind == "runbook" and i.action == runbook_action]
            evidence.extend(named + untrusted)
            return self._named(alert, runbook_action, "runbook", named[0].ref, evidence, notes, pred)
        if pred is None:
            notes.append(f"no trained model: {self.model_error}" if self.model_error else "no trained model (run `sreconsole train trm`)")
            if vote.sum() > 0:
                best = int(np.argmax(vote))
                evidence.extend(items)
                # Not calibrated (no model to calibrate): kept under the low threshold so a
                # human always reviews a retrieval-only proposal.
                return self._proposal(alert, acts[best], RETRIEVAL_CAP * float(vote[best]), "retrieval", evidence, notes, None)
            evidence.extend(untrusted)
            return self._proposal(alert, "escalate", None, "none", evidence, notes, None)
        if pred.confidence >= self.high:
            evidence.extend(untrusted)
            return self._proposal(alert, pred.action, pred.confidence, "trm", evidence, notes, pred)
        evidence.extend(items)
        if vote.sum() == 0:
            notes.append("no runbook section or similar incident found for this alert")
            return self._proposal(alert, pred.action, pred.confidence, "trm", evidence, notes, pred)
        probs = np.array([pred.probabilities[a] for a in acts])
        chosen = self.rescorer.combine(probs, vote)
        conf = self.rescorer.confidence(pred.confidence, float(vote[chosen]), acts[chosen] == pred.action)
        return self._proposal(alert, acts[chosen], conf, "trm+rag", evidence, notes, pred)

    def _evidence(self, alert: Alert, pred: Prediction | None, acts: Sequence[str], notes: list[str]) -> tuple[np.ndarray, list[EvidenceItem], str]:
        """The normalised vote of the retrieved evidence over ``acts``, its items, and the
        action a trusted runbook names ('' if none). Similar incidents are searched only
        where the flow would use them: no runbook names an action and the model is below
        the high threshold (or absent)."""
        vote, items, runbook_action = np.zeros(len(acts)), [], ""
        if self.store is None:
            return vote, items, runbook_action
        try:
            vote, items, runbook_action = runbook_evidence(alert.alertname, self._sections(alert.alertname), acts, self.trusted)
        except Exception as exc:  # noqa: BLE001 - retrieval is best effort; the proposal says so
            notes.append(f"runbook sections could not be read: {exc}")
        if not runbook_action and (pred is None or pred.confidence < self.high):
            try:
                incidents = self.store.similar_incidents(alert.alertname, alert.labels, alert.annotations.get("summary", ""), k=5, now=self.clock())
                more, inc_items = incident_evidence(incidents, acts)
                vote, items = vote + more, items + inc_items
            except Exception as exc:  # noqa: BLE001
                notes.append(f"similar incidents could not be searched: {exc}")
        return normalise(vote), items, runbook_action

    def rescoring_inputs(self, alerts: Sequence[Alert]) -> list[tuple[Prediction, np.ndarray] | None]:
        """For each alert, the model's prediction and the evidence vote where the flow would
        re-score it (method ``trm+rag``), else None: exactly what the re-scorer sees, so
        that :func:`sreconsole.triage.training.calibrate_flow` fits it on the evidence this
        deployment's store returns (not on the training corpus's runbooks)."""
        out: list[tuple[Prediction, np.ndarray] | None] = []
        for alert, pred in zip(alerts, self._predict(alerts)):
            static = alert.annotations.get("lambda_function", "").strip()
            if pred is None or (static and static in self.catalog) or pred.confidence >= self.high:
                out.append(None)
                continue
            vote, _, runbook_action = self._evidence(alert, pred, self._actions(pred), [])
            out.append(None if runbook_action or vote.sum() == 0 else (pred, vote))
        return out

    def _named(
        self, alert: Alert, action_id: str, method: str, ref: str,
        evidence: list[EvidenceItem], notes: list[str], pred: Prediction | None,
    ) -> Proposal:
        """An action a rule annotation or a trusted runbook names: proposed as written, with
        no confidence (nothing calibrated it) and the model's own opinion beside it. When
        the model proposes another action, a human decides between them."""
        conflict = ""
        if pred is None:
            notes.append(f"no model checked this {method}-named action" + (f" ({self.model_error})" if self.model_error else ""))
        else:
            said = f"the model proposes {pred.action} at {pred.confidence:.2f} (its probability for {action_id}: {pred.probabilities.get(action_id, 0.0):.2f})"
            evidence.append(EvidenceItem("model", self.model_version, said, pred.action, pred.confidence))
            if pred.action != action_id:
                conflict = f"the {'runbook' if method == 'runbook' else 'rule annotation'} ({ref}) names {action_id} but {said}"
        return self._proposal(alert, action_id, None, method, evidence, notes, pred, conflict=conflict, named_ref=ref)

    def proposal_for(self, alert: Alert, action_id: str, confidence: float | None, method: str = "trm") -> Proposal:
        """A proposal of ``action_id`` for ``alert`` under the same review policy as the flow
        (low threshold, escalate, high risk, missing parameters): how ``eval triage`` puts
        its baselines on the same footing as the model."""
        return self._proposal(alert, action_id, confidence, method, [], [], None)

    def _sections(self, alertname: str) -> list:
        """Runbook sections per alertname, kept for a minute (a DuckDB open costs ms)."""
        now = time.monotonic()
        with self._lock:
            hit = self._sections_cache.get(alertname)
        if hit is not None and now - hit[0] < SECTIONS_TTL_S:
            return hit[1]
        sections = list(self.store.runbook_sections(alertname)) if self.store is not None else []
        with self._lock:
            self._sections_cache[alertname] = (now, sections)
        return sections

    def _actions(self, pred: Prediction | None) -> list[str]:
        return list(self.runner.config.actions) if (pred is not None and self.runner) else list(self.catalog.ids)

    def _proposal(
        self, alert: Alert, action_id: str, confidence: float | None, method: str,
        evidence: list[EvidenceItem], notes: list[str], pred: Prediction | None,
        conflict: str = "", named_ref: str = "",
    ) -> Proposal:
        action = self.catalog.get(action_id)
        assert action is not None
        reasons: list[str] = []
        binding = bind(action, alert.labels)
        command, api = "", None
        if binding.complete:
            call = render(action, binding.params, now=self.clock())
            command = call.command
            api = _api_dict(call.api)
        else:
            for name in binding.missing:
                reasons.append(f"parameter {name} is missing (no label {' / '.join(action.parameter(name).label_order) or 'supplies it'})")
            for name, why in binding.invalid:
                reasons.append(f"parameter {name} is invalid: {why}")
        if conflict:
            reasons.append(conflict)
        if method == "retrieval":
            reasons.append("no model: proposed from retrieved evidence alone")
        elif confidence is None:
            if method not in ("annotation", "runbook"):
                reasons.append("no model scored this alert")
        elif confidence < self.low:
            reasons.append(f"confidence {confidence:.2f} is below {self.low:.2f}")
        if action.id == "escalate":
            reasons.append("escalate: a human takes it from here")
        if action.risk == "high":
            reasons.append("high-risk action")
        alternatives: tuple[tuple[str, float], ...] = ()
        if pred is not None:
            ranked = sorted(pred.probabilities.items(), key=lambda kv: -kv[1])[:3]
            alternatives = tuple((a, float(p)) for a, p in ranked)
        return Proposal(
            fingerprint=alert.fingerprint,
            alertname=alert.alertname,
            action=action.id,
            title=action.title,
            parameters=dict(binding.params),
            command=command,
            api=api,
            confidence=confidence,
            method=method,
            requires_human_review=bool(reasons),
            review_reasons=tuple(reasons),
            risk=action.risk,
            reversible=action.reversible,
            evidence=tuple(evidence),
            model_version=self.model_version if pred is not None else "",
            alternatives=alternatives,
            model_action=pred.action if pred is not None else "",
            model_confidence=pred.confidence if pred is not None else None,
            named_ref=named_ref,
            similarity=pred.similarity if pred is not None else None,
            missing_parameters=tuple(binding.missing) + tuple(n for n, _ in binding.invalid),
            notes=tuple(notes),
            cluster=alert.cluster,  # the only cluster it may be executed against
        )


def _cache_key(alert: Alert, version: str) -> tuple:
    """Fingerprint and model version, plus what else the flow reads off the alert: the
    fingerprint covers labels only, and an edited rule may change its annotations. And the
    cluster: the same labels in two clusters are two alerts, and a proposal carries its
    alert's cluster."""
    a = alert.annotations
    return (alert.cluster, alert.fingerprint, version, a.get("lambda_function", ""), a.get("summary", ""), a.get("description", ""))


def _api_dict(api) -> dict | None:
    if api is None:
        return None
    return {"method": api.method, "path": api.path, "content_type": api.content_type, "body": api.body, "body_from": api.body_from}


UNFITTED = Rescorer(0.0, (1.0, 0.0, 0.0, 0.0))
"""What a model uses when too few calibration alerts had evidence to fit a re-scorer: the
evidence is shown but changes neither the action nor the confidence (nothing measured
what it is worth on alerts like these)."""

MIN_RESCORE_ROWS = 8
BETAS = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0)


def fit_rescorer(probs: np.ndarray, trm_conf: np.ndarray, votes: np.ndarray, labels: np.ndarray) -> tuple[Rescorer, dict]:
    """Fit ``beta`` (grid, maximising accuracy, ties to the smaller) and the logistic
    confidence (:func:`sreconsole.triage.trm.fit_calibration`: damped Newton with L2, so a
    few dozen rows give bounded weights) on the rows that have evidence.

    ``labels`` is the right action's index per row, or a boolean matrix [rows, actions] of
    every acceptable action (the calibration set's rows may have several). The rows must be
    alerts like those the flow will re-score: the calibration set seen through this
    deployment's evidence store (:func:`sreconsole.triage.training.calibrate_flow`), not a
    split of the rule-labelled corpus whose runbooks labelled it."""
    from sreconsole.triage.trm import fit_calibration

    labels = np.asarray(labels)
    ok = labels.astype(bool) if labels.ndim == 2 else np.eye(probs.shape[1], dtype=bool)[labels]
    has = votes.sum(axis=1) > 0 if len(votes) else np.zeros(0, dtype=bool)
    if has.sum() < MIN_RESCORE_ROWS:
        return UNFITTED, {"fitted_on": int(has.sum()), "note": f"fewer than {MIN_RESCORE_ROWS} calibration alerts with evidence: evidence shown, not used"}
    p, c, v, y = probs[has], trm_conf[has], votes[has], ok[has]
    rows = np.arange(len(p))
    best_beta, best_acc = 0.0, -1.0
    for beta in BETAS:
        chosen = np.argmax(np.log(p + 1e-9) + beta * np.log(v + EPS), axis=1)
        acc = float(y[rows, chosen].mean())
        if acc > best_acc + 1e-9:
            best_beta, best_acc = beta, acc
    chosen = np.argmax(np.log(p + 1e-9) + best_beta * np.log(v + EPS), axis=1)
    right = y[rows, chosen]
    fitted = fit_calibration(c, v[rows, chosen], right, (chosen == np.argmax(p, axis=1)).astype(float))
    weights = (fitted.a, fitted.b, fitted.d, fitted.c)
    return Rescorer(best_beta, weights), {"fitted_on": int(has.sum()), "accuracy_with_evidence": best_acc,
                                          "model_accuracy_on_them": float(y[rows, np.argmax(p, axis=1)].mean())}
