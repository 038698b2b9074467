"""The knowledge store's single-writer lock: an exclusive ``flock`` on ``<store>.lock``
that records who holds it, so a second writer is told who, and since when — no traceback.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
from datetime import datetime, timezone
from pathlib import Path

from sreconsole.knowledge.store_file import StoreBusy


class WriteLock:
    """Held by the one process allowed to change the store at ``store``."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.path = store.with_name(store.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o664)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise StoreBusy(f"another sreconsole is writing {self.store} ({holder}); try again when it has finished") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "user": _user(), "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in a container
        return str(os.getuid())


def _read_holder(fd: int) -> str:
    try:
        os.lseek(fd, 0, 0)
        info = json.loads(os.read(fd, 4096).decode() or "{}")
        return f"pid {info.get('pid', '?')}, user {info.get('user', '?')}, since {info.get('since', '?')}"
    except (OSError, ValueError):
        return "holder unknown"
