"""Contract tests of the remediation executor: the exact Kubernetes API requests it sends.

No Kubernetes API server can be installed on this machine, so these tests run the real
official client (``kubernetes.client.ApiClient``) against a **local HTTP stub** on
127.0.0.1: a small ``http.server`` in a thread that records every request (method, path,
query, content type, JSON body) and answers with minimal Kubernetes objects in their
documented shapes — a Pod, a Deployment, a ReplicaSetList with revision annotations and
owner references, a Node, a PersistentVolumeClaim, Flux custom objects, and ``Status``
objects for deletes and errors. What is asserted is the wire contract (method, path,
body, content type), not the behaviour of a real API server.
"""

from __future__ import annotations

import copy
import json
import socket
import subprocess
import sys
import time
from datetime import datetime, timezone

import pytest

from kubestub import RecordingServer
from sreconsole.review.executor import (
    CallRecord,
    ExecutionError,
    ExecutionResult,
    Executor,
)
from sreconsole.sources.kube_client import KubeClientError, make_api_client
from sreconsole.triage.catalog import load_catalog

NOW = datetime(2026, 11, 23, 18, 0, 30, tzinfo=timezone.utc)
STAMP = "2026-11-23T18:00:30Z"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"

DEPLOY_UID = "0b8a7c1e-0000-4000-8000-00000000d001"


def _template(image: str, pod_hash: str | None = None) -> dict:
    labels = {"app": "web"}
    if pod_hash:
        labels["pod-template-hash"] = pod_hash
    return {
        "metadata": {"labels": labels},
        "spec": {"containers": [{"name": "web", "image": image, "ports": [{"containerPort": 8080}]}]},
    }


def _replica_set(name: str, revision: str, image: str, owner_uid: str, owner: str = "web") -> dict:
    pod_hash = name.rsplit("-", 1)[-1]
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "labels": {"app": "web", "pod-template-hash": pod_hash},
            "annotations": {"deployment.kubernetes.io/revision": revision},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": owner,
                    "uid": owner_uid,
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "web", "pod-template-hash": pod_hash}},
            "template": _template(image, pod_hash),
        },
        "status": {"replicas": 0},
    }


def _status(code: int, reason: str, message: str) -> dict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _objects() -> dict[str, dict]:
    """The stub's cluster, by URL path."""
    return {
        "/api/v1/namespaces/shop/pods/web-7d9f-abcde": {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web-7d9f-abcde", "namespace": "shop"},
            "spec": {"nodeName": "node-1", "containers": [{"name": "web", "image": "web:v3"}]},
            "status": {
                "phase": "Running",
                "conditions": [
                    {"type": "Ready", "status": "False", "reason": "ContainersNotReady"},
                    {"type": "PodScheduled", "status": "True"},
                ],
                "containerStatuses": [
                    {
                        "name": "web",
                        "ready": False,
                        "restartCount": 7,
                        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
                    }
                ],
            },
        },
        "/apis/apps/v1/namespaces/shop/deployments/web": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": "web",
                "namespace": "shop",
                "uid": DEPLOY_UID,
                "annotations": {"deployment.kubernetes.io/revision": "3"},
            },
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": _template("web:v3"),
            },
            "status": {"replicas": 3, "readyReplicas": 1},
        },
        "/apis/apps/v1/namespaces/shop/replicasets": {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSetList",
            "metadata": {"resourceVersion": "100"},
            # Deliberately out of order, plus one ReplicaSet with the same labels that
            # another Deployment owns and a higher revision: it must be ignored.
            "items": [
                _replica_set("web-aaa111", "1", "web:v1", DEPLOY_UID),
                _replica_set("web-ccc333", "3", "web:v3", DEPLOY_UID),
                _replica_set("web-canary-zzz999", "9", "web:canary", "other-uid", "web-canary"),
                _replica_set("web-bbb222", "2", "web:v2", DEPLOY_UID),
            ],
        },
        "/api/v1/nodes/node-1": {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "node-1", "labels": {"kubernetes.io/hostname": "node-1"}},
            "spec": {"podCIDR": "10.244.1.0/24"},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]},
        },
        "/api/v1/namespaces/shop/persistentvolumeclaims/data-db-0": {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": "data-db-0", "namespace": "shop"},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "10Gi"}},
                "storageClassName": "fast",
            },
            "status": {"phase": "Bound", "capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteOnce"]},
        },
        "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/apps": {
            "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
            "kind": "Kustomization",
            "metadata": {"name": "apps", "namespace": "flux-system"},
            "spec": {"interval": "10m", "path": "./apps", "prune": True,
                     "sourceRef": {"kind": "GitRepository", "name": "flux-system"}},
        },
        "/apis/helm.toolkit.fluxcd.io/v2/namespaces/flux-system/helmreleases/podinfo": {
            "apiVersion": "helm.toolkit.fluxcd.io/v2",
            "kind": "HelmRelease",
            "metadata": {"name": "podinfo", "namespace": "flux-system"},
            "spec": {"interval": "10m", "chart": {"spec": {"chart": "podinfo"}}},
        },
        "/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories/flux-system": {
            "apiVersion": "source.toolkit.fluxcd.io/v1",
            "kind": "GitRepository",
            "metadata": {"name": "flux-system", "namespace": "flux-system"},
            "spec": {"interval": "1m", "url": "ssh://git@example.invalid/fleet"},
        },
    }


