"""Several clusters in one list, against real Alertmanagers on loopback (tests/harness.py).

Cluster ``prod-eu`` is an HA pair: two Alertmanagers posted the same alerts, as Prometheus
posts every alert to every member. Cluster ``prod-us`` is one Alertmanager. The merged
list must hold one row per alert, each with its cluster; a member killed makes the pair
degraded, not down; silences go to the alert's cluster only.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from datetime import timedelta

import pytest

from sreconsole.config import load_settings
from sreconsole.domain.health import HealthState
from sreconsole.domain.operator import Operator
from sreconsole.services.alerts import AlertsService
from sreconsole.services.environment import build_alert_source

from harness import Alertmanager


def _alert(name: str, summary: str = "", **labels: str) -> dict:
    return {
        "labels": {"alertname": name, "severity": "critical", "namespace": "payments", **labels},
        "annotations": {"summary": summary or f"{name} is firing"},
    }


EU_ALERTS = [_alert("KubePodCrashLooping", pod="api-1"), _alert("KubePodCrashLooping", pod="api-2"), _alert("Watchdog")]
US_ALERTS = [_alert("NodeDiskFull", node="n3"), _alert("Watchdog")]


def _config(tmp_path, eu_urls: list[str], us_url: str | None) -> object:
    lines = ['[[clusters]]', 'name = "prod-eu"', f"alertmanager.urls = {json.dumps(eu_urls)}", "alertmanager.retries = 0"]
    if us_url:
        lines += ['[[clusters]]', 'name = "prod-us"', f'alertmanager.url = "{us_url}"', "alertmanager.retries = 0"]
    cfg = tmp_path / "clusters.toml"
    cfg.write_text("\n".join(lines) + "\n")
    return cfg


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    """Two clusters on three Alertmanagers: prod-eu = (eu1, eu2), prod-us = us."""
    base = tmp_path_factory.mktemp("clusters")
    servers = [Alertmanager(base / n) for n in ("eu1", "eu2", "us")]
    for s in servers:
        s.start()
    eu1, eu2, us = servers
    eu1.post_alerts(EU_ALERTS)
    eu2.post_alerts(EU_ALERTS)
    us.post_alerts(US_ALERTS)
    yield eu1, eu2, us
    for s in servers:
        s.stop()


async def _refresh(settings):
    service = AlertsService(build_alert_source(settings))
    try:
        return await service.refresh()
    finally:
        await service.aclose()


async def test_two_clusters_one_ha_pair_give_one_row_per_alert_with_its_cluster(three, tmp_path):
    eu1, eu2, us = three
    settings = load_settings(_config(tmp_path, [eu1.url, eu2.url], us.url))
    snapshot = await _refresh(settings)
    assert not snapshot.error
    rows = sorted((a.cluster, a.alertname, a.labels.get("pod", a.labels.get("node", ""))) for a in snapshot.alerts)
    assert rows == [
        ("prod-eu", "KubePodCrashLooping", "api-1"),
        ("prod-eu", "KubePodCrashLooping", "api-2"),
        ("prod-eu", "Watchdog", ""),
        ("prod-us", "NodeDiskFull", "n3"),
        ("prod-us", "Watchdog", ""),
    ]
    # The same label set in two clusters is two alerts, and keys stay unique.
    watchdogs = [a for a in snapshot.alerts if a.alertname == "Watchdog"]
    assert len({a.fingerprint for a in watchdogs}) == 2
    assert all(a.fingerprint.startswith(a.cluster + "/") for a in snapshot.alerts)
    assert len({a.fingerprint for a in snapshot.alerts}) == len(snapshot.alerts)
    assert snapshot.health.state is HealthState.OK
    names = [h.name for h in snapshot.health_parts]
    assert "alertmanager prod-eu" in names and "alertmanager prod-us" in names
    assert f"alertmanager prod-eu 127.0.0.1:{eu2.port}" in names


async def test_the_pair_keeps_the_fresher_copy_of_an_alert(three, tmp_path):
    eu1, eu2, _us = three
    fresh = _alert("KubePodCrashLooping", summary="api-1 restarted 9 times", pod="api-1")
    await asyncio.sleep(1.1)  # updatedAt has a resolution the second post must pass
    eu2.post_alerts([fresh])  # eu1, listed first, still holds the older annotation
    settings = load_settings(_config(tmp_path, [eu1.url, eu2.url], None))
    snapshot = await _refresh(settings)
    api1 = [a for a in snapshot.alerts if a.labels.get("pod") == "api-1"]
    assert len(api1) == 1
    assert api1[0].summary == "api-1 restarted 9 times"


async def test_a_silence_goes_to_the_alerts_cluster_only(three, tmp_path):
    eu1, eu2, us = three
    settings = load_settings(_config(tmp_path, [eu1.url, eu2.url], us.url))
    service = AlertsService(build_alert_source(settings))
    try:
        snapshot = await service.refresh()
        disk = next(a for a in snapshot.alerts if a.alertname == "NodeDiskFull")
        silence_id = await service.silence(disk, timedelta(minutes=5), "disk being grown", Operator("alice", "local"))
        ack_id = await service.acknowledge(next(a for a in snapshot.alerts if a.cluster == "prod-eu"), Operator("bob", "local"))
        assert silence_id in {s["id"] for s in us.get("/api/v2/silences")}
        assert silence_id not in {s["id"] for s in eu1.get("/api/v2/silences") + eu2.get("/api/v2/silences")}
        # An ack of a prod-eu alert goes to one member of the pair (gossip shares it), not to prod-us.
        assert ack_id not in {s["id"] for s in us.get("/api/v2/silences")}
        assert ack_id in {s["id"] for s in eu1.get("/api/v2/silences") + eu2.get("/api/v2/silences")}
        # A silence mutes only its own cluster's alerts, though prod-eu fires the same label set.
        watchdog_us = next(a for a in snapshot.alerts if a.alertname == "Watchdog" and a.cluster == "prod-us")
        quiet_id = await service.silence(watchdog_us, timedelta(minutes=5), "known noise", Operator("alice", "local"))
        rows = {row.silence.id: row for row in await service.silence_rows(snapshot.alerts)}
        assert [a.cluster for a in rows[quiet_id].muted] == ["prod-us"]
        assert rows[quiet_id].silence.cluster == "prod-us"
        # Expiring goes back to the cluster that listed it.
        await service.silences()
        await service.expire(silence_id)
        states = {s["id"]: s["status"]["state"] for s in us.get("/api/v2/silences")}
        assert states[silence_id] == "expired"
    finally:
        await service.aclose()


def test_alerts_list_json_has_the_cluster(three, tmp_path):
    eu1, eu2, us = three
    cfg = _config(tmp_path, [eu1.url, eu2.url], us.url)
    result = subprocess.run(
        [sys.executable, "-m", "sreconsole", "--config", str(cfg), "alerts", "list", "--json"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    rows = rows["alerts"] if isinstance(rows, dict) else rows
    pairs = sorted((r["cluster"], r["alertname"]) for r in rows)
    assert ("prod-us", "NodeDiskFull") in pairs and ("prod-eu", "Watchdog") in pairs and ("prod-us", "Watchdog") in pairs
    assert len([p for p in pairs if p[0] == "prod-eu"]) == 3  # the pair's copies are one row each
    table = subprocess.run(
        [sys.executable, "-m", "sreconsole", "--config", str(cfg), "alerts", "list"],
        capture_output=True, text=True, timeout=60, env={**__import__("os").environ, "COLUMNS": "160"},
    )
    assert table.returncode == 0, table.stderr
    assert "CLUSTER" in table.stdout.upper() and "prod-us" in table.stdout


async def test_a_member_killed_is_degraded_then_the_cluster_down_the_list_kept(tmp_path):
    base = tmp_path / "ams"
    eu1, eu2, us = (Alertmanager(base / n) for n in ("eu1", "eu2", "us"))
    for s in (eu1, eu2, us):
        s.start()
    try:
        eu1.post_alerts(EU_ALERTS)
        eu2.post_alerts(EU_ALERTS)
        us.post_alerts(US_ALERTS)
        settings = load_settings(_config(tmp_path, [eu1.url, eu2.url], us.url))
        service = AlertsService(build_alert_source(settings))
        try:
            first = await service.refresh()
            assert first.health.state is HealthState.OK and len(first.alerts) == 5

            eu1.kill()
            one_down = await service.refresh()
            assert not one_down.error and len(one_down.alerts) == 5
            parts = {h.name: h for h in one_down.health_parts}
            assert parts["alertmanager prod-eu"].state is HealthState.DEGRADED
            assert parts[f"alertmanager prod-eu 127.0.0.1:{eu1.port}"].state in (HealthState.DOWN, HealthState.STALE)
            assert parts[f"alertmanager prod-eu 127.0.0.1:{eu2.port}"].state is HealthState.OK
            assert parts["alertmanager prod-us"].state is HealthState.OK
            assert one_down.health.state is HealthState.DEGRADED
            assert "connection refused" in parts["alertmanager prod-eu"].reason

            eu2.kill()
            pair_down = await service.refresh()
            parts = {h.name: h for h in pair_down.health_parts}
            assert parts["alertmanager prod-eu"].state is not HealthState.OK
            assert parts["alertmanager prod-eu"].state is not HealthState.DEGRADED
            assert pair_down.health.state is HealthState.DEGRADED  # prod-us still answers
            # prod-eu's last good alerts stay on screen, prod-us is live.
            assert sorted(a.cluster for a in pair_down.alerts) == ["prod-eu"] * 3 + ["prod-us"] * 2
        finally:
            await service.aclose()
    finally:
        for s in (eu1, eu2, us):
            s.stop()


async def test_the_pane_at_80_columns_shows_clusters_groups_by_them_and_filters(three, tmp_path):
    """The TUI on the two clusters: a CLUSTER column that fits 80 columns, grouping by
    cluster in the grouping cycle, ``cluster="prod-us"``, and the header per cluster."""
    from sreconsole.tui.alert_list import AlertList
    from sreconsole.tui.app import make_app
    from sreconsole.tui.panes.alerts import AlertsPane

    from conftest import wait_for_polls

    eu1, eu2, us = three
    settings = load_settings(_config(tmp_path, [eu1.url, eu2.url], us.url), overrides={"poll_interval_s": 0.5})
    app = make_app(settings, operator=Operator("dave", "192.0.2.1"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_polls(app, pilot, 1)
        pane = app.query_one(AlertsPane)
        table = pane.query_one(AlertList)
        widths = {key: width for key, _, width in table.columns}
        assert widths["cluster"] == len("prod-eu")
        assert sum(w + 2 for w in widths.values() if w > 0) <= table.scrollable_content_region.width
        rows = [(table.cells(a.fingerprint)[6].plain, a.alertname) for a in pane.visible_alerts()]
        assert sorted(rows) == sorted([("prod-eu", "KubePodCrashLooping")] * 2 + [("prod-eu", "Watchdog"), ("prod-us", "NodeDiskFull"), ("prod-us", "Watchdog")])
        header = app.query_one("#header-sources").render()
        assert "prod-eu am ok" in str(header) and "prod-us am ok" in str(header)

        await pilot.press("v", "v")  # alertname → namespace → cluster
        assert pane.grouping == "cluster"
        groups = [pane._rows[k][1] for k in table.keys if pane._rows[k][0] is None]
        assert groups == ["prod-eu", "prod-us"]

        await pilot.press("slash", *'cluster="prod-us"', "enter")
        await pilot.pause()
        assert sorted(a.alertname for a in pane.visible_alerts()) == ["NodeDiskFull", "Watchdog"]
        assert {a.cluster for a in pane.visible_alerts()} == {"prod-us"}


async def test_one_cluster_has_no_cluster_column_nor_cluster_grouping(make_demo_app):
    from sreconsole.tui.alert_list import AlertList
    from sreconsole.tui.panes.alerts import AlertsPane

    from conftest import wait_for_polls

    app = make_demo_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for_polls(app, pilot, 1)
        pane = app.query_one(AlertsPane)
        assert {key: width for key, _, width in pane.query_one(AlertList).columns}["cluster"] == 0
        seen = set()
        for _ in range(6):
            await pilot.press("v")
            seen.add(pane.grouping)
        assert "cluster" not in seen and "severity" in seen


def test_column_widths_fit_80_columns_with_a_cluster_column():
    from sreconsole.tui.panes.alerts import COLUMNS, column_widths

    for longest_cluster in (0, 7, 12, 40):
        widths = column_widths(77, 30, longest_cluster)
        total = sum((widths.get(key, width)) + 2 for key, _, width in COLUMNS if widths.get(key, width) > 0)
        assert total <= 77, (longest_cluster, widths)
        assert widths["cluster"] == min(longest_cluster, 8)  # what 80 columns leave beside ALERT and TARGET
        assert column_widths(160, 30, longest_cluster)["cluster"] == min(longest_cluster, 12)
    assert column_widths(77, 30, 0) == {"cluster": 0, "alert": 15, "target": 13, "summary": 0}  # one cluster: as before
