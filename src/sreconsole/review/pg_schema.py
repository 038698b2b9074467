"""The review queue's PostgreSQL schema and its role layout, created by
``sreconsole review init-db`` (:func:`init_db`).

Roles (all ``NOLOGIN`` group roles; people get ``LOGIN`` roles that are members of one):

* ``sreconsole_owner`` owns the schema ``sreconsole``, its tables and functions. Nobody
  logs in as it; the administrator who runs ``init-db`` (a superuser, or a member of it)
  creates everything under ``SET ROLE sreconsole_owner``.
* ``sreconsole_operator``: reads everything, inserts and updates queue rows, and appends
  to the audit trail **only** through :data:`APPEND` (``SECURITY DEFINER``): it holds no
  ``INSERT``, ``UPDATE``, ``DELETE`` or ``TRUNCATE`` right on ``audit`` or ``audit_head``.
  The function refuses an entry that names anyone but the connection's authenticated
  ``session_user``, so an operator cannot write another operator's name.
* ``sreconsole_reader``: reads everything, changes nothing (read-only operators, auditors).

Triggers refuse ``UPDATE``, ``DELETE`` and ``TRUNCATE`` on the audit table for everyone,
the owner included, and only let the trail grow at its end (the next ``seq``, linked to
the newest hash), as the SQLite file's triggers do. Every appended entry is announced with
``NOTIFY sreconsole_review`` at commit, so consoles hear of each other's decisions at once.

Column types follow the SQLite schema one for one (text time stamps, JSON as canonical
text), so an entry's hash is the same on both, and ``review migrate`` copies rows as they
are. ``confidence`` is ``double precision`` (SQLite's REAL is a double; PostgreSQL's
``real`` is not).
"""

from __future__ import annotations

from sreconsole.review import effect
from sreconsole.review.chain import EVENTS, GENESIS
from sreconsole.review.records import ALERT_STATES, STATES

SCHEMA_NAME = "sreconsole"
OWNER, OPERATOR, READER = "sreconsole_owner", "sreconsole_operator", "sreconsole_reader"
ROLES = (OWNER, OPERATOR, READER)
CHANNEL = "sreconsole_review"
LOCK_KEY = 0x5EC0_2020
"""The advisory lock every write transaction takes first: one writer at a time, as
SQLite's ``BEGIN IMMEDIATE``, so the chain's next entry and the compare-and-set decide
against the newest committed state."""

SCHEMA_VERSION = 6
"""The SQLite schema version this layout corresponds to (``review migrate`` copies from it)."""

UPGRADES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "cluster",
        (
            # Several clusters (issue 20), as SQLite's schema step 6: the proposal's cluster,
            # and one pending proposal per alert, and per action and target, in each cluster.
            "ALTER TABLE proposals ADD COLUMN cluster TEXT NOT NULL DEFAULT ''",
            "DROP INDEX proposals_one_pending",
            "CREATE UNIQUE INDEX proposals_one_pending ON proposals(cluster, fingerprint) WHERE state = 'pending'",
            "DROP INDEX proposals_one_pending_target",
            "CREATE UNIQUE INDEX proposals_one_pending_target ON proposals(cluster, action, target) WHERE state = 'pending'",
        ),
    ),
)
"""What ``init-db`` adds to a queue created by an older sreconsole: ``(column of proposals
it adds, statements)``, applied when the column is missing. Append, never edit."""


def _values(values: tuple[str, ...]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)


