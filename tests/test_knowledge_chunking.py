"""Chunking, the two runbook formats and the tokenizer: pure functions, no store, no model.

The promise checked everywhere: a chunk's text is exactly the file's lines
``start_line..end_line`` (1-based, inclusive), so an operator who opens the file at the
cited line reads the passage.
"""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from sreconsole.knowledge.chunking import (
    PROMOP_PARTS,
    alert_sections,
    chunk_markdown,
    chunk_text,
    front_matter_end,
    parse_promop_runbook,
    parse_seed_runbook,
)
from sreconsole.knowledge.textindex import STOPWORDS, Tokenizer

ROOT = Path(__file__).resolve().parent.parent
DEMO_KNOWLEDGE = ROOT / "src" / "sreconsole" / "sources" / "demo" / "knowledge"
CORPUS = ROOT.parent / "shared" / "corpus"
PROMOP = CORPUS / "runbooks" / "prometheus-operator"
_HEADING_LINE = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t#]*$")


def span_text(text: str, start: int, end: int) -> str:
    return "\n".join(text.splitlines()[start - 1 : end]).strip()


def assert_exact_spans(text: str, chunks) -> None:
    previous_end = 0
    for c in chunks:
        assert 1 <= c.start_line <= c.end_line <= len(text.splitlines()), c
        assert span_text(text, c.start_line, c.end_line) == c.text, c
        assert c.start_line > previous_end, f"chunks overlap or are out of order at line {c.start_line}"
        previous_end = c.end_line


def body_lines(chunk) -> list[str]:
    """Non-blank lines of a chunk that are not one of its own headings."""
    titles = set(chunk.heading.split(" > "))
    out = []
    for line in chunk.text.splitlines():
        m = _HEADING_LINE.match(line)
        if line.strip() and not (m and m.group(1).strip() in titles):
            out.append(line)
    return out


def words(n: int, tag: str) -> str:
    return " ".join(f"{tag}{i}" for i in range(n))


def promop_file(name: str) -> Path:
    path = PROMOP / name
    if not path.is_file():
        pytest.skip(f"the real runbook corpus is not checked out: {path} is missing")
    return path


# -- chunk spans -------------------------------------------------------------------


def test_chunk_spans_are_the_files_lines_exactly():
    text = (
        "Intro line before any heading.\n"
        "\n"
        "# Title\n"
        "\n"
        "## First\n"
        "\n"
        "first body line one\n"
        "first body line two\n"
        "\n"
        "\n"
        "## Second\n"
        "second body\n"
        "   \n"
        "### Deeper\n"
        "deeper body\n"
    )
    chunks = chunk_markdown(text, max_words=10)
    assert_exact_spans(text, chunks)
    assert [(c.start_line, c.end_line, c.heading) for c in chunks] == [
        (1, 1, ""),
        (5, 8, "Title > First"),  # trailing blank lines are not cited
        (11, 15, "Title > Second"),  # a small sub-section merges into its parent's chunk
    ]
    assert chunks[2].text.endswith("### Deeper\ndeeper body")
    # A bare heading (only blank lines under it) is no chunk of its own.
    assert not any(c.text.strip() == "# Title" for c in chunks)


def test_plain_text_chunks_have_exact_spans_and_the_file_name_as_heading():
    text = "\n".join(["first paragraph " + words(20, "a"), "", "", "second paragraph " + words(20, "b"), "", words(5, "c")]) + "\n"
    chunks = chunk_text(text, max_words=25, title="notes.txt")
    assert len(chunks) >= 2
    assert_exact_spans(text, chunks)
    assert {c.heading for c in chunks} == {"notes.txt"}


def test_headings_inside_code_fences_are_not_headings():
    text = (
        "# Runbook\n"
        "\n"
        "## Diagnosis\n"
        "\n"
        "```bash\n"
        "# list the pods\n"
        "kubectl get pods\n"
        "## not a heading either\n"
        "```\n"
        "\n"
        "~~~\n"
        "# tilde fences count too\n"
        "~~~\n"
        "\n"
        "## Mitigation\n"
        "\n"
        "restart it\n"
    )
    chunks = chunk_markdown(text, max_words=200)
    assert_exact_spans(text, chunks)
    headings = {c.heading for c in chunks}
    assert not any("list the pods" in h or "not a heading" in h or "tilde" in h for h in headings), headings
    diagnosis = [c for c in chunks if "# list the pods" in c.text]
    assert len(diagnosis) == 1 and diagnosis[0].heading.startswith("Runbook > Diagnosis")
    # With a small limit the sections are not merged and the fenced comment stays in Diagnosis.
    small = chunk_markdown(text, max_words=12)
    assert_exact_spans(text, small)
    assert [c.heading for c in small if "# list the pods" in c.text] == ["Runbook > Diagnosis"]
    assert any(c.heading == "Runbook > Mitigation" for c in small)


