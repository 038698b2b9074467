"""End to end as an operator over SSH uses it: the real CLI inside tmux at 80x24, 256 colours.

Keys go in with ``tmux send-keys``; assertions read ``tmux capture-pane``. A private tmux
socket keeps the test away from any tmux the developer is running.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid

import pytest

pytestmark = pytest.mark.tmux


class Tmux:
    def __init__(self, data_dir: str) -> None:
        if shutil.which("tmux") is None:
            pytest.fail("tmux is not installed (the test command installs it: make test)")
        self.socket = f"sreconsole-test-{uuid.uuid4().hex[:8]}"
        self.data_dir = data_dir

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10).stdout

    def start(self, *cli_args: str) -> None:
        command = " ".join(
            [
                "env",
                "TERM=xterm-256color",
                "COLORTERM=",
                f"SRECONSOLE_DATA_DIR={self.data_dir}",
                f"XDG_CONFIG_HOME={self.data_dir}/config",
                sys.executable,
                "-m",
                "sreconsole",
                *cli_args,
            ]
        )
        subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", "new-session", "-d", "-s", "e2e", "-x", "80", "-y", "24", command],
            check=True,
            timeout=10,
        )

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "e2e")

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.tmux("send-keys", "-t", "e2e", key)
            # tmux holds a lone ESC for its escape-time (500 ms by default) to see whether a
            # sequence follows: a key sent sooner would reach the app as alt+key, as it would
            # for an operator typing that fast in a default tmux.
            time.sleep(0.6 if key in ("Escape", "Esc") else 0.15)

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} did not appear; screen was:\n{screen}")

    def alive(self) -> bool:
        return subprocess.run(["tmux", "-L", self.socket, "has-session", "-t", "e2e"], capture_output=True).returncode == 0

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def tmux(tmp_path):
    session = Tmux(str(tmp_path))
    yield session
    session.kill()


def test_operator_switches_panes_and_filters_with_real_keys(tmux):
    tmux.start("--demo", "--seed", "7")
    screen = tmux.wait_for("KubePodCrashLooping")
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
    tmux.wait_for("KubePodCrashLooping")

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
