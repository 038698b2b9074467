"""The TRM's pipeline steps, each a function of a :class:`StepContext`.

Steps hand each other files and small dicts (``outputs``), never objects in memory: a
resumed run starts in a new process and must find everything an earlier step made on disk
(the split JSONL in the run directory, the checkpoint under ``models/trm/<version>``).
Heavy imports (MLX, MLflow, minio) happen inside the step that needs them.
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sreconsole.config import Settings
from sreconsole.domain.text import redact_url
from sreconsole.pipeline.runs import Run

EXPERIMENT = "sreconsole-trm"
REGISTERED_MODEL = "sreconsole-trm"
SPLIT_FILES = {"train": "train.jsonl", "validation": "validation.jsonl", "test": "test.jsonl"}


class Cancelled(Exception):
    """The operator cancelled the run (SIGTERM); raised at an epoch or step boundary."""


class StepFailed(Exception):
    """A step failed for a reason the operator can act on; ``str()`` is that one line."""


@dataclass
class StepResult:
    status: str = "done"
    message: str = ""
    outputs: dict = field(default_factory=dict)


@dataclass
class StepContext:
    """What a step may use: settings, the run as it was when the step began, its directory,
    and callbacks into the worker (events, log, progress, cancellation)."""

    settings: Settings
    run: Run
    run_dir: Path
    emit: Callable[..., None]
    """``emit(kind, **data)``: one event in events.jsonl, tagged with the step."""
    log: Callable[[str], None]
    progress: Callable[[float | None, str], None]
    cancelled: Callable[[], bool]

    @property
    def params(self) -> dict:
        return self.run.params

    def outputs(self, step: str) -> dict:
        return self.run.step(step).outputs

    def check_cancel(self) -> None:
        if self.cancelled():
            raise Cancelled()


# -- 1 prepare dataset ----------------------------------------------------------------------


def prepare_dataset(ctx: StepContext) -> StepResult:
    from sreconsole.pipeline.runs import RunStore
    from sreconsole.review.paths import review_store_path
    from sreconsole.triage.models import load_catalog_for
    from sreconsole.triage.training import build_training_set, default_corpus
    from sreconsole.triage.dataset import dataset_hash, decision_examples, is_outcome_label, weight_outcome_labels, write_jsonl

    corpus = Path(ctx.params["corpus"]).expanduser() if ctx.params.get("corpus") else default_corpus()
    # Every decision is used, not only those since the last run: each run trains from
    # scratch, so leaving older corrections out would silently forget them. The count of
    # new ones is reported because "retrain when enough new decisions" keys off it.
    decisions: list[dict] = []
    review_path = review_store_path(ctx.settings)
    if review_path.exists():
        from sreconsole.review.store import ReviewStore

        with ReviewStore(review_path) as rs:
            decisions = rs.decisions()
    skipped: list[tuple[str, str]] = []
    from_decisions = decision_examples(decisions, skipped)
    # The corpus, the decisions, the restyled rows of the rare actions, split by family,
    # the majority thinned in train: what `train trm` trains on.
    ds, examples, splits = build_training_set(corpus, from_decisions)
    store = RunStore(ctx.settings.data_path)
    try:
        last = store.last_succeeded(ctx.run.model, exclude=ctx.run.id)
    finally:
        store.close()
    since = last.created_at.isoformat() if last else ""
    new = sum(1 for d in decisions if not since or str(d.get("decided_at", "")) >= since)
    unknown = sorted({e.action for e in examples} - set(load_catalog_for(ctx.settings).ids))
    if unknown:
        raise StepFailed(f"the dataset uses actions the catalog lacks: {', '.join(unknown)}")
    outcome_labels = sum(1 for e in splits["train"] if is_outcome_label(e))
    splits["train"] = weight_outcome_labels(splits["train"])
    for name, rows in splits.items():
        write_jsonl(rows, ctx.run_dir / SPLIT_FILES[name])
    rows = {k: len(v) for k, v in splits.items()}
    h = dataset_hash(examples)
    for where, why in ds.skipped + skipped:
        ctx.log(f"skipped {where}: {why}")
    return StepResult("done", f"{len(examples)} rows ({rows['train']}/{rows['validation']}/{rows['test']}), {len(from_decisions)} from decisions",
                      {"rows": rows, "dataset_hash": h, "corpus": str(corpus or ""), "decisions_used": len(from_decisions),
                       "outcome_labels": outcome_labels, "decisions_new": new, "decisions_skipped": len(skipped), "sources": dict(ds.sources)})


# -- 2 load base model ------------------------------------------------------------------------


def load_base_model(ctx: StepContext) -> StepResult:
    return StepResult("not applicable", "the TRM trains from scratch: it has no base model")


# -- 3 train --------------------------------------------------------------------------------


def _load_splits(ctx: StepContext) -> dict:
    from sreconsole.triage.dataset import read_jsonl

    out = {}
    for name, fname in SPLIT_FILES.items():
        path = ctx.run_dir / fname
        if not path.exists():
            raise StepFailed(f"{path} is missing: run 'prepare dataset' again (start a new run)")
        out[name] = read_jsonl(path)
    return out


def _features(rows: list, config, embed) -> Any:
    from sreconsole.triage.trm import features

    return features([e.text() for e in rows], embed, config.hash_dim)


def train_step(ctx: StepContext) -> StepResult:
    import numpy as np

    from sreconsole.knowledge.embed_cache import make_embed
    from sreconsole.triage.models import load_catalog_for, models_root
    from sreconsole.triage.training import SectionIndex, TrainOptions, fit_models, runbook_files, shipped_calibration
    from sreconsole.triage.trm import TRMConfig, TrainConfig, features

    splits = _load_splits(ctx)
    actions = tuple(load_catalog_for(ctx.settings).ids)
    index = {a: i for i, a in enumerate(actions)}
    embed = make_embed(ctx.settings)
    config = TRMConfig(actions=actions, embed_model=embed.embedder.model_id, **dict(ctx.params.get("trm") or {}))
    options = TrainOptions()
    cal = shipped_calibration(splits, options)
    total = sum(len(v) for v in splits.values()) + len(cal)
    ctx.progress(0.0, f"embedding {total} alert texts")
    done = [0]

    def embedded(n: int, of: int) -> None:
        # The embedding phase is the first 30 % of the step's bar: on a first run it is the
        # longest part (minutes), and the board must show it moving.
        ctx.progress(0.3 * min(1.0, (done[0] + n) / max(total, 1)), f"embedding alert texts: {n}/{of} new ({done[0] + n}/{total})")
        ctx.check_cancel()

    t0 = time.perf_counter()
    xs, ys = {}, {}
    for name, rows in splits.items():
        xs[name] = features([e.text() for e in rows], embed, config.hash_dim, embedded)
        ys[name] = np.array([index[e.action] for e in rows], dtype=np.int64)
        done[0] += len(rows)
    cal_x = features(cal.texts, embed, config.hash_dim, embedded)
    ctx.log(f"embedded in {time.perf_counter() - t0:.1f}s (cache hits/misses {embed.hits}/{embed.misses})")
    ctx.check_cancel()
    base = TrainConfig()
    tc = TrainConfig(epochs=int(ctx.params.get("epochs") or base.epochs), lr=float(ctx.params.get("lr") or base.lr))

    def on_epoch(ev: dict) -> None:
        ctx.emit("progress", **ev)
        ctx.log(f"epoch {ev['epoch']}/{ev['epochs']} loss {ev['loss']:.4f} train_acc {ev['train_acc']:.3f}")
        ctx.progress(0.3 + 0.7 * ev["epoch"] / ev["epochs"], f"epoch {ev['epoch']}/{ev['epochs']}, loss {ev['loss']:.3f}")
        ctx.check_cancel()  # between epochs: the partial model is thrown away

    prepared = ctx.outputs("prepare dataset")
    sections = SectionIndex(runbook_files(Path(prepared["corpus"]) if prepared.get("corpus") else None))
    result = fit_models(config, splits, xs, ys, tc, options, cal, cal_x, sections, progress=on_epoch,
                        metadata={"dataset_hash": prepared.get("dataset_hash", ""), "dataset_rows": {k: len(v) for k, v in splits.items()},
                                  "run_id": ctx.run.id},
                        low=ctx.settings.triage.low_threshold, high=ctx.settings.triage.high_threshold)
    ck = result.checkpoint
    ck.metadata["training_seconds"] = round(result.seconds, 2)
    target = models_root(ctx.settings) / ck.version
    ck.save(target)
    return StepResult("done", f"{ck.version} in {result.seconds:.1f}s ({tc.epochs} epochs; TRM and logreg, calibrated on {len(cal)} alerts)",
                      {"version": ck.version, "path": str(target), "seconds": round(result.seconds, 2), "epochs": tc.epochs,
                       "lr": tc.lr, "history": result.history, "parameters": ck.metadata.get("parameters"), "calibration_rows": len(cal)})


# -- 4 evaluate -----------------------------------------------------------------------------

EVALUATION_FILE = "evaluation.json"
"""Per test row of the selected classifier: confidence and whether it was right; what the
board's reliability curve, coverage curve and threshold tuning are drawn from."""


