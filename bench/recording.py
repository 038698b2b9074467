#!/usr/bin/env python3
"""Session recordings (``--record``): what a poll costs to write, how big a night gets, and
how long a replay takes to read its file.

Polls the embedded demo cluster (the alerts the demo shows: 12 or so) with a clock moved
by hand, ``--polls`` times at the demo's poll interval, into a recording through the same
``AlertsService`` hook the console uses, and times each ``Recorder.poll`` call (scrubbing,
JSON, gzip sync flush). Then reads the file back with ``read_recording`` (what ``replay``
and ``eval triage --from-recording`` do first). ``--alerts N`` pads each poll with N more
synthetic alerts of the demo's shape, for a busier cluster.

Run: .venv/bin/python bench/recording.py [--polls 600] [--alerts 0]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from sreconsole.config import load_settings  # noqa: E402
from sreconsole.domain.alerts import fingerprint  # noqa: E402
from sreconsole.services.alerts import AlertsService  # noqa: E402
from sreconsole.services.environment import build_alert_source, poll_interval  # noqa: E402
from sreconsole.services.recording import open_recorder, read_recording  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", type=int, default=600)
    parser.add_argument("--alerts", type=int, default=0, help="synthetic alerts added to each poll")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(overrides={"demo_mode": True, "data_dir": tmp})
        now = [datetime(2026, 12, 3, 2, 0, tzinfo=timezone.utc)]
        clock = lambda: now[0]  # noqa: E731
        path = Path(tmp) / "night.jsonl.gz"
        recorder = open_recorder(path, settings, clock)
        interval = poll_interval(settings)
        costs: list[float] = []
        padding: list = []
        first_size: list[int] = []

        class Timed:
            """The recorder, timed around each poll it is given."""

            enabled = True

            def poll(self, snapshot):
                if args.alerts:
                    # Built once from the first poll's first alert: the padding stays the
                    # same from poll to poll, as most of a large cluster's alerts do.
                    if not padding:
                        base = snapshot.alerts[0]
                        padding.extend(
                            replace(base, labels={**base.labels, "pod": f"{base.labels.get('pod', 'p')}-{i}"},
                                    fingerprint=fingerprint({**base.labels, "pod": f"x-{i}"}))
                            for i in range(args.alerts)
                        )
                    extra = tuple(padding)
                    snapshot = replace(snapshot, alerts=snapshot.alerts + extra)
                t = time.perf_counter()
                recorder.poll(snapshot)
                costs.append(time.perf_counter() - t)
                if len(costs) == 1:
                    first_size.append(path.stat().st_size)  # flushed: on disk already

        async def run():
            service = AlertsService(build_alert_source(settings, clock, now[0] - timedelta(minutes=10)), clock)
            service.recorder = Timed()
            for _ in range(args.polls):
                await service.refresh()
                now[0] += timedelta(seconds=interval)

        asyncio.run(run())
        recorder.close()
        size = path.stat().st_size
        t = time.perf_counter()
        recording = read_recording(path)
        read_s = time.perf_counter() - t
        alerts = len(recording.of_kind("poll")[-1].alerts())
        minutes = args.polls * interval / 60
        costs.sort()
        print(f"{args.polls} polls of {alerts} alerts, one every {interval:g} s ({minutes:.0f} recorded minutes)")
        print(f"Recorder.poll: {statistics.median(costs) * 1000:.2f} ms median, {costs[int(len(costs) * 0.95)] * 1000:.2f} ms p95, {costs[-1] * 1000:.1f} ms max (the first poll: every alert new)")
        rest = (size - first_size[0]) / max(minutes - interval / 60, 1e-9)
        print(f"file: {size / 1024:.0f} KiB: the first poll {first_size[0] / 1024:.0f} KiB, then {rest / 1024:.1f} KiB per recorded minute")
        print(f"read_recording: {read_s * 1000:.0f} ms for {len(recording.events)} events")


if __name__ == "__main__":
    main()
