"""Renderables for an alert's evidence: sparkline with threshold, log tail, traces, runbook,
and one trace's span tree."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text

from sreconsole.domain.evidence import Evidence, sparkline
from sreconsole.domain.proposal import CALIBRATED_METHODS
from sreconsole.domain.text import clean
from sreconsole.domain.traces import format_duration_ms
from sreconsole.tui.render import safe


def evidence_renderable(evidence: Evidence | None, width: int, theme, loading: bool = False, trace_lines: bool = True) -> Group:
    """The whole evidence block. ``trace_lines``: draw the traces part here (the side
    panel); the detail screen draws it itself, with a list that ``enter`` opens."""
    parts: list = []
    if evidence is None:
        return Group(Text("evidence: loading…" if loading else "evidence: none", style="dim"))
    parts.append(Text("metric (last hour)", style="bold underline"))
    if evidence.series:
        values = [v for _, v in evidence.series]
        chars, over = sparkline(values, max(width - 2, 10), evidence.threshold)
        line = Text()
        for ch, hot in zip(chars, over):
            line.append_text(safe(ch, 1, style=f"bold {theme.error}" if hot else theme.primary))
        parts.append(line)
        stats = f"last {values[-1]:g}  min {min(values):g}  max {max(values):g}"
        if evidence.threshold is not None:
            stats += f"  threshold {evidence.threshold:g}"
        if evidence.unit:
            stats += f"  ({evidence.unit})"
        parts.append(safe(stats, None, style="dim", single_line=False))
    else:
        parts.append(safe(evidence.metric_error or "no data", 300, style="dim"))
    if evidence.expr:
        parts.append(safe(evidence.expr, 600, style="dim italic", single_line=False))
    parts.append(Text(""))
    parts.append(Text("logs", style="bold underline"))
    if evidence.logs:
        for line in evidence.logs[-12:]:
            parts.append(Text.assemble((f"{line.at:%H:%M:%S} ", "dim"), safe(line.line, 400)))
    else:
        parts.append(safe(evidence.logs_error or "no log lines in the last hour", 300, style="dim"))
    if evidence.traces_configured and trace_lines:
        parts.append(Text(""))
        parts.extend(traces_renderable(evidence, theme))
    parts.append(Text(""))
    parts.append(Text("runbook", style="bold underline"))
    parts.append(safe(evidence.runbook_url or "no runbook_url annotation", 300, style="dim" if not evidence.runbook_url else ""))
    knowledge = evidence.knowledge
    passages = getattr(knowledge, "passages", ())
    if passages:
        parts.extend(_passages(passages, theme))
    elif evidence.knowledge_error:
        parts.append(safe(evidence.knowledge_error, 300, style="dim"))
    elif knowledge is not None:
        parts.append(Text("no passage about this alert in the knowledge base", style="dim"))
    parts.append(Text(""))
    parts.append(Text("similar past incidents", style="bold underline"))
    incidents = getattr(knowledge, "incidents", ())
    if incidents:
        parts.extend(_incidents(incidents, evidence, theme))
    else:
        note = evidence.knowledge_error if knowledge is None else "none recorded"
        parts.append(safe(note or "none recorded", 300, style="dim"))
    return Group(*parts)


def traces_renderable(evidence: Evidence, theme, trace_lines: bool = True) -> list:
    """The traces part: heading, one line per trace (or the reason there are none), the
    TraceQL that was asked."""
    out = traces_heading(evidence, "enter on the alert, then t: a trace's span tree")
    if evidence.traces and trace_lines:
        out[1:1] = [trace_line(t, theme, id_len=8) for t in evidence.traces]
    return out + traces_query(evidence)


def traces_heading(evidence: Evidence, hint: str) -> list:
    """The heading, then the reason there are no traces, or ``hint`` when there are."""
    out: list = [Text("traces (slow or failed)", style="bold underline")]
    if evidence.traces:
        out.append(safe(hint, 120, style="dim"))
    else:
        out.append(safe(evidence.traces_error or "no traces", 300, style="dim", single_line=False))
    return out


def traces_query(evidence: Evidence) -> list:
    """The TraceQL that was sent, to run it again in Grafana."""
    return [safe(evidence.traces_query, 600, style="dim italic", single_line=False)] if evidence.traces_query else []


def trace_line(trace, theme, id_len: int = 16) -> Text:
    """``error   2.4s  4bf92f3577b34da6  frontend: GET /checkout``: status, duration, trace
    id, root service and span name, on one line; the name is what an ellipsis cuts in a
    narrow panel, never the id. All of it from Tempo, so all of it through ``safe``."""
    hot = trace.status == "error"
    line = Text.assemble(
        safe(f"{trace.status:<5} ", 6, style=f"bold {theme.error or 'red'}" if hot else (theme.warning or "yellow")),
        safe(f"{format_duration_ms(trace.duration_ms):>6}  ", 9),
        safe(f"{trace.trace_id[:id_len]:<{id_len}}  " if id_len else "", id_len + 2, style="dim"),
        safe(f"{trace.root_service}: " if trace.root_service else "", 40, style="dim"),
        safe(trace.root_name or "?", 80),
    )
    line.no_wrap, line.overflow = True, "ellipsis"
    return line


def span_tree_renderable(rows, theme, width: int) -> Group:
    """One line per span, indented under its parent: name, service, duration, status.

    Fixed-width columns cut with ``Text.truncate`` rather than a Rich ``Table``: a table
    measures every cell of every row first, which took seconds for 2,000 spans
    (``bench/span_tree.py``), on the thread that draws the screen."""
    took_w, status_w = 7, 6
    service_w = max(min(width // 5, 24), 8)
    name_w = max(width - service_w - took_w - status_w - 3, 10)
    indent_cap = max(name_w // 3 // 2, 1)
    header = Text.assemble(safe("span".ljust(name_w), None, style="bold"), " ", safe("service".ljust(service_w), None, style="bold"), " ",
                           safe("took".rjust(took_w), None, style="bold"), " ", safe("status", None, style="bold"))
    lines = [header]
    for depth, span in rows:
        status_style = f"bold {theme.error or 'red'}" if span.status == "error" else ("dim" if span.status == "unset" else (theme.success or "green"))
        line = Text.assemble(_fitted(Text.assemble(safe("  " * min(depth, indent_cap), None), safe(span.name or "?", 200)), name_w), " ",
                             _fitted(safe(span.service, 60, style="dim"), service_w), " ", safe(format_duration_ms(span.duration_ms).rjust(took_w), 8), " ", safe(span.status, 6, style=status_style))
        line.no_wrap, line.overflow = True, "ellipsis"
        lines.append(line)
    return Group(*lines)


def _fitted(text: Text, width: int) -> Text:
    """``text`` cut with an ellipsis or padded to exactly ``width`` cells: a column."""
    text.truncate(width, overflow="ellipsis", pad=True)
    return text


PASSAGE_PARTS = 4
PASSAGE_LINES = 6


def _passages(passages, theme) -> list:
    """The first runbook that covers the alert, its most useful parts, each cited by line."""
    first = passages[0]
    shown = [p for p in passages if p.path == first.path][:PASSAGE_PARTS]
    out: list = []
    for p in shown:
        cite = Text.assemble(safe(f"{p.part} ", 60, style="bold"), safe(f"{short_path(p.path)}:{p.start_line}-{p.end_line}", 200, style=f"dim {theme.accent or ''}".strip()))
        out.append(cite)
        lines = [line for line in p.text.splitlines() if line.strip() and not line.strip().startswith("```")]
        for line in lines[:PASSAGE_LINES]:
            out.append(safe("  " + line.strip(), 300))
        if len(lines) > PASSAGE_LINES:
            out.append(Text(f"  … {len(lines) - PASSAGE_LINES:d} more lines", style="dim"))
    others = sorted({p.path for p in passages} - {first.path})
    if others:
        out.append(safe("also in: " + ", ".join(short_path(p) for p in others), None, style="dim", single_line=False))
    return out


def _incidents(incidents, evidence, theme) -> list:
    out: list = []
    for inc in incidents:
        when = f"{inc.started_at:%Y-%m-%d %H:%M}" if inc.started_at else "?"
        line = Text.assemble((f"{when} ", "dim"), safe(inc.alertname, 80), " ")
        if inc.action:
            line.append_text(safe(inc.action, 60, style="bold"))
            line.append(" → ")
        style = theme.success if inc.outcome == "resolved" else theme.warning
        line.append_text(safe(inc.outcome or "?", 40, style=style or ""))
        if inc.operator:
            line.append_text(safe(f"  by {inc.operator}", 60, style="dim"))
        out.append(line)
        out.append(safe("  why: " + inc.reason, 300, style="dim"))
        if inc.notes:
            out.append(safe("  " + inc.notes, 300))
    return out


def short_path(path: str) -> str:
    """The file and its directory: enough to tell runbooks apart in a narrow column."""
    parts = path.split("/")
    return "/".join(parts[-2:]) if len(parts) > 2 else path


SHORT_ACTION = {
    "pod-restart": "restart",
    "pod-check-status": "check",
    "rollout-restart": "rollout",
    "rollback-deployment": "rollback",
    "scale-deployment": "scale",
    "flux-reconcile-kustomization": "flux-ks",
    "flux-reconcile-helmrelease": "flux-hr",
    "flux-reconcile-gitrepository": "flux-git",
    "check-pvc-status": "pvc?",
    "expand-pvc": "pvc+",
    "cordon-node": "cordon",
    "escalate": "escalate",
}
METHOD_BADGE = {"annotation": "rule", "runbook": "runbook", "trm": "trm", "trm+rag": "trm+rag", "retrieval": "rag", "none": "—", "chat": "chat"}
"""How a proposal's method is named on screen. A named action says who named it (a rule's
annotation, a runbook); the model's own methods say whether evidence re-scored it."""

