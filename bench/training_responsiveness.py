#!/usr/bin/env python3
"""TUI responsiveness while a training run is active: key press to repaint, p50 and p95,
with no run and then with a TRM run training in its worker process, in the same session.

The app runs headless on the demo at 100x30 (Textual's pilot); the keys move the cursor in
the Alerts pane (`j` / `k`) and switch panes (`1`–`3`). Training runs in a separate process
(the pipeline's worker), so on this 2-core machine the two compete for CPU: that contention,
not the TUI's event loop, is what the second figure measures.

Run: ``.venv/bin/python bench/training_responsiveness.py [--keys 60]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path


def p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))]


async def keys(pilot, n: int) -> dict[str, list[float]]:
    """Cursor moves in the Alerts pane and pane switches, timed apart: a switch re-lays out
    a whole pane, a move repaints two rows."""
    out: dict[str, list[float]] = {"move": [], "switch": []}
    seq = ["j", "j", "k", "2", "3", "1", "j", "k"]
    for i in range(n):
        key = seq[i % len(seq)]
        t0 = time.perf_counter()
        await pilot.press(key)
        await pilot.pause()
        out["move" if key in "jk" else "switch"].append(time.perf_counter() - t0)
    return out


async def pilot_floor(n: int) -> list[float]:
    """The same measurement on a trivial app (one 20-row DataTable): what the pilot's press
    and pause cost by themselves, to subtract from the figures below."""
    from textual.app import App
    from textual.widgets import DataTable

    class Trivial(App):
        def compose(self):
            yield DataTable(cursor_type="row")

        def on_mount(self):
            table = self.query_one(DataTable)
            table.add_columns("a", "b")
            for i in range(20):
                table.add_row(str(i), "x" * 20)
            table.focus()

    out = []
    async with Trivial().run_test(size=(100, 30)) as pilot:
        for i in range(n):
            t0 = time.perf_counter()
            await pilot.press("down" if i % 2 else "up")
            await pilot.pause()
            out.append(time.perf_counter() - t0)
    return out


async def run(n: int) -> None:
    from sreconsole.config import load_settings
    from sreconsole.tui.app import make_app

    settings = load_settings()
    app = make_app(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        for _ in range(100):
            await pilot.pause(0.05)
            if app.polls:
                break
        idle = await keys(pilot, n)
        run = app.training_board.start(1000)
        for _ in range(600):
            await pilot.pause(0.1)
            r = app.training_board.store.get(run.id)
            if r is not None and r.step("train").status == "running" and (r.step("train").progress or 0) > 0:
                break
        busy = await keys(pilot, n)
        r = app.training_board.store.get(run.id)
        still = r.status == "running"
        app.training_board.cancel(run.id)
    ms = lambda xs: f"p50 {statistics.median(xs) * 1e3:6.1f} ms  p95 {p95(xs) * 1e3:6.1f} ms"  # noqa: E731
    floor = await pilot_floor(n)
    print(f"pilot floor (trivial app, same method):         {ms(floor)}")
    for kind in ("move", "switch"):
        print(f"{kind:6s} key to repaint, no run:                 {ms(idle[kind])}  (n={len(idle[kind])})")
        print(f"{kind:6s} key to repaint, TRM training in worker: {ms(busy[kind])}  (n={len(busy[kind])})")
    print(f"run still training at the end: {still}")
    over = p95(busy["move"]) - p95(floor)
    print(f"cursor move while training, p95 above the pilot floor: {over * 1e3:.1f} ms "
          f"-> goal p95 <= 50 ms {'met' if over <= 0.05 else 'NOT met'} (above the floor; the raw figure includes the pilot's own ~{statistics.median(floor) * 1e3:.0f} ms)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", type=int, default=60)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="sreconsole-bench-")
    os.environ["SRECONSOLE_DATA_DIR"] = tmp
    os.environ["SRECONSOLE_KNOWLEDGE_ENABLED"] = "0"
    os.environ["SRECONSOLE_TRIAGE_ENABLED"] = "0"
    os.environ["SRECONSOLE_DEMO_MODE"] = "1"
    empty = Path(tmp) / "corpus"
    empty.mkdir()
    os.environ["SRECONSOLE_CORPUS"] = str(empty)  # the shipped data: the run reaches training in seconds
    print(f"# training responsiveness — {date.today()} — {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    asyncio.run(run(args.keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())
