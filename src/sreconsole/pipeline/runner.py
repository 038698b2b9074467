"""Start, cancel, resume, wait for and promote training runs.

A run trains in its own process (``python -m sreconsole.pipeline.worker RUN_ID``), in its
own session: closing the TUI or the SSH connection does not kill training, MLX's memory
is returned to the system when the run ends, and a cancel can signal the whole process
group (MLX and fastembed start threads; MLflow may start helpers).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sreconsole.config import ENV_PREFIX, Settings
from sreconsole.pipeline.runs import ACTIVE_STATES, WORKER_MODULE, PipelineBusy, Run, RunStore, adopt_worker, pid_alive

__all__ = ["PipelineBusy", "PromoteRefused", "cancel_run", "promote_run", "shadow_run", "start_run", "wait", "worker_env"]

MODELS = ("trm", "lora")
TRIGGERS = ("manual", "schedule", "decisions")


def store_for(settings: Settings) -> RunStore:
    return RunStore(settings.data_path)


def worker_env(settings: Settings, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment that makes the worker load the settings this process has.

    Every setting whose value differs from its default is passed as ``SRECONSOLE_*``: the
    environment outranks the file, so values given as flags (or set by a test) reach the
    worker too. Keymaps are left out: the worker has no keys."""
    env = dict(os.environ if base is None else base)
    defaults = {key: value for key, value, *_ in Settings().items()}
    for key, value, _origin, _secret, _doc in settings.items():
        if key == "keymap" or value == defaults.get(key):
            continue
        name = ENV_PREFIX + key.replace(".", "_").upper()
        if isinstance(value, bool):
            env[name] = "1" if value else "0"
        elif isinstance(value, list):
            env[name] = ",".join(value)
        elif isinstance(value, dict):
            continue
        else:
            env[name] = str(value)
    env[ENV_PREFIX + "DATA_DIR"] = str(settings.data_path)
    if settings.config_path is not None and settings.config_path.exists():
        env[ENV_PREFIX + "CONFIG"] = str(settings.config_path)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def start_run(
    settings: Settings,
    model: str = "trm",
    *,
    trigger: str = "manual",
    params: dict | None = None,
    resume: str | None = None,
) -> Run:
    """Create (or resume) a run and spawn its worker; returns at once with the pid recorded.

    ``resume`` continues a failed or cancelled run from its first step not done: the steps
    already done keep their outputs (a resumed run after an S3 outage does not train again).
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r} (known: {', '.join(MODELS)})")
    if trigger not in TRIGGERS:
        raise ValueError(f"unknown trigger {trigger!r} (known: {', '.join(TRIGGERS)})")
    store = store_for(settings)
    try:
        if resume:
            old = store.get(resume)
            if old is None:
                raise ValueError(f"no run {resume}")
            if old.model != model:
                raise ValueError(f"run {resume} trained {old.model}, not {model}")
            run = store.reopen(resume, params or {})
            store.append_event(run.id, {"step": "", "kind": "status", "status": "queued", "message": "resumed"})
        else:
            run = store.create(model, trigger, params or {}, settings.is_demo)
        log = store.log_path(run.id)
        log.parent.mkdir(parents=True, exist_ok=True)
        if settings.pipeline.executor == "kubernetes":
            return _submit_job(settings, store, run)
        try:
            with open(log, "ab") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", WORKER_MODULE, run.id],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    env=worker_env(settings), start_new_session=True, close_fds=True,
                )
        except OSError as exc:
            return store.finish(run.id, "failed", f"could not start the worker: {exc.strerror or exc}")
        adopt_worker(proc)
        return store.update(run.id, pid=proc.pid)
    finally:
        store.close()


def _kube_client(settings: Settings):
    from sreconsole.sources.kube_client import KubeClientError, make_api_client

    k = settings.kubernetes
    try:
        return make_api_client(k.kubeconfig, k.context, k.in_cluster, k.timeout_s)
    except KubeClientError as exc:
        raise ValueError(str(exc)) from exc


def _job_spec(settings: Settings):
    from sreconsole.pipeline.kube import JobSpec

    p = settings.pipeline
    return JobSpec(p.job_namespace, p.job_image, p.job_cpu, p.job_memory, dict(p.job_node_selector), p.job_service_account, p.job_data_pvc)


def _submit_job(settings: Settings, store, run: Run) -> Run:
    """``pipeline.executor = "kubernetes"``: the same worker as a Job; the board follows it
    through the shared data dir (PVC) and the Job's status (:func:`refresh_job`)."""
    from sreconsole.pipeline.kube import JobError, delete_job, job_manifest, submit_job

    try:
        client = _kube_client(settings)
        manifest = job_manifest(run.id, run.model, _job_spec(settings), worker_env(settings), secret_name=settings.pipeline.job_secret)
        old = run.params.get("k8s_job")
        if old:  # a resumed run reuses its Job name: the old Job must go first
            namespace, _, name = str(old).partition("/")
            delete_job(client, namespace, name)
        name = submit_job(client, manifest)
    except (ValueError, JobError) as exc:
        return store.finish(run.id, "failed", f"could not start the Kubernetes Job: {exc}")
    return store.update(run.id, params={**run.params, "k8s_job": f"{manifest['metadata']['namespace']}/{name}"})


