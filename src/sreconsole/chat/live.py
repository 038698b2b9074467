"""Answers about the live state: what is firing, what waits for review, what we did the
last times an alert fired. Each answer cites the records it lists (``alert:<fingerprint>``,
``review:<id>``, ``incident:<id>``), so the operator can open what the sentence rests on.

A question may narrow the answer (:mod:`sreconsole.chat.filters`): "what is firing in
payments in the last 10 minutes?" keeps the alerts with ``namespace=payments`` that
started in that window. Label values come only from what the alert source, the queue or
the history knows; a scope the question asks for ("in X") that matches nothing is said so,
not silently dropped. "Which nodes have alerts?" keeps the alerts that have a node and
names the nodes.

:func:`narrow` is the older word-overlap narrowing, still what a chat proposal uses to pick
the firing alert it is for (:mod:`sreconsole.chat.recommend`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from sreconsole.chat.filters import Filters
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


_GROUP = re.compile(r"\b(?:which|what)\s+(nodes|namespaces|services|deployments|pods|teams|clusters|jobs)\b", re.IGNORECASE)
_GROUP_LABEL = {"nodes": "node", "namespaces": "namespace", "services": "service", "deployments": "deployment",
                "pods": "pod", "teams": "team", "clusters": "cluster", "jobs": "job"}


def _scope(filters: Filters) -> str:
    """``payments``, ``payments and KubePodCrashLooping``: the label values, as said."""
    return " and ".join(clean(v, 63) for v in filters.labels.values())


def _window(filters: Filters) -> str:
    return f" ({clean(filters.time, 60)})" if filters.time else ""


def _answer(question: str, text: str, cites: Sequence[Citation], topic: str, filters: Filters) -> Answer:
    return Answer(question, text, "live", tuple(cites), "live", topic=topic, filters=filters.as_dict())


def firing(question: str, alerts: Iterable | None, error: str = "", filters: Filters | None = None) -> Answer:
    f = filters or Filters()
    if error:
        return _answer(question, f"I could not read the alerts: {clean(error, 200)}", (), "firing", f)
    if alerts is None:
        return _answer(question, "I have no alert source here; the Alerts pane (or `sreconsole alerts list`) shows what is firing.", (), "firing", f)
    active = [a for a in alerts if is_firing(a)]
    if filters is None:  # no filters given: the words of the question, as before
        chosen, used, missing = narrow(active, lambda a: a.labels, question)
        scope = " and ".join(clean(t, 63) for t in used)
    else:
        chosen = [a for a in active if f.matches(a.labels) and f.within(getattr(a, "starts_at", None))]
        missing, scope = ([] if f.labels else list(f.unknown)), _scope(f)
    group = _GROUP.search(question)
    label = _GROUP_LABEL[group.group(1).lower()] if group else ""
    if label:
        chosen = [a for a in chosen if a.labels.get(label)]
    if missing:
        where = ", ".join(clean(m, 63) for m in missing)
        others = f"; {len(active)} alert{'s are' if len(active) != 1 else ' is'} firing elsewhere" if active else ""
        return _answer(question, f"Nothing is firing for {where}{others}.", (), "firing", f)
    if not chosen:
        what = "Nothing is firing" + (f" for {scope}" if scope else "") + (f" on any {group.group(1).lower()}" if label else "")
        if f.time:
            what = what.replace("is firing", "started firing") + _window(f)
        return _answer(question, (what if scope or label or f.time else "Nothing is firing right now") + ".", (), "firing", f)
    chosen.sort(key=lambda a: (int(getattr(a, "severity", 3)), a.alertname))
    head = f"{len(chosen)} alert{'s' if len(chosen) != 1 else ''} firing" + (f" for {scope}" if scope else "")
    if f.time:
        head += f", started{_window(f)}"
    if label:
        values = sorted({a.labels[label] for a in chosen})
        head += f" on {len(values)} {label}{'s' if len(values) != 1 else ''}: " + ", ".join(clean(v, 63) for v in values[:SHOWN])
    lines, cites = [head + ":"], []
    for n, a in enumerate(chosen[:SHOWN], 1):
        sev = getattr(getattr(a, "severity", None), "name", "none").lower()
        ns = a.labels.get("namespace", "") or "-"
        target = a.target() if hasattr(a, "target") else ""
        what = f" {clean(target, 80)}" if target and not target.startswith("namespace/") else ""
        lines.append(f"- {clean(a.alertname, 80)} in {clean(ns, 63)}{what} ({sev}) [{n}]")
        cites.append(alert_citation(n, a))
    if len(chosen) > SHOWN:
        lines.append(f"… and {len(chosen) - SHOWN} more in the Alerts pane.")
    return _answer(question, "\n".join(lines), cites, "firing", f)


def review(question: str, records: Sequence | None, error: str = "", filters: Filters | None = None) -> Answer:
    f = filters or Filters()
    if error:
        return _answer(question, f"I could not read the review queue: {clean(error, 200)}", (), "review", f)
    if records is None:
        return _answer(question, "I have no review queue here; `sreconsole review list` shows the pending proposals.", (), "review", f)
    labels_of = lambda r: {**dict(r.labels or {}), "namespace": r.namespace or "", "alertname": r.alertname}  # noqa: E731
    if filters is None:
        chosen, _, missing = narrow(list(records), labels_of, question)
        scope = ""
    else:
        chosen = [r for r in records if f.matches(labels_of(r)) and f.within(getattr(r, "created_at", None))]
        missing, scope = ([] if f.labels else list(f.unknown)), _scope(f)
    if missing:
        return _answer(question, f"Nothing is waiting for review for {', '.join(clean(m, 63) for m in missing)}; {len(records)} proposal(s) wait in all.", (), "review", f)
    if not chosen:
        text = "Nothing is waiting for review" + (f" for {scope}" if scope else "") + (f" that was proposed{_window(f)}" if f.time else "")
        return _answer(question, text + ".", (), "review", f)
    lines = [f"{len(chosen)} proposal{'s' if len(chosen) != 1 else ''} waiting for review" + (f" for {scope}" if scope else "")
             + (f", proposed{_window(f)}" if f.time else "") + ":"]
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
    return _answer(question, "\n".join(lines), cites, "review", f)


def _get(record, name: str, default=None):
    """An incident's field, from a :class:`SimilarIncident` or the store's dict."""
    return record.get(name, default) if isinstance(record, Mapping) else getattr(record, name, default)


def history(question: str, alertname: str, incidents: Sequence, error: str = "", filters: Filters | None = None) -> Answer:
    """Past incidents: those like ``alertname`` (the subject the question names), or, when it
    names none but narrows by labels or time, the incidents inside those filters, newest
    first."""
    f = filters or Filters()
    if error:
        return _answer(question, f"I could not read the incident history: {clean(error, 200)}", (), "history", f)
    narrowed = bool(f.labels or f.time)
    if not alertname and not narrowed:
        return _answer(question, "Which alert? Name it (for example KubePodCrashLooping) and I'll look up its past incidents.", (), "history", f)
    chosen = [inc for inc in incidents
              if f.matches({**dict(_get(inc, "labels") or {}), "alertname": _get(inc, "alertname") or ""}) and f.within(_get(inc, "started_at"))]
    subject = clean(alertname, 120) if alertname else " and ".join(x for x in (_scope(f), clean(f.time, 60)) if x)
    if not chosen:
        return _answer(question, f"I found no past incident like {subject} in the history." if alertname
                       else f"I found no past incident for {subject} in the history.", (), "history", f)
    head = f"Last times {subject} (or something like it) fired:" if alertname else f"Past incidents for {subject}, newest first:"
    lines, cites = [head], []
    for n, inc in enumerate(chosen[:SHOWN], 1):
        started = _get(inc, "started_at")
        when = started.strftime("%Y-%m-%d %H:%M") if hasattr(started, "strftime") else str(started)
        action = _get(inc, "action") or "no action recorded"
        name = _get(inc, "alertname") or ""
        summary = f"{name} on {when}: {action} → {_get(inc, 'outcome') or 'no outcome recorded'}"
        if _get(inc, "notes"):
            summary += f". {_get(inc, 'notes')}"
        lines.append(f"- {clean(summary, 400)} [{n}]")
        cites.append(Citation(n, f"incident:{_get(inc, 'incident_id')}", 1, 1, clean(name, 200), clean(summary, 4000, single_line=False), name))
    return _answer(question, "\n".join(lines), cites, "history", f)
