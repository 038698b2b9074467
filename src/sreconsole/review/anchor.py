"""The audit head anchored outside the store's file: a witness file, the system log, and
checking a trail against either.

The hash chain shows an edited, deleted or reordered entry, but not a trail cut off at its
end by someone who also moves ``audit_head`` back: a shorter chain is still a valid chain.
So every committed entry's ``seq hash`` is also written where that person cannot rewrite it:

* a **witness file** (``review.audit_witness``): opened ``O_APPEND``, one ``seq hash`` line
  per entry, fsynced. Make it append-only for the operators (``chattr +a`` as root: then even
  its owner can only add lines) or put it on another host. Lines are written after the
  entry committed, under an exclusive ``flock``, for every entry newer than the witness's
  last line: a process killed between its commit and its line leaves the line to the next
  writer, and the witness never holds an entry that did not commit;
* the **system log** (``review.audit_syslog``, ``/dev/log`` by default when it exists): one
  message ``seq hash store-path`` per entry, tag ``sreconsole-audit``, facility authpriv
  (on Debian, ``/var/log/auth.log`` or the journal: ``journalctl -t sreconsole-audit``).
  Best effort: a log that is down does not stop a decision.

:func:`check` compares a trail with an anchor (the witness, a copy of it, or lines taken
from the journal): an anchored entry the trail no longer has (cut off), a different hash
for an anchored seq (rewritten), or two hashes for one seq in the anchor (someone added
lines to it).
"""

from __future__ import annotations

import fcntl
import logging
import logging.handlers
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

SYSLOG_TAG = "sreconsole-audit"
_LINE = re.compile(r"(?:^|\s)(\d+) ([0-9a-f]{64})(?:\s+(\S.*?))?\s*$")
_TAIL_BYTES = 4096


class Witness:
    """The append-only witness file of one store."""

    def __init__(self, path: Path | str, *, mode: int = 0o600) -> None:
        self.path = Path(path).expanduser()
        self.mode = mode

    def publish(self, entries_after: Callable[[int], Iterable[tuple[int, str]]]) -> None:
        """Append a line for every committed entry newer than the last line;
        ``entries_after(seq)`` reads them from the store. Raises OSError (the caller
        reports it: the entries are committed whatever happens here)."""
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, self.mode)
            os.fchmod(fd, self.mode)  # created now: the umask took bits off
        except FileExistsError:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            last, torn = _last_line(self.path)
            lines = [f"{seq} {h}\n" for seq, h in entries_after(last)]
            if lines:
                data = ("\n" if torn else "") + "".join(lines)
                os.write(fd, data.encode("ascii"))
                os.fsync(fd)
        finally:
            os.close(fd)  # releases the lock


class _QuietSysLogHandler(logging.handlers.SysLogHandler):
    """A syslog handler that records a failure instead of printing a traceback."""

    failed = ""

    def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802 - logging's name
        import sys

        self.failed = str(sys.exc_info()[1] or "syslog write failed")


class SystemLog:
    """``seq hash store`` messages to the syslog socket, when there is one."""

    def __init__(self, address: str, store: Path) -> None:
        self.address = address
        self.store = store
        self._handler: _QuietSysLogHandler | None = None
        self.error = ""

    def publish(self, entries: Iterable[dict]) -> None:
        handler = self._connect()
        if handler is None:
            return
        for entry in entries:
            record = logging.makeLogRecord({"msg": f"{entry['seq']} {entry['hash']} {self.store}", "levelno": logging.INFO, "levelname": "INFO"})
            handler.emit(record)
        if handler.failed:
            self.error, handler.failed = handler.failed, ""

    def _connect(self) -> _QuietSysLogHandler | None:
        if self._handler is None:
            if not self.address or not Path(self.address).exists():
                return None
            try:
                handler = _QuietSysLogHandler(address=self.address, facility=logging.handlers.SysLogHandler.LOG_AUTHPRIV)
            except OSError as exc:
                self.error = str(exc)
                return None
            handler.ident = f"{SYSLOG_TAG}[{os.getpid()}]: "
            self._handler = handler
        return self._handler

    def close(self) -> None:
        if self._handler is not None:
            self._handler.close()
            self._handler = None


def _last_line(path: Path) -> tuple[int, bool]:
    """``(seq of the last complete line, whether the file ends in a torn line)``."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - _TAIL_BYTES))
        tail = fh.read().decode("ascii", "replace")
    torn = bool(tail) and not tail.endswith("\n")
    for line in reversed(tail.splitlines()[:-1] if torn else tail.splitlines()):
        parsed = parse_line(line)
        if parsed is not None:
            return parsed[0], torn
    return 0, torn


# -- checking --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AnchorProblem:
    seq: int
    reason: str


def parse_line(line: str, store: str | None = None) -> tuple[int, str] | None:
    """``(seq, hash)`` from a witness line or a syslog line carrying one (``… sreconsole-audit[12]:
    57 <hash> /srv/q/review.sqlite``); None for anything else, or for a syslog line about
    another store than ``store``."""
    m = _LINE.search(line.rstrip("\n"))
    if m is None:
        return None
    if store is not None and m.group(3) and m.group(3) != store:
        return None
    return int(m.group(1)), m.group(2)


def read(path: Path | str, store: str | None = None) -> Iterator[tuple[int, int, str]]:
    """``(line number, seq, hash)`` of every anchor line in a file."""
    with open(Path(path).expanduser(), encoding="utf-8", errors="replace") as fh:
        for number, line in enumerate(fh, start=1):
            parsed = parse_line(line, store)
            if parsed is not None:
                yield number, parsed[0], parsed[1]


def check(anchored: Iterable[tuple[int, int, str]], hashes: dict[int, str], entries: int) -> tuple[AnchorProblem | None, int]:
    """The first disagreement between an anchor and a trail (``hashes``: seq → hash of every
    entry, ``entries``: how many), and the highest anchored seq."""
    seen: dict[int, tuple[int, str]] = {}
    highest = 0
    for number, seq, h in anchored:
        earlier = seen.get(seq)
        if earlier is not None and earlier[1] != h:
            return AnchorProblem(seq, f"the anchor names two hashes for entry {seq} (lines {earlier[0]} and {number}): lines were added to it"), highest
        seen[seq] = (number, h)
        highest = max(highest, seq)
    for seq in sorted(seen):
        number, h = seen[seq]
        if seq > entries:
            return AnchorProblem(seq, f"the trail ends at entry {entries} but the anchor names entry {seq} (line {number}): entries were cut off the end"), highest
        if hashes.get(seq) != h:
            return AnchorProblem(seq, f"audit entry {seq} is not the one the anchor recorded (line {number}): the trail was rewritten"), highest
    return None, highest
