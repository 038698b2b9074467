"""Shadow scoring: a candidate model scores, beside the active one, what the console has seen
lately and every operator decision, before it may be promoted.

The rows come from the two places where real alerts are kept:

* **operator decisions** (the review queue): an approved proposal says its action was
  right; a rejection with a corrected action says that one was. These are the labels
  that matter most: real alerts of this team, judged by its operators. A rejection
  without a correction says only what was wrong and is counted, not scored.
* **recent alerts** (the queue's proposals and the incident history of the last
  ``days``): unlabelled, they measure how often the two models agree, and which alerts
  they disagree on.

Both models are the classifiers ``triage.model`` names in each checkpoint, with the rules
as the second expert each one's calibration fitted, exactly as the engine runs them; the
runbooks and incidents the flow adds are left out, so the comparison is about the model.
``promote_run`` refuses a candidate that is right less often than the active model on
operator decisions unless forced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sreconsole.config import Settings

DIFFERENCES_SHOWN = 20


@dataclass(frozen=True)
class ShadowRow:
    """One alert both models score; ``truth`` is the operators' action ('' if unknown)."""

    alertname: str
    labels: dict[str, str]
    annotations: dict[str, str]
    origin: str  # decision | queue | incident
    truth: str = ""
    rejected: str = ""  # an action an operator rejected without naming the right one
    when: str = ""


@dataclass
class ShadowReport:
    candidate: str
    active: str
    kind: str
    days: float
    rows: int
    decisions: int
    agreement: float | None
    candidate_scores: dict[str, Any] = field(default_factory=dict)
    active_scores: dict[str, Any] = field(default_factory=dict)
    differences: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def worse(self) -> bool:
        """The candidate is right less often than the active model on operator decisions."""
        c, a = self.candidate_scores.get("accuracy"), self.active_scores.get("accuracy")
        return c is not None and a is not None and c < a - 1e-12

    def as_dict(self) -> dict:
        return {
            "candidate": self.candidate, "active": self.active, "kind": self.kind, "days": self.days, "rows": self.rows,
            "decisions": self.decisions, "agreement": self.agreement, "candidate_on_decisions": self.candidate_scores,
            "active_on_decisions": self.active_scores, "worse_on_decisions": self.worse, "differences": self.differences,
            "notes": self.notes,
        }


def decision_rows(decisions: Sequence[Mapping[str, Any]]) -> list[ShadowRow]:
    out = []
    for d in decisions:
        alert = d.get("alert") or {}
        labels = {str(k): str(v) for k, v in (alert.get("labels") or {}).items()}
        if not labels.get("alertname"):
            continue
        annotations = {str(k): str(v) for k, v in (alert.get("annotations") or {}).items()}
        approved = d.get("verdict") == "approved"
        truth = str(d.get("action") or "") if approved else str(d.get("corrected_action") or "")
        rejected = "" if approved or truth else str(d.get("action") or "")
        out.append(ShadowRow(labels["alertname"], labels, annotations, "decision", truth, rejected, str(d.get("decided_at", ""))))
    return out


def recent_rows(settings: Settings, since: datetime) -> tuple[list[ShadowRow], list[str]]:
    """The queue's proposals and the incident history since ``since`` (unlabelled)."""
    rows: list[ShadowRow] = []
    notes: list[str] = []
    from sreconsole.review.paths import review_store_path

    path = review_store_path(settings)
    if path.exists():
        from sreconsole.review.store import ReviewStore

        with ReviewStore(path) as store:
            for rec in store.list(states=None, limit=100_000):
                if rec.created_at >= since and rec.decided_at is None:  # a decided one is already a decision row
                    rows.append(ShadowRow(rec.alertname, dict(rec.labels), dict(rec.annotations), "queue", when=rec.created_at.isoformat()))
    kb_path = Path(settings.knowledge.store).expanduser() if settings.knowledge.store else settings.data_path / "knowledge.duckdb"
    if kb_path.exists():
        try:
            from sreconsole.knowledge.search import KnowledgeBase

            kb = KnowledgeBase(kb_path)
            try:
                for rec in kb.snapshot().incidents.values():
                    started = _as_time(rec.get("started_at"))
                    if started is not None and started >= since:
                        labels = {str(k): str(v) for k, v in (rec.get("labels") or {}).items()}
                        labels.setdefault("alertname", str(rec.get("alertname", "")))
                        rows.append(ShadowRow(labels["alertname"], labels, {}, "incident", when=started.isoformat()))
            finally:
                kb.close()
        except Exception as exc:  # noqa: BLE001 - the incident history is optional here
            notes.append(f"incident history not read: {exc}")
    return rows, notes


