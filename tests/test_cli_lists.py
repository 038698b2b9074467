"""The list commands at 80 columns, with --wide, and into a pipe (issue 16, item 6), plus the
small things of the same trial: global flags after the command, `config show` saying what
a default means, the demo's clock shared by every process, and `demo reset`.

Every command runs as a real process. A terminal is what Rich takes for one: the
``TTY_COMPATIBLE=1`` it documents for that, with ``COLUMNS`` for the width; without it the
output goes to a pipe, as in ``sreconsole review list | grep``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from rich.cells import cell_len

from sreconsole.config import load_settings
from sreconsole.domain.alerts import Alert
from sreconsole.domain.operator import Operator
from sreconsole.domain.proposal import Proposal

ANSI = re.compile(r"\x1b\[[0-9;]*m")
BOX = set("─│┃━┏┓┗┛┡┩╇╈┼┬┴├┤═║╭╮╰╯")


def run(*args: str, tty: int | None = None, env: dict | None = None, rc: int | None = 0) -> subprocess.CompletedProcess:
    e = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "NO_COLOR")}
    if tty is not None:
        e.update(TTY_COMPATIBLE="1", COLUMNS=str(tty))
    for k, v in (env or {}).items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    out = subprocess.run([sys.executable, "-m", "sreconsole", *args], env=e, capture_output=True, text=True, timeout=120)
    if rc is not None:
        assert out.returncode == rc, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr, out.stderr
    return out


def screen_lines(text: str) -> list[str]:
    return [ANSI.sub("", line) for line in text.splitlines()]


def assert_plain_and_aligned(text: str, headers: list[str]) -> list[list[str]]:
    """kubectl-style: no colour, no box, a header naming the columns, every column starting
    at the header's offset on every line, nothing cut. Returns the rows' cells."""
    assert "\x1b" not in text and not (set(text) & BOX) and "…" not in text
    lines = text.splitlines()
    header = lines[0]
    assert header.split("   ") and [h.strip() for h in re.split(r"\s{3,}", header.strip())] == headers
    starts = [header.index(h) for h in headers]
    rows = []
    for line in lines[1:]:
        for s in starts[1:]:
            assert line[s - 1] == " " and line[s] != " ", (line, s)
        rows.append([line[a:b].strip() for a, b in zip(starts, starts[1:] + [len(line)])])
    return rows


def proposal(fp: str, alertname: str, action: str, name: str, namespace: str, *, severity: str = "critical",
             confidence: float | None = 0.8) -> tuple[Proposal, Alert]:
    labels = {"alertname": alertname, "namespace": namespace, "deployment": name, "pod": name, "severity": severity}
    alert = Alert(fp, labels, {"summary": f"{alertname} fired for {namespace}/{name}"}, starts_at=datetime.now(timezone.utc))
    p = Proposal(
        fingerprint=fp, alertname=alertname, action=action, title=action, parameters={"name": name, "namespace": namespace},
        command=f"kubectl {action} {name}", api=None, confidence=confidence, method="trm+rag", requires_human_review=True,
        risk="medium", reversible=False,
    )
    return p, alert


@pytest.fixture
def queued(isolated_env) -> list:
    """Three proposals with long names, queued from a file (no source watches them)."""
    from sreconsole.services.review import ReviewQueue

    queue = ReviewQueue(load_settings(), Operator("alice", "10.0.0.5"))
    made = [
        proposal("a" * 16, "KubePersistentVolumeFillingUpInTheDataNamespace", "rollout-restart",
                 "postgres-data-postgres-0-with-a-long-name", "analytics-and-reporting"),
        proposal("b" * 16, "KubePodCrashLooping", "pod-restart", "payments-api-7d9f8b6c4-x2kzq", "payments", severity="warning"),
        proposal("c" * 16, "Watchdog", "rollout-restart", "search-indexer", "search", severity="none", confidence=None),
    ]
    records = queue.enqueue([p for p, _ in made], [a for _, a in made])
    queue.close()
    return records


# -- review list -----------------------------------------------------------------------------------

def test_review_list_at_80_columns_keeps_every_identifying_column_whole(queued):
    out = run("review", "list", tty=80)
    lines = screen_lines(out.stdout)
    assert all(cell_len(line) <= 80 for line in lines), [line for line in lines if cell_len(line) > 80]
    header = next(line for line in lines if line.startswith("ID"))
    assert header.split() == ["ID", "SEV", "ACTION", "CONF", "STATE", "LIVE", "FOR", "AGE"]
    for r in queued:
        row = next(line for line in lines if line.split() and line.split()[0] == str(r.id))
        cells = row.split()
        assert cells[1] == r.severity and cells[2] == r.action
        assert cells[3] == ("-" if r.confidence is None else f"{r.confidence:.2f}") and cells[4] == "pending"
        assert cells[5] == "unknown"  # queued from a file: no source watches it
        below = lines[lines.index(row) + 1]
        assert below.startswith("  alert ") and "target " in below  # the long ones on their own line
    assert "KubePodCrashLooping" in out.stdout and "payments/payments-api-7d9f8b6c4-x2kzq" in out.stdout


def test_review_list_wide_and_into_a_pipe_shows_everything(queued):
    wide = screen_lines(run("review", "list", "--wide", tty=80).stdout)
    header = next(line for line in wide if line.startswith("ID"))
    assert re.split(r"\s{2,}", header.strip()) == ["ID", "SEV", "ALERT", "ACTION", "TARGET", "CONF", "STATE", "LIVE", "FOR", "AGE",
                                                   "METHOD", "ALERTS", "DECIDED BY", "REASON"]
    assert "…" not in "".join(wide) and "KubePersistentVolumeFillingUpInTheDataNamespace" in "".join(wide)
    piped = run("review", "list")
    rows = assert_plain_and_aligned(piped.stdout, ["ID", "SEV", "ALERT", "ACTION", "TARGET", "CONF", "STATE", "LIVE", "FOR", "AGE"])
    assert {r[0] for r in rows} == {str(r.id) for r in queued}
    assert ["analytics-and-reporting/postgres-data-postgres-0-with-a-long-name"] == [r[4] for r in rows if r[3] == "rollout-restart" and r[2].startswith("KubePersistent")]
    assert piped.stdout.count("\n") == 1 + len(queued)  # no title, no blank lines
    again = run("review", "list")
    assert [line.split()[:8] for line in again.stdout.splitlines()] == [line.split()[:8] for line in piped.stdout.splitlines()]
    json_rows = json.loads(run("review", "list", "--json").stdout)
    assert {"alert_state", "alert_state_since", "alerts", "target"} <= set(json_rows[0])


def test_an_empty_queue_prints_nothing_into_a_pipe_and_says_so_on_stderr():
    out = run("review", "list")
    assert out.stdout == "" and "no pending proposals" in out.stderr


# -- alerts list and pipeline list -----------------------------------------------------------------

def test_alerts_list_at_80_columns_puts_the_summary_under_its_alert():
    out = run("--demo", "alerts", "list", tty=80)
    lines = screen_lines(out.stdout)
    assert all(cell_len(line) <= 80 for line in lines)
    assert lines[1].split() == ["SEVERITY", "NAME", "TARGET", "AGE", "STATE"]
    rows = [line for line in lines[2:] if not line.startswith("  ")]
    assert rows and all(len(r.split()) == 5 for r in rows)
    assert "KubePersistentVolumeFillingUp" in out.stdout  # the longest demo name, whole
    assert any(r.split()[4] == "silenced" for r in rows) and any(r.split()[4] == "firing" for r in rows)
    summaries = [line for line in lines[2:] if line.startswith("  ")]
    assert len(summaries) == len(rows) and all(s.strip() for s in summaries)
    piped = run("--demo", "alerts", "list")
    cells = assert_plain_and_aligned(piped.stdout, ["SEVERITY", "NAME", "TARGET", "AGE", "STATE", "SUMMARY"])
    assert any(c[1] == "KubePodCrashLooping" and "CrashLoopBackOff" in c[5] for c in cells)
    wide = assert_plain_and_aligned(run("--demo", "alerts", "list", "--wide").stdout,
                                    ["SEVERITY", "NAME", "TARGET", "AGE", "STATE", "FINGERPRINT", "STARTS AT", "SUMMARY"])
    assert all(re.fullmatch(r"[0-9a-f]{16}", c[5]) for c in wide)


def test_pipeline_list_at_80_columns_and_into_a_pipe(isolated_env):
    from sreconsole.pipeline.runs import RunStore

    store = RunStore(load_settings().data_path)
    ids = []
    for status in ("succeeded", "failed"):
        run_ = store.create("trm", "retrain-after-decisions-scheduled", {}, demo=True)
        store.update(run_.id, version="trm-20261123-180000-with-a-long-suffix", metrics={"accuracy": 0.93612}, mlflow_run_id="f" * 32)
        store.finish(run_.id, status, "" if status == "succeeded" else "x")
        ids.append(run_.id)
    store.close()
    lines = screen_lines(run("pipeline", "list", tty=80).stdout)
    assert all(cell_len(line) <= 80 for line in lines)
    assert lines[1].split() == ["ID", "MODEL", "TRIGGER", "STATUS", "VERSION", "DURATION", "ACCURACY"]
    for rid in ids:
        row = next(line.split() for line in lines if line.startswith(rid))
        assert row[0] == rid and row[1] == "trm" and row[3] in ("succeeded", "failed") and row[-1] == "0.936"
    cells = assert_plain_and_aligned(run("pipeline", "list").stdout, ["ID", "MODEL", "TRIGGER", "STATUS", "VERSION", "DURATION", "ACCURACY"])
    assert {c[0] for c in cells} == set(ids) and {c[2] for c in cells} == {"retrain-after-decisions-scheduled"}
    wide = run("pipeline", "list", "--wide").stdout
    assert "f" * 32 in wide and "MLFLOW RUN" in wide.splitlines()[0]


# -- global flags after the command ---------------------------------------------------------------

def test_global_flags_work_after_the_command_too(tmp_path):
    from harness import free_port

    url = f"http://127.0.0.1:{free_port()}"
    after = run("alerts", "list", "--alertmanager", url, rc=1)  # was a usage error (exit 2)
    assert "connection refused" in after.stderr
    before = run("--alertmanager", url, "alerts", "list", rc=1)
    assert before.stderr == after.stderr
    elsewhere = tmp_path / "elsewhere"
    run("config", "show", "--json", "--data-dir", str(elsewhere))
    shown = json.loads(run("config", "show", "--json", "--data-dir", str(elsewhere)).stdout)
    assert shown["data_dir"]["value"] == str(elsewhere) and shown["data_dir"]["origin"] == "flag"
    kept = json.loads(run("--data-dir", str(elsewhere), "config", "show", "--json").stdout)
    assert kept["data_dir"]["value"] == str(elsewhere)  # a flag before the command is not reset by the command's parser
    assert "--alertmanager URL" in run("review", "list", "--help").stdout


def test_config_show_says_what_the_defaults_mean_and_whether_the_file_exists(isolated_env):
    table = run("config", "show", tty=200, env={"SRECONSOLE_DATA_DIR": None}).stdout
    text = ANSI.sub("", table)
    assert "(not found: defaults, environment and flags only)" in " ".join(text.split())  # the title may wrap
    data_row = next(line for line in text.splitlines() if " data_dir " in line)
    assert str(isolated_env / "data-home" / "sreconsole") in data_row and "(unset)" not in data_row
    demo_row = next(line for line in text.splitlines() if " demo_mode " in line)
    assert "the demo runs: alertmanager.url is unset" in demo_row
    shown = json.loads(run("config", "show", "--json").stdout)
    assert shown["_config_file"]["exists"] is False
    assert shown["demo_mode"]["effective"] == "the demo runs: alertmanager.url is unset"
    assert shown["data_dir"]["effective"] == str(isolated_env / "data")
    live = json.loads(run("--alertmanager", "http://am:9093", "config", "show", "--json").stdout)
    assert live["demo_mode"]["effective"] == "live: alerts from http://am:9093"


# -- the demo's clock and its reset ----------------------------------------------------------------

def test_every_demo_process_shows_the_same_alerts_from_one_persisted_clock(isolated_env):
    from sreconsole.services.environment import demo_epoch_path

    settings = load_settings()
    first = json.loads(run("--demo", "alerts", "list", "--json").stdout)
    epoch = datetime.fromisoformat(demo_epoch_path(settings).read_text().strip())
    assert abs((datetime.now(timezone.utc) - epoch).total_seconds()) < 120
    second = json.loads(run("--demo", "alerts", "list", "--json").stdout)
    assert [a["fingerprint"] for a in second] == [a["fingerprint"] for a in first]
    assert [a["starts_at"] for a in second] == [a["starts_at"] for a in first]  # the same timeline, not a new one
    # Move the clock 25 minutes back: every process now sees the demo 25 minutes in.
    demo_epoch_path(settings).write_text((epoch - timedelta(minutes=25)).isoformat() + "\n")
    later = json.loads(run("--demo", "alerts", "list", "--json").stdout)
    assert {a["fingerprint"] for a in later} != {a["fingerprint"] for a in first}


def test_demo_reset_moves_the_demos_queue_aside_and_restarts_its_clock(isolated_env, queued):
    from sreconsole.services.environment import demo_epoch_path

    settings = load_settings()
    run("--demo", "alerts", "list", "--json")
    assert demo_epoch_path(settings).exists()
    out = run("demo", "reset")
    assert "moved review.sqlite" in out.stdout and "starts afresh" in out.stdout
    assert not demo_epoch_path(settings).exists() and not (settings.data_path / "review.sqlite").exists()
    (aside,) = settings.data_path.glob("demo-reset-*")
    assert (aside / "review.sqlite").exists()
    assert run("review", "list").stdout == ""
    assert run("--alertmanager", "http://am:9093", "demo", "reset", rc=2).stderr.startswith("sreconsole: not in demo mode")


def test_demo_reset_refuses_a_queue_that_holds_a_real_sources_proposals(isolated_env):
    from sreconsole.services.review import ReviewQueue

    settings = load_settings(overrides={"alertmanager.url": "http://am.example:9093"})
    queue = ReviewQueue(settings, Operator("alice"))
    p, a = proposal("d" * 16, "KubePodCrashLooping", "pod-restart", "api-1", "payments")
    queue.enqueue([p], [a], from_source=True)
    queue.close()
    out = run("demo", "reset", rc=1)
    assert "also holds proposals from http://am.example:9093" in out.stderr
    assert (settings.data_path / "review.sqlite").exists()
