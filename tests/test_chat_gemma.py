"""Bruno with the real Gemma 3 270M (``chat.mlx_model = "gemma3-270m"``), prepared from the
PyPI package: the name resolves to the prepared directory, the prompt is Gemma's own turn
format over the numbered passages, tokens stream, a stopped stream stops generating, and
whatever the model writes is grounded: every citation Bruno keeps is a retrieved passage.

It is a 270M base model, so what it says is not judged here (bench/gemma_answers.py
measures that); the mechanics are. ``max_tokens`` stays small: on two shared cores the
model writes about two tokens a second.

Without the ``gemma`` extra the tests that need the model are skipped and say why.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from conftest import GEMMA, gemma_missing, link_gemma
from kbhelp import OneStore, runbook_store

RUNBOOK = """# Payments runbook

## KubePodCrashLooping

The payments-api pod restarts because payments-db refuses connections.
Check the database first: kubectl -n payments get endpoints payments-db.

## Resolution

Restart the pod once the database accepts connections.
"""
QUESTION = "how do I fix a crash looping payments pod"

needs_gemma = pytest.mark.skipif(bool(gemma_missing()), reason=gemma_missing() or "the gemma extra is installed")


@pytest.fixture(scope="module")
def knowledge(tmp_path_factory, embedder) -> OneStore:
    return runbook_store(tmp_path_factory.mktemp("gemma-kb"), embedder, {"payments.md": RUNBOOK})


@pytest.fixture(scope="module")
def gemma(gemma_data_dir: Path):
    """One generator over the prepared model for the module, loaded once (1 GB of float32
    weights): Bruno as make_bruno builds it for this setting, but sharing the load."""
    from sreconsole.chat.generators import MlxGenerator
    from sreconsole.models.registry import model_dir
    from sreconsole.triage.catalog import load_catalog

    gen = MlxGenerator(model_dir(gemma_data_dir, GEMMA), 24, 0, load_catalog().ids, label=GEMMA)
    gen._load()
    return gen


@pytest.fixture
def gemma_settings(settings, gemma_data_dir: Path):
    link_gemma(gemma_data_dir, settings.data_path)
    return replace(settings, chat=replace(settings.chat, generator="mlx", mlx_model=GEMMA, max_tokens=24, context_messages=0))


@needs_gemma
def test_the_name_resolves_to_the_prepared_model_and_the_prompt_is_gemmas(gemma_settings, gemma, knowledge: OneStore) -> None:
    from sreconsole.chat.generators import MlxGenerator
    from sreconsole.services.chat import make_bruno

    bruno = make_bruno(gemma_settings, knowledge)
    assert bruno.generator_problem == "" and isinstance(bruno.generator, MlxGenerator)
    assert bruno.generator.name == f"mlx:{GEMMA}" and (bruno.generator.path / "manifest.json").is_file()
    assert bruno.generator.path.resolve() == gemma.path.resolve()  # the module's shared load is this model
    assert bruno.generator.actions == gemma.actions and bruno.generator.max_tokens == gemma.max_tokens
    _, tokenizer = gemma._load()
    hits = knowledge.kb.search(QUESTION, 5, exclude_kind="incident").hits
    prompt = bruno.generator.prompt(tokenizer, QUESTION, hits, [])
    assert prompt.startswith("<bos><start_of_turn>user\nYou are Bruno")  # Gemma has no system turn
    assert "[1] " in prompt and "payments.md" in prompt
    assert prompt.endswith(f"{QUESTION}<end_of_turn>\n<start_of_turn>model\n")


@needs_gemma
def test_gemma_streams_stops_and_every_kept_citation_was_retrieved(gemma_settings, gemma, knowledge: OneStore) -> None:
    from sreconsole.chat.bruno import Bruno
    from sreconsole.triage.catalog import load_catalog

    bruno = Bruno(gemma_settings, knowledge, catalog=load_catalog(), generator=gemma)
    items = list(bruno.stream(QUESTION))
    answer, chunks = items[-1], items[:-1]
    assert answer.generator == f"mlx:{GEMMA}" and answer.intent == "knowledge", answer.note
    assert len(chunks) >= 2 and all(isinstance(c, str) for c in chunks)  # piece by piece, as generated
    assert answer.text.strip()
    hits = knowledge.kb.search(QUESTION, 5, exclude_kind="incident").hits
    spans = {(h.path, h.start_line, h.end_line) for h in hits}
    assert all((c.path, c.start_line, c.end_line) in spans for c in answer.citations)
    if not answer.citations:
        assert "cites none of the retrieved passages" in answer.note


@needs_gemma
def test_closing_the_stream_stops_gemma(gemma, knowledge: OneStore) -> None:
    hits = knowledge.kb.search(QUESTION, 1, exclude_kind="incident").hits  # one passage: a shorter prefill
    stream = gemma.generate(QUESTION, hits)
    first = next(stream)
    stream.close()  # a newer question cancels the worker: the generator is not resumed
    assert isinstance(first, str)
    with pytest.raises(StopIteration):
        next(stream)


def test_an_unprepared_name_answers_extractively_and_says_what_to_run(settings, knowledge: OneStore) -> None:
    from sreconsole.services.chat import make_bruno
    from sreconsole.services.doctor import _check_chat_generator

    configured = replace(settings, chat=replace(settings.chat, generator="mlx", mlx_model=GEMMA))
    bruno = make_bruno(configured, knowledge)
    answer = bruno.ask(QUESTION)
    assert answer.generator == "extractive" and answer.citations
    assert f"sreconsole models prepare {GEMMA}" in answer.note
    check = _check_chat_generator(configured)
    assert not check.ok and f"models prepare {GEMMA}" in check.detail
