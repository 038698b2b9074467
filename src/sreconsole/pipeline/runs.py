"""The record of training runs: one SQLite row per run, one directory per run for its log.

The row is what the Training pane and ``sreconsole train list`` show; the directory holds
what is too big or too chatty for a row: ``log.txt`` (the worker's stdout and stderr,
tracebacks included) and ``events.jsonl`` (progress events, appended by the worker and
tailed by byte offset by whoever watches).

The worker process is the only writer of a running run's steps. Readers detect a worker
that died without saying so (SIGKILL, OOM) by its pid, and mark the run failed then: the
row must never claim "running" for a process that is gone.
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

STEP_NAMES = (
    "prepare dataset",
    "load base model",
    "train",
    "evaluate",
    "register in MLflow",
    "store artifacts",
    "export for Ollama",
    "import",
)
RUN_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
STEP_STATES = ("pending", "running", "done", "skipped", "not applicable", "failed")
ACTIVE_STATES = ("queued", "running")
"""A run in one of these states holds its model: no second run may start beside it."""
FINISHED_STEP_STATES = ("done", "skipped", "not applicable")
"""Steps a resumed run does not do again."""

WORKER_MODULE = "sreconsole.pipeline.worker"
SPAWN_GRACE_S = 60.0
"""A queued run that never got a pid within this long lost its starter: it is failed."""
T = TypeVar("T")


class PipelineBusy(Exception):
    """A run of this model is still active; ``str()`` names it and its worker."""


def now_utc() -> datetime:
    return datetime.now(timezone.utc)


def iso_time(dt: datetime | None) -> str | None:
    """How the run store writes a time (UTC, to the millisecond), or None for no time."""
    return dt.isoformat(timespec="milliseconds") if dt else None


def _dt(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass(frozen=True)
class StepState:
    """One step of a run as last written by its worker."""

    name: str
    status: str = "pending"
    progress: float | None = None
    """0..1 where the step can tell (train: epochs done / epochs); None otherwise."""
    message: str = ""
    """One line for the operator: what the step did, why it was skipped, or why it failed."""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    outputs: dict = field(default_factory=dict)
    """What later steps (and a resumed run) need: paths, versions, hashes, counts."""

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "status": self.status,
            "progress": self.progress,
            "message": self.message,
            "started_at": iso_time(self.started_at),
            "finished_at": iso_time(self.finished_at),
            "outputs": self.outputs,
        }

    @classmethod
    def from_dict(cls, d: dict) -> StepState:
        return cls(
            d["name"], d.get("status", "pending"), d.get("progress"), d.get("message", ""),
            _dt(d.get("started_at")), _dt(d.get("finished_at")), dict(d.get("outputs") or {}),
        )


@dataclass(frozen=True)
class Run:
    """One training run of one model, as stored."""

    id: str
    model: str
    trigger: str
    status: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    pid: int | None = None
    version: str = ""
    metrics: dict = field(default_factory=dict)
    mlflow_run_id: str = ""
    params: dict = field(default_factory=dict)
    error: str = ""
    steps: tuple[StepState, ...] = ()
    demo: bool = False

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or now_utc()
        return (end - self.started_at).total_seconds()

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATES

    def step(self, name: str) -> StepState:
        for s in self.steps:
            if s.name == name:
                return s
        raise KeyError(name)

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "model": self.model,
            "trigger": self.trigger,
            "status": self.status,
            "created_at": iso_time(self.created_at),
            "started_at": iso_time(self.started_at),
            "finished_at": iso_time(self.finished_at),
            "duration_s": self.duration_s,
            "pid": self.pid,
            "version": self.version,
            "metrics": self.metrics,
            "mlflow_run_id": self.mlflow_run_id,
            "params": self.params,
            "error": self.error,
            "demo": self.demo,
            "steps": [s.as_dict() for s in self.steps],
        }


_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    trigger TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    pid INTEGER,
    version TEXT NOT NULL DEFAULT '',
    metrics TEXT NOT NULL DEFAULT '{}',
    mlflow_run_id TEXT NOT NULL DEFAULT '',
    params TEXT NOT NULL DEFAULT '{}',
    error TEXT NOT NULL DEFAULT '',
    steps TEXT NOT NULL DEFAULT '[]',
    demo INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS runs_model_status ON runs (model, status);
CREATE INDEX IF NOT EXISTS runs_created ON runs (created_at);
"""


