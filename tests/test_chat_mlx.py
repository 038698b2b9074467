"""The local MLX generator with a real (tiny, randomly initialised) llama built on the spot:
mlx-lm loads it from a local directory, the grounding prompt goes through the model's own
chat template, tokens stream, and a model that cannot be loaded is replaced by the
extractive answer with the reason. The weights are random, so what it writes is noise:
the tests check the mechanics and that noise never yields an invalid citation."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from kbhelp import OneStore, runbook_store
from sreconsole.chat.bruno import Bruno
from sreconsole.chat.generators import MlxGenerator
from sreconsole.knowledge.search import Hit

RUNBOOK = """# Payments runbook

## KubePodCrashLooping

The payments-api pod restarts because payments-db refuses connections.
Check the database first: kubectl -n payments get endpoints payments-db.

## Resolution

Restart the pod once the database accepts connections: kubectl -n payments delete pod <pod>.
"""


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from sreconsole.pipeline.lora import build_demo_base

    root = tmp_path_factory.mktemp("tiny-llama")
    data = root / "data"
    data.mkdir()
    rows = [{"prompt": line, "completion": "action: pod-restart name=api namespace=payments"} for line in RUNBOOK.splitlines() if line]
    for name in ("train.jsonl", "valid.jsonl", "test.jsonl"):
        (data / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return build_demo_base(root / "model", data, vocab_size=400)


@pytest.fixture(scope="module")
def knowledge(tmp_path_factory, embedder) -> OneStore:
    return runbook_store(tmp_path_factory.mktemp("mlx-kb"), embedder, {"payments.md": RUNBOOK})


def test_the_prompt_is_the_models_chat_template_over_numbered_passages(tiny_model: Path) -> None:
    from mlx_lm import load

    _, tokenizer = load(str(tiny_model))
    gen = MlxGenerator(tiny_model, 16, 2, ["pod-restart", "escalate"])
    hits = [Hit("/r/a.md", 3, 6, "KubePodCrashLooping", 0.9, "The pod restarts."), Hit("/r/b.md", 8, 10, "Resolution", 0.8, "Restart it.")]
    prompt = gen.prompt(tokenizer, "how do I fix it?", hits, [("user", "old"), ("assistant", "older answer"), ("user", "hello")])
    assert prompt.startswith("<|system|>You are Bruno")  # the demo tokenizer's template
    assert "[1] /r/a.md:3-6 (KubePodCrashLooping)\nThe pod restarts." in prompt and "[2] /r/b.md:8-10" in prompt
    assert "pod-restart, escalate" in prompt
    assert "<|user|>old" not in prompt and "older answer" in prompt  # the context window: 2 turns
    assert prompt.endswith("<|user|>how do I fix it?\n<|assistant|>")


def test_mlx_streams_tokens_and_grounds_the_answer(tiny_model: Path, knowledge: OneStore, settings) -> None:
    gen = MlxGenerator(tiny_model, 24, 6, ["pod-restart"], label="tiny")
    bruno = Bruno(settings, knowledge, generator=gen)
    items = list(bruno.stream("how do I fix a crash looping payments pod"))
    answer, chunks = items[-1], items[:-1]
    assert answer.generator == "mlx:tiny" and answer.intent == "knowledge"
    assert len(chunks) >= 2 and all(isinstance(c, str) for c in chunks)  # token by token
    hits = knowledge.kb.search("how do I fix a crash looping payments pod", 5, exclude_kind="incident").hits
    spans = {(h.path, h.start_line, h.end_line) for h in hits}
    assert all((c.path, c.start_line, c.end_line) in spans for c in answer.citations)
    if not answer.citations:
        assert "cites none of the retrieved passages" in answer.note


def test_stopping_the_iteration_stops_generation(tiny_model: Path) -> None:
    gen = MlxGenerator(tiny_model, 200, 0, [])
    hits = [Hit("/r/a.md", 1, 2, "h", 0.9, "text")]
    stream = gen.generate("q", hits)
    first = next(stream)
    stream.close()  # what the pane does when a newer question cancels the worker
    assert isinstance(first, str)


def test_a_model_that_cannot_load_gives_the_extractive_answer_and_why(knowledge: OneStore, settings, tmp_path: Path) -> None:
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{\"model_type\": \"no-such-architecture\"}")
    for path, why in ((tmp_path / "absent", "no MLX model at"), (tmp_path / "broken", "cannot load the MLX model at")):
        bruno = Bruno(settings, knowledge, generator=MlxGenerator(path, 16, 0, []))
        answer = bruno.ask("how do I fix a crash looping payments pod")
        assert answer.generator == "extractive" and answer.citations
        assert why in answer.note and "answered from the passages instead" in answer.note


def test_chat_mlx_model_setting_picks_the_mlx_generator(tiny_model: Path, knowledge: OneStore, settings) -> None:
    from sreconsole.services.chat import make_bruno

    configured = replace(settings, chat=replace(settings.chat, mlx_model=str(tiny_model), max_tokens=16))
    bruno = make_bruno(configured, knowledge)
    assert bruno.generator.name == f"mlx:{tiny_model.name}" and bruno.generator_problem == ""
    assert bruno.ask("how do I fix a crash looping payments pod").generator == f"mlx:{tiny_model.name}"