def _as_time(value) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _scores(preds: list, rows: list[ShadowRow]) -> dict[str, Any]:
    """Accuracy and ECE of one model on the decision rows that name the right action."""
    import numpy as np

    from sreconsole.triage.trm import expected_calibration_error

    labelled = [(p, r) for p, r in zip(preds, rows) if r.truth]
    out: dict[str, Any] = {"n": len(labelled)}
    if labelled:
        correct = np.array([p.action == r.truth for p, r in labelled])
        conf = np.array([p.confidence for p, _ in labelled])
        out.update(accuracy=float(correct.mean()), ece=expected_calibration_error(conf, correct))
    else:
        out.update(accuracy=None, ece=None)
    rejected = [(p, r) for p, r in zip(preds, rows) if r.rejected]
    out["repeats_rejected"] = sum(1 for p, r in rejected if p.action == r.rejected)
    return out


def shadow_score(
    settings: Settings,
    candidate_dir: Path,
    active_dir: Path | None,
    days: float = 7.0,
    now: datetime | None = None,
    embed=None,
) -> ShadowReport:
    """Score ``candidate_dir`` beside ``active_dir`` (None or missing: there is no active
    model, and the report says so) on the last ``days`` of alerts and every decision."""
    from sreconsole.knowledge.embed_cache import make_embed
    from sreconsole.review.paths import review_store_path
    from sreconsole.triage.examples import alert_text
    from sreconsole.triage.trm import TRMRunner, features

    now = now or datetime.now(timezone.utc)
    kind = settings.triage.model
    candidate = TRMRunner.load(candidate_dir, kind)
    active = None
    notes: list[str] = []
    if active_dir is not None and active_dir.exists():
        try:
            active = TRMRunner.load(active_dir, kind)
        except Exception as exc:  # noqa: BLE001 - a broken active model is no reason to keep it
            notes.append(f"the active model cannot be loaded ({exc}): nothing to compare against")
    else:
        notes.append("no active model: nothing to compare against")
    decisions: list[dict] = []
    path = review_store_path(settings)
    if path.exists():
        from sreconsole.review.store import ReviewStore

        with ReviewStore(path) as store:
            decisions = store.decisions()
    rows = decision_rows(decisions)
    recent, more = recent_rows(settings, now - timedelta(days=days))
    rows += recent
    notes += more
    report = ShadowReport(candidate.version, active.version if active else "", kind, days, len(rows),
                          sum(1 for r in rows if r.origin == "decision"), None, notes=notes)
    if not rows:
        report.notes.append("no decisions and no alerts in the window: nothing to score")
        return report
    from sreconsole.triage.dataset import rule_label

    embed = embed or make_embed(settings)
    x = features([alert_text(r.alertname, r.labels, r.annotations) for r in rows], embed, candidate.config.hash_dim)
    rules = [rule_label(r.alertname, r.annotations.get("summary", ""), r.annotations.get("description", "")).action for r in rows]
    cand = candidate.predict_features(x, rules)
    report.candidate_scores = _scores(cand, rows)
    if active is None:
        return report
    if active.config.hash_dim != candidate.config.hash_dim or active.config.embed_dim != candidate.config.embed_dim:
        x_active = features([alert_text(r.alertname, r.labels, r.annotations) for r in rows], embed, active.config.hash_dim)
    else:
        x_active = x
    act = active.predict_features(x_active, rules)
    report.active_scores = _scores(act, rows)
    agree = [c.action == a.action for c, a in zip(cand, act)]
    report.agreement = sum(agree) / len(agree)
    for c, a, r, same in zip(cand, act, rows, agree):
        if not same and len(report.differences) < DIFFERENCES_SHOWN:
            report.differences.append({"alertname": r.alertname, "origin": r.origin, "truth": r.truth or None,
                                       "candidate": c.action, "candidate_confidence": round(c.confidence, 3),
                                       "active": a.action, "active_confidence": round(a.confidence, 3), "when": r.when})
    return report
