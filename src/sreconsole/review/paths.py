"""Where the review store lives, from settings: one answer for the console's queue, the
doctor, and the pipeline steps that read past decisions as training data."""

from __future__ import annotations

from pathlib import Path

from sreconsole.config import Settings
from sreconsole.review.backend import DatabaseLocation, location_of


def review_store_path(settings: Settings) -> Path | DatabaseLocation:
    """The SQLite file, or the PostgreSQL URI as given (:func:`~sreconsole.review.backend.location_of`)."""
    return location_of(settings.review.store, settings.data_path / "review.sqlite")
