"""Brackets in outside text are shown as typed and never crash the console (hole 1 of issue 15).

Before the fix, ``App.notify`` parsed its message as Textual markup: an alert named
``AABroken[/]`` crashed the console on ``x`` even in ``--read-only``; so did a Kubernetes
API error message, a lost-race message naming a user called ``[/]`` and a config key
``"bad[/]key"``, and ``[require-labels]`` in an admission webhook's refusal was silently
cut out of the toast. Here each comes from where it comes from in real life: the real
Alertmanager, the real SQLite review store written by a second operator, a config file,
and a Kubernetes API answer. (No Kubernetes API server can be installed here: that one
answer comes from a loopback HTTP stand-in, ``tests/kubestub.py``, speaking the API's
documented ``Status`` JSON.)
"""

from __future__ import annotations

import json

from adversarial.hostile import new_toasts, screen_faults, screen_text, toast_ids, toasts, until
from kubestub import RecordingServer
from sreconsole.domain.operator import Operator

BROKEN = "AABroken[/]"
WEBHOOK = 'admission webhook "validate.kyverno.svc" denied the request: [require-labels] pod [/] must carry the label [team]'


async def _wait_alert(app, pilot, name: str):
    from sreconsole.tui.panes.alerts import AlertsPane

    pane = app.query_one(AlertsPane)
    await until(pilot, lambda: any(a.alertname == name for a in pane.visible_alerts()), f"{name} in the table")
    pane.select_fingerprint(next(a.fingerprint for a in pane.visible_alerts() if a.alertname == name))
    await pilot.pause()
    return pane


async def test_read_only_console_survives_markup_in_an_alert_name(alertmanager, live_settings):
    from sreconsole.tui.app import make_app

    alertmanager.post_alerts([{"labels": {"alertname": BROKEN, "severity": "warning", "namespace": "shop", "pod": "api[/]"},
                               "annotations": {"summary": "s [b]x[/b] [/]", "lambda_function": "pod-restart"}}])
    settings = live_settings()
    await _queue(settings, alertmanager.url, BROKEN)  # as a writable console would have
    app = make_app(live_settings(read_only=True), operator=Operator("alice"))
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await _wait_alert(app, pilot, BROKEN)
        for key, expected in (("x", "read-only mode"), ("a", "read-only mode"), ("y", "no proposed command yet")):
            before = toast_ids(app)
            await pilot.press(key)
            await until(pilot, lambda: new_toasts(app, before), f"the toast after {key}")
            await pilot.pause(0.1)
            assert app.is_running, f"the console died on {key}"
            assert any(expected in m for m in new_toasts(app, before)), (key, new_toasts(app, before))
            assert not screen_faults(app)
        await pilot.press("2")
        await until(pilot, lambda: bool(app.query_one("#review-pane").records), "the proposal in Review")
        before = toast_ids(app)
        await pilot.press("d")  # a dry run is allowed read-only; the pod label cannot be a parameter
        await until(pilot, lambda: new_toasts(app, before), "the dry-run toast")
        await pilot.pause(0.2)
        assert app.is_running
        [refusal] = new_toasts(app, before)
        assert "'api[/]'" in refusal, refusal  # shown as typed, brackets and all
        assert "'api[/]'" in screen_text(app)
        assert not screen_faults(app)


async def test_a_config_key_with_brackets_is_warned_about_as_typed(tmp_path, make_demo_app):
    from sreconsole.config import load_settings

    config = tmp_path / "config.toml"
    config.write_text('"bad[/]key" = 1\n"[link=https://evil.example]x[/link]" = 2\n')
    app = make_demo_app(load_settings(config))
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        await until(pilot, lambda: len(toasts(app)) >= 2, "the two warnings")
        await pilot.pause(0.2)
        assert app.is_running
        messages = toasts(app)
        assert any("'bad[/]key'" in m for m in messages) and any("[link=https://evil.example]x[/link]" in m for m in messages)
        assert not screen_faults(app)


class RefusingApiServer(RecordingServer):
    """Answers every request as an admission webhook that refuses it: HTTP 403 with the
    Kubernetes ``Status`` object, whose message the executor reports."""

    def respond(self, method: str, path: str):
        return 403, "application/json", {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                         "message": WEBHOOK, "reason": "Forbidden", "code": 403}