TABLES = (
    f"""CREATE TABLE proposals (
        id BIGSERIAL PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        alertname TEXT NOT NULL,
        namespace TEXT NOT NULL,
        severity TEXT NOT NULL,
        action TEXT NOT NULL,
        title TEXT NOT NULL,
        parameters TEXT NOT NULL,
        command TEXT NOT NULL,
        api TEXT,
        confidence DOUBLE PRECISION,
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
        state TEXT NOT NULL CHECK (state IN ({_values(STATES)})),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        decided_by TEXT NOT NULL DEFAULT '',
        decided_from TEXT NOT NULL DEFAULT '',
        decided_at TEXT,
        reason TEXT NOT NULL DEFAULT '',
        corrected_action TEXT NOT NULL DEFAULT '',
        result TEXT,
        changed_version BIGINT NOT NULL,
        target TEXT NOT NULL DEFAULT '',
        alerts TEXT NOT NULL DEFAULT '[]',
        alert_source TEXT NOT NULL DEFAULT '',
        alert_state TEXT NOT NULL DEFAULT 'unknown' CHECK (alert_state IN ({_values(ALERT_STATES)})),
        alert_state_since TEXT,
        decided_claim TEXT NOT NULL DEFAULT '',
        outcome TEXT NOT NULL DEFAULT '' CHECK (outcome IN ({_values(effect.OUTCOMES)})),
        outcome_detail TEXT,
        approvals TEXT NOT NULL DEFAULT '[]',
        cluster TEXT NOT NULL DEFAULT ''
    )""",
    "CREATE INDEX proposals_outcome_watch ON proposals(outcome) WHERE outcome IN ('watching', 'effective')",
    "CREATE UNIQUE INDEX proposals_one_pending ON proposals(cluster, fingerprint) WHERE state = 'pending'",
    "CREATE UNIQUE INDEX proposals_one_pending_target ON proposals(cluster, action, target) WHERE state = 'pending'",
    "CREATE INDEX proposals_pair ON proposals(fingerprint, action, id)",
    "CREATE INDEX proposals_state ON proposals(state, id)",
    "CREATE INDEX proposals_changed ON proposals(changed_version)",
    "CREATE INDEX proposals_decided ON proposals(decided_at) WHERE decided_at IS NOT NULL",
    "CREATE INDEX proposals_pending_age ON proposals(created_at) WHERE state = 'pending'",
    "CREATE INDEX proposals_watched ON proposals(alert_source) WHERE state = 'pending'",
    f"""CREATE TABLE audit (
        seq BIGINT PRIMARY KEY,
        ts TEXT NOT NULL,
        "user" TEXT NOT NULL,
        client TEXT NOT NULL,
        event TEXT NOT NULL CHECK (event IN ({_values(EVENTS)})),
        proposal_id BIGINT,
        action TEXT NOT NULL,
        parameters TEXT,
        command TEXT NOT NULL,
        api TEXT,
        reason TEXT NOT NULL,
        snapshot TEXT,
        result TEXT,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL,
        seal TEXT,
        identity TEXT,
        mac TEXT
    )""",
    "CREATE INDEX audit_proposal ON audit(proposal_id, seq)",
    """CREATE TABLE audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq BIGINT NOT NULL,
        hash TEXT NOT NULL
    )""",
)

TRIGGERS = (
    """CREATE FUNCTION audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = '42501';
    END $$""",
    """CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit FOR EACH ROW
       EXECUTE FUNCTION audit_refuse('the audit trail is append-only: entries cannot be changed')""",
    """CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit FOR EACH ROW
       EXECUTE FUNCTION audit_refuse('the audit trail is append-only: entries cannot be deleted')""",
    """CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit FOR EACH STATEMENT
       EXECUTE FUNCTION audit_refuse('the audit trail is append-only: it cannot be truncated')""",
    f"""CREATE FUNCTION audit_at_end() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.seq IS DISTINCT FROM coalesce((SELECT max(seq) FROM audit), 0) + 1
           OR NEW.prev_hash IS DISTINCT FROM coalesce((SELECT hash FROM audit WHERE seq = NEW.seq - 1), '{GENESIS}') THEN
            RAISE EXCEPTION 'the audit trail only grows at its end' USING ERRCODE = '42501';
        END IF;
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER audit_append_only_at_end BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION audit_at_end()""",
    """CREATE FUNCTION audit_head_step() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.seq IS DISTINCT FROM OLD.seq + 1 OR NEW.hash IS DISTINCT FROM (SELECT hash FROM audit WHERE seq = NEW.seq) THEN
            RAISE EXCEPTION 'the audit head only moves to the next entry' USING ERRCODE = '42501';
        END IF;
        RETURN NEW;
    END $$""",
    """CREATE TRIGGER audit_head_forward BEFORE UPDATE ON audit_head FOR EACH ROW EXECUTE FUNCTION audit_head_step()""",
    """CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head FOR EACH ROW
       EXECUTE FUNCTION audit_refuse('the audit head cannot be deleted')""",
    """CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head FOR EACH STATEMENT
       EXECUTE FUNCTION audit_refuse('the audit head cannot be deleted')""",
)

