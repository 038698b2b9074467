"""Past incidents in the knowledge store: the record the review queue (or the demo) writes,
the text that is embedded for it, and how a similar one is found and explained.

The writer embeds :meth:`IncidentRecord.text`; :func:`incident_query` asks in the same
words, so the two are kept side by side.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import numpy as np

from sreconsole.knowledge.textindex import clean_text

RECENT = timedelta(days=7)
"""The first tier of a similar-incident lookup; older history is searched only after it."""


@dataclass(frozen=True)
class IncidentRecord:
    """One past incident, as the review queue (or the demo) records it."""

    incident_id: str
    alertname: str
    labels: dict[str, str]
    started_at: datetime
    resolved_at: datetime | None
    action: str
    outcome: str
    operator: str = ""
    notes: str = ""
    fingerprint: str = ""
    severity: str = ""

    def __post_init__(self) -> None:
        # Labels come from Alertmanager's JSON and may hold lone surrogates, which DuckDB
        # refuses: store them as U+FFFD rather than losing the incident.
        for name in ("incident_id", "alertname", "action", "outcome", "operator", "notes", "fingerprint", "severity"):
            object.__setattr__(self, name, clean_text(getattr(self, name)))
        object.__setattr__(self, "labels", {clean_text(k): clean_text(v) for k, v in self.labels.items()})

    @property
    def namespace(self) -> str:
        return self.labels.get("namespace", "")

    def text(self) -> str:
        """What is embedded and searched: the alert, where, what was done, how it went."""
        where = _where(self.labels)
        parts = [f"Incident {self.alertname} ({where})" if where else f"Incident {self.alertname}"]
        if self.action:
            parts.append(f"Action taken: {self.action}. Outcome: {self.outcome}.")
        if self.notes:
            parts.append(self.notes)
        return "\n".join(parts)


def incident_query(alertname: str, labels: Mapping[str, str], summary: str = "") -> str:
    """What a similar-incident lookup embeds for an alert, worded like :meth:`IncidentRecord.text`."""
    return f"Incident {alertname} ({_where(labels)})\n{summary}".strip()


def _where(labels: Mapping[str, str]) -> str:
    """The labels that say where an incident happened, as ``k=v, ...`` in name order."""
    return ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k not in ("alertname", "severity"))


@dataclass(frozen=True)
class SimilarIncident:
    incident_id: str
    alertname: str
    labels: dict[str, str]
    started_at: datetime
    resolved_at: datetime | None
    action: str
    outcome: str
    operator: str
    notes: str
    score: float
    reason: str


def label_bonus(incidents: Mapping[int, dict], rows: np.ndarray, alertname: str, labels: Mapping[str, str]) -> np.ndarray:
    """Extra score for the same alert (and more for the same namespace as well); ``incidents``
    maps a chunk row to its incident as the reader loaded it."""
    out = np.zeros(len(rows), dtype=np.float32)
    for n, row in enumerate(rows.tolist()):
        rec = incidents[row]
        if rec["alertname"] == alertname:
            out[n] += 0.2
            if labels.get("namespace") and rec["labels"].get("namespace") == labels.get("namespace"):
                out[n] += 0.1
    return out


def explained(rec: dict, sim: float, tier: str, alertname: str, labels: Mapping[str, str], now: datetime) -> SimilarIncident:
    """One matched incident, with the reasons it was chosen in the operator's words."""
    reasons = []
    if rec["alertname"] == alertname:
        reasons.append("same alert")
        same = [k for k in ("namespace", "deployment", "pod", "node", "persistentvolumeclaim") if labels.get(k) and rec["labels"].get(k) == labels.get(k)]
        if same:
            reasons[-1] += " on the same " + "/".join(same)
    else:
        reasons.append(f"similar alert {rec['alertname']}")
    reasons.append(f"similarity {sim:.2f}")
    started = rec["started_at"]
    if isinstance(started, datetime):
        age = now - (started if started.tzinfo else started.replace(tzinfo=timezone.utc))
        days = age.total_seconds() / 86400
        when = f"{days * 24:.0f} h ago" if days < 2 else f"{days:.0f} days ago"
        reasons.append(when + ("" if tier == "recent" else " (nothing closer in the last 7 days)"))
    return SimilarIncident(
        rec["incident_id"], rec["alertname"], rec["labels"], rec["started_at"], rec["resolved_at"], rec["action"] or "",
        rec["outcome"] or "", rec["operator"] or "", rec["notes"] or "", sim, "; ".join(reasons),
    )
