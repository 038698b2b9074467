"""Shared fixtures: isolated config and data dirs, a fixed clock, one app factory.

Snapshots live in ``snapshots/`` at the top of the repository (not ``tests/__snapshots__``):
the SVG extension of pytest-textual-snapshot is pointed there below.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
import pytest_textual_snapshot

from sreconsole.config import Settings, load_settings
from sreconsole.domain.operator import Operator

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT_DIR = ROOT / "snapshots"
FIXED_NOW = datetime(2026, 11, 23, 18, 0, 30, tzinfo=timezone.utc)
DEMO_EPOCH = datetime(2026, 11, 23, 18, 0, 0, tzinfo=timezone.utc)


class ProjectSVGExtension(pytest_textual_snapshot.SVGImageExtension):
    @classmethod
    def dirname(cls, *, test_location) -> str:
        return str(SNAPSHOT_DIR / test_location.basename)


# snap_compare looks the extension up in its module at call time.
pytest_textual_snapshot.SVGImageExtension = ProjectSVGExtension


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads the developer's config or writes outside its tmp dir."""
    for name in list(__import__("os").environ):
        if name.startswith("SRECONSOLE_") or name in ("SSH_CONNECTION", "SSH_CLIENT"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data-home"))
    monkeypatch.setenv("SRECONSOLE_DATA_DIR", str(tmp_path / "data"))
    # A test's audit entries stay out of the host's system log (tests that check it listen
    # on a socket of their own).
    monkeypatch.setenv("SRECONSOLE_REVIEW_AUDIT_SYSLOG", "")
    # The knowledge panels load in threads (model, DuckDB) and would make every pane test
    # slower and its snapshot timing-dependent; tests of those panels switch them back on.
    monkeypatch.setenv("SRECONSOLE_KNOWLEDGE_ENABLED", "0")
    # Triage too: snapshots stay deterministic, and tests that want it turn it on.
    monkeypatch.setenv("SRECONSOLE_TRIAGE_ENABLED", "0")
    return tmp_path


@pytest.fixture(scope="session")
def embedder():
    """The shipped MiniLM, loaded once for the whole run (it takes seconds on this machine)."""
    from sreconsole.knowledge.embedder import Embedder

    return Embedder()


@pytest.fixture
def settings() -> Settings:
    return load_settings()


@pytest.fixture
def make_demo_app(settings: Settings):
    """The app on the demo cluster at a fixed moment, as the CLI would build it."""
    from sreconsole.tui.app import make_app

    def factory(s: Settings | None = None, now: datetime = FIXED_NOW):
        return make_app(
            s or settings,
            clock=lambda: now,
            demo_epoch=DEMO_EPOCH,
            operator=Operator("alice", "10.1.2.3"),
        )

    return factory


async def wait_for_polls(app, pilot, n: int = 1) -> None:
    """Wait until the app has applied ``n`` polls of its alert source."""
    for _ in range(200):
        if app.polls >= n:
            await pilot.pause()
            return
        await pilot.pause(0.02)
    raise AssertionError(f"app did not finish {n} poll(s)")


# -- the real small language model (the `gemma` extra) ---------------------------------------

GEMMA = "gemma3-270m"


def gemma_missing() -> str:
    """Why the Gemma tests cannot run here, or "" when they can: the `gemma` extra
    (`pip install 'sreconsole[gemma]'`, part of the test extra, so CI has it)."""
    import importlib.util

    from sreconsole.models.registry import KNOWN

    wanted = [KNOWN[GEMMA].module, "gguf", "tokenizers"]
    missing = [m for m in wanted if importlib.util.find_spec(m) is None]
    return f"the gemma extra is not installed (pip install 'sreconsole[gemma]'): no {', '.join(missing)}" if missing else ""


@pytest.fixture(scope="session")
def gemma_gguf(tmp_path_factory) -> Path:
    """The package's GGUF, assembled from its chunks once per session (checksum checked)."""
    if why := gemma_missing():
        pytest.skip(why)
    import importlib

    from sreconsole.models.prepare import assemble
    from sreconsole.models.registry import KNOWN

    module = importlib.import_module(KNOWN[GEMMA].module)
    target = tmp_path_factory.mktemp("gemma-gguf") / module.MODEL_NAME
    assert assemble(module, target) == module.EXPECTED_SHA256
    return target


@pytest.fixture(scope="session")
def gemma_data_dir(tmp_path_factory) -> Path:
    """A data dir in which `models prepare gemma3-270m` ran, once per session (a minute or
    two): tests link its model into their own data dir (:func:`link_gemma`)."""
    if why := gemma_missing():
        pytest.skip(why)
    from sreconsole.models.prepare import prepare

    data = tmp_path_factory.mktemp("gemma-data")
    prepare(data, GEMMA)
    return data


def link_gemma(gemma_data_dir: Path, data_path: Path) -> Path:
    """Make the session's prepared model appear prepared under ``data_path`` too."""
    from sreconsole.models.registry import llm_root, model_dir

    llm_root(data_path).mkdir(parents=True, exist_ok=True)
    link = model_dir(data_path, GEMMA)
    if not link.exists():
        link.symlink_to(model_dir(gemma_data_dir, GEMMA), target_is_directory=True)
    return link


PG_ROLES = ("alice", "bob", "carol", "rita", "crash", *(f"op{n}" for n in range(8)))
"""The login roles the PostgreSQL tests use (tests/pgharness.py maps the OS user to them)."""


@pytest.fixture(scope="session")
def postgres():
    """One real PostgreSQL server for the session (tests/pgharness.py); skipped, saying why,
    only where Debian's postgresql package is not installed (`make test` installs it)."""
    from pgharness import Postgres, bin_dir

    if bin_dir() is None:
        pytest.skip("PostgreSQL is not installed: apt-get install postgresql (make test does)")
    server = Postgres(PG_ROLES).start()
    try:
        yield server
    finally:
        server.stop()
