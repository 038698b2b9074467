"""Answers about the live state: what is firing, what waits for review, what we did the
last times an alert fired. Each answer cites the records it lists (``alert:<fingerprint>``,
``review:<id>``, ``incident:<id>``), so the operator can open what the sentence rests on.

A question may narrow the answer with words that are label values: "what is firing in
payments?" keeps the alerts with a label value (or a dash-separated part of one) equal to
``payments``. A scope the question asks for ("in X") that matches nothing is said so, not
silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from sreconsole.domain.chat import Answer, Citation
from sreconsole.domain.text import clean

SHOWN = 15
SCOPE_LABELS = ("namespace", "service", "team", "severity", "alertname", "job", "cluster", "app", "deployment", "pod", "node", "instance")

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")
_ASKED_SCOPE = re.compile(r"\b(?:in|for|on|of|from)\s+(?:the\s+)?([A-Za-z0-9][A-Za-z0-9_.-]*)", re.IGNORECASE)
_NOT_SCOPES = {
    "the", "a", "an", "is", "are", "what", "which", "any", "anything", "there", "firing", "alerts", "alert", "right", "now",
    "currently", "show", "me", "list", "tell", "waiting", "pending", "review", "approval", "queue", "for", "in", "on", "of",
    "from", "broken", "wrong", "going", "off", "fire", "alerting", "active", "current", "open", "live", "team", "namespace",
    "service", "cluster", "it", "this", "that", "all", "at", "moment", "something", "everything", "my", "our", "need",
    "needs", "to", "be", "approved", "proposals", "proposal", "items", "decision", "do", "we", "have", "so", "far", "today",
}


def _parts(value: str) -> set[str]:
    v = value.lower()
    return {v, *[p for p in re.split(r"[-_.:/]", v) if p]}


def scope_terms(question: str) -> tuple[list[str], list[str]]:
    """(candidate words that could be label values, the words asked for with "in X")."""
    words = [w.lower().strip(".:-") for w in _WORD.findall(question)]
    terms = [w for w in dict.fromkeys(words) if w and w not in _NOT_SCOPES and len(w) > 1]
    asked = [m.lower().strip(".-") for m in _ASKED_SCOPE.findall(question)]
    return terms, [a for a in asked if a not in _NOT_SCOPES]


def narrow(items: Sequence, labels_of, question: str) -> tuple[list, list[str], list[str]]:
    """Items whose labels match every question word that matches some item's labels;
    returns (items, the words used, the asked-for scopes that matched nothing)."""
    terms, asked = scope_terms(question)
    index = [set().union(*(_parts(str(v)) for k, v in (labels_of(it) or {}).items() if k in SCOPE_LABELS)) for it in items]
    used = [t for t in terms if any(t in parts for parts in index)]
    chosen = [it for it, parts in zip(items, index) if all(t in parts for t in used)]
    missing = [a for a in asked if a not in used]
    return chosen, used, missing


def _state(alert) -> str:
    return str(getattr(getattr(alert, "state", None), "value", "firing")).lower()


def is_firing(alert) -> bool:
    """Firing, not silenced, inhibited or resolved (``active`` is Alertmanager's word)."""
    return _state(alert) in ("firing", "active", "")


def alert_citation(n: int, alert) -> Citation:
    labels = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()))
    text = f"{alert.alertname} ({_state(alert)})\nlabels: {labels}"
    if alert.summary:
        text += f"\nsummary: {alert.summary}"
    started = getattr(alert, "starts_at", None)
    if started is not None and hasattr(started, "strftime"):
        text += f"\nsince: {started:%Y-%m-%d %H:%M:%S} UTC"
    return Citation(n, f"alert:{alert.fingerprint}", 1, 1, clean(alert.alertname, 200), clean(text, 4000, single_line=False), alert.alertname)


