"""The Alerts pane's triage worker and filter narrowing (issue 18): triage runs off the poll's
path, only for alerts that are new or changed (or when the model changes), and the PROPOSAL
column fills when the worker's batch lands; a growing filter narrows the previous answer and
shows exactly what filtering the whole pool shows.

The triage service here is the real engine (the shipped catalog, no model: its rules only)
behind a wrapper that records what the pane asked for and lets the test change the model's
version."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from sreconsole.domain.matchers import narrows, parse_filter
from sreconsole.tui.panes.alerts import AlertsPane, AlertTable
from sreconsole.triage.engine import TriageEngine
from sreconsole.triage.models import load_catalog_for

from conftest import wait_for_polls


class RecordingTriage:
    def __init__(self, settings, gate: threading.Event | None = None) -> None:
        self.engine = TriageEngine(load_catalog_for(settings))
        self.version = "m1"
        self.asked: list[list[str]] = []
        self.gate = gate

    def model_version(self) -> str:
        return self.version

    def propose(self, alerts):
        if self.gate is not None:
            assert self.gate.wait(30), "the test never opened the gate"
        self.asked.append([a.fingerprint for a in alerts])
        return self.engine.propose_many(alerts)

    def asked_for(self) -> set[str]:
        return {fp for batch in self.asked for fp in batch}


async def _settle(pane, pilot) -> None:
    for _ in range(500):
        await pilot.pause(0.01)
        if not pane._triaging and pane._triage_wanted is None:
            await pilot.pause()
            return
    raise AssertionError("the triage worker did not finish")


async def test_triage_asks_only_for_new_or_changed_alerts_and_again_when_the_model_changes(make_demo_app, settings):
    app = make_demo_app()
    triage = app.triage_service = RecordingTriage(settings)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for_polls(app, pilot)
        pane = app.query_one(AlertsPane)
        await _settle(pane, pilot)
        alerts = {a.fingerprint: a for a in pane.snapshot.alerts}
        assert triage.asked_for() == set(alerts)
        assert set(pane.proposals) >= set(alerts)

        # The same alerts again: nothing to triage.
        triage.asked.clear()
        pane.show(replace(pane.snapshot))
        await _settle(pane, pilot)
        assert triage.asked == []

        # One alert changes (its summary): only it is asked for.
        changed_fp = next(iter(alerts))
        changed = replace(alerts[changed_fp], annotations={**alerts[changed_fp].annotations, "summary": "something else"})
        pane.show(replace(pane.snapshot, alerts=tuple(changed if a.fingerprint == changed_fp else a for a in pane.snapshot.alerts)))
        await _settle(pane, pilot)
        assert triage.asked_for() == {changed_fp}

        # A new model: every alert again.
        triage.asked.clear()
        triage.version = "m2"
        pane.show(replace(pane.snapshot))
        await _settle(pane, pilot)
        assert triage.asked_for() == set(alerts)


async def test_the_proposal_column_fills_when_the_worker_completes(make_demo_app, settings):
    gate = threading.Event()
    app = make_demo_app()
    app.triage_service = RecordingTriage(settings, gate)
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for_polls(app, pilot)
        pane = app.query_one(AlertsPane)
        table = app.query_one(AlertTable)
        fps = [k for k in table.keys if k in {a.fingerprint for a in pane.snapshot.alerts}]
        await pilot.pause(0.1)
        # The poll is shown while triage is held back: the column waits, the rows do not.
        assert fps and all(table.cells(fp)[5].plain == "…" for fp in fps)
        gate.set()
        await _settle(pane, pilot)
        assert all(table.cells(fp)[5].plain not in ("…", "") for fp in fps)
        assert all(fp in pane.proposals for fp in fps)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("pay", "paym", True),
        ("pay", "paym crit", True),
        ('pay severity="critical"', 'payments severity="critical"', True),
        ('severity="critical"', 'severity="critical" pod=~"api.*"', True),
        ('namespace=~"a"', 'namespace=~"a|b"', False),  # a changed matcher can widen
        ('pod!="a"', 'pod!="ab"', False),
        ("paym", "pay", False),
        ("", "pay", False),
        ("pay crit", "paycrit", True),  # both old words are inside the new one
    ],
)
def test_narrows_only_when_the_new_filter_cannot_match_more(old, new, expected):
    assert narrows(parse_filter(new), parse_filter(old)) is expected


async def test_a_growing_filter_shows_what_filtering_everything_shows(make_demo_app):
    app = make_demo_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for_polls(app, pilot)
        pane = app.query_one(AlertsPane)
        table = app.query_one(AlertTable)
        pool = pane._ordered()
        for text in ("k", "ku", "kube", "kube c", "kube cr", "kube crit", "kube critx"):
            pane._set_filter(text)
            for _ in range(100):
                await pilot.pause(0.01)
                if not pane.filtering:
                    break
            expected = [a.fingerprint for a, _ in pool if parse_filter(text).matches(a.labels, a.search_text())]
            assert [a.fingerprint for a in pane.visible_alerts()] == expected, text
            assert pane._narrow is not None and pane._narrow[1] == parse_filter(text)
        assert [a.fingerprint for a in pane.visible_alerts()] == []
        # Shrinking the filter is not narrowing: the whole pool is read again.
        pane._set_filter("kube")
        await pilot.pause()
        assert len(pane.visible_alerts()) == len([a for a, _ in pool if "kube" in a.search_text()]) > 0
        assert set(table.keys) >= {a.fingerprint for a in pane.visible_alerts()}


async def test_proposals_for_rows_off_screen_repaint_nothing(make_demo_app, settings):
    """A triage pass over 10,000 alerts fills the column in 40 batches, most of them far
    below the screen: each used to repaint the whole table (bench/README.md, issue 18)."""
    app = make_demo_app()
    app.triage_service = RecordingTriage(settings)
    async with app.run_test(size=(120, 16)) as pilot:
        await wait_for_polls(app, pilot)
        pane = app.query_one(AlertsPane)
        table = app.query_one(AlertTable)
        await _settle(pane, pilot)
        shown = table.scrollable_content_region.height - 1  # under the header line
        alerts = [k for k in table.keys if k in pane.proposals]
        assert table.row_count > shown and alerts, (table.row_count, shown)
        top = int(table.scroll_y)
        on = [k for k in alerts if top <= table.index_of(k) < top + shown]
        off = [k for k in alerts if not top <= table.index_of(k) < top + shown]
        assert on and off
        repainted: list[tuple[int, int]] = []
        real = table.refresh_lines
        table.refresh_lines = lambda y, n=1: (repainted.append((y, n)), real(y, n))[1]
        pane._proposals_ready([pane.proposals[k] for k in off])
        assert repainted == []
        pane._proposals_ready([pane.proposals[k] for k in off + on[-1:]])
        line = table.index_of(on[-1]) + 1  # line 0 is the header
        assert repainted == [(line, 1)]
