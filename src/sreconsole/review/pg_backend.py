"""The review queue on PostgreSQL (psycopg 3): ``review.store = "postgresql://…"``.

The queue's logic is the SQLite store's, unchanged: :class:`PgReviewStore` is a
:class:`~sreconsole.review.store.ReviewStore` whose connection is a :class:`PgConnection`,
which speaks the surface the queue modules use (``?`` placeholders, rows by name and
position, ``BEGIN IMMEDIATE``). What PostgreSQL does differently:

* **One writer at a time**: ``BEGIN IMMEDIATE`` becomes ``BEGIN`` and a transaction-scoped
  advisory lock (:data:`~sreconsole.review.pg_schema.LOCK_KEY`), so the compare-and-set and
  the chain's next entry decide against the newest committed state (READ COMMITTED takes a
  fresh snapshot per statement). A read is one ``REPEATABLE READ READ ONLY`` snapshot.
* **The audit row goes through ``audit_append``**, a ``SECURITY DEFINER`` function
  (:mod:`~sreconsole.review.pg_schema`): operators hold no write right on the audit table,
  and the function refuses an entry that does not name the session's authenticated user.
* **Identity**: the entry's ``user`` and a proposal's ``decided_by`` are the database's
  ``session_user`` (peer or certificate authentication says who connected); the OS user
  the console runs as is recorded beside it (``identity.os_user``), and a different name
  the caller gave is kept as a claim, never as the name.
* **LISTEN/NOTIFY**: each appended entry is announced at commit; :meth:`PgReviewStore.wait_for_change`
  returns as soon as another console's change is committed.

PostgreSQL text cannot hold NUL characters: text with one is refused in one line (SQLite
stores it as given). The witness file and the system log anchors are SQLite's: on
PostgreSQL the trail lives in a server the operators cannot write to directly.
"""

from __future__ import annotations

import re
import select
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from sreconsole.review import pg_schema
from sreconsole.review.chain import COLUMNS, JSON_FIELDS, canonical
from sreconsole.review.errors import BUSY_MESSAGE, ReadOnlyStore, ReviewError, StoreBusy
from sreconsole.review.records import Actor
from sreconsole.review.store import ReviewStore

T = TypeVar("T")

_QUOTE_USER = re.compile(r"(?<![\w\"'.])user(?![\w\"'])")
_INSERT_PROPOSAL = re.compile(r"^\s*INSERT INTO proposals\b", re.IGNORECASE)


