"""``python -m sreconsole.pipeline.worker RUN_ID``: do the steps of one run not yet done.

Started by :func:`sreconsole.pipeline.runner.start_run` in a session of its own, with its
stdout and stderr going to the run's ``log.txt``. Everything the operator sees (step
states, progress, the error line) goes through the run store; tracebacks go to the log only.

SIGTERM asks the worker to stop: a flag checked between epochs and between steps, not an
exception thrown from the signal handler, so a SQLite write or a tar file is never left
half done. The runner SIGKILLs the group if the worker does not stop within its grace.
"""

from __future__ import annotations

import signal
import sys
import traceback

from sreconsole.pipeline.lora import LORA_STEPS
from sreconsole.pipeline.runs import FINISHED_STEP_STATES, RunStore, now_utc
from sreconsole.pipeline.steps import STEPS, Cancelled, StepContext, StepFailed

PIPELINES = {**STEPS, "lora": LORA_STEPS}

_STOP = {"requested": False}


def _on_sigterm(signum: int, frame: object) -> None:
    _STOP["requested"] = True
    print(f"{now_utc():%H:%M:%S} SIGTERM received: stopping at the next epoch or step", flush=True)


def _log(message: str) -> None:
    print(f"{now_utc():%H:%M:%S} {message}", flush=True)


def run_worker(run_id: str) -> int:
    """The worker's body; returns the process exit code (0 when the run succeeded)."""
    from sreconsole.config import ConfigError, load_settings

    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        settings = load_settings()
    except ConfigError as exc:
        _log(f"cannot load settings: {exc}")
        return 2
    store = RunStore(settings.data_path)
    run = store.get(run_id, refresh=False)
    if run is None:
        _log(f"no run {run_id} in {store.path}")
        return 2
    steps = PIPELINES.get(run.model)
    if steps is None:
        store.finish(run_id, "failed", f"no pipeline for model {run.model!r}")
        return 2
    run = store.update(run_id, status="running", started_at=run.started_at or now_utc())
    store.append_event(run_id, {"step": "", "kind": "status", "status": "running"})
    _log(f"run {run_id} ({run.model}, {run.trigger}) started, pid {run.pid}")
    current = ""
    try:
        for state in run.steps:
            if state.status in FINISHED_STEP_STATES:
                _log(f"step {state.name}: {state.status} earlier, kept")
                continue
            if _STOP["requested"]:
                raise Cancelled()
            current = state.name
            run = _do_step(store, settings, store.get(run_id, refresh=False), state.name, steps[state.name])
        metrics = run.step("evaluate").outputs.get("metrics", {})
        store.update(run_id, metrics=metrics)
        store.finish(run_id, "succeeded")
        store.append_event(run_id, {"step": "", "kind": "status", "status": "succeeded"})
        _log(f"run {run_id} succeeded")
        return 0
    except Cancelled:
        store.finish(run_id, "cancelled", "cancelled by operator")
        store.append_event(run_id, {"step": current, "kind": "status", "status": "cancelled"})
        _log(f"run {run_id} cancelled during {current or 'start-up'}")
        return 0
    except BaseException as exc:  # noqa: BLE001 - every failure must reach the run row
        reason = str(exc) if isinstance(exc, StepFailed) else f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}".rstrip(": ")
        traceback.print_exc(file=sys.stdout)
        sys.stdout.flush()
        error = f"{current}: {reason}" if current else reason
        if current:
            store.update_step(run_id, current, status="failed", message=reason, finished_at=now_utc())
        store.finish(run_id, "failed", error)
        store.append_event(run_id, {"step": current, "kind": "status", "status": "failed", "message": error})
        _log(f"run {run_id} failed: {error}")
        return 1
    finally:
        store.close()


def _do_step(store: RunStore, settings, run, name: str, fn) -> object:
    """Run one step, recording its start, progress, end and outputs."""
    run_id = run.id
    started = now_utc()
    run = store.update_step(run_id, name, status="running", progress=None, message="", started_at=started, finished_at=None)
    store.append_event(run_id, {"step": name, "kind": "status", "status": "running"})
    _log(f"step {name}: running")

    def emit(kind: str, **data: object) -> None:
        store.append_event(run_id, {"step": name, "kind": kind, **data})

    def progress(fraction: float | None, message: str) -> None:
        store.update_step(run_id, name, progress=fraction, message=message)
        emit("progress", progress=fraction, message=message)

    def log(message: str) -> None:
        _log(f"[{name}] {message}")
        emit("log", message=message)

    ctx = StepContext(settings, run, store.run_dir(run_id), emit, log, progress, lambda: _STOP["requested"])
    result = fn(ctx)
    run = store.update_step(run_id, name, status=result.status, message=result.message, outputs=result.outputs,
                            finished_at=now_utc(), progress=1.0 if result.status == "done" else None)
    extra = {}
    if name == "train":
        extra["version"] = result.outputs.get("version", "")
    if name == "evaluate":
        extra["metrics"] = result.outputs.get("metrics", {})
    if name == "register in MLflow":
        extra["mlflow_run_id"] = result.outputs.get("mlflow_run_id", "")
    if extra:
        run = store.update(run_id, **extra)
    emit("status", status=result.status, message=result.message)
    _log(f"step {name}: {result.status} — {result.message}")
    return run


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m sreconsole.pipeline.worker RUN_ID", file=sys.stderr)
        return 2
    return run_worker(args[0])


if __name__ == "__main__":
    sys.exit(main())
