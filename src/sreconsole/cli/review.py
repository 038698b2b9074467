"""``sreconsole review …`` and ``sreconsole audit …``, headless (scripts and on-call bots).

Exit codes: 0 ok; 1 failed (store, parameters, execution, a broken audit chain, a row that
does not match its seal); 2 bad arguments (a ``--param`` the action does not take), or
approving a proposal whose alert resolved without ``--even-if-resolved``; 4 lost race —
somebody decided first (one line says who and when); 5 read-only; 6 refused by the approval
policy (the rule is named: four eyes, no self-approval, or a rule of ``review.policy_file``).

``review list`` and ``review approve`` first ask the configured alert source what is firing
now (the demo, or Alertmanager), so a proposal whose alert resolved is marked so even when
no console is running; when the source cannot be reached they say so and go on with the
states last seen.
"""

from __future__ import annotations

import sys

from sreconsole.cli.exit_codes import EXIT_CONFIG, EXIT_FAILED, EXIT_LOST_RACE, EXIT_OK, EXIT_READ_ONLY, EXIT_REFUSED
from sreconsole.cli.output import write_json, write_json_line


def _operator():
    from sreconsole.services.identity import current_operator

    return current_operator()


def run_review_command(settings, args) -> int:
    from sreconsole.review.executor import ExecutionError
    from sreconsole.review.store import AlreadyDecided, PolicyRefused, ReviewError
    from sreconsole.services.review import AlertResolved, ReadOnly, ReviewQueue, UnknownParameter

    if args.command == "review" and args.review_command in ("init-db", "migrate"):
        return _database(settings, args)
    queue = ReviewQueue(settings, _operator())
    try:
        if args.command == "audit":
            return _audit(queue, args)
        if args.review_command == "list":
            return _list(queue, args)
        if args.review_command == "reconcile":
            return _reconcile(queue, args)
        if args.review_command == "outcomes":
            return _outcomes(queue, args)
        if args.review_command == "approve":
            params = {}
            for item in args.param:
                name, sep, value = item.partition("=")
                if not sep or not name:
                    print(f"sreconsole: --param {item!r}: expected NAME=VALUE", file=sys.stderr)
                    return EXIT_CONFIG
                params[name] = value
            _observe(queue)
            outcome = queue.approve(args.id, args.reason, params or None, even_if_resolved=args.even_if_resolved)
        elif args.review_command == "rollback":
            outcome = queue.rollback(args.id, args.reason)
        else:
            outcome = queue.reject(args.id, args.reason, args.action)
    except AlertResolved as exc:
        print(f"sreconsole: {exc}; add --even-if-resolved to approve it anyway", file=sys.stderr)
        return EXIT_CONFIG
    except AlreadyDecided as exc:
        print(f"sreconsole: #{args.id}: {exc}", file=sys.stderr)
        return EXIT_LOST_RACE
    except ReadOnly as exc:
        print(f"sreconsole: {exc}", file=sys.stderr)
        return EXIT_READ_ONLY
    except PolicyRefused as exc:
        from sreconsole.domain.text import clean

        print(f"sreconsole: refused: {clean(str(exc), 1000)}", file=sys.stderr)
        return EXIT_REFUSED
    except UnknownParameter as exc:
        print(f"sreconsole: --param: {exc}; nothing was done", file=sys.stderr)
        return EXIT_CONFIG
    except (ReviewError, ValueError, LookupError, ExecutionError) as exc:
        print(f"sreconsole: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        _anchor_warning(queue)
        queue.close()
    if args.json:
        out = {"proposal": outcome.record.as_dict(), "execution": outcome.execution.as_dict() if outcome.execution is not None else None}
        write_json(out)
    else:
        print(outcome.message)
        ex = outcome.execution
        if ex is not None:
            for call in ex.calls:
                print(f"  {'would send' if ex.dry_run else 'sent'} {call.method} {call.path}" + (f" → {call.status}" if call.status else ""))
    failed = outcome.record.state == "failed" or (outcome.execution is not None and not outcome.execution.ok)
    return EXIT_FAILED if failed else EXIT_OK


def _anchor_warning(queue) -> None:
    """A decision is committed even when its witness line or syslog message could not be
    written; the operator is told, once."""
    if queue.anchor_error:
        print(f"warning: {queue.anchor_error}", file=sys.stderr)


def _observe(queue) -> None:
    """What is true now, before listing or approving (see the module doc)."""
    problem = queue.observe_source()
    if problem:
        print(f"warning: {problem}", file=sys.stderr)


def _list(queue, args) -> int:
    from datetime import datetime, timezone

    from sreconsole.cli.tables import Column, print_table
    from sreconsole.services.review import age_text, shown_target

    _observe(queue)
    records = queue.list(all_states=args.all)
    if args.json:
        write_json([r.as_dict() for r in records])
        return EXIT_OK
    now = datetime.now(timezone.utc)
    columns = [
        Column("id", key=True), Column("sev", key=True), Column("alert", second_line=True), Column("action", key=True),
        Column("target", second_line=True), Column("conf", key=True), Column("state", key=True), Column("live", key=True),
        Column("for", key=True), Column("age", key=True),
        Column("method", wide=True), Column("alerts", wide=True), Column("decided by", wide=True), Column("reason", wide=True),
    ]
    sev_style = {"critical": "bold red", "warning": "bold yellow"}
    live_style = {"firing": "bold red", "resolved": "green", "acked": "yellow"}
    rows = [
        [str(r.id), (r.severity, sev_style.get(r.severity, "")), r.alertname, r.action, shown_target(r),
         "-" if r.confidence is None else f"{r.confidence:.2f}", _state_words(r.state),
         (r.alert_state, live_style.get(r.alert_state, "dim")), age_text(r.alert_state_since, now) if r.alert_state != "unknown" else "-",
         age_text(r.created_at, now), r.method, str(len(r.alerts)), r.decided_by, r.reason]
        for r in records
    ]
    if len({r.cluster for r in records}) > 1:  # where each would run, once it is not the same everywhere
        columns.insert(1, Column("cluster", key=True))
        for row, r in zip(rows, records):
            row.insert(1, r.cluster or "-")
    which = "all" if args.all else "pending"
    print_table(columns, rows, title=f"review queue ({which}): {len(records)}", wide=args.wide,
                empty=f"no {'' if args.all else 'pending '}proposals in {queue.path}")
    return EXIT_OK


def _outcomes(queue, args) -> int:
    """Did the executed actions fix their alerts: one row per executed proposal watched."""
    from datetime import datetime, timezone

    from sreconsole.cli.tables import Column, print_table
    from sreconsole.review.effect import history_text

    _observe(queue)
    records = queue.outcomes()
    now = datetime.now(timezone.utc)
    if args.json:
        write_json([{"id": r.id, "action": r.action, "alertname": r.alertname, "target": r.target, "state": r.state,
                     "outcome": r.outcome, "detail": r.outcome_detail or {}, "decided_by": r.decided_by,
                     "text": history_text(r, now)} for r in records])
        return EXIT_OK
    columns = [Column("id", key=True), Column("action", key=True), Column("alert", second_line=True),
               Column("outcome", key=True), Column("what happened", second_line=True)]
    style = {"effective": "green", "not_effective": "bold red"}
    rows = [[str(r.id), r.action, r.alertname, (r.outcome.replace("_", " "), style.get(r.outcome, "dim")), history_text(r, now)]
            for r in records]
    print_table(columns, rows, title=f"outcomes of executed actions: {len(records)}", wide=False,
                empty=f"no executed actions watched in {queue.path}")
    return EXIT_OK


def _state_words(state: str) -> str:
    return {"unknown": "outcome unknown", "rolled_back": "rolled back"}.get(state, state)


def _reconcile(queue, args) -> int:
    """Settle interrupted executions (no ID), or record a human's verdict on one (ID)."""
    if args.id is not None:
        if not args.outcome:
            print("sreconsole: review reconcile ID needs --outcome executed|failed and --reason", file=sys.stderr)
            return EXIT_CONFIG
        outcome = queue.resolve(args.id, args.outcome, args.reason or "")
        if args.json:
            write_json({"proposal": outcome.record.as_dict()})
        else:
            print(outcome.message)
        return EXIT_OK
    found = queue.reconcile()
    if args.json:
        write_json([f.as_dict() for f in found])
    else:
        from sreconsole.domain.text import clean

        if not found:
            print("no interrupted executions")
        for f in found:
            word = "outcome unknown (needs a human)" if f.outcome == "unknown" else f.outcome
            print(clean(f"#{f.id} {f.action}: interrupted; {word}: {f.reason}", 400))
    return EXIT_FAILED if any(f.outcome == "unknown" for f in found) else EXIT_OK


def _audit(queue, args) -> int:
    from sreconsole.review.audit import export

    if args.audit_command == "verify":
        result, notes = queue.verify(args.anchor)
        for note in notes:
            print(f"warning: {note}", file=sys.stderr)
        if result.ok:
            print(f"audit trail ok: {result.entries} entries, hash chain intact ({queue.path})")
            if result.reason:
                print(f"warning: {result.reason}", file=sys.stderr)
            return EXIT_OK
        where = f"at entry {result.first_bad}" if result.first_bad is not None else "(the chain is intact but does not match the queue)"
        print(f"audit trail BROKEN {where}: {result.reason} ({queue.path})", file=sys.stderr)
        return EXIT_FAILED
    if args.audit_command == "adopt-key":
        seq = queue.store.adopt_key(queue.operator)
        print(f"keyed chain started at entry {seq}" if seq else "the audit trail is keyed already (or empty)")
        return EXIT_OK
    for entry in export(queue.path):
        if args.json:
            write_json_line(entry)
        else:
            from sreconsole.domain.text import clean

            sys.stdout.write(
                clean(f"{entry.get('seq')} {entry.get('ts')} {entry.get('user')} {entry.get('event')} #{entry.get('proposal_id')} "
                      f"{entry.get('action')} {entry.get('reason') or ''}", 400) + "\n"
            )
    return EXIT_OK


def _database(settings, args) -> int:
    """``review init-db`` and ``review migrate``: the PostgreSQL queue's administration."""
    from sreconsole.review import pg_backend
    from sreconsole.review.backend import is_postgres
    from sreconsole.review.errors import ReviewError
    from sreconsole.domain.text import clean

    try:
        if args.review_command == "init-db":
            dsn = args.dsn or settings.review.store
            if not is_postgres(dsn):
                print("sreconsole: review init-db needs a postgresql:// address (--dsn, or review.store)", file=sys.stderr)
                return EXIT_CONFIG
            for line in pg_backend.init_db(dsn, operators=args.operator, readers=args.reader):
                print(clean(line, 300))
            print(f"review queue ready in {clean(pg_backend.redacted(dsn), 300)}")
            return EXIT_OK
        if not is_postgres(args.to):
            print("sreconsole: review migrate --to needs a postgresql:// address", file=sys.stderr)
            return EXIT_CONFIG
        source = args.source or str(settings.data_path / "review.sqlite")
        proposals, entries = pg_backend.migrate(source, args.to)
        print(f"copied {proposals} proposals and {entries} audit entries to {clean(pg_backend.redacted(args.to), 300)}; the chain verifies there")
        return EXIT_OK
    except ReviewError as exc:
        print(f"sreconsole: {clean(str(exc), 2000)}", file=sys.stderr)
        return EXIT_FAILED
