"""Split documents into citable chunks and parse the two runbook formats.

Every chunk keeps its exact source span (first and last line, 1-based, inclusive) and its
heading path, because an operator who reads a passage must be able to open the file at
that line. Headings inside fenced code blocks are not headings (runbooks are full of
``# comment`` lines in shell snippets). YAML front matter is skipped but still counted, so
line numbers match the file on disk.

Two formats carry more structure than headings and are parsed into alert-keyed sections
(the triage dataset is built from these):

* the seeds' ``RUNBOOK.md``: ``### Alert: <Name>`` followed by ``**Symptoms:**``,
  ``**Investigation:**``, ``**Resolution:**`` (and optional ``**Action:**``, ``**Notes:**``…)
  fields whose bodies are text or fenced code;
* the prometheus-operator runbooks: one file per alert, ``# AlertName`` with ``##
  Meaning`` / ``Impact`` / ``Diagnosis`` / ``Mitigation``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

DEFAULT_CHUNK_WORDS = 160
"""Chosen by measurement on the prometheus-operator runbooks (bench/retrieval_quality.py)."""

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})")
_SEED_ALERT = re.compile(r"^#{2,4}[ \t]+Alert:[ \t]*([A-Za-z_:][A-Za-z0-9_:.-]*)")
_SEED_FIELD = re.compile(r"^\*\*([A-Za-z][A-Za-z /-]{0,40}):\*\*[ \t]*(.*)$")
_ALERT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WORD = re.compile(r"\S+")
PROMOP_PARTS = ("meaning", "impact", "diagnosis", "mitigation")


@dataclass(frozen=True)
class Chunk:
    start_line: int
    end_line: int
    heading: str
    """Heading path, outermost first, joined with `` > ``; empty before the first heading."""
    text: str
    alertname: str = ""


@dataclass(frozen=True)
class AlertSection:
    """What one runbook says about one alert, split into named parts (lower-case keys)."""

    alertname: str
    format: str
    """``seed`` or ``prometheus-operator``."""
    start_line: int
    end_line: int
    parts: dict[str, str] = field(default_factory=dict)
    part_lines: dict[str, tuple[int, int]] = field(default_factory=dict)


@dataclass
class _Section:
    level: int
    path: tuple[str, ...]
    start: int  # 0-based index of the first line (the heading itself, if any)
    lines: list[str] = field(default_factory=list)

    @property
    def end(self) -> int:
        return self.start + len(self.lines) - 1


def front_matter_end(lines: list[str]) -> int:
    """Index of the first line after a leading ``---`` YAML block (0 when there is none)."""
    if not lines or lines[0].strip() != "---":
        return 0
    for i in range(1, min(len(lines), 200)):
        if lines[i].strip() in ("---", "..."):
            return i + 1
    return 0


def _sections(lines: list[str]) -> list[_Section]:
    """Cut Markdown lines at ATX headings that are outside code fences."""
    begin = front_matter_end(lines)
    out: list[_Section] = [_Section(0, (), begin)]
    stack: list[tuple[int, str]] = []
    fence = ""
    for i in range(begin, len(lines)):
        line = lines[i]
        marker = _FENCE.match(line)
        if marker:
            token = marker.group(1)
            if not fence:
                fence = token[0] * len(token)
            elif token[0] == fence[0] and len(token) >= len(fence):
                fence = ""
        heading = None if fence or marker else _HEADING.match(line)
        if heading:
            level = len(heading.group(1))
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, heading.group(2).strip()))
            out.append(_Section(level, tuple(title for _, title in stack), i))
        out[-1].lines.append(line)
    return [s for s in out if any(line.strip() for line in s.lines)]


def _words(text: str) -> int:
    return len(_WORD.findall(text))


def _split_long(section: _Section, max_words: int) -> list[tuple[int, int]]:
    """Cut one long section at blank lines outside code fences into ≤ max_words pieces
    (a single paragraph longer than that is cut between lines). Returns 0-based spans."""
    pieces: list[tuple[int, int]] = []
    start = section.start
    count = 0
    fence = False
    last_break = None  # a blank line where a cut is allowed
    body = False  # lines start..i-1 hold more than the section's heading (a piece never is a bare heading)

    def has_text(a: int, b: int) -> bool:
        return any(section.lines[j - section.start].strip() for j in range(a, b))

    for offset, line in enumerate(section.lines):
        i = section.start + offset
        if _FENCE.match(line):
            fence = not fence
        count += _words(line)
        if count > max_words and i > start and body:
            cut = last_break if last_break is not None and last_break > start else i - 1
            pieces.append((start, cut))
            start = cut + 1
            count = sum(_words(section.lines[j - section.start]) for j in range(start, i + 1))
            last_break = None
            body = has_text(start, i)
            if count > max_words and body:
                # What followed the paragraph break is too long with this line as well.
                pieces.append((start, i - 1))
                start, count, body = i, _words(line), False
        if line.strip():
            body = body or not (section.level and i == section.start)
        elif not fence and body:
            last_break = i
    if start <= section.end:
        pieces.append((start, section.end))
    return pieces


def chunk_markdown(text: str, max_words: int = DEFAULT_CHUNK_WORDS, title: str = "") -> list[Chunk]:
    """Chunks along headings. Small neighbouring sections under the same top heading are
    merged up to ``max_words`` (a lone "Impact: service degraded" line makes a poor
    passage); long ones are split at paragraph breaks. ``title`` names chunks that come
    before any heading (plain text files)."""
    lines = text.splitlines()
    spans: list[tuple[int, int, tuple[str, ...]]] = []
    pending: list[_Section] = []
    pending_words = 0

    def flush() -> None:
        nonlocal pending, pending_words
        if pending:
            spans.append((pending[0].start, pending[-1].end, pending[0].path))
        pending, pending_words = [], 0

    for section in _sections(lines):
        words = _words("\n".join(section.lines))
        if section.level and not any(line.strip() for line in section.lines[1:]):
            if pending:
                pending_words += words  # inside the span if the next section merges into it
            continue  # a bare heading: its title lives on in its children's heading paths
        if words > max_words:
            flush()
            for a, b in _split_long(section, max_words):
                spans.append((a, b, section.path))
            continue
        head = pending[0].path if pending else ()
        related = pending and (section.path[: len(head)] == head or section.path[:-1] == head[:-1])
        if not related or pending_words + words > max_words:
            flush()
        pending.append(section)
        pending_words += words
    flush()

    alert = _document_alert(lines)
    chunks = []
    for a, b, path in spans:
        while a < b and not lines[a].strip():
            a += 1
        while b > a and not lines[b].strip():
            b -= 1
        body = "\n".join(lines[a : b + 1]).strip()
        if not body:
            continue
        heading = " > ".join(path) if path else title
        chunks.append(Chunk(a + 1, b + 1, heading, body, _chunk_alert(path) or alert))
    return chunks


def chunk_text(text: str, max_words: int = DEFAULT_CHUNK_WORDS, title: str = "") -> list[Chunk]:
    """Plain text: paragraphs packed up to ``max_words``; the heading is the file's name."""
    lines = text.splitlines()
    section = _Section(0, (), 0, lines)
    out = []
    for a, b in _split_long(section, max_words):
        while a < b and not lines[a].strip():
            a += 1
        while b > a and not lines[b].strip():
            b -= 1
        body = "\n".join(lines[a : b + 1]).strip()
        if body:
            out.append(Chunk(a + 1, b + 1, title, body))
    return out


