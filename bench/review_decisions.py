#!/usr/bin/env python3
"""Review store decisions: throughput and latency with several operator processes.

Each writer is a separate process with its own ReviewStore on one shared SQLite file (WAL),
exactly as operators on a bastion host run it. Modes:

* ``1 writer``: one process decides N proposals;
* ``8 writers, distinct``: eight processes each decide their own N proposals;
* ``8 writers, contended``: eight processes all try to decide the same N proposals (one
  wins each, seven get AlreadyDecided) — the worst case for the write lock.

Each mode runs twice: *saturated* (every writer decides as fast as it can: the capacity)
and *paced* (the writers together offer ``--rate`` decisions/s, open loop, each writer on
its own schedule: the latency an operator sees at that load).

Latency of one decide() call, in the calling process (lock wait + transaction + audit entry
+ fsync + re-read of the record); paced, it is measured from the call's *scheduled* time, so
a writer that falls behind is charged for it. Throughput: successful decisions divided by
the time from the common start to the last writer's end. Run for each ``synchronous``
setting asked for (FULL is the store's default).

Each decision also checks the pending row against the seal of its newest audit entry and
seals the approved content (schema 2). ``--variants`` adds the optional anchoring: ``keyed``
(an HMAC on every entry, ``review.audit_key_file``) with a witness file (one fsynced
``seq hash`` line per entry, ``review.audit_witness``).

Goal (issue 6): >= 200 decisions/s with 8 writers, p99 <= 20 ms.

``--backends sqlite,postgresql`` runs every mode on both stores, side by side: PostgreSQL is
a real server from Debian's package started by tests/pgharness.py (its own data directory,
a Unix socket, peer authentication, ``fsync=on`` as the SQLite FULL rows), a fresh database
per mode made by ``review init-db``, each writer its own login role (bench0 … bench7), so
every decision goes through the SECURITY DEFINER append function and its advisory lock. The
``sync`` column reads ``fsync`` for PostgreSQL (SQLite's synchronous setting does not apply).

``--cpu`` measures instead the CPU time one ``decide()`` costs in one process (``process_time``,
which other jobs on the machine disturb far less than wall time): run it with
``PYTHONPATH`` at another checkout (``--variants plain``) to compare two versions.

Run: .venv/bin/python bench/review_decisions.py [--per-writer 250] [--synchronous FULL,NORMAL] [--variants plain,keyed] [--cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path


def _proposal(fp: str):
    from sreconsole.domain.alerts import Alert
    from sreconsole.domain.proposal import EvidenceItem, Proposal

    labels = {"alertname": "KubePodCrashLooping", "namespace": "payments", "pod": f"api-{fp}", "severity": "critical"}
    alert = Alert(fp, labels, {"summary": "pod restarts", "description": "restarts 5 times in 10 minutes"},
                  starts_at=datetime(2026, 11, 23, tzinfo=timezone.utc))
    proposal = Proposal(
        fp, "KubePodCrashLooping", "pod-restart", "Restart the pod", {"namespace": "payments", "pod": f"api-{fp}"},
        f"kubectl -n payments delete pod api-{fp}", {"method": "DELETE", "path": f"/api/v1/namespaces/payments/pods/api-{fp}"},
        0.62, "trm+rag", True, ("low confidence",), "low", False,
        (EvidenceItem("runbook", "RUNBOOK.md:10-20", "restart it", "pod-restart", 0.8),
         EvidenceItem("incident", "incident:42", "same last week", "pod-restart", 0.5)),
        "trm-bench",
    )
    return proposal, alert


KEY = b"bench-key-0123456789abcdef"


def _options(path: str, variant: str) -> dict:
    if variant == "keyed":
        if path.startswith("postgresql://"):
            return {"audit_key": KEY}  # the witness file is the SQLite store's anchor
        return {"audit_key": KEY, "witness": f"{path}.witness"}
    return {}


_PG = None


def _postgres():
    """One real PostgreSQL server for the whole run (tests/pgharness.py)."""
    global _PG
    if _PG is None:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from pgharness import Postgres

        _PG = Postgres(tuple(f"bench{n}" for n in range(8)), fsync=True).start()
    return _PG


def _location(tmp: str, backend: str) -> tuple[str, callable]:
    """Where the store is (for setting up), and where writer ``me`` opens it."""
    if backend == "sqlite":
        path = str(Path(tmp) / "review.sqlite")
        return path, lambda me: path
    from sreconsole.review.pg_backend import init_db

    pg = _postgres()
    db = pg.new_database()
    init_db(pg.dsn(database=db), operators=[f"bench{n}" for n in range(8)])
    return pg.dsn(database=db), lambda me: pg.dsn(f"bench{me}", db)


def worker(path: str, go: str, me: int, ids: list[int], synchronous: str, interval: float, phase: float, variant: str) -> None:
    from sreconsole.domain.operator import Operator
    from sreconsole.review.store import AlreadyDecided, ReviewStore

    store = ReviewStore(path, busy_timeout_s=60, synchronous=synchronous, **_options(path, variant))  # a file or a postgresql:// URI
    op = Operator(f"bench{me}", f"10.0.2.{me}")
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.001)
    won, lost, lat_won, lat_all = 0, 0, [], []
    start = time.time()
    t0 = time.perf_counter() + phase
    for n, pid in enumerate(ids):
        t = time.perf_counter()
        if interval:
            due = t0 + n * interval
            if due > t:
                time.sleep(due - t)
            t = due
        try:
            store.decide(pid, "approved" if (n + me) % 2 else "rejected", op, f"bench {me}")
            won += 1
            ok = True
        except AlreadyDecided:
            lost += 1
            ok = False
        dt = time.perf_counter() - t
        lat_all.append(dt)
        if ok:
            lat_won.append(dt)
    end = time.time()
    store.close()
    print(json.dumps({"start": start, "end": end, "won": won, "lost": lost, "lat_won": lat_won, "lat_all": lat_all}), flush=True)


def storm(path: str, go: str, stop: str, synchronous: str, how: str, burst: int, every: float) -> None:
    """An alert storm beside the deciders: every ``every`` s one triage pass enqueues
    ``burst`` new proposals, one transaction each (``single``, as before group commit) or all
    in one (``group``, :meth:`ReviewStore.enqueue_many`)."""
    from sreconsole.review.store import ReviewStore

    store = ReviewStore(path, busy_timeout_s=60, synchronous=synchronous)
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.001)
    n, bursts, took = 0, 0, []
    while not os.path.exists(stop):
        t = time.perf_counter()
        pairs = [_proposal(f"storm-{n + k:07d}") for k in range(burst)]
        n += burst
        if how == "group":
            store.enqueue_many(pairs)
        else:
            for pair in pairs:
                store.enqueue(*pair)
        took.append(time.perf_counter() - t)
        bursts += 1
        time.sleep(max(every - took[-1], 0.0))
    store.close()
    print(json.dumps({"enqueued": n, "bursts": bursts, "burst_ms": 1000 * statistics.median(took) if took else 0}), flush=True)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(int(len(values) * q), len(values) - 1)]


def run_mode(writers: int, per_writer: int, contended: bool, synchronous: str, rate: float = 0.0, variant: str = "plain",
             storm_how: str = "", burst: int = 300, every: float = 1.0, backend: str = "sqlite") -> dict:
    from sreconsole.review.store import ReviewStore

    with tempfile.TemporaryDirectory() as tmp:
        path, writer_location = _location(tmp, backend)
        total = per_writer if contended else per_writer * writers
        t = time.perf_counter()
        with ReviewStore(path, synchronous=synchronous, **_options(str(path), variant)) as store:
            ids = [store.enqueue(*_proposal(f"fp-{n:06d}")).id for n in range(total)]
        enqueue_s = time.perf_counter() - t
        go = Path(tmp) / "go"
        procs = []
        # Paced: distinct writers share the offered rate; contended writers each attempt every
        # proposal, so the *decisions* (one per proposal) arrive at the offered rate.
        interval = (writers if not contended else 1) / rate if rate else 0.0
        for me in range(writers):
            mine = ids if contended else ids[me * per_writer:(me + 1) * per_writer]
            phase = 0.0 if contended else me * interval / writers
            procs.append(subprocess.Popen(
                [sys.executable, __file__, "--worker", writer_location(me), str(go), str(me), json.dumps(mine), synchronous, str(interval), str(phase), variant],
                stdout=subprocess.PIPE, text=True))
        stop = Path(tmp) / "stop"
        stormer = None
        if storm_how:
            stormer = subprocess.Popen([sys.executable, __file__, "--stormer", str(path), str(go), str(stop), synchronous, storm_how, str(burst), str(every)],
                                       stdout=subprocess.PIPE, text=True)
        for p in procs + ([stormer] if stormer else []):
            line = p.stdout.readline().strip()
            if line != "ready":
                raise SystemExit(f"worker failed to start: {line!r}")
        go.touch()
        results = []
        for p in procs:
            out, _ = p.communicate(timeout=600)
            if p.returncode:
                raise SystemExit(f"worker exited {p.returncode}")
            results.append(json.loads(out.strip().splitlines()[-1]))
        stormed = {}
        if stormer is not None:
            stop.touch()
            out, _ = stormer.communicate(timeout=600)
            stormed = json.loads(out.strip().splitlines()[-1])
        from sreconsole.review import audit

        keyed = variant == "keyed"
        anchor = f"{path}.witness" if keyed and backend == "sqlite" else None
        verified = audit.verify(path, key=KEY if keyed else None, anchor=anchor)
    won = sum(r["won"] for r in results)
    lost = sum(r["lost"] for r in results)
    span = max(r["end"] for r in results) - min(r["start"] for r in results)
    lat_won = [x for r in results for x in r["lat_won"]]
    lat_all = [x for r in results for x in r["lat_all"]]
    return {
        "writers": writers, "contended": contended, "synchronous": synchronous, "decisions": won, "already_decided": lost,
        "per_s": won / span, "attempts_per_s": (won + lost) / span, "p50_ms": 1000 * pct(lat_won, 0.5),
        "p99_ms": 1000 * pct(lat_won, 0.99), "max_ms": 1000 * max(lat_won), "p99_all_ms": 1000 * pct(lat_all, 0.99),
        "enqueue_per_s": total / enqueue_s,
        "verify_ok": verified.ok and verified.entries == total + won + stormed.get("enqueued", 0),
        "storm": stormed,
    }


def cpu_cost(n: int, synchronous: str, variant: str) -> float:
    """CPU milliseconds per decide() (lock, seal check, transaction, audit entry, re-read)."""
    from sreconsole.domain.operator import Operator
    from sreconsole.review.store import ReviewStore

    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "review.sqlite")
        with ReviewStore(path, synchronous=synchronous, **_options(path, variant)) as store:
            ids = [store.enqueue(*_proposal(f"fp-{k:06d}")).id for k in range(n)]
            op = Operator("bench", "10.0.2.1")
            t = time.process_time()
            for k, pid in enumerate(ids):
                store.decide(pid, "approved" if k % 2 else "rejected", op, "bench")
            return 1000 * (time.process_time() - t) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-writer", type=int, default=250, help="proposals each writer decides (contended: all share these)")
    parser.add_argument("--synchronous", default="FULL,NORMAL", help="comma-separated SQLite synchronous settings to compare")
    parser.add_argument("--rate", type=float, default=200.0, help="decisions/s offered in the paced runs (0: skip them)")
    parser.add_argument("--variants", default="plain,keyed", help="plain (sealed chain), keyed (plus HMAC and a witness file)")
    parser.add_argument("--backends", default="sqlite", help="comma-separated: sqlite, postgresql (a real server, side by side)")
    parser.add_argument("--cpu", action="store_true", help="only the CPU time of one decide() in one process")
    parser.add_argument("--storm", type=int, default=0, metavar="BURST",
                        help="only 8 paced writers beside an alert storm enqueueing BURST proposals a second, one transaction each vs one group commit")
    args = parser.parse_args()
    import sqlite3

    if args.cpu:
        import sreconsole

        print(f"# decide() CPU cost  {Path(sreconsole.__file__).parent}  sqlite {sqlite3.sqlite_version}  {time.strftime('%Y-%m-%d')}")
        for sync in [s.strip().upper() for s in args.synchronous.split(",") if s.strip()]:
            for variant in [v.strip() for v in args.variants.split(",") if v.strip()]:
                print(f"{variant:<6} {sync:<6} {cpu_cost(args.per_writer, sync, variant):.3f} CPU-ms per decision", flush=True)
        return

    if args.storm:
        print(f"# review_decisions --storm {args.storm}  sqlite {sqlite3.sqlite_version}  {os.cpu_count()} CPUs  {time.strftime('%Y-%m-%d')}")
        print(f"{'8 writers paced at %.0f/s beside' % args.rate:<34} {'sync':<6} {'dec/s':>6} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'burst ms':>8} {'bursts':>6} verify")
        for sync in [s.strip().upper() for s in args.synchronous.split(",") if s.strip()]:
            for how in ("none", "single", "group"):
                r = run_mode(8, args.per_writer, False, sync, args.rate, "plain", "" if how == "none" else how, args.storm, 1.0)
                label = {"none": "no storm", "single": f"{args.storm}/s, a commit each", "group": f"{args.storm}/s, one group commit"}[how]
                st = r["storm"]
                print(f"{label:<34} {sync:<6} {r['per_s']:>6.0f} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['max_ms']:>7.2f} "
                      f"{st.get('burst_ms', 0):>8.0f} {st.get('bursts', 0):>6} {'ok' if r['verify_ok'] else 'FAILED'}", flush=True)
        return

    print(f"# review_decisions  python {platform.python_version()}  sqlite {sqlite3.sqlite_version}  "
          f"{os.cpu_count()} CPUs  {platform.machine()}  {time.strftime('%Y-%m-%d')}")
    print(f"# {args.per_writer} proposals per writer; latency = one decide() call in the writer process")
    header = f"{'mode':<34} {'store':<6} {'audit':<6} {'sync':<6} {'decided':>7} {'lost':>5} {'dec/s':>7} {'att/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'p99 all':>7} {'enq/s':>6} verify"
    print(header)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    runs = [(s.strip().upper(), v, b) for s in args.synchronous.split(",") if s.strip() for v in variants for b in backends]
    runs = [(sync, v, b) for n, (sync, v, b) in enumerate(runs) if b == "sqlite" or (v, b) not in {(x[1], x[2]) for x in runs[:n]}]
    try:
        _table(args, runs)
    finally:
        if _PG is not None:
            _PG.stop()
    print("# goal: >= 200 decisions/s with 8 writers, p99 <= 20 ms")


def _table(args, runs) -> None:
    for sync, variant, backend in runs:
        for rate in (0.0, args.rate) if args.rate else (0.0,):
            for writers, contended in ((1, False), (8, False), (8, True)):
                r = run_mode(writers, args.per_writer, contended, sync, rate, variant, backend)
                mode = f"{writers} writer{'s' if writers > 1 else ''}" + (", contended" if contended else (", distinct" if writers > 1 else ""))
                mode += f", paced {rate:.0f}/s" if rate else ", saturated"
                store = "pg" if backend == "postgresql" else "sqlite"
                print(f"{mode:<34} {store:<6} {variant:<6} {sync if backend == 'sqlite' else 'fsync':<6} {r['decisions']:>7} {r['already_decided']:>5} {r['per_s']:>7.0f} {r['attempts_per_s']:>7.0f} "
                      f"{r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['max_ms']:>7.2f} {r['p99_all_ms']:>7.2f} {r['enqueue_per_s']:>6.0f} "
                      f"{'ok' if r['verify_ok'] else 'FAILED'}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--stormer":
        storm(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], int(sys.argv[7]), float(sys.argv[8]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], int(sys.argv[4]), json.loads(sys.argv[5]), sys.argv[6], float(sys.argv[7]), float(sys.argv[8]), sys.argv[9])
    else:
        main()
