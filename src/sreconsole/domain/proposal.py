"""A proposed remediation for one alert: what, how sure, how it was reached, from what.

Pure data (no IO): the triage engine makes them, the Alerts pane and ``sreconsole triage``
show them, the review queue will store them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

METHODS = ("annotation", "runbook", "trm", "trm+rag", "retrieval", "none", "chat")
"""How a proposal was reached: a ``lambda_function`` annotation on the rule; an action named
in a trusted runbook section for the alert; the model alone; the model re-scored with
retrieved evidence; retrieval alone (no trained model); nothing applied (escalate); an
operator queued what a Bruno answer recommended."""

CALIBRATED_METHODS = ("trm", "trm+rag")
"""The methods whose confidence is a calibrated probability (fitted on held-out rows);
every other confidence is a placeholder and is never shown as a probability."""


@dataclass(frozen=True)
class EvidenceItem:
    """One thing the proposal leaned on, citable: ``ref`` is ``path:first-last`` for a runbook
    passage, ``incident:<id>`` for a past incident, a PromQL expression for a metric."""

    kind: str  # runbook | incident | metric | logs | annotation
    ref: str
    summary: str
    action: str = ""  # the action this evidence points to, if any
    weight: float = 0.0

    def as_dict(self) -> dict:
        return {"kind": self.kind, "ref": self.ref, "summary": self.summary, "action": self.action, "weight": round(self.weight, 4)}


@dataclass(frozen=True)
class Proposal:
    fingerprint: str
    alertname: str
    action: str
    title: str
    parameters: dict[str, str]
    command: str  # display/copy form only: nothing runs it through a shell
    api: dict | None  # the exact Kubernetes API call, when the action makes one
    confidence: float | None  # calibrated P(correct); None when no model scored it
    method: str
    requires_human_review: bool
    review_reasons: tuple[str, ...] = ()
    risk: str = ""
    reversible: bool = False
    evidence: tuple[EvidenceItem, ...] = ()
    model_version: str = ""
    alternatives: tuple[tuple[str, float], ...] = ()  # (action, probability), best first
    missing_parameters: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())
    model_action: str = ""  # the model's own proposal, beside a named (annotation/runbook) one
    model_confidence: float | None = None  # its calibrated confidence
    named_ref: str = ""  # where a named action comes from: "path:first-last" or "annotation lambda_function"
    similarity: float | None = None  # cosine to the nearest training alert: how familiar this one is
    cluster: str = ""
    """The cluster of the alert it answers (``Alert.cluster``): the only cluster it may ever be
    executed against. Sealed with its executable content in the review queue."""

    @property
    def calibrated(self) -> bool:
        """Whether ``confidence`` is a calibrated probability that may be shown as one."""
        return self.confidence is not None and self.method in CALIBRATED_METHODS

    @property
    def shown_method(self) -> str:
        """The method as the operator reads it: trm, trm+rag, runbook (a document or a rule
        annotation named it) or human (it requires a human review)."""
        if self.requires_human_review:
            return "human"
        if self.method in ("annotation", "runbook"):
            return "runbook" if self.method == "runbook" else "rule"
        return self.method

    def as_dict(self) -> dict:
        return {
            "fingerprint": self.fingerprint,
            "alertname": self.alertname,
            "action": self.action,
            "title": self.title,
            "parameters": dict(self.parameters),
            "command": self.command,
            "api": self.api,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "method": self.method,
            "requires_human_review": self.requires_human_review,
            "review_reasons": list(self.review_reasons),
            "risk": self.risk,
            "reversible": self.reversible,
            "model_version": self.model_version,
            "evidence": [e.as_dict() for e in self.evidence],
            "alternatives": [{"action": a, "probability": round(p, 4)} for a, p in self.alternatives],
            "missing_parameters": list(self.missing_parameters),
            "notes": list(self.notes),
            "model_action": self.model_action,
            "model_confidence": None if self.model_confidence is None else round(self.model_confidence, 4),
            "named_ref": self.named_ref,
            "similarity": None if self.similarity is None else round(self.similarity, 4),
            "cluster": self.cluster,
        }
