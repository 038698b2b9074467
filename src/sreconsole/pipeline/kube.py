"""Run a training run as a Kubernetes Job: build it, submit it, follow it, cancel it.

With ``pipeline.executor = "kubernetes"`` the worker a local run would start as a process
(``python -m sreconsole.pipeline.worker RUN_ID``) runs in the cluster instead, as a
``batch/v1`` Job of one pod. This module knows the Job's shape and its four API calls; the
runner decides when to make them.

* **Everything is checked before anything is sent.** Names become URL paths and label
  selectors, the image becomes what the kubelet pulls: a value that is not a DNS-1123 name,
  a label value, a resource quantity or a plain image reference raises :class:`ValueError`
  naming the setting, and no request is made.
* **No secret in plain env.** A setting whose name looks secret (``..._SECRET_KEY``,
  ``..._BEARER_TOKEN``, ``..._PASSWORD``), or whose value is an address carrying credentials
  (``http://user:pass@host``), reaches the pod only as a ``secretKeyRef`` into
  the Secret the operator names; without one the manifest is refused. The Job object is
  readable by anyone who may ``get jobs`` in the namespace; a Secret has its own RBAC.
* **One pod, never retried** (``backoffLimit: 0``): the worker resumes a run itself, and a
  second pod started behind the operator's back would train twice. The Job is garbage
  collected a day after it ends (``ttlSecondsAfterFinished``); the run row outlives it.
* **Raw JSON answers** (``_preload_content=False``), like the remediation executor: the
  client's models drop fields they do not know (``status.ready``, newer conditions).
* **Every call has a timeout and every failure is one line** (:class:`JobError`):
  ``409 AlreadyExists: jobs.batch "sreconsole-train-r1" already exists``.

``kubernetes`` is imported inside functions only: the TUI must start without it.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sreconsole.domain.text import clean, redact_url
from sreconsole.sources.kube_errors import api_error_line, connection_error_line

JOB_PREFIX = "sreconsole-train-"
CONTAINER = "train"
DATA_MOUNT = "/data"
WORKER_MODULE = "sreconsole.pipeline.worker"
TTL_AFTER_FINISHED_S = 86400
"""A finished Job (and its pod, with the log) stays a day for ``kubectl logs``, then goes."""
DEFAULT_TIMEOUT_S = 5.0
"""Per request, when the client did not come from ``make_api_client`` with its own."""
MAX_LOG_LINES = 10_000
JOB_STATES = ("pending", "running", "succeeded", "failed")
_LOG_LINE_LIMIT = 2000

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_QUANTITY = re.compile(r"(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][+-]?\d+)?")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SECRET_WORDS = frozenset({"SECRET", "TOKEN", "PASSWORD", "PASSWD", "KEY", "CREDENTIALS"})
"""A ``_``-separated word of a setting's env name that makes it secret-looking."""
_LOCAL_ONLY = frozenset({"SRECONSOLE_DATA_DIR", "SRECONSOLE_CONFIG"})
"""Paths on the console's machine: meaningless in the pod (the data dir is /data there,
and every setting that differs from its default is passed as env already)."""


class JobError(Exception):
    """An API call about a Job failed; ``str()`` is one readable line for the operator."""


@dataclass(frozen=True)
class JobSpec:
    """Where and how a training Job runs: the ``pipeline.job_*`` settings."""

    namespace: str = "sreconsole"
    """Namespace the Jobs are created in."""
    image: str = ""
    """Container image with sreconsole installed (``python -m sreconsole.pipeline.worker``)."""
    cpu: str = "2"
    """CPU request and limit (a Kubernetes quantity)."""
    memory: str = "4Gi"
    """Memory request and limit (a Kubernetes quantity)."""
    node_selector: dict[str, str] = field(default_factory=dict)
    """Labels a node must have to run the Job (a GPU pool, say)."""
    service_account: str = ""
    """ServiceAccount of the pod (for cloud storage identity); empty: the namespace default."""
    data_pvc: str = ""
    """PersistentVolumeClaim mounted at ``/data``: the data dir the console shares with the
    worker (run rows, events, logs, models)."""


def job_name(run_id: str) -> str:
    """``sreconsole-train-<run id>``; :class:`ValueError` when that is no DNS-1123 label."""
    name = JOB_PREFIX + str(run_id)
    if not run_id or len(name) > 63 or not _DNS_LABEL.fullmatch(name):
        raise ValueError(
            f"run id {clean(run_id, 80)!r} cannot name a Job: {JOB_PREFIX}<id> must be a "
            "DNS-1123 label (lowercase letters, digits, '-', at most 63 characters)"
        )
    return name


