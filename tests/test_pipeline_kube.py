"""Contract tests of training runs as Kubernetes Jobs: the manifest and the exact API requests.

No Kubernetes API server can be installed on this machine, so these tests run the real
official client (``kubernetes.client.ApiClient``) against a **local recording HTTP stub**
on 127.0.0.1: a small ``http.server`` in a thread that records every request (method,
path, query, JSON body) and answers with minimal objects in their documented shapes — a
Job with its ``status``, a PodList, a pod log as plain text, and ``Status`` objects for
deletes and errors. What is asserted is the wire contract, not a real API server's behaviour.
"""

from __future__ import annotations

import json

import pytest

from kubestub import RecordingServer
from sreconsole.pipeline.kube import (
    JobError,
    JobSpec,
    delete_job,
    job_logs,
    job_manifest,
    job_status,
    submit_job,
)

NS = "training"
RUN = "r20261123-a1b2c3"
JOB = f"sreconsole-train-{RUN}"
JOB_PATH = f"/apis/batch/v1/namespaces/{NS}/jobs/{JOB}"
POD = f"{JOB}-x7k2p"
SPEC = JobSpec(
    namespace=NS,
    image="registry.example/sreconsole:1.4",
    cpu="4",
    memory="8Gi",
    node_selector={"pool": "gpu", "kubernetes.io/arch": "arm64"},
    service_account="trainer",
    data_pvc="sreconsole-data",
)
ENV = {
    "PATH": "/usr/bin",  # not a setting: left out
    "HOME": "/home/op",  # the console's: the pod gets its own
    "SRECONSOLE_DATA_DIR": "/home/op/.local/share/sreconsole",
    "SRECONSOLE_CONFIG": "/home/op/.config/sreconsole/config.toml",
    "SRECONSOLE_MLFLOW_TRACKING_URI": "http://mlflow.mlops:5000",
    "SRECONSOLE_S3_BUCKET": "models",
    "SRECONSOLE_S3_SECRET_KEY": "hunter2",
    "SRECONSOLE_ALERTMANAGER_BEARER_TOKEN": "tok",
}


def _status(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


def _job(status: dict | None) -> dict:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": JOB, "namespace": NS}, "spec": {}}
    if status is not None:
        job["status"] = status
    return job


def _pod(name: str, created: str, phase: str = "Running") -> dict:
    return {"metadata": {"name": name, "namespace": NS, "creationTimestamp": created,
                         "labels": {"job-name": JOB}},
            "status": {"phase": phase}}


class KubeStub(RecordingServer):
    """A recording stand-in for the API server (see the module docstring)."""

    def __init__(self) -> None:
        self.answers: dict[tuple[str, str], tuple[int, str, object]] = {}
        """``(method, path) -> (status, content type, body)``; anything else is a 404 Status."""
        super().__init__()

    def answer(self, method: str, path: str, body: object, status: int = 200, ctype: str = "application/json") -> None:
        self.answers[(method, path)] = (status, ctype, body)

    def respond(self, method: str, path: str) -> tuple[int, str, object]:
        return self.answers.get((method, path), (404, "application/json", _status(404, "NotFound", "not found")))


@pytest.fixture(scope="module")
def stub():
    server = KubeStub()
    yield server
    server.close()


@pytest.fixture
def kube(stub: KubeStub) -> KubeStub:
    stub.requests.clear()
    stub.answers.clear()
    return stub


@pytest.fixture
def api(stub: KubeStub):
    from kubernetes import client

    configuration = client.Configuration(host=stub.url)
    configuration.retries = 0
    api_client = client.ApiClient(configuration)
    api_client.sreconsole_timeout_s = 2.0
    yield api_client
    api_client.close()


# --- the manifest ---------------------------------------------------------------------------


def test_manifest_has_the_exact_job_shape():
    manifest = job_manifest(RUN, "trm", SPEC, ENV, secret_name="sreconsole-secrets")
    labels = {
        "app.kubernetes.io/name": "sreconsole",
        "app.kubernetes.io/component": "training",
        "sreconsole.io/run": RUN,
        "sreconsole.io/model": "trm",
    }
    assert manifest == {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": JOB, "namespace": NS, "labels": labels},
        "spec": {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": 86400,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
                    "serviceAccountName": "trainer",
                    "nodeSelector": {"pool": "gpu", "kubernetes.io/arch": "arm64"},
                    "containers": [{
                        "name": "train",
                        "image": "registry.example/sreconsole:1.4",
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["python", "-m", "sreconsole.pipeline.worker", RUN],
                        "env": [
                            {"name": "SRECONSOLE_DATA_DIR", "value": "/data"},
                            {"name": "SRECONSOLE_MLFLOW_TRACKING_URI", "value": "http://mlflow.mlops:5000"},
                            {"name": "SRECONSOLE_S3_BUCKET", "value": "models"},
                            {"name": "HOME", "value": "/tmp"},
                            {"name": "PYTHONUNBUFFERED", "value": "1"},
                            {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
                            {"name": "SRECONSOLE_ALERTMANAGER_BEARER_TOKEN", "valueFrom": {"secretKeyRef": {
                                "name": "sreconsole-secrets", "key": "SRECONSOLE_ALERTMANAGER_BEARER_TOKEN"}}},
                            {"name": "SRECONSOLE_S3_SECRET_KEY", "valueFrom": {"secretKeyRef": {
                                "name": "sreconsole-secrets", "key": "SRECONSOLE_S3_SECRET_KEY"}}},
                        ],
                        "resources": {"requests": {"cpu": "4", "memory": "8Gi"},
                                      "limits": {"cpu": "4", "memory": "8Gi"}},
                        "securityContext": {
                            "runAsNonRoot": True,
                            "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]},
                        },
                        "volumeMounts": [{"name": "data", "mountPath": "/data"},
                                         {"name": "tmp", "mountPath": "/tmp"}],
                    }],
                    "volumes": [
                        {"name": "data", "persistentVolumeClaim": {"claimName": "sreconsole-data"}},
                        {"name": "tmp", "emptyDir": {}},
                    ],
                },
            },
        },
    }
    values = [e.get("value") for e in manifest["spec"]["template"]["spec"]["containers"][0]["env"]]
    assert "hunter2" not in values and "tok" not in values


