"""The labelled dataset for the alert → remediation-action classifier (TRM).

Every row is one alert (alertname, labels, summary, description) and the catalog action an
SRE would take first. Where the label comes from, most trusted first:

* ``runbook-seed``: the shipped ``RUNBOOK.md``; each ``### Alert:`` section names its action
  on an ``**Action:**`` line, which AGENT-CAPABILITIES.md calls the reference answer.
* ``demo``: the shipped scenario's alerts, rendered by the demo simulator itself (so the
  rows look exactly like what the console shows), labelled by their RUNBOOK.md section.
* ``decision``: operators' verdicts from the review queue (approved, or corrected).
* ``annotation``: homelab PrometheusRules whose ``lambda_function`` annotation names the
  remediation; the annotation *is* the label.
* ``runbook-promop`` / ``rules-homelab`` / ``rules-awesome``: the prometheus-operator
  runbooks, the other homelab rules and awesome-prometheus-alerts, labelled by the rules of
  ``label_rules.toml`` (ordered, first match wins, default ``escalate``; the file says why
  in that order). Every row records the rule that labelled it.

This module builds and splits; the parts live beside it, each a thing that changes on its
own: ``examples`` (the row, the model's text, the JSONL file), ``label_rules`` (the rules'
loader and first match), ``synthetic`` (label values and phrasings of the variants),
``corpus`` (the readers of each source). Their public names are importable from here.

Synthetic variety: one source alert becomes ``variants`` rows that differ in label values
and in how the summary is phrased. Variants share a ``group``: the alert's *family* (see
``alert_family``), which ``split_by_group`` keeps in one split, so the test split measures
generalisation to alerts never seen in training.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sreconsole.triage.corpus import (
    awesome_alertname,
    demo_examples,
    read_awesome,
    read_homelab,
    read_promop_runbooks,
    read_seed_runbook,
)
from sreconsole.triage.examples import (
    ACTION_IDS,
    Example,
    alert_family,
    alert_text,
    alertname_words,
    dataset_hash,
    read_jsonl,
    write_jsonl,
)
from sreconsole.triage.label_rules import DEFAULT_RULE, LABEL_RULES, LabelRule, rule_label
from sreconsole.triage.synthetic import seeded_rng, variant_rows

__all__ = [
    "ACTION_IDS", "DEFAULT_CORPUS", "DEFAULT_RULE", "LABEL_RULES", "SHIPPED_RUNBOOK", "SHIPPED_SCENARIO", "SOURCES",
    "SPLITS", "Dataset", "Example", "LabelRule", "alert_family", "alert_text", "alertname_words", "awesome_alertname",
    "OUTCOME_RULE", "OUTCOME_WEIGHT", "build_dataset", "class_balance", "is_outcome_label", "weight_outcome_labels", "dataset_hash", "dataset_stats", "decision_examples", "read_jsonl", "rule_label",
    "split_by_group", "write_jsonl",
]  # fmt: skip

SOURCES = ("runbook-seed", "demo", "runbook-promop", "annotation", "rules-homelab", "rules-awesome", "decision")

_PACKAGE = Path(__file__).resolve().parents[1]
SHIPPED_RUNBOOK = _PACKAGE / "sources" / "demo" / "knowledge" / "RUNBOOK.md"
SHIPPED_SCENARIO = _PACKAGE / "sources" / "demo" / "scenario.toml"
DEFAULT_CORPUS = _PACKAGE.parents[1] / ".." / "shared" / "corpus"
"""``<repo>/../shared/corpus`` in a source checkout; absent in an installed wheel."""


@dataclass
class Dataset:
    examples: list[Example]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(what, why) for every source, file, rule or decision that produced no row."""
    sources: dict[str, int] = field(default_factory=dict)
    """Rows per source, every name of ``SOURCES`` present (0 where a source gave nothing)."""


# -- building ------------------------------------------------------------------------------