def _chunk_alert(path: tuple[str, ...]) -> str:
    for title in reversed(path):
        match = re.match(r"Alert:\s*(\S+)", title)
        if match:
            return match.group(1)
    return ""


def _document_alert(lines: list[str]) -> str:
    """A prometheus-operator runbook is about the alert its single ``# Name`` heading names."""
    sections = parse_promop_runbook("\n".join(lines))
    return sections[0].alertname if sections else ""


# -- structured runbooks -------------------------------------------------------------


def parse_seed_runbook(text: str) -> list[AlertSection]:
    """``### Alert: <Name>`` sections with ``**Field:**`` parts (seeds' RUNBOOK.md)."""
    lines = text.splitlines()
    out: list[AlertSection] = []
    current: AlertSection | None = None
    part = ""
    fence = False
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            fence = not fence
        if not fence:
            alert = _SEED_ALERT.match(line)
            if alert:
                current = AlertSection(alert.group(1), "seed", i + 1, i + 1)
                out.append(current)
                part = ""
                continue
            if current is not None and _HEADING.match(line):
                current, part = None, ""
                continue
        if current is None:
            continue
        field_match = None if fence and not _FENCE.match(line) else _SEED_FIELD.match(line)
        if field_match and not fence:
            part = field_match.group(1).strip().lower()
            current.parts[part] = field_match.group(2).strip()
            current.part_lines[part] = (i + 1, i + 1)
        elif part:
            current.parts[part] = (current.parts[part] + "\n" + line) if current.parts[part] else line
            if line.strip():
                first, _ = current.part_lines[part]
                current.part_lines[part] = (first, i + 1)
        if line.strip():
            object.__setattr__(current, "end_line", i + 1)
    for section in out:
        for key, value in list(section.parts.items()):
            section.parts[key] = value.strip()
        action = section.parts.get("action", "")
        if action:
            section.parts["action"] = action.strip("` ")
    return out


def parse_promop_runbook(text: str) -> list[AlertSection]:
    """A prometheus-operator runbook: ``# AlertName`` then Meaning/Impact/Diagnosis/Mitigation.

    Returns an empty list for Markdown that is not in that shape (no single alert-like
    title, or none of the four parts), so ordinary documents are not mistaken for it."""
    lines = text.splitlines()
    sections = _sections(lines)
    titles = [s for s in sections if s.level == 1]
    if len(titles) != 1 or not _ALERT_NAME.match(titles[0].path[0]):
        return []
    name = titles[0].path[0]
    found = AlertSection(name, "prometheus-operator", titles[0].start + 1, len(lines))
    for s in sections:
        if s.level == 2 and s.path[-1].strip().lower() in PROMOP_PARTS:
            key = s.path[-1].strip().lower()
            body = "\n".join(s.lines[1:]).strip()
            # Sub-headings (### under Diagnosis) belong to their part.
            end = s.end
            for later in sections:
                if later.start > s.start and later.level > 2 and later.path[:2] == s.path[:2]:
                    body += "\n\n" + "\n".join(later.lines).strip()
                    end = later.end
            while end > s.start and not lines[end].strip():
                end -= 1  # the range ends at the part's last line, not at the blank before the next heading
            found.parts[key] = body.strip()
            found.part_lines[key] = (s.start + 1, end + 1)
    if not found.parts:
        return []
    last = max(b for _, b in found.part_lines.values())
    return [AlertSection(found.alertname, found.format, found.start_line, last, found.parts, found.part_lines)]


def alert_sections(text: str) -> list[AlertSection]:
    """Whichever structured format the text is in (seeds' first: it is more specific)."""
    return parse_seed_runbook(text) or parse_promop_runbook(text)
