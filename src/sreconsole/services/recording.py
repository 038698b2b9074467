"""Session recordings: what the console received, written as it arrives, read back for
``sreconsole replay``, for snapshot tests and for ``eval triage --from-recording``.

The format is **gzip-compressed JSON lines** (``.jsonl.gz``), chosen over SQLite because:

* one line per event, flushed (a gzip sync flush) as it is written, means a console killed
  in the middle of the night leaves a file that reads up to its last whole line; SQLite
  would need a journal beside the file and a transaction per poll;
* it is append-only and needs nothing to read but ``zcat``, so an operator can grep a
  recording in a post-mortem, and a reviewer can check that no secret is in it;
* it compresses the repetition between polls (the same alerts every few seconds) well.

The first line is the header: ``{"format": "sreconsole-recording", "version": 1,
"sreconsole": "<version>", "started_at": "<ISO>", "source": "demo" | "alertmanager",
"settings": [names of the settings not at their defaults]}`` (names only, never values).
Every other line is one event with ``"t"`` (ISO 8601, the console's clock) and ``"kind"``:

``poll``      the normalised alerts of one poll (every field of :class:`Alert`, a
              ``cluster`` field included where the alert has one) that are new or
              changed since the previous poll, the fingerprints of those that left it
              (``gone``), the source's health and the poll's error;
``evidence``  the evidence an operator opened for an alert: metric series, log lines,
              the runbook address, the errors, the cited runbook passages' paths;
``queue``     the review queue after a change (enqueue, an alert's state, a decision):
              every proposal record, as the Review pane lists them;
``decision``  an operator's verdict: approved, rejected, rolled back or dry-run, with the
              proposal's action, its alerts' fingerprints, who and why.

**No secret enters a file.** Every string goes through
:func:`sreconsole.domain.secrets.redact_text` (addresses' userinfo and query tokens,
``Authorization`` values, named credentials, JWTs, keys), every value whose key names a
credential is replaced whole, and the values of the settings marked ``secret(...)`` are
removed wherever they appear. ``tests/adversarial/test_recording_secrets.py`` greps a
decompressed recording for them.

The recorder is a service the other services call through one small hook (their
``recorder`` attribute, :data:`NO_RECORDER` by default): the TUI writes no file itself.
"""

from __future__ import annotations

import dataclasses
import enum
import gzip
import json
import os
import threading
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sreconsole import __version__
from sreconsole.domain.alerts import Alert, AlertState, parse_time
from sreconsole.domain.secrets import name_is_secret, redact_known, redact_text
from sreconsole.domain.text import REDACTED

FORMAT = "sreconsole-recording"
VERSION = 1
"""Bumped when a reader of the old version could not read the new one."""

KINDS = ("poll", "evidence", "queue", "decision")


class RecordingError(Exception):
    """A recording that cannot be read: not one, damaged at its start, or a version this
    sreconsole does not know. The message is one line for the operator."""


# -- redaction -------------------------------------------------------------------------


