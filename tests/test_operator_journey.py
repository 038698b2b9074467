"""The operator's journey at 80x24 in a real terminal (tmux, TERM=xterm-256color), with only
``send-keys`` and ``capture-pane`` (tests/tmuxdrive.py): start the demo; in Alerts move with
j/k/G/g, filter (a refused filter shows its reason), open the detail, ack; in Review move
with j to the third row and approve it (the dialog names that id; ``review list --json``
shows exactly that id decided), reject another with a reason; in Training start a run and
cancel it; in Bruno ask a question and open a citation."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time

import pytest

from tmuxdrive import tmux  # noqa: F401 - the fixture

pytestmark = pytest.mark.tmux

DECIDED = {"approved", "executing", "executed", "failed", "unknown", "rejected"}
ROW = re.compile(r"^ (\d+)\s+(CRIT|WARN|INFO|----)\s")


def review_ids(screen: str) -> list[int]:
    return [int(m.group(1)) for line in screen.splitlines() if (m := ROW.match(line))]


def cli_list(data_dir: str) -> list[dict]:
    env = {**os.environ, "SRECONSOLE_DATA_DIR": data_dir, "XDG_CONFIG_HOME": f"{data_dir}/config", "COLUMNS": "200"}
    out = subprocess.run([sys.executable, "-m", "sreconsole", "--demo", "--seed", "7", "review", "list", "--all", "--json"],
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_the_operator_journey_at_80x24(tmux, tmp_path, monkeypatch):
    corpus = tmp_path / "corpus"
    corpus.mkdir()  # the shipped data only: a quick training run
    # The test process runs with triage and the knowledge base off (conftest); the journey
    # needs both, as make demo has them.
    tmux.start("--demo", "--seed", "7", env=(f"SRECONSOLE_CORPUS={corpus}", "SRECONSOLE_TRIAGE_ENABLED=1", "SRECONSOLE_KNOWLEDGE_ENABLED=1"))
    tmux.wait_for("KubePodCrash", 60)
    screen = tmux.wait_for("q Quit")
    lines = screen.splitlines()
    assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
    assert "? Help" in lines[23] and "q Quit" in lines[23]  # the footer at 80 columns

    # -- Alerts: move, filter, detail, ack -------------------------------------------------
    tmux.keys("G", "k", "g", "j")
    tmux.keys("/")
    tmux.text('namespace=~"(?=pay).*"')
    screen = tmux.wait_for("refused:")
    assert "look-around" in screen  # the reason, under the input, at 80 columns
    tmux.keys("C-u")
    tmux.text("checkout")
    screen = tmux.wait_for("matching 'checkout'")
    assert "Watchdog" not in screen
    tmux.keys("Enter", "g", "Enter")  # leave the filter, first row, detail
    screen = tmux.wait_for("fingerprint")
    assert "checkout" in screen
    tmux.keys("Escape")
    tmux.keys("a")  # ack the selected alert
    tmux.wait_until(lambda s: "acked" in s or "Ack" in s, "the ack", 20)
    tmux.keys("Escape")
    tmux.wait_until(lambda s: "fingerprint" not in s, "the alerts list back")

    # -- Review: the third row, approved; another rejected ----------------------------------
    tmux.keys("2")
    tmux.wait_until(lambda s: len(review_ids(s)) >= 4, "four proposals in the queue", 120)
    # Proposals keep arriving while triage works through the alerts: wait until the queue
    # holds still, so "the third row" is the same row when a is pressed.
    previous, still = None, 0
    for _ in range(120):
        ids = review_ids(tmux.screen())
        still = still + 1 if ids == previous else 0
        previous = ids
        if still >= 8:
            break
        time.sleep(0.5)
    tmux.keys("g", "j", "j")
    third = review_ids(tmux.screen())[2]
    tmux.keys("a")
    screen = tmux.wait_until(lambda s: "Approve #" in s or "cannot approve" in s, "a dialog or a refusal")
    assert f"#{third} " in screen, screen  # the dialog (or the refusal) names the row the cursor is on
    if "cannot approve" in screen:  # a parameter is missing: edit it, as the toast says
        tmux.keys("e")
        screen = tmux.wait_for(f"Edit parameters of #{third} ")
        tmux.text("checkout-api")
        tmux.keys("Enter")
        tmux.wait_for("parameters edited")
        tmux.keys("a")
        screen = tmux.wait_for(f"Approve #{third} ")
    assert re.search(rf"Approve #{third} \S+", screen), screen  # the title names the id and the action
    confirm = re.search(r"type (\S+) to confirm", screen)
    if confirm:
        tmux.text(confirm.group(1))
    tmux.keys("Enter")
    tmux.wait_until(lambda s: "Approve #" not in s, "the dialog closed")
    decided = []
    for _ in range(30):
        decided = [r for r in cli_list(tmux.data_dir) if r["state"] in DECIDED]
        if decided:
            break
    assert [r["id"] for r in decided] == [third], decided

    screen = tmux.wait_until(lambda s: third not in review_ids(s) and review_ids(s), "the approved one gone from pending")
    other = review_ids(screen)[0]
    tmux.keys("g", "r")
    tmux.wait_for(f"Reject #{other} ")
    tmux.keys("Enter")  # no reason yet: said next to the field
    tmux.wait_for("a reason is required")
    tmux.text("not needed")
    tmux.keys("Enter")
    tmux.wait_until(lambda s: "Reject #" not in s, "the reject dialog closed")
    states = {r["id"]: r["state"] for r in cli_list(tmux.data_dir)}
    assert states[other] == "rejected" and states[third] != "pending"

    # -- Training: start a run, cancel it --------------------------------------------------
    tmux.keys("3")
    tmux.wait_for("Training")
    tmux.keys("t")
    tmux.wait_for("Start a training run")
    tmux.keys("Enter")
    tmux.wait_for("running", 60)
    tmux.keys("g", "c")
    tmux.wait_for("cancelled", 60)

    # -- Bruno: a question, a citation -----------------------------------------------------
    tmux.keys("4")
    tmux.wait_for("Ask about a runbook")
    tmux.text("how do I fix a pod in CrashLoopBackOff?")
    tmux.keys("Enter")
    tmux.wait_for("[1]", 180)
    tmux.keys("Escape", "o")
    screen = tmux.wait_for(".md:", 30)
    assert "/work/" not in screen and "/home/" not in screen  # paths relative to their root
    tmux.keys("Escape", "Escape", "q")
    assert tmux.wait_gone(), "q did not quit"
