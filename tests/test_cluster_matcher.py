"""The ``cluster`` pseudo-label: ``cluster="prod-eu"`` selects the alerts of that configured
cluster, a real ``cluster`` label wins over it, and Alertmanager is never asked to filter
on it (it has never heard of our cluster names)."""

from __future__ import annotations

from sreconsole.domain.alerts import Alert
from sreconsole.domain.matchers import parse_filter
from sreconsole.sources.alertmanager import server_matchers


def _alert(name: str, in_cluster: str, **labels: str) -> Alert:
    return Alert(f"{in_cluster}/{name}", {"alertname": name, **labels}, cluster=in_cluster)


def test_cluster_matcher_selects_by_configured_cluster():
    eu, us = _alert("A", "prod-eu"), _alert("B", "prod-us")
    flt = parse_filter('cluster="prod-eu"')
    assert [a.alertname for a in (eu, us) if flt.matches_alert(a)] == ["A"]
    assert [a.alertname for a in (eu, us) if parse_filter('cluster!="prod-eu"').matches_alert(a)] == ["B"]
    assert [a.alertname for a in (eu, us) if parse_filter('cluster=~"prod-.*"').matches_alert(a)] == ["A", "B"]


def test_a_real_cluster_label_wins_over_the_pseudo_label():
    labelled = _alert("C", "prod-eu", cluster="eu-west-1")
    assert parse_filter('cluster="eu-west-1"').matches_alert(labelled)
    assert not parse_filter('cluster="prod-eu"').matches_alert(labelled)


def test_other_matchers_and_words_still_apply_and_free_text_finds_the_cluster():
    a = _alert("KubePodCrashLooping", "prod-eu", namespace="payments")
    assert parse_filter('cluster="prod-eu" namespace="payments" crash').matches_alert(a)
    assert not parse_filter('cluster="prod-eu" namespace="shop"').matches_alert(a)
    assert parse_filter("prod-eu").matches_alert(a)
    assert not parse_filter("prod-us").matches_alert(a)


def test_cluster_matchers_are_not_pushed_to_alertmanager():
    flt = parse_filter('cluster="prod-eu" severity="critical"')
    assert [m.name for m in server_matchers(flt.matchers)] == ["severity"]