class KubeStub(RecordingServer):
    """A recording stand-in for the API server (see the module docstring): it serves the
    objects of ``_objects()`` by path, or a fault set for a (method, path)."""

    def __init__(self) -> None:
        self.objects = _objects()
        self.faults: dict[tuple[str, str], tuple[int, str, object]] = {}
        """``(method, path) -> (status, content type, body)`` answered instead."""
        super().__init__()

    def respond(self, method: str, path: str) -> tuple[int, str, object]:
        if (method, path) in self.faults:
            return self.faults[(method, path)]
        obj = self.objects.get(path)
        if obj is None:
            resource, name = path.rsplit("/", 2)[-2:]
            return 404, "application/json", _status(404, "NotFound", f'{resource} "{name}" not found')
        if method == "DELETE":
            done = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": {"name": path.rsplit("/", 1)[-1], "kind": "pods"}}
            return 200, "application/json", done
        return 200, "application/json", obj


@pytest.fixture(scope="module")
def stub():
    server = KubeStub()
    yield server
    server.close()


@pytest.fixture
def kube(stub: KubeStub):
    """The stub, emptied of earlier requests and faults, with its objects reset."""
    stub.requests.clear()
    stub.faults.clear()
    stub.objects = _objects()
    stub.delay_s = 0.0
    return stub


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


@pytest.fixture
def api_client(stub: KubeStub):
    from kubernetes import client

    configuration = client.Configuration(host=stub.url)
    configuration.retries = 0  # a refused connection fails at once
    api = client.ApiClient(configuration)
    yield api
    api.close()


def _executor(catalog, api_client, **kwargs) -> Executor:
    kwargs.setdefault("clock", lambda: NOW)
    return Executor(catalog, api_client, **kwargs)


def _sent(kube: KubeStub) -> list[tuple]:
    return [(r["method"], r["path"], r["content_type"] if r["method"] == "PATCH" else None, r["body"])
            for r in kube.requests]


