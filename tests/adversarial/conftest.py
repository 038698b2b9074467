"""Fixtures of the adversarial suite: a real Alertmanager per test (Debian's
``prometheus-alertmanager``, started by ``tests/harness.py``) and the app against it."""

from __future__ import annotations

import pytest

from harness import Alertmanager


@pytest.fixture
def alertmanager(tmp_path):
    """A fresh Alertmanager: each attack sees only its own alerts and silences."""
    am = Alertmanager(tmp_path / "alertmanager")
    am.start()
    yield am
    am.stop()


@pytest.fixture
def live_settings(alertmanager):
    """Settings for the app on that Alertmanager, polling every second."""
    from sreconsole.config import load_settings

    def factory(**overrides):
        return load_settings(overrides={"alertmanager.url": alertmanager.url, "poll_interval_s": 1.0, **overrides})

    return factory

