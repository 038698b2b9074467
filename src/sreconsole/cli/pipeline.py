"""``sreconsole pipeline …``: start, follow, list, show, promote and cancel training runs.

Exit codes: 0 ok (for ``run``: the run succeeded); 1 the run failed or was cancelled, or the
command could not be done; 2 bad arguments; 3 another run of the same model is active.
"""

from __future__ import annotations

import sys
import time

from sreconsole.cli.exit_codes import EXIT_BUSY, EXIT_CONFIG, EXIT_FAILED, EXIT_OK, EXIT_REFUSED
from sreconsole.cli.output import rich_console, write_json, write_json_line


def run_pipeline_command(settings, args) -> int:
    from sreconsole.pipeline.runner import PipelineBusy

    try:
        if args.pipeline_command == "run":
            return _run(settings, args)
        if args.pipeline_command == "list":
            return _list(settings, args)
        if args.pipeline_command == "show":
            return _show(settings, args)
        if args.pipeline_command == "promote":
            return _promote(settings, args)
        if args.pipeline_command == "shadow":
            return _shadow(settings, args)
        from sreconsole.pipeline.runner import cancel_run

        run = cancel_run(settings, args.id)
        print(f"{run.id}: {run.status}")
        return EXIT_OK
    except PipelineBusy as exc:
        print(f"sreconsole: {exc}", file=sys.stderr)
        return EXIT_BUSY
    except (ValueError, LookupError) as exc:
        print(f"sreconsole: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _promote(settings, args) -> int:
    from sreconsole.pipeline.runner import PromoteRefused, promote_run
    from sreconsole.services.identity import current_operator
    from sreconsole.services.review import ReviewQueue

    why = ReviewQueue(settings, current_operator()).refusal("promote")
    if why:
        from sreconsole.domain.text import clean

        print(f"sreconsole: refused: {clean(why, 1000)}", file=sys.stderr)
        return EXIT_REFUSED
    try:
        run = promote_run(settings, args.id, force=args.force, days=args.days)
    except PromoteRefused as exc:
        _print_shadow(exc.report)
        print(f"sreconsole: {exc}", file=sys.stderr)
        return EXIT_FAILED
    forced = run.params.get("promoted_despite")
    print(f"promoted {run.id}: model {run.version} is now active" + (f" (forced: {forced})" if forced else ""))
    return EXIT_OK


def _shadow(settings, args) -> int:
    from sreconsole.pipeline.runner import shadow_run

    report = shadow_run(settings, args.id, args.days)
    if args.json:
        write_json(report.as_dict())
    else:
        _print_shadow(report)
    return EXIT_OK


def _print_shadow(report) -> None:
    from rich.table import Table
    from rich.text import Text

    from sreconsole.domain.text import clean

    console = rich_console(highlight=False)

    def fig(v) -> str:
        return "—" if v is None else f"{v:.3f}"

    c, a = report.candidate_scores, report.active_scores
    console.print(Text(f"shadow scoring ({report.kind}): candidate {report.candidate} vs active {report.active or '(none)'}; "
                       f"{report.rows} alerts ({report.decisions} operator decisions, last {report.days:g} days of alerts)", style="bold"))
    console.print(Text(f"agreement {fig(report.agreement)}"))
    console.print(Text(f"on {c.get('n', 0)} decisions: accuracy {fig(c.get('accuracy'))} vs {fig(a.get('accuracy'))}, "
                       f"ECE {fig(c.get('ece'))} vs {fig(a.get('ece'))}"))
    if report.differences:
        table = Table(title="where they differ", title_justify="left")
        for col in ("alert", "from", "operators", "candidate", "active"):
            table.add_column(col, no_wrap=True)
        for d in report.differences:
            table.add_row(clean(d["alertname"], 40), d["origin"], d["truth"] or "—",
                          f"{d['candidate']} {d['candidate_confidence']:.2f}", f"{d['active']} {d['active_confidence']:.2f}")
        console.print(table)
    for note in report.notes:
        console.print(Text(clean(note, 300), style="dim"))


def _store(settings):
    from sreconsole.pipeline.runs import RunStore

    return RunStore(settings.data_path)


def _run(settings, args) -> int:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from sreconsole.pipeline.runner import start_run

    params = {}
    if args.epochs:
        if args.epochs < 1:
            print("sreconsole: --epochs must be at least 1", file=sys.stderr)
            return EXIT_CONFIG
        params["epochs"] = args.epochs
    if args.corpus:
        params["corpus"] = args.corpus
    if args.model == "lora":
        if not args.base and not args.resume:
            print("sreconsole: --model lora needs --base NAME (a prepared model), --base PATH or --base demo-tiny", file=sys.stderr)
            return EXIT_CONFIG
        if args.base:
            params["base"] = args.base
        if args.iters:
            if args.iters < 1:
                print("sreconsole: --iters must be at least 1", file=sys.stderr)
                return EXIT_CONFIG
            params["iters"] = args.iters
    elif args.base or args.iters:
        print("sreconsole: --base and --iters are for --model lora", file=sys.stderr)
        return EXIT_CONFIG
    trigger = "manual"
    if args.if_due:
        from datetime import datetime, timezone

        from sreconsole.pipeline.schedule import due

        when = due(settings, _store(settings), datetime.now(timezone.utc), args.model)
        if when is None:
            print("not due: no schedule asks for a run now", file=sys.stderr)
            return EXIT_OK
        print(f"due ({when.trigger}): {when.reason}", file=sys.stderr)
        trigger = when.trigger
    run = start_run(settings, args.model, trigger=trigger, params=params, resume=args.resume)
    if args.detach:
        if args.json:
            write_json_line(run.as_dict())
        else:
            print(f"started {run.id} (pid {run.pid}); follow with `sreconsole pipeline show {run.id}`")
        return EXIT_OK
    store = _store(settings)
    console = rich_console(stderr=True)
    offset = 0
    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console, disable=args.json) as bar:
        tasks: dict[str, int] = {}
        while True:
            offset, events = store.tail_events(run.id, offset)
            for ev in events:
                step = ev.get("step") or "run"
                if step not in tasks:
                    tasks[step] = bar.add_task(step, total=None, info="")
                if ev.get("kind") == "progress" and ev.get("epochs"):
                    bar.update(tasks[step], total=ev["epochs"], completed=ev.get("epoch", 0), info=f"loss {ev.get('loss', 0):.3f}")
                elif ev.get("kind") == "progress" and ev.get("iters"):
                    info = f"loss {ev.get('loss', 0):.3f}, {ev.get('tokens_per_s', 0):.0f} tok/s"
                    bar.update(tasks[step], total=ev["iters"], completed=ev.get("iteration", 0), info=info)
                elif ev.get("kind") == "status":
                    status = str(ev.get("status", ""))
                    done = status in ("done", "skipped", "not applicable")
                    bar.update(tasks[step], total=1, completed=1 if done else 0, info=status)
            current = store.get(run.id)
            if current is not None and current.status not in ("queued", "running"):
                run = current
                break
            time.sleep(0.3)
    if args.json:
        write_json(run.as_dict())
    else:
        _print_run(run, store)
    return EXIT_OK if run.status == "succeeded" else EXIT_FAILED


