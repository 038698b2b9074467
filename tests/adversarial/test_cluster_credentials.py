"""Attack: credentials in an HA member's URL (``http://user:secret@am-0:9093``) must not
reach the header, the health names or their reasons: a member is named by its host only,
and a failure's reason goes through ``redact_url``. A cluster name cannot carry markup:
the settings refuse anything but ``[a-z0-9][a-z0-9-_.]*`` (tests/test_config_clusters.py)."""

from __future__ import annotations

from sreconsole.config import load_settings
from sreconsole.services.alerts import AlertsService
from sreconsole.services.environment import build_alert_source

from harness import free_port


async def test_member_credentials_never_in_health_names_or_reasons(tmp_path):
    dead = [free_port(), free_port()]
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[[clusters]]\nname = "prod-eu"\nalertmanager.retries = 0\nalertmanager.timeout_s = 2\n'
        f'alertmanager.urls = ["http://ops:hunter2-secret@127.0.0.1:{dead[0]}", "http://ops:hunter2-secret@127.0.0.1:{dead[1]}"]\n'
        '[[clusters]]\nname = "prod-us"\nalertmanager.retries = 0\nalertmanager.timeout_s = 2\n'
        f'alertmanager.url = "http://ops:hunter2-secret@127.0.0.1:{free_port()}"\n'
    )
    settings = load_settings(cfg)
    assert not any("hunter2" in key for key in settings.configured_sources())
    service = AlertsService(build_alert_source(settings))
    try:
        snapshot = await service.refresh()
    finally:
        await service.aclose()
    assert snapshot.error  # nothing answers
    shown = [snapshot.error] + [f"{h.name} {h.reason} {h.describe(snapshot.fetched_at)}" for h in snapshot.healths()]
    assert len(snapshot.health_parts) == 4  # the pair, its two members, and prod-us
    assert all("hunter2" not in line for line in shown), shown
