"""The labelling rules file: the shipped one loads, and a broken one is refused by name."""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path

import pytest

from sreconsole.triage import dataset as ds
from sreconsole.triage.catalog import load_catalog
from sreconsole.triage.label_rules import SCOPES, LabelRuleError, load_label_rules

GOOD_RULE = """
[[rule]]
id = "crashloop"
scope = "name"
pattern = 'crash.?loop'
action = "pod-restart"
rationale = "restart it"
"""
DEFAULT = """
[default]
action = "escalate"
rationale = "a human decides"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "my-rules.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _refused(tmp_path: Path, text: str) -> str:
    path = _write(tmp_path, text)
    with pytest.raises(LabelRuleError) as raised:
        load_label_rules(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: "), message  # the file first, as the catalog does
    return message


def test_the_shipped_file_is_what_the_dataset_uses() -> None:
    raw = resources.files("sreconsole.triage").joinpath("label_rules.toml").read_text(encoding="utf-8")
    rules = load_label_rules()
    assert rules.rules == ds.LABEL_RULES and rules.default == ds.DEFAULT_RULE
    assert rules.source.endswith("label_rules.toml")
    # File order is precedence: the loader keeps it exactly.
    assert [r.id for r in rules.rules] == [t["id"] for t in tomllib.loads(raw)["rule"]]
    assert "first" in raw[:600].lower() and "precedence" in raw[:600].lower()  # and the file says so up front
    assert {r.action for r in rules.rules} <= set(load_catalog().ids)
    assert {r.scope for r in rules.rules} <= set(SCOPES)
    assert (ds.DEFAULT_RULE.id, ds.DEFAULT_RULE.action) == ("default", "escalate")


def test_a_list_pattern_is_alternatives(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD_RULE.replace("'crash.?loop'", "['crash.?loop', 'back.?off']") + DEFAULT)
    (rule,) = load_label_rules(path).rules
    assert rule.pattern == "crash.?loop|back.?off"
    assert rule.regex.search("Pod in BACK OFF") and not rule.regex.search("pod pending")


def test_an_unknown_action_is_refused_naming_the_rule(tmp_path: Path) -> None:
    message = _refused(tmp_path, GOOD_RULE.replace('"pod-restart"', '"delete-namespace"') + DEFAULT)
    assert 'rule "crashloop"' in message and "'delete-namespace' is not in the catalog" in message


def test_an_unknown_default_action_is_refused(tmp_path: Path) -> None:
    message = _refused(tmp_path, GOOD_RULE + DEFAULT.replace('"escalate"', '"page-someone"'))
    assert "[default]" in message and "'page-someone' is not in the catalog" in message


def test_an_unknown_scope_is_refused_naming_the_rule(tmp_path: Path) -> None:
    message = _refused(tmp_path, GOOD_RULE.replace('scope = "name"', 'scope = "labels"') + DEFAULT)
    assert 'rule "crashloop"' in message and "scope 'labels' is not one of name, alert, text" in message


def test_a_duplicate_id_is_refused_naming_the_rule(tmp_path: Path) -> None:
    second = GOOD_RULE.replace("'crash.?loop'", "'restarts'")
    message = _refused(tmp_path, GOOD_RULE + second + DEFAULT)
    assert 'rule "crashloop"' in message and "used twice" in message
    # "default" is the fallback's id: a rule may not take it.
    message = _refused(tmp_path, GOOD_RULE.replace('id = "crashloop"', 'id = "default"') + DEFAULT)
    assert 'rule "default"' in message and "used twice" in message


def test_a_pattern_that_does_not_compile_is_refused_naming_the_rule(tmp_path: Path) -> None:
    message = _refused(tmp_path, GOOD_RULE.replace("'crash.?loop'", "'crash(loop'") + DEFAULT)
    assert 'rule "crashloop"' in message and "pattern does not compile" in message and "'crash(loop'" in message
    # A list item must be whole: a line break inside a group would read as an alternative.
    message = _refused(tmp_path, GOOD_RULE.replace("'crash.?loop'", "['crash(loop|', 'backoff)']") + DEFAULT)
    assert 'rule "crashloop"' in message and "pattern part 1 does not compile" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD_RULE.replace("rationale", "rationnale") + DEFAULT, r'rule "crashloop": unknown field \'rationnale\''),
        (GOOD_RULE.replace('id = "crashloop"\n', "") + DEFAULT, r"rule #1: id is missing"),
        (GOOD_RULE.replace('id = "crashloop"', 'id = "Crash Loop"') + DEFAULT, r'rule "Crash Loop": id must be lowercase'),
        (GOOD_RULE.replace("'crash.?loop'", "''") + DEFAULT, r'rule "crashloop": pattern must be a non-empty string'),
        (GOOD_RULE.replace("'crash.?loop'", "[]") + DEFAULT, r'rule "crashloop": pattern must be a non-empty string'),
        (GOOD_RULE, r"\[default\]: must be a table"),
        (DEFAULT, r"no \[\[rule\]\] tables"),
        ("[[rule]\n", r"not a valid TOML file"),
    ],
)
def test_other_mistakes_are_refused_with_the_reason(tmp_path: Path, text: str, expected: str) -> None:
    assert re.search(expected, _refused(tmp_path, text))


def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LabelRuleError, match=rf"^{re.escape(str(tmp_path / 'nope.toml'))}: cannot read the file"):
        load_label_rules(tmp_path / "nope.toml")


def test_actions_are_checked_against_the_ids_given(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD_RULE + DEFAULT)
    with pytest.raises(LabelRuleError, match="'pod-restart' is not in the catalog"):
        load_label_rules(path, action_ids=("escalate",))


@pytest.mark.parametrize(
    ("alertname", "summary", "action", "rule"),
    [
        # A Flux object is reconciled whatever it deploys: the component it names (Loki,
        # cert-manager, Redis) does not make it a monitoring, certificate or data alert.
        ("HelmReleaseUpgradeFailed", "HelmRelease monitoring/loki upgrade failed", "flux-reconcile-helmrelease", "flux-helmrelease"),
        ("HelmChartPullFailed", "HelmRelease cert-manager: chart could not be fetched", "flux-reconcile-helmrelease", "flux-helmrelease"),
        ("KustomizationFailing", "Kustomization redis-cache apply failed", "flux-reconcile-kustomization", "flux-kustomization"),
        # ... but a suspended one, or one whose controller is gone, is still a human's.
        ("FluxHelmReleaseSuspended", "HelmRelease loki is suspended", "escalate", "suspended"),
        ("FluxSourceControllerAbsent", "source-controller has disappeared", "escalate", "controller-absent"),
        # The components keep their own rules when no Flux object is named.
        ("LokiRequestErrors", "Loki ingester returns errors", "escalate", "monitoring-stack"),
        ("CertManagerCertExpirySoon", "certificate expires in 3 days", "escalate", "certificate"),
    ],
)
def test_flux_objects_come_before_the_components_they_deploy(alertname: str, summary: str, action: str, rule: str) -> None:
    got = ds.rule_label(alertname, summary)
    assert (got.action, got.id) == (action, rule)


@pytest.mark.parametrize(
    ("alertname", "summary", "description", "action", "rule"),
    [
        # What started with a new revision is the revision's fault, whatever the symptom.
        ("MediaApiOOMKilled", "media-api pods OOMKilled", "OOMKilled since revision 41 was rolled out", "rollback-deployment", "bad-rollout"),
        ("OrdersCrashLooping", "orders crash looping", "crash looping since the new release", "rollback-deployment", "bad-rollout"),
        ("MediaApiOOMKilled", "media-api pods OOMKilled", "memory grows for days until the limit", "rollout-restart", "oom"),
        # The catalog rolls back Deployments only: a StatefulSet's bad release is a human's.
        ("KubeStatefulSetCrashLooping", "ledger statefulset crash looping", "since the new release", "escalate", "not-a-deployment"),
        # The cluster drifted from Git: Flux re-applies it.
        ("ClusterDriftFromGit", "cluster state drifted from Git for apps-web", "", "flux-reconcile-kustomization", "gitops-drift"),
        # A saturated worker pool or connection limit on a Deployment gets replicas.
        ("RenderWorkersBusy", "render-api: all workers busy for 20m", "", "scale-deployment", "needs-scale"),
        ("GatewayConnectionsNearMax", "gateway: connections near the max on every pod", "", "scale-deployment", "needs-scale"),
        # ... but not a worker whose memory is exhausted (that is not a replica count).
        ("SparkWorkerMemoryExhausted", "Spark worker memory exhausted", "", "escalate", "default"),
    ],
)
def test_a_rollout_names_its_failure_and_saturation_gets_replicas(alertname, summary, description, action, rule) -> None:
    got = ds.rule_label(alertname, summary, description)
    assert (got.action, got.id) == (action, rule)
