"""Issue 15, hole 7: secrets printed.

A URL with credentials (``http://admin:S3cretPass@host:9093``) was printed by
``config show`` (table and JSON), by ``doctor`` and in the TUI header, and a secret given
the wrong type in TOML (``password = 98765432109``) was echoed in the error. Where secrets
may appear: nowhere. Every address goes through ``sreconsole.domain.text.redact_url``
before it is shown, printed or stored; a secret's value is never quoted.

The addresses point at a real Alertmanager (``tests/harness.py``), at a port nothing
listens on, and at a fault server answering 404 (``tests/faultserver.py``: it quotes the URL in
the error path, which no real server can be made to do on demand).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace

import pytest

from faultserver import FaultServer
from harness import Alertmanager, free_port
from sreconsole.domain.text import REDACTED, redact_url

SECRET = "S3cretPass"
TOKEN = "tok-9f8e7d6c5b4a"


def _cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sreconsole", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


def _nowhere(result: subprocess.CompletedProcess, *secrets: str) -> None:
    for secret in secrets or (SECRET,):
        assert secret not in result.stdout and secret not in result.stderr, (result.stdout[-2000:], result.stderr)


@pytest.mark.parametrize(("text", "shown"), [
    ("http://admin:S3cretPass@host:9093", "http://********@host:9093"),
    ("https://S3cretPass@host/x?y=1", "https://********@host/x?y=1"),
    ("HTTP 404 from http://u:S3cretPass@127.0.0.1:9/api/v2/alerts", "HTTP 404 from http://********@127.0.0.1:9/api/v2/alerts"),
    ("http://host:9090/api?token=S3cretPass&x=1", "http://host:9090/api?token=********&x=1"),
    ("http://host/?api_key=S3cretPass", "http://host/?api_key=********"),
    ("http://host:9093/path@v2", "http://host:9093/path@v2"),  # an @ in the path is no userinfo
    ("mailto-like alice@example.com", "mailto-like alice@example.com"),
])
def test_redact_url(text, shown) -> None:
    assert redact_url(text) == shown


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory):
    am = Alertmanager(tmp_path_factory.mktemp("am-secrets"))
    am.start()
    yield am
    am.stop()


def _with_password(url: str) -> str:
    return url.replace("http://", f"http://admin:{SECRET}@")


def test_config_show_table_and_json_never_print_url_credentials(tmp_path, alertmanager) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[alertmanager]\nurl = "{_with_password(alertmanager.url)}"\n'
                   f'[prometheus]\nurl = "http://127.0.0.1:9/?token={TOKEN}"\n'
                   f'[ollama]\nurl = "http://bruno:{SECRET}@127.0.0.1:9"\n')
    table = _cli("--config", str(cfg), "config", "show", env={"COLUMNS": "250"})  # one row per line
    assert table.returncode == 0, table.stderr
    _nowhere(table, SECRET, TOKEN)
    assert f"{REDACTED}@127.0.0.1" in table.stdout
    shown = _cli("--config", str(cfg), "config", "show", "--json")
    _nowhere(shown, SECRET, TOKEN)
    data = json.loads(shown.stdout)
    assert data["alertmanager.url"]["value"] == f"http://{REDACTED}@127.0.0.1:{alertmanager.port}"
    assert data["prometheus.url"]["value"] == f"http://127.0.0.1:9/?token={REDACTED}"


def test_doctor_and_alerts_list_never_print_url_credentials(tmp_path, alertmanager) -> None:
    alertmanager.post_alerts([{"labels": {"alertname": "SecretsTest", "severity": "info"}}])
    env = {"SRECONSOLE_ALERTMANAGER_URL": _with_password(alertmanager.url)}
    doctor = _cli("doctor", env={**env, "COLUMNS": "250"})
    _nowhere(doctor)
    assert f"{REDACTED}@127.0.0.1:{alertmanager.port}" in doctor.stdout
    doctor_json = _cli("doctor", "--json", env={**env, "SRECONSOLE_LOKI_URL": f"http://x:{SECRET}@127.0.0.1:{free_port()}"})
    _nowhere(doctor_json)
    rows = {r["check"]: r for r in json.loads(doctor_json.stdout)}
    assert rows["alertmanager"]["ok"] is True and rows["loki"]["ok"] is False  # the real one answers, through its credentials
    assert rows["environment"]["detail"] == f"live: 127.0.0.1:{alertmanager.port}"
    listed = _cli("alerts", "list", "--json", env=env)
    assert listed.returncode == 0 and "SecretsTest" in listed.stdout
    _nowhere(listed)
    # An answer that is not 200 is quoted with the URL it came from: without the password.
    with FaultServer("answer", status=404, body=b"no") as server:
        failed = _cli("alerts", "list", env={"SRECONSOLE_ALERTMANAGER_URL": _with_password(server.url)})
    assert failed.returncode == 1 and f"HTTP 404 from http://{REDACTED}@127.0.0.1:{server.port}/api/v2/alerts" in failed.stderr
    _nowhere(failed)


def test_a_secret_of_the_wrong_type_is_not_echoed(tmp_path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[alertmanager]\npassword = 98765432109\n[s3]\nsecret_key = [\"S3cretPass\"]\n")
    result = _cli("--config", str(cfg), "config", "show")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "alertmanager.password" in lines[0] and "not shown" in lines[0], result.stderr
    _nowhere(result, "98765432109")
    cfg.write_text("[s3]\nsecret_key = [\"S3cretPass\"]\n")
    _nowhere(_cli("--config", str(cfg), "config", "show"))
    # Nor in a rule's refusal: the address is quoted without its credentials.
    bad_port = _cli("config", "show", env={"SRECONSOLE_ALERTMANAGER_URL": f"http://admin:{SECRET}@host:99999"})
    assert bad_port.returncode == 2 and "alertmanager.url" in bad_port.stderr
    _nowhere(bad_port)


async def test_the_tui_header_and_health_never_show_url_credentials(settings) -> None:
    from sreconsole.domain.operator import Operator
    from sreconsole.tui.app import make_app
    from sreconsole.tui.header import StatusHeader

    dead = f"http://admin:{SECRET}@127.0.0.1:{free_port()}"
    live = replace(settings, alertmanager=replace(settings.alertmanager, url=dead, timeout_s=1.0, retries=0),
                   prometheus=replace(settings.prometheus, url=f"http://p:{SECRET}@127.0.0.1:{free_port()}"))
    app = make_app(live, operator=Operator("alice"))
    async with app.run_test(size=(160, 30)) as pilot:
        for _ in range(200):
            await pilot.pause(0.1)
            if app.polls:
                break
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        header = app.query_one(StatusHeader)
        env = str(app.query_one("#header-env").render())
        sources = header.render_sources().plain
        screen = app.export_screenshot()  # the whole screen, as an SVG of its text
    assert SECRET not in env and SECRET not in sources and SECRET not in screen
    assert "127.0.0.1" in env and "alertmanager down" in sources


def test_the_ollama_generators_errors_never_show_url_credentials() -> None:
    from sreconsole.chat.generators import GeneratorUnavailable, OllamaGenerator

    generator = OllamaGenerator(f"http://bruno:{SECRET}@127.0.0.1:{free_port()}", "m", 2.0, 0, ())
    with pytest.raises(GeneratorUnavailable) as caught:
        list(generator.generate("why?", []))
    assert SECRET not in str(caught.value) and f"{REDACTED}@127.0.0.1" in str(caught.value)


def test_an_address_with_credentials_never_goes_into_a_training_jobs_plain_env() -> None:
    from sreconsole.pipeline.kube import JobSpec, job_manifest

    spec = JobSpec(namespace="training", image="registry.example/sreconsole:1", data_pvc="data")
    env = {"SRECONSOLE_MLFLOW_TRACKING_URI": f"http://ml:{SECRET}@mlflow:5000", "SRECONSOLE_S3_BUCKET": "models"}
    manifest = job_manifest("r20261123-a1b2c3", "trm", spec, env, secret_name="sreconsole-secrets")
    assert SECRET not in json.dumps(manifest)
    container_env = {e["name"]: e for e in manifest["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert container_env["SRECONSOLE_MLFLOW_TRACKING_URI"]["valueFrom"]["secretKeyRef"]["name"] == "sreconsole-secrets"
    assert container_env["SRECONSOLE_S3_BUCKET"]["value"] == "models"
    with pytest.raises(ValueError, match="SRECONSOLE_MLFLOW_TRACKING_URI.*pipeline.job_secret") as caught:
        job_manifest("r20261123-a1b2c3", "trm", spec, env)
    assert SECRET not in str(caught.value)
