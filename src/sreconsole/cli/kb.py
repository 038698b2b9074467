"""``sreconsole kb …``: index, stats and search, headless.

Exit codes: 0 ok; 1 the store or model cannot be used (message on stderr); 2 bad arguments;
3 another process is writing the store (the message names it). Output paths are absolute
and line numbers 1-based and inclusive, so editors and scripts can jump to a hit.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone

from sreconsole.cli.exit_codes import EXIT_BUSY, EXIT_CONFIG, EXIT_FAILED, EXIT_OK
from sreconsole.cli.output import rich_console, write_json, write_json_line


def run_kb(settings, args) -> int:
    from sreconsole.knowledge.embedder import EmbedderError
    from sreconsole.knowledge.store import StoreBusy, StoreError

    try:
        if args.kb_command == "index":
            return _index(settings, args.paths, args.json, rebuild=args.rebuild)
        if args.kb_command == "stats":
            return _stats(settings, args.json)
        return _search(settings, args)
    except StoreBusy as exc:
        print(f"sreconsole: {exc}", file=sys.stderr)
        return EXIT_BUSY
    except (StoreError, EmbedderError) as exc:
        print(f"sreconsole: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _index(settings, paths: list[str], as_json: bool, rebuild: bool = False) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from sreconsole.knowledge.store import Writer
    from sreconsole.services.knowledge import demo_incidents, index_paths, make_embedder, store_path

    targets = paths or index_paths(settings)
    if not targets:
        print("sreconsole: nothing to index: name a PATH or set knowledge.paths", file=sys.stderr)
        return EXIT_CONFIG
    err = rich_console(stderr=True)
    path = store_path(settings)
    with Progress(TextColumn("indexing"), BarColumn(), MofNCompleteColumn(), TextColumn("files"), TimeElapsedColumn(), console=err, transient=True) as bar:
        task = bar.add_task("index", total=None)

        def progress(_phase: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        with Writer(path, make_embedder(settings), settings.knowledge.chunk_words,
                    follow_external_links=settings.knowledge.follow_external_links, rebuild=rebuild) as w:
            summary = w.index(targets, progress=progress)
            if settings.is_demo and not paths:
                have = w.con.execute("SELECT count(*) FROM incidents WHERE incident_id LIKE 'demo-%'").fetchone()[0]
                if not have:
                    w.add_incidents(demo_incidents(settings, datetime.now(timezone.utc)))
    if as_json:
        write_json({"store": str(path.resolve()), **summary.as_dict()})
        return EXIT_OK
    from rich.text import Text

    out = rich_console()
    line = (
        f"{path}: {summary.added} added, {summary.updated} updated, {summary.unchanged} unchanged, "
        f"{summary.removed} removed; {summary.chunks_written} chunks written, {summary.embedded} embedded, "
        f"{summary.cached} from the embedding cache; {summary.sections} runbook sections; {summary.seconds:.1f}s"
    )
    if summary.resumed:
        line += " (resumed an interrupted run)"
    for note in summary.notes:
        out.print(Text(f"rebuild: {note}"), style="yellow")
    out.print(Text(line))
    from sreconsole.domain.text import clean

    if summary.ignored:
        out.print(Text(ignored_line(summary.ignored_paths, targets)), style="dim")

    for s in summary.skipped:
        # A file name is untrusted text: one with an escape sequence in it must not reach the terminal.
        out.print(Text(f"skipped {clean(s.path, None)}: {clean(s.reason, None)}"), style="yellow")
    return EXIT_OK


def ignored_line(paths: list[str], roots, shown: int = 10) -> str:
    """``3 files ignored (not a document type: .md .txt …): a.pdf, img/b.png, …``, each
    path relative to the root it was found under, the first ``shown`` of them named."""
    import os

    from sreconsole.domain.text import clean
    from sreconsole.knowledge.files import TEXT_SUFFIXES

    bases = sorted((os.path.abspath(os.path.expanduser(str(r))) for r in roots), key=len, reverse=True)

    def relative(p: str) -> str:
        base = next((b for b in bases if p.startswith(b.rstrip(os.sep) + os.sep)), None)
        return os.path.relpath(p, base) if base else p

    names = ", ".join(clean(relative(p), 200) for p in paths[:shown])
    more = f" and {len(paths) - shown} more" if len(paths) > shown else ""
    kinds = " ".join(sorted(TEXT_SUFFIXES))
    return f"{len(paths)} file{'s' if len(paths) != 1 else ''} ignored (not a document type; indexed are {kinds}): {names}{more}"


def _stats(settings, as_json: bool) -> int:
    from sreconsole.knowledge.search import KnowledgeBase
    from sreconsole.knowledge.store import StoreError
    from sreconsole.services.knowledge import make_embedder, store_path

    path = store_path(settings)
    if not path.exists():
        raise StoreError(f"no knowledge store at {path}; run `sreconsole kb index PATH` first")
    kb = KnowledgeBase(path, make_embedder(settings))
    stats = kb.stats()
    if as_json:
        write_json(stats)
        return EXIT_OK
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"knowledge store {stats['store']}", title_justify="left", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    for key, value in stats.items():
        if key in ("store", "roots"):
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
        table.add_row(Text(key.replace("_", " ")), Text(str(value)))
    for root in stats["roots"]:
        table.add_row(Text("root"), Text(f"{root['path']} ({root['state']}, {root['finished_at'] or 'never finished'})"))
    rich_console().print(table)
    return EXIT_OK


def _search(settings, args) -> int:
    from sreconsole.domain.silences import parse_duration
    from sreconsole.domain.text import clean
    from sreconsole.knowledge.search import KnowledgeBase
    from sreconsole.services.knowledge import ensure_demo_store, make_embedder, store_path

    if bool(args.query) == bool(args.batch):
        print("sreconsole: kb search needs a QUERY or --batch FILE (not both)", file=sys.stderr)
        return EXIT_CONFIG
    if args.batch and not args.json:
        print("sreconsole: --batch writes JSON lines; add --json", file=sys.stderr)
        return EXIT_CONFIG
    since = None
    if args.since:
        try:
            since = datetime.now(timezone.utc) - parse_duration(args.since, timedelta(days=36500), "the oldest --since is 36500d")
        except ValueError as exc:
            print(f"sreconsole: --since: {exc}", file=sys.stderr)
            return EXIT_CONFIG
    path = store_path(settings)
    if settings.is_demo and not settings.knowledge.paths:
        ensure_demo_store(settings, datetime.now(timezone.utc))
    kb = KnowledgeBase(path, make_embedder(settings))
    options = {"mode": args.mode, "kind": args.kind, "alertname": args.alertname, "since": since}
    if args.batch:
        try:
            source = sys.stdin if args.batch == "-" else open(args.batch, encoding="utf-8", errors="replace")
        except OSError as exc:
            print(f"sreconsole: --batch {args.batch}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_CONFIG
        with source:
            for line in source:
                query = line.rstrip("\n")
                if not query.strip():
                    continue
                result = kb.search(query, args.k, **options)
                out = {"query": query, "hits": [h.as_dict() for h in result.hits]}
                if result.note:
                    out["note"] = result.note
                if result.truncated:
                    out["truncated"] = True
                write_json_line(out)
        return EXIT_OK
    # argv bytes that are not UTF-8 arrive as lone surrogates, which cannot be hashed for the
    # query cache nor printed: read them as U+FFFD, as --batch does.
    query = args.query.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    result = kb.search(query, args.k, **options)
    if args.json:
        out = {"query": query, "hits": [h.as_dict() for h in result.hits]}
        if result.note:
            out["note"] = result.note
        if result.truncated:
            out["truncated"] = True
        write_json(out)
        return EXIT_OK
    from rich.text import Text

    console = rich_console()
    if result.truncated:
        console.print(Text("(query truncated)"), style="dim")
    if not result.hits:
        console.print(Text(result.note or "no hits"), style="yellow")
    for n, hit in enumerate(result.hits, 1):
        head = Text(f"{n}. ", style="bold")
        head.append(f"{clean(hit.path, None)}:{hit.start_line}-{hit.end_line}", style="cyan")
        head.append(f"  {clean(hit.heading, 120)}", style="bold")
        head.append(f"  score {hit.score:.4f}", style="dim")
        console.print(head)
        body = [clean(line, 160) for line in hit.text.splitlines() if line.strip()][:6]
        console.print(Text("   " + "\n   ".join(body)))
    return EXIT_OK
