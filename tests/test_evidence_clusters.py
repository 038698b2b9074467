"""Evidence comes from the alert's own cluster: two real Prometheus servers (harness), one
per ``[[clusters]]`` table, each with a rule the other lacks."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from sreconsole.config import load_settings
from sreconsole.domain.alerts import Alert
from sreconsole.services.evidence import build_evidence_service

from harness import Prometheus


@pytest.fixture(scope="module")
def two_prometheus(tmp_path_factory):
    servers = []
    for name in ("EuOnlyRule", "UsOnlyRule"):
        rules = [{"alert": name, "expr": 'up{job="prometheus"} > 0.5', "labels": {"severity": "info"}}]
        prom = Prometheus(tmp_path_factory.mktemp(name), None, [{"name": "self", "interval": "1s", "rules": rules}])
        prom.start()
        servers.append(prom)
    yield servers
    for prom in servers:
        prom.stop()


def _alert(name: str, cluster: str) -> Alert:
    return Alert(f"{cluster}/{name}", {"alertname": name, "job": "prometheus"}, cluster=cluster)


async def test_metric_evidence_is_asked_of_the_alerts_cluster(two_prometheus, tmp_path):
    eu, us = two_prometheus
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[[clusters]]\nname = "prod-eu"\nalertmanager.url = "http://127.0.0.1:1"\n'
        f'prometheus.url = "{eu.url}"\n'
        '[[clusters]]\nname = "prod-us"\nalertmanager.url = "http://127.0.0.1:2"\n'
        f'prometheus.url = "{us.url}"\n'
        '[[clusters]]\nname = "lab"\nalertmanager.url = "http://127.0.0.1:3"\n'
    )
    service = build_evidence_service(load_settings(cfg), None, lambda: datetime.now(timezone.utc))
    found = await service.gather(_alert("UsOnlyRule", "prod-us"))
    assert found.expr == 'up{job="prometheus"} > 0.5', found.metric_error  # the rule exists only there
    wrong = await service.gather(_alert("UsOnlyRule", "prod-eu"))
    assert "no alerting rule named UsOnlyRule" in wrong.metric_error
    default = await service.gather(_alert("EuOnlyRule", ""))  # no cluster: the first, default one
    assert default.expr == 'up{job="prometheus"} > 0.5'  # found there (its series may not have data yet)
    none = await service.gather(_alert("EuOnlyRule", "lab"))
    assert none.metric_error == "no Prometheus configured for cluster lab"
    assert none.logs_error == "no Loki configured"
