#!/usr/bin/env python3
"""The seeds' success criterion for a LoRA fine-tune of Gemma 3 270M on this CPU: the right
command for held-out alerts (> 80 % in agent-sre-finetuning-report.md).

One ``pipeline run --model lora --base gemma3-270m`` in a worker process, as an operator
would start it (the steps, the split and the checker are the pipeline's), then, from the
run's ``eval_answers.jsonl`` on the held-out test split:

- **exact**: the answer line equals the reference ``action: <id> <param>=<value> ...``;
- **right action**: the action id is the reference's (parameters aside);
- **valid** / **safe**: the pipeline's catalog checker (:func:`judge_answer`);
- the floor, in the same run: always answering the training split's most common action
  (the majority baseline), scored the same way.

``--openblas`` preloads Debian's OpenBLAS into the worker (``LD_PRELOAD``): the ``mlx[cpu]``
wheel bundles netlib's reference BLAS, and a prompt-sized matrix product is 27x faster with
OpenBLAS here (bench/mlx_blas.py).

Run: ``.venv/bin/python bench/gemma_lora.py --iters 60 --openblas [--data-dir DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OPENBLAS = Path("/usr/lib/x86_64-linux-gnu/libopenblas.so.0")
MODEL = "gemma3-270m"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iters", type=int, default=60)
    ap.add_argument("--batch-size", type=int, default=1)
    ap.add_argument("--num-layers", type=int, default=4, help="LoRA on the top N layers")
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--max-seq-length", type=int, default=256)
    ap.add_argument("--train-rows", type=int, default=200)
    ap.add_argument("--test-rows", type=int, default=20)
    ap.add_argument("--openblas", action="store_true", help=f"LD_PRELOAD {OPENBLAS} into the worker")
    ap.add_argument("--data-dir", help="a data dir with the prepared model (default: a temporary one, prepared here)")
    ap.add_argument("--timeout", type=float, default=3600)
    args = ap.parse_args()

    data = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="sreconsole-gemma-lora-")) / "data"
    os.environ["SRECONSOLE_DATA_DIR"] = str(data)
    if args.openblas:
        if not OPENBLAS.is_file():
            raise SystemExit(f"{OPENBLAS} is missing: apt-get install libopenblas0-pthread")
        os.environ["LD_PRELOAD"] = str(OPENBLAS)
    sys.path.insert(0, str(ROOT / "src"))
    from sreconsole.config import load_settings
    from sreconsole.models.prepare import prepare
    from sreconsole.pipeline.lora import judge_answer
    from sreconsole.pipeline.runner import start_run, wait
    from sreconsole.pipeline.runs import RunStore
    from sreconsole.triage.catalog import load_catalog

    prepare(data, MODEL)
    settings = load_settings()
    params = {"base": MODEL, "iters": args.iters, "batch_size": args.batch_size, "num_layers": args.num_layers,
              "rank": args.rank, "lr": args.lr, "max_seq_length": args.max_seq_length, "max_tokens": 24,
              "steps_per_report": max(1, args.iters // 10), "val_batches": 2,
              "max_rows": {"train": args.train_rows, "validation": 8, "test": args.test_rows}}
    t0 = time.perf_counter()
    run = wait(settings, start_run(settings, "lora", params=params).id, args.timeout)
    took = time.perf_counter() - t0
    store = RunStore(settings.data_path)
    try:
        if run.status != "succeeded":
            print("\n".join(store.tail_log(run.id)[-30:]))
            raise SystemExit(f"run {run.id} {run.status}: {run.error}")
        run_dir = store.run_dir(run.id)
    finally:
        store.close()
    catalog = load_catalog()
    rows = [json.loads(line) for line in (run_dir / "eval_answers.jsonl").read_text().splitlines()]
    train = [json.loads(line) for line in (run_dir / "lora-data" / "train.jsonl").read_text().splitlines()]

    def action(line: str) -> str:
        parts = line.split()
        return parts[1] if len(parts) > 1 and parts[0] == "action:" else ""

    majority_line = Counter(r["completion"] for r in train).most_common(1)[0][0]
    majority_action = Counter(action(r["completion"]) for r in train).most_common(1)[0][0]
    n = len(rows)
    exact = sum(r["answer"] == r["expected"] for r in rows)
    right_action = sum(action(r["answer"]) == action(r["expected"]) for r in rows)
    verdicts = [judge_answer(r["answer"], catalog) for r in rows]
    floor_exact = sum(r["expected"] == majority_line for r in rows)
    floor_action = sum(action(r["expected"]) == majority_action for r in rows)
    train_step = run.step("train").outputs
    losses = [h["loss"] for h in train_step["history"] if "loss" in h]
    steps = {s.name: s for s in run.steps}
    seconds = {name: round((s.finished_at - s.started_at).total_seconds()) for name, s in steps.items() if s.started_at and s.finished_at}
    print(f"# Gemma LoRA — {date.today()} — {platform.node()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, "
          f"OpenBLAS {'preloaded' if args.openblas else 'not preloaded (mlx[cpu] reference BLAS)'}")
    print(f"run {run.id}: {args.iters} iterations, batch {args.batch_size}, LoRA rank {args.rank} on {args.num_layers} layers, "
          f"lr {args.lr:g}, {len(train)} train rows; {took / 60:.1f} min in all; steps (s): {seconds}")
    print(f"loss {losses[0]:.3f} -> {losses[-1]:.3f}; {train_step.get('trainable_parameters', 0):,} trainable parameters")
    print(f"held-out test rows: {n}")
    print(f"exact command: {exact}/{n} = {exact / n:.2f}   | majority floor ({majority_line!r}): {floor_exact}/{n} = {floor_exact / n:.2f}")
    print(f"right action:  {right_action}/{n} = {right_action / n:.2f}   | majority floor ({majority_action}): {floor_action}/{n} = {floor_action / n:.2f}")
    print(f"valid actions: {sum(v.valid for v in verdicts)}/{n}; safe: {sum(v.safe for v in verdicts)}/{n}   (seed's goal: > 0.80 correct)")
    for r in rows[:5]:
        print(f"  expected {r['expected']!r}\n  answered {r['answer']!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