def _kubeconfig(tmp_path, server: str):
    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "stub",
        "clusters": [{"name": "stub", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "stub", "context": {"cluster": "stub", "user": "u"}}],
    }))
    return path


async def _queue(settings, url: str, name: str):
    """The proposal triage makes for the alert ``name`` as the real Alertmanager returns
    it, put in the review queue as the Alerts pane would."""
    from sreconsole.services.review import ReviewQueue
    from sreconsole.sources.alertmanager import AlertmanagerSource
    from sreconsole.triage.engine import TriageEngine
    from sreconsole.triage.models import load_catalog_for

    source = AlertmanagerSource(url)
    try:
        alert = [a for a in await source.fetch_alerts() if a.alertname == name][0]
    finally:
        await source.aclose()
    proposal = TriageEngine(load_catalog_for(settings)).propose(alert)
    [record] = ReviewQueue(settings, Operator("triage")).enqueue([proposal], [alert])
    return record, proposal


async def _proposal_in_review(settings, alertmanager):
    alertmanager.post_alerts([{"labels": {"alertname": "KubePodCrashLooping", "severity": "warning", "namespace": "payments", "pod": "api-7d9f8-x2kqp"},
                               "annotations": {"summary": "crash looping", "lambda_function": "pod-restart"}}])
    record, proposal = await _queue(settings, alertmanager.url, "KubePodCrashLooping")
    assert proposal.action == "pod-restart" and proposal.api is not None
    return record


async def _approve_in_the_console(app, pilot) -> set[str]:
    from sreconsole.tui.panes.review import ApproveScreen

    await pilot.press("2")
    await until(pilot, lambda: bool(app.query_one("#review-pane").records), "the proposal in Review")
    await pilot.press("a")
    await until(pilot, lambda: isinstance(app.screen, ApproveScreen), "the approve dialog")
    return toast_ids(app)


async def test_a_kubernetes_refusal_with_brackets_is_shown_whole(tmp_path, alertmanager, live_settings):
    server = RefusingApiServer()
    try:
        from sreconsole.tui.app import make_app

        settings = live_settings(**{"kubernetes.kubeconfig": str(_kubeconfig(tmp_path, server.url)), "review.apply_risks": ["low", "medium", "high"]})
        await _proposal_in_review(settings, alertmanager)
        app = make_app(settings, operator=Operator("alice"))
        async with app.run_test(size=(120, 34), notifications=True) as pilot:
            before = await _approve_in_the_console(app, pilot)
            await pilot.press("enter")
            await until(pilot, lambda: any("failed" in m for m in new_toasts(app, before)), "the failure toast")
            await pilot.pause(0.2)
            assert app.is_running
            assert server.requests, "the approval was never sent to the API"
            failure = next(m for m in new_toasts(app, before) if "failed" in m)
            assert "[require-labels] pod [/] must carry the label [team]" in failure
            shown = screen_text(app)  # the toast as drawn: markup would have eaten the brackets
            assert "[require-labels]" in shown and "[team]" in shown, shown
            assert not screen_faults(app)
    finally:
        server.close()


async def test_losing_the_race_to_a_user_named_with_brackets(alertmanager, live_settings):
    from sreconsole.services.review import ReviewQueue
    from sreconsole.tui.app import make_app

    settings = live_settings()
    record = await _proposal_in_review(settings, alertmanager)
    app = make_app(settings, operator=Operator("alice"))
    async with app.run_test(size=(120, 34), notifications=True) as pilot:
        before = await _approve_in_the_console(app, pilot)
        # Another operator's console, whose Unix account is called "[/]", decides first.
        ReviewQueue(settings, Operator("[/]", "10.0.0.[b]")).approve(record.id, "mine", execute=False)
        await pilot.press("enter")
        await until(pilot, lambda: any("already approved" in m for m in new_toasts(app, before)), "the lost-race toast")
        await pilot.pause(0.2)
        assert app.is_running
        lost = next(m for m in new_toasts(app, before) if "already approved" in m)
        assert "by [/]@10.0.0.[b]" in lost
        assert not screen_faults(app)
