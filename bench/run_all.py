#!/usr/bin/env python3
"""``make bench``: every benchmark in one go, and a dated section appended to bench/README.md.

Each script runs as its own process, one after the other, with the arguments below; its
output is kept as it printed it. The section records the date, the machine (CPUs, model,
Python), the load average before and after each script and whether the machine was quiet
(load average under half the CPUs throughout): figures from a loaded machine say little on
their own, ratios measured side by side in one script say more. Old sections are never
touched: the history of a figure is how a regression is seen.

Run: ``.venv/bin/python bench/run_all.py [--only startup,alerts] [--no-write]``
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

BENCHES = [
    ("startup", ["startup.py", "--runs", "7"], "start-up, ours against a trivial Textual app alternating in tmux 80x24; idle RSS"),
    ("alerts", ["alerts_refresh.py", "--cycles", "9"], "10,000 alerts: refresh, server-side filter, keystrokes (pilot and tmux), RSS"),
    ("review", ["review_decisions.py", "--storm", "300", "--per-writer", "100"], "review queue: 8 writers at 200/s beside an alert storm, a commit each vs group commit"),
    ("training", ["training_responsiveness.py", "--keys", "60"], "cursor moves and pane switches while training, beside a trivial app's floor"),
    ("kb", ["kb_speed.py", "--chunks", "100000"], "knowledge base at 100,000 chunks beside ChromaDB (needs the bench extra)"),
]


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            return next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated names: " + ",".join(n for n, *_ in BENCHES))
    parser.add_argument("--no-write", action="store_true", help="print, do not append to bench/README.md")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds one script may take")
    args = parser.parse_args()
    only = {n.strip() for n in args.only.split(",") if n.strip()}
    cpus = os.cpu_count() or 1
    stamp = time.strftime("%Y-%m-%d %H:%M %Z")
    machine = f"{cpus}-core {platform.machine()} ({cpu_model()}), Python {platform.python_version()}, {platform.node()}"
    rows, blocks, quiet_all = [], [], True
    for name, argv, what in BENCHES:
        if only and name not in only:
            continue
        before = os.getloadavg()[0]
        t0 = time.time()
        try:
            done = subprocess.run([sys.executable, str(HERE / argv[0]), *argv[1:]], capture_output=True, text=True, timeout=args.timeout, cwd=HERE.parent)
            out, rc = done.stdout + (done.stderr[-3000:] if done.returncode else ""), done.returncode
        except subprocess.TimeoutExpired as exc:
            out, rc = (exc.stdout or b"").decode() if isinstance(exc.stdout, bytes) else (exc.stdout or ""), "timeout"
        after = os.getloadavg()[0]
        quiet = max(before, after) < cpus / 2
        quiet_all &= quiet
        took = time.time() - t0
        status = "ok" if rc == 0 else f"failed ({rc})"
        rows.append(f"| {stamp} | {name} | `bench/{' '.join(argv)}` | {status}, {took:.0f} s | {before:.1f} → {after:.1f} | {'quiet' if quiet else '**not quiet**'} |")
        blocks.append(f"**{name}** ({what}):\n\n```\n{out.strip()[-6000:]}\n```\n")
        print(f"== {name}: {status} in {took:.0f} s, load {before:.1f} -> {after:.1f}", flush=True)
        print(out, flush=True)
    section = "\n".join([
        "",
        f"### `make bench`, {stamp}",
        "",
        f"Machine: {machine}; {'quiet' if quiet_all else '**not quiet** (load average at or above half the CPUs during some scripts)'}.",
        "",
        "| date | bench | command | result | load avg before → after | quiet? |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        *blocks,
    ])
    if not args.no_write:
        readme = HERE / "README.md"
        text = readme.read_text()
        marker = "## Runs of `make bench`"
        if marker not in text:
            text += f"\n{marker}\n\nAppended by `make bench` (`bench/run_all.py`), newest last; earlier sections are kept as they were.\n"
        readme.write_text(text + section)
        print(f"appended to {readme}")
    else:
        print(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
