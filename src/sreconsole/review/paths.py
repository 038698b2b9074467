"""Where the review store lives, from settings: one answer for the console's queue, the
doctor, and the pipeline steps that read past decisions as training data."""

from __future__ import annotations

from pathlib import Path

from sreconsole.config import Settings


def review_store_path(settings: Settings) -> Path:
    if settings.review.store:
        return Path(settings.review.store).expanduser()
    return settings.data_path / "review.sqlite"
