"""``y`` copies only a real command (hole 19 of issue 15).

On an ``escalate`` proposal ``y`` copied "Page the on-call owner (no automated action)" to
the clipboard, words an operator would paste into a shell. As the README says, ``y`` must
say there is no command and copy nothing. The proposal here is made by the real triage
engine (no model loaded: an alert no rule or runbook covers is escalated).
"""

from __future__ import annotations

from dataclasses import replace

from adversarial.hostile import new_toasts, toast_ids, until
from conftest import wait_for_polls


async def test_y_on_an_escalate_proposal_copies_nothing_and_says_why(make_demo_app, settings):
    from sreconsole.tui.panes.alerts import AlertsPane
    from sreconsole.triage.engine import TriageEngine
    from sreconsole.triage.models import load_catalog_for

    app = make_demo_app()
    async with app.run_test(size=(120, 34), notifications=True) as pilot:
        await wait_for_polls(app, pilot)
        pane = app.query_one(AlertsPane)
        alert = pane.visible_alerts()[0]
        engine = TriageEngine(load_catalog_for(settings))
        proposal = engine.propose(replace(alert, annotations={}, labels={**alert.labels, "alertname": "NothingKnowsThis"}))
        assert proposal.action == "escalate" and proposal.api is None and proposal.command  # its "command" is words
        pane.proposals[alert.fingerprint] = replace(proposal, fingerprint=alert.fingerprint)
        pane.select_fingerprint(alert.fingerprint)
        await pilot.pause()
        app.copy_to_clipboard("what was there before")

        before = toast_ids(app)
        await pilot.press("y")
        await until(pilot, lambda: new_toasts(app, before), "the toast")
        assert app.clipboard == "what was there before", "y copied an escalate proposal's title"
        [message] = new_toasts(app, before)
        assert "there is no command to copy" in message and "escalate" in message
