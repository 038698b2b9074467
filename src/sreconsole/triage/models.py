"""Where trained TRM models live and which one is active, and the action catalog a model
names its outputs from: everything triage derives from ``settings.triage`` before it loads
anything.

Kept here, below ``services/`` and ``pipeline/``, so that the pipeline's promote step and
the console's engine agree on one directory layout without either reaching up a layer.
"""

from __future__ import annotations

import os
from pathlib import Path

from sreconsole.config import Settings

ACTIVE = "active"


def models_root(settings: Settings) -> Path:
    return settings.data_path / "models" / "trm"


def model_dir(settings: Settings) -> Path:
    if settings.triage.model_dir:
        return Path(settings.triage.model_dir).expanduser()
    return models_root(settings) / ACTIVE


def load_catalog_for(settings: Settings):
    from sreconsole.triage.catalog import load_catalog

    return load_catalog(Path(settings.triage.catalog).expanduser() if settings.triage.catalog else None)


def activate_model(settings: Settings, target: Path) -> Path:
    """Point ``models/trm/active`` at ``target`` atomically (a symlink swapped by rename), so
    a running TUI never sees half a model."""
    link = models_root(settings) / ACTIVE
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.with_name(f".{ACTIVE}.{os.getpid()}")
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(target.name if target.parent == link.parent else str(target), tmp)
    os.replace(tmp, link)
    return link
