"""The training pipeline for real: worker processes, MLX, MLflow (local sqlite store), an
S3-protocol server (moto) on loopback, signals.

Every run trains on the shipped-only dataset (an empty corpus directory: ~128 rows) for a
couple of epochs, so a whole run takes seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sreconsole.config import Settings
from sreconsole.pipeline.runner import PipelineBusy, cancel_run, promote_run, start_run, wait
from sreconsole.pipeline.runs import STEP_NAMES, RunStore, pid_alive

RUN_TIMEOUT_S = 480  # a deadline, not a timing check: the runs train two classifiers on a shared 2-core machine


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """An empty corpus: only the shipped runbook and scenario make the dataset."""
    path = tmp_path / "corpus"
    path.mkdir()
    return path


def tiny(corpus: Path, epochs: int = 2) -> dict:
    return {"corpus": str(corpus), "epochs": epochs}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def wait_for(predicate, timeout_s: float = 120.0, what: str = "condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def wait_training(settings: Settings, run_id: str) -> None:
    """Until the worker reported at least one epoch: it is inside the training loop."""
    store = RunStore(settings.data_path)
    try:
        def epoch_seen() -> bool:
            run = store.get(run_id)
            assert run is not None and run.status in ("queued", "running"), (run.status, run.error, store.tail_log(run_id))
            _, events = store.tail_events(run_id, 0)
            return any(e.get("step") == "train" and "epoch" in e for e in events)

        wait_for(epoch_seen, what="the first epoch")
    finally:
        store.close()


@pytest.fixture
def s3_server():
    """moto's S3 server on a free loopback port; stopped by its pid."""
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or shutil.which("moto_server")
    if exe is None:
        pytest.skip("moto_server is not installed (pip install 'moto[server]')")
    port = free_port()
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def up() -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            assert proc.poll() is None, "moto_server exited"
            return False

    try:
        wait_for(up, 30, "moto_server")
        yield f"127.0.0.1:{port}"
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()


def test_full_run_tracks_stores_and_promotes(settings: Settings, corpus: Path) -> None:
    run = start_run(settings, params=tiny(corpus))
    assert run.status == "queued" and run.pid and run.trigger == "manual" and run.model == "trm"
    run = wait(settings, run.id, RUN_TIMEOUT_S)
    store = RunStore(settings.data_path)
    assert run.status == "succeeded", (run.error, store.tail_log(run.id))
    states = {s.name: s.status for s in run.steps}
    assert list(states) == list(STEP_NAMES)
    assert states == {
        "prepare dataset": "done", "load base model": "not applicable", "train": "done", "evaluate": "done",
        "register in MLflow": "done", "store artifacts": "done", "export for Ollama": "not applicable", "import": "skipped",
    }
    assert run.step("load base model").message and run.step("import").message
    prepared = run.step("prepare dataset").outputs
    assert sum(prepared["rows"].values()) > 100 and len(prepared["dataset_hash"]) == 64
    for name in ("train", "validation", "test"):
        assert (store.run_dir(run.id) / f"{name}.jsonl").stat().st_size > 0
    assert run.version.startswith("v") and {"accuracy", "balanced_accuracy", "ece"} <= set(run.metrics)
    assert run.duration_s is not None and run.duration_s > 0
    json.dumps(run.as_dict())  # the CLI prints it

    # Progress: one event per epoch, with the numbers the Training pane draws.
    _, events = store.tail_events(run.id, 0)
    epochs = [e for e in events if e["step"] == "train" and "epoch" in e]
    assert [e["epoch"] for e in epochs] == [1, 2] and all({"epochs", "loss", "train_acc", "t"} <= set(e) for e in epochs)
    assert any("succeeded" in line for line in store.tail_log(run.id))

    # MLflow: the local store has the run, its per-epoch and final metrics, a registered version.
    from mlflow.tracking import MlflowClient

    mlflow_out = run.step("register in MLflow").outputs
    assert mlflow_out["backend"].startswith("local store")
    client = MlflowClient(tracking_uri=f"sqlite:///{settings.data_path / 'mlflow' / 'mlflow.db'}")
    mrun = client.get_run(run.mlflow_run_id)
    assert mrun.data.tags["version"] == run.version
    assert mrun.data.metrics["accuracy"] == pytest.approx(run.metrics["accuracy"])
    assert [m.step for m in client.get_metric_history(run.mlflow_run_id, "loss")] == [1, 2]
    assert "model/model.safetensors" in {a.path for a in client.list_artifacts(run.mlflow_run_id, "model")}
    mv = client.get_model_version("sreconsole-trm", mlflow_out["registered_version"])
    assert mv.run_id == run.mlflow_run_id

    # Artifact: the local copy matches the recorded sha256.
    stored = run.step("store artifacts").outputs
    tarball = settings.data_path / "artifacts" / "trm" / run.version / "model.tar.gz"
    assert stored["location"] == str(tarball) and sha256(tarball) == stored["sha256"]

    # Not active until promoted; then the active link is this run's model and loads.
    from sreconsole.triage.models import models_root
    from sreconsole.triage.trm import TRMRunner

    active = models_root(settings) / "active"
    assert not active.exists()
    promoted = promote_run(settings, run.id)
    assert "promoted_at" in promoted.params
    assert active.resolve() == Path(run.step("train").outputs["path"]).resolve()
    assert TRMRunner.load(active).version == run.version
    store.close()