def _list(settings, args) -> int:
    runs = _store(settings).list()
    if args.json:
        write_json([r.as_dict() for r in runs])
        return EXIT_OK
    from sreconsole.cli.tables import Column, print_table

    columns = [
        Column("id", key=True), Column("model", key=True), Column("trigger"), Column("status", key=True), Column("version"),
        Column("duration", key=True), Column("accuracy", key=True), Column("mlflow run", wide=True),
    ]
    rows = []
    for r in runs:
        acc = r.metrics.get("accuracy")
        rows.append([r.id, r.model, r.trigger, r.status, r.version or "-", f"{r.duration_s:.0f}s" if r.duration_s else "-",
                     f"{acc:.3f}" if isinstance(acc, (int, float)) else "-", r.mlflow_run_id or "-"])
    print_table(columns, rows, title=f"pipeline runs: {len(runs)}", wide=args.wide, empty="no pipeline runs yet")
    return EXIT_OK


def _show(settings, args) -> int:
    store = _store(settings)
    run = store.get(args.id)
    if run is None:
        print(f"sreconsole: no run {args.id!r}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        write_json(run.as_dict())
        return EXIT_OK
    _print_run(run, store)
    return EXIT_OK


def _print_run(run, store) -> None:
    from rich.text import Text

    from sreconsole.domain.text import clean

    console = rich_console(highlight=False)
    console.print(Text(f"{run.id}  {run.model}  {run.status}  {run.version or ''}", style="bold"))
    for step in run.steps:
        console.print(Text(f"  {step.status:>15}  {step.name}" + (f": {clean(step.message, 200)}" if step.message else "")))
    if run.metrics:
        console.print(Text("metrics: " + ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in run.metrics.items() if not isinstance(v, dict))))
    if run.error:
        console.print(Text("error: " + clean(run.error, 400), style="red"))
    tail = store.tail_log(run.id, 8)
    if tail and run.status != "succeeded":
        console.print(Text("log (last lines):", style="dim"))
        for line in tail:
            console.print(Text("  " + clean(line, 300), style="dim"))
