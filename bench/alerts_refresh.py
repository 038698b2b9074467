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
            "labels": {"alertname": names[i % len(names)], "severity": severities[i % 4], "namespace": ns, "shard": f"s{i % 20:02d}",
                       "pod": f"svc-{i % 500}-7d9f8b6c4-{i:05d}", "container": "app", "job": "kube-state-metrics"},
            "annotations": {"summary": f"Pod {ns}/svc-{i % 500} has a problem number {i}", "runbook_url": "https://runbooks.example/x"},
            "endsAt": ends,
        })
    return out


async def run(url: str, cycles: int, profile: bool = False, no_naive: bool = False, triage: bool = True) -> None:
    from sreconsole.config import load_settings
    from sreconsole.tui.app import make_app
    from sreconsole.tui.panes.alerts import COLUMNS, AlertsPane, AlertTable

    settings = load_settings(overrides={"alertmanager.url": url, "poll_interval_s": 3600, "alertmanager.timeout_s": 180, "triage.enabled": triage})
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
        profiler = None
        if profile:
            from pyinstrument import Profiler

            profiler = Profiler(async_mode="disabled")
            profiler.start()
        overlapped = []  # per cycle: did the first triage pass (all 10,000 alerts new) still run?
        for _ in range(cycles):
            overlapped.append(pane._triaging)
            t0 = time.perf_counter()
            snapshot = await service.refresh()
            t1 = time.perf_counter()
            pane.show(snapshot)
            await pilot.pause()
            refresh.append(time.perf_counter() - t0)
            fetch_parse.append(t1 - t0)
        if profiler is not None:
            profiler.stop()
            print(profiler.output_text(unicode=False, color=False, show_all=False))
        # The same refresh with a server-side filter (Alertmanager's filter=) leaving 500 of
        # the 10,000, as the pane pushes an exact matcher; then back to everything.
        from sreconsole.domain.matchers import parse_filter

        server, server_fetch = [], []
        service.server_matchers = parse_filter('shard="s07"').matchers
        for _ in range(cycles):
            t0 = time.perf_counter()
            snapshot = await service.refresh()
            t1 = time.perf_counter()
            pane.show(snapshot)
            await pilot.pause()
            server.append(time.perf_counter() - t0)
            server_fetch.append(t1 - t0)
        server_rows = len(snapshot.alerts)
        service.server_matchers = ()
        pane.show(await service.refresh())
        await pilot.pause()
        # The naive way, in the same process and on the same data: a Textual DataTable
        # thrown away and refilled with every alert on every poll.
        from textual.widgets import DataTable

        naive_table = DataTable(id="naive")
        await pane.mount(naive_table)
        table.display = False
        for key, label, width in COLUMNS:
            naive_table.add_column(label, key=key, width=width)
        for _ in range(0 if no_naive else max(cycles // 2, 3)):
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
        async with httpx.AsyncClient(timeout=180) as client:
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
        proposals_seen = dict(pane.proposals)

    ms = lambda xs: f"median {statistics.median(xs) * 1000:.0f} ms, p95 {p95(xs) * 1000:.0f} ms"  # noqa: E731
    print(f"Alertmanager's own answer ({size_mb:.1f} MB, HTTP only): {ms(raw_http)}")
    print(f"refresh cycle (fetch+parse+diff+table+repaint): {ms(refresh)}  [fetch+parse alone: {ms(fetch_parse)}]")
    client_side = [r - f for r, f in zip(refresh, fetch_parse)]
    print(f"  of which diff+table+repaint (after the answer is parsed): {ms(client_side)}")
    steady = [c for c, o in zip(client_side, overlapped) if not o]
    during = [c for c, o in zip(client_side, overlapped) if o]
    if steady and during:
        print(f"    steady state (first triage pass over): {ms(steady)} (n={len(steady)}); "
              f"while the first pass over the alerts ran: {ms(during)} (n={len(during)})")
    print(f"server-side filter leaving {server_rows} of them: refresh cycle {ms(server)}  [fetch+parse alone: {ms(server_fetch)}]")
    print(f"  of which ours: {ms([r - f for r, f in zip(server, server_fetch)])}; "
          f"ratio whole cycle, everything / server-filtered (median): {statistics.median(refresh) / statistics.median(server):.1f}x")
    if naive:
        print(f"naive: DataTable rebuilt from scratch each poll:  {ms(naive)}")
        print(f"ratio naive / diffed (median): {statistics.median(naive) / statistics.median(refresh):.1f}x")
    print(f"filter keystroke to repaint: {ms(keystrokes)} (n={len(keystrokes)})")
    print(f"RE2 matcher filter to repaint: {ms(regex_keys)} (n={len(regex_keys)})")
    print(f"RSS: {rss0:.0f} MB before the first poll, {rss1:.0f} MB after; growth {rss1 - rss0:.0f} MB")
    print(f"  triage proposals made by then: {len(proposals_seen)}")


def tmux_keystrokes(url: str, text: str) -> list[float]:
    """Keystrokes timed from outside: the real CLI in tmux at 160x45 on the same
    Alertmanager; each key is sent with ``send-keys`` and timed until ``capture-pane`` shows
    the title for the filter typed so far (its count, not "filtering…")."""
    import shutil
    import subprocess
    import uuid

    if not shutil.which("tmux"):
        print("tmux not installed: keystrokes from outside skipped")
        return []
    sock = f"sreconsole-keys-{uuid.uuid4().hex[:8]}"
    env = f"env TERM=xterm-256color SRECONSOLE_DATA_DIR={os.environ['SRECONSOLE_DATA_DIR']} SRECONSOLE_ALERTMANAGER_TIMEOUT_S=180 SRECONSOLE_POLL_INTERVAL_S=3600"
    cmd = f"{env} {sys.executable} -m sreconsole --alertmanager {url}"
    tmux = ["tmux", "-L", sock]
    subprocess.run([*tmux, "-f", "/dev/null", "new-session", "-d", "-s", "k", "-x", "160", "-y", "45", cmd], check=True)

    def screen() -> str:
        return subprocess.run([*tmux, "capture-pane", "-p", "-t", "k"], capture_output=True, text=True).stdout

    def wait(cond, limit: float = 300.0) -> str:
        t = time.perf_counter()
        while True:
            shown = screen()
            if cond(shown):
                return shown
            if time.perf_counter() - t > limit:
                raise RuntimeError(f"tmux: not seen in {limit:.0f} s:\n{shown}")
            time.sleep(0.002)

    out = []
    try:
        wait(lambda s: "Alerts 10000" in s or "Alerts 10,000" in s)
        time.sleep(2)
        subprocess.run([*tmux, "send-keys", "-t", "k", "/"], check=True)
        time.sleep(0.5)
        typed = ""
        for ch in text:
            typed += ch
            title = f"matching {typed!r}"
            t0 = time.perf_counter()
            subprocess.run([*tmux, "send-keys", "-t", "k", "-l", ch], check=True)
            wait(lambda s: any(title in line and "filtering" not in line for line in s.splitlines()[:8]), 60)
            out.append(time.perf_counter() - t0)
    finally:
        subprocess.run([*tmux, "kill-server"], capture_output=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description="Alerts pane with 10,000 alerts")
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--no-naive", action="store_true", help="skip the DataTable rebuilt each poll (slow)")
    parser.add_argument("--no-tmux", action="store_true", help="skip the keystrokes timed from outside in tmux")
    parser.add_argument("--profile", action="store_true", help="pyinstrument over the refresh cycles (pip install pyinstrument)")
    parser.add_argument("--no-triage", action="store_true", help="triage.enabled = false: the pane without the proposal column's worker")
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
            print(f"triage: {'off' if args.no_triage else 'on'}")
            asyncio.run(run(am.url, args.cycles, args.profile, args.no_naive, triage=not args.no_triage))
            if not args.no_tmux:
                keys = tmux_keystrokes(am.url, "team-07 svc-1")
                if keys:
                    print(f"filter keystroke from outside (tmux send-keys to capture-pane, 160x45): median {statistics.median(keys) * 1000:.0f} ms, "
                          f"p95 {p95(keys) * 1000:.0f} ms (n={len(keys)}; each poll of capture-pane costs a few ms of its own)")
        finally:
            am.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
