"""Build the sources the settings ask for: the demo, or real ones, each independently."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from sreconsole.config import Settings
from sreconsole.sources.base import AlertSource


def wall_clock() -> datetime:
    return datetime.now(timezone.utc)


def build_alert_source(
    settings: Settings,
    clock: Callable[[], datetime] = wall_clock,
    demo_epoch: datetime | None = None,
) -> AlertSource:
    """The demo when nothing is configured (or ``--demo``), else Alertmanager.

    Imports are local: the demo path never imports httpx, which keeps start-up fast.
    """
    if settings.is_demo:
        from sreconsole.sources.demo.simulator import DemoAlertSource, DemoCluster, load_scenario

        scenario = load_scenario(settings.demo.scenario or None)
        cluster = DemoCluster(scenario, settings.demo.seed, demo_epoch or clock())
        return DemoAlertSource(cluster, clock)
    from sreconsole.sources.alertmanager import AlertmanagerSource

    am = settings.alertmanager
    return AlertmanagerSource(
        am.url,
        timeout_s=am.timeout_s,
        retries=am.retries,
        username=am.username,
        password=am.password,
        bearer_token=am.bearer_token,
        stale_after_s=settings.stale_after_s,
        clock=clock,
    )


def poll_interval(settings: Settings) -> float:
    return settings.demo.poll_interval_s if settings.is_demo else settings.poll_interval_s


def probe_sources(sources: dict[str, str], settings: Settings):
    """Liveness probes for configured outside sources (imports httpx only when needed)."""
    if not sources:
        return []
    from sreconsole.sources.probes import probes_for

    return probes_for(sources, timeout_s=3.0, stale_after_s=settings.stale_after_s)


def fetch_alerts_once(settings: Settings):
    """One poll of the configured alert source (or the demo), for a headless command:
    the :class:`~sreconsole.services.alerts.AlertsSnapshot` the Alerts pane would show."""
    import asyncio

    from sreconsole.services.alerts import AlertsService

    async def once():
        service = AlertsService(build_alert_source(settings))
        try:
            return await service.refresh()
        finally:
            await service.aclose()

    return asyncio.run(once())
