"""The action catalog: it loads strictly, binds only valid label values, renders exact calls.

Alert labels are untrusted, so most of these tests feed hostile values and check that they
are refused with a readable reason and never reach a rendered command.
"""

from __future__ import annotations

import json
import shlex
from datetime import datetime, timezone
from pathlib import Path

import pytest

from sreconsole.triage.catalog import (
    ApiCall,
    CatalogError,
    bind,
    load_catalog,
    render,
)

CORPUS = Path("/work/shared/corpus/alert-rules/homelab")
NOW = datetime(2026, 11, 23, 18, 0, 30, tzinfo=timezone.utc)
STAMP = "2026-11-23T18:00:30Z"

SHIPPED_IDS = (
    "pod-restart",
    "pod-check-status",
    "rollout-restart",
    "rollback-deployment",
    "scale-deployment",
    "flux-reconcile-kustomization",
    "flux-reconcile-helmrelease",
    "flux-reconcile-gitrepository",
    "check-pvc-status",
    "expand-pvc",
    "cordon-node",
    "escalate",
)

# Values every parameter kind must accept (real names from real clusters).
GOOD = {
    "dns-label": ["payments", "kube-system", "worker-1", "a"],
    "dns-subdomain": ["payments-api-7d9f8b6c4-x2kzq", "worker-1", "kube-system", "ip-10-0-1-5.ec2.internal"],
    "integer": ["1", "3", "120"],
    "quantity": ["20Gi", "512Mi", "2Ti"],
}

HOSTILE = [
    "default; rm -rf /",
    "$(reboot)",
    "`reboot`",
    "api\nkubectl delete ns prod",
    "x" * 300,
    " kube-system",
    "kube-system\n",
    "a b",
    "--kubeconfig=/tmp/evil",
    "-n",
    "payments\x1b[2J",
    "pay\u202ements",
    "pay\u200bments",
    "a|b",
    "a&&b",
    "a>b",
    "../etc",
    "..",
    "it's",
    'say"hi"',
    "{name}",
    "KUBE-SYSTEM",
]

LABELS = {
    "pod": "payments-api-7d9f8b6c4-x2kzq",
    "deployment": "payments-api",
    "namespace": "payments",
    "name": "apps",
    "persistentvolumeclaim": "data-postgres-0",
    "node": "worker-1",
}


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


def valid_params(action) -> dict[str, str]:
    return {p.name: GOOD[p.kind][0] for p in action.parameters}


# --- the shipped catalog --------------------------------------------------------------


def test_shipped_catalog_has_exactly_the_twelve_actions_in_order(catalog):
    assert catalog.ids == SHIPPED_IDS
    assert [a.id for a in catalog] == list(SHIPPED_IDS)
    assert len(catalog) == 12
    assert "cordon-node" in catalog and "uncordon-node" not in catalog
    assert catalog.get("scale-deployment").operation.resource == "deployments"
    assert catalog.get("nope") is None


def test_shipped_actions_are_documented_and_consistent(catalog):
    for action in catalog:
        assert action.title and action.description and action.rollback
        assert action.risk in ("low", "medium", "high")
        assert action.source == "actions.toml"
        mutating = action.operation.verb in ("patch", "delete")
        if action.reversible and mutating:
            assert action.undo_action or action.undo_operation, action.id
    assert catalog.get("cordon-node").undo_operation.body == {"spec": {"unschedulable": False}}
    assert catalog.get("scale-deployment").undo_action == "scale-deployment"
    assert not catalog.get("expand-pvc").reversible
    assert catalog.get("escalate").operation.verb == "none"


def test_every_parameter_pattern_accepts_real_values(catalog):
    for action in catalog:
        for param in action.parameters:
            assert param.kind in GOOD, (action.id, param.name)
            for value in GOOD[param.kind]:
                assert param.check(value) is None, (action.id, param.name, value)


def test_every_parameter_rejects_hostile_values_with_a_safe_reason(catalog):
    for action in catalog:
        for param in action.parameters:
            for value in HOSTILE:
                reason = param.check(value)
                assert reason, (action.id, param.name, value)
                # The reason is shown to the operator: no raw control characters and no
                # unbounded echo of the value.
                assert not any(ch in reason for ch in "\n\x1b\u202e\u200b"), reason
                assert len(reason) < 260, reason