def redacted(dsn: str) -> str:
    """The URI without its password, for messages."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.rsplit("@", 1)
    host = netloc[-1]
    user = (parts.username or "") + ":***"
    return urlunsplit((parts.scheme, f"{user}@{host}", parts.path, parts.query, parts.fragment))


@lru_cache(maxsize=512)
def translate(sql: str, with_params: bool) -> tuple[str, bool]:
    """SQLite's spelling of a statement in PostgreSQL's: ``?`` → ``%s`` (``%`` doubled when
    there are parameters), the ``user`` column quoted (a reserved word there), and an insert
    into proposals given ``RETURNING id`` for ``lastrowid``. Statements are the store's own
    (parameters are never spliced in), so a textual rewrite is exact."""
    text = _QUOTE_USER.sub('"user"', sql)
    if with_params:
        text = text.replace("%", "%%").replace("?", "%s")
    returning = bool(_INSERT_PROPOSAL.match(text))
    if returning:
        text += " RETURNING id"
    return text, returning


class Row(tuple):
    """A result row readable by position and by column name, as ``sqlite3.Row``."""

    names: dict[str, int]

    def __new__(cls, values: Sequence[Any], names: dict[str, int]) -> Row:
        row = super().__new__(cls, values)
        row.names = names
        return row

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self.names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self.names)


class _Cursor:
    def __init__(self, cur: Any, returning: bool) -> None:
        self._cur = cur
        self.lastrowid: int | None = None
        self.rowcount = cur.rowcount
        names = {d.name: i for i, d in enumerate(cur.description or ())}
        self._names = names
        if returning:
            self.lastrowid = int(cur.fetchone()[0])

    def _row(self, values: Any) -> Row | None:
        return None if values is None else Row(values, self._names)

    def fetchone(self) -> Row | None:
        return self._row(self._cur.fetchone())

    def fetchall(self) -> list[Row]:
        return [Row(v, self._names) for v in self._cur.fetchall()]

    def __iter__(self) -> Iterator[Row]:
        return iter(self.fetchall())


class PgConnection:
    """A psycopg connection (autocommit; transactions are explicit) with the connection
    surface of :mod:`sreconsole.review.backend`."""

    def __init__(self, conn: Any, *, read_only: bool = False) -> None:
        self.raw = conn
        self.read_only = read_only
        self.audit_key: bytes | None = None
        self.appended: list[dict] = []
        self.session_user = str(conn.execute("SELECT session_user").fetchone()[0])

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def execute(self, sql: str, params: Sequence[Any] | Iterable[Any] = ()) -> _Cursor:
        head = sql.strip().upper()
        if head == "BEGIN IMMEDIATE":
            self.raw.execute("BEGIN")
            self.raw.execute("SELECT pg_advisory_xact_lock(%s)", (pg_schema.LOCK_KEY,))
            return _Cursor(self.raw.cursor(), False)
        if head == "BEGIN":
            self.raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            return _Cursor(self.raw.cursor(), False)
        values = tuple(params)
        text, returning = translate(sql, bool(values))
        cur = self.raw.cursor()
        cur.execute(text, values if values else None)
        return _Cursor(cur, returning)

    def write_audit(self, entry: dict) -> None:
        """The chain's entry, through the ``SECURITY DEFINER`` function (operators cannot
        insert into the audit table themselves)."""
        values = [None if entry.get(k) is None else canonical(entry[k]) if k in JSON_FIELDS else entry[k] for k in COLUMNS]
        self.raw.execute(f"SELECT audit_append({', '.join(['%s'] * len(values))})", values)

    def audit_columns(self) -> tuple[str, ...]:
        return COLUMNS

    def proposal_columns(self) -> set[str]:
        return _proposal_columns(self.raw)

    def trigger_names(self) -> set[str]:
        rows = self.raw.execute(
            "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND NOT t.tgisinternal", (pg_schema.SCHEMA_NAME,)).fetchall()
        return {str(r[0]) for r in rows}

    def close(self) -> None:
        self.raw.close()


def connect(dsn: str, *, read_only: bool = False, connect_timeout_s: float = 10.0) -> PgConnection:
    """A connection with the queue's schema first on its search path. psycopg errors become
    one :class:`ReviewError` line that names the database (password redacted)."""
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - a dependency
        raise ReviewError("review.store names PostgreSQL but psycopg is not installed (pip install 'psycopg[binary]>=3.2')") from exc
    try:
        raw = psycopg.connect(dsn, autocommit=True, connect_timeout=max(1, int(connect_timeout_s)),
                              application_name="sreconsole")
        raw.execute(f"SET search_path TO {pg_schema.SCHEMA_NAME}, pg_catalog")
        return PgConnection(raw, read_only=read_only)
    except psycopg.Error as exc:
        raise ReviewError(f"review store {redacted(dsn)}: {_one_line(exc)}") from exc


class PgReviewStore(ReviewStore):
    """The queue in a PostgreSQL database initialised by :func:`init_db`. Safe between
    threads (calls are serialised on one connection) and between hosts."""

    def __init__(
        self, path: Path | str, *, busy_timeout_s: float = 5.0, read_only: bool = False,
        audit_key: bytes | None = None, **file_options: Any,
    ) -> None:
        """``ReviewStore(dsn, ...)`` lands here with the SQLite store's arguments;
        ``file_options`` (``synchronous``, ``witness``, ``syslog``, ``share_group``) are
        about a database file and mean nothing to a server: PostgreSQL's own settings
        (``synchronous_commit``, roles) govern durability and sharing."""
        del file_options
        self.location = str(path).strip()
        self.path = redacted(self.location)  # type: ignore[assignment]  # for messages: a URI, never opened as a file
        self.busy_timeout_s = max(float(busy_timeout_s), 0.0)
        self.read_only = bool(read_only)
        self.audit_key = audit_key
        self.share_group = ""
        self.anchor_error = ""
        self._lock = threading.RLock()
        self._witness = None
        self._syslog = None
        self._listener: Any = None
        self._conn: Any = connect(self.location, read_only=self.read_only)
        self._conn.audit_key = audit_key
        self.db_user = self._conn.session_user
        try:
            self._check_schema()
            self._conn.raw.execute(f"SET lock_timeout = {int(self.busy_timeout_s * 1000) or 1}")
        except BaseException:
            self.close()
            raise

    def db_groups(self) -> frozenset[str]:
        """The database roles the session's user is a member of, directly or through others:
        what the approval policy's ``groups`` name on PostgreSQL, beside the Unix groups."""
        rows = self._read(lambda c: c.raw.execute(
            "WITH RECURSIVE up(oid) AS (SELECT oid FROM pg_roles WHERE rolname = session_user"
            " UNION SELECT m.roleid FROM pg_auth_members m JOIN up ON m.member = up.oid)"
            " SELECT r.rolname FROM pg_roles r JOIN up ON r.oid = up.oid").fetchall())
        return frozenset(str(r[0]) for r in rows)

    def _check_schema(self) -> None:
        found = self._conn.raw.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = %s AND tablename IN ('proposals', 'audit', 'audit_head')",
            (pg_schema.SCHEMA_NAME,)).fetchone()[0]
        if found != 3:
            raise ReviewError(f"the review store {self.path} has no review queue yet: an administrator runs"
                              f" `sreconsole review init-db` on it first")
        lacking = [column for column, _ in pg_schema.UPGRADES if column not in _proposal_columns(self._conn.raw)]
        if lacking:
            raise ReviewError(f"the review store {self.path} was made by an older sreconsole (no {lacking[0]} column):"
                              f" an administrator runs `sreconsole review init-db` on it again to upgrade it")

    def _actor(self, operator: Any) -> Actor:
        """The database's authenticated user is the name; the OS user the console runs as
        and any other name given are recorded beside it."""
        given = Actor.of(operator)
        identity = dict(given.identity or {})
        identity["db_user"] = self.db_user
        if operator is not None:
            identity["os_user"] = given.user
        claim = given.claim or (given.user if operator is not None and given.user != self.db_user else "")
        return Actor(self.db_user, given.client, identity, claim)

    def close(self) -> None:
        with self._lock:
            for name in ("_conn", "_listener"):
                conn = getattr(self, name, None)
                if conn is not None:
                    try:
                        conn.close()
                    finally:
                        setattr(self, name, None)

    def _retry(self, attempt: Callable[[], T]) -> T:
        import psycopg
        from psycopg import errors

        try:
            return attempt()
        except (errors.LockNotAvailable, errors.QueryCanceled) as exc:
            raise StoreBusy(BUSY_MESSAGE) from exc
        except errors.ReadOnlySqlTransaction as exc:
            raise ReadOnlyStore(f"the review store {self.path} is open read-only here: nothing was changed") from exc
        except psycopg.Error as exc:
            raise ReviewError(f"review store {self.path}: {_one_line(exc)}") from exc

    # -- hearing of others' changes ------------------------------------------------------------

    def wait_for_change(self, timeout_s: float) -> bool:
        """Block until another connection commits an audit entry (``NOTIFY``), or until
        ``timeout_s``; whether one came. The first call starts listening (a change committed
        before it is not heard: read :meth:`changed_since` after it)."""
        if self._listener is None:
            self._listener = connect(self.location, read_only=True)
            self._listener.raw.execute(f"LISTEN {pg_schema.CHANNEL}")
        raw = self._listener.raw
        heard = False
        for _ in raw.notifies(timeout=max(timeout_s, 0.0), stop_after=1):
            heard = True
        # Several entries may have been committed at once: drain what already arrived.
        while select.select([raw.fileno()], [], [], 0)[0]:
            raw.execute("SELECT 1")
            if not raw.notifies(timeout=0):
                break
        return heard


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


