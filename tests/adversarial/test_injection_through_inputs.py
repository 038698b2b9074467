"""Command and path injection through labels, ``--param`` and knowledge file names (issue 15,
"Also required"): attacks that held, kept here so that they keep holding.

* A label value carrying shell (``default; rm -rf /``, ``$(touch …)``, a newline and a
  second command) never becomes a parameter or part of a command: the proposal waits for a
  human with the parameter named invalid, and approving it is refused.
* ``review approve --param name=$(touch …)`` is refused by the catalog's pattern and
  nothing is executed (``--param`` names nobody knows are hole 10, another helper's).
* A knowledge file whose name is shell or escape sequences is indexed and cited by its
  exact path, shown without the escapes, and never run.

Nothing in sreconsole calls a shell; each attack names a marker file that would exist if
anything had, and the test checks that it does not. The real CLI, review store and DuckDB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sreconsole", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})


def _alert(**labels) -> dict:
    base = {"alertname": "KubePodCrashLooping", "namespace": "payments", "pod": "api-1", "severity": "warning"}
    return {"alert": {"labels": {**base, **labels}, "annotations": {"lambda_function": "pod-restart"},
                      "startsAt": "2026-11-23T10:00:00Z"}}


def test_shell_in_labels_and_params_never_runs_or_reaches_a_command(tmp_path) -> None:
    marker = tmp_path / "pwned"
    env = {"SRECONSOLE_DATA_DIR": str(tmp_path / "data"), "SRECONSOLE_TRIAGE_ENABLED": "1"}
    hostile = [
        _alert(namespace="default; rm -rf /"),
        _alert(pod=f"$(touch {marker})"),
        _alert(pod=f"api-1\nkubectl delete ns prod; touch {marker}"),
        _alert(pod="api-2"),  # a good one, for --param below
    ]
    batch = tmp_path / "alerts.jsonl"
    batch.write_text("".join(json.dumps(a) + "\n" for a in hostile), encoding="utf-8")
    triaged = _cli("triage", "--batch", str(batch), "--json", "--enqueue", env=env)
    assert triaged.returncode == 0, triaged.stderr
    proposals = [json.loads(line) for line in triaged.stdout.splitlines()]
    for p in proposals[:3]:
        assert p["requires_human_review"] and p["command"] == "" and p["api"] is None, p
        assert any("is invalid" in r for r in p["review_reasons"]), p["review_reasons"]
        assert not any(v for v in p["parameters"].values() if ";" in v or "$(" in v or "\n" in v)
    assert proposals[3]["command"] == "kubectl delete pod api-2 -n payments"

    records = {r["labels"]["pod"]: r for r in json.loads(_cli("review", "list", "--json", env=env).stdout)}
    bad = records[f"$(touch {marker})"]
    refused = _cli("review", "approve", str(bad["id"]), "--reason", "try it", env=env)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
    good = records["api-2"]
    injected = _cli("review", "approve", str(good["id"]), "--reason", "go", "--param", f"name=$(touch {marker})", env=env)
    assert injected.returncode == 1 and "name" in injected.stderr and "Traceback" not in injected.stderr, injected.stderr
    after = {r["id"]: r for r in json.loads(_cli("review", "list", "--all", "--json", env=env).stdout)}
    assert after[good["id"]]["state"] == "pending" and after[bad["id"]]["state"] == "pending"
    events = [json.loads(line)["event"] for line in _cli("audit", "export", "--json", env=env).stdout.splitlines()]
    assert "execute" not in events and "approve" not in events, events
    assert not marker.exists()


def test_knowledge_file_names_are_data(tmp_path) -> None:
    marker = tmp_path / "pwned"
    docs = tmp_path / "docs"
    docs.mkdir()
    names = [f"$(touch {marker.name}).md", "a;touch pwned.md", "\x1b]8;;evil.example\x07click\x1b]8;;\x07.md", "--rebuild.md"]
    for name in names:
        (docs / name).write_text("# Frobnicator\n\nThe frobnicator overheats when its fan stops.\n", encoding="utf-8")
    env = {"SRECONSOLE_DATA_DIR": str(tmp_path / "data"), "SRECONSOLE_KNOWLEDGE_PATHS": str(docs), "COLUMNS": "300"}
    indexed = _cli("kb", "index", str(docs), "--json", env=env)
    assert indexed.returncode == 0 and json.loads(indexed.stdout)["added"] == len(names), indexed.stderr
    hits = json.loads(_cli("kb", "search", "frobnicator overheats", "-k", "10", "--json", env=env).stdout)["hits"]
    assert sorted(Path(h["path"]).name for h in hits) == sorted(names)  # cited by their exact names
    shown = _cli("kb", "search", "frobnicator overheats", "-k", "10", env=env)
    assert shown.returncode == 0 and "\x1b" not in shown.stdout and "\x07" not in shown.stdout
    assert "click" in shown.stdout  # the name is shown, its escape sequences are not
    cwd_marker = Path.cwd() / "pwned"
    assert not marker.exists() and not cwd_marker.exists() and not (docs / "pwned").exists()
