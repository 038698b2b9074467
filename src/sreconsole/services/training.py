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

    # -- curves, threshold tuning, shadow scoring --------------------------------------------

    def evaluation(self, run_id: str) -> dict:
        """What the run's evaluate step measured on its test split: per row the selected
        classifier's confidence and whether it was right, the reliability table and the
        accuracy–coverage curve ({} for a run that has none)."""
        import json

        from sreconsole.pipeline.steps import EVALUATION_FILE

        path = self.store.run_dir(run_id) / EVALUATION_FILE
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def tuning(self, run_id: str, target: float) -> dict:
        """The low threshold that gives un-flagged proposals ``target`` accuracy on the run's
        test split, the share that would go to a human, and the high threshold it implies
        (kept at least as high as the low one)."""
        from sreconsole.triage.evaluation import pick_thresholds

        ev = self.evaluation(run_id)
        if not ev.get("confidence"):
            return {"target": target, "found": False, "why": "this run has no per-row evaluation (trained before threshold tuning existed?)"}
        picked = pick_thresholds(ev["confidence"], ev["correct"], target)
        if picked["found"]:
            picked["low"] = round(picked["threshold"], 3)
            picked["high"] = round(max(self.settings.triage.high_threshold, picked["threshold"]), 3)
        else:
            picked["why"] = f"no threshold reaches {target:.2f} with at least 20 proposals above it"
        picked["current"] = {"low": self.settings.triage.low_threshold, "high": self.settings.triage.high_threshold}
        return picked

    def save_thresholds(self, run_id: str, low: float, high: float, target: float, tuned: dict, operator) -> dict:
        """Write the thresholds into the settings file and append one line to the settings
        audit log (``<data dir>/settings-audit.jsonl``, see :func:`append_settings_audit`);
        the running settings object takes the new values too."""
        from sreconsole.config import ConfigError, default_config_path, save_settings

        if not (0.0 <= low <= high <= 1.0):
            raise ConfigError(f"thresholds must satisfy 0 <= low ({low}) <= high ({high}) <= 1")
        path = self.settings.config_path or default_config_path()
        changes = save_settings(path, {"triage.low_threshold": float(low), "triage.high_threshold": float(high)})
        self.settings.triage.low_threshold, self.settings.triage.high_threshold = float(low), float(high)
        reason = (f"tuned on run {run_id} for un-flagged accuracy >= {target:.2f}: {tuned.get('accuracy', 0):.3f} at coverage "
                  f"{tuned.get('coverage', 0):.1%}, {tuned.get('to_human', 0):.1%} to a human ({tuned.get('rows', 0)} test rows)")
        entry = append_settings_audit(self.settings.data_path, str(path), changes, reason, operator, run_id)
        return {"file": str(path), "changes": changes, "audit": entry}

    def shadow(self, run_id: str, days: float = 7.0):
        from sreconsole.pipeline.runner import shadow_run

        return shadow_run(self.settings, run_id, days)


SETTINGS_AUDIT = "settings-audit.jsonl"


def append_settings_audit(data_dir: Path, file: str, changes: dict, reason: str, operator, run_id: str = "") -> dict:
    """One line per settings change made from the console, appended (``O_APPEND``) to
    ``<data dir>/settings-audit.jsonl``: when, who (the kernel's identity of this process,
    with ``$USER`` and the SSH client address beside it as claims), the file, every key's
    old and new value, why, and the SHA-256 of the previous line, so an edited or deleted
    line breaks the chain. It is not the review queue's audit chain: that one records
    decisions on proposals and lives in the review store; a threshold is a setting."""
    import hashlib
    import json
    import os
    import pwd
    from datetime import datetime, timezone

    path = data_dir / SETTINGS_AUDIT
    path.parent.mkdir(parents=True, exist_ok=True)
    prev = ""
    if path.exists():
        lines = path.read_bytes().splitlines()
        prev = hashlib.sha256(lines[-1]).hexdigest() if lines else ""
    try:
        user = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        user = str(os.geteuid())
    entry = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "user": user,
             "claimed_user": getattr(operator, "user", ""), "client": getattr(operator, "client_address", ""),
             "file": file, "changes": {k: {"old": old, "new": new} for k, (old, new) in changes.items()},
             "reason": reason, "run": run_id, "prev_sha256": prev}
    line = json.dumps(entry, sort_keys=True, ensure_ascii=True) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return entry