def decision_examples(decisions: Iterable[Mapping[str, Any]], skipped: list[tuple[str, str]] | None = None) -> list[Example]:
    """Operators' verdicts as rows: approved confirms the proposed action, rejected with a
    ``corrected_action`` relabels to it, rejected without one is dropped (we only know
    what was wrong, not what was right). Not varied: these are real alerts."""
    skipped = skipped if skipped is not None else []
    out = []
    for n, decision in enumerate(decisions):
        alert = decision.get("alert") or {}
        labels = {str(k): str(v) for k, v in (alert.get("labels") or {}).items()}
        annotations = {str(k): str(v) for k, v in (alert.get("annotations") or {}).items()}
        name = labels.get("alertname", "")
        verdict = decision.get("verdict")
        action = decision.get("action") if verdict == "approved" else decision.get("corrected_action")
        where = f"decision #{n} {name or '?'}"
        effect = decision.get("effect") or ""
        if not name:
            skipped.append((where, "the alert has no alertname label"))
        elif verdict not in ("approved", "rejected"):
            skipped.append((where, f"verdict must be approved or rejected, got {verdict!r}"))
        elif verdict == "rejected" and not action:
            skipped.append((where, "rejected without a corrected action: no label to learn"))
        elif action not in ACTION_IDS:
            skipped.append((where, f"{action!r} is not a catalog id"))
        elif verdict == "approved" and effect == "not_effective":
            skipped.append((where, f"{action} was executed and did not fix the alert: the label is wrong"))
        else:
            rule = "decision-approved" if verdict == "approved" else "decision-corrected"
            provenance = {"rule": OUTCOME_RULE if verdict == "approved" and effect == "effective" else rule,
                          "verdict": verdict, "proposed_action": str(decision.get("action", "")),
                          "decided_at": str(decision.get("decided_at", "")), "fingerprint": str(alert.get("fingerprint", "")),
                          "synthesised_labels": []}
            out.append(Example(name, dict(sorted(labels.items())),
                               {"summary": annotations.get("summary", ""), "description": annotations.get("description", "")},
                               action, "decision", provenance, alert_family(name)))
    return out


OUTCOME_RULE = "outcome-effective"
"""The provenance rule of a row whose action was executed and resolved its alert in time."""

OUTCOME_WEIGHT = 3
"""How many times an outcome-labelled row counts in training, against 1 for a rule-labelled
one: an action that fixed the real alert is the strongest label there is."""


def is_outcome_label(example: Example) -> bool:
    return example.provenance.get("rule") == OUTCOME_RULE


def weight_outcome_labels(rows: Iterable[Example], weight: int = OUTCOME_WEIGHT) -> list[Example]:
    """The training rows with each outcome label repeated ``weight`` times (the trainers take
    no per-row weights; a repeated row weighs as much in the loss). Only the training split
    is weighted: repeating a test row would count it twice in the score."""
    return [ex for row in rows for ex in [row] * (weight if is_outcome_label(row) else 1)]


def build_dataset(
    corpus_dir: Path | None = None, decisions: Iterable[Mapping[str, Any]] = (), variants: int = 4, seed: int = 0
) -> Dataset:
    """All sources, in a fixed order; the same inputs give byte-identical JSONL.

    ``corpus_dir`` defaults to ``<repo>/../shared/corpus``; where it does not exist only the
    shipped RUNBOOK.md and scenario are used and ``skipped`` names the missing sources.
    The homelab and awesome sources need PyYAML (the test extra); without it they are
    skipped with that reason rather than failing the whole build.
    """
    if variants < 1:
        raise ValueError("variants must be at least 1")
    skipped: list[tuple[str, str]] = []
    corpus = Path(corpus_dir if corpus_dir is not None else DEFAULT_CORPUS).resolve()
    alerts = read_seed_runbook(SHIPPED_RUNBOOK, skipped)
    runbook_actions = {a.alertname: a.action for a in alerts}
    examples = [ex for a in alerts for ex in variant_rows(a, variants, seed)]
    examples += demo_examples(SHIPPED_SCENARIO, runbook_actions, variants, seed)

    corpus_sources = (
        ("runbook-promop", corpus / "runbooks" / "prometheus-operator", read_promop_runbooks, False),
        ("annotation+rules-homelab", corpus / "alert-rules" / "homelab", read_homelab, True),
        ("rules-awesome", corpus / "alert-rules" / "awesome-prometheus-alerts.yml", read_awesome, True),
    )
    for label, path, reader, needs_yaml in corpus_sources:
        if not path.exists():
            skipped.append((f"source {label}", f"{path} not found (corpus {corpus})"))
            continue
        if needs_yaml:
            try:
                import yaml  # noqa: F401
            except ImportError:
                skipped.append((f"source {label}", "PyYAML is not installed (pip install sreconsole[test])"))
                continue
        examples += [ex for a in reader(path, skipped) for ex in variant_rows(a, variants, seed)]
    examples += decision_examples(decisions, skipped)
    counts = Counter(ex.source for ex in examples)
    return Dataset(examples, skipped, {s: counts.get(s, 0) for s in SOURCES})