def test_manifest_without_selector_or_account_leaves_them_out():
    spec = JobSpec(namespace=NS, image="img:1", data_pvc="data")
    pod = job_manifest(RUN, "trm", spec, {})["spec"]["template"]["spec"]
    assert "nodeSelector" not in pod and "serviceAccountName" not in pod
    assert pod["containers"][0]["resources"]["limits"] == {"cpu": "2", "memory": "4Gi"}


def test_a_secret_setting_without_a_secret_name_is_refused_without_its_value():
    with pytest.raises(ValueError, match="SRECONSOLE_S3_SECRET_KEY.*pipeline.job_secret") as info:
        job_manifest(RUN, "trm", SPEC, ENV)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"image": "img:1 --privileged"}, "pipeline.job_image"),
        ({"image": "img:1\nrm -rf"}, "pipeline.job_image"),
        ({"image": "img:\x1b[2J1"}, "pipeline.job_image"),
        ({"image": ""}, "pipeline.job_image is not set"),
        ({"namespace": "a;b"}, "pipeline.job_namespace"),
        ({"namespace": "Training"}, "pipeline.job_namespace"),
        ({"data_pvc": ""}, "pipeline.job_data_pvc is not set"),
        ({"data_pvc": "../etc"}, "pipeline.job_data_pvc"),
        ({"cpu": "two"}, "pipeline.job_cpu"),
        ({"memory": "4 Gi"}, "pipeline.job_memory"),
        ({"node_selector": {"pool": "gpu;x"}}, "pipeline.job_node_selector"),
        ({"node_selector": {"bad key": "x"}}, "pipeline.job_node_selector key"),
        ({"service_account": "Trainer!"}, "pipeline.job_service_account"),
    ],
)
def test_hostile_spec_values_are_refused_before_any_request(kube, change, message):
    spec = JobSpec(**{**SPEC.__dict__, **change})
    with pytest.raises(ValueError, match=message) as info:
        job_manifest(RUN, "trm", spec, {})
    assert "\n" not in str(info.value) and "\x1b" not in str(info.value)
    assert kube.requests == []


@pytest.mark.parametrize("run_id", ["r" * 70, "R20261123-ABC", "r1;rm", "", "r1/../x"])
def test_hostile_run_ids_are_refused(run_id):
    with pytest.raises(ValueError, match="run id"):
        job_manifest(run_id, "trm", SPEC, {})


def test_hostile_names_are_refused_by_every_call_before_any_request(kube, api):
    for call in (
        lambda: job_status(api, "a;b", JOB),
        lambda: job_logs(api, NS, "x/../../secrets"),
        lambda: delete_job(api, NS, "a" * 70),
        lambda: submit_job(api, {"metadata": {"name": JOB, "namespace": "a;b"}}),
    ):
        with pytest.raises(ValueError):
            call()
    with pytest.raises(ValueError, match="tail_lines"):
        job_logs(api, NS, JOB, tail_lines=0)
    assert kube.requests == []


