#!/usr/bin/env python3
"""Alerts pane at scale: 10,000 active alerts in a real Alertmanager.

Measures, headless at 160x45, median and p95 over --cycles:
* one refresh cycle: fetch from Alertmanager, parse, diff, update the table, repaint;
* one filter keystroke: key press to repaint;
* RSS growth of the process from before the first poll to the end;
and, in the same run, the same refresh done by rebuilding the table from scratch on every
poll (the naive approach), reported as a ratio.

Needs `prometheus-alertmanager` (Debian). Run: .venv/bin/python bench/alerts_refresh.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from harness import Alertmanager  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:")) / 1024


def p95(values: list[float]) -> float:
    values = sorted(values)
    return values[min(int(len(values) * 0.95), len(values) - 1)]


def make_alerts(n: int) -> list[dict]:
    names = ["KubePodCrashLooping", "KubePodNotReady", "HighErrorRate", "KubeDeploymentReplicasMismatch", "NodeFilesystemSpaceFillingUp",
             "KubePersistentVolumeFillingUp", "TargetDown", "ContainerOOMKilled", "KubeHpaMaxedOut", "CPUThrottlingHigh"]
    severities = ["critical", "warning", "warning", "info"]
    # Firing for two hours: without endsAt Alertmanager resolves them after its
    # resolve_timeout (5 min), which a slow run on a loaded machine outlasts.
    ends = (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat()
    out = []
    for i in range(n):
        ns = f"team-{i % 40:02d}"
        out.append({
            "labels": {"alertname": names[i % len(names)], "severity": severities[i % 4], "namespace": ns,
                       "pod": f"svc-{i % 500}-7d9f8b6c4-{i:05d}", "container": "app", "job": "kube-state-metrics"},
            "annotations": {"summary": f"Pod {ns}/svc-{i % 500} has a problem number {i}", "runbook_url": "https://runbooks.example/x"},
            "endsAt": ends,
        })
    return out


async def run(url: str, cycles: int) -> None:
    from sreconsole.config import load_settings
    from sreconsole.tui.app import make_app
    from sreconsole.tui.panes.alerts import COLUMNS, AlertsPane, AlertTable

    settings = load_settings(overrides={"alertmanager.url": url, "poll_interval_s": 3600, "alertmanager.timeout_s": 30})
    app = make_app(settings)
    rss0 = rss_mb()
    async with app.run_test(size=(160, 45)) as pilot:
        while app.polls < 1:
            await pilot.pause(0.05)
        pane = app.query_one(AlertsPane)
        table = app.query_one(AlertTable)
        service = app.alerts_service
        print(f"alerts in the pane: {len(pane.snapshot.alerts)}; table rows: {table.row_count}")

        refresh, naive, fetch_parse = [], [], []
        for _ in range(cycles):
            t0 = time.perf_counter()
            snapshot = await service.refresh()
            t1 = time.perf_counter()
            pane.show(snapshot)
            await pilot.pause()
            refresh.append(time.perf_counter() - t0)
            fetch_parse.append(t1 - t0)
        # The naive way, in the same process and on the same data: a Textual DataTable
        # thrown away and refilled with every alert on every poll.
        from textual.widgets import DataTable

        naive_table = DataTable(id="naive")
        await pane.mount(naive_table)
        table.display = False
        for key, label, width in COLUMNS:
            naive_table.add_column(label, key=key, width=width)
        for _ in range(max(cycles // 2, 3)):
            t0 = time.perf_counter()
            snapshot = await service.refresh()
            naive_table.clear()
            now = snapshot.fetched_at
            for alert in snapshot.alerts:
                naive_table.add_row(*pane._row(alert, now), key=alert.fingerprint)
            await pilot.pause()
            naive.append(time.perf_counter() - t0)
        await naive_table.remove()
        table.display = True
        table.focus()

        import httpx

        raw_http = []
        async with httpx.AsyncClient(timeout=30) as client:
            for _ in range(cycles):
                t0 = time.perf_counter()
                response = await client.get(f"{url}/api/v2/alerts")
                raw_http.append(time.perf_counter() - t0)
        size_mb = len(response.content) / 1e6

        keystrokes = []
        await pilot.press("slash")
        async def shown() -> None:
            # A filter too large for the event loop runs in a thread: wait for its rows.
            await pilot.pause()
            while pane.filtering:
                await pilot.pause(0.002)

        for ch in "team-07 svc-1":
            t0 = time.perf_counter()
            await pilot.press(ch if ch != " " else "space")
            await shown()
            keystrokes.append(time.perf_counter() - t0)
        for _ in range(len("team-07 svc-1")):
            t0 = time.perf_counter()
            await pilot.press("backspace")
            await shown()
            keystrokes.append(time.perf_counter() - t0)
        regex_keys = []
        for text in ('rx=~"(A+)+B"', 'namespace=~"team-0[0-9]"', 'namespace=~"team-07" pod=~".*svc-1.*"'):
            t0 = time.perf_counter()
            app.query_one("#alerts-filter").value = text
            await shown()
            regex_keys.append(time.perf_counter() - t0)
        app.query_one("#alerts-filter").value = ""
        rss1 = rss_mb()

    ms = lambda xs: f"median {statistics.median(xs) * 1000:.0f} ms, p95 {p95(xs) * 1000:.0f} ms"  # noqa: E731
    print(f"Alertmanager's own answer ({size_mb:.1f} MB, HTTP only): {ms(raw_http)}")
    print(f"refresh cycle (fetch+parse+diff+table+repaint): {ms(refresh)}  [fetch+parse alone: {ms(fetch_parse)}]")
    client_side = [r - f for r, f in zip(refresh, fetch_parse)]
    print(f"  of which diff+table+repaint (after the answer is parsed): {ms(client_side)}")
    print(f"naive: DataTable rebuilt from scratch each poll:  {ms(naive)}")
    print(f"ratio naive / diffed (median): {statistics.median(naive) / statistics.median(refresh):.1f}x")
    print(f"filter keystroke to repaint: {ms(keystrokes)} (n={len(keystrokes)})")
    print(f"RE2 matcher filter to repaint: {ms(regex_keys)} (n={len(regex_keys)})")
    print(f"RSS: {rss0:.0f} MB before the first poll, {rss1:.0f} MB after; growth {rss1 - rss0:.0f} MB")


def main() -> int:
    parser = argparse.ArgumentParser(description="Alerts pane with 10,000 alerts")
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--cycles", type=int, default=10)
    args = parser.parse_args()
    os.environ.setdefault("SRECONSOLE_DATA_DIR", tempfile.mkdtemp(prefix="sreconsole-bench-"))
    with tempfile.TemporaryDirectory() as tmp:
        am = Alertmanager(Path(tmp) / "am")
        am.start()
        try:
            alerts = make_alerts(args.alerts)
            for i in range(0, len(alerts), 1000):
                am.post_alerts(alerts[i : i + 1000])
            print(f"posted {len(alerts)} alerts to Alertmanager {am.url}")
            asyncio.run(run(am.url, args.cycles))
        finally:
            am.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
