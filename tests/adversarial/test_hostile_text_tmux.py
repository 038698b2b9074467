"""Hostile alerts on a real terminal: the CLI inside tmux against the real Alertmanager.

Alerts of every attack class (``hostile.ATTACKS``) are posted to Alertmanager; the console
runs in tmux at 160x45 (side panel shown) with ``pipe-pane`` recording every byte it writes
to the terminal. Keys go in with ``send-keys``: move over every alert, open its detail, ack
and expire it, open Review and Bruno. Then the recording must hold no hyperlink (OSC 8),
clipboard write (OSC 52), title change (OSC 0/2), clear-screen from a label, NUL, C1
control or bidi override, and the console must still be running, its screen intact.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from adversarial.hostile import ATTACKS, hostile_alert
from tmuxdrive import Tmux

pytestmark = pytest.mark.tmux

FORBIDDEN = {
    b"\x1b]8;": "an OSC 8 hyperlink",
    b"\x1b]52;": "an OSC 52 clipboard write",
    b"\x1b]0;": "an OSC 0 title change",
    b"\x1b]2;": "an OSC 2 title change",
    b"\x1b[2J\x1b[H\x1b[31m": "the clear-screen a label carried",
    b"\x00": "a NUL",
    "\u009b".encode(): "an 8-bit CSI",
    "\u009d".encode(): "an 8-bit OSC",
    "\u202e".encode(): "a right-to-left override",
    "\u2066".encode(): "a left-to-right isolate",
    "\u200b".encode(): "a zero-width space",
    b"ZWNobyBwd25lZCA": "the clipboard payload a label carried",
}


class Terminal(Tmux):
    """The end-to-end tests' tmux driver, at 160x45, recording every byte the console writes."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(str(workdir))
        self.raw = workdir / "terminal.bin"

    def start(self, *cli_args: str) -> None:
        env = ["env", "TERM=xterm-256color", "COLORTERM=", f"SRECONSOLE_DATA_DIR={self.data_dir}/data", f"XDG_CONFIG_HOME={self.data_dir}/config",
               "SRECONSOLE_KNOWLEDGE_ENABLED=0", "SRECONSOLE_TRIAGE_ENABLED=0"]
        # The shell waits a moment so pipe-pane is attached before the first byte is written.
        command = "sleep 0.5; exec " + " ".join([*env, sys.executable, "-m", "sreconsole", *cli_args])
        subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", "new-session", "-d", "-s", "e2e", "-x", "160", "-y", "45", command],
                       check=True, timeout=10)
        self.tmux("pipe-pane", "-o", "-t", "e2e", f"cat >> {self.raw}")

    def press(self, *keys: str, pause: float = 0.4) -> None:
        for key in keys:
            self.keys(key)
            time.sleep(pause)


@pytest.fixture
def terminal(tmp_path):
    t = Terminal(tmp_path)  # fails the test when tmux is missing
    yield t
    t.kill()


def test_hostile_alerts_write_nothing_dangerous_to_a_real_terminal(terminal, alertmanager):
    alertmanager.post_alerts([hostile_alert(kind, text) for kind, text in ATTACKS.items()])
    terminal.start("--alertmanager", alertmanager.url)
    screen = terminal.wait_for("HostileBidi")
    assert "alertmanager ok" in screen

    for _ in range(len(ATTACKS) + 2):  # every row: each shows its detail in the side panel
        terminal.press("j")
    terminal.press("g", "enter", pause=0.6)  # the detail screen of the first alert
    terminal.wait_for("annotations")
    terminal.press("Escape", "j", "a", pause=0.6)  # ack: a real silence, a toast naming the alert
    terminal.wait_for("acknowledged", timeout=15)
    terminal.press("j", "x", "y", "2", "d", "4", pause=0.6)
    terminal.wait_for("Ask about a runbook")
    terminal.keys(*"what is firing?", "Enter")
    terminal.wait_for("firing", timeout=30)
    time.sleep(1.0)
    terminal.press("Escape", "1", pause=0.6)
    screen = terminal.wait_for("HostileBidi")

    assert terminal.alive(), "the console died"
    lines = screen.splitlines()
    assert "sreconsole" in lines[0] and len(lines) <= 45  # nothing moved the cursor or cleared the screen
    raw = terminal.raw.read_bytes()
    assert len(raw) > 10_000, "pipe-pane recorded nothing"
    found = [what for needle, what in FORBIDDEN.items() if needle in raw]
    assert not found, "the terminal received " + ", ".join(found)
    assert "HostileMarkupClickX[" in screen  # the markup is there, as the text it is
