"""Settings for several clusters: ``[[clusters]]`` tables, ``alertmanager.urls`` (an HA
pair), the flat keys as one cluster, and one clear line for each kind of bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sreconsole.config import ClusterSettings, ConfigError, load_settings

TWO_CLUSTERS = """
[[clusters]]
name = "prod-eu"
alertmanager.urls = ["http://127.0.0.1:19093", "http://127.0.0.1:19094"]
prometheus.url = "http://127.0.0.1:19090"

[[clusters]]
name = "prod-us"
[clusters.alertmanager]
url = "http://127.0.0.1:19095"
timeout_s = 3
[clusters.loki]
tenant = "us"
"""


def _load(tmp_path, text: str):
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    return cfg, load_settings(cfg)


def test_two_clusters_each_with_its_own_sources(tmp_path):
    cfg, s = _load(tmp_path, TWO_CLUSTERS)
    clusters = s.cluster_list()
    assert [c.name for c in clusters] == ["prod-eu", "prod-us"]
    assert all(isinstance(c, ClusterSettings) for c in clusters)
    eu, us = clusters
    assert eu.alertmanager.all_urls() == ["http://127.0.0.1:19093", "http://127.0.0.1:19094"]
    assert eu.prometheus.url == "http://127.0.0.1:19090" and us.prometheus.url == ""
    assert us.alertmanager.all_urls() == ["http://127.0.0.1:19095"] and us.alertmanager.timeout_s == 3.0
    assert eu.alertmanager.timeout_s == 5.0  # a default, not the other cluster's value
    assert us.loki.tenant == "us" and eu.loki.tenant == ""
    assert not s.is_demo
    assert s.origins["clusters[1].alertmanager.timeout_s"] == f"file {cfg}"
    sources = s.configured_sources()
    assert sources["prometheus prod-eu"] == "http://127.0.0.1:19090"
    assert sources["alertmanager prod-eu 127.0.0.1:19094"] == "http://127.0.0.1:19094"
    assert sources["alertmanager prod-us"] == "http://127.0.0.1:19095"


def test_flat_keys_are_one_cluster_named_after_the_environment(tmp_path):
    _, s = _load(tmp_path, '[alertmanager]\nurl = "http://am.example:9093"\n')
    (only,) = s.cluster_list()
    assert only.alertmanager is s.alertmanager and only.prometheus is s.prometheus
    assert only.name == "default"  # environment_name "am.example:9093" is no cluster name
    _, s = _load(tmp_path, 'environment = "Prod-EU"\n[alertmanager]\nurl = "http://am.example:9093"\n')
    assert s.cluster_list()[0].name == "prod-eu"
    assert load_settings(tmp_path / "c.toml", overrides={"demo_mode": True}).cluster_list()[0].name == "prod-eu"
    (tmp_path / "d.toml").write_text("")
    assert load_settings(tmp_path / "d.toml").cluster_list()[0].name == "demo"


def test_urls_flat_is_an_ha_pair_and_env_takes_a_comma_list(tmp_path, monkeypatch):
    monkeypatch.setenv("SRECONSOLE_ALERTMANAGER_URLS", "http://a:9093, http://b:9093")
    s = load_settings()
    assert s.alertmanager.all_urls() == ["http://a:9093", "http://b:9093"]
    assert not s.is_demo and s.environment_name == "a:9093"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[[clusters]]\nname = "a"\nalertmanager.url = "http://x:1"\n[[clusters]]\nname = "a"\nalertmanager.url = "http://y:1"\n',
         "clusters[1].name 'a' is already the name of clusters[0]"),
        ('[[clusters]]\nname = "Prod EU"\nalertmanager.url = "http://x:1"\n', "clusters[0].name must be lower-case"),
        ('[[clusters]]\nname = "[red]x"\nalertmanager.url = "http://x:1"\n', "clusters[0].name must be lower-case"),
        ('[[clusters]]\nalertmanager.url = "http://x:1"\n', "clusters[0].name must be lower-case letters, digits and -_. (starting with a letter or digit), got nothing"),
        ('[[clusters]]\nname = "a"\nalertmanager.urls = []\n', "clusters[0].alertmanager.urls must name at least one Alertmanager"),
        ('[[clusters]]\nname = "a"\n', "clusters[0].alertmanager.urls must name at least one Alertmanager"),
        ('[[clusters]]\nname = "a"\nalertmanager.urls = ["http://x:1", ""]\n', "clusters[0].alertmanager.urls must be a list of http"),
        ('[[clusters]]\nname = "a"\nalertmanager.urls = ["ftp://x:1"]\n', "scheme 'ftp'"),
        ('[[clusters]]\nname = "a"\nalertmanager.url = "http://x:1"\nalertmanager.urls = ["http://y:1"]\n', "give url or urls, not both"),
        ('[[clusters]]\nname = "a"\nalertmanager.url = "http://x:1"\nprometheus.timeout_s = 0\n', "clusters[0].prometheus.timeout_s must be a finite number > 0"),
        ('[[clusters]]\nname = "a"\nalertmanager.url = "http://x:1"\nalertmanager.retries = "many"\n', "clusters[0].alertmanager.retries: expected int"),
        ('[alertmanager]\nurl = "http://x:1"\n[[clusters]]\nname = "a"\nalertmanager.url = "http://y:1"\n', "alertmanager.url is set beside [[clusters]] tables"),
        ('[alertmanager]\nurls = ["http://x:1", ""]\n', "alertmanager.urls must be a list of http"),
        ('[alertmanager]\nurl = "http://x:1"\nurls = ["http://y:1"]\n', "alertmanager.urls is set beside alertmanager.url"),
        ('clusters = "prod"\n', "clusters must be [[clusters]] tables"),
    ],
)
def test_bad_cluster_input_is_one_line_naming_key_and_origin(tmp_path, text, needle):
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    message = str(info.value)
    assert needle in message and "\n" not in message
    assert str(cfg) in message


def test_unknown_keys_in_a_cluster_warn(tmp_path):
    _, s = _load(tmp_path, '[[clusters]]\nname = "a"\nalertmanager.url = "http://x:1"\nalertmanager.urll = "x"\ncolour = 1\n')
    assert any("clusters[0].alertmanager.urll" in w for w in s.warnings)
    assert any("clusters[0].colour" in w for w in s.warnings)


def test_config_show_lists_the_clusters_with_secrets_redacted(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text(TWO_CLUSTERS.replace("timeout_s = 3", 'timeout_s = 3\npassword = "hunter2-secret"'))
    result = subprocess.run(
        [sys.executable, "-m", "sreconsole", "--config", str(cfg), "config", "show", "--json"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    flat = json.dumps(shown)
    assert "hunter2-secret" not in flat
    settings = shown.get("settings", shown)
    assert settings["clusters[0].name"]["value"] == "prod-eu"
    assert settings["clusters[1].alertmanager.password"]["value"] == "<redacted>"
    assert settings["clusters[0].alertmanager.urls"]["value"] == ["http://127.0.0.1:19093", "http://127.0.0.1:19094"]