def evaluate_step(ctx: StepContext) -> StepResult:
    import json

    from sreconsole.knowledge.embed_cache import make_embed
    from sreconsole.triage.training import labelled_from_examples, measure
    from sreconsole.triage.trm import METADATA, TRMRunner, features

    path = Path(ctx.outputs("train")["path"])
    kind = ctx.settings.triage.model
    test_rows = _load_splits(ctx)["test"]
    labelled = labelled_from_examples(test_rows, "test")
    low = ctx.settings.triage.low_threshold
    by_kind: dict[str, dict] = {}
    x = None
    rows_out: dict = {}
    for k in ("trm", "logreg"):
        runner = TRMRunner.load(path, k)
        if x is None:
            x = features(labelled.texts, make_embed(ctx.settings), runner.config.hash_dim)
        by_kind[k] = measure(runner, x, labelled, low=low)
        if k == kind and len(labelled):
            preds = runner.predict_features(x, labelled.rules)
            rows_out = {"kind": k, "confidence": [round(p.confidence, 5) for p in preds],
                        "correct": [p.action in exp for p, exp in zip(preds, labelled.expected)],
                        "action": [p.action for p in preds], "low": low, "high": ctx.settings.triage.high_threshold}
    chosen = by_kind[kind]
    n = chosen.get("n", 0)
    metrics = {
        "test_n": n,
        "model": kind,
        "accuracy": chosen.get("accuracy", 0.0),
        "balanced_accuracy": chosen.get("balanced_accuracy", 0.0),
        "macro_f1": chosen.get("macro_f1", 0.0),
        "ece": chosen.get("ece", 0.0),
        "share_below_low": chosen.get("share_below_low", 0.0),
        "majority_baseline": chosen.get("majority_baseline", 0.0),
    }
    for k, r in by_kind.items():
        for name in ("accuracy", "balanced_accuracy", "ece"):
            metrics[f"{k}_{name}"] = r.get(name, 0.0)
    (ctx.run_dir / EVALUATION_FILE).write_text(json.dumps({**rows_out, "reliability": chosen.get("reliability", []),
                                                           "coverage": chosen.get("coverage", [])}), encoding="utf-8")
    # The checkpoint carries its test metrics, so the shipped artifact says how good it is.
    meta_path = path / METADATA
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta.setdefault("metrics", {})["test_pipeline"] = {k: v for k, v in metrics.items()}
    tmp = meta_path.with_suffix(".tmp")  # atomic: the TUI may be reading this model
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(meta_path)
    for k, v in metrics.items():
        if isinstance(v, (int, float)):
            ctx.emit("metric", name=k, value=v)
    return StepResult("done", f"{kind}: accuracy {metrics['accuracy']:.3f}, balanced {metrics['balanced_accuracy']:.3f}, ECE {metrics['ece']:.3f} "
                              f"on {n} test rows (majority {metrics['majority_baseline']:.3f})",
                      {"metrics": metrics, "curves": {"reliability": chosen.get("reliability", []), "coverage": chosen.get("coverage", [])}})


