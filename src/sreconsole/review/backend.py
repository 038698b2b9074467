"""Where the review queue lives: an SQLite file (the embedded default) or a PostgreSQL
database (``review.store = "postgresql://…"``, for a team on several hosts).

Both backends run the same queue logic (:mod:`~sreconsole.review.queue`,
:mod:`~sreconsole.review.decisions`, :mod:`~sreconsole.review.outcomes`,
:mod:`~sreconsole.review.chain`): those modules are written against the small connection
surface below, which ``sqlite3.Connection`` has and
:class:`sreconsole.review.pg_backend.PgConnection` provides over psycopg 3. What differs is
kept in each backend: how a write transaction is serialised (SQLite's ``BEGIN IMMEDIATE``,
PostgreSQL's transaction-scoped advisory lock), who the audit entry names (the kernel's user,
or the database's authenticated ``session_user``), and how the audit row is written (a plain
``INSERT`` guarded by triggers, or a ``SECURITY DEFINER`` function, so that operators hold no
write rights on the audit table at all).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def is_postgres(location: Any) -> bool:
    """Whether a store location (a path, a setting, a store) names a PostgreSQL database."""
    location = getattr(location, "location", location)
    return isinstance(location, str) and location.strip().lower().startswith(POSTGRES_SCHEMES)


class DatabaseLocation(str):
    """A PostgreSQL URI where callers hold the store's location: it is a string (what
    :class:`~sreconsole.review.store.ReviewStore` dispatches on), and answers the two
    questions callers ask of a file — ``exists()`` (a server's queue is there: opening it says
    if it is not) and ``expanduser()``."""

    def exists(self) -> bool:
        return True

    def expanduser(self) -> DatabaseLocation:
        return self


def location_of(setting: str, default: Path) -> Path | DatabaseLocation:
    """``review.store`` as a location: a PostgreSQL URI as given, else a path ('' → ``default``)."""
    if is_postgres(setting):
        return DatabaseLocation(setting.strip())
    return Path(setting).expanduser() if setting else default


class Cursor(Protocol):
    rowcount: int
    lastrowid: int | None

    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...
    def __iter__(self) -> Iterator[Any]: ...


class Connection(Protocol):
    """What the queue modules use of a connection: ``?`` placeholders, rows readable by
    column name and position (``sqlite3.Row``), ``BEGIN IMMEDIATE`` for a write transaction,
    and the two attributes the chain reads (``audit_key``, ``appended``). A connection may
    also have ``write_audit(entry, values)`` (the chain then hands it the row instead of
    inserting it) and ``audit_columns()``/``trigger_names()`` (the verifier asks it instead
    of SQLite's catalogue)."""

    audit_key: bytes | None
    appended: list[dict]
    in_transaction: bool

    def execute(self, sql: str, params: Sequence[Any] | Iterable[Any] = ...) -> Cursor: ...
    def close(self) -> None: ...
