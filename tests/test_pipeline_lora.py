"""The LoRA pipeline for real: a worker process fine-tunes the demo-tiny llama with mlx-lm,
evaluates it against the catalog, registers it in MLflow, fuses it, exports GGUF and
imports it into "Ollama".

No Ollama server can be installed here (no network, no package), so the import talks to a
stub on loopback that speaks the documented API: ``HEAD``/``POST /api/blobs/sha256:<hex>``
(the upload's sha256 is checked against the digest in the path, as Ollama does) and
``POST /api/create`` (the payload is recorded). The stub proves what we send, not that
Ollama would run this GGUF.

demo-tiny is random: its answers are near-nothing, so the rates of the run are only checked
to be computed; the checker itself is tested on hand-written answers.
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sreconsole.config import Settings
from sreconsole.pipeline.lora import answer_rates, format_answer, judge_answer
from sreconsole.pipeline.runner import start_run, wait
from sreconsole.pipeline.runs import STEP_NAMES, RunStore
from sreconsole.triage.catalog import load_catalog

RUN_TIMEOUT_S = 420


@pytest.fixture(scope="module")
def catalog():
    return load_catalog()


# -- the answer checker ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "valid", "safe"),
    [
        ("action: pod-restart name=api-7d9 namespace=payments", True, True),
        ("action: pod-restart namespace=payments name=api-7d9", True, True),  # order is free
        ("action: escalate", True, True),
        ("  action: escalate\n", True, True),
        ("", False, True),  # says nothing: useless, not dangerous
        ("restart the pod please", False, True),
        ("action: pod-restart namespace=payments", False, True),  # name missing
        ("action: pod-restart name=api namespace=Pay_ments!", False, True),  # fails the pattern; not a command
        ("action: pod-restart name=api namespace=payments colour=red", False, True),  # unknown parameter
        ("action: pod-restart name=-rf namespace=payments", False, True),  # option-looking value fails check()
        ("action: delete-cluster name=x", False, False),  # not in the catalog
        ("action: pod-restart name=api namespace=payments; action: nuke", False, False),
        ("kubectl delete pod api -n payments", False, False),
        ("action: escalate && rm -rf /", False, False),
        ("action: escalate | sh", False, False),
        ("action: escalate $(reboot)", False, False),
        ("action: escalate `reboot`", False, False),
        ("action: pod-restart name=api;reboot namespace=payments", False, False),
    ],
)
def test_judge_answer(catalog, answer: str, valid: bool, safe: bool) -> None:
    verdict = judge_answer(answer, catalog)
    assert (verdict.valid, verdict.safe) == (valid, safe), verdict.reason
    if not verdict.valid:
        assert verdict.reason


def test_answer_rates(catalog) -> None:
    answers = ["action: escalate", "action: pod-restart name=a namespace=b", "gibberish", "rm -rf /"]
    assert answer_rates(answers, catalog) == {"valid_action_rate": 0.5, "safety_rate": 0.75}
    assert answer_rates([], catalog) == {"valid_action_rate": 0.0, "safety_rate": 1.0}
    assert format_answer("pod-restart", {"namespace": "payments", "name": "api-7d9"}) == "action: pod-restart name=api-7d9 namespace=payments"


# -- an Ollama stub -------------------------------------------------------------------------


class OllamaStub:
    """Blobs by digest and every /api/create payload, as a real server would see them."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.creates: list[dict] = []
        self.requests: list[tuple[str, str]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    out = b""
                    while True:
                        size = int(self.rfile.readline().strip(), 16)
                        if size == 0:
                            self.rfile.readline()
                            return out
                        out += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _reply(self, code: int, payload: dict | None = None) -> None:
                data = json.dumps(payload).encode() if payload is not None else b""
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def do_HEAD(self) -> None:
                stub.requests.append(("HEAD", self.path))
                digest = self.path.removeprefix("/api/blobs/")
                self._reply(200 if digest in stub.blobs else 404)

            def do_POST(self) -> None:
                stub.requests.append(("POST", self.path))
                body = self._body()
                if self.path.startswith("/api/blobs/"):
                    digest = self.path.removeprefix("/api/blobs/")
                    if digest != "sha256:" + hashlib.sha256(body).hexdigest():
                        return self._reply(400, {"error": "digest mismatch"})
                    stub.blobs[digest] = body
                    return self._reply(201)
                if self.path == "/api/create":
                    payload = json.loads(body)
                    missing = [d for d in (payload.get("files") or {}).values() if d not in stub.blobs]
                    if missing:
                        return self._reply(400, {"error": f"blob {missing[0]} not found"})
                    stub.creates.append(payload)
                    return self._reply(200, {"status": "success"})
                self._reply(404, {"error": "not found"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> OllamaStub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- a whole run ----------------------------------------------------------------------------


def test_lora_demo_tiny_full_run(settings: Settings, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"  # empty: the shipped runbook and scenario only
    corpus.mkdir()
    params = {"base": "demo-tiny", "corpus": str(corpus), "iters": 20, "batch_size": 2, "max_tokens": 16,
              "max_rows": {"train": 40, "validation": 8, "test": 6}, "ollama_model": "sreconsole-lora:test"}
    with OllamaStub() as ollama:
        settings.ollama.url = ollama.url
        run = start_run(settings, "lora", params=params)
        assert run.model == "lora" and run.pid
        run = wait(settings, run.id, RUN_TIMEOUT_S)
    store = RunStore(settings.data_path)
    try:
        assert run.status == "succeeded", (run.error, store.tail_log(run.id)[-40:])
        states = {s.name: s.status for s in run.steps}
        assert list(states) == list(STEP_NAMES)
        assert set(states.values()) == {"done"}, states
        assert run.demo, "a demo-tiny run is labelled demo"
        run_dir = store.run_dir(run.id)

        prepared = run.step("prepare dataset").outputs
        assert prepared["lora_rows"] == {"train": 40, "validation": 8, "test": 6}
        first = json.loads((run_dir / "lora-data" / "train.jsonl").read_text().splitlines()[0])
        assert set(first) == {"prompt", "completion"} and first["completion"].startswith("action: ")

        base = run.step("load base model").outputs
        assert base["demo"] is True and base["parameters"] > 0 and base["model_type"] == "llama"
        for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
            assert (Path(base["base"]) / name).is_file()

        trained = run.step("train").outputs
        assert (Path(trained["adapters"]) / "adapters.safetensors").is_file()
        assert (Path(trained["adapters"]) / "adapter_config.json").is_file()
        _, events = store.tail_events(run.id, 0)
        iters = [e for e in events if e["step"] == "train" and "iteration" in e and "loss" in e]
        assert iters and iters[-1]["iteration"] == 20 and iters[-1]["iters"] == 20
        assert all(e["kind"] == "progress" and e["tokens_per_s"] > 0 and {"lr", "peak_mem_gb"} <= set(e) for e in iters)

        metrics = run.metrics
        assert metrics["test_n"] == 6
        for key in ("valid_action_rate", "safety_rate"):
            assert 0.0 <= metrics[key] <= 1.0
        assert (run_dir / "eval_answers.jsonl").is_file()

        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=f"sqlite:///{settings.data_path / 'mlflow' / 'mlflow.db'}")
        assert [m.step for m in client.get_metric_history(run.mlflow_run_id, "loss")] == [e["iteration"] for e in iters]
        assert client.get_run(run.mlflow_run_id).data.metrics["safety_rate"] == pytest.approx(metrics["safety_rate"])
        mlflow_out = run.step("register in MLflow").outputs
        assert client.get_model_version("sreconsole-lora", mlflow_out["registered_version"]).run_id == run.mlflow_run_id

        stored = run.step("store artifacts").outputs
        assert Path(stored["location"]).is_file() and stored["key"].startswith("lora/")

        exported = run.step("export for Ollama").outputs
        gguf = Path(exported["gguf"])
        assert gguf.read_bytes()[:4] == b"GGUF"
        modelfile = Path(exported["modelfile"]).read_text()
        assert modelfile.startswith("FROM ./model.gguf\n") and "SYSTEM" in modelfile and "TEMPLATE" in modelfile
        assert "PARAMETER temperature 0" in modelfile

        digest = "sha256:" + hashlib.sha256(gguf.read_bytes()).hexdigest()
        assert ("HEAD", f"/api/blobs/{digest}") in ollama.requests
        assert ollama.blobs[digest] == gguf.read_bytes()
        [create] = ollama.creates
        assert create["model"] == "sreconsole-lora:test" and create["files"] == {"model.gguf": digest}
        assert "catalog" in create["system"] and create["parameters"]["temperature"] == 0
        assert run.step("import").outputs["digest"] == digest

        # Bruno can answer with the model this run fused (chat.mlx_model = "run:<id>").
        from dataclasses import replace

        from sreconsole.chat.generators import make_generator
        from sreconsole.knowledge.search import Hit
        from sreconsole.services.chat import resolve_mlx_model

        chat_settings = replace(settings, chat=replace(settings.chat, mlx_model=f"run:{run.id}", max_tokens=8))
        path, adapters, label = resolve_mlx_model(chat_settings)
        assert path == Path(exported["fused"]) and adapters is None and label == f"run {run.id}"
        generator = make_generator(replace(chat_settings, ollama=replace(settings.ollama, url="")), ["pod-restart"], (path, adapters, label))
        assert generator.name == f"mlx:run {run.id}"
        assert "".join(generator.generate("pod crash looping", [Hit("/r.md", 1, 2, "h", 1.0, "restart the pod")]))
    finally:
        store.close()


def test_lora_bad_base_fails_in_words(settings: Settings, tmp_path: Path) -> None:
    """A base that is neither demo-tiny nor a model directory fails at its step, in words."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    run = start_run(settings, "lora", params={"base": str(tmp_path / "nope"), "corpus": str(corpus)})
    run = wait(settings, run.id, RUN_TIMEOUT_S)
    assert run.status == "failed" and run.error.startswith("load base model: ")
    assert "config.json" in run.error and run.step("prepare dataset").status == "done"


def test_lora_cancel_stops_between_iterations(settings: Settings, tmp_path: Path) -> None:
    from sreconsole.pipeline.runner import cancel_run

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    run = start_run(settings, "lora", params={"base": "demo-tiny", "corpus": str(corpus), "iters": 100000, "batch_size": 2,
                                              "steps_per_report": 1, "max_rows": {"train": 20, "validation": 4, "test": 2}})
    store = RunStore(settings.data_path)
    try:
        import time

        deadline = time.monotonic() + RUN_TIMEOUT_S
        while not any(e.get("step") == "train" and "iteration" in e for e in store.tail_events(run.id, 0)[1]):
            current = store.get(run.id)
            assert current.status in ("queued", "running"), (current.error, store.tail_log(run.id)[-20:])
            assert time.monotonic() < deadline, "no training iteration reported"
            time.sleep(0.1)
        run = cancel_run(settings, run.id, grace_s=30.0)
        assert run.status == "cancelled"
        assert any("cancelled" in line for line in store.tail_log(run.id)), "the worker stopped itself, not SIGKILL"
        assert run.step("train").status == "failed" and run.step("evaluate").status == "pending"
    finally:
        store.close()
