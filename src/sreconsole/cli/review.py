"""``sreconsole review …`` and ``sreconsole audit …``, headless (scripts and on-call bots).

Exit codes: 0 ok; 1 failed (store, parameters, execution, a broken audit chain); 2 bad
arguments; 4 lost race — somebody decided first (one line says who and when); 5 read-only.
"""

from __future__ import annotations

import sys

from sreconsole.cli.exit_codes import EXIT_CONFIG, EXIT_FAILED, EXIT_LOST_RACE, EXIT_OK, EXIT_READ_ONLY
from sreconsole.cli.output import rich_console, write_json, write_json_line


def _operator():
    import os

    from sreconsole.domain.operator import Operator

    return Operator.from_environ(os.environ)


def run_review_command(settings, args) -> int:
    from sreconsole.review.store import AlreadyDecided, ReviewError
    from sreconsole.services.review import ReadOnly, ReviewQueue

    queue = ReviewQueue(settings, _operator())
    try:
        if args.command == "audit":
            return _audit(queue, args)
        if args.review_command == "list":
            return _list(queue, args)
        if args.review_command == "approve":
            params = {}
            for item in args.param:
                name, sep, value = item.partition("=")
                if not sep or not name:
                    print(f"sreconsole: --param {item!r}: expected NAME=VALUE", file=sys.stderr)
                    return EXIT_CONFIG
                params[name] = value
            outcome = queue.approve(args.id, args.reason, params or None)
        else:
            outcome = queue.reject(args.id, args.reason, args.action)
    except AlreadyDecided as exc:
        print(f"sreconsole: #{args.id}: {exc}", file=sys.stderr)
        return EXIT_LOST_RACE
    except ReadOnly as exc:
        print(f"sreconsole: {exc}", file=sys.stderr)
        return EXIT_READ_ONLY
    except (ReviewError, ValueError, LookupError) as exc:
        print(f"sreconsole: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
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
    failed = outcome.execution is not None and not outcome.execution.ok
    return EXIT_FAILED if failed else EXIT_OK


def _list(queue, args) -> int:
    from datetime import datetime, timezone

    from rich.table import Table
    from rich.text import Text

    from sreconsole.domain.text import clean
    from sreconsole.services.review import age_text

    records = queue.list(all_states=args.all)
    if args.json:
        write_json([r.as_dict() for r in records])
        return EXIT_OK
    now = datetime.now(timezone.utc)
    table = Table(title=f"review queue ({'all' if args.all else 'pending'}): {len(records)}", title_justify="left")
    for col in ("id", "sev", "alert", "action", "conf", "method", "state", "age", "decided by"):
        table.add_column(col, no_wrap=True)
    for r in records:
        table.add_row(
            str(r.id), r.severity[:4], Text(clean(r.alertname, 40)), Text(clean(r.action, 30)),
            "—" if r.confidence is None else f"{r.confidence:.2f}", r.method, r.state, age_text(r.created_at, now),
            Text(clean(r.decided_by, 30)),
        )
    rich_console(highlight=False).print(table)
    return EXIT_OK


def _audit(queue, args) -> int:
    from sreconsole.review.audit import export, verify

    store = queue.store
    if args.audit_command == "verify":
        result = verify(store)
        if result.ok:
            print(f"audit trail ok: {result.entries} entries, hash chain intact ({queue.path})")
            if result.reason:
                print(f"warning: {result.reason}", file=sys.stderr)
            return EXIT_OK
        where = f"at entry {result.first_bad}" if result.first_bad is not None else "(the chain is intact but does not match the queue)"
        print(f"audit trail BROKEN {where}: {result.reason} ({queue.path})", file=sys.stderr)
        return EXIT_FAILED
    for entry in export(store):
        if args.json:
            write_json_line(entry)
        else:
            from sreconsole.domain.text import clean

            sys.stdout.write(
                clean(f"{entry.get('seq')} {entry.get('ts')} {entry.get('user')} {entry.get('event')} #{entry.get('proposal_id')} "
                      f"{entry.get('action')} {entry.get('reason') or ''}", 400) + "\n"
            )
    return EXIT_OK