# -- 5 register in MLflow -------------------------------------------------------------------


def mlflow_uri(settings: Settings) -> tuple[str, str]:
    """(tracking URI, backend description): the configured server or the local store."""
    if settings.mlflow.tracking_uri:
        uri = settings.mlflow.tracking_uri
        return uri, ("local store" if uri.startswith(("sqlite:", "file:")) or "://" not in uri else "server") + f" {redact_url(uri)}"
    db = settings.data_path / "mlflow" / "mlflow.db"
    db.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{db}", f"local store {db}"


def log_to_mlflow(
    ctx: StepContext,
    *,
    experiment: str,
    registered_model: str,
    tags: dict[str, str],
    params: dict[str, Any],
    series: list[tuple[int, dict[str, float]]],
    metrics: dict[str, float],
    artifacts: str,
    artifact_path: str,
) -> StepResult:
    """One MLflow run for a pipeline run (the TRM's and LoRA's register steps): params,
    per-step metric series, final metrics, the artifacts, and a registered model version
    tagged with the model version. A local store unless mlflow.tracking_uri is set."""
    ctx.progress(None, "importing MLflow")
    import mlflow
    from mlflow.tracking import MlflowClient

    uri, backend = mlflow_uri(ctx.settings)
    version = tags["version"]
    try:
        client = MlflowClient(tracking_uri=uri, registry_uri=uri)
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            location = None
            if not ctx.settings.mlflow.tracking_uri:
                art = ctx.settings.data_path / "mlflow" / "artifacts"
                art.mkdir(parents=True, exist_ok=True)
                location = art.as_uri()
            exp_id = client.create_experiment(experiment, artifact_location=location)
        else:
            exp_id = exp.experiment_id
        run = client.create_run(exp_id, run_name=ctx.run.id, tags={**tags, "sreconsole.run_id": ctx.run.id, "sreconsole.trigger": ctx.run.trigger})
        rid = run.info.run_id
        for k, v in params.items():
            client.log_param(rid, k, v)
        for step, values in series:
            for k, v in values.items():
                client.log_metric(rid, k, float(v), step=step)
        for k, v in metrics.items():
            client.log_metric(rid, k, float(v))
        client.log_artifacts(rid, artifacts, artifact_path=artifact_path)
        client.set_terminated(rid, "FINISHED")
        try:
            client.create_registered_model(registered_model)
        except mlflow.exceptions.MlflowException as exc:
            if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
                raise
        mv = client.create_model_version(registered_model, f"{run.info.artifact_uri}/{artifact_path}", run_id=rid, tags={"version": version})
    except mlflow.exceptions.MlflowException as exc:
        raise StepFailed(redact_url(f"MLflow ({backend}): {str(exc).splitlines()[0]}")) from exc
    return StepResult("done", f"MLflow run {rid[:8]}, model {registered_model} v{mv.version} ({backend})",
                      {"mlflow_run_id": rid, "registered_model": registered_model, "registered_version": str(mv.version),
                       "backend": backend, "tracking_uri": redact_url(uri)})