# --- the API calls --------------------------------------------------------------------------


def test_submit_posts_the_manifest(kube, api):
    manifest = job_manifest(RUN, "trm", SPEC, ENV, secret_name="sreconsole-secrets")
    kube.answer("POST", f"/apis/batch/v1/namespaces/{NS}/jobs", {**manifest, "status": {}}, status=201)
    assert submit_job(api, manifest) == JOB
    [req] = kube.requests
    assert (req["method"], req["path"]) == ("POST", f"/apis/batch/v1/namespaces/{NS}/jobs")
    assert req["body"] == manifest


@pytest.mark.parametrize(
    ("code", "reason", "message", "line"),
    [
        (409, "AlreadyExists", f'jobs.batch "{JOB}" already exists',
         f'409 AlreadyExists: jobs.batch "{JOB}" already exists'),
        (403, "Forbidden",
         'jobs.batch is forbidden: User "op" cannot create resource "jobs" in API group "batch"\nin the namespace "training"',
         '403 Forbidden: jobs.batch is forbidden: User "op" cannot create resource "jobs" in API group "batch" '
         'in the namespace "training"'),
    ],
)
def test_a_refused_submit_is_one_readable_line(kube, api, code, reason, message, line):
    manifest = job_manifest(RUN, "trm", SPEC, {})
    kube.answer("POST", f"/apis/batch/v1/namespaces/{NS}/jobs", _status(code, reason, message), status=code)
    with pytest.raises(JobError) as info:
        submit_job(api, manifest)
    assert str(info.value) == line
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_an_unreachable_server_is_one_readable_line(api):
    from kubernetes import client

    configuration = client.Configuration(host="http://127.0.0.1:1")
    configuration.retries = 0
    dead = client.ApiClient(configuration)
    try:
        with pytest.raises(JobError, match=r"^cannot reach the Kubernetes API at http://127.0.0.1:1: "):
            job_status(dead, NS, JOB)
    finally:
        dead.close()


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ({"active": 1, "ready": 1, "startTime": "2026-11-23T18:00:00Z"}, ("running", "1 pod(s) active, 1 ready")),
        ({"active": 1}, ("running", "1 pod(s) active")),
        ({"succeeded": 1, "conditions": [{"type": "Complete", "status": "True"}]},
         ("succeeded", "the Job completed")),
        ({"succeeded": 1}, ("succeeded", "the pod succeeded")),
        ({"failed": 1, "conditions": [
            {"type": "FailureTarget", "status": "False"},
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
             "message": "Job has reached the specified backoff limit"}]},
         ("failed", "BackoffLimitExceeded: Job has reached the specified backoff limit")),
        ({"failed": 1}, ("failed", "1 pod(s) failed")),
        ({}, ("pending", "waiting for the Job controller to start a pod")),
        (None, ("pending", "waiting for the Job controller to start a pod")),
    ],
)
def test_status_maps_the_jobs_status(kube, api, status, expected):
    kube.answer("GET", JOB_PATH, _job(status))
    assert job_status(api, NS, JOB) == expected
    assert [(r["method"], r["path"]) for r in kube.requests] == [("GET", JOB_PATH)]


def test_status_of_a_missing_job_is_a_job_error(kube, api):
    kube.answer("GET", JOB_PATH, _status(404, "NotFound", f'jobs.batch "{JOB}" not found'), status=404)
    with pytest.raises(JobError, match=f'^404 NotFound: jobs.batch "{JOB}" not found$'):
        job_status(api, NS, JOB)


def test_logs_find_the_jobs_pod_then_read_its_tail(kube, api):
    kube.answer("GET", f"/api/v1/namespaces/{NS}/pods", {
        "kind": "PodList", "apiVersion": "v1", "metadata": {},
        "items": [_pod(f"{JOB}-old11", "2026-11-23T17:00:00Z", "Failed"), _pod(POD, "2026-11-23T18:00:00Z")],
    })
    log = b"18:00:01 run started\n18:00:02 epoch 1 \x1b[31mloss\x1b[0m 0.4\n"
    kube.answer("GET", f"/api/v1/namespaces/{NS}/pods/{POD}/log", log, ctype="text/plain")
    assert job_logs(api, NS, JOB, tail_lines=50) == ["18:00:01 run started", "18:00:02 epoch 1 loss 0.4"]
    first, second = kube.requests
    assert (first["method"], first["path"], first["rawquery"]) == (
        "GET", f"/api/v1/namespaces/{NS}/pods", f"labelSelector=job-name%3D{JOB}")
    assert (second["method"], second["path"]) == ("GET", f"/api/v1/namespaces/{NS}/pods/{POD}/log")
    assert second["query"] == {"container": "train", "tailLines": "50"}