def test_yaml_front_matter_is_skipped_but_line_numbers_match_the_file():
    text = "---\ntitle: Disk # not a heading\nweight: 20\n---\n\n# Disk Full\n\nThe disk is full.\n"
    assert front_matter_end(text.splitlines()) == 4
    chunks = chunk_markdown(text)
    assert len(chunks) == 1
    assert chunks[0].start_line == 6 and chunks[0].end_line == 8
    assert chunks[0].heading == "Disk Full"
    assert "title:" not in chunks[0].text
    assert_exact_spans(text, chunks)


def test_a_lone_rule_is_not_front_matter():
    text = "---\n\nJust a horizontal rule and text.\n"
    assert front_matter_end(text.splitlines()) == 0
    chunks = chunk_markdown(text, title="rule.md")
    assert chunks and "horizontal rule" in chunks[0].text
    assert_exact_spans(text, chunks)


def test_long_sections_are_split_at_blank_lines_into_pieces_of_at_most_max_words():
    paragraphs = [words(12, f"p{n}x") for n in range(8)]
    text = "# Long\n\n" + "\n\n".join(paragraphs) + "\n"
    chunks = chunk_markdown(text, max_words=30)
    assert len(chunks) >= 4
    assert_exact_spans(text, chunks)
    for c in chunks:
        assert len(c.text.split()) <= 30, c
        # Cut at paragraph breaks: no paragraph is split across two chunks.
        for p in paragraphs:
            assert p in c.text or p.split()[0] not in c.text.split(), c
        assert body_lines(c), f"a chunk that is only a heading: {c}"


def test_a_single_over_long_line_is_kept_whole():
    long_line = words(100, "w")
    text = f"# Title\n\nshort intro\n\n{long_line}\n\nshort outro\n"
    chunks = chunk_markdown(text, max_words=20)
    assert_exact_spans(text, chunks)
    holder = [c for c in chunks if long_line in c.text]
    assert len(holder) == 1, "the over-long line must not be cut"
    for c in chunks:
        if len(c.text.split()) > 20:
            assert body_lines(c) == [long_line], c


def test_what_follows_a_paragraph_break_is_cut_again_when_still_too_long():
    # 10 words, a blank line, then two 40-word lines in one paragraph: cutting at the blank
    # line alone leaves 80 words; the remainder must be cut between its lines too.
    text = "# T\n\n" + words(10, "a") + "\n\n" + words(40, "b") + "\n" + words(40, "c") + "\n" + words(5, "d") + "\n"
    chunks = chunk_markdown(text, max_words=60)
    assert_exact_spans(text, chunks)
    for c in chunks:
        assert len(c.text.split()) <= 60 or len(body_lines(c)) == 1, c


def test_a_long_section_never_yields_a_chunk_that_is_only_its_heading():
    items = "\n".join(f"- item {n} " + words(9, f"i{n}x") for n in range(12))
    text = f"# Alert\n\n## Diagnosis\n\n{items}\n"
    chunks = chunk_markdown(text, max_words=40)
    assert_exact_spans(text, chunks)
    assert all(body_lines(c) for c in chunks), [c.text for c in chunks]
    assert chunks[0].text.startswith("## Diagnosis\n"), "the heading stays with the first piece of its body"


def test_merged_sections_stay_within_max_words_counting_bare_headings():
    text = "# A\n\n## One\n\n" + words(15, "o") + "\n\n## Empty\n\n## Two\n\n" + words(15, "t") + "\n"
    for limit in (19, 20, 33, 34, 40):
        chunks = chunk_markdown(text, max_words=limit)
        assert_exact_spans(text, chunks)
        for c in chunks:
            assert len(c.text.split()) <= limit, (limit, c)


def test_random_documents_keep_every_chunking_promise():
    """Generated Markdown (headings, fences, blank lines, lines of many lengths): exact
    spans, no overlap, ≤ max_words unless one over-long line, never a bare heading."""
    rng = random.Random(20261123)
    for n in range(400):
        out: list[str] = []
        for _ in range(rng.randint(1, 25)):
            r = rng.random()
            if r < 0.15:
                out.append("#" * rng.randint(1, 3) + f" H{len(out)}")
            elif r < 0.35:
                out.append("")
            elif r < 0.4:
                out.append("```")
            else:
                out.append(" ".join(f"w{rng.randint(0, 99)}" for _ in range(rng.choice([1, 3, 8, 15, 40]))))
        text = "\n".join(out)
        for limit in (5, 12, 30):
            chunks = chunk_markdown(text, max_words=limit)
            assert_exact_spans(text, chunks)
            for c in chunks:
                content = body_lines(c)
                assert content, f"document {n}, limit {limit}: bare heading chunk {c}"
                assert len(c.text.split()) <= limit or len(content) == 1, f"document {n}, limit {limit}: {c}"


