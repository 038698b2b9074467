"""Bruno's retrieval over the store (knowledge/rerank.py): the glossary of operators' words.

On real runbooks from the shared corpus (prometheus-operator's, a handful of them) indexed
with the shipped MiniLM. The questions here are written for these tests, apart from both
question sets in bench/data (the glossary was tuned on one of their dev halves).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from sreconsole.knowledge import rerank
from sreconsole.knowledge.rerank import glossary_names

CORPUS = Path(os.environ.get("SRECONSOLE_CORPUS") or Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus").resolve()
RUNBOOKS = CORPUS / "runbooks" / "prometheus-operator"
needs_corpus = pytest.mark.skipif(not RUNBOOKS.is_dir(), reason=f"real runbooks not found at {RUNBOOKS}")

FILES = (
    "kubernetes/KubeletDown.md", "general/TargetDown.md", "kubernetes/KubeNodeNotReady.md", "kubernetes/KubeAPIDown.md",
    "etcd/etcdMembersDown.md", "etcd/etcdNoLeader.md", "kubernetes/KubeJobFailed.md", "kubernetes/KubePodCrashLooping.md",
    "node/NodeFilesystemAlmostOutOfSpace.md", "kubernetes/KubeDaemonSetRolloutStuck.md",
)


def test_glossary_names_what_a_question_says_in_plain_words():
    assert glossary_names("the cluster store is slow to answer") == ["etcd"]
    assert glossary_names("The Node Agent stopped on one machine") == ["kubelet"]  # "node" is said already
    assert glossary_names("a one-off run on a vm failed") == ["node", "job"]
    # Whole words only, and nothing the question already names.
    assert glossary_names("the hostname changed") == []
    assert glossary_names("etcd: the cluster store is slow") == []
    assert glossary_names("the payments api returns 500") == []


@pytest.fixture(scope="module")
def kb(tmp_path_factory, embedder):
    from sreconsole.knowledge.search import KnowledgeBase
    from sreconsole.knowledge.store import Writer

    root = tmp_path_factory.mktemp("rerank")
    for rel in FILES:
        (root / "docs" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(RUNBOOKS / rel, root / "docs" / rel)
    with Writer(root / "kb.duckdb", embedder) as w:
        w.index([root / "docs"])
    store = KnowledgeBase(root / "kb.duckdb", embedder)
    yield store
    store.close()


def _files(result) -> list[str]:
    out: list[str] = []
    for hit in result.hits:
        name = Path(hit.path).name
        if name not in out:
            out.append(name)
    return out


@needs_corpus
@pytest.mark.parametrize(
    ("question", "runbook"),
    [
        ("the agent on every node has stopped answering", "KubeletDown.md"),
        ("two members of the cluster datastore are gone", "etcdMembersDown.md"),
        ("a batch run ended in an error", "KubeJobFailed.md"),
    ],
)
def test_the_glossary_brings_the_runbook_that_names_the_thing(kb, question, runbook):
    with_glossary = _files(rerank.search(kb, question, 10, options=("glossary", "files")))
    assert with_glossary[0] == runbook, with_glossary


@needs_corpus
@pytest.mark.parametrize("question", ["the agent on every node has stopped answering", "a batch run ended in an error"])
def test_without_the_glossary_those_questions_miss_the_first_place(kb, question):
    """What the test above would pass without: these two lose their runbook's first place."""
    assert glossary_names(question)
    without = _files(rerank.search(kb, question, 10, options=("files",)))
    assert without[0] not in ("KubeletDown.md", "KubeJobFailed.md"), without


@needs_corpus
def test_the_i_dont_know_gate_reads_the_question_itself(kb):
    """Names added for ranking must not make an off-topic question look answerable."""
    question = "is the coffee machine on the third floor broken again"
    assert glossary_names(question) == ["node"]
    _, best = rerank.search_with_similarity(kb, question, 5)
    plain = kb.search(question, rerank.DEPTH, mode="vector")
    assert best == pytest.approx(plain.hits[0].score)
    expanded = kb.search(f"{question} node", rerank.DEPTH, mode="vector")
    assert expanded.hits[0].score != pytest.approx(best)  # the check can fail