class Scrubber:
    """Removes credentials from any JSON-able value (see the module docstring)."""

    MEMO = 100_000
    """Strings remembered with their scrubbed form: a poll repeats the last one's
    fingerprints and label values, and the regexes are most of a poll's cost."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = tuple(s for s in secrets if isinstance(s, str) and s)
        self._memo: dict[str, str] = {}

    def text(self, value: object) -> str:
        if not isinstance(value, str):
            return redact_known(redact_text(value), self.secrets)
        done = self._memo.get(value)
        if done is None:
            if len(self._memo) >= self.MEMO:
                self._memo.clear()
            done = self._memo[value] = redact_known(redact_text(value), self.secrets)
        return done

    def value(self, value: Any, name: str = "") -> Any:
        if isinstance(value, str):
            return REDACTED if value and name and name_is_secret(name) else self.text(value)
        if isinstance(value, dict):
            return {redact_known(str(k), self.secrets): self.value(v, str(k)) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(v, name) for v in value]
        return value


def settings_secrets(settings) -> list[str]:
    """The values of the settings marked ``secret(...)``, to be removed wherever they occur."""
    return [str(value) for _key, value, _origin, is_secret, _doc in settings.items() if is_secret and value]


def changed_setting_names(settings) -> list[str]:
    """The dotted names of the settings not at their defaults (names only: the header says
    how the console was set up without saying with what)."""
    return sorted(key for key, _value, origin, _secret, _doc in settings.items() if origin != "default")


# -- alerts to JSON and back -----------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value) if not f.name.startswith("_")}
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def alert_json(alert: Alert) -> dict:
    """Every public field of the alert (a field added later, such as ``cluster``, too)."""
    return _jsonable(alert)


_ALERT_TIMES = {"starts_at", "ends_at"}


def alert_from_json(data: dict) -> Alert:
    """The alert again, from the fields this version's :class:`Alert` has (a recording
    from a version with more fields still reads)."""
    known = {f.name for f in dataclasses.fields(Alert) if f.init and not f.name.startswith("_")}
    kwargs: dict[str, Any] = {}
    for name in known & data.keys():
        value = data[name]
        if name in _ALERT_TIMES:
            value = parse_time(value)
            if value is None and name == "starts_at":
                continue
        elif name == "state":
            value = AlertState(value)
        elif name in ("silenced_by", "inhibited_by"):
            value = tuple(value or ())
        elif name in ("labels", "annotations"):
            value = {str(k): str(v) for k, v in (value or {}).items()}
        kwargs[name] = value
    return Alert(**kwargs)


# -- writing ---------------------------------------------------------------------------


class NullRecorder:
    """What a service calls when nothing is recorded: every hook does nothing."""

    enabled = False

    def poll(self, snapshot) -> None: ...

    def evidence(self, alert: Alert, evidence) -> None: ...

    def queue(self, records: Iterable) -> None: ...

    def decision(self, verdict: str, record, reason: str = "", operator: object = "", queue: Iterable = ()) -> None: ...

    def close(self) -> None: ...


NO_RECORDER = NullRecorder()


class Recorder(NullRecorder):
    """Appends the console's events to one recording. Safe to call from the TUI's thread
    workers and its event loop alike (one lock around each line)."""

    enabled = True

    def __init__(self, path: Path, settings, clock: Callable[[], datetime], *, source: str = "") -> None:
        self.path = Path(path)
        self.clock = clock
        self.scrub = Scrubber(settings_secrets(settings))
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Opened exclusively: a recording is evidence, and a second console must not
        # interleave lines into (or truncate) the first one's file. Private (0600): it
        # names operators, targets and what they decided, whatever the umask.
        raw = os.fdopen(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")  # closed in close()
        self._raw = raw
        self._gz = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0)
        self._write({
            "format": FORMAT,
            "version": VERSION,
            "sreconsole": __version__,
            "started_at": clock().isoformat(),
            "source": source or ("demo" if settings.is_demo else "alertmanager"),
            "settings": changed_setting_names(settings),
        })
        self.events = 0
        self._previous: dict[str, Alert] = {}

    def _write(self, obj: dict) -> None:
        line = json.dumps(self.scrub.value(obj), ensure_ascii=False, separators=(",", ":")) + "\n"
        with self._lock:
            if self._gz is None:
                return
            self._gz.write(line.encode("utf-8"))
            # A sync flush: everything so far decompresses even if the process dies now.
            self._gz.flush(zlib.Z_SYNC_FLUSH)
            self._raw.flush()

    def _event(self, kind: str, at: datetime | None = None, **data) -> None:
        self._write({"t": (at or self.clock()).isoformat(), "kind": kind, **data})
        self.events += 1

    def poll(self, snapshot) -> None:
        """One poll: in full only the alerts that are new or changed since the previous
        poll, and the fingerprints of those that left it (``gone``), so a quiet night costs
        next to nothing to write and to store, however many alerts fire (the reader puts
        each poll back together)."""
        h = snapshot.health
        previous, self._previous = self._previous, {a.fingerprint: a for a in snapshot.alerts}
        self._event(
            "poll",
            alerts=[alert_json(a) for a in snapshot.alerts if previous.get(a.fingerprint) != a],
            gone=[fp for fp in previous if fp not in self._previous],
            source=h.name,
            health=h.state.value,
            reason=h.reason,
            error=snapshot.error,
            acks=sorted(snapshot.acks),
            filtered_by=list(snapshot.filtered_by),
        )

    def evidence(self, alert: Alert, evidence) -> None:
        knowledge = evidence.knowledge
        cites = [
            f"{getattr(p, 'path', '')}:{getattr(p, 'start_line', '')}-{getattr(p, 'end_line', '')}"
            for p in getattr(knowledge, "passages", ()) or ()
        ]
        self._event(
            "evidence",
            fingerprint=alert.fingerprint,
            alertname=alert.alertname,
            expr=evidence.expr,
            threshold=evidence.threshold,
            unit=evidence.unit,
            series=[[at.isoformat(), v] for at, v in evidence.series],
            metric_error=evidence.metric_error,
            logs=[[line.at.isoformat(), line.line] for line in evidence.logs],
            logs_error=evidence.logs_error,
            runbook_url=evidence.runbook_url,
            cites=cites,
            knowledge_error=evidence.knowledge_error,
        )

    def queue(self, records: Iterable, at: datetime | None = None) -> None:
        self._event("queue", at, records=[r.as_dict() for r in records])

    def decision(self, verdict: str, record, reason: str = "", operator: object = "", queue: Iterable = ()) -> None:
        """The verdict, then (``queue``) the queue it left, stamped with the same moment: a
        replay that jumps to the decision shows the queue after it."""
        at = self.clock()
        self._event(
            "decision",
            at,
            verdict=verdict,
            id=record.id,
            action=record.action,
            alertname=record.alertname,
            fingerprints=[a.get("fingerprint", "") for a in record.alerts] or [record.fingerprint],
            state=record.state,
            operator=str(operator),
            reason=reason,
            corrected_action=record.corrected_action,
        )
        if queue:
            self.queue(queue, at)

    def close(self) -> None:
        with self._lock:
            if self._gz is None:
                return
            gz, self._gz = self._gz, None
            gz.close()
            self._raw.close()


def open_recorder(path: str | Path, settings, clock: Callable[[], datetime]) -> Recorder:
    """A new recording at ``path``; raises :class:`RecordingError` (one line) when it
    cannot be created (it exists: recordings are never overwritten; no permission)."""
    try:
        return Recorder(Path(path), settings, clock)
    except FileExistsError:
        raise RecordingError(f"{path}: already exists (a recording is never overwritten; choose another name)") from None
    except OSError as exc:
        raise RecordingError(f"{path}: cannot create the recording: {exc.strerror or exc}") from None


# -- reading ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One recorded event: when (the console's clock), what kind, and its data."""

    at: datetime
    kind: str
    data: dict

    def alerts(self) -> tuple[Alert, ...]:
        """A poll's alerts (empty for the other kinds). An alert this version cannot read
        (a state it does not know, labels that are not a map) is left out: a recording is a
        file from elsewhere, and one bad entry must not hide the others."""
        out = []
        for a in self.data.get("alerts", ()):
            try:
                out.append(alert_from_json(a))
            except (TypeError, ValueError, AttributeError):
                continue
        return tuple(out)