def firing(question: str, alerts: Iterable | None, error: str = "") -> Answer:
    if error:
        return Answer(question, f"I could not read the alerts: {clean(error, 200)}", "live", (), "live")
    if alerts is None:
        return Answer(question, "I have no alert source here; the Alerts pane (or `sreconsole alerts list`) shows what is firing.", "live", (), "live")
    active = [a for a in alerts if is_firing(a)]
    chosen, used, missing = narrow(active, lambda a: a.labels, question)
    scope = " and ".join(clean(t, 63) for t in used)
    if missing:
        where = ", ".join(clean(m, 63) for m in missing)
        others = f"; {len(active)} alert{'s are' if len(active) != 1 else ' is'} firing elsewhere" if active else ""
        return Answer(question, f"Nothing is firing for {where}{others}.", "live", (), "live")
    if not chosen:
        return Answer(question, "Nothing is firing right now." if not scope else f"Nothing is firing for {scope}.", "live", (), "live")
    chosen.sort(key=lambda a: (int(getattr(a, "severity", 3)), a.alertname))
    head = f"{len(chosen)} alert{'s' if len(chosen) != 1 else ''} firing" + (f" for {scope}" if scope else "") + ":"
    lines, cites = [head], []
    for n, a in enumerate(chosen[:SHOWN], 1):
        sev = getattr(getattr(a, "severity", None), "name", "none").lower()
        ns = a.labels.get("namespace", "") or "-"
        target = a.target() if hasattr(a, "target") else ""
        what = f" {clean(target, 80)}" if target and not target.startswith("namespace/") else ""
        lines.append(f"- {clean(a.alertname, 80)} in {clean(ns, 63)}{what} ({sev}) [{n}]")
        cites.append(alert_citation(n, a))
    if len(chosen) > SHOWN:
        lines.append(f"… and {len(chosen) - SHOWN} more in the Alerts pane.")
    return Answer(question, "\n".join(lines), "live", tuple(cites), "live")


def review(question: str, records: Sequence | None, error: str = "") -> Answer:
    if error:
        return Answer(question, f"I could not read the review queue: {clean(error, 200)}", "live", (), "live")
    if records is None:
        return Answer(question, "I have no review queue here; `sreconsole review list` shows the pending proposals.", "live", (), "live")
    chosen, used, missing = narrow(list(records), lambda r: {**dict(r.labels or {}), "namespace": r.namespace or "", "alertname": r.alertname}, question)
    if missing:
        return Answer(question, f"Nothing is waiting for review for {', '.join(clean(m, 63) for m in missing)}; {len(records)} proposal(s) wait in all.", "live", (), "live")
    if not chosen:
        return Answer(question, "Nothing is waiting for review.", "live", (), "live")
    lines = [f"{len(chosen)} proposal{'s' if len(chosen) != 1 else ''} waiting for review:"]
    cites = []
    for n, r in enumerate(chosen[:SHOWN], 1):
        conf = f", confidence {r.confidence:.0%}" if getattr(r, "confidence", None) is not None else ""
        lines.append(f"- #{r.id} {clean(r.alertname, 80)} in {clean(r.namespace or '-', 63)}: {clean(r.action, 63)} (risk {r.risk}{conf}) [{n}]")
        detail = f"#{r.id} {r.action} for {r.alertname} in {r.namespace or '-'}\nmethod: {r.method}\ncommand: {r.command or '-'}"
        if getattr(r, "review_reasons", None):
            detail += "\nneeds a human because: " + "; ".join(r.review_reasons)
        cites.append(Citation(n, f"review:{r.id}", 1, 1, clean(f"#{r.id} {r.action}", 200), clean(detail, 4000, single_line=False), r.alertname))
    if len(chosen) > SHOWN:
        lines.append(f"… and {len(chosen) - SHOWN} more in the Review pane.")
    return Answer(question, "\n".join(lines), "live", tuple(cites), "live")


def history(question: str, alertname: str, incidents: Sequence, error: str = "") -> Answer:
    if error:
        return Answer(question, f"I could not read the incident history: {clean(error, 200)}", "live", (), "live")
    if not alertname:
        return Answer(question, "Which alert? Name it (for example KubePodCrashLooping) and I'll look up its past incidents.", "live", (), "live")
    if not incidents:
        return Answer(question, f"I found no past incident like {clean(alertname, 120)} in the history.", "live", (), "live")
    lines, cites = [f"Last times {clean(alertname, 120)} (or something like it) fired:"], []
    for n, inc in enumerate(incidents, 1):
        when = inc.started_at.strftime("%Y-%m-%d %H:%M") if hasattr(inc.started_at, "strftime") else str(inc.started_at)
        action = inc.action or "no action recorded"
        summary = f"{inc.alertname} on {when}: {action} → {inc.outcome or 'no outcome recorded'}"
        if inc.notes:
            summary += f". {inc.notes}"
        lines.append(f"- {clean(summary, 400)} [{n}]")
        cites.append(Citation(n, f"incident:{inc.incident_id}", 1, 1, clean(inc.alertname, 200), clean(summary, 4000, single_line=False), inc.alertname))
    return Answer(question, "\n".join(lines), "live", tuple(cites), "live")