POD = {"name": "web-7d9f-abcde", "namespace": "shop"}
DEPLOY = {"name": "web", "namespace": "shop"}
NODE = {"name": "node-1"}
PVC = {"name": "data-db-0", "namespace": "shop"}
FLUX_K = {"name": "apps", "namespace": "flux-system"}
FLUX_H = {"name": "podinfo", "namespace": "flux-system"}
FLUX_G = {"name": "flux-system", "namespace": "flux-system"}
RESTARTED = {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": STAMP}}}}}
REQUESTED = {"metadata": {"annotations": {"reconcile.fluxcd.io/requestedAt": STAMP}}}

# Every action with parameters that reach an object of the stub.
ALL_ACTIONS = {
    "pod-restart": POD,
    "pod-check-status": POD,
    "rollout-restart": DEPLOY,
    "rollback-deployment": DEPLOY,
    "scale-deployment": {**DEPLOY, "replicas": "5"},
    "flux-reconcile-kustomization": FLUX_K,
    "flux-reconcile-helmrelease": FLUX_H,
    "flux-reconcile-gitrepository": FLUX_G,
    "check-pvc-status": PVC,
    "expand-pvc": {**PVC, "size": "20Gi"},
    "cordon-node": NODE,
    "escalate": {},
}

SINGLE_CALL = [
    ("pod-restart", POD, ("DELETE", "/api/v1/namespaces/shop/pods/web-7d9f-abcde", None, None)),
    ("pod-check-status", POD, ("GET", "/api/v1/namespaces/shop/pods/web-7d9f-abcde", None, None)),
    ("rollout-restart", DEPLOY,
     ("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web", MERGE, RESTARTED)),
    ("flux-reconcile-kustomization", FLUX_K,
     ("PATCH", "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/apps",
      MERGE, REQUESTED)),
    ("flux-reconcile-helmrelease", FLUX_H,
     ("PATCH", "/apis/helm.toolkit.fluxcd.io/v2/namespaces/flux-system/helmreleases/podinfo",
      MERGE, REQUESTED)),
    ("flux-reconcile-gitrepository", FLUX_G,
     ("PATCH", "/apis/source.toolkit.fluxcd.io/v1/namespaces/flux-system/gitrepositories/flux-system",
      MERGE, REQUESTED)),
    ("check-pvc-status", PVC,
     ("GET", "/api/v1/namespaces/shop/persistentvolumeclaims/data-db-0", None, None)),
    ("expand-pvc", {**PVC, "size": "20Gi"},
     ("PATCH", "/api/v1/namespaces/shop/persistentvolumeclaims/data-db-0", MERGE,
      {"spec": {"resources": {"requests": {"storage": "20Gi"}}}})),
]


@pytest.mark.parametrize(("action", "params", "expected"), SINGLE_CALL, ids=[c[0] for c in SINGLE_CALL])
def test_each_action_sends_exactly_its_call(catalog, api_client, kube, action, params, expected):
    result = _executor(catalog, api_client).execute(action, params, dry_run=False)
    assert result.ok, result.error
    assert _sent(kube) == [expected]
    assert [(c.method, c.path, c.body, c.status) for c in result.calls] == [
        (expected[0], expected[1], expected[3], 200)
    ]
    assert result.undo is None  # none of these is reversible by a recorded value


def test_why_the_content_type_is_forced(api_client, kube):
    """Left to itself the typed client sends a dict body as a *strategic* merge patch (its
    default is json-patch, which rest.py rewrites for non-list bodies): the executor's
    ``_content_type`` is what makes the catalog's ``merge`` true on the wire."""
    from kubernetes import client

    client.CoreV1Api(api_client).patch_node("node-1", {"spec": {"unschedulable": True}},
                                            _preload_content=False)
    assert kube.requests[-1]["content_type"] == "application/strategic-merge-patch+json"


def test_pod_check_status_returns_a_short_summary(catalog, api_client, kube):
    result = _executor(catalog, api_client).execute("pod-check-status", POD, dry_run=False)
    assert result.output == {
        "phase": "Running",
        "node": "node-1",
        "restarts": 7,
        "containers": [
            {"name": "web", "ready": False, "restarts": 7, "state": "waiting: CrashLoopBackOff"}
        ],
        "conditions": [
            {"type": "Ready", "status": "False", "reason": "ContainersNotReady"},
            {"type": "PodScheduled", "status": "True"},
        ],
    }
    json.dumps(result.as_dict())


def test_check_pvc_status_returns_capacity_and_phase(catalog, api_client, kube):
    result = _executor(catalog, api_client).execute("check-pvc-status", PVC, dry_run=False)
    assert result.output == {
        "phase": "Bound",
        "capacity": "10Gi",
        "requested": "10Gi",
        "storage_class": "fast",
        "access_modes": ["ReadWriteOnce"],
        "conditions": [],
    }


def test_scale_reads_replicas_first_and_rollback_restores_them(catalog, api_client, kube):
    executor = _executor(catalog, api_client)
    path = "/apis/apps/v1/namespaces/shop/deployments/web"
    result = executor.execute("scale-deployment", {**DEPLOY, "replicas": "5"}, dry_run=False)
    assert result.ok, result.error
    assert _sent(kube) == [("GET", path, None, None), ("PATCH", path, MERGE, {"spec": {"replicas": 5}})]
    assert result.undo == {"replicas": 3}

    kube.requests.clear()
    # The undo goes through the store as JSON; use it the way the review queue will.
    undo = json.loads(json.dumps(result.as_dict()))["undo"]
    back = executor.rollback("scale-deployment", {**DEPLOY, "replicas": "5"}, undo, dry_run=False)
    assert back.ok, back.error
    assert _sent(kube) == [("PATCH", path, MERGE, {"spec": {"replicas": 3}})]


def test_cordon_records_schedulable_and_rollback_uncordons(catalog, api_client, kube):
    executor = _executor(catalog, api_client)
    path = "/api/v1/nodes/node-1"
    result = executor.execute("cordon-node", NODE, dry_run=False)
    assert result.ok, result.error
    assert _sent(kube) == [("GET", path, None, None), ("PATCH", path, MERGE, {"spec": {"unschedulable": True}})]
    assert result.undo == {"unschedulable": False}

    kube.requests.clear()
    back = executor.rollback("cordon-node", NODE, result.undo, dry_run=False)
    assert back.ok, back.error
    assert _sent(kube) == [("PATCH", path, MERGE, {"spec": {"unschedulable": False}})]

    # With nothing recorded, the catalog's undo_operation (uncordon) is what is sent.
    kube.requests.clear()
    back = executor.rollback("cordon-node", NODE, {}, dry_run=False)
    assert back.ok, back.error
    assert _sent(kube) == [("PATCH", path, MERGE, {"spec": {"unschedulable": False}})]


def test_rollback_deployment_copies_the_previous_replicaset_template(catalog, api_client, kube):
    executor = _executor(catalog, api_client)
    path = "/apis/apps/v1/namespaces/shop/deployments/web"
    result = executor.execute("rollback-deployment", DEPLOY, dry_run=False)
    assert result.ok, result.error
    previous = _template("web:v2")  # revision 2, pod-template-hash removed
    assert _sent(kube) == [
        ("GET", path, None, None),
        ("GET", "/apis/apps/v1/namespaces/shop/replicasets", None, None),
        ("PATCH", path, JSON_PATCH, [{"op": "replace", "path": "/spec/template", "value": previous}]),
    ]
    assert kube.requests[1]["query"] == {"labelSelector": "app=web"}
    assert "pod-template-hash" not in json.dumps(kube.requests[2]["body"])
    assert result.undo == {"template": _template("web:v3")}

    kube.requests.clear()
    back = executor.rollback("rollback-deployment", DEPLOY, result.undo, dry_run=False)
    assert back.ok, back.error
    assert _sent(kube) == [
        ("PATCH", path, JSON_PATCH, [{"op": "replace", "path": "/spec/template", "value": _template("web:v3")}])
    ]


def test_rollback_deployment_without_history_fails_readably(catalog, api_client, kube):
    listing = kube.objects["/apis/apps/v1/namespaces/shop/replicasets"]
    listing["items"] = [i for i in listing["items"] if i["metadata"]["name"] == "web-ccc333"]
    result = _executor(catalog, api_client).execute("rollback-deployment", DEPLOY, dry_run=False)
    assert not result.ok
    assert result.error == "no previous revision to roll back to: deployment web has 1 revision"
    assert [r["method"] for r in kube.requests] == ["GET", "GET"]  # nothing patched


def test_rollback_deployment_already_on_previous_template_sends_no_patch(catalog, api_client, kube):
    kube.objects["/apis/apps/v1/namespaces/shop/deployments/web"]["spec"]["template"] = _template("web:v2")
    result = _executor(catalog, api_client).execute("rollback-deployment", DEPLOY, dry_run=False)
    assert result.ok and result.undo is None
    assert [r["method"] for r in kube.requests] == ["GET", "GET"]
    assert "revision 2" in result.output["skipped"]


def test_paused_deployment_is_not_rolled_back(catalog, api_client, kube):
    kube.objects["/apis/apps/v1/namespaces/shop/deployments/web"]["spec"]["paused"] = True
    result = _executor(catalog, api_client).execute("rollback-deployment", DEPLOY, dry_run=False)
    assert not result.ok and "paused" in result.error
    assert all(r["method"] == "GET" for r in kube.requests)


def test_escalate_makes_no_call(catalog, api_client, kube):
    result = _executor(catalog, api_client).execute("escalate", {}, dry_run=False)
    assert result == ExecutionResult("escalate", False, True, ())
    assert kube.requests == []


@pytest.mark.parametrize("action", list(ALL_ACTIONS))
def test_dry_run_sends_nothing_and_lists_the_same_calls(catalog, api_client, kube, action):
    executor = _executor(catalog, api_client)
    dry = executor.execute(action, ALL_ACTIONS[action], dry_run=True)
    assert kube.requests == []
    assert dry.ok and dry.dry_run and dry.undo is None
    assert all(c.status is None for c in dry.calls)

    real = executor.execute(action, ALL_ACTIONS[action], dry_run=False)
    assert real.ok, real.error
    assert [(c.method, c.path) for c in dry.calls] == [(c.method, c.path) for c in real.calls]
    assert [(r["method"], r["path"]) for r in kube.requests] == [(c.method, c.path) for c in real.calls]
    if action == "rollback-deployment":
        # Only the cluster knows the previous template: the dry run says so instead.
        assert dry.calls[-1].body is None and "previous ReplicaSet" in dry.calls[-1].summary
        assert [c.body for c in dry.calls[:-1]] == [c.body for c in real.calls[:-1]]
    else:
        assert [c.body for c in dry.calls] == [c.body for c in real.calls]


def test_dry_run_is_the_default_unless_the_risk_is_applied(catalog, api_client, kube):
    executor = _executor(catalog, api_client, apply_risks=("low",))
    assert not executor.execute("pod-restart", POD).dry_run  # low: applied
    assert len(kube.requests) == 1
    assert executor.execute("scale-deployment", {**DEPLOY, "replicas": "5"}).dry_run  # medium
    assert executor.rollback("cordon-node", NODE, {"unschedulable": False}).dry_run
    assert len(kube.requests) == 1
    assert _executor(catalog, api_client).execute("pod-restart", POD).dry_run  # nothing applied


def test_dry_run_needs_no_api_client(catalog, kube):
    executor = _executor(catalog, None, apply_risks=("low", "medium", "high"))
    assert executor.execute("cordon-node", NODE, dry_run=True).ok
    with pytest.raises(ExecutionError, match="^no Kubernetes API configured"):
        executor.execute("cordon-node", NODE)


def test_read_only_refuses_everything_but_dry_runs(catalog, api_client, kube):
    executor = _executor(catalog, api_client, read_only=True, apply_risks=("low", "medium", "high"))
    for action, params in ALL_ACTIONS.items():
        with pytest.raises(ExecutionError, match="^read-only: "):
            executor.execute(action, params)
        assert executor.execute(action, params, dry_run=True).ok
    with pytest.raises(ExecutionError, match="^read-only: "):
        executor.rollback("scale-deployment", {**DEPLOY, "replicas": "5"}, {"replicas": 3}, dry_run=False)
    assert kube.requests == []


HOSTILE = [
    ("name", "a;b"),
    ("name", "$(x)"),
    ("name", "web\nkubectl delete ns prod"),
    ("name", "a" * 300),
    ("namespace", "shop`id`"),
    ("namespace", "../kube-system"),
    ("name", "--all"),
    ("name", ""),
    ("replicas", "5; rm -rf /"),
    ("replicas", "0"),
    ("replicas", 5),
]


@pytest.mark.parametrize(("param", "value"), HOSTILE, ids=[repr(v)[:20] for _, v in HOSTILE])
def test_hostile_parameters_are_refused_before_any_request(catalog, api_client, kube, param, value):
    executor = _executor(catalog, api_client, apply_risks=("low", "medium", "high"))
    params = {**DEPLOY, "replicas": "5", param: value}
    for call in (
        lambda: executor.execute("scale-deployment", params),
        lambda: executor.execute("scale-deployment", params, dry_run=True),
        lambda: executor.rollback("scale-deployment", params, {"replicas": 3}),
    ):
        with pytest.raises(ExecutionError, match=f"parameter {param}") as info:
            call()
        assert "\n" not in str(info.value)
    assert kube.requests == []


def test_unknown_action_and_unknown_parameter_are_refused(catalog, api_client, kube):
    executor = _executor(catalog, api_client)
    with pytest.raises(ExecutionError, match="unknown action"):
        executor.execute("rm-rf", {}, dry_run=False)
    with pytest.raises(ExecutionError, match="no parameter 'command'"):
        executor.execute("pod-restart", {**POD, "command": "id"}, dry_run=False)
    with pytest.raises(ExecutionError, match="parameter size is missing"):
        executor.execute("expand-pvc", PVC, dry_run=False)
    assert kube.requests == []


def test_not_found_is_a_readable_result(catalog, api_client, kube):
    result = _executor(catalog, api_client).execute(
        "pod-restart", {"name": "ghost", "namespace": "shop"}, dry_run=False
    )
    assert not result.ok
    assert result.error == '404 Not Found: pods "ghost" not found'
    assert result.calls == (
        CallRecord("DELETE", "/api/v1/namespaces/shop/pods/ghost", None, 404, "delete pod shop/ghost"),
    )


def test_forbidden_is_a_readable_result(catalog, api_client, kube):
    path = "/api/v1/nodes/node-1"
    message = (
        'nodes "node-1" is forbidden: User "system:serviceaccount:ops:sreconsole"'
        ' cannot patch resource "nodes" in API group "" at the cluster scope'
    )
    kube.faults[("PATCH", path)] = (403, "application/json", _status(403, "Forbidden", message))
    result = _executor(catalog, api_client).execute("cordon-node", NODE, dry_run=False)
    assert not result.ok
    assert result.error == f"403 Forbidden: {message}"
    assert [c.status for c in result.calls] == [200, 403]
    assert result.undo == {"unschedulable": False}  # read before the refused patch


def test_an_answer_that_is_not_a_status_object_is_still_readable(catalog, api_client, kube):
    path = "/api/v1/namespaces/shop/pods/web-7d9f-abcde"
    kube.faults[("DELETE", path)] = (502, "text/html", b"<html>\x1b[2Jbad gateway</html>")
    result = _executor(catalog, api_client).execute("pod-restart", POD, dry_run=False)
    assert not result.ok
    assert result.error == "502 Bad Gateway: <html>bad gateway</html>"


def test_refused_connection_is_a_readable_result(catalog, kube):
    from kubernetes import client

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    configuration = client.Configuration(host=f"http://127.0.0.1:{port}")
    configuration.retries = 0
    executor = _executor(catalog, client.ApiClient(configuration))
    result = executor.execute("pod-restart", POD, dry_run=False)
    assert not result.ok
    assert result.error == f"cannot reach the Kubernetes API at http://127.0.0.1:{port}: connection refused"
    assert result.calls[0].status is None


def test_a_server_that_does_not_answer_times_out(catalog, api_client, kube):
    kube.delay_s = 1.0
    executor = _executor(catalog, api_client, timeout_s=0.3)
    started = time.monotonic()
    result = executor.execute("expand-pvc", {**PVC, "size": "20Gi"}, dry_run=False)
    assert time.monotonic() - started < 0.9
    assert not result.ok
    assert result.error.endswith("no answer within 0.3 s; the change may or may not have been made")


def test_rollback_refuses_what_cannot_be_undone(catalog, api_client, kube):
    executor = _executor(catalog, api_client)
    rollback_text = catalog.get("pod-restart").rollback
    with pytest.raises(ExecutionError) as info:
        executor.rollback("pod-restart", POD, {}, dry_run=False)
    assert str(info.value) == f"pod-restart cannot be rolled back: {rollback_text}"
    for action in ("rollout-restart", "expand-pvc", "pod-check-status", "escalate"):
        with pytest.raises(ExecutionError, match=f"^{action} cannot be rolled back: "):
            executor.rollback(action, ALL_ACTIONS[action], {}, dry_run=False)
    assert kube.requests == []


@pytest.mark.parametrize(
    "undo",
    [{}, {"replicas": "3; rm"}, {"replicas": True}, {"replicas": -1}, {"replicas": 3, "image": "evil"}],
)
def test_rollback_checks_the_recorded_undo(catalog, api_client, kube, undo):
    executor = _executor(catalog, api_client)
    with pytest.raises(ExecutionError):
        executor.rollback("scale-deployment", {**DEPLOY, "replicas": "5"}, undo, dry_run=False)
    with pytest.raises(ExecutionError, match="no pod template"):
        executor.rollback("rollback-deployment", DEPLOY, {"template": "x"}, dry_run=False)
    assert kube.requests == []


def test_rollback_dry_run_lists_the_restore_call(catalog, api_client, kube):
    back = _executor(catalog, api_client).rollback(
        "scale-deployment", {**DEPLOY, "replicas": "5"}, {"replicas": 3}, dry_run=True
    )
    assert back.ok and back.dry_run and kube.requests == []
    assert [(c.method, c.path, c.body) for c in back.calls] == [
        ("PATCH", "/apis/apps/v1/namespaces/shop/deployments/web", {"spec": {"replicas": 3}})
    ]


def test_unknown_apply_risk_is_refused(catalog):
    with pytest.raises(ExecutionError, match="unknown risk 'hihg'"):
        Executor(catalog, None, apply_risks=("hihg",))


# --- make_api_client ---------------------------------------------------------------------------


def _kubeconfig(tmp_path, server: str) -> str:
    path = tmp_path / "kubeconfig"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "stub", "cluster": {"server": server}}],
                "users": [{"name": "ops", "user": {"token": "not-a-secret"}}],
                "contexts": [{"name": "stub", "context": {"cluster": "stub", "user": "ops"}}],
                "current-context": "stub",
            }
        )
    )
    return str(path)


