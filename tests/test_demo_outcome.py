"""The demo closes the loop (issue 21, "done means" 1-3): approve a pod restart in the demo,
the simulated cluster's API takes the DELETE, the crash-looping alert resolves two minutes
later, and the queue records the outcome "resolved after 2 min" — the same services the TUI
and `make demo` use (review.apply_risks = low, no Kubernetes configured). The Review pane
shows the line, and the Alerts pane groups the demo's related alerts into one incident
(tests/test_incidents.py)."""

from __future__ import annotations

from datetime import timedelta

from sreconsole.config import load_settings
from sreconsole.domain.operator import Operator
from sreconsole.domain.proposal import Proposal
from sreconsole.review.effect import history_text
from sreconsole.services.alerts import AlertsService
from sreconsole.services.environment import build_alert_source
from sreconsole.services.review import ReviewQueue

from conftest import DEMO_EPOCH, FIXED_NOW


async def test_approving_a_restart_in_the_demo_resolves_its_alert_and_records_the_outcome():
    settings = load_settings(overrides={"review.apply_risks": ["low"]})
    assert settings.is_demo
    now = [FIXED_NOW]
    clock = lambda: now[0]  # noqa: E731
    service = AlertsService(build_alert_source(settings, clock, DEMO_EPOCH))
    queue = ReviewQueue(settings, Operator("alice"), clock=clock)
    try:
        snapshot = await service.refresh()
        crash = next(a for a in snapshot.alerts if a.alertname == "KubePodCrashLooping")
        params, command, api = queue.validate_parameters("pod-restart", crash.labels, {})
        proposal = Proposal(fingerprint=crash.fingerprint, alertname=crash.alertname, action="pod-restart", title="Restart pod",
                            parameters=params, command=command, api=api, confidence=0.9, method="trm",
                            requires_human_review=False, risk="low", reversible=False)
        (record,) = queue.enqueue([proposal], [crash], from_source=True)
        assert queue.executor_mode("low") == "executed on the simulated demo cluster"
        done = queue.approve(record.id, "crash loop")
        assert done.record.state == "executed" and [c.method for c in done.execution.calls] == ["DELETE"]
        assert done.record.outcome == "watching"

        seen = []
        for step in range(1, 7):  # every 30 s for three minutes
            now[0] = FIXED_NOW + timedelta(seconds=30 * step)
            snapshot = await service.refresh()
            seen.append(crash.fingerprint in {a.fingerprint for a in snapshot.alerts})
            queue.observe(snapshot)
        assert seen == [True, True, True, False, False, False]  # fixed two minutes after the DELETE
        final = queue.get(record.id)
        assert final.outcome == "effective"
        assert history_text(final, FIXED_NOW + timedelta(minutes=3)).startswith("executed 3 min ago — resolved after 2 min")
    finally:
        queue.close()
        await service.aclose()