def test_promote_refuses_unfinished_or_unknown(settings: Settings) -> None:
    store = RunStore(settings.data_path)
    run = store.create("trm", "manual", {}, demo=True)
    store.finish(run.id, "failed", "x")
    store.close()
    with pytest.raises(ValueError, match="only a succeeded run"):
        promote_run(settings, run.id)
    with pytest.raises(ValueError, match="no run"):
        promote_run(settings, "r00000000-000000")


def test_s3_outage_fails_clearly_then_resume_uploads_without_retraining(settings: Settings, corpus: Path, s3_server: str) -> None:
    closed = free_port()
    settings.s3.endpoint = f"127.0.0.1:{closed}"
    settings.s3.access_key, settings.s3.secret_key, settings.s3.secure = "test", "test-secret", False
    settings.s3.bucket = "models-test"
    run = wait(settings, start_run(settings, params=tiny(corpus)).id, RUN_TIMEOUT_S)
    assert run.status == "failed"
    assert run.error == f"store artifacts: S3 at 127.0.0.1:{closed} unreachable: connection refused"
    assert run.step("store artifacts").status == "failed"
    assert [s.status for s in run.steps[:5]] == ["done", "not applicable", "done", "done", "done"]
    log = "\n".join(RunStore(settings.data_path).tail_log(run.id))
    assert "Traceback" in log  # the traceback is in the log, not in the error line
    trained_at = run.step("train").finished_at

    settings.s3.endpoint = s3_server  # the outage is over
    resumed = start_run(settings, resume=run.id)
    assert resumed.id == run.id and resumed.status == "queued"
    run = wait(settings, run.id, RUN_TIMEOUT_S)
    assert run.status == "succeeded", (run.error, RunStore(settings.data_path).tail_log(run.id))
    assert run.step("train").finished_at == trained_at  # not trained again
    assert run.params["resumed"] == 1
    out = run.step("store artifacts").outputs
    assert out["location"] == f"s3://models-test/trm/{run.version}/model.tar.gz"

    from minio import Minio

    client = Minio(s3_server, access_key="test", secret_key="test-secret", secure=False)
    body = client.get_object("models-test", f"trm/{run.version}/model.tar.gz")
    try:
        assert hashlib.sha256(body.read()).hexdigest() == out["sha256"]
    finally:
        body.close()
        body.release_conn()

    with pytest.raises(ValueError, match="only a failed or cancelled run"):
        start_run(settings, resume=run.id)


def test_cancel_stops_the_worker_and_one_run_per_model(settings: Settings, corpus: Path) -> None:
    run = start_run(settings, params=tiny(corpus, epochs=100_000))
    wait_training(settings, run.id)
    with pytest.raises(PipelineBusy, match=rf"run {run.id} for trm is still running \(pid {run.pid}\)"):
        start_run(settings, params=tiny(corpus))
    t0 = time.monotonic()
    cancelled = cancel_run(settings, run.id, grace_s=10.0)
    assert time.monotonic() - t0 < 10.0, "the worker ignored SIGTERM and had to be killed"
    assert cancelled.status == "cancelled" and cancelled.finished_at is not None
    assert not pid_alive(run.pid)
    with pytest.raises(ProcessLookupError):
        os.kill(run.pid, 0)
    assert cancelled.step("train").status == "failed" and cancelled.step("train").message == "cancelled"
    store = RunStore(settings.data_path)
    assert any("SIGTERM received" in line for line in store.tail_log(run.id))
    store.close()
    with pytest.raises(ValueError, match="not running"):
        cancel_run(settings, run.id)


