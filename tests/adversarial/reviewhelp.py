"""What the review-queue attacks share: a small stateful Kubernetes API stand-in, the real CLI
as a subprocess, alerts to queue, and the ``sqlite3`` command line for the attacker's edits.

No Kubernetes API server can be installed here, so :class:`Cluster` (on the project's
recording stub, ``tests/kubestub.py``) keeps a few objects and applies what the official
client sends to them the way the API server would for these requests: a DELETE removes the
pod, a merge PATCH merges into the object, a GET answers the object or a ``404 Status``. It
can hold a request open (``hold``) — after applying it, or before — so that a test can
SIGKILL the sreconsole process at that exact moment.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kubestub import RecordingServer

CREATED = "2026-01-01T00:00:00Z"
"""When the cluster's objects were created: long before any request of a test."""


def _status(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message, "reason": reason, "code": code}


def _merge(target: dict, patch: dict) -> None:
    """RFC 7386 JSON merge patch, in place."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def objects() -> dict[str, dict]:
    meta = {"creationTimestamp": CREATED}
    return {
        "/api/v1/namespaces/shop/pods/web-1": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "namespace": "shop", **meta}, "status": {"phase": "Running"}},
        "/api/v1/namespaces/shop/pods/web-2": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-2", "namespace": "shop", **meta}, "status": {"phase": "Running"}},
        "/api/v1/namespaces/shop/pods/db-0": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "db-0", "namespace": "shop", **meta}, "status": {"phase": "Running"}},
        "/apis/apps/v1/namespaces/shop/deployments/web": {
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop", **meta},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}}, "status": {"replicas": 3},
        },
        "/api/v1/nodes/node-1": {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1", **meta}, "spec": {}},
    }


class Cluster(RecordingServer):
    """A few objects that change as the API server would change them (see the module)."""

    def __init__(self) -> None:
        self.objects = objects()
        self.holds: dict[tuple[str, str], tuple[str, threading.Event]] = {}
        self.arrived = threading.Event()
        super().__init__()

    def hold(self, method: str, path: str, *, apply_first: bool) -> threading.Event:
        """Keep the next ``method path`` request open until the returned event is set (or
        the client goes away); ``apply_first``: the change is made before the wait."""
        release = threading.Event()
        self.holds[(method, path)] = ("apply" if apply_first else "wait", release)
        self.arrived.clear()
        return release

    def respond(self, method: str, path: str) -> tuple[int, str, object]:
        held = self.holds.pop((method, path), None)
        if held is not None and held[0] == "wait":
            self.arrived.set()
            held[1].wait(60)
        out = self._apply(method, path)
        if held is not None and held[0] == "apply":
            self.arrived.set()
            held[1].wait(60)
        return out

    def _apply(self, method: str, path: str) -> tuple[int, str, object]:
        with self._lock:
            obj = self.objects.get(path)
            if obj is None:
                resource, name = path.rsplit("/", 2)[-2:]
                return 404, "application/json", _status(404, "NotFound", f'{resource} "{name}" not found')
            if method == "DELETE":
                del self.objects[path]
                return 200, "application/json", {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}
            if method == "PATCH":
                body = self.requests[-1]["body"]
                if isinstance(body, dict):
                    _merge(obj, body)
            return 200, "application/json", copy.deepcopy(obj)

    def sent(self, *methods: str) -> list[tuple[str, str, object]]:
        return [(r["method"], r["path"], r["body"]) for r in self.requests if not methods or r["method"] in methods]


@pytest.fixture
def cluster():
    server = Cluster()
    yield server
    for _, release in list(server.holds.values()):
        release.set()
    server.close()


def kubeconfig(directory: Path, url: str) -> Path:
    path = directory / "kubeconfig"
    path.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "stub",
        "clusters": [{"name": "stub", "cluster": {"server": url}}],
        "contexts": [{"name": "stub", "context": {"cluster": "stub", "user": "stub"}}],
        "users": [{"name": "stub", "user": {"token": "not-a-secret"}}],
    }))
    return path


def am_alert(name: str, labels: dict, function: str, fingerprint: str) -> dict:
    return {
        "labels": {"alertname": name, "severity": "warning", **labels},
        "annotations": {"summary": f"{name} fired", "lambda_function": function},
        "fingerprint": fingerprint,
        "startsAt": "2026-11-24T06:00:00Z",
        "status": {"state": "active", "silencedBy": [], "inhibitedBy": []},
    }


CRASHLOOP = am_alert("KubePodCrashLooping", {"namespace": "shop", "pod": "web-1"}, "pod-restart", "a1a1a1a1a1a1a1a1")
SCALE = am_alert("KubeDeploymentOverloaded", {"namespace": "shop", "deployment": "web"}, "scale-deployment", "b2b2b2b2b2b2b2b2")
CORDON = am_alert("KubeNodeNotReady", {"node": "node-1"}, "cordon-node", "c3c3c3c3c3c3c3c3")


def environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    """The CLI's environment: its own data dir, no knowledge base, extra settings as
    ``SRECONSOLE_*`` variables (``review_apply_risks="low"`` → ``SRECONSOLE_REVIEW_APPLY_RISKS``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SRECONSOLE_") and k not in ("SSH_CONNECTION", "SSH_CLIENT")}
    env.update(SRECONSOLE_DATA_DIR=str(tmp_path / "data"), SRECONSOLE_KNOWLEDGE_ENABLED="0", SRECONSOLE_REVIEW_AUDIT_SYSLOG="",
               XDG_CONFIG_HOME=str(tmp_path / "config"), COLUMNS="200")
    env.update({f"SRECONSOLE_{k.upper()}": v for k, v in settings.items()})
    return env


def cli(*args: str, env: dict, rc: int | None = 0, timeout: float = 120) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "sreconsole", *args], env=env, capture_output=True, text=True, timeout=timeout)
    if rc is not None:
        assert out.returncode == rc, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr, out.stderr
    return out


def start(*args: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sreconsole", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def enqueue(tmp_path: Path, env: dict, *alerts: dict) -> list[dict]:
    """Queue proposals for ``alerts`` with the real CLI; the pending records, oldest first."""
    batch = tmp_path / f"alerts-{time.monotonic_ns()}.jsonl"
    batch.write_text("".join(json.dumps({"alert": a}) + "\n" for a in alerts))
    cli("triage", "--batch", str(batch), "--json", "--enqueue", env=env)
    listed = json.loads(cli("review", "list", "--json", env=env).stdout)
    return sorted(listed, key=lambda r: r["id"])


def sqlite3_cli(db: Path, *statements: str) -> str:
    """The attacker's tool: the ``sqlite3`` command line, not this project's code."""
    binary = shutil.which("sqlite3")
    if binary is None:
        pytest.fail("the sqlite3 command line is not installed (the test command installs it: make test)")
    out = subprocess.run([binary, str(db)], input=";\n".join(statements) + ";\n", capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout


def store_path(env: dict) -> Path:
    return Path(env["SRECONSOLE_DATA_DIR"]) / "review.sqlite"


def exported(env: dict) -> list[dict]:
    return [json.loads(line) for line in cli("audit", "export", "--json", env=env).stdout.splitlines()]
