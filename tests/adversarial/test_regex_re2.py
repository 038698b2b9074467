"""A matcher regex cannot hang the console (hole 17 of issue 15).

``rx=~"(A+)+B"`` took about 6 s per match on a 27-character label with Python's backtracking
``re``, on the UI thread, every poll; on a 100,000-character label it never ended. Matchers
now run on RE2 (the ``google-re2`` package), the engine Alertmanager uses through Go's
``regexp``: linear in the label's length, the same anchoring, the same refusals. A filter
whose work is too large for the event loop runs in a thread worker.

The subprocess timeouts below are hang guards, not speed checks: before the fix these
commands did not end at all.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from adversarial.hostile import until
from sreconsole.domain.matchers import MatcherError, parse_filter

EVIL = '(A+)+B'
HUGE = "A" * 100_000


def _alerts(n_huge: int) -> list[dict]:
    return [{"labels": {"alertname": "Backtrack", "severity": "warning", "rx": "A" * 27, "i": "short"}}] + [
        {"labels": {"alertname": "Backtrack", "severity": "warning", "rx": HUGE, "i": str(i)}} for i in range(n_huge)
    ]


def _cli(url: str, *args: str, timeout: float = 90) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sreconsole", "--alertmanager", url, *args], capture_output=True, text=True, timeout=timeout)


def test_the_cli_filters_a_huge_label_with_a_catastrophic_pattern(alertmanager):
    alertmanager.post_alerts(_alerts(2))
    listed = _cli(alertmanager.url, "alerts", "list", "--json", "--filter", f'rx=~"{EVIL}"')
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []  # nothing ends in B
    listed = _cli(alertmanager.url, "alerts", "list", "--json", "--filter", 'rx=~"(A+)+"')
    assert sorted(a["labels"]["i"] for a in json.loads(listed.stdout)) == ["0", "1", "short"]


@pytest.mark.parametrize("pattern", ["(?=pay).*", "(?!pay).*", "(?<=a)b", "(a)\\1"])
def test_what_re2_refuses_is_refused_with_the_reason_and_alertmanager_agrees(pattern, alertmanager):
    with pytest.raises(MatcherError, match="look-around and back-references are not supported by Alertmanager"):
        parse_filter(f'namespace=~"{pattern}"')
    refused = _cli(alertmanager.url, "alerts", "list", "--filter", f'namespace=~"{pattern}"', timeout=30)
    assert refused.returncode == 2 and "not supported by Alertmanager" in refused.stderr
    assert "re2.cc" not in refused.stderr and len(refused.stderr.strip().splitlines()) == 1  # RE2 logs nothing
    assert _silence_status(alertmanager.url, pattern) == 400  # the real Alertmanager refuses it too


@pytest.mark.parametrize("pattern", [EVIL, "prod|staging", "pay.*-[0-9]+", "(?i)PAYMENTS", "\\pL+"])
def test_what_re2_accepts_alertmanager_accepts_as_a_silence(pattern, alertmanager):
    parse_filter(f'namespace=~"{pattern}"')
    assert _silence_status(alertmanager.url, pattern) == 200


def _silence_status(url: str, pattern: str) -> int:
    now = datetime.now(timezone.utc)
    body = {"matchers": [{"name": "namespace", "value": pattern, "isRegex": True, "isEqual": True}], "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(hours=1)).isoformat(), "createdBy": "test", "comment": "does Alertmanager take this regex?"}
    req = urllib.request.Request(f"{url}/api/v2/silences", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_alertmanager_semantics_anchored_and_dot_stops_at_a_newline():
    assert not parse_filter('a=~"prod"').matches({"a": "production"}, "")  # ^(?:prod)$
    assert parse_filter('a=~"prod|staging"').matches({"a": "staging"}, "")  # the group holds the |
    assert not parse_filter('a=~"x.y"').matches({"a": "x\ny"}, "")  # Go: . does not match \n
    assert parse_filter('a=~"caf."').matches({"a": "café"}, "")  # UTF-8, by character
    assert parse_filter('a!~"(A+)+B"').matches({"a": HUGE}, "")


async def test_a_filter_too_big_for_the_event_loop_runs_in_a_thread(alertmanager, live_settings, monkeypatch):
    from sreconsole.domain.matchers import Filter
    from sreconsole.tui.app import make_app
    from sreconsole.tui.panes.alerts import AlertsPane

    alertmanager.post_alerts(_alerts(30))  # 3 MB of label text: past what a keystroke may read inline
    threads: list[str] = []
    original = Filter.matches_alert  # what the pane calls (it knows the cluster pseudo-label)

    def recording(self, alert):
        threads.append(threading.current_thread().name)
        return original(self, alert)

    monkeypatch.setattr(Filter, "matches_alert", recording)
    app = make_app(live_settings(), )
    async with app.run_test(size=(120, 34)) as pilot:
        pane = app.query_one(AlertsPane)
        await until(pilot, lambda: len(pane.visible_alerts()) == 31, "the 31 alerts")
        await pilot.press("slash")
        app.query_one("#alerts-filter").value = f'rx=~"{EVIL}"'
        await until(pilot, lambda: pane.visible_alerts() == [] and not pane.filtering, "the filter to apply", tries=1200)
        assert threads and threading.main_thread().name not in threads, "the filter ran on the event loop"
        app.query_one("#alerts-filter").value = 'rx=~"A+" i=~"[0-9]+"'
        await until(pilot, lambda: len(pane.visible_alerts()) == 30 and not pane.filtering, "the second filter", tries=1200)
        assert app.is_running


async def test_a_small_filter_stays_on_the_event_loop(make_demo_app):
    """The demo's twenty alerts filter inline: typing shows the result with no wait."""
    from conftest import wait_for_polls
    from sreconsole.tui.panes.alerts import AlertsPane

    app = make_demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_polls(app, pilot)
        pane = app.query_one(AlertsPane)
        app.query_one("#alerts-filter").value = 'severity=~"crit.*"'
        await pilot.pause()
        assert pane.visible_alerts() and all(a.labels["severity"] == "critical" for a in pane.visible_alerts())
        assert not pane.filtering