# -- reading the trail (audit verify / export) -----------------------------------------------------

def open_snapshot(dsn: str) -> PgConnection:
    """A read-only connection inside one snapshot of the chain and the queue."""
    conn = connect(dsn, read_only=True)
    conn.execute("BEGIN")
    return conn


# -- init-db -----------------------------------------------------------------------------------------

def init_db(dsn: str, *, operators: Iterable[str] = (), readers: Iterable[str] = ()) -> list[str]:
    """Create the roles, the schema, its tables, triggers and functions, and the grants, in
    one transaction; make ``operators`` and ``readers`` (existing roles, or new ``LOGIN``
    roles without a password: peer or certificate auth) members of their group. Run by an
    administrator (a superuser, or a role that may create roles and is a member of
    ``sreconsole_owner``). Idempotent: the roles and grants are re-applied, an existing schema
    is kept. What was done, line by line."""
    from psycopg import sql

    conn = connect(dsn)
    done: list[str] = []
    raw = conn.raw
    try:
        with raw.transaction():
            for role in pg_schema.ROLES:
                if not raw.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                    raw.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(role)))
                    done.append(f"created role {role}")
            me = conn.session_user
            if not raw.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (me,)).fetchone()[0]:
                raw.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(pg_schema.OWNER), sql.Identifier(me)))
            exists = raw.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (pg_schema.SCHEMA_NAME,)).fetchone()
            if not exists:
                raw.execute(sql.SQL("CREATE SCHEMA {} AUTHORIZATION {}").format(
                    sql.Identifier(pg_schema.SCHEMA_NAME), sql.Identifier(pg_schema.OWNER)))
                raw.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(pg_schema.OWNER)))
                for statement in (*pg_schema.TABLES, *pg_schema.TRIGGERS, pg_schema.APPEND):
                    raw.execute(statement)
                raw.execute("RESET ROLE")
                done.append(f"created schema {pg_schema.SCHEMA_NAME} (tables proposals, audit, audit_head)")
            done += _upgrade(raw)
            for statement in pg_schema.GRANTS:
                raw.execute(statement)
            for group, members in ((pg_schema.OPERATOR, operators), (pg_schema.READER, readers)):
                for member in members:
                    if not raw.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (member,)).fetchone():
                        raw.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(member)))
                        done.append(f"created login role {member}")
                    raw.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(member)))
                    done.append(f"{member} is a member of {group}")
    except ReviewError:
        raise
    except Exception as exc:
        raise ReviewError(f"review init-db on {redacted(dsn)}: {_one_line(exc)}") from exc
    finally:
        conn.close()
    return done


