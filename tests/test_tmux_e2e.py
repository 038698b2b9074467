"""End to end as an operator over SSH uses it: the real CLI inside tmux at 80x24, 256 colours
(the driver is tests/tmuxdrive.py, shared with the operator journey and the hostile-text
tests)."""

from __future__ import annotations

import time

import pytest

from tmuxdrive import tmux  # noqa: F401 - the fixture

pytestmark = pytest.mark.tmux


def test_operator_switches_panes_and_filters_with_real_keys(tmux):
    tmux.start("--demo", "--seed", "7")
    screen = tmux.wait_for("KubePodCrash")
    lines = screen.splitlines()
    assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
    assert "demo" in lines[0] and "Alerts" in screen and "CRIT" in screen

    tmux.keys("2")
    tmux.wait_for("no proposals waiting")
    assert "KubePodCrashLooping" not in tmux.screen()
    tmux.keys("4")
    tmux.wait_for("Ask about a runbook")
    tmux.keys("Escape")  # the chat input has the keys until esc
    tmux.keys("1")
    tmux.wait_for("KubePodCrash")

    tmux.keys("/")
    for ch in "checkout":
        tmux.keys(ch)
    screen = tmux.wait_for("matching 'checkout'")
    assert "HighErrorRate" in screen
    assert "KubePodCrashLooping" not in screen and "Watchdog" not in screen

    tmux.keys("Escape")
    screen = tmux.wait_for("Watchdog")
    assert "matching" not in screen

    tmux.keys("?")
    tmux.wait_for("alerts.filter")
    tmux.keys("Escape", "q")
    deadline = time.monotonic() + 10
    while tmux.alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not tmux.alive(), "q did not quit"


def test_unreachable_alertmanager_shows_down_and_the_app_keeps_running(tmux):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tmux.start("--alertmanager", f"http://127.0.0.1:{port}")
    screen = tmux.wait_for("alertmanager down")
    assert "connection refused" in screen
    assert "127.0.0.1" in screen.splitlines()[0]  # environment named after the Alertmanager host
    tmux.keys("2")
    tmux.wait_for("no proposals waiting")
    assert tmux.alive()


def test_keys_typed_in_one_burst_after_slash_reach_the_filter(tmux):
    """Over SSH "/checkout" arrives in one read: the letters were forwarded to the table
    before the / binding moved focus to the filter, and vanished (the filter read "ckout").
    One send-keys call sends them as one burst."""
    tmux.start("--demo", "--seed", "7")
    tmux.wait_for("KubePodCrash")
    tmux.burst("/", *"checkout")
    screen = tmux.wait_for("matching 'checkout'")
    assert "HighErrorRate" in screen and "Watchdog" not in screen
    tmux.keys("Escape")
    tmux.wait_for("Watchdog")
    # The same in Bruno: i opens the question field; the letters after it are the question.
    tmux.keys("4")
    tmux.wait_for("Ask about a runbook")
    tmux.keys("Escape")
    tmux.burst("i", *"pods")
    tmux.wait_for("▊  pods ")  # the question field holds all of it
