"""When a retraining is due: every N days, or after K new operator decisions (the seeds'
monthly automation, made a setting). Pure decision logic over the run store and the review
store, so the TUI, `sreconsole pipeline run --if-due` (cron) and tests share it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Due:
    trigger: str  # "schedule" | "decisions"
    reason: str


def due(settings, runs, now: datetime, model: str = "trm") -> Due | None:
    """The trigger and reason if a run of ``model`` should start now, else None. Nothing is
    due while a run of the model is active, or when both schedules are off (0)."""
    every_days = settings.pipeline.retrain_every_days
    after = settings.pipeline.retrain_after_decisions
    if every_days <= 0 and after <= 0:
        return None
    if runs.active_run(model) is not None:
        return None
    last = runs.last_succeeded(model)
    since = (last.finished_at or last.created_at) if last is not None else None
    if after > 0:
        new = _decisions_since(settings, since)
        if new >= after:
            return Due("decisions", f"{new} operator decisions since the last run (setting: {after})")
    if every_days > 0:
        if since is None:
            return Due("schedule", "no model has been trained yet")
        if now - since >= timedelta(days=every_days):
            return Due("schedule", f"the last run finished {(now - since).days} days ago (setting: every {every_days} days)")
    return None


def _decisions_since(settings, since: datetime | None) -> int:
    from sreconsole.review.paths import review_store_path

    path = review_store_path(settings)
    if not path.exists():
        return 0
    from sreconsole.review.store import ReviewStore

    store = ReviewStore(path)
    try:
        return len(store.decisions(since))
    finally:
        store.close()
