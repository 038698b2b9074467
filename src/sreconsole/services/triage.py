"""Triage for the TUI and the CLI: the engine built from settings, once per process.

Training and evaluation live in :mod:`sreconsole.triage.training` and
:mod:`sreconsole.triage.evaluation`; the names the CLI calls are re-exported here so that
the command line reaches triage through this facade like the panes do. Heavy pieces (the
embedding model, MLX, DuckDB) load on first use, never at import.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timezone

from sreconsole.config import Settings
from sreconsole.domain.alerts import Alert
__all__ = ["TrainReport", "TriageService", "alert_from_row", "evaluate", "read_rows", "train_trm"]

_LAZY = {"alert_from_row": "evaluation", "evaluate": "evaluation", "read_rows": "evaluation", "TrainReport": "training", "train_trm": "training"}


def __getattr__(name: str):
    """The CLI's names, imported when first asked for: the console builds a TriageService
    at start-up and needs neither training nor evaluation for its first paint."""
    if name not in _LAZY:
        raise AttributeError(name)
    import importlib

    return getattr(importlib.import_module(f"sreconsole.triage.{_LAZY[name]}"), name)


class TriageService:
    """One engine per process, built lazily in a worker (loading the model takes seconds)."""

    def __init__(self, settings: Settings, knowledge=None, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        self.settings = settings
        self.knowledge = knowledge
        self.clock = clock
        self._engine = None
        self._lock = threading.Lock()
        self.error = ""

    def engine(self):
        from sreconsole.knowledge.embed_cache import make_embed
        from sreconsole.triage.engine import TriageEngine
        from sreconsole.triage.models import load_catalog_for, model_dir

        with self._lock:
            if self._engine is None:
                store = None
                if self.knowledge is not None and self.settings.knowledge.enabled:
                    try:
                        self.knowledge.prepare()
                        if self.knowledge.path.exists():
                            store = self.knowledge.knowledge_base()
                    except Exception as exc:  # noqa: BLE001 - triage works without retrieval
                        self.error = f"knowledge base unavailable: {exc}"
                self._engine = TriageEngine.load(
                    load_catalog_for(self.settings),
                    model_dir(self.settings),
                    embed=make_embed(self.settings),
                    store=store,
                    high=self.settings.triage.high_threshold,
                    low=self.settings.triage.low_threshold,
                    clock=self.clock,
                )
            return self._engine

    def model_version(self) -> str:
        """The version of the model proposals are made with now ('' without one); a
        proposal made with another is stale. Loads the engine on first use."""
        return self.engine().model_version

    def propose(self, alerts: Sequence[Alert]):
        return self.engine().propose_many(alerts)

    def reload(self) -> None:
        """Drop the engine: the next call loads the (possibly newly promoted) model."""
        with self._lock:
            self._engine = None
