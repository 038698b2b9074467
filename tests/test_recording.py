"""Session recordings (issue 21 §4): the file format, a console killed mid-write, damaged
and unknown-version files, and the replay timeline, source and queue over a recording.

The polls come from the embedded demo cluster (the project's own source, no server), the
queue from the real SQLite review store.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conftest import DEMO_EPOCH, FIXED_NOW
from sreconsole.cli.exit_codes import EXIT_BAD_RECORDING
from sreconsole.cli.main import main
from sreconsole.domain.operator import Operator
from sreconsole.services.alerts import AlertsService
from sreconsole.services.environment import build_alert_source
from sreconsole.services.recording import RecordingError, open_recorder, read_recording
from sreconsole.services.replay import READ_ONLY, Timeline, open_replay
from sreconsole.services.review import ReadOnly, ReviewQueue
from sreconsole.triage.catalog import load_catalog
from sreconsole.triage.engine import TriageEngine


class Clock:
    """A clock the test moves by hand (the recorder stamps events with it)."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def record_demo(settings, path: Path, polls: int = 3, decide: bool = True) -> Path:
    """``polls`` polls of the demo 10 s apart (the first at FIXED_NOW), then an enqueue
    10 s after the last poll and a rejection 5 s after that."""
    clock = Clock(FIXED_NOW)
    recorder = open_recorder(path, settings, clock)

    async def poll_all():
        service = AlertsService(build_alert_source(settings, clock, DEMO_EPOCH), clock)
        service.recorder = recorder
        out = []
        for _ in range(polls):
            out.append(await service.refresh())
            clock.now += timedelta(seconds=10)
        return out

    snapshots = asyncio.run(poll_all())
    if decide:
        queue = ReviewQueue(settings, Operator("alice", "10.1.2.3"), clock)
        queue.recorder = recorder
        alerts = [a for a in snapshots[-1].alerts if a.state.value == "firing"][:3]
        records = queue.enqueue(TriageEngine(load_catalog()).propose_many(alerts), alerts, from_source=True)
        clock.now += timedelta(seconds=5)
        queue.reject(records[0].id, "not this one")
    recorder.close()
    return path


def test_a_recording_reads_back_what_was_recorded(settings, tmp_path) -> None:
    path = record_demo(settings, tmp_path / "r.jsonl.gz")
    assert path.stat().st_mode & 0o777 == 0o600  # it names operators and what they decided
    recording = read_recording(path)
    assert recording.header["version"] == 1 and recording.header["source"] == "demo"
    assert recording.notes == ()
    kinds = [e.kind for e in recording.events]
    assert kinds[:3] == ["poll", "poll", "poll"] and "queue" in kinds and kinds[-1] == "queue" and "decision" in kinds
    polls = recording.of_kind("poll")
    assert [e.at for e in polls] == [FIXED_NOW, FIXED_NOW + timedelta(seconds=10), FIXED_NOW + timedelta(seconds=20)]
    first = polls[0].alerts()
    assert first and all(a.fingerprint for a in first)
    assert {a.labels.get("cluster") for a in first} != {None}  # the demo's cluster label comes through
    (decision,) = recording.of_kind("decision")
    assert decision.data["verdict"] == "rejected" and decision.data["operator"].startswith("alice")
    # On disk a poll holds only what changed since the one before; read back, every alert.
    raw = [json.loads(line) for line in gzip.decompress(path.read_bytes()).splitlines()[1:4]]
    assert raw[0]["gone"] == [] and len(raw[0]["alerts"]) == len(first)
    assert len(raw[1]["alerts"]) < len(first)
    second = {a.fingerprint for a in polls[1].alerts()}
    assert second == ({a.fingerprint for a in first} - set(raw[1]["gone"])) | {a["fingerprint"] for a in raw[1]["alerts"]}


def test_an_existing_file_is_never_overwritten(settings, tmp_path) -> None:
    path = tmp_path / "r.jsonl.gz"
    path.write_bytes(b"keep me")
    with pytest.raises(RecordingError, match="already exists"):
        open_recorder(path, settings, Clock(FIXED_NOW))
    assert path.read_bytes() == b"keep me"


def test_a_console_killed_mid_line_leaves_a_readable_file(settings, tmp_path) -> None:
    """Each line is sync-flushed: the file as it stands without a gzip trailer reads to its
    last whole line, and a torn last line is skipped with a note."""
    clock = Clock(FIXED_NOW)
    path = tmp_path / "killed.jsonl.gz"
    recorder = open_recorder(path, settings, clock)

    async def two_polls():
        service = AlertsService(build_alert_source(settings, clock, DEMO_EPOCH), clock)
        service.recorder = recorder
        await service.refresh()
        clock.now += timedelta(seconds=5)
        await service.refresh()

    asyncio.run(two_polls())
    killed = tmp_path / "copy.jsonl.gz"
    shutil.copy(path, killed)  # what a SIGKILL now would leave: no trailer
    recording = read_recording(killed)
    assert len(recording.of_kind("poll")) == 2
    assert any("gzip trailer" in n for n in recording.notes)
    # A torn line: a whole stream whose last line has no newline.
    recorder.close()
    whole = gzip.decompress(path.read_bytes())
    torn = tmp_path / "torn.jsonl.gz"
    torn.write_bytes(gzip.compress(whole + whole.splitlines(keepends=True)[1][:40]))
    recording = read_recording(torn)
    assert len(recording.of_kind("poll")) == 2
    assert any("cut off" in n for n in recording.notes)


