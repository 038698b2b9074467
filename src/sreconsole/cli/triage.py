"""``sreconsole train trm``, ``sreconsole triage`` and ``sreconsole eval triage``, headless.

Exit codes: 0 ok; 1 something could not be done (message on stderr; in ``--batch`` a bad
row gets an ``{"line", "error"}`` object and the rest still run); 2 bad arguments or a bad
catalog file.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from sreconsole.cli.exit_codes import EXIT_BAD_RECORDING, EXIT_CONFIG, EXIT_FAILED, EXIT_OK, EXIT_READ_ONLY
from sreconsole.cli.output import rich_console, write_json, write_json_line


def run_triage_command(settings, args) -> int:
    from sreconsole.knowledge.embedder import EmbedderError
    from sreconsole.triage.catalog import CatalogError

    try:
        if args.command == "train":
            return _train(settings, args)
        if args.command == "triage":
            return _triage(settings, args)
        return _eval(settings, args)
    except CatalogError as exc:
        print(f"sreconsole: action catalog: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except EmbedderError as exc:
        print(f"sreconsole: {exc}", file=sys.stderr)
        return EXIT_FAILED


def _service(settings):
    from sreconsole.services.knowledge import KnowledgeService
    from sreconsole.services.triage import TriageService

    return TriageService(settings, KnowledgeService(settings) if settings.knowledge.enabled else None)


# -- train -------------------------------------------------------------------------------------


def _calibrate(settings, args, model_path=None, quiet: bool = False) -> tuple[int, dict]:
    """Refit the flow's re-scorer on the calibration alerts (``train calibrate``); the
    message says what it was fitted on and the low threshold it suggests."""
    from sreconsole.services.triage import calibrate_model

    if getattr(args, "file", None) and not Path(args.file).is_file():
        print(f"sreconsole: --file {args.file!r} is not a file", file=sys.stderr)
        return EXIT_CONFIG, {}
    try:
        out = calibrate_model(_service(settings), model_path or getattr(args, "model_dir", None), getattr(args, "file", None), getattr(args, "split", ""))
    except ValueError as exc:
        print(f"sreconsole: {exc}", file=sys.stderr)
        return EXIT_FAILED, {}
    if quiet:
        return EXIT_OK, out
    if args.json:
        write_json(out)
        return EXIT_OK, out
    print(f"model {out['version']} ({out['model_dir']}): evidence re-scoring refitted on {args.file or 'the shipped calibration set'}")
    for kind in ("logreg", "trm"):
        entry = out.get(kind)
        if not entry:
            continue
        print(f"  {kind}: {_rescorer_line(entry)}")
    return EXIT_OK, out


def _rescorer_line(entry: dict) -> str:
    on = entry.get("on_calibration", {})
    low = on.get("low_threshold_for_target") or {}
    said = (f"fitted on {entry['fitted_on']} of {entry['calibration_rows']} alerts with evidence (beta {entry['beta']:g})"
            if "note" not in entry else entry["note"])
    suggest = (f"low threshold {low['threshold']:.2f} lets {low['coverage']:.0%} through, right {low['accuracy']:.0%} of the time"
               if low.get("found") else f"no low threshold reaches {low.get('target', 0):.0%} on these alerts")
    return f"{said}; the flow on them: accuracy {on.get('accuracy', 0):.3f}, ECE {on.get('ece', 0):.3f}; {suggest}"


def _train(settings, args) -> int:
    if args.train_command == "calibrate":
        return _calibrate(settings, args)[0]
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from sreconsole.services.triage import train_trm

    console = rich_console(stderr=True)
    corpus = Path(args.corpus).expanduser() if args.corpus else None
    if corpus is not None and not corpus.is_dir():
        print(f"sreconsole: --corpus {args.corpus!r} is not a directory", file=sys.stderr)
        return EXIT_CONFIG
    for f in args.data:
        if not Path(f).is_file():
            print(f"sreconsole: --data {f!r} is not a file", file=sys.stderr)
            return EXIT_CONFIG
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console, disable=args.json, transient=True) as bar:
        task = bar.add_task("preparing the dataset", total=None)

        def progress(stage: str, info: dict) -> None:
            if stage == "embed":
                bar.update(task, description=f"embedding {info['texts']} alert texts (cached by content)", total=info["texts"], completed=0)
            elif stage == "embedding":
                bar.update(task, completed=info["done"], description=f"embedding alert texts ({info['new']} not in the cache)")
            elif stage == "train":
                bar.update(task, description=f"training on {info['rows']} alerts", total=info["epochs"], completed=0)
            elif stage == "epoch":
                bar.update(task, completed=info["epoch"], description=f"training: loss {info['loss']:.3f}, train accuracy {info['train_acc']:.2f}")

        try:
            report = train_trm(settings, [Path(f) for f in args.data], corpus, args.epochs, progress, activate=not args.no_activate)
        except ValueError as exc:
            print(f"sreconsole: {exc}", file=sys.stderr)
            return EXIT_FAILED
    out = {
        "version": report.version,
        "path": str(report.path.resolve()),
        "active": not args.no_activate,
        "rows": report.rows,
        "dataset_hash": report.dataset_hash,
        "seconds_train": round(report.seconds_train, 2),
        "seconds_embed": round(report.seconds_embed, 2),
        "embedding_cache": {"hits": report.embed_cache[0], "misses": report.embed_cache[1]},
        "metrics": report.metrics,
    }
    # The flow's re-scoring, refitted through this console's own store (knowledge base and
    # incident history) on the shipped calibration alerts: what `train calibrate` does.
    code, calibrated = _calibrate(settings, args, report.path, quiet=True)
    if code:
        return code
    out["flow_calibration"] = {k: v for k, v in calibrated.items() if isinstance(v, dict)}
    if args.json:
        write_json(out)
        return EXIT_OK
    v = report.metrics.get("validation", {})
    print(f"model {report.version} → {out['path']}{' (active)' if out['active'] else ''}")
    print(f"rows: train {report.rows.get('train', 0)}, validation {report.rows.get('validation', 0)}, test {report.rows.get('test', 0)} (split by alertname group)")
    print(f"training {report.seconds_train:.1f}s; embedding {report.seconds_embed:.1f}s ({report.embed_cache[0]} cached, {report.embed_cache[1]} new)")
    print(f"validation (TRM): accuracy {v.get('accuracy', 0):.3f}, ECE {v.get('ece', 0):.3f}")
    for kind, m in report.metrics.get("test_by_model", {}).items():
        proposes = " (proposes: triage.model)" if kind == settings.triage.model else ""
        print(f"test split, {kind}{proposes} (families never seen in training): accuracy {m.get('accuracy', 0):.3f}, "
              f"balanced {m.get('balanced_accuracy', 0):.3f}, ECE {m.get('ece', 0):.3f}, majority baseline {m.get('majority_baseline', 0):.3f}")
        tiered = m.get("tiered")
        if tiered:
            print(f"  tiered flow (re-scored with runbook evidence below the high threshold): accuracy {tiered.get('accuracy', 0):.3f}, "
                  f"ECE {tiered.get('ece', 0):.3f}, sent to a human {tiered.get('share_to_human', 0):.1%}")
    for kind, entry in out["flow_calibration"].items():
        print(f"flow calibration, {kind}: {_rescorer_line(entry)}")
    print("held-out alerts written apart from the training data: `sreconsole eval triage bench/data/triage_heldout.jsonl --split test`")
    return EXIT_OK


# -- triage --------------------------------------------------------------------------------------


def _triage(settings, args) -> int:
    from sreconsole.services.triage import alert_from_row, read_rows

    if bool(args.alert) == bool(args.batch):
        print("sreconsole: give ALERT.json or --batch FILE.jsonl (one of them)", file=sys.stderr)
        return EXIT_CONFIG
    service = _service(settings)
    if args.batch:
        if args.batch != "-" and not Path(args.batch).is_file():
            print(f"sreconsole: {args.batch!r} is not a file", file=sys.stderr)
            return EXIT_CONFIG
        rows, bad = [], 0
        source = Path("/dev/stdin") if args.batch == "-" else Path(args.batch)
        for n, row in read_rows(source):
            if isinstance(row, Exception):
                rows.append((n, None, f"not JSON: {row}"))
                continue
            try:
                rows.append((n, alert_from_row(row), ""))
            except ValueError as exc:
                rows.append((n, None, str(exc)))
        alerts = [a for _, a, _ in rows if a is not None]
        proposals = iter(service.propose(alerts)) if alerts else iter(())
        engine = service.engine()
        if engine.runner is None:
            print(f"sreconsole: no trained model ({engine.model_error or 'run `sreconsole train trm`'}); using annotations and retrieval", file=sys.stderr)
        made = []
        for n, alert, error in rows:
            if alert is None:
                bad += 1
                write_json_line({"line": n, "error": error})
            else:
                proposal = next(proposals)
                made.append((proposal, alert))
                write_json_line(proposal.as_dict())
        if getattr(args, "enqueue", False) and made:
            code = _enqueue(settings, made)
            if code:
                return code
        return EXIT_FAILED if bad else EXIT_OK
    try:
        raw = json.loads(Path(args.alert).read_text(encoding="utf-8", errors="replace"))
    except OSError as exc:
        print(f"sreconsole: cannot read {args.alert!r}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    except ValueError as exc:
        print(f"sreconsole: {args.alert!r} is not JSON: {exc}", file=sys.stderr)
        return EXIT_FAILED
    try:
        alert = alert_from_row(raw if isinstance(raw, dict) and "alert" in raw else {"alert": raw})
    except ValueError as exc:
        print(f"sreconsole: {args.alert}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    (proposal,) = service.propose([alert])
    engine = service.engine()
    if getattr(args, "enqueue", False):
        code = _enqueue(settings, [(proposal, alert)])
        if code:
            return code
    if args.json:
        write_json(proposal.as_dict())
        return EXIT_OK
    _print_proposal(proposal, engine)
    return EXIT_OK


def _enqueue(settings, made) -> int:
    """Put proposals in the review queue; one line on stderr says how many."""
    from sreconsole.review.store import ReviewError
    from sreconsole.services.identity import current_operator
    from sreconsole.services.review import ReadOnly, ReviewQueue

    queue = ReviewQueue(settings, current_operator())
    try:
        records = queue.enqueue([p for p, _ in made], [a for _, a in made])
    except ReadOnly as exc:
        print(f"sreconsole: {exc}", file=sys.stderr)
        return EXIT_READ_ONLY
    except ReviewError as exc:
        print(f"sreconsole: review queue: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        queue.close()
    print(f"queued {len(records)} proposal(s) in {queue.path}: ids {', '.join(str(r.id) for r in records[:20])}{' …' if len(records) > 20 else ''}", file=sys.stderr)
    return EXIT_OK


def _print_proposal(p, engine) -> None:
    from rich.text import Text

    console = rich_console(highlight=False)
    conf = "—" if p.confidence is None else f"{p.confidence:.2f}"
    head = Text()
    head.append(f"{p.alertname}", style="bold")
    head.append(f"  →  {p.action}", style="bold cyan")
    head.append(f"  ({p.title}; risk {p.risk})")
    console.print(head)
    console.print(Text(f"confidence {conf}  method {p.method}  model {p.model_version or 'none'}"))
    if p.command:
        console.print(Text("command: ") + Text(p.command, style="green"))
    if p.requires_human_review:
        console.print(Text("requires human review: " + "; ".join(p.review_reasons), style="yellow"))
    for e in p.evidence:
        console.print(Text(f"  evidence [{e.kind}] {e.ref}: {e.summary}"))
    for note in p.notes:
        console.print(Text(f"  note: {note}", style="dim"))
    if engine.runner is None:
        console.print(Text(f"no trained model: {engine.model_error or 'run `sreconsole train trm`'}", style="dim"))


# -- eval ----------------------------------------------------------------------------------------


def _eval(settings, args) -> int:
    from sreconsole.services.triage import alert_from_row, evaluate_rows, read_rows

    recording = getattr(args, "from_recording", None)
    if recording and args.file:
        print("sreconsole: eval triage takes a labelled file or --from-recording, not both", file=sys.stderr)
        return EXIT_CONFIG
    if recording:
        return _eval_recording(settings, recording, as_json=args.json)
    if not args.file:
        print("sreconsole: eval triage needs a labelled file (FILE.jsonl) or --from-recording FILE", file=sys.stderr)
        return EXIT_CONFIG
    path = Path(args.file)
    if not path.is_file():
        print(f"sreconsole: {args.file!r} is not a file", file=sys.stderr)
        return EXIT_CONFIG
    split = getattr(args, "split", "")
    alerts, expected, errors = [], [], []
    for n, row in read_rows(path):
        try:
            if isinstance(row, Exception):
                raise ValueError(f"not JSON: {row}")
            if split and row.get("split") != split:
                continue
            exp = row.get("expected")
            if isinstance(exp, str):
                exp = [exp]
            if not isinstance(exp, list) or not exp or not all(isinstance(x, str) for x in exp):
                raise ValueError('"expected" must be a non-empty list of action ids')
            alerts.append(alert_from_row(row))
            expected.append(exp)
        except ValueError as exc:
            errors.append({"line": n, "error": str(exc)})
    service = _service(settings)
    result = evaluate_rows(service, alerts, expected)
    # The first JSON shape had the flow's figures at the top level; they stay there.
    result = {**result["flow"], **result, "split": split or "all", "errors": errors}
    if args.json:
        write_json(result)
        return EXIT_FAILED if errors else EXIT_OK
    _print_eval(result, settings)
    for e in errors:
        print(f"line {e['line']}: {e['error']}", file=sys.stderr)
    return EXIT_FAILED if errors else EXIT_OK


def _eval_recording(settings, path: str, *, as_json: bool) -> int:
    """The model on a recording's alerts, the operators' decisions as the labels."""
    from sreconsole.services.recording import RecordingError, read_recording, recorded_labels
    from sreconsole.services.triage import evaluate_recording

    try:
        recording = read_recording(path)
    except RecordingError as exc:
        print(f"sreconsole: {exc}", file=sys.stderr)
        return EXIT_BAD_RECORDING
    labels = recorded_labels(recording)
    result = evaluate_recording(_service(settings), labels)
    result = {**result["flow"], **result, "split": "recording", "recording": str(path), "notes": list(recording.notes), "errors": []}
    if as_json:
        write_json(result)
        return EXIT_OK
    for note in recording.notes:
        print(f"recording: {note}", file=sys.stderr)
    d = result["decisions"]
    print(f"{path}: {d.get('approved', 0)} approved, {d.get('rejected', 0)} rejected ({d.get('rejected_with_action', 0)} naming the right action):"
          f" {result['n']} labelled alerts")
    if result["n"]:
        _print_eval(result, settings)
    rej = result["rejected"]
    if rej["n"]:
        again = ", ".join(f"{name} {n} of {rej['n']}" for name, n in rej["proposed_again"].items())
        print(f"rejected naming no better action: the rejected action proposed again (lower is better): {again}")
    un = result["unlabelled"]
    if un["n"]:
        top = ", ".join(f"{a} {n}" for a, n in list(un["actions"].items())[:6])
        print(f"{un['n']} alerts nobody decided (not scored): {un['to_human']} to a human; proposed: {top}")
    return EXIT_OK


def _fig(value, fmt: str = ".3f") -> str:
    return "—" if value is None else format(value, fmt)


def _print_eval(result: dict, settings) -> None:
    from rich.table import Table

    console = rich_console(highlight=False)
    flow = result["flow"]
    model = result["model_version"] or "none"
    console.print(f"{result['n']} alerts ({result['split']}), model {model}"
                  + (f" ({result['model']} proposes)" if result.get("model") else "")
                  + f"; a human gets what requires review (below {settings.triage.low_threshold:.2f}, escalate, high risk, a missing parameter)")
    sim = result.get("similarity")
    if sim:
        console.print(f"nearest training alert, cosine: median {sim['median']:.3f}, p10 {sim['p10']:.3f}, p90 {sim['p90']:.3f}"
                      + (f"; confidence falls to 0 below {sim['novelty_floor']:.3f}" if sim.get("novelty_floor") is not None else ""))
    table = Table(title="every figure beside its floor (same rows, same review policy)", title_justify="left")
    for col in ("", "accuracy", "balanced", "macro-F1", "ECE", "to a human", "not to a human: accuracy", "coverage"):
        table.add_column(col, justify="right" if col else "left", no_wrap=True)
    named = {"majority": "majority baseline (always escalate)", "rules": "labelling rules alone", "logreg": "logistic regression (bare)", "trm": "TRM (bare)"}
    lines = [("the console's flow", flow)] + [(named.get(k, k), v) for k, v in result["baselines"].items()]
    for label, r in lines:
        kept = r.get("not_to_human") or {}
        scored = r.get("scored", 0)
        table.add_row(label, _fig(r["accuracy"]), _fig(r["balanced_accuracy"]), _fig(r["macro_f1"]), _fig(r["ece"]) if scored else "—",
                      _fig(r.get("share_to_human"), ".1%"), _fig(kept.get("accuracy")), _fig(kept.get("share"), ".1%"))
    console.print(table)
    recall = Table(title="recall per action (rows whose first expected action it is)", title_justify="left")
    recall.add_column("action")
    recall.add_column("n", justify="right")
    for label, _ in lines:
        recall.add_column(label.split(" (")[0], justify="right")
    for action, info in sorted(flow["recall_per_action"].items()):
        recall.add_row(action, str(info["n"]), *[_fig(r["recall_per_action"].get(action, {}).get("recall")) for _, r in lines])
    console.print(recall)
    rel = Table(title="reliability of the flow's confidence (10 equal-width bins)", title_justify="left")
    for col in ("confidence bin", "n", "mean confidence", "accuracy", "gap"):
        rel.add_column(col, justify="right")
    for b in flow["reliability"]:
        rel.add_row(f"{b['from']:.1f}–{b['to']:.1f}", str(b["n"]), f"{b['confidence']:.2f}", f"{b['accuracy']:.2f}", f"{b['gap']:+.2f}")
    console.print(rel)
    cov = Table(title="accuracy–coverage: proposals at or above each threshold", title_justify="left")
    for col in ("threshold", "coverage", "accuracy"):
        cov.add_column(col, justify="right")
    for t in flow["coverage"]:
        if round(t["threshold"] * 20) % 2 == 0 or t["threshold"] >= 0.8:
            cov.add_row(f"{t['threshold']:.2f}", f"{t['coverage']:.1%}", _fig(t["accuracy"]))
    console.print(cov)
    console.print("methods: " + ", ".join(f"{k} {v}" for k, v in sorted(flow["methods"].items())))
