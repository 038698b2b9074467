"""The one tmux driver of the end-to-end tests: the real CLI inside a private tmux server,
keys in with ``send-keys``, the screen out with ``capture-pane``, nothing else.

A private socket keeps the tests away from any tmux the developer is running.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid

import pytest

ESCAPE_WAIT_S = 0.6
"""tmux holds a lone ESC for its escape-time (500 ms by default) to see whether a sequence
follows: a key sent sooner would reach the app as alt+key, as it would for an operator
typing that fast in a default tmux."""


class Tmux:
    def __init__(self, data_dir: str, size: tuple[int, int] = (80, 24)) -> None:
        if shutil.which("tmux") is None:
            pytest.fail("tmux is not installed (the test command installs it: make test)")
        self.socket = f"sreconsole-test-{uuid.uuid4().hex[:8]}"
        self.data_dir = data_dir
        self.size = size

    def tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=10).stdout

    def env(self) -> list[str]:
        return ["env", "TERM=xterm-256color", "COLORTERM=", f"SRECONSOLE_DATA_DIR={self.data_dir}", f"XDG_CONFIG_HOME={self.data_dir}/config"]

    def start(self, *cli_args: str, env: tuple[str, ...] = ()) -> None:
        command = " ".join([*self.env(), *env, sys.executable, "-m", "sreconsole", *cli_args])
        width, height = self.size
        subprocess.run(
            ["tmux", "-L", self.socket, "-f", "/dev/null", "new-session", "-d", "-s", "e2e", "-x", str(width), "-y", str(height), command],
            check=True,
            timeout=10,
        )

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "e2e")

    def keys(self, *keys: str, pause: float = 0.15) -> None:
        """One ``send-keys`` per key, with a pause after each (longer after Escape)."""
        for key in keys:
            self.tmux("send-keys", "-t", "e2e", key)
            time.sleep(ESCAPE_WAIT_S if key in ("Escape", "Esc") else pause)

    def burst(self, *keys: str) -> None:
        """Every key in ONE ``send-keys``: they reach the app in one read, as over SSH."""
        self.tmux("send-keys", "-t", "e2e", *keys)
        time.sleep(0.15)

    def text(self, text: str) -> None:
        """Literal text in one ``send-keys -l`` (a burst)."""
        self.tmux("send-keys", "-t", "e2e", "-l", text)
        time.sleep(0.15)

    def wait_for(self, text: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} did not appear; screen was:\n{screen}")

    def wait_until(self, check, what: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if check(screen):
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{what} did not happen; screen was:\n{screen}")

    def alive(self) -> bool:
        return subprocess.run(["tmux", "-L", self.socket, "has-session", "-t", "e2e"], capture_output=True).returncode == 0

    def wait_gone(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while self.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        return not self.alive()

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def tmux(tmp_path):
    session = Tmux(str(tmp_path))
    yield session
    session.kill()