def test_name_length_limits_follow_kubernetes(catalog):
    namespace = catalog.get("pod-restart").parameter("namespace")
    pod = catalog.get("pod-restart").parameter("name")
    assert namespace.check("a" * 63) is None
    assert "not a DNS-1123 label" in namespace.check("a" * 64)
    assert pod.check("a" * 253) is None
    assert "253" in pod.check("a" * 254)
    assert "not a DNS-1123 subdomain" in pod.check("Payments")
    replicas = catalog.get("scale-deployment").parameter("replicas")
    assert replicas.check("0") and replicas.check("1000") and replicas.check("03")


# --- bind -----------------------------------------------------------------------------


def test_bind_reads_labels_and_reports_missing_and_invalid_separately(catalog):
    scale = catalog.get("scale-deployment")
    ok = bind(scale, LABELS, {"replicas": "3"})
    assert ok.complete
    assert ok.params == {"name": "payments-api", "namespace": "payments", "replicas": "3"}

    partial = bind(scale, {"deployment": "api; reboot", "alertname": "X"})
    assert not partial.complete
    assert partial.missing == ["namespace", "replicas"]
    assert [name for name, _ in partial.invalid] == ["name"]
    assert "shell metacharacter ';'" in partial.invalid[0][1]
    assert partial.params == {}


def test_bind_order_override_then_labels_then_fallback(catalog):
    flux = catalog.get("flux-reconcile-kustomization")
    assert bind(flux, {"name": "apps", "exported_namespace": "flux-system"}).params["namespace"] == "flux-system"
    both = {"name": "apps", "namespace": "monitoring", "exported_namespace": "flux-system"}
    assert bind(flux, both).params["namespace"] == "monitoring"
    # An empty label is absent, as in Prometheus.
    assert bind(flux, {"name": "apps", "namespace": "", "exported_namespace": "x"}).params["namespace"] == "x"
    # A present but invalid label is reported, not silently replaced by a fallback.
    bad = bind(flux, {"name": "apps", "namespace": "Bad NS", "exported_namespace": "flux-system"})
    assert [n for n, _ in bad.invalid] == ["namespace"] and bad.missing == []
    assert bind(flux, both, {"namespace": "other"}).params["namespace"] == "other"
    with pytest.raises(ValueError, match="no parameter 'type'"):
        bind(flux, both, {"type": "pod"})


def test_bind_never_accepts_hostile_labels_or_overrides(catalog):
    for action in catalog:
        for param in action.parameters:
            for value in HOSTILE:
                via_override = bind(action, LABELS, {param.name: value})
                assert param.name in dict(via_override.invalid), (action.id, param.name, value)
                assert param.name not in via_override.params
                if param.label:
                    via_label = bind(action, {**LABELS, param.label: value})
                    assert param.name in dict(via_label.invalid), (action.id, param.name, value)


# --- render ---------------------------------------------------------------------------


def rendered(catalog, action_id, overrides=None):
    action = catalog.get(action_id)
    binding = bind(action, LABELS, overrides)
    assert binding.complete, (binding.missing, binding.invalid)
    return render(action, binding.params, now=NOW)


def test_render_pod_restart(catalog):
    call = rendered(catalog, "pod-restart")
    assert call.api == ApiCall("DELETE", "/api/v1/namespaces/payments/pods/payments-api-7d9f8b6c4-x2kzq")
    assert call.command == "kubectl delete pod payments-api-7d9f8b6c4-x2kzq -n payments"
    assert call.argv == ("kubectl", "delete", "pod", "payments-api-7d9f8b6c4-x2kzq", "-n", "payments")


def test_render_read_only_checks(catalog):
    call = rendered(catalog, "check-pvc-status")
    assert call.api == ApiCall("GET", "/api/v1/namespaces/payments/persistentvolumeclaims/data-postgres-0")
    assert call.command == "kubectl get persistentvolumeclaim data-postgres-0 -n payments -o yaml"


def test_render_scale_sends_an_integer(catalog):
    call = rendered(catalog, "scale-deployment", {"replicas": "3"})
    assert call.api == ApiCall(
        "PATCH",
        "/apis/apps/v1/namespaces/payments/deployments/payments-api",
        "application/merge-patch+json",
        {"spec": {"replicas": 3}},
    )
    assert call.command == "kubectl scale deployment/payments-api -n payments --replicas=3"


