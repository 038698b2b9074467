#!/usr/bin/env python3
"""Bruno's routing on held-out operator utterances: accuracy overall and per intent, and,
for live questions, the label and time filters taken from them.

Utterances: ``bench/data/routing_heldout.jsonl`` (242, written by hand before the router
was changed for them, apart from the examples in ``chat/routing.py`` and from
``bench/data/retrieval_questions.jsonl``; typos and chat shorthand included). Odd ids are
the dev half (all tuning), even ids the test half (reported). Each row has the intent, the
live topic, and for live rows the label filters and time window expected against the
demo's world at a fixed moment (2026-11-23 18:00:30 UTC, a Monday): the demo alerts firing
then and the demo's incident history are what is "known".

The held-out halves and the rules have one author, so two probes were written later, in
other styles (longer, with context), each run once before anything was changed for it:
``routing_probe.jsonl`` (60, ``--split probe``) after the rules were frozen — it then chose
the example step (kernel ridge over nearest example), so it is a dev set now — and
``routing_probe2.jsonl`` (48, ``--split probe2``) after that. Probe 2 is the fairest
figure. The probes have no filter expectations.

Floors in the same run: always ``knowledge`` (the majority intent), and the rules alone
(no embedding step).

Run: ``.venv/bin/python bench/routing_quality.py [--split dev|test|both] [--show-wrong]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
from collections import defaultdict
from datetime import date, datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / "data" / "routing_heldout.jsonl"
PROBES = {"probe": ROOT / "bench" / "data" / "routing_probe.jsonl", "probe2": ROOT / "bench" / "data" / "routing_probe2.jsonl"}
NOW = datetime(2026, 11, 23, 18, 0, 30, tzinfo=timezone.utc)
EPOCH = datetime(2026, 11, 23, 18, 0, 0, tzinfo=timezone.utc)


def load(split: str) -> list[dict]:
    path = PROBES.get(split, DATA)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if split in PROBES:
        return rows
    return [r for r in rows if split == "both" or r["split"] == split]


def demo_world(settings):
    """(alerts firing at NOW, the demo's incident history) as the demo console has them."""
    from sreconsole.services.knowledge import demo_incidents
    from sreconsole.sources.demo.simulator import DemoCluster, load_scenario

    cluster = DemoCluster(load_scenario(settings.demo.scenario or None), settings.demo.seed, EPOCH)
    return cluster.alerts_at(NOW), demo_incidents(settings, NOW)


def score(rows, decide) -> dict:
    """Accuracy of ``decide(utterance) -> (intent, topic)``: overall (intent and topic
    right) and per intent / live topic."""
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    right = 0
    wrong = []
    for r in rows:
        intent, topic = decide(r["utterance"])
        ok = intent == r["intent"] and (r["intent"] != "live" or topic == r["topic"])
        key = r["intent"] if r["intent"] != "live" else f"live/{r['topic']}"
        per[key][0] += ok
        per[key][1] += 1
        per[r["intent"]][0] += intent == r["intent"] if r["intent"] == "live" else 0
        per[r["intent"]][1] += 1 if r["intent"] == "live" else 0
        right += ok
        if not ok:
            wrong.append((r["id"], r["utterance"], f"{r['intent']}/{r['topic']}", f"{intent}/{topic}"))
    return {"accuracy": right / max(1, len(rows)), "per": {k: v[0] / v[1] for k, v in sorted(per.items()) if v[1]},
            "n_per": {k: v[1] for k, v in sorted(per.items()) if v[1]}, "wrong": wrong}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--split", choices=["dev", "test", "both", "probe", "probe2"], default="both",
                    help="probe / probe2: the sets written after the rules / the example step were frozen")
    ap.add_argument("--show-wrong", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    os.environ.setdefault("SRECONSOLE_DATA_DIR", tempfile.mkdtemp(prefix="sreconsole-routing-bench-"))
    from sreconsole.chat.routing import IntentRouter
    from sreconsole.config import load_settings
    from sreconsole.knowledge.embedder import Embedder

    settings = load_settings()
    emb = Embedder()
    router = IntentRouter(emb.embed)
    rules = IntentRouter(None)
    print(f"# routing quality — {date.today()} — {platform.node()} ({os.cpu_count()} CPUs); {DATA.name}")
    splits = ["dev", "test"] if args.split == "both" else [args.split]
    world = demo_world(settings)
    out = []
    for split in splits:
        rows = load(split)
        results = {
            "majority (always knowledge)": score(rows, lambda u: ("knowledge", "")),
            "rules only": score(rows, lambda u: (lambda r: (r.intent, r.topic))(rules.route(u))),
            "router (rules + examples)": score(rows, lambda u: (lambda r: (r.intent, r.topic))(router.route(u))),
        }
        for name, res in results.items():
            per = "  ".join(f"{k} {v:.2f} (n={res['n_per'][k]})" for k, v in res["per"].items())
            print(f"{split:4s} n={len(rows):3d} {name:34s} accuracy {res['accuracy']:.3f}   {per}")
            out.append({"split": split, "system": name, "n": len(rows), "accuracy": round(res["accuracy"], 3),
                        "per": {k: round(v, 3) for k, v in res["per"].items()}})
        filters = filter_accuracy(rows, router, world) if split not in PROBES else None
        if filters:
            print(f"{split:4s} live rows routed right: label filters exact {filters['labels']:.3f}, time window exact {filters['time']:.3f}"
                  f" (n={filters['n']})")
            for wrong in filters["wrong"] if args.show_wrong else ():
                print("   filters:", wrong)
        if args.show_wrong:
            for wrong in results["router (rules + examples)"]["wrong"]:
                print("   wrong:", wrong)
    if args.json:
        print(json.dumps(out))
    return 0


def filter_accuracy(rows, router, world) -> dict | None:
    """For live rows the router gets right: are the label filters and the time window the
    expected ones? (None before the router reports filters.)"""
    try:
        from sreconsole.chat.filters import Known, extract
    except ImportError:
        return None
    alerts, incidents = world
    known = Known.from_records(alerts=alerts, incidents=incidents)
    n = labels_ok = time_ok = 0
    wrong = []
    for r in rows:
        if r["intent"] != "live":
            continue
        got = router.route(r["utterance"])
        if (got.intent, got.topic) != ("live", r["topic"]):
            continue
        f = extract(r["utterance"], known, NOW)
        n += 1
        labels_ok += f.labels == r["labels"]
        since = f.since.isoformat() if f.since else None
        until = f.until.isoformat() if f.until else None
        time_ok += (since, until) == (r["since"], r["until"])
        if f.labels != r["labels"] or (since, until) != (r["since"], r["until"]):
            wrong.append((r["id"], r["utterance"], r["labels"], f.labels, r["since"], since, r["until"], until))
    return {"n": n, "labels": labels_ok / max(1, n), "time": time_ok / max(1, n), "wrong": wrong}


if __name__ == "__main__":
    sys.exit(main())