def is_secret_env(name: str) -> bool:
    """Whether an env name looks like it carries a secret (``SRECONSOLE_S3_SECRET_KEY``)."""
    return any(word in _SECRET_WORDS for word in name.upper().split("_"))


def job_manifest(
    run_id: str,
    model: str,
    spec: JobSpec,
    env: Mapping[str, str],
    *,
    secret_name: str = "",
) -> dict:
    """The ``batch/v1`` Job that runs the worker for ``run_id``, as a JSON-ready dict.

    ``env`` may be a whole process environment (:func:`runner.worker_env`): only
    ``SRECONSOLE_*`` names are taken, less the console's local paths. Secret-looking ones
    become ``secretKeyRef``s into ``secret_name`` under the same key (``kubectl create
    secret generic NAME --from-literal=SRECONSOLE_S3_SECRET_KEY=...``).
    """
    name = job_name(run_id)
    _check(spec.namespace, _DNS_LABEL, 63, "pipeline.job_namespace", "a DNS-1123 label")
    _check_image(spec.image)
    _check(model, _LABEL_VALUE, 63, "model", "a label value")
    _check(spec.cpu, _QUANTITY, 32, "pipeline.job_cpu", 'a quantity such as "2" or "500m"')
    _check(spec.memory, _QUANTITY, 32, "pipeline.job_memory", 'a quantity such as "4Gi"')
    for key, value in spec.node_selector.items():
        _check_label_key(key)
        _check(value, _LABEL_VALUE, 63, f"pipeline.job_node_selector[{clean(key, 80)!r}]", "a label value")
    if spec.service_account:
        _check(spec.service_account, _DNS_SUBDOMAIN, 253, "pipeline.job_service_account", "a DNS-1123 name")
    if not spec.data_pvc:
        raise ValueError(
            "pipeline.job_data_pvc is not set: the Job needs the data dir on a "
            "PersistentVolumeClaim (the worker reads its run from it and writes its progress there)"
        )
    _check(spec.data_pvc, _DNS_SUBDOMAIN, 253, "pipeline.job_data_pvc", "a DNS-1123 name")
    if secret_name:
        _check(secret_name, _DNS_SUBDOMAIN, 253, "pipeline.job_secret", "a DNS-1123 name")

    container_env = _container_env(env, secret_name)
    labels = {
        "app.kubernetes.io/name": "sreconsole",
        "app.kubernetes.io/component": "training",
        "sreconsole.io/run": run_id,
        "sreconsole.io/model": model,
    }
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        # The worker never talks to the API server: no token in the pod.
        "automountServiceAccountToken": False,
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [
            {
                "name": CONTAINER,
                "image": spec.image,
                "imagePullPolicy": "IfNotPresent",
                "command": ["python", "-m", WORKER_MODULE, run_id],
                "env": container_env,
                "resources": {
                    "requests": {"cpu": spec.cpu, "memory": spec.memory},
                    "limits": {"cpu": spec.cpu, "memory": spec.memory},
                },
                "securityContext": {
                    "runAsNonRoot": True,
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
                "volumeMounts": [
                    {"name": "data", "mountPath": DATA_MOUNT},
                    {"name": "tmp", "mountPath": "/tmp"},
                ],
            }
        ],
        "volumes": [
            {"name": "data", "persistentVolumeClaim": {"claimName": spec.data_pvc}},
            {"name": "tmp", "emptyDir": {}},
        ],
    }
    if spec.node_selector:
        pod_spec["nodeSelector"] = dict(spec.node_selector)
    if spec.service_account:
        pod_spec["serviceAccountName"] = spec.service_account
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": spec.namespace, "labels": dict(labels)},
        "spec": {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": TTL_AFTER_FINISHED_S,
            "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
        },
    }


def submit_job(api_client: Any, manifest: Mapping[str, Any], *, timeout_s: float | None = None) -> str:
    """Create the Job; returns its name. :class:`JobError` (one line) when refused or unreachable."""
    metadata = manifest.get("metadata") or {}
    namespace = str(metadata.get("namespace") or "")
    name = str(metadata.get("name") or "")
    _check(namespace, _DNS_LABEL, 63, "Job namespace", "a DNS-1123 label")
    _check(name, _DNS_LABEL, 63, "Job name", "a DNS-1123 label")
    from kubernetes import client as k8s

    api = k8s.BatchV1Api(api_client)
    created = _call(
        api_client,
        "POST",
        lambda **kw: api.create_namespaced_job(namespace, dict(manifest), **kw),
        timeout_s,
    )
    return str((created.get("metadata") or {}).get("name") or name)


