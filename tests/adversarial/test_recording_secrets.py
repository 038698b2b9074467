"""Issue 21 §4: secrets and tokens never enter a session recording.

The run being recorded has secrets in every place one can hide: the settings (the
Alertmanager URL's userinfo, its password and bearer token, the Prometheus and Loki
tokens, the S3 secret key), the alerts on a real Alertmanager (``tests/harness.py``):
a label named ``api_token``, an annotation quoting an ``Authorization: Bearer`` header,
a runbook URL with ``?token=``, a JWT and an AWS key in a description, and an operator's
rejection reason with ``password=`` in it. The recording is then decompressed and grepped
raw, byte for byte, for each secret.
"""

from __future__ import annotations

import asyncio
import gzip
from datetime import datetime, timezone

import pytest

from harness import Alertmanager
from sreconsole.config import load_settings
from sreconsole.domain.operator import Operator
from sreconsole.domain.secrets import redact_text, redact_value
from sreconsole.services.alerts import AlertsService
from sreconsole.services.environment import build_alert_source
from sreconsole.services.evidence import EvidenceService
from sreconsole.services.recording import open_recorder, read_recording
from sreconsole.services.review import ReviewQueue
from sreconsole.triage.catalog import load_catalog
from sreconsole.triage.engine import TriageEngine

AM_PASSWORD = "Am-Passw0rd-7731"
AM_TOKEN = "am-bearer-5f4e3d2c1b"
PROM_TOKEN = "prom-tok-q8w7e6r5"
S3_SECRET = "s3-Secret-Key-0099"
LABEL_TOKEN = "lbl-tok-ab12cd34ef"
HEADER_TOKEN = "hdrTokenZZ9911xy"
QUERY_TOKEN = "qtok-7788-runbook"
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJvbmNhbGwifQ.c2lnbmF0dXJlLXNpZw"
AWS_KEY = "AKIAIOSFODNN7EXAMPLE"
REASON_PASSWORD = "hunter2-in-a-reason"
EVERY_SECRET = (AM_PASSWORD, AM_TOKEN, PROM_TOKEN, S3_SECRET, LABEL_TOKEN, HEADER_TOKEN, QUERY_TOKEN, JWT, AWS_KEY, REASON_PASSWORD)


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory):
    am = Alertmanager(tmp_path_factory.mktemp("am-recording"))
    am.start()
    yield am
    am.stop()


def _alerts() -> list[dict]:
    now = datetime.now(timezone.utc).isoformat()
    return [{
        "labels": {"alertname": "KubePodCrashLooping", "severity": "warning", "namespace": "shop", "pod": "web-1",
                   "api_token": LABEL_TOKEN},
        "annotations": {
            "summary": "web-1 is crash looping",
            "description": f"probe sent Authorization: Bearer {HEADER_TOKEN}; also {JWT} and {AWS_KEY}",
            "runbook_url": f"https://wiki.example/runbooks/crash?token={QUERY_TOKEN}",
            "lambda_function": "pod-restart",
        },
        "startsAt": now,
    }]


def test_a_recorded_run_with_secrets_everywhere_holds_none_of_them(tmp_path, alertmanager) -> None:
    host = alertmanager.url.split("://", 1)[1]
    settings = load_settings(overrides={
        "alertmanager.url": f"http://oncall:{AM_PASSWORD}@{host}",
        "alertmanager.password": AM_PASSWORD,
        "alertmanager.bearer_token": AM_TOKEN,
        "prometheus.bearer_token": PROM_TOKEN,
        "s3.secret_key": S3_SECRET,
        "data_dir": str(tmp_path / "data"),
    })
    alertmanager.post_alerts(_alerts())
    path = tmp_path / "night.jsonl.gz"
    recorder = open_recorder(path, settings, lambda: datetime.now(timezone.utc))

    async def run():
        service = AlertsService(build_alert_source(settings))
        service.recorder = recorder
        try:
            for _ in range(20):
                snapshot = await service.refresh()
                if snapshot.alerts:
                    break
                await asyncio.sleep(0.2)
            evidence = EvidenceService(None, None)
            evidence.recorder = recorder
            await evidence.gather(snapshot.alerts[0])
            return snapshot
        finally:
            await service.aclose()

    snapshot = asyncio.run(run())
    assert snapshot.alerts and not snapshot.error  # the run really read the alert through the secret-laden settings
    queue = ReviewQueue(settings, Operator("carol", "10.0.0.9"))
    queue.recorder = recorder
    records = queue.enqueue(TriageEngine(load_catalog()).propose_many(list(snapshot.alerts)), list(snapshot.alerts), from_source=True)
    queue.reject(records[0].id, f"wrong pod; ssh password={REASON_PASSWORD} for the box")
    recorder.close()

    raw = gzip.decompress(path.read_bytes()).decode("utf-8")
    for secret in EVERY_SECRET:
        assert secret not in raw, secret
    # What was recorded is still there, with the secrets cut out of it.
    recording = read_recording(path)
    kinds = [e.kind for e in recording.events]
    assert {"poll", "evidence", "queue", "decision"} <= set(kinds)
    (alert,) = recording.of_kind("poll")[0].alerts()
    assert alert.labels["pod"] == "web-1" and alert.labels["api_token"] == "********"
    assert alert.annotations["runbook_url"] == "https://wiki.example/runbooks/crash?token=********"
    (decision,) = recording.of_kind("decision")
    assert decision.data["verdict"] == "rejected" and decision.data["reason"].startswith("wrong pod; ssh password=********")
    assert "alertmanager.password" in recording.header["settings"]  # the name, never the value


@pytest.mark.parametrize(("text", "kept"), [
    ("curl -H 'Authorization: Bearer abcDEF123456789'", "curl -H 'Authorization: ********"),
    ("token abcdefgh12345678 was rejected", "token ******** was rejected"),
    ("client_secret: \"s3cr3t-value\" set", "client_secret: ******** set"),
    ("key ghp_abcdefghijklmnopqrstuvwxyz0123 leaked", "key ******** leaked"),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----", "********"),
    ("pod web-1 restarted 5 times in 10m", "pod web-1 restarted 5 times in 10m"),
    ("author: alice", "author: alice"),
])
def test_what_looks_like_a_credential_is_cut_and_ordinary_text_is_kept(text, kept) -> None:
    assert redact_text(text) == kept


def test_a_value_named_like_a_credential_goes_whole() -> None:
    assert redact_value("x-api-key", "plain words") == "********"
    assert redact_value("pod", "web-1") == "web-1"
