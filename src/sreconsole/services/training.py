"""The Training pane's facade: runs from the pipeline's store, their progress streams, and
start / cancel / promote. Runs execute in worker processes; this only reads their state."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sreconsole.config import Settings


@dataclass
class RunStream:
    """Events read so far for one run (the store's events file, tailed by byte offset)."""

    offset: int = 0
    losses: list[float] = field(default_factory=list)
    last: dict = field(default_factory=dict)


class TrainingBoard:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._store = None
        self.streams: dict[str, RunStream] = {}

    @property
    def store(self):
        from sreconsole.pipeline.runs import RunStore

        if self._store is None:
            self._store = RunStore(self.settings.data_path)
        return self._store

    def runs(self) -> list:
        """Runs, newest first; an active run that is a Kubernetes Job is checked against the
        Job's status (a failed or vanished Job fails the run with the reason)."""
        from sreconsole.pipeline.runner import refresh_job

        out = []
        for run in self.store.list():
            if run.params.get("k8s_job") and run.status in ("queued", "running"):
                try:
                    run = refresh_job(self.settings, run)
                except Exception:  # noqa: BLE001 - the API may be down; the next poll tries again
                    pass
            out.append(run)
        return out

    def follow(self, run_id: str) -> RunStream:
        """New events of a run since the last call: loss history and the latest progress."""
        stream = self.streams.setdefault(run_id, RunStream())
        stream.offset, events = self.store.tail_events(run_id, stream.offset)
        for ev in events:
            if ev.get("kind") == "progress" and isinstance(ev.get("loss"), (int, float)):
                stream.losses.append(float(ev["loss"]))
            stream.last = ev
        return stream

    def log_tail(self, run_id: str, lines: int = 8) -> list[str]:
        """The worker's log; for a Kubernetes Job, its pod's log from the API."""
        run = self.store.get(run_id)
        if run is not None and run.params.get("k8s_job"):
            from sreconsole.pipeline.kube import JobError, job_logs
            from sreconsole.pipeline.runner import _kube_client

            namespace, _, name = str(run.params["k8s_job"]).partition("/")
            try:
                return job_logs(_kube_client(self.settings), namespace, name, lines)
            except (JobError, ValueError) as exc:
                return [f"(the Job's log cannot be read: {exc})"]
        return self.store.tail_log(run_id, lines)

    def active_version(self) -> str:
        """The version of the model triage uses now (``models/trm/active``)."""
        from sreconsole.triage.models import model_dir

        path = model_dir(self.settings)
        try:
            return Path(os.path.realpath(path)).name if path.exists() else ""
        except OSError:
            return ""

    def start(self, amount: int | None = None, model: str = "trm"):
        """A TRM run (``amount`` epochs) or a LoRA run on demo-tiny (``amount`` iterations)."""
        from sreconsole.pipeline.runner import start_run

        if model == "lora":
            return start_run(self.settings, "lora", params={"base": "demo-tiny", **({"iters": amount} if amount else {})})
        return start_run(self.settings, "trm", params={"epochs": amount} if amount else {})

    def cancel(self, run_id: str):
        from sreconsole.pipeline.runner import cancel_run

        return cancel_run(self.settings, run_id)

    allow: Callable[[str], str] = staticmethod(lambda verb: "")
    """The approval policy's answer for ``promote`` ('' allowed, else the refusal naming the rule)."""

    def promote(self, run_id: str):
        from sreconsole.pipeline.runner import promote_run

        why = self.allow("promote")
        if why:
            raise ValueError(f"refused: {why}")

        return promote_run(self.settings, run_id)
