"""The review queue end to end: proposals enqueued from `triage --batch --enqueue`, decided
from the CLI and from the keyboard, races lost with a clear message, the audit chain
verified. Real SQLite files and real processes; no Kubernetes API is configured, so
approvals run as dry runs (the executor's own contract tests cover the API calls)."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from sreconsole.config import load_settings
from sreconsole.domain.alerts import Alert
from sreconsole.domain.operator import Operator
from sreconsole.services.review import ReviewQueue
from sreconsole.triage.catalog import load_catalog
from sreconsole.triage.engine import TriageEngine


ME = pwd.getpwuid(os.geteuid()).pw_name


def am_alert(name: str, labels: dict, function: str) -> dict:
    return {
        "labels": {"alertname": name, "severity": "warning", **labels},
        "annotations": {"summary": f"{name} fired", "lambda_function": function},
        "fingerprint": f"{abs(hash((name, tuple(sorted(labels.items()))))):016x}"[:16],
        "startsAt": "2026-11-24T06:00:00Z",
        "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
    }


ALERTS = [
    am_alert("KubePodCrashLooping", {"namespace": "payments", "pod": "api-7d9f8b6c4-x2kzq"}, "pod-restart"),
    am_alert("KubeNodeNotReady", {"node": "worker-3"}, "cordon-node"),
]


def cli(*args: str, env: dict, check_rc: int | None = 0) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "sreconsole", *args], env=env, capture_output=True, text=True, timeout=120)
    if check_rc is not None:
        assert out.returncode == check_rc, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr
    return out


@pytest.fixture
def env(tmp_path) -> dict:
    e = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")}
    e["SRECONSOLE_DATA_DIR"] = str(tmp_path / "data")
    e["SRECONSOLE_KNOWLEDGE_ENABLED"] = "0"
    e["USER"] = "alice"
    e["SSH_CONNECTION"] = "10.0.0.5 50000 10.0.0.1 22"
    e["COLUMNS"] = "200"
    return e


def test_enqueue_approve_lose_a_race_reject_and_verify_from_the_cli(tmp_path, env):
    batch = tmp_path / "alerts.jsonl"
    batch.write_text("".join(json.dumps({"alert": a}) + "\n" for a in ALERTS))
    out = cli("triage", "--batch", str(batch), "--json", "--enqueue", env=env)
    assert "queued 2 proposal(s)" in out.stderr
    listed = json.loads(cli("review", "list", "--json", env=env).stdout)
    assert {r["action"] for r in listed} == {"pod-restart", "cordon-node"}
    assert all(r["state"] == "pending" for r in listed)
    restart = next(r for r in listed if r["action"] == "pod-restart")
    cordon = next(r for r in listed if r["action"] == "cordon-node")

    approved = json.loads(cli("review", "approve", str(restart["id"]), "--reason", "db is back", "--json", env=env).stdout)
    assert approved["proposal"]["state"] == "approved"
    # The kernel's user decides; $USER is recorded beside it as a claim.
    assert approved["proposal"]["decided_by"] == ME and approved["proposal"]["decided_claim"] == ("alice" if ME != "alice" else "")
    execution = approved["execution"]
    assert execution["dry_run"] is True and execution["ok"] is True
    assert [(c["method"], c["path"]) for c in execution["calls"]] == [("DELETE", "/api/v1/namespaces/payments/pods/api-7d9f8b6c4-x2kzq")]

    bob = {**env, "USER": "bob"}
    lost = cli("review", "approve", str(restart["id"]), "--reason", "me too", env=bob, check_rc=4)
    assert f"already approved by {ME}@10.0.0.5" in lost.stderr and len(lost.stderr.strip().splitlines()) == 1

    no_reason = cli("review", "reject", str(cordon["id"]), "--reason", "  ", env=bob, check_rc=1)
    assert "reason" in no_reason.stderr
    rejected = json.loads(cli("review", "reject", str(cordon["id"]), "--reason", "node is fine", "--action", "escalate", "--json", env=bob).stdout)
    assert rejected["proposal"]["state"] == "rejected" and rejected["proposal"]["corrected_action"] == "escalate"

    assert json.loads(cli("review", "list", "--json", env=env).stdout) == []
    everything = json.loads(cli("review", "list", "--all", "--json", env=env).stdout)
    assert {r["state"] for r in everything} == {"approved", "rejected"}

    ok = cli("audit", "verify", env=env)
    assert "hash chain intact" in ok.stdout
    entries = [json.loads(line) for line in cli("audit", "export", "--json", env=env).stdout.splitlines()]
    events = [e["event"] for e in entries]
    assert events.count("enqueue") == 2 and "approve" in events and "reject" in events and "dry_run" in events
    ro = cli("--read-only", "review", "reject", str(restart["id"]), "--reason", "x", env=env, check_rc=5)
    assert "read-only" in ro.stderr


def test_an_edited_parameter_is_validated_before_anything_is_stored(tmp_path, env):
    batch = tmp_path / "alerts.jsonl"
    batch.write_text(json.dumps({"alert": ALERTS[0]}) + "\n")
    cli("triage", "--batch", str(batch), "--json", "--enqueue", env=env)
    (rec,) = json.loads(cli("review", "list", "--json", env=env).stdout)
    for hostile in ("a;b", "$(reboot)", "x\ny", "p" * 300):
        out = cli("review", "approve", str(rec["id"]), "--reason", "r", "--param", f"name={hostile}", env=env, check_rc=1)
        assert "name" in out.stderr
    (still,) = json.loads(cli("review", "list", "--json", env=env).stdout)
    assert still["state"] == "pending" and still["parameters"]["name"] == "api-7d9f8b6c4-x2kzq"


def _queue_with(settings, alerts: list[dict]) -> tuple[ReviewQueue, list]:
    from sreconsole.sources.alertmanager import parse_alert

    queue = ReviewQueue(settings, Operator("carol", "10.0.0.9"))
    engine = TriageEngine(load_catalog())
    parsed: list[Alert] = [parse_alert(a) for a in alerts]
    return queue, queue.enqueue(engine.propose_many(parsed), parsed)


async def open_review(app, pilot, count: int):
    """Switch to the Review pane and wait until its poll shows ``count`` proposals."""
    from sreconsole.tui.panes.review import ReviewPane

    from conftest import wait_for_polls

    await wait_for_polls(app, pilot)
    await pilot.press("2")
    pane = app.query_one(ReviewPane)
    for _ in range(100):
        await pilot.pause(0.05)
        if len(pane.records) == count:
            break
    return pane


async def test_approve_and_reject_from_the_keyboard(make_demo_app):
    from sreconsole.tui.panes.review import ApproveScreen, ReasonScreen

    settings = load_settings()
    queue, records = _queue_with(settings, ALERTS)
    queue.close()
    app = make_demo_app(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = await open_review(app, pilot, 2)
        assert app.focused is app.query_one("#review-table")
        first = pane.selected()
        await pilot.press("a")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ApproveScreen)
        await pilot.press(*"checked the db", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause(0.3)
        assert app.review_queue.get(first.id).state == "approved"
        assert app.review_queue.get(first.id).reason == "checked the db"
        other = next(r for r in records if r.id != first.id)
        pane.query_one("#review-table").move_cursor(row=pane.order.index(str(other.id)))
        await pilot.press("r")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ReasonScreen)
        await pilot.press("enter")  # no reason: refused, the dialog stays
        await pilot.pause(0.1)
        assert isinstance(app.screen, ReasonScreen)
        await pilot.press(*"not needed", "enter")
        await app.workers.wait_for_complete()
        await pilot.pause(0.3)
        assert app.review_queue.get(other.id).state == "rejected"


async def test_a_high_risk_action_must_be_typed_to_confirm(make_demo_app, tmp_path):
    from sreconsole.tui.panes.review import ApproveScreen

    settings = load_settings()
    catalog = load_catalog()
    high = [a.id for a in catalog if a.risk == "high"]
    if not high:
        pytest.skip("the shipped catalog has no high-risk action")
    action = catalog.get(high[0])
    labels = {p.label: "x1" if p.kind != "integer" else "3" for p in action.parameters if p.label}
    if any(p.label is None for p in action.parameters):
        pytest.skip(f"{action.id} needs an operator-supplied parameter")
    queue, (record,) = _queue_with(settings, [am_alert("SomethingBad", labels, action.id)])
    queue.close()
    app = make_demo_app(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_review(app, pilot, 1)
        await pilot.press("a")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ApproveScreen)
        await pilot.press(*"yes", "enter")
        await pilot.pause(0.1)
        assert isinstance(app.screen, ApproveScreen)  # refused: not the action id
        assert app.review_queue.get(record.id).state == "pending"
        error = str(app.screen.query_one("#approve-error").content)
        assert f"type {action.id} exactly" in error  # said next to the field
        app.screen.query_one("#approve-confirm").value = ""
        await pilot.press(*action.id, "enter")  # one enter: the form is valid (the reason is optional)
        await app.workers.wait_for_complete()
        await pilot.pause(0.3)
        assert app.review_queue.get(record.id).state == "approved"


def test_every_review_key_is_in_the_command_palette():
    from sreconsole.tui.commands import COMMANDS
    from sreconsole.tui.panes.review import ReviewPane

    palette = {action for _, _, action in COMMANDS}
    for binding in ReviewPane.BINDINGS:
        assert f"review('action_{binding.action}')" in palette, binding.action


async def test_dry_run_from_the_palette_sends_nothing_and_says_what_it_would(make_demo_app):
    settings = load_settings()
    queue, records = _queue_with(settings, ALERTS[:1])
    queue.close()
    app = make_demo_app(settings)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = await open_review(app, pilot, 1)
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"review: dry-run selected")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause(0.3)
        result = pane.last_result[records[0].id]
        assert result.dry_run and [(c.method, c.path) for c in result.calls] == [("DELETE", "/api/v1/namespaces/payments/pods/api-7d9f8b6c4-x2kzq")]
        assert app.review_queue.get(records[0].id).state == "pending"
