"""The intent to execute: what is about to be sent, by which process, until when — and
whether that process is gone.

An approved proposal becomes ``executing`` (with an audit entry) *before* the executor sends
its first request, and ``executed``/``failed`` once the answer is recorded. A process killed
in between leaves the intent behind; :func:`interrupted` tells a live execution (another
operator's console, right now) from an abandoned one:

* on the same host (and the same boot), the process named in the intent is gone, or its pid
  now belongs to a process that started later (pid reuse);
* anywhere, the intent's deadline has passed: the executor's per-request timeout times the
  most requests an action makes, plus a margin.

Plain JSON in the proposal's ``result`` column and in the audit entry: the same intent works
for a store on another machine (there only the deadline applies).
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from typing import Any

MAX_REQUESTS = 3
"""The most requests one action makes (rollback-deployment: read, list, patch)."""
MARGIN_S = 30.0


def mark(timeout_s: float, now: datetime) -> dict[str, Any]:
    """This process, and the deadline of an execution that starts now."""
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "boot_id": _boot_id(),
        "process_start": _process_start(os.getpid()),
        "started_at": now.isoformat(),
        "deadline": (now + timedelta(seconds=MAX_REQUESTS * max(timeout_s, 0.0) + MARGIN_S)).isoformat(),
    }


def interrupted(intent: Any, now: datetime) -> str:
    """Why the execution an intent announced is over without a recorded outcome ('' while it
    may still be running)."""
    if not isinstance(intent, dict):
        return "the intent is unreadable"
    try:
        deadline = datetime.fromisoformat(str(intent.get("deadline")))
    except ValueError:
        return "the intent has no deadline"
    if intent.get("host") == socket.gethostname() and intent.get("boot_id") == _boot_id():
        pid = intent.get("pid")
        if isinstance(pid, int) and _process_start(pid) != intent.get("process_start"):
            return f"process {pid} on {intent.get('host')} ended without recording the outcome"
    elif intent.get("host") == socket.gethostname() and intent.get("boot_id") and intent.get("boot_id") != _boot_id():
        return "the host was restarted since"
    if now > deadline:
        return f"no outcome was recorded by its deadline ({deadline.isoformat(timespec='seconds')})"
    return ""


def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def _process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (``/proc/PID/stat`` field 22), or
    None when no such process exists. Where ``/proc`` is missing, whether the pid exists."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except FileNotFoundError:
        return None
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return "alive"
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat.rsplit(")", 1)[-1].split()
    state = fields[0] if fields else ""
    if state in ("Z", "X"):  # a zombie has finished: nothing more will be recorded by it
        return None
    return fields[19] if len(fields) > 19 else None