def test_render_rollout_restart_stamps_the_given_time(catalog):
    call = rendered(catalog, "rollout-restart")
    body = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": STAMP}}}}}
    assert call.api == ApiCall(
        "PATCH",
        "/apis/apps/v1/namespaces/payments/deployments/payments-api",
        "application/merge-patch+json",
        body,
    )
    assert call.command == (
        "kubectl patch deployment payments-api -n payments --type merge -p "
        "'" + json.dumps(body, separators=(",", ":")) + "'"
    )
    assert call.argv[-1] == (
        '{"spec":{"template":{"metadata":{"annotations":'
        '{"kubectl.kubernetes.io/restartedAt":"2026-11-23T18:00:30Z"}}}}}'
    )
    # Another zone is converted to UTC; a naive time is refused rather than guessed.
    action = catalog.get("rollout-restart")
    params = bind(action, LABELS).params
    later = datetime.fromisoformat("2026-11-23T20:00:30+02:00")
    assert render(action, params, now=later).api.body == body
    with pytest.raises(ValueError, match="timezone"):
        render(action, params, now=datetime(2026, 11, 23, 18, 0, 30))


def test_render_flux_kustomization_reconcile(catalog):
    call = rendered(catalog, "flux-reconcile-kustomization")
    assert call.api == ApiCall(
        "PATCH",
        "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/payments/kustomizations/apps",
        "application/merge-patch+json",
        {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": STAMP}}},
    )
    assert call.command == (
        "kubectl annotate --overwrite kustomizations.kustomize.toolkit.fluxcd.io apps -n payments "
        "reconcile.fluxcd.io/requestedAt=2026-11-23T18:00:30Z"
    )
    helm = rendered(catalog, "flux-reconcile-helmrelease").api
    assert helm.path == "/apis/helm.toolkit.fluxcd.io/v2/namespaces/payments/helmreleases/apps"
    git = rendered(catalog, "flux-reconcile-gitrepository").api
    assert git.path == "/apis/source.toolkit.fluxcd.io/v1/namespaces/payments/gitrepositories/apps"


def test_render_cordon_node(catalog):
    call = rendered(catalog, "cordon-node")
    assert call.api == ApiCall(
        "PATCH", "/api/v1/nodes/worker-1", "application/merge-patch+json", {"spec": {"unschedulable": True}}
    )
    assert call.command == "kubectl cordon worker-1"


def test_render_expand_pvc(catalog):
    call = rendered(catalog, "expand-pvc", {"size": "20Gi"})
    assert call.api == ApiCall(
        "PATCH",
        "/api/v1/namespaces/payments/persistentvolumeclaims/data-postgres-0",
        "application/merge-patch+json",
        {"spec": {"resources": {"requests": {"storage": "20Gi"}}}},
    )
    assert call.command == (
        "kubectl patch persistentvolumeclaim data-postgres-0 -n payments --type merge "
        """-p '{"spec":{"resources":{"requests":{"storage":"20Gi"}}}}'"""
    )


def test_render_rollback_leaves_the_body_to_the_executor(catalog):
    call = rendered(catalog, "rollback-deployment")
    assert call.api == ApiCall(
        "PATCH",
        "/apis/apps/v1/namespaces/payments/deployments/payments-api",
        "application/json-patch+json",
        None,
        "previous-replicaset",
    )
    assert call.command == "kubectl rollout undo deployment/payments-api -n payments"


def test_render_escalate_makes_no_call(catalog):
    call = render(catalog.get("escalate"), {}, now=NOW)
    assert call.api is None and call.argv == ()
    assert call.command == "Page the on-call owner (no automated action)"


def test_render_refuses_incomplete_or_invalid_params(catalog):
    action = catalog.get("scale-deployment")
    with pytest.raises(ValueError, match="replicas: missing"):
        render(action, {"name": "api", "namespace": "payments"}, now=NOW)
    with pytest.raises(ValueError, match="not a parameter"):
        render(action, {"name": "api", "namespace": "payments", "replicas": "3", "type": "x"}, now=NOW)
    with pytest.raises(ValueError, match="replicas"):
        render(action, {"name": "api", "namespace": "payments", "replicas": "3; reboot"}, now=NOW)


def test_hostile_values_never_reach_a_command(catalog):
    """Every action × parameter × hostile value: render refuses, nothing is built."""
    for action in catalog:
        for param in action.parameters:
            for value in HOSTILE:
                params = {**valid_params(action), param.name: value}
                with pytest.raises(ValueError) as raised:
                    render(action, params, now=NOW)
                assert not any(ch in str(raised.value) for ch in "\n\x1b\u202e\u200b")
        # With valid values, the pasted line splits back into exactly the argv shown.
        call = render(action, valid_params(action), now=NOW)
        assert shlex.split(call.command) == list(call.argv) or call.api is None


# --- user catalog files ---------------------------------------------------------------

USER_ACTION = """
[[action]]
id = "restart-statefulset"
title = "Rolling restart of statefulset"
description = "Replace the statefulset's pods in order."
risk = "medium"
reversible = false
rollback = "Cannot be undone."
kubectl = ["patch", "statefulset", "{name}", "-n", "{namespace}", "--type", "merge", "-p", "{body}"]

  [[action.parameters]]
  name = "name"
  label = "statefulset"
  kind = "dns-subdomain"
  pattern = '[a-z0-9]([-a-z0-9]*[a-z0-9])?'

  [[action.parameters]]
  name = "namespace"
  label = "namespace"
  kind = "dns-label"
  pattern = '[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?'

  [action.operation]
  verb = "patch"
  api = "apps/v1"
  resource = "statefulsets"
  patch_type = "merge"
  body.spec.template.metadata.annotations."kubectl.kubernetes.io/restartedAt" = "{now}"
"""


def user_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "my-actions.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_user_file_adds_an_action_after_the_shipped_ones(tmp_path):
    catalog = load_catalog(user_file(tmp_path, USER_ACTION))
    assert catalog.ids == (*SHIPPED_IDS, "restart-statefulset")
    action = catalog.get("restart-statefulset")
    assert action.source.endswith("my-actions.toml")
    binding = bind(action, {"statefulset": "postgres", "namespace": "db"})
    call = render(action, binding.params, now=NOW)
    assert call.api.path == "/apis/apps/v1/namespaces/db/statefulsets/postgres"


def test_a_lax_user_pattern_still_refuses_shell_and_control_characters(tmp_path):
    lax = USER_ACTION.replace("pattern = '[a-z0-9]([-a-z0-9]*[a-z0-9])?'", "pattern = '.+'")
    action = load_catalog(user_file(tmp_path, lax)).get("restart-statefulset")
    name = action.parameter("name")
    assert name.pattern == ".+"
    assert name.check("Postgres_0") is None  # the pattern is the user's choice...
    for value in ["default; rm -rf /", "$(reboot)", "`id`", "a\nb", "x" * 300, "--kubeconfig=/x", "a b", "\x1b[2J"]:
        assert name.check(value), value  # ...but not these
    with pytest.raises(ValueError, match="not object names"):
        render(action, {"name": "..", "namespace": "db"}, now=NOW)


def test_duplicate_id_needs_override(tmp_path):
    clash = USER_ACTION.replace('"restart-statefulset"', '"scale-deployment"')
    with pytest.raises(CatalogError) as raised:
        load_catalog(user_file(tmp_path, clash))
    message = str(raised.value)
    assert "my-actions.toml" in message and 'action "scale-deployment"' in message
    assert "override = true" in message

    replaced = load_catalog(user_file(tmp_path, clash.replace('risk = "medium"', 'risk = "high"\noverride = true')))
    assert replaced.ids == SHIPPED_IDS  # replaced in place, order kept
    assert replaced.get("scale-deployment").risk == "high"
    assert replaced.get("scale-deployment").source.endswith("my-actions.toml")

    with pytest.raises(CatalogError, match="no earlier action"):
        load_catalog(user_file(tmp_path, USER_ACTION.replace('risk = "medium"', 'risk = "medium"\noverride = true')))
    with pytest.raises(CatalogError, match="defined twice"):
        load_catalog(user_file(tmp_path, USER_ACTION + USER_ACTION))


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (
            "pattern = '[a-z0-9]([-a-z0-9]*[a-z0-9])?'",
            "pattern = '[a-z0-9(['",
            'action "restart-statefulset": parameter "name": pattern is not a valid regular expression (',
        ),
        ('risk = "medium"', 'risk = "extreme"', "action \"restart-statefulset\": risk 'extreme' is not one of"),
        ('reversible = false', 'reversible = false\ncolour = "red"', "unknown field 'colour'"),
        ('label = "statefulset"', 'label = "statefulset"\nregex = "x"', 'parameter "name": unknown field \'regex\''),
        ('verb = "patch"', 'verb = "exec"', "operation: verb 'exec' is not one of"),
        ('id = "restart-statefulset"', 'id = "Restart_STS"', "id 'Restart_STS' is not an action id"),
        ('label = "statefulset"', 'label = "stateful-set"', "label 'stateful-set' is not a Prometheus label name"),
        ('title = "Rolling restart of statefulset"\n', "", 'action "restart-statefulset": title is missing'),
        ('"-p", "{body}"', '"-p", "{bdy}"', "kubectl: placeholder {bdy} names no parameter"),
        ('reversible = false', 'reversible = false\nundo_action = "x"', "reversible is false"),
        ('kind = "dns-label"', 'kind = "dns-label"\ndefault = "Not Valid"', 'parameter "namespace": default'),
        ('name = "namespace"', 'name = "now"', "reserved"),
    ],
)
def test_bad_user_files_name_the_file_action_and_field(tmp_path, old, new, expected):
    assert old in USER_ACTION
    with pytest.raises(CatalogError) as raised:
        load_catalog(user_file(tmp_path, USER_ACTION.replace(old, new, 1)))
    message = str(raised.value)
    assert message.startswith(str(tmp_path / "my-actions.toml") + ":"), message
    assert expected in message, message


