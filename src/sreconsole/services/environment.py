"""Build the sources the settings ask for: the demo, or real ones, each independently."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from sreconsole.config import Settings
from sreconsole.sources.base import AlertSource


def wall_clock() -> datetime:
    return datetime.now(timezone.utc)


DEMO_EPOCH_FILE = "demo-epoch"
"""Under the data dir: the moment the demo cluster started (ISO 8601, one line). Every
process in demo mode reads it, so the TUI and each CLI call show the same alerts at the
same moment; ``sreconsole demo reset`` removes it."""


def demo_epoch_path(settings: Settings) -> Path:
    return settings.data_path / DEMO_EPOCH_FILE


def demo_remedies(settings: Settings):
    """The actions taken on the simulated cluster, shared by every demo process of this data
    dir (:mod:`sreconsole.sources.demo.cluster_api`); ``demo reset`` removes them."""
    from sreconsole.sources.demo.cluster_api import REMEDIES_FILE, DemoRemedies

    return DemoRemedies(settings.data_path / REMEDIES_FILE)


def persisted_demo_epoch(settings: Settings, clock: Callable[[], datetime] = wall_clock) -> datetime:
    """The demo's persisted start, written by the first process that runs the demo in this
    data dir (created exclusively: two processes starting at once agree on one). A data dir
    that cannot be written gives a demo that starts now, as before."""
    path = demo_epoch_path(settings)
    for _ in range(2):
        try:
            text = path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            text = ""
        except OSError:
            return clock()
        if text:
            try:
                parsed = datetime.fromisoformat(text)
            except ValueError:
                parsed = None  # a mangled file: start afresh, as reset would
            if parsed is not None:
                return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
            path.unlink(missing_ok=True)
        now = clock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue  # another process won the race: read its epoch
        except OSError:
            return now
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(now.isoformat() + "\n")
        return now
    return clock()


def alert_source_id(settings: Settings) -> str:
    """How the review queue names the configured alert source (it watches the alerts of
    the proposals queued from it): ``demo``, or the Alertmanager URL without credentials."""
    if settings.is_demo:
        return "demo"
    first = settings.cluster_list()[0].alertmanager.all_urls()[0]  # the flat url: as before clusters
    parts = urlsplit(first)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", "")) or first


def build_alert_source(
    settings: Settings,
    clock: Callable[[], datetime] = wall_clock,
    demo_epoch: datetime | None = None,
) -> AlertSource:
    """The demo when nothing is configured (or ``--demo``), else Alertmanager: one, an HA
    pair (:class:`~sreconsole.sources.clusters.AlertmanagerPair`), or several clusters
    merged (:class:`~sreconsole.sources.clusters.ClusterAlerts`). The demo is one cluster;
    it runs from ``demo_epoch``, by default the data dir's persisted one (:func:`persisted_demo_epoch`).

    Imports are local: the demo path never imports httpx, which keeps start-up fast.
    """
    if settings.is_demo:
        from sreconsole.sources.demo.simulator import DemoAlertSource, DemoCluster, load_scenario

        scenario = load_scenario(settings.demo.scenario or None)
        cluster = DemoCluster(scenario, settings.demo.seed, demo_epoch or persisted_demo_epoch(settings, clock))
        cluster.remedies = demo_remedies(settings)
        return DemoAlertSource(cluster, clock)
    from sreconsole.sources.alertmanager import AlertmanagerSource
    from sreconsole.sources.clusters import AlertmanagerPair, ClusterAlerts
    from sreconsole.domain.text import url_host

    clusters = settings.cluster_list()
    several = len(clusters) > 1

    def cluster_source(cluster):
        am = cluster.alertmanager
        urls = am.all_urls()
        name = f"alertmanager {cluster.name}" if several else "alertmanager"
        members = [
            AlertmanagerSource(
                url,
                timeout_s=am.timeout_s,
                retries=am.retries,
                username=am.username,
                password=am.password,
                bearer_token=am.bearer_token,
                stale_after_s=settings.stale_after_s,
                clock=clock,
                cluster=cluster.name,
                prefix=f"{cluster.name}/" if several else "",
                name=f"{name} {url_host(url)}" if len(urls) > 1 else name,
            )
            for url in urls
        ]
        return members[0] if len(members) == 1 else AlertmanagerPair(members, name, clock)

    if not several:
        return cluster_source(clusters[0])
    return ClusterAlerts({c.name: cluster_source(c) for c in clusters}, clock)


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


def fetch_silences_once(settings: Settings):
    """One poll of the alerts and the silences, for ``silences list``: the
    :class:`~sreconsole.services.alerts.AlertsSnapshot` and the
    :class:`~sreconsole.domain.silences.SilenceRow` list the Silences view shows (rows are
    ``None`` when the alerts could not be read). Raises :class:`SourceError` when the
    silences cannot be read."""
    import asyncio

    from sreconsole.services.alerts import AlertsService

    async def once():
        service = AlertsService(build_alert_source(settings))
        try:
            snapshot = await service.refresh()
            if snapshot.error:
                return snapshot, None
            return snapshot, await service.silence_rows(snapshot.alerts)
        finally:
            await service.aclose()

    return asyncio.run(once())