@dataclass(frozen=True)
class Recording:
    """A recording read back: its header, its events in order, and what the reader had
    to skip (a truncated last line, a line of a kind it does not know)."""

    path: Path
    header: dict
    events: tuple[Event, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def started_at(self) -> datetime:
        return parse_time(self.header.get("started_at")) or (self.events[0].at if self.events else datetime.now(timezone.utc))

    @property
    def ended_at(self) -> datetime:
        return self.events[-1].at if self.events else self.started_at

    def of_kind(self, kind: str) -> list[Event]:
        return [e for e in self.events if e.kind == kind]


def _decompressed(path: Path) -> tuple[bytes, bool]:
    """The file's bytes, decompressed as far as they go, and whether the stream ended
    cleanly (a killed console leaves no gzip trailer; its sync-flushed lines still read)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise RecordingError(f"{path}: no such recording") from None
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if not data.startswith(b"\x1f\x8b"):
        raise RecordingError(f"{path}: not a sreconsole recording (not gzip-compressed)")
    out = bytearray()
    rest = data
    complete = True
    while rest:
        inflater = zlib.decompressobj(wbits=31)
        try:
            out += inflater.decompress(rest)
        except zlib.error:
            complete = False
            break
        if not inflater.eof:
            complete = False
            break
        rest = inflater.unused_data  # gzip allows members one after another
    return bytes(out), complete


def _whole_poll(obj: dict, last: dict[str, dict]) -> dict:
    """A poll event with every alert of that poll: the previous poll's, less those
    ``gone``, with the new and changed ones written in this one."""
    gone, alerts = obj.get("gone"), obj.get("alerts")
    for fp in gone if isinstance(gone, list) else ():
        if isinstance(fp, str):
            last.pop(fp, None)
    for a in alerts if isinstance(alerts, list) else ():
        if isinstance(a, dict) and isinstance(a.get("fingerprint"), str):
            last[a["fingerprint"]] = a
    return {**obj, "alerts": list(last.values())}


def read_recording(path: str | Path) -> Recording:
    """Read a whole recording. Raises :class:`RecordingError` for a file that is not one,
    is damaged before its first event, or has a version this sreconsole cannot read."""
    path = Path(path)
    data, complete = _decompressed(path)
    lines = data.split(b"\n")
    notes: list[str] = []
    tail = lines.pop()  # after the last newline: '' for a whole file, a torn line otherwise
    if tail:
        notes.append(f"the last line was cut off (the console stopped while writing it): {len(tail)} bytes skipped")
    elif not complete:
        notes.append("the file ends without its gzip trailer (the console did not close it): read up to its last whole line")
    if not lines:
        raise RecordingError(f"{path}: damaged: no header line")
    try:
        header = json.loads(lines[0])
    except (ValueError, UnicodeDecodeError):
        raise RecordingError(f"{path}: damaged: the header line is not JSON") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise RecordingError(f"{path}: not a sreconsole recording (no {FORMAT} header)")
    version = header.get("version")
    if version != VERSION:
        raise RecordingError(f"{path}: recording format version {version!r}; this sreconsole reads version {VERSION}")
    events: list[Event] = []
    last: dict[str, dict] = {}  # fingerprint → the alert's JSON as last written
    for number, line in enumerate(lines[1:], start=2):
        try:
            obj = json.loads(line)
        except (ValueError, UnicodeDecodeError):
            notes.append(f"line {number}: damaged, skipped")
            continue
        at = parse_time(obj.get("t")) if isinstance(obj, dict) else None
        kind = obj.get("kind") if isinstance(obj, dict) else None
        if at is None or kind not in KINDS:
            notes.append(f"line {number}: not an event this version knows, skipped")
            continue
        if kind == "poll":
            obj = _whole_poll(obj, last)
        events.append(Event(at, kind, obj))
    events.sort(key=lambda e: e.at)  # already in order; a clock step back must not break the timeline
    return Recording(path, header, tuple(events), tuple(notes))


# -- a recording as labelled data ------------------------------------------------------


@dataclass(frozen=True)
class RecordedLabels:
    """The alerts of a recording, labelled by the operators' recorded decisions.

    An approval says the proposed action was right; a rejection that names the right
    action says that one was; a rejection that names none says only that the proposed
    action was wrong (``rejected``: scored as "proposed again or not"). A later decision
    on the same alert replaces an earlier one. Each alert is as the last poll at or before
    its decision showed it."""

    alerts: tuple[Alert, ...]
    expected: tuple[tuple[str, ...], ...]
    rejected: tuple[tuple[Alert, str], ...]
    """(alert, the action the operator rejected) for rejections naming no better one."""
    unlabelled: tuple[Alert, ...]
    """Every other alert the recording saw (firing at least once, no decision), as last seen."""
    decisions: dict


def recorded_labels(recording: Recording) -> RecordedLabels:
    last_seen: dict[str, dict] = {}  # fingerprint → the alert's JSON in the latest poll so far
    by_alert: dict[str, tuple[dict, dict]] = {}  # fingerprint → (decision data, alert JSON then)
    firing: dict[str, dict] = {}
    for event in recording.events:
        if event.kind == "poll":
            for a in event.data.get("alerts", ()):
                fp = a.get("fingerprint", "")
                last_seen[fp] = a
                if a.get("state") == "firing":
                    firing[fp] = a
        elif event.kind == "decision":
            for fp in event.data.get("fingerprints") or ():
                if fp in last_seen:
                    by_alert[fp] = (event.data, last_seen[fp])
                    break
    alerts, expected, rejected = [], [], []
    counts = {"approved": 0, "rejected": 0, "rejected_with_action": 0, "dry_run": 0, "rolled_back": 0, "without_alert": 0}
    for event in recording.of_kind("decision"):
        counts[event.data.get("verdict", "")] = counts.get(event.data.get("verdict", ""), 0) + 1
        if event.data.get("verdict") == "rejected" and event.data.get("corrected_action"):
            counts["rejected_with_action"] += 1
        if not any(fp in by_alert for fp in event.data.get("fingerprints") or ()):
            counts["without_alert"] += 1
    for fp, (decision, data) in by_alert.items():
        alert = alert_from_json(data)
        verdict, action, corrected = decision.get("verdict"), decision.get("action", ""), decision.get("corrected_action", "")
        if verdict == "approved":
            alerts.append(alert)
            expected.append((action,))
        elif verdict == "rejected" and corrected:
            alerts.append(alert)
            expected.append((corrected,))
        elif verdict == "rejected":
            rejected.append((alert, action))
    unlabelled = tuple(alert_from_json(a) for fp, a in firing.items() if fp not in by_alert)
    return RecordedLabels(tuple(alerts), tuple(expected), tuple(rejected), unlabelled, counts)