def test_killed_worker_is_marked_failed_and_the_model_is_free_again(settings: Settings, corpus: Path) -> None:
    run = start_run(settings, params=tiny(corpus, epochs=100_000))
    wait_training(settings, run.id)
    os.killpg(run.pid, signal.SIGKILL)
    store = RunStore(settings.data_path)
    wait_for(lambda: not pid_alive(run.pid), 30, "the worker to die")
    (listed,) = [r for r in store.list() if r.id == run.id]
    log = store.log_path(run.id)
    assert listed.status == "failed"
    assert listed.error == f"worker process exited unexpectedly (log kept: {log})"
    assert log.exists() and any("epoch" in line for line in store.tail_log(run.id))
    assert listed.step("train").status == "failed"
    store.close()

    again = wait(settings, start_run(settings, params=tiny(corpus)).id, RUN_TIMEOUT_S)
    assert again.status == "succeeded", again.error


def test_prepare_dataset_learns_from_operators_decisions(settings: Settings, corpus: Path) -> None:
    """Approved and corrected proposals in the review store become rows of the dataset."""
    from datetime import datetime, timezone

    from sreconsole.domain.alerts import Alert
    from sreconsole.domain.operator import Operator
    from sreconsole.domain.proposal import Proposal
    from sreconsole.pipeline.steps import StepContext, prepare_dataset
    from sreconsole.review.store import ReviewStore
    from sreconsole.review.paths import review_store_path
    from sreconsole.triage.dataset import read_jsonl

    t0 = datetime(2026, 11, 23, 18, 0, tzinfo=timezone.utc)
    alice = Operator("alice", "10.0.0.5")
    with ReviewStore(review_store_path(settings)) as review:
        for fp, verdict in (("fp-a", "approved"), ("fp-b", "rejected")):
            labels = {"alertname": "KubePodCrashLooping", "namespace": "payments", "pod": f"api-{fp}"}
            alert = Alert(fp, labels, {"summary": "pod restarts"}, starts_at=t0)
            proposal = Proposal(fingerprint=fp, alertname="KubePodCrashLooping", action="pod-restart", title="restart",
                                parameters={"namespace": "payments", "pod": f"api-{fp}"}, command="kubectl delete pod", api=None,
                                confidence=0.6, method="trm", requires_human_review=True, risk="low")
            rec = review.enqueue(proposal, alert, now=t0)
            review.decide(rec.id, verdict, alice, "looked right" if verdict == "approved" else "it was a bad deploy",
                          corrected_action="escalate" if verdict == "rejected" else None, now=t0)

    store = RunStore(settings.data_path)
    run = store.create("trm", "decisions", tiny(corpus), demo=True)
    ctx = StepContext(settings, run, store.run_dir(run.id), lambda kind, **d: None, lambda m: None,
                      lambda f, m: None, lambda: False)
    result = prepare_dataset(ctx)
    store.close()
    assert result.outputs["decisions_used"] == 2 and result.outputs["decisions_new"] == 2
    rows = [e for name in ("train", "validation", "test") for e in read_jsonl(ctx.run_dir / f"{name}.jsonl")]
    from_decisions = sorted((e.labels["pod"], e.action) for e in rows if e.source == "decision")
    assert from_decisions == [("api-fp-a", "pod-restart"), ("api-fp-b", "escalate")]


@pytest.fixture
def mlflow_server(tmp_path: Path):
    """A real `mlflow server` on loopback (sqlite backend, local artifact root), stopped by pid."""
    import urllib.request

    port = free_port()
    exe = shutil.which("mlflow", path=str(Path(sys.executable).parent))
    proc = subprocess.Popen(
        [exe, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}", "--artifacts-destination", str(tmp_path / "server-artifacts")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    try:
        wait_for(up, 120, "mlflow server to answer /health")
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_a_run_registers_in_a_real_mlflow_server(settings: Settings, corpus: Path, mlflow_server: str) -> None:
    from mlflow.tracking import MlflowClient

    settings.mlflow.tracking_uri = mlflow_server
    run = wait(settings, start_run(settings, params=tiny(corpus)).id, RUN_TIMEOUT_S)
    assert run.status == "succeeded", (run.error, RunStore(settings.data_path).tail_log(run.id))
    out = run.step("register in MLflow").outputs
    assert "server" in out["backend"] and mlflow_server in out["backend"]
    client = MlflowClient(tracking_uri=mlflow_server)
    mrun = client.get_run(run.mlflow_run_id)
    assert mrun.data.tags["version"] == run.version
    assert [m.step for m in client.get_metric_history(run.mlflow_run_id, "loss")] == [1, 2]
    assert client.get_model_version("sreconsole-trm", out["registered_version"]).run_id == run.mlflow_run_id