def test_real_runbooks_chunk_with_exact_spans_and_within_limits():
    files = sorted(PROMOP.rglob("*.md")) if PROMOP.is_dir() else []
    if not files:
        pytest.skip(f"the real runbook corpus is not checked out at {PROMOP}")
    for path in files:
        text = path.read_text(encoding="utf-8")
        for limit in (40, 160):
            chunks = chunk_markdown(text, max_words=limit, title=path.name)
            assert_exact_spans(text, chunks)
            for c in chunks:
                assert body_lines(c), f"{path}: bare heading chunk at line {c.start_line}"
                assert len(c.text.split()) <= limit or len(body_lines(c)) == 1, f"{path}:{c.start_line}-{c.end_line}"


# -- the seeds' RUNBOOK.md -----------------------------------------------------------


@pytest.fixture(scope="module")
def seed_runbook() -> str:
    return (DEMO_KNOWLEDGE / "RUNBOOK.md").read_text(encoding="utf-8")


def test_seed_runbook_has_sixteen_alerts_with_all_parts_and_a_catalogued_action(seed_runbook):
    sections = parse_seed_runbook(seed_runbook)
    assert len(sections) == 16
    names = [s.alertname for s in sections]
    assert len(set(names)) == 16
    assert {"KubePodCrashLooping", "KubePersistentVolumeFillingUp", "Watchdog"} <= set(names)
    catalog = set(re.findall(r"^## ([a-z][a-z0-9-]*)$", (DEMO_KNOWLEDGE / "AGENT-CAPABILITIES.md").read_text(encoding="utf-8"), re.M))
    for s in sections:
        assert s.format == "seed"
        for part in ("symptoms", "investigation", "resolution"):
            assert s.parts.get(part), f"{s.alertname} has no {part}"
        action = s.parts.get("action", "")
        assert re.fullmatch(r"[a-z][a-z0-9-]+", action), f"{s.alertname}: action {action!r}"
        assert action in catalog, f"{s.alertname}: action {action} is not in AGENT-CAPABILITIES.md"


def test_seed_part_lines_point_at_the_right_lines(seed_runbook):
    lines = seed_runbook.splitlines()
    field = re.compile(r"^\*\*([^*]+):\*\*[ \t]*(.*)$")
    for s in parse_seed_runbook(seed_runbook):
        assert re.match(rf"^#{{2,4}}\s+Alert:\s*{re.escape(s.alertname)}\s*$", lines[s.start_line - 1])
        assert lines[s.end_line - 1].strip()
        for part, (a, b) in s.part_lines.items():
            assert s.start_line < a <= b <= s.end_line, (s.alertname, part)
            m = field.match(lines[a - 1])
            assert m and m.group(1).strip().lower() == part, (s.alertname, part, lines[a - 1])
            assert lines[b - 1].strip(), f"{s.alertname}/{part} ends on a blank line"
            body = (m.group(2) + "\n" + "\n".join(lines[a:b])).strip()
            if part == "action":
                body = body.strip("` ")
            assert body == s.parts[part], (s.alertname, part)


def test_seed_sections_ignore_headings_and_fields_inside_fences():
    text = (
        "## Workloads\n"
        "\n"
        "### Alert: DiskFull\n"
        "\n"
        "**Action:** `expand-pvc`\n"
        "\n"
        "**Investigation:**\n"
        "```bash\n"
        "# check usage\n"
        "**Resolution:** this is shell, not a field\n"
        "df -h\n"
        "```\n"
        "\n"
        "**Resolution:**\n"
        "grow the volume\n"
        "\n"
        "## Next chapter\n"
        "\n"
        "**Resolution:** not part of the alert\n"
    )
    (s,) = parse_seed_runbook(text)
    assert s.alertname == "DiskFull"
    assert "# check usage" in s.parts["investigation"]
    assert "this is shell" in s.parts["investigation"]
    assert s.parts["resolution"] == "grow the volume"
    assert s.part_lines["resolution"] == (14, 15)
    assert s.part_lines["investigation"] == (7, 12)
    assert s.end_line == 15, "the section ends before the next heading"
    assert s.parts["action"] == "expand-pvc"


# -- prometheus-operator runbooks -----------------------------------------------------


def assert_promop_parts_match_lines(text: str, section) -> None:
    lines = text.splitlines()
    for part, (a, b) in section.part_lines.items():
        assert lines[a - 1].lstrip("#").strip().lower() == part, (part, lines[a - 1])
        assert lines[b - 1].strip(), f"{part} range {a}-{b} ends on a blank line"
        assert "\n".join(lines[a:b]).strip() == section.parts[part], part


