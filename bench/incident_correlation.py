"""Pairwise precision and recall of the incident correlation on the labelled alert storms
of bench/data/alert_storms.toml, beside two floors measured in the same run: Alertmanager's
default grouping (by alertname) and grouping by namespace.

A pair is two alerts of one storm; it is *predicted* when the grouping puts them in one
incident and *expected* when the storm's labels do. Precision = predicted pairs that are
expected / predicted pairs; recall = expected pairs that are predicted / expected pairs.

    PYTHONPATH=src python bench/incident_correlation.py [--json] [--storms FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sreconsole.domain.alerts import Alert
from sreconsole.triage.correlation import correlate, pairs

HERE = Path(__file__).resolve().parent
T0 = datetime(2026, 12, 1, 3, 0, tzinfo=timezone.utc)


def load_storms(path: Path) -> list[dict]:
    storms = tomllib.loads(path.read_text(encoding="utf-8"))["storm"]
    for storm in storms:
        storm["alerts"] = [
            Alert(f"{storm['name']}/{a['id']}", dict(a["labels"]), {}, starts_at=T0 + timedelta(minutes=float(a["at"])))
            for a in storm["alert"]
        ]
        storm["expected_pairs"] = pairs([[f"{storm['name']}/{i}" for i in group] for group in storm["expected"]])
    return storms


def by_label(alerts: list[Alert], label: str) -> list[list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for a in alerts:
        groups[a.labels.get(label, "")].append(a.fingerprint)
    return list(groups.values())


def score(predicted: set, expected: set) -> dict:
    hit = len(predicted & expected)
    return {
        "precision": hit / len(predicted) if predicted else 1.0,
        "recall": hit / len(expected) if expected else 1.0,
        "predicted_pairs": len(predicted), "expected_pairs": len(expected), "true_pairs": hit,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storms", type=Path, default=HERE / "data" / "alert_storms.toml")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    storms = load_storms(args.storms)
    methods = {
        "rules (triage/incident_rules.toml)": lambda alerts: [[a.fingerprint for a in inc.alerts] for inc in correlate(alerts)],
        "floor: by alertname (Alertmanager default)": lambda alerts: by_label(alerts, "alertname"),
        "floor: by namespace": lambda alerts: by_label(alerts, "namespace"),
    }
    expected = set().union(*(s["expected_pairs"] for s in storms))
    out = {"storms": len(storms), "alerts": sum(len(s["alerts"]) for s in storms), "methods": {}}
    wrong: list[str] = []
    for name, method in methods.items():
        predicted = set().union(*(pairs(method(s["alerts"])) for s in storms))
        out["methods"][name] = score(predicted, expected)
        if name.startswith("rules"):
            wrong = sorted(" + ".join(sorted(p)) for p in predicted ^ expected)
    out["rules_mistakes"] = wrong
    if args.json:
        json.dump(out, sys.stdout, indent=2)
        print()
        return 0
    print(f"{out['storms']} storms, {out['alerts']} alerts, {len(expected)} expected pairs")
    for name, s in out["methods"].items():
        print(f"  {name:45s} precision {s['precision']:.3f}  recall {s['recall']:.3f}  ({s['true_pairs']}/{s['predicted_pairs']} predicted, {s['expected_pairs']} expected)")
    for line in wrong:
        print(f"  rules wrong on: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
