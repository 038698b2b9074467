"""Bruno's answers over the whole prometheus-operator corpus: no sentence twice in any
answer to the benchmark questions (bench/data/retrieval_questions.jsonl, and the
paraphrased set when it is there), near-identical sibling runbooks collapsed into one
sentence with several citations, and the fix before the meaning for "what do I do".

The store is built once for the module from the real runbooks (skipped when the shared
corpus is missing) with the real MiniLM embedder.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from sreconsole.chat.bruno import Bruno
from sreconsole.chat.grounding import without_repeats

ROOT = Path(__file__).resolve().parent.parent
RUNBOOKS = Path("/work/shared/corpus/runbooks/prometheus-operator")
QUESTION_FILES = ("retrieval_questions.jsonl", "retrieval_paraphrased.jsonl")


class Knowledge:
    def __init__(self, kb) -> None:
        self.kb = kb

    def prepare(self) -> None:
        pass

    def knowledge_base(self):
        return self.kb


@pytest.fixture(scope="module")
def bruno(tmp_path_factory, embedder):
    if not RUNBOOKS.is_dir():
        pytest.skip(f"{RUNBOOKS} is missing")
    from sreconsole.config import load_settings
    from sreconsole.knowledge.search import KnowledgeBase
    from sreconsole.knowledge.store import Writer

    store = tmp_path_factory.mktemp("answers") / "kb.duckdb"
    with Writer(store, embedder) as w:
        w.index([RUNBOOKS])
    return Bruno(load_settings(), Knowledge(KnowledgeBase(store, embedder)))


def benchmark_questions() -> list[str]:
    out = []
    for name in QUESTION_FILES:
        path = ROOT / "bench" / "data" / name
        if path.exists():
            out += [json.loads(line)["query"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return out


def said(text: str) -> list[str]:
    """The answer's sentences, as this test reads them: split at line ends and sentence
    ends, markers and bullets dropped, lower case, spaces collapsed."""
    out = []
    for line in text.splitlines()[1:]:  # the first line is the "From the runbooks:" head
        line = re.sub(r"^\s*[-*+]\s+", "", line)
        for sentence in re.split(r"(?<=[.!?])\s+", line):
            norm = " ".join(re.sub(r"\[\d+\]", " ", sentence).lower().split()).strip(" .")
            if norm:
                out.append(norm)
    return out


def test_no_sentence_is_said_twice_in_any_benchmark_answer(bruno: Bruno) -> None:
    questions = benchmark_questions()
    assert len(questions) >= 121
    repeated = {}
    for q in questions:
        answer = bruno.ask(q)
        twice = [s for s, n in Counter(said(answer.text)).items() if n > 1]
        if twice:
            repeated[q] = twice
    assert repeated == {}


def test_sibling_runbooks_say_their_shared_sentence_once_with_every_citation(bruno: Bruno) -> None:
    answer = bruno.ask("node disk is almost full, what do I do?")
    impact = [line for line in answer.text.splitlines() if "far reaching impact" in line]
    assert len(impact) <= 1
    if impact:  # the paragraph the node-filesystem runbooks share, cited to each that has it
        cited = {int(n) for n in re.findall(r"\[(\d+)\]", impact[0])}
        files = {Path(answer.citations[n - 1].path).name for n in cited}
        assert len(files) >= 2 and all(f.startswith("NodeFilesystem") for f in files), files


def part_of(line: str, citation) -> str:
    """The part of its runbook a quoted answer line comes from: the last ``## Part``
    heading (the prometheus-operator runbooks' Meaning / Impact / Diagnosis / Mitigation)
    or ``**Label:**`` (the seeds' format) before it in its passage, else the passage's own."""
    body = re.sub(r"\s*(\[\d+\])+\s*$", "", re.sub(r"^\s*-\s+", "", line)).strip("`")
    probe = " ".join(body.replace("[", "").replace("]", "").split()[:3])
    text = "\n".join(" ".join(x.replace("[", "").replace("]", "").split()) for x in citation.text.splitlines())  # link brackets
    at = text.replace("\n", " ").find(probe)  # same offsets: one character for one
    assert at >= 0, (probe, citation.ref)
    before = text[:at].splitlines()
    marks = [m.group(1) or m.group(2) for x in before for m in [re.match(r"^## (.+)$|^\*\*([A-Za-z][A-Za-z /-]+):\*\*", x)] if m]
    if marks:
        return marks[-1].strip().lower()
    path = citation.heading.split(" > ")
    return (path[1] if len(path) > 1 else path[0]).lower()


@pytest.mark.parametrize("question", [
    "node disk is almost full, what do I do?",
    "etcd keeps losing its leader, how do I fix it",
    "what do I do about a pod stuck crash looping",
])
def test_what_do_i_do_leads_with_the_fix_then_the_meaning(bruno: Bruno, question: str) -> None:
    answer = bruno.ask(question)
    lines = answer.text.splitlines()[1:]
    parts = [part_of(line, answer.citations[int(re.search(r"\[(\d+)\]", line).group(1)) - 1]) for line in lines]
    assert parts[0] in ("mitigation", "resolution"), (lines[0], parts)
    fixes = [i for i, p in enumerate(parts) if p in ("mitigation", "resolution")]
    meanings = [i for i, p in enumerate(parts) if p == "meaning"]
    assert not meanings or max(fixes) < min(meanings), parts


def test_a_model_that_repeats_itself_is_said_once() -> None:
    text = ("Free space on the node [1]. Free space on the node [2].\n"
            "- Remove unused images [3]\n- remove unused images. [1]\n"
            "```\n    kubectl cordon <node>\n```")
    out = without_repeats(text)
    assert out.splitlines() == [
        "Free space on the node [1][2].",
        "- Remove unused images [3][1]",
        "```", "    kubectl cordon <node>", "```",
    ]
