"""The review store's SQLite schema: the proposals table and the migration steps that build
a file up to :data:`SCHEMA_VERSION` (``PRAGMA user_version``).

The store applies the steps in order, each in its own transaction
(:class:`sreconsole.review.store.ReviewStore`); the audit tables come from
:data:`sreconsole.review.chain.SCHEMA` so that they are created in the same first step. A
step is SQL statements and functions of the connection (for what SQL alone cannot say).
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable
from datetime import datetime, timezone

from sreconsole.review import chain, queue
from sreconsole.review.records import ALERT_STATES, STATES

_PROPOSALS = f"""CREATE TABLE proposals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    fingerprint TEXT NOT NULL,
    alertname TEXT NOT NULL,
    namespace TEXT NOT NULL,
    severity TEXT NOT NULL,
    action TEXT NOT NULL,
    title TEXT NOT NULL,
    parameters TEXT NOT NULL,
    command TEXT NOT NULL,
    api TEXT,
    confidence REAL,
    method TEXT NOT NULL,
    requires_human_review INTEGER NOT NULL,
    review_reasons TEXT NOT NULL,
    risk TEXT NOT NULL,
    reversible INTEGER NOT NULL,
    model_version TEXT NOT NULL,
    evidence TEXT NOT NULL,
    alternatives TEXT NOT NULL,
    missing_parameters TEXT NOT NULL,
    notes TEXT NOT NULL,
    labels TEXT NOT NULL,
    annotations TEXT NOT NULL,
    alert_started_at TEXT,
    state TEXT NOT NULL CHECK (state IN ({", ".join(repr(s) for s in STATES)})),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    decided_by TEXT NOT NULL DEFAULT '',
    decided_from TEXT NOT NULL DEFAULT '',
    decided_at TEXT,
    reason TEXT NOT NULL DEFAULT '',
    corrected_action TEXT NOT NULL DEFAULT '',
    result TEXT,
    changed_version INTEGER NOT NULL
)"""

def widen_audit_events(c: sqlite3.Connection) -> None:
    """Rebuild the audit table when :data:`sreconsole.review.chain.EVENTS` names events its
    CHECK does not allow yet (SQLite cannot alter a CHECK): the same columns, rows, hashes
    and order, in a table whose CHECK lists the current events, with its indexes and every
    trigger recreated as they were. It works from the file's own schema, not from
    :data:`~sreconsole.review.chain.SCHEMA`, so it is right at any step; idempotent, so a
    later step that adds events calls it again."""
    sql = c.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'audit'").fetchone()[0]
    if all(repr(e) in sql for e in chain.EVENTS):
        return
    allowed = ", ".join(repr(e) for e in chain.EVENTS)
    widened, n = re.subn(r"CHECK \(event IN \([^)]*\)\)", f"CHECK (event IN ({allowed}))", sql, count=1)
    if n != 1:
        raise sqlite3.DatabaseError("the audit table has no CHECK on its events to widen")
    # Every trigger goes while the table is rebuilt (one on audit_head reads the audit table),
    # and comes back as it was.
    kept = c.execute("SELECT type, name, sql FROM sqlite_master WHERE type IN ('trigger', 'index') AND sql IS NOT NULL"
                     " AND (tbl_name = 'audit' OR type = 'trigger') ORDER BY type DESC, name").fetchall()
    for kind, name, _ in kept:
        c.execute(f'DROP {kind.upper()} IF EXISTS "{name}"')
    columns = ", ".join(f'"{row[1]}"' for row in c.execute("PRAGMA table_info(audit)"))
    c.execute(re.sub(r"^\s*CREATE TABLE\s+\"?audit\"?\s*\(", "CREATE TABLE audit_widened (", widened, count=1))
    c.execute(f"INSERT INTO audit_widened ({columns}) SELECT {columns} FROM audit ORDER BY seq")
    c.execute("DROP TABLE audit")
    c.execute("ALTER TABLE audit_widened RENAME TO audit")
    for _, _, statement in kept:
        c.execute(statement)


def _adopt_existing(c: sqlite3.Connection) -> None:
    queue.adopt_existing(c, at=datetime.now(timezone.utc))


Step = str | Callable[[sqlite3.Connection], None]

MIGRATIONS: list[tuple[Step, ...]] = [
    (
        _PROPOSALS,
        # At most one pending proposal per alert: a newer one with another action supersedes
        # it, and the same action refreshes it. The database enforces what the code intends.
        "CREATE UNIQUE INDEX proposals_one_pending ON proposals(fingerprint) WHERE state = 'pending'",
        "CREATE INDEX proposals_pair ON proposals(fingerprint, action, id)",
        "CREATE INDEX proposals_state ON proposals(state, id)",
        "CREATE INDEX proposals_changed ON proposals(changed_version)",
        "CREATE INDEX proposals_decided ON proposals(decided_at) WHERE decided_at IS NOT NULL",
        "CREATE INDEX proposals_pending_age ON proposals(created_at) WHERE state = 'pending'",
        *chain.SCHEMA,
    ),
    (
        # One pending proposal per action and target, and the live state of its alerts.
        "ALTER TABLE proposals ADD COLUMN target TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE proposals ADD COLUMN alerts TEXT NOT NULL DEFAULT '[]'",
        "ALTER TABLE proposals ADD COLUMN alert_source TEXT NOT NULL DEFAULT ''",
        "ALTER TABLE proposals ADD COLUMN alert_state TEXT NOT NULL DEFAULT 'unknown'"
        f" CHECK (alert_state IN ({', '.join(repr(s) for s in ALERT_STATES)}))",
        "ALTER TABLE proposals ADD COLUMN alert_state_since TEXT",
        widen_audit_events,  # merge and alert_state entries
        _adopt_existing,
        "CREATE UNIQUE INDEX proposals_one_pending_target ON proposals(action, target) WHERE state = 'pending'",
        "CREATE INDEX proposals_watched ON proposals(alert_source) WHERE state = 'pending'",
    ),
]
"""Schema steps; step ``i`` takes ``user_version`` from ``i`` to ``i + 1``. Append, never edit:
files already on bastion hosts were built by the existing steps."""

SCHEMA_VERSION = len(MIGRATIONS)