def thresholds(app) -> tuple[float, float]:
    """(high, low) confidence thresholds from the app's triage settings (the defaults when
    a test app has none): the Alerts and Review panes colour confidences with them."""
    t = getattr(getattr(app, "settings", None), "triage", None)
    return (t.high_threshold, t.low_threshold) if t is not None else (0.8, 0.5)


def confidence_style(confidence: float | None, high: float, low: float, theme) -> str:
    """Green at or above the high threshold, amber between, red below the low one."""
    if confidence is None:
        return "dim"
    if confidence >= high:
        return theme.success or "green"
    if confidence >= low:
        return theme.warning or "yellow"
    return theme.error or "red"


def shown_confidence(confidence: float | None, method: str) -> float | None:
    """The confidence to print, or None: a number that is not a calibrated probability (a
    named action, retrieval alone, a record queued before this rule) is never shown."""
    return confidence if confidence is not None and method in CALIBRATED_METHODS else None


def shown_method(method: str, requires_human: bool) -> str:
    """trm / trm+rag / runbook / rule, or human when a human must decide."""
    return "human" if requires_human else METHOD_BADGE.get(method, method)


def named_source(method: str, evidence) -> str:
    """For a named action: where it comes from (``RUNBOOK.md:17-17``) and the model's own
    opinion beside it (``model pod-restart 0.93``); '' for the model's own proposals.
    ``evidence`` items may be :class:`EvidenceItem` objects or their dicts (the queue)."""
    if method not in ("annotation", "runbook"):
        return ""

    def get(item, key):
        return item.get(key, "") if isinstance(item, dict) else getattr(item, key, "")

    ref = next((get(e, "ref") for e in evidence if get(e, "kind") in ("runbook", "annotation") and get(e, "action")), "")
    model = next((e for e in evidence if get(e, "kind") == "model"), None)
    parts = [short_path(ref) if method == "runbook" else "annotation"] if ref or method == "annotation" else []
    if model is not None:
        parts.append(clean(f"model {get(model, 'action')} {float(get(model, 'weight') or 0.0):.2f}", 80))
    else:
        parts.append("no model checked it")
    return " · ".join(parts)