def _row_to_run(r: sqlite3.Row) -> Run:
    return Run(
        id=r["id"], model=r["model"], trigger=r["trigger"], status=r["status"],
        created_at=_dt(r["created_at"]), started_at=_dt(r["started_at"]), finished_at=_dt(r["finished_at"]),
        pid=r["pid"], version=r["version"], metrics=json.loads(r["metrics"]), mlflow_run_id=r["mlflow_run_id"],
        params=json.loads(r["params"]), error=r["error"],
        steps=tuple(StepState.from_dict(s) for s in json.loads(r["steps"])), demo=bool(r["demo"]),
    )


_CHILDREN: dict[int, Any] = {}
"""Popen objects of workers this process started: their exit must be reaped here, or a dead
worker lingers as a zombie that ``kill(pid, 0)`` still finds."""


def adopt_worker(proc: Any) -> None:
    """Remember a worker this process started (a ``subprocess.Popen``), so that
    :func:`pid_alive` reaps it when it exits instead of mistaking its zombie for a live run."""
    _CHILDREN[proc.pid] = proc


def pid_alive(pid: int | None) -> bool:
    """Whether ``pid`` is still a pipeline worker (not gone, not a zombie, not a reused pid)."""
    if not pid:
        return False
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        _CHILDREN.pop(pid, None)
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
        return WORKER_MODULE.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, IndexError):
        return True  # no /proc (macOS): kill(pid, 0) is all we can know


