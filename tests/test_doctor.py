"""``sreconsole doctor`` reports each configured source and exits non-zero when one is down."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _doctor(*args: str):
    return subprocess.run([sys.executable, "-m", "sreconsole", *args, "doctor", "--json"], capture_output=True, text=True, timeout=60)


def test_doctor_passes_on_the_demo_with_local_prerequisites():
    result = _doctor("--demo")
    checks = {c["check"]: c for c in json.loads(result.stdout)}
    assert result.returncode == 0, result.stdout
    for name in ("data dir", "styles", "duckdb fts extension", "duckdb vss extension", "embedding model", "mlx"):
        assert checks[name]["ok"] is True, checks[name]
    assert checks["alertmanager"]["ok"] is None
    assert checks["chat generator"] == {**checks["chat generator"], "ok": True, "detail": "extractive"}


def test_a_chat_generator_that_cannot_work_fails_doctor(tmp_path, monkeypatch):
    monkeypatch.setenv("SRECONSOLE_CHAT_GENERATOR", "mlx")
    monkeypatch.setenv("SRECONSOLE_CHAT_MLX_MODEL", str(tmp_path / "nothing-here"))
    result = _doctor("--demo")
    check = {c["check"]: c for c in json.loads(result.stdout)}["chat generator"]
    assert result.returncode == 1 and check["ok"] is False and "no config.json" in check["detail"]
    monkeypatch.setenv("SRECONSOLE_CHAT_GENERATOR", "ollama")
    check = {c["check"]: c for c in json.loads(_doctor("--demo").stdout)}["chat generator"]
    assert check["ok"] is False and "needs ollama.url" in check["detail"]


def test_unreachable_source_is_reported_down_with_reason_and_exit_1():
    port = _free_port()  # nothing listens there
    result = _doctor("--prometheus", f"http://127.0.0.1:{port}")
    checks = {c["check"]: c for c in json.loads(result.stdout)}
    assert result.returncode == 1
    assert checks["prometheus"]["ok"] is False
    assert "connection refused" in checks["prometheus"]["detail"]


class _Healthy(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's naming
        self.send_response(200 if self.path == "/-/healthy" else 404)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def test_reachable_source_is_ok():
    # A stand-in only for "something answers 200 at /-/healthy"; real Prometheus and
    # Alertmanager are exercised by the live-alerts tests.
    server = HTTPServer(("127.0.0.1", 0), _Healthy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = _doctor("--prometheus", f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
    checks = {c["check"]: c for c in json.loads(result.stdout)}
    assert checks["prometheus"]["ok"] is True and result.returncode == 0


def test_doctor_reports_the_triage_model_and_the_review_audit_chain(tmp_path, monkeypatch):
    """No model is fine (proposals fall back); a corrupt one fails; a tampered audit chain fails."""
    import sqlite3

    from sreconsole.config import load_settings
    from sreconsole.domain.operator import Operator
    from sreconsole.services.review import ReviewQueue
    from sreconsole.sources.alertmanager import parse_alert
    from sreconsole.triage.catalog import load_catalog
    from sreconsole.triage.engine import TriageEngine

    checks = {c["check"]: c for c in json.loads(_doctor().stdout)}
    assert checks["triage model"]["ok"] is None and "train trm" in checks["triage model"]["detail"]
    assert checks["review store"]["ok"] is None

    data = load_settings().data_path
    active = data / "models" / "trm" / "active"
    active.mkdir(parents=True)
    (active / "config.json").write_text("{}")
    checks = {c["check"]: c for c in json.loads(_doctor().stdout)}
    assert checks["triage model"]["ok"] is False and "metadata.json" in checks["triage model"]["detail"]

    queue = ReviewQueue(load_settings(), Operator("erin"))
    alert = parse_alert({"labels": {"alertname": "X", "namespace": "n", "pod": "p"}, "annotations": {"lambda_function": "pod-restart"}})
    (record,) = queue.enqueue(TriageEngine(load_catalog()).propose_many([alert]), [alert])
    queue.reject(record.id, "not now")
    queue.close()
    checks = {c["check"]: c for c in json.loads(_doctor().stdout)}
    assert checks["review store"]["ok"] is True and "chain intact" in checks["review store"]["detail"]
    con = sqlite3.connect(data / "review.sqlite")
    triggers = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'")]
    for name in triggers:
        con.execute(f'DROP TRIGGER "{name}"')
    con.execute("UPDATE audit SET reason = 'edited' WHERE reason = 'not now'")
    con.commit()
    con.close()
    checks = {c["check"]: c for c in json.loads(_doctor().stdout)}
    assert checks["review store"]["ok"] is False and "broken" in checks["review store"]["detail"]