def proposal_cell(proposal, high: float, low: float, theme, width: int = 20) -> Text:
    """The table's PROPOSAL cell: the short action name, the confidence where it is a
    calibrated probability, and the method (trm, trm+rag, runbook, rule, or human when a
    human must decide), coloured by confidence. ``rollback 0.62 human``, ``cordon runbook``."""
    name = SHORT_ACTION.get(proposal.action, proposal.action[:8])
    conf = shown_confidence(proposal.confidence, proposal.method)
    method = shown_method(proposal.method, proposal.requires_human_review)
    text = " ".join(x for x in (name, None if conf is None else f"{conf:.2f}", method) if x)
    style = confidence_style(conf, high, low, theme) if conf is not None else ("bold" if method == "human" else "")
    return safe(text, width, style=style)


def proposal_renderable(proposal, width: int, high: float, low: float, theme) -> Group:
    """The proposal block of the detail panel: action, confidence bar (only for a calibrated
    probability), method, for a named action its source and the model's opinion, command,
    why a human must look, and the evidence it used. Every untrusted string goes through
    ``safe`` (no markup, no escapes)."""
    if proposal is None:
        return Group(Text("Proposal", style="bold"), Text("computing…", style="dim"))
    conf = shown_confidence(proposal.confidence, proposal.method)
    style = confidence_style(conf, high, low, theme)
    method = shown_method(proposal.method, proposal.requires_human_review)
    lines: list = [Text.assemble(("Proposal  ", "bold"), safe(proposal.action, 60, style=f"bold {style}"), safe("  " + method.upper(), 20, style="reverse"))]
    lines.append(safe(proposal.title, 120, style="dim"))
    if conf is not None:
        cells = max(10, min(30, width - 24))
        filled = int(round(conf * cells))
        lines.append(Text.assemble(("confidence ", ""), safe("█" * filled, None, style=style), safe("░" * (cells - filled), None, style="dim"), (f" {conf:.2f}", style),
                                   safe(f"  ({METHOD_BADGE.get(proposal.method, proposal.method)})", 30, style="dim")))
    elif proposal.method in ("annotation", "runbook"):
        lines.append(Text.assemble(("named by ", "dim"), safe(named_source(proposal.method, proposal.evidence), 200), ("  (no confidence: nothing calibrated it)", "dim")))
    else:
        lines.append(Text("confidence  —  (no calibrated probability)", style="dim"))
    if getattr(proposal, "similarity", None) is not None:
        lines.append(Text(f"nearest training alert: cosine {proposal.similarity:.2f}", style="dim"))
    lines.append(safe(f"risk {proposal.risk}" + (", reversible" if proposal.reversible else ", not reversible") + (f"  model {proposal.model_version}" if proposal.model_version else ""), None, style="dim", single_line=False))
    if proposal.command:
        lines.append(Text.assemble(("$ ", "dim"), safe(proposal.command, 400, style="bold")))
    for reason in proposal.review_reasons:
        lines.append(Text.assemble(("review: ", theme.warning or "yellow"), safe(reason, 300)))
    for item in proposal.evidence[:6]:
        lines.append(Text.assemble(safe(f"  {item.kind} ", 40, style="dim"), safe(short_path(item.ref), 80, style="underline"), (" ", ""), safe(item.summary, 200, style="dim")))
    for note in proposal.notes:
        lines.append(safe(note, 300, style="dim italic"))
    return Group(*lines)