def _proposal_columns(raw: Any) -> set[str]:
    return {r[0] for r in raw.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = 'proposals'",
        (pg_schema.SCHEMA_NAME,)).fetchall()}


def _upgrade(raw: Any) -> list[str]:
    """Bring a queue made by an older sreconsole up to this layout (:data:`pg_schema.UPGRADES`),
    as its owner, inside init-db's transaction; what was added."""
    from psycopg import sql

    have = _proposal_columns(raw)
    missing = [(column, steps) for column, steps in pg_schema.UPGRADES if column not in have]
    if not missing:
        return []
    raw.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(pg_schema.OWNER)))
    for _, steps in missing:
        for statement in steps:
            raw.execute(statement)
    raw.execute("RESET ROLE")
    return [f"added column proposals.{column}" for column, _ in missing]


# -- review migrate ------------------------------------------------------------------------------

def migrate(source: Path | str, dsn: str) -> tuple[int, int]:
    """Copy an SQLite queue and its audit trail into an empty PostgreSQL queue (made by
    :func:`init_db`), in one transaction: the rows with their ids, the entries exactly as
    they were hashed (same seq, hashes, MACs), the head, and the id sequence moved past the
    last row. The source is verified first and must be intact; the target is verified after.
    Run by the administrator (entries name their original deciders, which only the owner may
    write). ``(proposals, entries)`` copied."""
    import sqlite3

    from sreconsole.review import audit, files

    path = Path(source).expanduser()
    checked = audit.verify(path)
    if not checked.ok:
        raise ReviewError(f"{path} does not verify ({checked.reason}): nothing was copied")
    entries = list(audit.export(path))
    reader = files.open_read_only(path)
    try:
        reader.row_factory = sqlite3.Row
        rows = reader.execute("SELECT * FROM proposals ORDER BY id").fetchall()
    finally:
        reader.close()
    conn = connect(dsn)
    raw = conn.raw
    try:
        wanted = [r[0] for r in raw.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = 'proposals'"
            " ORDER BY ordinal_position", (pg_schema.SCHEMA_NAME,)).fetchall()]
        with raw.transaction():
            if not raw.execute("SELECT rolsuper FROM pg_roles WHERE rolname = session_user").fetchone()[0]:
                raw.execute(f"SET LOCAL ROLE {pg_schema.OWNER}")
            raw.execute("SELECT pg_advisory_xact_lock(%s)", (pg_schema.LOCK_KEY,))
            held = raw.execute("SELECT (SELECT count(*) FROM proposals) + (SELECT count(*) FROM audit)").fetchone()[0]
            if held:
                raise ReviewError(f"{redacted(dsn)} already holds a review queue: review migrate copies into an empty one only")
            for row in rows:
                columns = [c for c in wanted if c in row.keys()]
                raw.execute(f"INSERT INTO proposals ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",
                            [row[c] for c in columns])
            quoted = ", ".join('"user"' if c == "user" else c for c in COLUMNS)
            for entry in entries:
                values = [None if entry.get(k) is None else canonical(entry[k]) if k in JSON_FIELDS else entry[k] for k in COLUMNS]
                raw.execute(f"INSERT INTO audit ({quoted}) VALUES ({', '.join(['%s'] * len(COLUMNS))})", values)
            if entries:
                raw.execute("INSERT INTO audit_head (id, seq, hash) VALUES (1, %s, %s)", (entries[-1]["seq"], entries[-1]["hash"]))
            raw.execute("SELECT setval('proposals_id_seq', GREATEST((SELECT max(id) FROM proposals), 1), (SELECT count(*) > 0 FROM proposals))")
    except ReviewError:
        raise
    except Exception as exc:
        raise ReviewError(f"review migrate to {redacted(dsn)}: {_one_line(exc)}; nothing was copied") from exc
    finally:
        conn.close()
    after = audit.verify(dsn)
    if not after.ok:
        raise ReviewError(f"the copy in {redacted(dsn)} does not verify: {after.reason}")
    return len(rows), len(entries)
