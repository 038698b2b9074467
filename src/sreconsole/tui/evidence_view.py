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
    parts.append(Text(""))
    parts.append(heading("similar past incidents"))
    parts.append(Text("not available yet: needs the knowledge base (incident history)", style="dim"))
    return Group(*parts)