class RunStore:
    """Runs in ``<data>/pipeline/runs.sqlite`` (WAL: the TUI reads while a worker writes)."""

    def __init__(self, data_path: Path) -> None:
        self.root = Path(data_path) / "pipeline"
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / "runs.sqlite"
        self._con = sqlite3.connect(self.path, timeout=10.0, isolation_level=None, check_same_thread=False)
        self._con.row_factory = sqlite3.Row
        self._con.execute("PRAGMA journal_mode=WAL")
        self._con.execute("PRAGMA busy_timeout=10000")
        self._con.executescript(_SCHEMA)
        self._lock = threading.RLock()
        """The TUI shares one store between its thread workers: one transaction at a time."""

    def close(self) -> None:
        self._con.close()

    # -- paths ---------------------------------------------------------------------------

    def run_dir(self, run_id: str) -> Path:
        return self.root / "runs" / run_id

    def log_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "log.txt"

    def events_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "events.jsonl"

    # -- transactions --------------------------------------------------------------------

    def _tx(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """One write transaction, taken up front so read-modify-write never interleaves."""
        con = self._con
        with self._lock:
            con.execute("BEGIN IMMEDIATE")
            try:
                out = work(con)
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
            return out

    # -- reads ---------------------------------------------------------------------------

    def list(self, limit: int = 100, model: str | None = None) -> list[Run]:
        """Newest first, after marking runs whose worker vanished as failed."""
        self.refresh_liveness()
        sql, args = "SELECT * FROM runs", []
        if model:
            sql += " WHERE model = ?"
            args.append(model)
        rows = self._con.execute(sql + " ORDER BY created_at DESC, id DESC LIMIT ?", [*args, limit]).fetchall()
        return [_row_to_run(r) for r in rows]

    def get(self, run_id: str, refresh: bool = True) -> Run | None:
        if refresh:
            self.refresh_liveness(run_id)
        r = self._con.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
        return _row_to_run(r) if r else None

    def active_run(self, model: str) -> Run | None:
        self.refresh_liveness()
        r = self._con.execute(
            f"SELECT * FROM runs WHERE model = ? AND status IN ({','.join('?' * len(ACTIVE_STATES))}) ORDER BY created_at LIMIT 1",
            (model, *ACTIVE_STATES),
        ).fetchone()
        return _row_to_run(r) if r else None

    def last_succeeded(self, model: str, exclude: str = "") -> Run | None:
        r = self._con.execute(
            "SELECT * FROM runs WHERE model = ? AND status = 'succeeded' AND id != ? ORDER BY created_at DESC LIMIT 1",
            (model, exclude),
        ).fetchone()
        return _row_to_run(r) if r else None

    def refresh_liveness(self, run_id: str | None = None) -> list[str]:
        """Mark active runs whose worker is gone as failed; returns their ids.

        The update is conditional on the status and pid read, so a worker that wrote its own
        final state just before exiting is never overruled."""
        sql = f"SELECT id, pid, status FROM runs WHERE status IN ({','.join('?' * len(ACTIVE_STATES))}) AND pid IS NOT NULL"
        args: list[Any] = list(ACTIVE_STATES)
        if run_id:
            sql += " AND id = ?"
            args.append(run_id)
        dead = [(r["id"], r["pid"], r["status"]) for r in self._con.execute(sql, args).fetchall() if not pid_alive(r["pid"])]
        cutoff = iso_time(now_utc() - timedelta(seconds=SPAWN_GRACE_S))
        # A run submitted as a Kubernetes Job has no local pid: its liveness is the Job's
        # status (runner.refresh_job), not an orphan check.
        local = "AND json_extract(params, '$.k8s_job') IS NULL"
        orphaned = self._con.execute(f"SELECT 1 FROM runs WHERE status = 'queued' AND pid IS NULL {local} AND created_at < ? LIMIT 1", (cutoff,)).fetchone()
        if orphaned:
            self._tx(lambda c: c.execute(
                "UPDATE runs SET status = 'failed', error = 'the worker process never started', finished_at = ? "
                f"WHERE status = 'queued' AND pid IS NULL {local} AND created_at < ?" + (" AND id = ?" if run_id else ""),
                (iso_time(now_utc()), cutoff, *([run_id] if run_id else [])),
            ))
        for rid, pid, status in dead:
            error = f"worker process exited unexpectedly (log kept: {self.log_path(rid)})"

            def work(c: sqlite3.Connection, rid=rid, pid=pid, status=status, error=error) -> None:
                r = c.execute("SELECT * FROM runs WHERE id = ? AND pid = ? AND status = ?", (rid, pid, status)).fetchone()
                if r is None:
                    return
                steps = [s if s.status != "running" else replace(s, status="failed", message="worker process exited", finished_at=now_utc())
                         for s in _row_to_run(r).steps]
                c.execute(
                    "UPDATE runs SET status = 'failed', error = ?, finished_at = ?, steps = ? WHERE id = ?",
                    (error, iso_time(now_utc()), json.dumps([s.as_dict() for s in steps]), rid),
                )

            self._tx(work)
            self.append_event(rid, {"step": "", "kind": "status", "status": "failed", "message": error})
        return [d[0] for d in dead]

    def tail_events(self, run_id: str, offset: int) -> tuple[int, list[dict]]:
        """Events appended since byte ``offset``; returns the new offset. A partly written
        last line is left for the next call."""
        path = self.events_path(run_id)
        try:
            with open(path, "rb") as fh:
                fh.seek(offset)
                data = fh.read()
        except FileNotFoundError:
            return offset, []
        end = data.rfind(b"\n") + 1
        events = []
        for line in data[:end].splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return offset + end, events

    def tail_log(self, run_id: str, lines: int = 200) -> list[str]:
        try:
            with open(self.log_path(run_id), "rb") as fh:
                fh.seek(0, os.SEEK_END)
                size = fh.tell()
                fh.seek(max(0, size - 256 * 1024))  # a log is read for its tail, never whole
                text = fh.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return []
        return text.splitlines()[-lines:] if lines > 0 else []

    # -- writes --------------------------------------------------------------------------

    def _busy_check(self, c: sqlite3.Connection, model: str) -> None:
        r = c.execute(
            f"SELECT id, pid FROM runs WHERE model = ? AND status IN ({','.join('?' * len(ACTIVE_STATES))}) ORDER BY created_at LIMIT 1",
            (model, *ACTIVE_STATES),
        ).fetchone()
        if r is not None:
            raise PipelineBusy(f"run {r['id']} for {model} is still running (pid {r['pid']})")

    def create(self, model: str, trigger: str, params: dict, demo: bool) -> Run:
        """Insert a queued run; :class:`PipelineBusy` if one of ``model`` is active. The
        check and the insert share one write transaction, so two operators pressing
        "train" at once get one run and one refusal."""
        self.refresh_liveness()
        created = now_utc()
        for _ in range(5):
            rid = f"r{created:%Y%m%d}-{secrets.token_hex(3)}"
            run = Run(rid, model, trigger, "queued", created, params=dict(params), demo=demo,
                      steps=tuple(StepState(n) for n in STEP_NAMES))

            def work(c: sqlite3.Connection, run: Run = run) -> None:
                self._busy_check(c, model)
                c.execute(
                    "INSERT INTO runs (id, model, trigger, status, created_at, params, steps, demo) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (run.id, model, trigger, "queued", iso_time(created), json.dumps(run.params),
                     json.dumps([s.as_dict() for s in run.steps]), int(demo)),
                )

            try:
                self._tx(work)
            except sqlite3.IntegrityError:
                continue
            self.run_dir(rid).mkdir(parents=True, exist_ok=True)
            return run
        raise RuntimeError("could not allocate a run id")

    def reopen(self, run_id: str, params: dict) -> Run:
        """Queue a failed or cancelled run again, keeping the steps already finished."""
        self.refresh_liveness()

        def work(c: sqlite3.Connection) -> None:
            r = c.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
            if r is None:
                raise ValueError(f"no run {run_id}")
            run = _row_to_run(r)
            if run.status not in ("failed", "cancelled"):
                raise ValueError(f"run {run_id} is {run.status}: only a failed or cancelled run can be resumed")
            self._busy_check(c, run.model)
            steps = [s if s.status in FINISHED_STEP_STATES else StepState(s.name) for s in run.steps]
            merged = {**run.params, **params, "resumed": int(run.params.get("resumed", 0)) + 1}
            c.execute(
                "UPDATE runs SET status = 'queued', error = '', finished_at = NULL, pid = NULL, steps = ?, params = ? WHERE id = ?",
                (json.dumps([s.as_dict() for s in steps]), json.dumps(merged), run_id),
            )

        self._tx(work)
        run = self.get(run_id, refresh=False)
        assert run is not None
        return run

    def update(self, run_id: str, **fields_: Any) -> Run:
        """Set columns of one run (steps as a tuple of StepState, dicts as JSON)."""
        cols, args = [], []
        for key, value in fields_.items():
            if key == "steps":
                value = json.dumps([s.as_dict() for s in value])
            elif key in ("metrics", "params"):
                value = json.dumps(value)
            elif isinstance(value, datetime):
                value = iso_time(value)
            elif key == "demo":
                value = int(value)
            cols.append(f"{key} = ?")
            args.append(value)
        if cols:
            self._tx(lambda c: c.execute(f"UPDATE runs SET {', '.join(cols)} WHERE id = ?", (*args, run_id)))
        run = self.get(run_id, refresh=False)
        assert run is not None
        return run

    def update_step(self, run_id: str, name: str, **changes: Any) -> Run:
        """Change one step in place, in a transaction (its siblings stay as stored)."""

        def work(c: sqlite3.Connection) -> None:
            r = c.execute("SELECT steps FROM runs WHERE id = ?", (run_id,)).fetchone()
            steps = [StepState.from_dict(s) for s in json.loads(r["steps"])]
            steps = [replace(s, **changes) if s.name == name else s for s in steps]
            c.execute("UPDATE runs SET steps = ? WHERE id = ?", (json.dumps([s.as_dict() for s in steps]), run_id))

        self._tx(work)
        run = self.get(run_id, refresh=False)
        assert run is not None
        return run

    def finish(self, run_id: str, status: str, error: str = "", only_if_active: bool = False) -> Run:
        """Set a final status; a step still "running" becomes "failed" with the reason."""

        def work(c: sqlite3.Connection) -> None:
            r = c.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
            if only_if_active and r["status"] not in ACTIVE_STATES:
                return
            note = "cancelled" if status == "cancelled" else (error or status)
            steps = [replace(s, status="failed", message=note, finished_at=now_utc()) if s.status == "running" else s
                     for s in _row_to_run(r).steps]
            c.execute(
                "UPDATE runs SET status = ?, error = ?, finished_at = ?, steps = ? WHERE id = ?",
                (status, error, iso_time(now_utc()), json.dumps([s.as_dict() for s in steps]), run_id),
            )

        self._tx(work)
        run = self.get(run_id, refresh=False)
        assert run is not None
        return run

    def append_event(self, run_id: str, event: dict) -> None:
        """One JSON line; a single ``write`` of a line under PIPE_BUF keeps lines whole when
        the worker and a reader (marking a death) both append."""
        path = self.events_path(run_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"t": iso_time(now_utc()), **event}, default=str) + "\n"
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line)