def job_status(
    api_client: Any, namespace: str, name: str, *, timeout_s: float | None = None
) -> tuple[str, str]:
    """``(state, detail)``: state is one of :data:`JOB_STATES`, detail one line for the board."""
    _check_ref(namespace, name)
    from kubernetes import client as k8s

    api = k8s.BatchV1Api(api_client)
    job = _call(api_client, "GET", lambda **kw: api.read_namespaced_job(name, namespace, **kw), timeout_s)
    return status_of(job)


def status_of(job: Mapping[str, Any]) -> tuple[str, str]:
    """The state of a Job read as JSON (conditions first: they are the controller's verdict)."""
    status = job.get("status") or {}
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, dict)]
    for cond in conditions:
        if str(cond.get("status")) != "True":
            continue
        kind = cond.get("type")
        # FailureTarget / SuccessCriteriaMet (1.31+) come before Failed / Complete.
        if kind in ("Failed", "FailureTarget"):
            return "failed", _condition_line(cond, "the Job failed")
        if kind in ("Complete", "SuccessCriteriaMet"):
            return "succeeded", _condition_line(cond, "the Job completed")
    if _count(status, "succeeded"):
        return "succeeded", "the pod succeeded"
    if _count(status, "failed"):
        return "failed", f"{_count(status, 'failed')} pod(s) failed"
    for cond in conditions:
        if cond.get("type") == "Suspended" and str(cond.get("status")) == "True":
            return "pending", _condition_line(cond, "the Job is suspended")
    active = _count(status, "active")
    if active:
        ready = status.get("ready")
        detail = f"{active} pod(s) active"
        if isinstance(ready, int):
            detail += f", {ready} ready"
        return "running", detail
    return "pending", "waiting for the Job controller to start a pod"


def job_logs(
    api_client: Any,
    namespace: str,
    name: str,
    tail_lines: int = 200,
    *,
    timeout_s: float | None = None,
) -> list[str]:
    """The last ``tail_lines`` lines of the Job's pod's log, display-safe; ``[]`` while no
    pod has started its container."""
    _check_ref(namespace, name)
    if not isinstance(tail_lines, int) or isinstance(tail_lines, bool) or not 0 < tail_lines <= MAX_LOG_LINES:
        raise ValueError(f"tail_lines must be an integer from 1 to {MAX_LOG_LINES}, got {tail_lines!r}")
    from kubernetes import client as k8s

    core = k8s.CoreV1Api(api_client)
    pods = _call(
        api_client,
        "GET",
        lambda **kw: core.list_namespaced_pod(namespace, label_selector=f"job-name={name}", **kw),
        timeout_s,
    )
    items = [p for p in pods.get("items") or [] if isinstance(p, dict)]
    if not items:
        return []
    # backoffLimit 0 means one pod; if the controller ever made another, the newest speaks.
    pod = max(items, key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or ""))
    pod_name = str((pod.get("metadata") or {}).get("name") or "")
    phase = (pod.get("status") or {}).get("phase")
    if not pod_name or phase in (None, "Pending", "Unknown"):
        return []  # asking a waiting container for its log is a 400, not news
    _check(pod_name, _DNS_SUBDOMAIN, 253, "pod name", "a DNS-1123 name")
    raw = _call(
        api_client,
        "GET",
        lambda **kw: core.read_namespaced_pod_log(
            pod_name, namespace, container=CONTAINER, tail_lines=tail_lines, **kw
        ),
        timeout_s,
        as_json=False,
    )
    return [clean(line, _LOG_LINE_LIMIT) for line in raw.splitlines()][-tail_lines:]


def delete_job(api_client: Any, namespace: str, name: str, *, timeout_s: float | None = None) -> None:
    """Cancel: delete the Job and, in the background, its pod (SIGTERM, then the pod's
    grace period). A Job already gone (404) is not an error: the cancel has its effect."""
    _check_ref(namespace, name)
    from kubernetes import client as k8s

    api = k8s.BatchV1Api(api_client)
    try:
        _call(
            api_client,
            "DELETE",
            lambda **kw: api.delete_namespaced_job(name, namespace, propagation_policy="Background", **kw),
            timeout_s,
        )
    except _NotFound:
        return


# --- helpers ----------------------------------------------------------------------------------


