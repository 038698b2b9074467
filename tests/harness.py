"""Real Prometheus and Alertmanager for the tests, on free loopback ports.

Both come from Debian (``prometheus``, ``prometheus-alertmanager``; ``make test`` installs
them). Each server gets a temporary directory, is started as a child process and stopped
by its pid. Nothing here is a stub.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not become ready in {timeout} s")


class Server:
    binary = ""

    def __init__(self, workdir: Path) -> None:
        if shutil.which(self.binary) is None:
            raise RuntimeError(f"{self.binary} is not installed (make test installs it)")
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def args(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        log = open(self.workdir / "server.log", "ab")
        self.proc = subprocess.Popen([self.binary, *self.args()], stdout=log, stderr=log, start_new_session=True)
        _wait_http(f"{self.url}/-/ready", proc=self.proc)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL, as when the host dies; the port stays ours for a restart."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None


class Alertmanager(Server):
    binary = "prometheus-alertmanager"

    def args(self) -> list[str]:
        config = self.workdir / "alertmanager.yml"
        config.write_text(
            yaml.safe_dump(
                {
                    "route": {"receiver": "null", "group_by": ["alertname"], "group_wait": "0s", "group_interval": "1s"},
                    "receivers": [{"name": "null"}],
                    "inhibit_rules": [
                        {
                            "source_matchers": ['alertname="InhibitorAlert"'],
                            "target_matchers": ['alertname="InhibitedAlert"'],
                            "equal": ["namespace"],
                        }
                    ],
                }
            )
        )
        return [
            f"--config.file={config}",
            f"--storage.path={self.workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ]

    def post_alerts(self, alerts: list[dict]) -> None:
        req = urllib.request.Request(
            f"{self.url}/api/v2/alerts",
            data=json.dumps(alerts).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.status == 200

    def get(self, path: str):
        with urllib.request.urlopen(f"{self.url}{path}", timeout=5) as r:
            return json.loads(r.read())


class Prometheus(Server):
    binary = "prometheus"

    def __init__(self, workdir: Path, alertmanager: Alertmanager | None, rule_groups: list[dict],
                 scrape: dict[str, str] | None = None) -> None:
        super().__init__(workdir)
        self.alertmanager = alertmanager
        self.rule_groups = rule_groups
        self.scrape = dict(scrape or {})
        """Extra scrape jobs: job name → ``host:port`` (the console's own /metrics)."""

    def args(self) -> list[str]:
        rules = self.workdir / "rules.yml"
        rules.write_text(yaml.safe_dump({"groups": self.rule_groups}, sort_keys=False))
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules)],
            "scrape_configs": [{"job_name": "prometheus", "static_configs": [{"targets": [f"127.0.0.1:{self.port}"]}]}]
            + [{"job_name": job, "static_configs": [{"targets": [target]}]} for job, target in self.scrape.items()],
        }
        if self.alertmanager is not None:
            config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{self.alertmanager.port}"]}]}]}
        path = self.workdir / "prometheus.yml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        return [
            f"--config.file={path}",
            f"--storage.tsdb.path={self.workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--rules.alert.resend-delay=1s",  # else the first alerts wait a minute (architecture.md)
            "--log.level=warn",
        ]


def corpus_rules_firing_now(limit: int = 6) -> list[dict]:
    """Alert rules from the homelab corpus, kept as written (name, labels, annotations such
    as ``lambda_function``) but with an expression that fires on any Prometheus: a
    ``vector(1)`` carrying the labels the real expression would have produced."""
    source = CORPUS / "alert-rules" / "homelab" / "flux_ai_agent-sre_k8s_test_prometheusrules_test-alerts.yaml"
    rules = []
    for doc in yaml.safe_load_all(source.read_text()):
        for group in (doc or {}).get("spec", {}).get("groups", []):
            for rule in group.get("rules", []):
                if "alert" not in rule:
                    continue
                labels = {**rule.get("labels", {}), "namespace": "ai", "pod": f"{rule['alert'].lower()}-7d9f8-x2kqp", "deployment": "agent-sre"}
                rules.append(
                    {
                        "alert": rule["alert"],
                        "expr": _labelled_vector(labels),
                        "labels": {k: v for k, v in rule.get("labels", {}).items()},
                        "annotations": rule.get("annotations", {}),
                    }
                )
                if len(rules) >= limit:
                    return rules
    return rules


def _labelled_vector(labels: dict[str, str]) -> str:
    """``vector(1)`` with labels attached via label_replace, so the alert carries them."""
    expr = "vector(1)"
    for name, value in labels.items():
        if name in ("severity",):
            continue
        expr = f'label_replace({expr}, "{name}", "{value}", "", "")'
    return expr