def test_undo_action_must_exist(tmp_path):
    text = USER_ACTION.replace("reversible = false", 'reversible = true\nundo_action = "no-such-action"')
    with pytest.raises(CatalogError, match="undo_action names 'no-such-action', which is not in the catalog"):
        load_catalog(user_file(tmp_path, text))


def test_toml_syntax_error_names_file_and_line(tmp_path):
    broken = USER_ACTION.replace('risk = "medium"', 'risk = "medium')
    line = broken.splitlines().index('risk = "medium') + 1
    with pytest.raises(CatalogError) as raised:
        load_catalog(user_file(tmp_path, broken))
    assert str(raised.value).startswith(f"{tmp_path / 'my-actions.toml'}:{line}: invalid TOML:"), raised.value


def test_unreadable_user_file_is_a_catalog_error(tmp_path):
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "absent.toml")
    latin1 = tmp_path / "latin1.toml"
    latin1.write_bytes(b'title = "caf\xe9"')
    with pytest.raises(CatalogError, match="not UTF-8"):
        load_catalog(latin1)


# --- the corpus of real alert rules ---------------------------------------------------


def _annotated_rules():
    """(file, annotations) for every rule in the corpus with a lambda_function annotation."""
    yaml = pytest.importorskip("yaml")
    if not CORPUS.is_dir():
        pytest.skip(f"alert-rule corpus not present at {CORPUS}")
    found = []

    def walk(node, file):
        if isinstance(node, dict):
            if "lambda_function" in node:
                found.append((file, node))
            for value in node.values():
                walk(value, file)
        elif isinstance(node, list):
            for value in node:
                walk(value, file)

    class Loader(yaml.SafeLoader):
        """PyYAML reads a bare ``=`` as YAML 1.1's "value" type; Kubernetes means the string."""

    Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))
    for path in sorted(CORPUS.glob("*.yaml")):
        for document in yaml.load_all(path.read_text(encoding="utf-8"), Loader=Loader):  # noqa: S506 (a SafeLoader)
            walk(document, path.name)
    assert found, "the corpus has no lambda_function annotations"
    return found


