"""The LoRA pipeline on the real Gemma 3 270M (``--base gemma3-270m``), on CPU, with a few
iterations: the name resolves to the prepared model, mlx-lm fine-tunes it in a worker
process, the evaluation scores the seeds' criterion (the right command for held-out
alerts) with the catalog checker, and the fused model is what Bruno can load
(``chat.mlx_model = "run:<id>"``). GGUF export is mlx-lm's and covers llama-family models
only, so that step says so and is skipped.

Two iterations teach nothing; the figures of a longer run are in bench/README.md
(bench/gemma_lora.py). Here the rates are only checked to be computed from real answers.

The ``mlx[cpu]`` wheel bundles netlib's reference BLAS; where Debian's OpenBLAS is
installed (``libopenblas0-pthread``, in the Makefile's packages) the worker is started with
it preloaded, which makes a prompt-sized matrix product 27x faster (bench/mlx_blas.py). The test passes either way.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import GEMMA, gemma_missing, link_gemma

needs_gemma = pytest.mark.skipif(bool(gemma_missing()), reason=gemma_missing() or "the gemma extra is installed")

RUN_TIMEOUT_S = 1800
OPENBLAS = Path("/usr/lib/x86_64-linux-gnu/libopenblas.so.0")


@needs_gemma
def test_lora_fine_tunes_gemma_on_cpu(settings, gemma_data_dir: Path, tmp_path: Path, monkeypatch) -> None:
    from sreconsole.pipeline.runner import start_run, wait
    from sreconsole.pipeline.runs import RunStore
    from sreconsole.services.chat import resolve_mlx_model

    if OPENBLAS.is_file():
        monkeypatch.setenv("LD_PRELOAD", str(OPENBLAS))  # the worker inherits it
    link_gemma(gemma_data_dir, settings.data_path)
    corpus = tmp_path / "corpus"  # empty: the shipped runbook and scenario only
    corpus.mkdir()
    params = {"base": GEMMA, "corpus": str(corpus), "iters": 2, "batch_size": 1, "num_layers": 2, "rank": 4,
              "max_seq_length": 256, "steps_per_report": 1, "val_batches": 1, "max_tokens": 12,
              "max_rows": {"train": 4, "validation": 2, "test": 2}}
    run = wait(settings, start_run(settings, "lora", params=params).id, RUN_TIMEOUT_S)
    store = RunStore(settings.data_path)
    try:
        assert run.status == "succeeded", (run.error, store.tail_log(run.id)[-40:])
        base = run.step("load base model").outputs
        assert base["model_type"] == "gemma3_text" and base["demo"] is False and base["parameters"] > 260_000_000
        assert Path(base["base"]).resolve() == (gemma_data_dir / "models" / "llm" / GEMMA).resolve()

        trained = run.step("train").outputs
        assert 0 < trained["trainable_parameters"] < 5_000_000  # rank-4 adapters on 2 layers, not the model
        losses = [h["loss"] for h in trained["history"] if "loss" in h]
        assert len(losses) == 2 and all(math.isfinite(x) and x > 0 for x in losses)

        metrics = run.metrics
        assert metrics["test_n"] == 2
        for key in ("valid_action_rate", "safety_rate", "exact_match"):
            assert 0.0 <= metrics[key] <= 1.0
        rows = [json.loads(line) for line in (store.run_dir(run.id) / "eval_answers.jsonl").read_text().splitlines()]
        assert len(rows) == 2 and all(r["expected"].startswith("action: ") for r in rows)

        exported = run.step("export for Ollama")
        assert exported.status == "skipped" and "gemma3_text" in exported.message
        assert (Path(exported.outputs["fused"]) / "config.json").is_file()
    finally:
        store.close()

    chat = replace(settings, chat=replace(settings.chat, mlx_model=f"run:{run.id}"))
    path, adapters, label = resolve_mlx_model(chat)
    assert path == Path(exported.outputs["fused"]) and adapters is None and label == f"run {run.id}"


def test_an_unprepared_base_fails_in_words(settings, tmp_path: Path) -> None:
    from sreconsole.pipeline.runner import start_run, wait

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    run = wait(settings, start_run(settings, "lora", params={"base": GEMMA, "corpus": str(corpus)}).id, RUN_TIMEOUT_S)
    assert run.status == "failed" and run.error.startswith("load base model: ")
    assert f"sreconsole models prepare {GEMMA}" in run.error
