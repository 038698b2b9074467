#!/usr/bin/env python3
"""Refresh cost of several clusters in one list: 3 clusters x 3,000 alerts next to 1 x 3,000.

Real Alertmanagers (tests/harness.py) on loopback, each posted 3,000 alerts. Measures the
service's refresh (fetch from every Alertmanager at once, parse, merge, health), median
and p95 over --cycles, for:
* one cluster, one Alertmanager, 3,000 alerts (the single-cluster figure);
* three clusters, one Alertmanager each, 3,000 alerts each (9,000 rows);
* three clusters, the first an HA pair posted the same 3,000 alerts (4 Alertmanagers,
  9,000 rows after deduplication).
The TUI's own cost per row is in bench/alerts_refresh.py.

Needs `prometheus-alertmanager` (Debian). Run: .venv/bin/python bench/clusters_refresh.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from alerts_refresh import make_alerts, p95  # noqa: E402
from harness import Alertmanager  # noqa: E402


def config(path: Path, clusters: list[tuple[str, list[str]]]) -> Path:
    lines = []
    for name, urls in clusters:
        lines += ["[[clusters]]", f'name = "{name}"', f"alertmanager.urls = {json.dumps(urls)}", "alertmanager.timeout_s = 30"]
    path.write_text("\n".join(lines) + "\n")
    return path


async def measure(cfg: Path, cycles: int) -> tuple[float, float, int]:
    from sreconsole.config import load_settings
    from sreconsole.services.alerts import AlertsService
    from sreconsole.services.environment import build_alert_source

    service = AlertsService(build_alert_source(load_settings(cfg)))
    times = []
    rows = 0
    try:
        for _ in range(cycles + 1):
            start = time.perf_counter()
            snapshot = await service.refresh()
            times.append((time.perf_counter() - start) * 1000)
            assert not snapshot.error, snapshot.error
            rows = len(snapshot.alerts)
    finally:
        await service.aclose()
    times = times[1:]  # the first poll parses everything; later ones reuse unchanged alerts
    return statistics.median(times), p95(times), rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=3000)
    parser.add_argument("--cycles", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        ams = [Alertmanager(base / f"am{i}") for i in range(4)]
        for am in ams:
            am.start()
        try:
            alerts = make_alerts(args.alerts)
            for am in ams:
                am.post_alerts(alerts)
            time.sleep(2)
            cases = [
                ("1 cluster x 3,000", [("one", [ams[0].url])]),
                ("3 clusters x 3,000", [("a", [ams[0].url]), ("b", [ams[1].url]), ("c", [ams[2].url])]),
                ("3 clusters x 3,000, one an HA pair", [("a", [ams[0].url, ams[3].url]), ("b", [ams[1].url]), ("c", [ams[2].url])]),
            ]
            for label, clusters in cases:
                cfg = config(base / "c.toml", clusters)
                if len(clusters) == 1:  # the flat keys, as a single-cluster set-up has them
                    cfg.write_text(f'[alertmanager]\nurl = "{clusters[0][1][0]}"\ntimeout_s = 30\n')
                median, high, rows = asyncio.run(measure(cfg, args.cycles))
                print(f"{label}: refresh median {median:.0f} ms, p95 {high:.0f} ms, {rows} rows", flush=True)
        finally:
            for am in ams:
                am.stop()


if __name__ == "__main__":
    main()