class _NotFound(JobError):
    """A 404: the Job (or the namespace) is not there."""


def _container_env(env: Mapping[str, str], secret_name: str) -> list[dict]:
    plain: dict[str, str] = {"SRECONSOLE_DATA_DIR": DATA_MOUNT}
    secret: list[str] = []
    for key in sorted(env):
        if not key.startswith("SRECONSOLE_") or key in _LOCAL_ONLY:
            continue
        if not _ENV_NAME.fullmatch(key):
            raise ValueError(f"setting {clean(key, 80)!r} is not a valid environment variable name")
        if is_secret_env(key) or redact_url(str(env[key])) != str(env[key]):  # or an address with credentials
            secret.append(key)
        else:
            plain[key] = str(env[key])
    if secret and not secret_name:
        raise ValueError(
            f"{', '.join(secret)} must not be put in a Job's plain env: set pipeline.job_secret "
            "to a Secret holding them under those keys"
        )
    # The root filesystem is read-only: caches and bytecode go to the /tmp emptyDir.
    plain.setdefault("HOME", "/tmp")
    plain.setdefault("PYTHONUNBUFFERED", "1")
    plain.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    out: list[dict] = [{"name": key, "value": value} for key, value in plain.items()]
    out += [
        {"name": key, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}}}
        for key in secret
    ]
    return out


def _check(value: object, pattern: re.Pattern[str], limit: int, what: str, shape: str) -> None:
    text = value if isinstance(value, str) else ""
    if not text or len(text) > limit or not pattern.fullmatch(text):
        shown = clean(value, 80) if isinstance(value, str) else type(value).__name__
        raise ValueError(f"{what} {shown!r} is not {shape} (at most {limit} characters)")


def _check_label_key(key: object) -> None:
    what = "pipeline.job_node_selector key"
    text = key if isinstance(key, str) else ""
    prefix, _, name = text.rpartition("/")
    ok = bool(name) and len(name) <= 63 and _LABEL_NAME.fullmatch(name) is not None
    if prefix:
        ok = ok and len(prefix) <= 253 and _DNS_SUBDOMAIN.fullmatch(prefix) is not None
    if not ok:
        raise ValueError(f"{what} {clean(key, 80)!r} is not a label name ([prefix/]name)")


def _check_image(image: object) -> None:
    if not isinstance(image, str) or not image:
        raise ValueError("pipeline.job_image is not set: name the image that has sreconsole installed")
    bad = [ch for ch in image if ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp")]
    if bad or len(image) > 1024:
        raise ValueError(
            f"pipeline.job_image {clean(image, 80)!r} is not an image reference "
            "(no spaces or control characters, at most 1024 characters)"
        )


def _check_ref(namespace: str, name: str) -> None:
    _check(namespace, _DNS_LABEL, 63, "namespace", "a DNS-1123 label")
    _check(name, _DNS_LABEL, 63, "Job name", "a DNS-1123 label")


def _count(status: Mapping[str, Any], key: str) -> int:
    value = status.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _condition_line(cond: Mapping[str, Any], fallback: str) -> str:
    reason = clean(cond.get("reason") or "", 80)
    message = clean(cond.get("message") or "", 200)
    line = ": ".join(p for p in (reason, message) if p)
    return line or fallback


def _timeout(api_client: Any, timeout_s: float | None) -> float:
    if timeout_s is not None and timeout_s > 0:
        return float(timeout_s)
    given = getattr(api_client, "sreconsole_timeout_s", None)  # set by make_api_client
    return float(given) if isinstance(given, int | float) and given > 0 else DEFAULT_TIMEOUT_S


def _call(api_client: Any, method: str, invoke: Any, timeout_s: float | None, as_json: bool = True) -> Any:
    """One typed-client call read raw; failures become :class:`JobError` lines."""
    import urllib3
    from kubernetes.client.exceptions import ApiException

    timeout = _timeout(api_client, timeout_s)
    try:
        response = invoke(_request_timeout=timeout, _preload_content=False)
    except ApiException as exc:
        line = api_error_line(api_client, exc, status_reason=True)
        raise (_NotFound if exc.status == 404 else JobError)(line) from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise JobError(connection_error_line(api_client, exc, method, timeout)) from None
    raw = response.data or b""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    if not as_json:
        return text
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        raise JobError(f"unexpected answer from the Kubernetes API to {method}: not JSON") from None
    if not isinstance(data, dict):
        raise JobError(f"unexpected answer from the Kubernetes API to {method}: not an object")
    return data