def test_logs_are_empty_before_a_pod_runs(kube, api):
    path = f"/api/v1/namespaces/{NS}/pods"
    kube.answer("GET", path, {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": []})
    assert job_logs(api, NS, JOB) == []
    kube.answer("GET", path, {"kind": "PodList", "apiVersion": "v1", "metadata": {},
                              "items": [_pod(POD, "2026-11-23T18:00:00Z", "Pending")]})
    assert job_logs(api, NS, JOB) == []
    assert [r["path"] for r in kube.requests] == [path, path]  # no log read for a waiting pod


def test_delete_cancels_in_the_background(kube, api):
    kube.answer("DELETE", JOB_PATH, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"})
    assert delete_job(api, NS, JOB) is None
    [req] = kube.requests
    assert (req["method"], req["path"]) == ("DELETE", JOB_PATH)
    assert req["query"] == {"propagationPolicy": "Background"}


def test_delete_of_a_job_already_gone_is_not_an_error(kube, api):
    delete_job(api, NS, JOB)  # the stub answers 404
    assert [r["method"] for r in kube.requests] == ["DELETE"]


def test_delete_refused_is_a_job_error(kube, api):
    kube.answer("DELETE", JOB_PATH, _status(403, "Forbidden", "jobs.batch is forbidden"), status=403)
    with pytest.raises(JobError, match="^403 Forbidden: jobs.batch is forbidden$"):
        delete_job(api, NS, JOB)


def test_the_module_imports_without_kubernetes():
    import subprocess
    import sys

    code = "import sys, sreconsole.pipeline.kube; print('kubernetes' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- the runner with pipeline.executor = "kubernetes" ------------------------------------------


def test_the_runner_submits_follows_and_cancels_a_job(kube, tmp_path):
    """start_run submits the worker as a Job (no local process), refresh_job marks the run
    failed when the Job fails, and cancel deletes the Job."""
    from sreconsole.config import load_settings
    from sreconsole.pipeline.runner import cancel_run, refresh_job, start_run
    from sreconsole.pipeline.runs import RunStore

    path = tmp_path / "kubeconfig"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "stub", "cluster": {"server": kube.url}}],
        "users": [{"name": "ops", "user": {"token": "t"}}],
        "contexts": [{"name": "stub", "context": {"cluster": "stub", "user": "ops"}}],
        "current-context": "stub",
    }))
    settings = load_settings()
    settings.kubernetes.kubeconfig = str(path)
    settings.pipeline.executor = "kubernetes"
    settings.pipeline.job_image = "registry.local/sreconsole:1.0"
    settings.pipeline.job_data_pvc = "sreconsole-data"
    ns = settings.pipeline.job_namespace
    # The server's answer names the Job (the stub's is fixed): the run follows that name.
    kube.answer("POST", f"/apis/batch/v1/namespaces/{ns}/jobs", {"metadata": {"name": "job-1"}}, status=201)

    run = start_run(settings, "trm", params={"epochs": 1})
    (post,) = [r for r in kube.requests if r["method"] == "POST"]
    name = post["body"]["metadata"]["name"]
    assert name == f"sreconsole-train-{run.id}" and run.params["k8s_job"] == f"{ns}/job-1"
    assert post["body"]["spec"]["template"]["spec"]["containers"][0]["command"][-1] == run.id
    assert run.pid is None and run.status == "queued"
    assert RunStore(settings.data_path).get(run.id).status == "queued"  # not an orphan: no pid expected

    kube.answer("GET", f"/apis/batch/v1/namespaces/{ns}/jobs/job-1", _job({"failed": 1, "conditions": [
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}))
    failed = refresh_job(settings, run)
    assert failed.status == "failed" and "BackoffLimitExceeded" in failed.error

    again = start_run(settings, "trm", params={"epochs": 1})
    kube.answer("DELETE", f"/apis/batch/v1/namespaces/{ns}/jobs/job-1", _status(200, "", ""))
    cancelled = cancel_run(settings, again.id)
    assert cancelled.status == "cancelled"
    (delete,) = [r for r in kube.requests if r["method"] == "DELETE"]
    assert delete["query"].get("propagationPolicy") == "Background"
