#!/usr/bin/env python3
"""How much Debian's OpenBLAS speeds up MLX's CPU matrix products over the BLAS that the
``mlx[cpu]`` wheel bundles (netlib's reference implementation), at the shapes Gemma 3 270M
uses: one token through a 640 x 2048 MLP projection (decode) and 256 tokens through it
(a prompt's prefill, a LoRA batch).

The script runs itself twice in child processes, once plainly and once with
``LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libopenblas.so.0``, alternating ``--rounds`` times,
and prints the median time per product of each and their ratio.

Run: ``.venv/bin/python bench/mlx_blas.py [--rounds 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

OPENBLAS = "/usr/lib/x86_64-linux-gnu/libopenblas.so.0"
SHAPES = {"decode 1x640 @ 640x2048": (1, 640, 2048), "prefill 256x640 @ 640x2048": (256, 640, 2048)}


def child() -> None:
    import mlx.core as mx

    out = {"openblas": "openblas" in Path("/proc/self/maps").read_text()}
    for name, (m, k, n) in SHAPES.items():
        a, b = mx.random.normal((m, k)), mx.random.normal((k, n))
        mx.eval(a @ b)
        reps, t = 0, time.perf_counter()
        while reps < 3 or time.perf_counter() - t < 1.0:
            mx.eval(a @ b)
            reps += 1
        out[name] = (time.perf_counter() - t) / reps
    print(json.dumps(out))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child()
        return 0
    if not Path(OPENBLAS).is_file():
        raise SystemExit(f"{OPENBLAS} is missing: apt-get install libopenblas0-pthread")
    runs: dict[str, list[dict]] = {"bundled": [], "openblas": []}
    for _ in range(args.rounds):
        for kind in runs:
            env = dict(os.environ, LD_PRELOAD=OPENBLAS) if kind == "openblas" else {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
            done = subprocess.run([sys.executable, __file__, "--child"], env=env, capture_output=True, text=True, check=True)
            result = json.loads(done.stdout)
            assert result["openblas"] == (kind == "openblas"), result
            runs[kind].append(result)
    print(f"# MLX CPU BLAS — {date.today()} — {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, {args.rounds} rounds")
    for name in SHAPES:
        plain = statistics.median(r[name] for r in runs["bundled"])
        fast = statistics.median(r[name] for r in runs["openblas"])
        print(f"{name}: bundled {plain * 1e3:.2f} ms, OpenBLAS {fast * 1e3:.2f} ms -> {plain / fast:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