def refresh_job(settings: Settings, run: Run) -> Run:
    """An active Job-backed run whose Job failed or vanished is marked failed with the
    reason; a running or pending Job changes nothing (the worker writes its own progress)."""
    from sreconsole.pipeline.kube import JobError, job_status

    ref = run.params.get("k8s_job")
    if not ref or run.status not in ACTIVE_STATES:
        return run
    namespace, _, name = str(ref).partition("/")
    store = store_for(settings)
    try:
        try:
            state, detail = job_status(_kube_client(settings), namespace, name)
        except JobError as exc:
            if str(exc).startswith("404"):
                return store.finish(run.id, "failed", f"the Kubernetes Job {name} is gone", only_if_active=True)
            return run  # the API is unreachable right now: say nothing, try again next poll
        if state == "failed":
            return store.finish(run.id, "failed", f"Kubernetes Job {name} failed: {detail}", only_if_active=True)
        if state == "succeeded":
            return store.finish(run.id, "failed", f"the Kubernetes Job {name} ended without recording its result", only_if_active=True)
        return run
    finally:
        store.close()


def cancel_run(settings: Settings, run_id: str, grace_s: float = 5.0) -> Run:
    """SIGTERM the worker's process group, SIGKILL it after ``grace_s``; the run ends
    "cancelled". The worker stops at the next epoch or step boundary on SIGTERM and
    records that itself; the row is set here too in case it had to be killed."""
    store = store_for(settings)
    try:
        run = store.get(run_id)
        if run is None:
            raise ValueError(f"no run {run_id}")
        if run.status not in ACTIVE_STATES:
            raise ValueError(f"run {run_id} is {run.status}, not running")
        if run.params.get("k8s_job"):
            from sreconsole.pipeline.kube import JobError, delete_job

            namespace, _, name = str(run.params["k8s_job"]).partition("/")
            try:
                delete_job(_kube_client(settings), namespace, name)  # the pod gets SIGTERM; the worker stops itself
            except JobError as exc:
                raise ValueError(f"could not delete the Kubernetes Job {name}: {exc}") from exc
        elif run.pid and pid_alive(run.pid):
            _signal_group(run.pid, signal.SIGTERM)
            deadline = time.monotonic() + grace_s
            while pid_alive(run.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if pid_alive(run.pid):
                _signal_group(run.pid, signal.SIGKILL)
                deadline = time.monotonic() + 5.0
                while pid_alive(run.pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
        out = store.finish(run_id, "cancelled", "cancelled by operator", only_if_active=True)
        if out.status == "cancelled":
            store.append_event(run_id, {"step": "", "kind": "status", "status": "cancelled", "message": "cancelled by operator"})
        return out
    finally:
        store.close()


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the worker leads its own session, so its pgid is its pid
    except ProcessLookupError:
        pass
    except PermissionError:
        os.kill(pid, sig)


def wait(settings: Settings, run_id: str, timeout_s: float = 600.0, poll_s: float = 0.2) -> Run:
    """Poll until the run is no longer queued or running; TimeoutError past ``timeout_s``."""
    store = store_for(settings)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            run = store.get(run_id)
            if run is None:
                raise ValueError(f"no run {run_id}")
            if run.status not in ACTIVE_STATES:
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still {run.status} after {timeout_s:.0f} s")
            time.sleep(poll_s)
    finally:
        store.close()


class PromoteRefused(ValueError):
    """The candidate is worse than the active model on operators' decisions; ``report`` says
    by how much. ``pipeline promote --force`` promotes it anyway."""

    def __init__(self, message: str, report) -> None:
        super().__init__(message)
        self.report = report


def shadow_run(settings: Settings, run_id: str, days: float = 7.0):
    """Shadow-score a succeeded run's model against the active one (see
    :mod:`sreconsole.pipeline.shadow`) and keep the summary with the run."""
    from sreconsole.pipeline.shadow import shadow_score
    from sreconsole.triage.models import model_dir

    run, path = _candidate(settings, run_id)
    active = model_dir(settings)
    report = shadow_score(settings, path, active if active.exists() else None, days)
    store = store_for(settings)
    try:
        summary = {k: v for k, v in report.as_dict().items() if k != "differences"}
        store.update(run_id, params={**run.params, "shadow": summary})
    finally:
        store.close()
    return report


def _candidate(settings: Settings, run_id: str) -> tuple[Run, Path]:
    store = store_for(settings)
    try:
        run = store.get(run_id)
    finally:
        store.close()
    if run is None:
        raise ValueError(f"no run {run_id}")
    if run.status != "succeeded":
        raise ValueError(f"run {run_id} is {run.status}: only a succeeded run can be promoted")
    if run.model != "trm":
        raise ValueError(f"run {run_id} trained {run.model}: only a TRM run can be promoted (a LoRA model is served by Ollama)")
    path = Path(run.step("train").outputs.get("path", ""))
    if not path.is_dir():
        raise ValueError(f"run {run_id}: its model directory {path} is gone")
    return run, path


def promote_run(settings: Settings, run_id: str, *, force: bool = False, days: float = 7.0) -> Run:
    """Make a succeeded run's model the active one (an atomic symlink swap) and record when.

    First the candidate is shadow-scored beside the active model; one that is right less
    often on operators' decisions is refused (:class:`PromoteRefused`) unless ``force``.
    The shadow summary is kept in the run's params either way."""
    from sreconsole.pipeline.runs import iso_time, now_utc
    from sreconsole.triage.models import activate_model

    run, path = _candidate(settings, run_id)
    report = shadow_run(settings, run_id, days)
    if report.worse and not force:
        c, a = report.candidate_scores, report.active_scores
        raise PromoteRefused(
            f"run {run_id} is worse than the active model {report.active} on {c['n']} operator decisions "
            f"(accuracy {c['accuracy']:.3f} vs {a['accuracy']:.3f}); promote with --force to override", report)
    activate_model(settings, path)
    store = store_for(settings)
    try:
        run = store.get(run_id) or run
        extra = {"promoted_at": iso_time(now_utc())}
        if report.worse:
            extra["promoted_despite"] = f"accuracy on decisions {report.candidate_scores['accuracy']:.3f} < {report.active_scores['accuracy']:.3f} (forced)"
        return store.update(run_id, params={**run.params, **extra})
    finally:
        store.close()