def test_make_api_client_reads_a_kubeconfig_without_contacting_the_server(catalog, kube, tmp_path):
    path = _kubeconfig(tmp_path, kube.url)
    api = make_api_client(path, "stub", timeout_s=2.0)
    assert kube.requests == []
    assert api.configuration.host == kube.url
    executor = Executor(catalog, api, clock=lambda: NOW)
    assert executor.timeout_s == 2.0
    result = executor.execute("pod-check-status", POD, dry_run=False)
    assert result.ok, result.error
    assert kube.requests[0]["path"] == "/api/v1/namespaces/shop/pods/web-7d9f-abcde"


def test_make_api_client_errors_are_one_line(tmp_path, kube):
    with pytest.raises(KubeClientError, match="^no Kubernetes API configured"):
        make_api_client()
    with pytest.raises(KubeClientError, match="does not exist"):
        make_api_client(str(tmp_path / "missing"))
    with pytest.raises(KubeClientError, match="context 'prod'"):
        make_api_client(_kubeconfig(tmp_path, kube.url), "prod")
    bad = tmp_path / "bad"
    bad.write_text("clusters: [unclosed\n")
    with pytest.raises(KubeClientError, match="^cannot use kubeconfig"):
        make_api_client(str(bad))
    with pytest.raises(KubeClientError, match="^cannot use the in-cluster service account"):
        make_api_client(in_cluster=True)
    assert kube.requests == []


def test_importing_the_executor_does_not_import_kubernetes():
    code = "import sys, sreconsole.review.executor, sreconsole.sources.kube_client; print('kubernetes' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_results_are_json_safe(catalog, api_client, kube):
    executor = _executor(catalog, api_client)
    for action, params in ALL_ACTIONS.items():
        result = executor.execute(action, params, dry_run=False)
        assert json.loads(json.dumps(result.as_dict())) == copy.deepcopy(result.as_dict())
