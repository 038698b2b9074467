"""The review store's SQLite schema: the proposals table and the migration steps that build
a file up to :data:`SCHEMA_VERSION` (``PRAGMA user_version``).

The store applies the steps in order, each in its own transaction
(:class:`sreconsole.review.store.ReviewStore`); the audit tables come from
:data:`sreconsole.review.chain.SCHEMA` so that they are created in the same first step.
"""

from __future__ import annotations

from sreconsole.review import chain
from sreconsole.review.records import STATES, STATES_V1


def _proposals_table(name: str, states: tuple[str, ...], extra: str = "") -> str:
    return f"""CREATE TABLE {name} (
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
    state TEXT NOT NULL CHECK (state IN ({", ".join(repr(s) for s in states)})),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    decided_by TEXT NOT NULL DEFAULT '',
    decided_from TEXT NOT NULL DEFAULT '',
    decided_at TEXT,
    reason TEXT NOT NULL DEFAULT '',
    corrected_action TEXT NOT NULL DEFAULT '',
    result TEXT,
    changed_version INTEGER NOT NULL{extra}
)"""


_V1_COLUMNS = (
    "id", "fingerprint", "alertname", "namespace", "severity", "action", "title", "parameters", "command", "api",
    "confidence", "method", "requires_human_review", "review_reasons", "risk", "reversible", "model_version",
    "evidence", "alternatives", "missing_parameters", "notes", "labels", "annotations", "alert_started_at", "state",
    "created_at", "updated_at", "decided_by", "decided_from", "decided_at", "reason", "corrected_action", "result",
    "changed_version",
)

_INDEXES = (
    # At most one pending proposal per alert: a newer one with another action supersedes
    # it, and the same action refreshes it. The database enforces what the code intends.
    "CREATE UNIQUE INDEX proposals_one_pending ON proposals(fingerprint) WHERE state = 'pending'",
    "CREATE INDEX proposals_pair ON proposals(fingerprint, action, id)",
    "CREATE INDEX proposals_state ON proposals(state, id)",
    "CREATE INDEX proposals_changed ON proposals(changed_version)",
    "CREATE INDEX proposals_decided ON proposals(decided_at) WHERE decided_at IS NOT NULL",
    "CREATE INDEX proposals_pending_age ON proposals(created_at) WHERE state = 'pending'",
)

MIGRATIONS: list[tuple[str, ...]] = [
    (
        _proposals_table("proposals", STATES_V1),
        *_INDEXES,
        *chain.SCHEMA,
    ),
    # 2: sealing, execution intents, verified identity (hostile-input issue). Both tables are
    # rebuilt because their state and event lists are CHECK constraints; rows are copied as
    # they are. New: the states executing and unknown, proposals.decided_claim, and the
    # audit columns seal, identity and mac.
    (
        _proposals_table("proposals_v2", STATES, ",\n    decided_claim TEXT NOT NULL DEFAULT ''"),
        f"INSERT INTO proposals_v2 ({', '.join(_V1_COLUMNS)}) SELECT {', '.join(_V1_COLUMNS)} FROM proposals ORDER BY id",
        "DROP TABLE proposals",
        "ALTER TABLE proposals_v2 RENAME TO proposals",
        *_INDEXES,
        *chain.SCHEMA_V2,
    ),
]
"""Schema steps; step ``i`` takes ``user_version`` from ``i`` to ``i + 1``. Append, never edit:
files already on bastion hosts were built by the existing steps."""

SCHEMA_VERSION = len(MIGRATIONS)