APPEND_ARGS = (
    ("seq", "bigint"), ("ts", "text"), ("user", "text"), ("client", "text"), ("event", "text"), ("proposal_id", "bigint"),
    ("action", "text"), ("parameters", "text"), ("command", "text"), ("api", "text"), ("reason", "text"),
    ("snapshot", "text"), ("result", "text"), ("prev_hash", "text"), ("hash", "text"), ("seal", "text"),
    ("identity", "text"), ("mac", "text"),
)
"""The append function's arguments: the audit columns in :data:`sreconsole.review.chain.COLUMNS` order."""

_ARGS = ", ".join(f"p_{name} {kind}" for name, kind in APPEND_ARGS)
_COLUMNS = ", ".join('"user"' if name == "user" else name for name, _ in APPEND_ARGS)
_PARAMS = ", ".join(f"p_{name}" for name, _ in APPEND_ARGS)

APPEND = f"""CREATE FUNCTION audit_append({_ARGS}) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = {SCHEMA_NAME}, pg_catalog AS $$
BEGIN
    -- session_user is who authenticated (peer or certificate auth); inside this function
    -- current_user is the owner, session_user is not changed by SET ROLE either.
    IF p_user IS DISTINCT FROM session_user::text THEN
        RAISE EXCEPTION 'an audit entry must name this session''s database user (%), not %', session_user, p_user
            USING ERRCODE = '42501';
    END IF;
    IF p_identity IS NULL OR (p_identity::jsonb ->> 'db_user') IS DISTINCT FROM session_user::text THEN
        RAISE EXCEPTION 'an audit entry must record this session''s database user (%) in its identity', session_user
            USING ERRCODE = '42501';
    END IF;
    PERFORM pg_advisory_xact_lock({LOCK_KEY});
    INSERT INTO audit ({_COLUMNS}) VALUES ({_PARAMS});
    INSERT INTO audit_head (id, seq, hash) VALUES (1, p_seq, p_hash)
        ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash;
    PERFORM pg_notify('{CHANNEL}', p_seq::text || ' ' || coalesce(p_proposal_id::text, '-') || ' ' || p_event);
END $$"""

GRANTS = (
    f"REVOKE ALL ON SCHEMA {SCHEMA_NAME} FROM PUBLIC",
    f"GRANT USAGE ON SCHEMA {SCHEMA_NAME} TO {OPERATOR}, {READER}",
    f"REVOKE ALL ON ALL TABLES IN SCHEMA {SCHEMA_NAME} FROM PUBLIC",
    f"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {SCHEMA_NAME} FROM PUBLIC",
    f"GRANT SELECT ON proposals, audit, audit_head TO {OPERATOR}, {READER}",
    f"GRANT INSERT, UPDATE ON proposals TO {OPERATOR}",
    f"GRANT USAGE, SELECT ON SEQUENCE proposals_id_seq TO {OPERATOR}",
    f"GRANT EXECUTE ON FUNCTION audit_append({', '.join(kind for _, kind in APPEND_ARGS)}) TO {OPERATOR}",
)