def register_mlflow(ctx: StepContext) -> StepResult:
    trained = ctx.outputs("train")
    prepared = ctx.outputs("prepare dataset")
    params = {"epochs": trained.get("epochs"), "lr": trained.get("lr"), "dataset_hash": prepared.get("dataset_hash", ""),
              "rows_train": prepared.get("rows", {}).get("train"), "decisions_used": prepared.get("decisions_used"),
              "parameters": trained.get("parameters")}
    series = [(int(ev["epoch"]), {"loss": ev["loss"], "train_acc": ev["train_acc"]}) for ev in trained.get("history", [])]
    return log_to_mlflow(
        ctx, experiment=EXPERIMENT, registered_model=REGISTERED_MODEL, tags={"version": trained["version"]}, params=params,
        series=series, metrics={k: v for k, v in ctx.outputs("evaluate").get("metrics", {}).items() if isinstance(v, (int, float)) and not isinstance(v, bool)},
        artifacts=trained["path"], artifact_path="model",
    )


# -- 6 store artifacts ----------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def make_tarball(src: Path, dest: Path) -> Path:
    """A gzip tar of the checkpoint directory, under the directory's name."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(src, arcname=src.name)
    return dest


def _s3_reason(endpoint: str, exc: BaseException) -> str:
    """One line for an S3 failure: unreachable, refused credentials, or what the server said."""
    from minio.error import S3Error
    from urllib3.exceptions import MaxRetryError, NewConnectionError, TimeoutError as U3Timeout

    if isinstance(exc, S3Error):
        return f"S3 at {endpoint}: {exc.code}: {exc.message}"
    inner = exc.reason if isinstance(exc, MaxRetryError) and exc.reason is not None else exc
    if isinstance(inner, NewConnectionError) or isinstance(inner, ConnectionError):
        text = str(inner).lower()
        why = "connection refused" if "refused" in text else "name not resolved" if "resolv" in text or "name" in text else str(inner).split(":")[-1].strip()
        return f"S3 at {endpoint} unreachable: {why}"
    if isinstance(inner, U3Timeout):
        return f"S3 at {endpoint} unreachable: timed out"
    return f"S3 at {endpoint}: {exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"


def store_artifacts(ctx: StepContext) -> StepResult:
    trained = ctx.outputs("train")
    version = trained["version"]
    tarball = make_tarball(Path(trained["path"]), ctx.run_dir / "model.tar.gz")
    digest = sha256_file(tarball)
    size = tarball.stat().st_size
    key = f"{ctx.run.model}/{version}/model.tar.gz"
    s3 = ctx.settings.s3
    if s3.endpoint:
        import urllib3
        from minio import Minio
        from minio.error import S3Error

        http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=5.0, read=60.0),
                                   retries=urllib3.Retry(total=1, backoff_factor=0.2, status_forcelist=(500, 502, 503, 504)))
        client = Minio(s3.endpoint, access_key=s3.access_key or None, secret_key=s3.secret_key or None, secure=s3.secure, http_client=http)
        try:
            if not client.bucket_exists(s3.bucket):
                client.make_bucket(s3.bucket)
            client.fput_object(s3.bucket, key, str(tarball), content_type="application/gzip", metadata={"sha256": digest})
            check = ctx.run_dir / "model.verify.tar.gz"
            client.fget_object(s3.bucket, key, str(check))
            stat = client.stat_object(s3.bucket, key)
        except (S3Error, urllib3.exceptions.HTTPError, OSError) as exc:
            raise StepFailed(_s3_reason(s3.endpoint, exc)) from exc
        got = sha256_file(check)
        check.unlink(missing_ok=True)
        if got != digest or stat.size != size:
            raise StepFailed(f"S3 at {s3.endpoint}: {key} came back different (sha256 {got[:12]} != {digest[:12]})")
        location = f"s3://{s3.bucket}/{key}"
    else:
        dest = ctx.settings.data_path / "artifacts" / key
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(".part")
        shutil.copyfile(tarball, tmp)
        tmp.replace(dest)
        got = sha256_file(dest)
        if got != digest:
            raise StepFailed(f"{dest}: copy differs from the tarball (sha256 {got[:12]} != {digest[:12]})")
        location = str(dest)
    return StepResult("done", f"{location} ({size} bytes, sha256 {digest[:12]}…, verified)",
                      {"location": location, "sha256": digest, "bytes": size, "key": key})


# -- 7 export for Ollama, 8 import ----------------------------------------------------------


def export_ollama(ctx: StepContext) -> StepResult:
    return StepResult("not applicable", "the TRM is a classifier, not a language model: it has no Ollama form")


def import_ollama(ctx: StepContext) -> StepResult:
    return StepResult("skipped", "nothing to import into Ollama for the TRM")


TRM_STEPS: dict[str, Callable[[StepContext], StepResult]] = {
    "prepare dataset": prepare_dataset,
    "load base model": load_base_model,
    "train": train_step,
    "evaluate": evaluate_step,
    "register in MLflow": register_mlflow,
    "store artifacts": store_artifacts,
    "export for Ollama": export_ollama,
    "import": import_ollama,
}
STEPS = {"trm": TRM_STEPS}