@pytest.mark.parametrize(("content", "message"), [
    (b"not gzip at all", "not gzip-compressed"),
    (gzip.compress(b'{"format": "sreconsole-recording", "version": 99}\n'), "version 99"),
    (gzip.compress(b'{"hello": 1}\n'), "no sreconsole-recording header"),
    (gzip.compress(b"{broken\n"), "header line is not JSON"),
    (b"\x1f\x8b\x08garbage", "no header line"),
])
def test_a_damaged_or_unknown_file_is_one_line_and_its_own_exit_code(tmp_path, content, message, capsys) -> None:
    path = tmp_path / "bad.jsonl.gz"
    path.write_bytes(content)
    with pytest.raises(RecordingError, match=message):
        read_recording(path)
    assert main(["replay", str(path)]) == EXIT_BAD_RECORDING
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_record_refuses_an_existing_file_before_the_console_starts(tmp_path, capsys) -> None:
    path = tmp_path / "r.jsonl.gz"
    path.write_text("x")
    assert main(["--demo", "--record", str(path)]) == EXIT_BAD_RECORDING
    assert "already exists" in capsys.readouterr().err


class Wall:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_the_timeline_plays_scaled_pauses_steps_and_jumps_between_decisions(settings, tmp_path) -> None:
    recording = read_recording(record_demo(settings, tmp_path / "r.jsonl.gz"))
    wall = Wall()
    timeline = Timeline(recording, speed=10, wall=wall)
    assert timeline.duration == 35.0  # three polls 10 s apart, the decision 15 s after the last
    wall.t += 1.5
    assert timeline.position() == 15.0 and not timeline.paused
    timeline.toggle_pause()
    wall.t += 100
    assert timeline.position() == 15.0
    assert timeline.line().startswith("replay 00:15 / 00:35 ×10, paused")
    timeline.toggle_pause()
    timeline.seek(4)
    wall.t += 30  # the console starting up
    timeline.start_now()
    assert timeline.position() == 4.0
    wall.t += 0.1
    assert timeline.position() == pytest.approx(5.0)
    timeline.seek(0)
    assert timeline.step() and timeline.position() == 10.0 and timeline.paused
    assert timeline.next_decision() and timeline.position() == 35.0
    assert timeline.latest("decision").data["verdict"] == "rejected"
    assert not timeline.next_decision()
    assert not timeline.previous_decision()  # the only decision is this one
    timeline.seek(3)
    assert timeline.latest("poll").at == FIXED_NOW and timeline.latest("decision") is None


def test_the_replay_source_and_queue_answer_as_of_the_timeline_and_refuse_changes(settings, tmp_path) -> None:
    path = record_demo(settings, tmp_path / "r.jsonl.gz")
    session = open_replay(path, speed=1)
    session.timeline.seek(0, pause=True)
    assert session.source.health().name == "demo"  # the recorded source's name from the start
    recorded = read_recording(path).of_kind("poll")
    alerts = asyncio.run(session.source.fetch_alerts())
    assert [a.fingerprint for a in alerts] == [a.fingerprint for a in recorded[0].alerts()]
    assert session.source.health().name == "demo"
    queue = session.queue(settings, Operator("bob"))
    assert queue.list() == []  # nothing queued yet at the start
    session.timeline.next_decision()
    pending = queue.list()
    everything = queue.list(all_states=True)
    assert len(everything) == len(pending) + 1 and any(r.state == "rejected" for r in everything)
    with pytest.raises(ReadOnly, match=READ_ONLY):
        queue.approve(pending[0].id, "no")
    with pytest.raises(Exception, match=READ_ONLY):
        asyncio.run(session.source.create_silence([], FIXED_NOW, FIXED_NOW, "bob", "x"))
    assert json.dumps(pending[0].as_dict())  # a record read back is a whole record


def test_the_replay_shows_the_evidence_opened_then_and_says_when_none_was(settings, tmp_path) -> None:
    """The demo's evidence service answers from the simulated cluster (metrics and logs);
    the replay gives back exactly what was recorded, from the moment it was opened on."""
    from sreconsole.services.evidence import build_evidence_service

    clock = Clock(FIXED_NOW)
    path = tmp_path / "r.jsonl.gz"
    recorder = open_recorder(path, settings, clock)

    async def poll_and_open():
        source = build_alert_source(settings, clock, DEMO_EPOCH)
        service = AlertsService(source, clock)
        service.recorder = recorder
        snapshot = await service.refresh()
        clock.now += timedelta(seconds=10)
        evidence = build_evidence_service(settings, source, clock)
        evidence.recorder = recorder
        opened = await evidence.gather(snapshot.alerts[0])
        clock.now += timedelta(seconds=10)
        await service.refresh()
        return snapshot.alerts, opened

    alerts, opened = asyncio.run(poll_and_open())
    recorder.close()
    assert opened.logs or opened.series  # the demo answered something worth recording
    session = open_replay(path)
    replayed = session.evidence
    session.timeline.seek(5, pause=True)  # before it was opened
    assert asyncio.run(replayed.gather(alerts[0])).logs_error == "not opened during the recording"
    session.timeline.seek(20, pause=True)
    again = asyncio.run(replayed.gather(alerts[0]))
    assert [line.line for line in again.logs] == [line.line for line in opened.logs]
    assert [v for _, v in again.series] == [v for _, v in opened.series] and again.expr == opened.expr
    assert asyncio.run(replayed.gather(alerts[1])).metric_error == "not opened during the recording"


def test_an_alerts_cluster_is_recorded_and_read_back() -> None:
    from sreconsole.domain.alerts import Alert
    from sreconsole.services.recording import alert_from_json, alert_json

    alert = Alert("prod-eu/0123456789abcdef", {"alertname": "X", "pod": "web-1"}, {"summary": "s"}, FIXED_NOW, cluster="prod-eu")
    data = alert_json(alert)
    assert data["cluster"] == "prod-eu"
    assert alert_from_json(json.loads(json.dumps(data))) == alert
