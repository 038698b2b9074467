#!/usr/bin/env python3
"""LoRA tokens/s through sreconsole's pipeline runner vs the `mlx_lm lora` command, on the
same tiny model and data, in the same run.

The pipeline run (worker process, progress callback, cancellation hook between batches)
builds the demo-tiny llama and its data; then `python -m mlx_lm lora` trains the same base on
the same files with the same settings. Each side's tokens/s is the median of its reports
after the first (which includes compilation and warm-up). Run twice, alternating, to expose
order effects on this shared machine.

Run: ``.venv/bin/python bench/lora_overhead.py [--iters 200] [--rounds 2]``
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

BATCH, LAYERS, LR, REPORT = 4, 2, 2e-3, 10  # demo-tiny has 2 layers: LoRA on both


def pipeline_side(settings, iters: int) -> tuple[list[float], Path, Path]:
    from sreconsole.pipeline.runner import start_run, wait

    run = start_run(settings, "lora", params={
        "base": "demo-tiny", "iters": iters, "batch_size": BATCH, "num_layers": LAYERS, "lr": LR, "steps_per_report": REPORT,
        "max_rows": {"train": 200, "validation": 40, "test": 4}, "max_tokens": 8,
    })
    run = wait(settings, run.id, timeout_s=1800)
    if run.status != "succeeded":
        raise SystemExit(f"pipeline run {run.id} {run.status}: {run.error}")
    history = run.step("train").outputs["history"]
    tps = [h["tokens_per_s"] for h in history if "tokens_per_s" in h]
    return tps, Path(run.step("load base model").outputs["base"]), Path(run.step("prepare dataset").outputs["lora_data"])


def cli_side(base: Path, data: Path, iters: int, out: Path) -> list[float]:
    cmd = [sys.executable, "-m", "mlx_lm", "lora", "--model", str(base), "--train", "--data", str(data), "--iters", str(iters),
           "--batch-size", str(BATCH), "--num-layers", str(LAYERS), "--learning-rate", str(LR), "--steps-per-report", str(REPORT),
           "--steps-per-eval", str(iters), "--val-batches", "4", "--mask-prompt", "--adapter-path", str(out), "--max-seq-length", "512"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=1800)
    if proc.returncode != 0:
        raise SystemExit(f"mlx_lm lora failed:\n{proc.stderr[-2000:]}")
    # mlx-lm prints a coloured table: "iter  train_loss  tok/s  tokens" rows (val rows differ).
    text = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)
    rows = re.findall(r"^\s*\d+\s+[0-9.]+(?:\s+[^\d\s]+)?\s+([0-9.]+)\s+[0-9.]+k?\s*$", text, flags=re.M)
    return [float(x) for x in rows]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sreconsole-lora-bench-"))
    os.environ["SRECONSOLE_DATA_DIR"] = str(tmp)
    os.environ["SRECONSOLE_KNOWLEDGE_ENABLED"] = "0"
    empty = tmp / "corpus"
    empty.mkdir()
    os.environ["SRECONSOLE_CORPUS"] = str(empty)
    from sreconsole.config import load_settings

    settings = load_settings()
    print(f"# LoRA overhead — {date.today()} — {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"demo-tiny, batch {BATCH}, {args.iters} iterations, reports every {REPORT}")
    ours, theirs = [], []
    for n in range(args.rounds):
        tps, base, data = pipeline_side(settings, args.iters)
        ours.append(statistics.median(tps[1:] or tps))
        cli = cli_side(base, data, args.iters, tmp / f"cli-adapters-{n}")
        theirs.append(statistics.median(cli[1:] or cli))
        print(f"round {n + 1}: pipeline runner {ours[-1]:,.0f} tok/s   mlx_lm lora {theirs[-1]:,.0f} tok/s")
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"median: pipeline runner {a:,.0f} tok/s, mlx_lm lora {b:,.0f} tok/s -> overhead {(b - a) / b * 100:+.1f}% (goal <= 3%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
