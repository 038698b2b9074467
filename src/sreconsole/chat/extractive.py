"""The extractive generator: an answer made of the retrieved passages' own lines.

No model writes anything: the sentences, list items and code lines that share the most
words with the question are picked (a fix question prefers Mitigation / Resolution
sections), shown in passage order, each ending with its passage's marker ``[n]``. This is
what the demo and an air-gapped bastion get, and what an LLM generator falls back to.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

MAX_LINES = 8
MAX_UNIT_CHARS = 300
FIX_PARTS = ("mitigation", "resolution", "remediation", "fix", "action", "solution")
DIAGNOSIS_PARTS = ("diagnosis", "investigation", "troubleshoot", "debug")
HEAD = "From the runbooks:"

_HOW_FIX = re.compile(
    r"\b(how|what)\b.*\b(fix|solve|resolve|mitigate|remediate|repair|recover|handle|do|stop|clear|free)\b|"
    r"\b(fix|mitigat|resolv|remediat)",
    re.IGNORECASE,
)
_PART_LABEL = re.compile(r"^\*\*([A-Za-z][A-Za-z /-]{1,40}):\*\*")
_LIST_ITEM = re.compile(r"^\s*([-*+]|\d+[.)])\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z`\"'(])")


class ExtractiveGenerator:
    """Always available; ``[n]`` in its output is the rank of the passage among ``hits``
    (1-based), as for the LLM generators, so one grounding check serves all three."""

    name = "extractive"
    streams = False

    def __init__(self) -> None:
        from sreconsole.knowledge.textindex import Tokenizer

        self.tokenizer = Tokenizer()

    def generate(self, question: str, hits: Sequence, history: Sequence[tuple[str, str]] = ()) -> Iterator[str]:
        tok = self.tokenizer
        query = set(tok.tokens(question))
        fix = bool(_HOW_FIX.search(question))
        scored: list[tuple[float, int, int, str]] = []  # score, hit rank, position, text
        for rank, hit in enumerate(hits):
            heading_overlap = len(query & set(tok.tokens(hit.heading)))
            for pos, (part, unit) in enumerate(units(hit.text)):
                where = f"{hit.heading} {part}".lower()
                bonus = 0.0
                if fix and any(p in where for p in FIX_PARTS):
                    bonus = 1.5
                elif fix and any(p in where for p in DIAGNOSIS_PARTS):
                    bonus = 0.75
                overlap = len(query & set(tok.tokens(unit)))
                score = overlap + 0.5 * min(heading_overlap, 2) + bonus - 0.1 * rank - 0.01 * pos
                if overlap or bonus:
                    scored.append((score, rank, pos, unit))
        scored.sort(key=lambda s: -s[0])
        chosen = sorted(scored[:MAX_LINES], key=lambda s: (s[1], s[2]))
        if not chosen and hits:  # relevant by meaning but no shared words: the best passage's opening
            chosen = [(0.0, 0, pos, u) for pos, (_, u) in enumerate(units(hits[0].text)[:3])]
        yield HEAD
        for _, rank, _, unit in chosen:
            yield f"\n- {unit} [{rank + 1}]"


def units(text: str) -> list[tuple[str, str]]:
    """A passage as quotable units (list items, sentences, code lines), in order, each
    with the part of the section it is in: the last ``**Label:**`` seen (the seeds'
    runbook format puts Resolution and Investigation there, not in headings)."""
    out: list[tuple[str, str]] = []
    para: list[str] = []
    in_code = False
    part = ""

    def flush() -> None:
        if para:
            joined = " ".join(para)
            out.extend((part, s) for s in _SENTENCE_END.split(joined) if len(s) > 2)
            para.clear()

    for raw in text.splitlines():
        line = raw.rstrip()
        stripped = line.strip()
        if stripped.startswith("```"):
            flush()
            in_code = not in_code
            continue
        if in_code:
            if stripped:  # a command reads as code in the answer too
                out.append((part, stripped if "`" in stripped else f"`{stripped}`"))
            continue
        if not stripped or stripped.startswith("#") or stripped == "---":
            flush()
            continue
        label = _PART_LABEL.match(stripped)
        if label:
            flush()
            part = label.group(1).lower()
            rest = stripped[label.end():].strip()
            if not rest:
                continue
            stripped = f"{label.group(1)}: {rest}"  # "Action: `pod-restart`" reads; a bare "`pod-restart`" does not
        if _LIST_ITEM.match(line):
            flush()
            para.append(_LIST_ITEM.sub("", line).strip())
            continue
        para.append(stripped)
    flush()
    return [(p, _cut(u)) for p, u in out]


def _cut(unit: str) -> str:
    if len(unit) <= MAX_UNIT_CHARS:
        return unit
    if unit.startswith("`") and unit.endswith("`"):
        return unit[: MAX_UNIT_CHARS - 2] + "…`"  # keep the code span closed
    return unit[: MAX_UNIT_CHARS - 1] + "…"