def test_promop_runbook_kubepodcrashlooping_parts_and_lines():
    path = promop_file("kubernetes/KubePodCrashLooping.md")
    text = path.read_text(encoding="utf-8")
    (s,) = parse_promop_runbook(text)
    assert s.alertname == "KubePodCrashLooping"
    assert s.format == "prometheus-operator"
    assert set(s.parts) == set(PROMOP_PARTS)
    lines = text.splitlines()
    assert lines[s.start_line - 1] == "# KubePodCrashLooping"
    assert s.start_line > 4, "front matter precedes the title"
    assert_promop_parts_match_lines(text, s)
    # Parts come in file order and do not overlap.
    spans = [s.part_lines[p] for p in PROMOP_PARTS]
    assert all(spans[n][1] < spans[n + 1][0] for n in range(len(spans) - 1)), spans
    assert "kubectl -n $NAMESPACE describe pod $POD" in s.parts["diagnosis"]
    assert s.parts["impact"].startswith("Service degradation")
    assert s.end_line == max(b for _, b in spans)
    assert alert_sections(text)[0].alertname == "KubePodCrashLooping"


@pytest.mark.parametrize(
    "name",
    ["kubernetes/KubePersistentVolumeFillingUp.md", "etcd/etcdMembersDown.md", "node/NodeFilesystemSpaceFillingUp.md", "alertmanager/AlertmanagerFailedReload.md"],
)
def test_promop_runbooks_from_the_corpus(name):
    path = promop_file(name)
    text = path.read_text(encoding="utf-8")
    sections = parse_promop_runbook(text)
    assert len(sections) == 1
    s = sections[0]
    assert s.alertname == path.stem
    assert {"meaning", "impact"} <= set(s.parts)
    assert_promop_parts_match_lines(text, s)
    chunks = chunk_markdown(text, title=path.name)
    assert chunks and {c.alertname for c in chunks} == {path.stem}


def test_promop_sub_headings_belong_to_their_part():
    text = (
        "# DiskAlmostFull\n\n## Meaning\n\nDisk is filling.\n\n## Diagnosis\n\nLook first.\n\n"
        "### With kubectl\n\n```\n# a comment\nkubectl get pvc\n```\n\n## Mitigation\n\nExpand it.\n\n\n"
    )
    (s,) = parse_promop_runbook(text)
    assert "### With kubectl" in s.parts["diagnosis"] and "kubectl get pvc" in s.parts["diagnosis"]
    assert s.part_lines["diagnosis"] == (7, 16)
    assert s.part_lines["mitigation"] == (18, 20)
    assert s.end_line == 20
    assert_promop_parts_match_lines(text, s)


def test_ordinary_markdown_has_no_alert_sections():
    text = (DEMO_KNOWLEDGE / "ARCHITECTURE.md").read_text(encoding="utf-8")
    assert parse_seed_runbook(text) == []
    assert parse_promop_runbook(text) == []
    assert alert_sections(text) == []
    chunks = chunk_markdown(text, title="ARCHITECTURE.md")
    assert chunks and all(c.alertname == "" for c in chunks)
    assert_exact_spans(text, chunks)


def test_a_single_title_with_meaning_is_needed_for_the_promop_format():
    assert parse_promop_runbook("# Two Words Title\n\n## Meaning\n\nx\n") == []  # not an alert name
    assert parse_promop_runbook("# AlertA\n\n## Meaning\n\nx\n\n# AlertB\n\n## Meaning\n\ny\n") == []
    assert parse_promop_runbook("# AlertA\n\n## Background\n\nx\n") == []
    (s,) = parse_promop_runbook("# AlertA\n\n## Meaning\n\nx\n")
    assert s.parts == {"meaning": "x"}


# -- tokenizer ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return Tokenizer()


def test_camel_case_alert_names_give_the_whole_name_and_stemmed_parts(tokenizer):
    tokens = tokenizer.tokens("KubePodCrashLooping")
    assert tokens[0] == "kubepodcrashlooping"
    assert set(tokens) == {"kubepodcrashlooping", "kube", "pod", "crash", "loop"}
    # The query words an operator types match the parts.
    assert set(tokenizer.tokens("crash looping pods")) <= set(tokens)
    # Acronyms inside names are kept together.
    assert set(tokenizer.tokens("HTTPServerDown")) == {"httpserverdown", "http", "server", "down"}
    assert "etcdnoleader" in tokenizer.tokens("etcdNoLeader")


def test_stop_words_are_dropped_and_words_stemmed(tokenizer):
    tokens = tokenizer.tokens("The pods are restarting and the disks were filling up")
    assert not set(tokens) & STOPWORDS
    assert "restart" in tokens and "disk" in tokens and "fill" in tokens
    assert "the" not in tokens and "and" not in tokens
    assert tokenizer.tokens("the and of is") == []
    assert tokenizer.tokens("!!! ... ---") == []
    assert tokenizer.tokens("HTTP 503") == ["http", "503"]