def test_corpus_lambda_functions_are_all_in_the_catalog(catalog):
    referenced = {annotations["lambda_function"] for _, annotations in _annotated_rules()}
    assert referenced - set(catalog.ids) == set()
    assert len(referenced) >= 5


def test_corpus_lambda_parameters_map_onto_catalog_parameters(catalog):
    """The agent's parameter names and the labels they are templated from match ours.

    Two deliberate differences: the agent's ``pod-restart`` also restarts deployments
    (``"type": "deployment"``), which is ``rollout-restart`` here; and one rule spells the
    PVC parameter ``pvc_name`` where the rest say ``name``.
    """
    for file, annotations in _annotated_rules():
        action = catalog.get(annotations["lambda_function"])
        params = json.loads(annotations["lambda_parameters"])
        if params.pop("type", "pod") == "deployment":
            action = catalog.get("rollout-restart")
        if "pvc_name" in params:
            params["name"] = params.pop("pvc_name")
        for name, template in params.items():
            param = action.parameter(name)
            assert param is not None, (file, action.id, name)
            if isinstance(template, str) and "$labels." in template:
                label = template.split("$labels.")[1].split()[0]
                assert label in param.label_order, (file, action.id, name, label)
            else:
                assert param.check(str(template)) is None, (file, action.id, name, template)
