"""Entry point: ``sreconsole`` starts the TUI; sub-commands do every job headless.

This module holds the whole parser (so ``--help`` reads as one page) and ``main``, which
loads the settings and hands them to the command's module: ``alerts``, ``config``,
``doctor``, ``kb``, ``chat`` (ask), ``triage`` (triage, train, eval), ``review`` (review,
audit), ``pipeline``. Those imports are local to each branch, and each command module
imports its heavy libraries inside its functions, so ``sreconsole --version`` and the TUI's
start-up pay only for what they use. Nothing imports this module but ``cli/__init__.py``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sreconsole import __version__
from sreconsole.cli.exit_codes import EXIT_CONFIG, EXIT_OK


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sreconsole",
        description="Terminal dashboard for on-call operators. With no sub-command, starts the TUI.",
    )
    parser.add_argument("--version", action="version", version=f"sreconsole {__version__}")
    parser.add_argument("--config", metavar="PATH", help="config file (default: $XDG_CONFIG_HOME/sreconsole/config.toml)")
    parser.add_argument("--demo", action="store_true", help="run on the embedded demo cluster even if sources are configured")
    parser.add_argument("--seed", type=int, metavar="N", help="seed of the demo cluster (same seed, same alerts)")
    parser.add_argument("--alertmanager", metavar="URL", help="Alertmanager base URL")
    parser.add_argument("--prometheus", metavar="URL", help="Prometheus base URL")
    parser.add_argument("--loki", metavar="URL", help="Loki base URL")
    parser.add_argument("--data-dir", metavar="PATH", help="where all state lives (also SRECONSOLE_DATA_DIR)")
    parser.add_argument("--theme", choices=("dark", "light"), help="colour theme")
    parser.add_argument("--read-only", action="store_true", help="disable approve, execute, silences and every other change")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    config = sub.add_parser("config", help="inspect the effective configuration")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = config_sub.add_parser("show", help="effective settings, each value's origin, secrets redacted")
    show.add_argument("--json", action="store_true", help="machine-readable output")

    alerts = sub.add_parser("alerts", help="live alerts from the configured source (or the demo)")
    alerts_sub = alerts.add_subparsers(dest="alerts_command", metavar="ACTION", required=True)
    alerts_list = alerts_sub.add_parser("list", help="print the current alerts")
    alerts_list.add_argument("--filter", metavar="MATCHERS", default="", help='matchers and words, e.g. \'severity="critical" payments\'')
    alerts_list.add_argument("--json", action="store_true", help="machine-readable output")

    kb = sub.add_parser("kb", help="the knowledge base: index documents, search, statistics")
    kb_sub = kb.add_subparsers(dest="kb_command", metavar="ACTION", required=True)
    kb_index = kb_sub.add_parser("index", help="index Markdown/text files (incremental: unchanged files cost a stat)")
    kb_index.add_argument("paths", nargs="*", metavar="PATH", help="files or directories (default: knowledge.paths, plus the demo's documents in demo mode)")
    kb_index.add_argument("--json", action="store_true", help="print the summary as JSON")
    kb_stats = kb_sub.add_parser("stats", help="what the store holds")
    kb_stats.add_argument("--json", action="store_true", help="machine-readable output")
    kb_search = kb_sub.add_parser("search", help="hybrid (BM25 + vector) search; hits cite path and lines")
    kb_search.add_argument("query", nargs="?", help="what to look for")
    kb_search.add_argument("--batch", metavar="FILE", help="one query per line (- for stdin); one JSON object per line out")
    kb_search.add_argument("-k", type=int, default=5, metavar="N", help="hits per query (default 5, at most 100)")
    kb_search.add_argument("--mode", choices=("hybrid", "bm25", "vector"), default="hybrid", help="ranking (default hybrid)")
    kb_search.add_argument("--kind", metavar="KIND", help="only this kind: runbook, markdown, text, incident")
    kb_search.add_argument("--alertname", metavar="NAME", help="only passages about this alert")
    kb_search.add_argument("--since", metavar="DURATION", help="only incidents/passages newer than this, e.g. 7d, 12h")
    kb_search.add_argument("--json", action="store_true", help="machine-readable output")

    ask = sub.add_parser("ask", help="ask Bruno a question; answers cite runbook path and lines")
    ask.add_argument("question", nargs="?", help="the question (quote it)")
    ask.add_argument("--batch", metavar="FILE", help="one question per line (- for stdin); one JSON object per line out")
    ask.add_argument("--json", action="store_true", help="machine-readable output")
    ask.add_argument("--generator", choices=("auto", "extractive", "ollama", "mlx"),
                     help="who writes the answer (overrides chat.generator)")

    train = sub.add_parser("train", help="train a model (the TRM that proposes remediations)")
    train_sub = train.add_subparsers(dest="train_command", metavar="MODEL", required=True)
    train_trm = train_sub.add_parser("trm", help="train the TRM on the shipped corpus and demo data (+ --data) and make it active")
    train_trm.add_argument("--data", action="append", default=[], metavar="FILE.jsonl", help="more labelled examples (dataset rows); repeatable")
    train_trm.add_argument("--corpus", metavar="DIR", help="the corpus directory (default: ../shared/corpus or $SRECONSOLE_CORPUS)")
    train_trm.add_argument("--epochs", type=int, metavar="N", help="training epochs (default 40)")
    train_trm.add_argument("--no-activate", action="store_true", help="save the model without making it the active one")
    train_trm.add_argument("--json", action="store_true", help="machine-readable report")

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
    review_approve = review_sub.add_parser("approve", help="approve a proposal (then execute: a dry run unless its risk is in review.apply_risks)")
    review_approve.add_argument("id", type=int)
    review_approve.add_argument("--reason", required=True, help="why (recorded in the audit trail)")
    review_approve.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="edit a parameter (re-validated); repeatable")
    review_approve.add_argument("--json", action="store_true")
    review_reject = review_sub.add_parser("reject", help="reject a proposal; --action labels the right one for training")
    review_reject.add_argument("id", type=int)
    review_reject.add_argument("--reason", required=True, help="why (required)")
    review_reject.add_argument("--action", metavar="ACTION_ID", help="the action that should have been proposed")
    review_reject.add_argument("--json", action="store_true")

    pipeline = sub.add_parser("pipeline", help="training pipeline runs: start, list, show, promote, cancel")
    pipeline_sub = pipeline.add_subparsers(dest="pipeline_command", metavar="ACTION", required=True)
    p_run = pipeline_sub.add_parser("run", help="start a run in a worker process and follow it")
    p_run.add_argument("--model", choices=("trm", "lora"), default="trm", help="the TRM, or LoRA on a small LLM with mlx-lm")
    p_run.add_argument("--base", metavar="PATH|demo-tiny", help="LoRA base: a local Hugging Face model directory, or demo-tiny (a tiny random llama built locally)")
    p_run.add_argument("--iters", type=int, metavar="N", help="LoRA iterations")
    p_run.add_argument("--epochs", type=int, metavar="N", help="TRM training epochs")
    p_run.add_argument("--corpus", metavar="DIR", help="corpus directory (default ../shared/corpus or $SRECONSOLE_CORPUS)")
    p_run.add_argument("--resume", metavar="RUN_ID", help="continue a failed or cancelled run from its first unfinished step")
    p_run.add_argument("--detach", action="store_true", help="start and return at once")
    p_run.add_argument("--if-due", action="store_true", help="start only if a schedule says so (pipeline.retrain_every_days / retrain_after_decisions); for cron")
    p_run.add_argument("--json", action="store_true")
    p_list = pipeline_sub.add_parser("list", help="runs, newest first")
    p_list.add_argument("--json", action="store_true")
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
    audit_sub.add_parser("verify", help="check the hash chain; exit 1 naming the first bad entry")
    audit_export = audit_sub.add_parser("export", help="every entry, oldest first")
    audit_export.add_argument("--json", action="store_true", help="one JSON object per line")

    evaluate = sub.add_parser("eval", help="evaluate a component on a labelled file")
    eval_sub = evaluate.add_subparsers(dest="eval_command", metavar="WHAT", required=True)
    eval_triage = eval_sub.add_parser("triage", help="accuracy, balanced accuracy, macro-F1, ECE, coverage and the share sent to a human, beside the majority baseline, the labelling rules and the other classifier, on {\"alert\", \"expected\"} rows")
    eval_triage.add_argument("file", metavar="FILE.jsonl")
    eval_triage.add_argument("--split", default="", help="only rows whose \"split\" is this (e.g. test); default: every row")
    eval_triage.add_argument("--json", action="store_true", help="machine-readable output")

    doctor = sub.add_parser("doctor", help="check configured sources and local prerequisites")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "demo_mode": True if args.demo else None,
        "demo.seed": args.seed,
        "alertmanager.url": args.alertmanager,
        "prometheus.url": args.prometheus,
        "loki.url": args.loki,
        "data_dir": args.data_dir,
        "theme": args.theme,
        "read_only": True if args.read_only else None,
        "chat.generator": getattr(args, "generator", None),
    }


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from pathlib import Path

    from sreconsole.config import ConfigError, load_settings

    try:
        settings = load_settings(Path(args.config) if args.config else None, overrides=_overrides(args))
    except ConfigError as exc:
        print(f"sreconsole: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG

    if args.command == "config":
        from sreconsole.cli.config import run_config_show

        _print_warnings(settings)
        return run_config_show(settings, as_json=args.json)
    if args.command == "alerts":
        from sreconsole.cli.alerts import run_alerts_list

        return run_alerts_list(settings, args.filter, as_json=args.json)
    if args.command == "kb":
        from sreconsole.cli.kb import run_kb

        return run_kb(settings, args)
    if args.command == "ask":
        from sreconsole.cli.chat import run_ask

        return run_ask(settings, args)
    if args.command == "pipeline":
        from sreconsole.cli.pipeline import run_pipeline_command

        return run_pipeline_command(settings, args)
    if args.command in ("review", "audit"):
        from sreconsole.cli.review import run_review_command

        return run_review_command(settings, args)
    if args.command in ("train", "triage", "eval"):
        from sreconsole.cli.triage import run_triage_command

        return run_triage_command(settings, args)
    if args.command == "doctor":
        from sreconsole.cli.doctor import run_doctor

        _print_warnings(settings)
        return run_doctor(settings, as_json=args.json)
    return _run_tui(settings)


def _print_warnings(settings) -> None:
    """Unknown keys and the like, for the two commands people run to check a setup."""
    for warning in settings.warnings:
        print(f"warning: {warning}", file=sys.stderr)


def _run_tui(settings) -> int:
    from sreconsole.sources.demo.simulator import ScenarioError
    from sreconsole.tui.app import make_app

    try:
        app = make_app(settings)
    except ScenarioError as exc:
        print(f"sreconsole: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    app.run()
    return app.return_code or EXIT_OK
