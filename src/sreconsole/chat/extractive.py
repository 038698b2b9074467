"""The extractive generator: an answer made of the retrieved passages' own lines.

No model writes anything: the sentences, list items and code lines that share the most
words with the question are picked, each ending with its passage's marker ``[n]``. This is
what the demo and an air-gapped bastion get, and what an LLM generator falls back to.

Two things make it read like a colleague rather than a search result:

* **No repeats.** Runbooks are often siblings (the four node-filesystem ones share their
  Impact paragraph word for word): a sentence found in several passages is said once and
  carries all their markers, ``[1][2][4]``, and a near-copy (same words but one or two,
  :func:`~sreconsole.chat.grounding.near_duplicate`) counts as the same sentence.
* **The fix first.** For "how do I fix / what do I do" questions the Mitigation /
  Resolution steps and their commands come first, then what to check (Diagnosis), then
  what the alert means; other questions keep the passages' order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from sreconsole.chat.grounding import near_duplicate

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
_HEADING_LINE = re.compile(r"^#{1,6}\s+(.+?)\s*#*$")
_HUGO_REF = re.compile(r"\[([^\]]+)\]\(\{\{<\s*ref\s+\"(?:[^\"]*/)?([^\"/]+?)(?:\.md)?\"\s*>\}\}\)")
"""``[Node Filesystem FilesFilling Up]({{< ref "./NodeFilesystemFilesFillingUp.md" >}})``: a
Hugo cross-reference, which reads as its text and the runbook it names."""
_PLACEHOLDER = re.compile(r"^#\s*TODO\b", re.IGNORECASE)
"""A code line that is a note to the runbook's authors, not a command."""
ORDER = {"fix": 0, "diagnosis": 1, "other": 2, "meaning": 3}
"""Where each kind of part goes in the answer to a fix question."""


@dataclass
class _Line:
    score: float
    rank: int
    pos: int
    text: str
    kind: str
    words: frozenset[str]
    ranks: list[int] = field(default_factory=list)
    """Every passage (0-based rank) that says this sentence, the first one first."""


_KINDS = (
    ("fix", re.compile(r"\b(mitigation|mitigate|resolution|resolve|remediation|fix(es)?|actions?|solutions?|steps?)\b")),
    ("diagnosis", re.compile(r"\b(diagnosis|diagnose|investigation|investigate|troubleshoot(ing)?|debug(ging)?|checks?)\b")),
    ("meaning", re.compile(r"\b(meaning|symptoms?|description|overview)\b")),
)


def part_kind(where: str) -> str:
    """``fix``, ``diagnosis``, ``meaning`` or ``other`` for a heading path or field name
    (``etcdNoLeader > Diagnosis > Slow disk issue`` is diagnosis): the deepest part that
    names a kind decides."""
    for part in reversed(where.lower().split(" > ")):
        for kind, pattern in _KINDS:
            if pattern.search(part):
                return kind
    return "other"


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
        found: list[_Line] = []
        for rank, hit in enumerate(hits):
            heading_overlap = len(query & set(tok.tokens(hit.heading)))
            for pos, (part, unit) in enumerate(units(hit.text, hit.heading)):
                kind = part_kind(part)
                bonus = 0.0
                if fix and kind == "fix":
                    bonus = 1.5
                elif fix and kind == "diagnosis":
                    bonus = 0.75
                words = frozenset(tok.tokens(unit))
                overlap = len(query & words)
                score = overlap + 0.5 * min(heading_overlap, 2) + bonus - 0.1 * rank - 0.01 * pos
                if overlap or bonus:
                    found.append(_Line(score, rank, pos, unit, kind, words))
        chosen = self._pick(found)
        if not chosen and hits:  # relevant by meaning but no shared words: the best passage's opening
            opening = units(hits[0].text, hits[0].heading)[:3]
            chosen = [_Line(0.0, 0, pos, u, part_kind(p), frozenset(), [0]) for pos, (p, u) in enumerate(opening)]
        if fix:
            chosen.sort(key=lambda line: (ORDER[line.kind], line.rank, line.pos))
        else:
            chosen.sort(key=lambda line: (line.rank, line.pos))
        yield HEAD
        for line in chosen:
            markers = "".join(f"[{r + 1}]" for r in line.ranks)
            yield f"\n- {line.text} {markers}"

    @staticmethod
    def _pick(found: list[_Line]) -> list[_Line]:
        """The best :data:`MAX_LINES` distinct sentences; a sentence that another passage
        also says (or nearly says) is kept once and cites every passage that says it."""
        found.sort(key=lambda line: -line.score)
        chosen: list[_Line] = []
        for line in found:
            same = next((c for c in chosen if c.text == line.text or near_duplicate(c.words, line.words)), None)
            if same is not None:
                if line.rank not in same.ranks:
                    same.ranks.append(line.rank)
                continue
            if len(chosen) < MAX_LINES:
                line.ranks = [line.rank]
                chosen.append(line)
        for line in chosen:  # the first marker is the passage the sentence was taken from
            line.ranks = [line.rank] + sorted(r for r in line.ranks if r != line.rank)
        return chosen


def units(text: str, part: str = "") -> list[tuple[str, str]]:
    """A passage as quotable units (list items, sentences, code lines), in order, each
    with the part of the section it is in: the last heading or ``**Label:**`` seen (the
    seeds' runbook format puts Resolution and Investigation in labels, the
    prometheus-operator one in ``## Mitigation`` headings, and a passage may span several),
    starting from ``part`` (the passage's own heading)."""
    out: list[tuple[str, str]] = []
    para: list[str] = []
    in_code = False
    path = [p for p in part.split(" > ") if p]  # the passage's heading path: element i is level i + 1
    part = part.lower()

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
            if stripped and not _PLACEHOLDER.match(stripped):  # a command reads as code in the answer too
                out.append((part, stripped if "`" in stripped else f"`{stripped}`"))
            continue
        heading = _HEADING_LINE.match(stripped)
        if heading:
            flush()
            level = len(stripped) - len(stripped.lstrip("#"))
            path = path[: level - 1] + [heading.group(1)]
            part = " > ".join(path).lower()
            continue
        if not stripped or stripped == "---" or stripped.startswith(("<details", "</details", "<summary")):
            flush()
            continue
        stripped = _HUGO_REF.sub(r"\1 (\2)", stripped)
        label = _PART_LABEL.match(stripped)
        if label:
            flush()
            part = " > ".join([*path, label.group(1)]).lower()
            rest = stripped[label.end():].strip()
            if not rest:
                continue
            stripped = f"{label.group(1)}: {rest}"  # "Action: `pod-restart`" reads; a bare "`pod-restart`" does not
        if _LIST_ITEM.match(stripped):
            flush()
            para.append(_LIST_ITEM.sub("", stripped).strip())
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
