"""Renderables for an alert's evidence: sparkline with threshold, log tail, runbook."""

from __future__ import annotations

from rich.console import Group
from rich.text import Text

from sreconsole.domain.evidence import Evidence, sparkline
from sreconsole.tui.render import safe


def evidence_renderable(evidence: Evidence | None, width: int, theme, loading: bool = False) -> Group:
    parts: list = []
    heading = lambda s: Text(s, style="bold underline")  # noqa: E731
    if evidence is None:
        return Group(Text("evidence: loading…" if loading else "evidence: none", style="dim"))
    parts.append(heading("metric (last hour)"))
    if evidence.series:
        values = [v for _, v in evidence.series]
        chars, over = sparkline(values, max(width - 2, 10), evidence.threshold)
        line = Text()
        for ch, hot in zip(chars, over):
            line.append(ch, style=f"bold {theme.error}" if hot else theme.primary)
        parts.append(line)
        stats = f"last {values[-1]:g}  min {min(values):g}  max {max(values):g}"
        if evidence.threshold is not None:
            stats += f"  threshold {evidence.threshold:g}"
        if evidence.unit:
            stats += f"  ({evidence.unit})"
        parts.append(Text(stats, style="dim"))
    else:
        parts.append(safe(evidence.metric_error or "no data", 300, style="dim"))
    if evidence.expr:
        parts.append(safe(evidence.expr, 600, style="dim italic", single_line=False))
    parts.append(Text(""))
    parts.append(heading("logs"))
    if evidence.logs:
        for line in evidence.logs[-12:]:
            parts.append(Text.assemble((f"{line.at:%H:%M:%S} ", "dim"), safe(line.line, 400)))
    else:
        parts.append(safe(evidence.logs_error or "no log lines in the last hour", 300, style="dim"))
    parts.append(Text(""))
    parts.append(heading("runbook"))
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
    parts.append(heading("similar past incidents"))
    incidents = getattr(knowledge, "incidents", ())
    if incidents:
        parts.extend(_incidents(incidents, evidence, theme))
    else:
        note = evidence.knowledge_error if knowledge is None else "none recorded"
        parts.append(safe(note or "none recorded", 300, style="dim"))
    return Group(*parts)


PASSAGE_PARTS = 4
PASSAGE_LINES = 6


def _passages(passages, theme) -> list:
    """The first runbook that covers the alert, its most useful parts, each cited by line."""
    first = passages[0]
    shown = [p for p in passages if p.path == first.path][:PASSAGE_PARTS]
    out: list = []
    for p in shown:
        cite = Text.assemble((f"{p.part} ", "bold"), (f"{_short_path(p.path)}:{p.start_line}-{p.end_line}", f"dim {theme.accent or ''}".strip()))
        out.append(cite)
        lines = [line for line in p.text.splitlines() if line.strip() and not line.strip().startswith("```")]
        for line in lines[:PASSAGE_LINES]:
            out.append(safe("  " + line.strip(), 300))
        if len(lines) > PASSAGE_LINES:
            out.append(Text(f"  … {len(lines) - PASSAGE_LINES} more lines", style="dim"))
    others = sorted({p.path for p in passages} - {first.path})
    if others:
        out.append(Text("also in: " + ", ".join(_short_path(p) for p in others), style="dim"))
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


def _short_path(path: str) -> str:
    parts = path.split("/")
    return "/".join(parts[-2:]) if len(parts) > 2 else path
