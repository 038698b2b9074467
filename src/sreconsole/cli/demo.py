"""``sreconsole demo reset``: start the demo afresh.

The demo keeps its state in the data dir like everything else: its clock (``demo-epoch``,
so the TUI and every CLI call show the same alerts), the review queue its proposals went
to, and Bruno's conversation. Nothing else is touched: the knowledge base and trained models
stay, so the next start is as quick as the last. The queue and the conversation are moved
aside into ``demo-reset-<time>/`` (the audit trail is never deleted), and only when the
queue holds nothing but the demo's own proposals.

Exit codes: 0 done; 1 refused (the queue holds proposals from a real source, or is shared
through ``review.store``); 2 not in demo mode.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone

from sreconsole.cli.exit_codes import EXIT_CONFIG, EXIT_FAILED, EXIT_OK


def run_demo_reset(settings) -> int:
    from sreconsole.review.paths import review_store_path
    from sreconsole.services.chat import history_path
    from sreconsole.services.environment import demo_epoch_path

    if not settings.is_demo:
        print(f"sreconsole: not in demo mode (alertmanager.url is {settings.alertmanager.url}): nothing to reset", file=sys.stderr)
        return EXIT_CONFIG
    store = review_store_path(settings)
    if store.exists():
        problem = _not_only_demo(settings, store)
        if problem:
            print(f"sreconsole: demo reset: {problem}", file=sys.stderr)
            return EXIT_FAILED
    aside = settings.data_path / f"demo-reset-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}"
    moved = []
    # The WAL goes with its database, under the same names: opened where it lies, the copy
    # holds every committed change.
    for path in (store, store.with_name(store.name + "-wal"), store.with_name(store.name + "-shm"), history_path(settings)):
        if path is not None and path.exists():
            aside.mkdir(parents=True, exist_ok=True)
            path.rename(aside / path.name)
            moved.append(path.name)
    epoch = demo_epoch_path(settings)
    had_clock = epoch.exists()
    epoch.unlink(missing_ok=True)
    if moved:
        print(f"moved {', '.join(moved)} to {aside}")
    print("the demo clock starts afresh at the next start" if had_clock else "the demo had not started in this data dir")
    return EXIT_OK


def _not_only_demo(settings, path) -> str:
    """Why the queue at ``path`` must not be moved aside; '' when it holds only the demo's."""
    from sreconsole.review.store import ReviewError, ReviewStore

    if settings.review.store:
        return f"review.store is set ({path}): a queue configured on purpose is not the demo's to reset"
    try:
        with ReviewStore(path) as store:
            sources = sorted({r.alert_source for r in store.list(states=None, limit=10**9)} - {"demo", ""})
    except ReviewError as exc:
        return str(exc)
    if sources:
        return f"the review queue {path} also holds proposals from {', '.join(sources)}: not moving it (give the demo its own --data-dir)"
    return ""