# -- splits and summaries --------------------------------------------------------------------

SPLITS = ("train", "validation", "test")


def split_by_group(
    examples: Iterable[Example], seed: int = 0, fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
) -> dict[str, list[Example]]:
    """Whole groups go to one split, so the test measures alerts never seen in training.

    Groups that share an alertname are merged first (a hand-edited or decision row may carry
    another group), which makes "every alertname in exactly one split" hold by construction.
    Groups are stratified by their majority action; within an action the shuffled groups are
    cut by ``fractions`` of the *group* count, with train first to get one: an action with a
    single group goes to train, with two to train and test, with three or more to all three.
    """
    rows = list(examples)
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    for ex in rows:
        a, b = find("g:" + ex.group), find("a:" + ex.alertname)
        if a != b:
            parent[max(a, b)] = min(a, b)
    members: dict[str, list[Example]] = {}
    for ex in rows:
        members.setdefault(find("g:" + ex.group), []).append(ex)
    by_action: dict[str, list[str]] = {}
    for key, group_rows in members.items():
        counts = Counter(ex.action for ex in group_rows)
        majority = min(counts, key=lambda action: (-counts[action], action))
        by_action.setdefault(majority, []).append(key)
    place: dict[str, str] = {}
    for action in sorted(by_action):
        keys = sorted(by_action[action])
        seeded_rng(seed, "split", action).shuffle(keys)
        n = len(keys)
        n_test = max(1 if n >= 2 else 0, int(n * fractions[2] + 0.5))
        n_val = max(1 if n >= 3 else 0, int(n * fractions[1] + 0.5))
        while n_test + n_val > n - 1 and (n_test or n_val):
            if n_val >= n_test and n_val:
                n_val -= 1
            else:
                n_test -= 1
        for i, key in enumerate(keys):
            place[key] = "test" if i < n_test else "validation" if i < n_test + n_val else "train"
    # A minority action (say one corrected decision inside a group) may still miss train:
    # move the smallest group holding it there, so the model can at least learn it.
    for action in sorted({ex.action for ex in rows}):
        holders = sorted((len(group_rows), key) for key, group_rows in members.items()
                         if any(ex.action == action for ex in group_rows))
        if holders and not any(place[key] == "train" for _, key in holders):
            place[holders[0][1]] = "train"
    out: dict[str, list[Example]] = {name: [] for name in SPLITS}
    for ex in rows:
        out[place[find("g:" + ex.group)]].append(ex)
    return out


def class_balance(examples: Iterable[Example]) -> dict[str, dict[str, float]]:
    """Rows, groups and row share per catalog action, zeros included (a missing class shows)."""
    rows = list(examples)
    by_rows = Counter(ex.action for ex in rows)
    by_groups = Counter(action for action, _ in {(ex.action, ex.group) for ex in rows})
    total = len(rows) or 1
    return {a: {"rows": by_rows.get(a, 0), "groups": by_groups.get(a, 0), "share": round(by_rows.get(a, 0) / total, 4)}
            for a in ACTION_IDS}


def dataset_stats(examples: Iterable[Example], splits: Mapping[str, Iterable[Example]] | None = None) -> dict[str, Any]:
    rows = list(examples)
    stats: dict[str, Any] = {
        "rows": len(rows),
        "groups": len({ex.group for ex in rows}),
        "alertnames": len({ex.alertname for ex in rows}),
        "by_action": {a: c["rows"] for a, c in class_balance(rows).items()},
        "by_source": dict(sorted(Counter(ex.source for ex in rows).items())),
    }
    if splits is not None:
        stats["splits"] = {}
        for name, part in splits.items():
            part = list(part)
            stats["splits"][name] = {"rows": len(part), "groups": len({ex.group for ex in part}),
                                     "by_action": dict(sorted(Counter(ex.action for ex in part).items()))}
    return stats
