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

from sreconsole.review import chain, effect, queue
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

def widen_check(c: sqlite3.Connection, table: str, column: str, allowed: tuple[str, ...]) -> None:
    """Rebuild ``table`` when the CHECK that lists the values of ``column`` does not allow all
    of ``allowed`` yet (SQLite cannot alter a CHECK): the same columns, rows and order, in a
    table whose CHECK lists ``allowed``, with its indexes and every trigger recreated as they
    were (an audit table's hashes do not change: its rows are copied as they are). It works
    from the file's own schema, not from the statements of step 1, so it is right at any
    step; idempotent, so a later step that adds values calls it again."""
    sql = c.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)).fetchone()[0]
    check = re.compile(rf"CHECK \({column} IN \(([^)]*)\)\)")
    found = check.search(sql)
    if found is None:
        raise sqlite3.DatabaseError(f"the {table} table has no CHECK on its {column} values to widen")
    if set(allowed) <= set(re.findall(r"'([^']*)'", found.group(1))):
        return
    widened = check.sub(f"CHECK ({column} IN ({', '.join(repr(v) for v in allowed)}))", sql, count=1)
    # Every trigger goes while the table is rebuilt (one on audit_head reads the audit table),
    # and comes back as it was.
    kept = c.execute("SELECT type, name, sql FROM sqlite_master WHERE type IN ('trigger', 'index') AND sql IS NOT NULL"
                     " AND (tbl_name = ? OR type = 'trigger') ORDER BY type DESC, name", (table,)).fetchall()
    for kind, name, _ in kept:
        c.execute(f'DROP {kind.upper()} IF EXISTS "{name}"')
    columns = ", ".join(f'"{row[1]}"' for row in c.execute(f"PRAGMA table_info({table})"))
    c.execute(re.sub(rf"^\s*CREATE TABLE\s+\"?{table}\"?\s*\(", f"CREATE TABLE {table}_widened (", widened, count=1))
    c.execute(f"INSERT INTO {table}_widened ({columns}) SELECT {columns} FROM {table} ORDER BY rowid")
    c.execute(f"DROP TABLE {table}")
    c.execute(f"ALTER TABLE {table}_widened RENAME TO {table}")
    for _, _, statement in kept:
        c.execute(statement)


def widen_audit_events(c: sqlite3.Connection) -> None:
    """Allow every event of :data:`sreconsole.review.chain.EVENTS` in the audit table."""
    widen_check(c, "audit", "event", chain.EVENTS)


def widen_proposal_states(c: sqlite3.Connection) -> None:
    """Allow every state of :data:`sreconsole.review.records.STATES` in the proposals table."""
    widen_check(c, "proposals", "state", STATES)


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
    (
        # Sealing, execution intents and verified identity (the hostile-input issue): the
        # states executing and unknown, the decider's claimed name beside the verified one,
        # the audit's seal, identity and mac columns, and the events refresh, executing,
        # unknown and keyed. Existing entries keep their hashes (null new fields are not hashed).
        "ALTER TABLE proposals ADD COLUMN decided_claim TEXT NOT NULL DEFAULT ''",
        widen_proposal_states,
        *chain.SCHEMA_V3,
        widen_audit_events,
    ),
    (
        # Did the fix work (review/effect.py): the verdict on an executed action's alert, its
        # detail (when it executed, resolved, came back), and the audit event "outcome".
        "ALTER TABLE proposals ADD COLUMN outcome TEXT NOT NULL DEFAULT ''"
        f" CHECK (outcome IN ({', '.join(repr(s) for s in effect.OUTCOMES)}))",
        "ALTER TABLE proposals ADD COLUMN outcome_detail TEXT",
        "CREATE INDEX proposals_outcome_watch ON proposals(outcome) WHERE outcome IN ('watching', 'effective')",
        widen_audit_events,
    ),
    (
        # Four eyes: the approvals a pending proposal has gathered (the first of two is an
        # ``endorse`` entry; the second approves).
        "ALTER TABLE proposals ADD COLUMN approvals TEXT NOT NULL DEFAULT '[]'",
        widen_audit_events,
    ),
    (
        # Several clusters (issue 20): the cluster a proposal may be executed against, sealed
        # with its executable content ('' for proposals queued before: the one cluster there
        # was). The same fingerprint or target in two clusters is two things, so the one
        # pending proposal per alert, and per action and target, is per cluster.
        "ALTER TABLE proposals ADD COLUMN cluster TEXT NOT NULL DEFAULT ''",
        "DROP INDEX proposals_one_pending",
        "CREATE UNIQUE INDEX proposals_one_pending ON proposals(cluster, fingerprint) WHERE state = 'pending'",
        "DROP INDEX proposals_one_pending_target",
        "CREATE UNIQUE INDEX proposals_one_pending_target ON proposals(cluster, action, target) WHERE state = 'pending'",
    ),
]
"""Schema steps; step ``i`` takes ``user_version`` from ``i`` to ``i + 1``. Append, never edit:
files already on bastion hosts were built by the existing steps."""

SCHEMA_VERSION = len(MIGRATIONS)
