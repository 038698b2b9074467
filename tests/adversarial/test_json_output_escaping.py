"""Issue 15, hole 20: raw bidi and C1 characters in JSON output.

``review list --json`` and ``triage --json`` wrote U+202E, U+009B and U+009D raw
(``ensure_ascii=False``) while ``alerts list --json`` escaped them: one ``| less`` or a
terminal showing the JSON, and an alert poster reorders or rewrites the operator's screen.
Every ``--json`` command now writes through one writer (``sreconsole/cli/output.py``),
which escapes control, bidi and other invisible characters the same way everywhere. The
commands run for real, with hostile data from the real Alertmanager, a real alert file,
the real review queue and audit trail, a real knowledge folder and the real settings; the
bytes they write are checked, and so is that the JSON still means the same strings.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import Alertmanager

HOSTILE = "pay\u202eevil\u009b31m\u009d8;;http://x\u0007 \x1b[2J\u200b\u2066\u2028\ufeff\x7fé"
"""RLO, 8-bit CSI and OSC, BEL, ESC, a zero-width space, an isolate, a line separator, a
BOM, DEL; and one ordinary non-ASCII letter, which stays readable."""
FORBIDDEN = ["\u202e", "\u009b", "\u009d", "\u0007", "\x1b", "\u200b", "\u2066", "\u2028", "\ufeff", "\x7f"]


def _cli(*args: str, env: dict, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sreconsole", *args], capture_output=True, timeout=300, input=stdin.encode() if stdin else None,
                          env={**os.environ, **env})


def _clean_bytes(result: subprocess.CompletedProcess, what: str) -> str:
    assert result.returncode in (0, 1), (what, result.returncode, result.stderr.decode(errors="replace"))
    out = result.stdout
    assert out, (what, result.stderr.decode(errors="replace"))
    for ch in FORBIDDEN:
        assert ch.encode("utf-8") not in out, f"{what}: raw U+{ord(ch):04X} in the output"
    text = out.decode("utf-8")  # valid UTF-8 (a lone surrogate would not be)
    assert "\\u00e9" not in text  # ordinary letters are not escaped
    return text


def _json_docs(text: str) -> list:
    """One document (indented) or one per line (--batch, audit export)."""
    try:
        return [json.loads(text)]
    except ValueError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (_strings(k) + _strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def _carries(text: str, needle: str = HOSTILE) -> bool:
    """The hostile string survives the round trip exactly, inside some value."""
    return any(needle in s for doc in _json_docs(text) for s in _strings(doc))


def test_no_command_writes_json_but_through_the_one_writer() -> None:
    """Every --json output goes through cli/output.py: no other cli module calls json.dump(s)."""
    import sreconsole.cli

    offenders = []
    for path in sorted(Path(sreconsole.cli.__file__).parent.glob("*.py")):
        if path.name == "output.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("dumps", "dump"):
                offenders.append(f"{path.name}:{node.lineno}")
    assert not offenders, offenders


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory):
    am = Alertmanager(tmp_path_factory.mktemp("am-json"))
    am.start()
    yield am
    am.stop()


def test_every_json_command_escapes_hostile_text_the_same_way(tmp_path, alertmanager) -> None:
    data = tmp_path / "data"
    base = {"SRECONSOLE_DATA_DIR": str(data), "SRECONSOLE_TRIAGE_ENABLED": "1", "SRECONSOLE_ENVIRONMENT": HOSTILE}
    labels = {"alertname": "KubePodCrashLooping", "namespace": "payments", "pod": "api-1", "severity": "warning", "note": HOSTILE}
    alertmanager.post_alerts([{"labels": labels, "annotations": {"summary": HOSTILE}}])
    live = {**base, "SRECONSOLE_ALERTMANAGER_URL": alertmanager.url}

    # alerts list: the hostile label as the real Alertmanager returns it.
    listed = _clean_bytes(_cli("alerts", "list", "--json", env=live), "alerts list")
    assert _carries(listed)

    # triage (one alert, then a batch put in the queue), review list, audit export.
    alert = {"labels": {**labels, "alertname": "Hostile" + HOSTILE}, "annotations": {"summary": HOSTILE}, "startsAt": "2026-11-23T10:00:00Z"}
    (tmp_path / "alert.json").write_text(json.dumps({"alert": alert}), encoding="utf-8")
    (tmp_path / "batch.jsonl").write_text(json.dumps({"alert": alert}) + "\n", encoding="utf-8")
    assert _carries(_clean_bytes(_cli("triage", str(tmp_path / "alert.json"), "--json", env=base), "triage"))
    assert _carries(_clean_bytes(_cli("triage", "--batch", str(tmp_path / "batch.jsonl"), "--json", "--enqueue", env=base), "triage --batch"))
    assert _carries(_clean_bytes(_cli("review", "list", "--json", env=base), "review list"))
    first = json.loads(_cli("review", "list", "--json", env=base).stdout)[0]["id"]
    rejected = _clean_bytes(_cli("review", "reject", str(first), "--reason", "wrong pod " + HOSTILE, "--json", env=base), "review reject")
    assert _carries(rejected)
    audit = _clean_bytes(_cli("audit", "export", "--json", env=base), "audit export")
    assert any(entry["event"] == "reject" for entry in _json_docs(audit))

    # settings and doctor: the environment's name, the data dir's path.
    assert _carries(_clean_bytes(_cli("config", "show", "--json", env=base), "config show"))
    odd_dir = tmp_path / ("dir" + "\u202e" + "x")
    assert _carries(_clean_bytes(_cli("doctor", "--json", env={**base, "SRECONSOLE_DATA_DIR": str(odd_dir)}), "doctor"), "dir\u202ex")

    # the knowledge base: a hostile file name (kb index lists it) and hostile text (search, ask).
    docs = tmp_path / "docs"
    docs.mkdir()
    in_file = HOSTILE.replace("\u2028", "")  # a line separator in a file ends the line there
    (docs / "runbook.md").write_text(f"# Frobnicator {in_file}\n\nThe frobnicator overheats {in_file} when its fan stops.\n", encoding="utf-8")
    (docs / ("empty\u202e.md")).write_text("", encoding="utf-8")
    kb_env = {**base, "SRECONSOLE_KNOWLEDGE_PATHS": str(docs)}
    indexed = _clean_bytes(_cli("kb", "index", str(docs), "--json", env=kb_env), "kb index")
    assert _carries(indexed, "empty\u202e.md")
    assert _carries(_clean_bytes(_cli("kb", "search", "frobnicator overheats", "--json", env=kb_env), "kb search"), in_file)
    batch = _clean_bytes(_cli("kb", "search", "--batch", "-", "--json", env=kb_env, stdin="frobnicator fan\n"), "kb search --batch")
    assert _carries(batch, in_file)
    _clean_bytes(_cli("kb", "stats", "--json", env=kb_env), "kb stats")
    asked = _clean_bytes(_cli("ask", f"why does the frobnicator overheat {HOSTILE}?", "--json", "--generator", "extractive", env=kb_env), "ask")
    assert "frobnicator" in asked.lower()
    _clean_bytes(_cli("pipeline", "list", "--json", env=base), "pipeline list")
