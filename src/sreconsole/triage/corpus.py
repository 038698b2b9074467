"""The sources of the triage dataset, read into alerts with their labels.

Each reader turns one kind of file into :class:`~sreconsole.triage.synthetic.SourceAlert`
values (or, for the demo, finished rows), labelled as its source allows: the shipped
RUNBOOK.md by its ``**Action:**`` lines, the homelab rules by their ``lambda_function``
annotation, everything else by the labelling rules (``label_rules.toml``). A file that
cannot be read or parsed is recorded in ``skipped`` with the reason and the build goes on.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sreconsole.knowledge.chunking import alert_sections
from sreconsole.triage.examples import ACTION_IDS, Example, alert_family, alertname_words
from sreconsole.triage.label_rules import rule_label
from sreconsole.triage.synthetic import (
    ACTION_KINDS,
    SourceAlert,
    first_sentence,
    label_text_kinds,
    query_labels,
    template_labels,
)


def _plain(markdown: str) -> str:
    """Runbook prose as an alert would say it: no HTML, link targets or backticks."""
    text = re.sub(r"<summary>.*?</summary>|<[^>]+>", " ", markdown)
    text = re.sub(r"!?\[([^\]]*)\](\([^)]*\)|\[[^\]]*\])", r"\1", text)
    return " ".join(text.replace("`", "").split())


def _read(path: Path, skipped: list[tuple[str, str]]) -> str | None:
    """A corpus file's text, or None with the reason recorded: one bad file skips, not aborts."""
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        skipped.append((str(path), f"cannot read: {exc}"))
        return None


def read_seed_runbook(path: Path, skipped: list[tuple[str, str]]) -> list[SourceAlert]:
    out = []
    for section in alert_sections(path.read_text(encoding="utf-8")):
        where = f"{path}:{section.start_line} {section.alertname}"
        action = section.parts.get("action", "")
        if section.format != "seed":
            continue
        if action not in ACTION_IDS:
            skipped.append((where, f"**Action:** {action!r} is not a catalog id" if action else "no **Action:** line"))
            continue
        # Bullets that are mostly PromQL or log lines read nothing like an alert summary.
        bullets = [line.lstrip("-* ").strip() for line in section.parts.get("symptoms", "").splitlines()]
        symptoms = [_plain(b) for b in bullets if b and sum(len(c) for c in re.findall(r"`[^`]*`", b)) <= len(b) / 2]
        if not symptoms:
            skipped.append((where, "no symptoms to phrase an alert from"))
            continue
        # The runbook's <placeholders> are the alert's labels (its introduction says so).
        placeholders = set(re.findall(r"<([a-z]+)>", "\n".join(section.parts.values())))
        kinds = [k for k in ("pod", "deployment", "pvc", "node") if k in placeholders]
        kinds += [k for k in ACTION_KINDS[action] if k not in kinds]
        extra = tuple(key for p, key in (("namespace", "namespace"), ("container", "container"), ("name", "name"),
                                         ("ip", "instance")) if p in placeholders)
        out.append(SourceAlert(
            section.alertname, section.parts.get("severity", "").split()[0] if section.parts.get("severity") else "",
            symptoms[0], " ".join(symptoms[1:3]), action, "runbook-seed",
            {"file": str(path), "lines": [section.start_line, section.end_line], "rule": "runbook-action"},
            alert_family(section.alertname), kinds=tuple(kinds), extra_keys=extra))
    return out


def demo_examples(scenario_path: Path, runbook: Mapping[str, str], variants: int, seed: int) -> list[Example]:
    """The shipped scenario rendered by the simulator, so labels match what the console shows."""
    from sreconsole.sources.demo.simulator import DemoCluster, parse_scenario  # the demo layer, only here

    scenario = parse_scenario(tomllib.loads(scenario_path.read_text(encoding="utf-8")), str(scenario_path))
    lines = scenario_path.read_text(encoding="utf-8").splitlines()
    starts = [i + 1 for i, line in enumerate(lines) if line.strip() == "[[incident]]"]
    epoch = datetime(2026, 1, 1, tzinfo=timezone.utc)
    out = []
    for inc in scenario.incidents:
        if inc.alertname in runbook:
            action, rule = runbook[inc.alertname], "runbook-action"
        else:
            found = rule_label(inc.alertname, inc.summary, inc.description)
            action, rule = found.action, found.id
        for i in range(variants):
            demo_seed = int.from_bytes(hashlib.sha256(f"{seed}|demo|{i}".encode()).digest()[:4], "big")
            cluster = DemoCluster(scenario, seed=demo_seed, epoch=epoch)
            at = epoch + timedelta(seconds=inc.at_s + min(1.0, inc.for_s / 2))
            occ = next(o for o in cluster.occurrences_at(at) if o.incident.index == inc.index)
            annotations = {k: occ.alert.annotations.get(k, "") for k in ("summary", "description")}
            provenance = {"file": str(scenario_path), "lines": [starts[inc.index], starts[inc.index]], "rule": rule,
                          "variant": i, "synthesised_labels": ["simulator"]}
            out.append(Example(inc.alertname, dict(sorted(occ.alert.labels.items())), annotations, action, "demo",
                               provenance, alert_family(inc.alertname)))
    return out


def read_promop_runbooks(root: Path, skipped: list[tuple[str, str]]) -> list[SourceAlert]:
    out = []
    for path in sorted(root.rglob("*.md")):
        if path.name.startswith("_"):
            continue
        text = _read(path, skipped)
        if text is None:
            continue
        sections = [s for s in alert_sections(text) if s.format != "seed"]
        if not sections:
            skipped.append((str(path), "not in the Meaning/Impact/Diagnosis/Mitigation shape the parser reads"))
            continue
        section = sections[0]
        # An upstream copy-paste (PrometheusRemoteWriteBehind.md titled PrometheusRemoteStorageFailures):
        # the file name is the alert the page is about.
        name = path.stem if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", path.stem) else section.alertname
        summary, rest = first_sentence(_plain(section.parts.get("meaning", "")))
        impact, _ = first_sentence(_plain(section.parts.get("impact", "")))
        if not summary:
            skipped.append((str(path), "no Meaning to phrase an alert from"))
            continue
        description = " ".join(x for x in (rest, impact) if x)
        rule = rule_label(name, summary, description, section.parts.get("mitigation", ""))
        provenance = {"file": str(path), "lines": [section.start_line, section.end_line], "rule": rule.id}
        if name != section.alertname:
            provenance["title"] = section.alertname
        out.append(SourceAlert(name, "", summary, description, rule.action, "runbook-promop", provenance,
                                alert_family(name), kinds=label_text_kinds(f"{alertname_words(name)} {summary}", rule.action)))
    return out


def _yaml_loader() -> Any:
    """PyYAML's safe loader that reads a bare ``=`` as a string (the YAML 1.1 "value" tag
    breaks AlertmanagerConfig matchers such as ``matchType: =``)."""
    import yaml  # optional: the test extra; callers skip the YAML sources when it is missing

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("tag:yaml.org,2002:value", lambda loader, node: loader.construct_scalar(node))
    return yaml, Loader


def read_homelab(root: Path, skipped: list[tuple[str, str]]) -> list[SourceAlert]:
    yaml, loader = _yaml_loader()
    out = []
    for path in sorted(root.glob("*.yaml")):
        text = _read(path, skipped)
        if text is None:
            continue
        line_of = {m.group(1): text.count("\n", 0, m.start()) + 1
                   for m in re.finditer(r"^[ \t]*-[ \t]*alert:[ \t]*['\"]?([A-Za-z0-9_:]+)", text, re.M)}
        try:
            docs = [d for d in yaml.load_all(text, Loader=loader) if isinstance(d, dict)]
        except yaml.YAMLError as exc:
            skipped.append((str(path), f"not valid YAML: {exc}"))
            continue
        for doc in docs:
            if doc.get("kind") != "PrometheusRule":
                continue
            for group in (doc.get("spec") or {}).get("groups") or []:
                for rule in group.get("rules") or []:
                    name = rule.get("alert")
                    if not name:
                        continue  # a recording rule
                    ann = {k: str(v) for k, v in (rule.get("annotations") or {}).items()}
                    labels = {k: str(v) for k, v in (rule.get("labels") or {}).items()}
                    summary, description = ann.get("summary", ""), ann.get("description", "")
                    where = f"{path}:{line_of.get(name, 0)} {name}"
                    lambda_function = ann.get("lambda_function", "").strip()
                    if lambda_function and lambda_function not in ACTION_IDS:
                        skipped.append((where, f"lambda_function {lambda_function!r} is not a catalog id"))
                        continue
                    if lambda_function:
                        action, rule_id, source = lambda_function, "annotation", "annotation"
                    else:
                        found = rule_label(name, summary, description)
                        action, rule_id, source = found.action, found.id, "rules-homelab"
                    refs = template_labels(summary, description, ann.get("lambda_parameters", ""))
                    kinds = list(ACTION_KINDS[action])
                    provenance = {"file": str(path), "lines": [line_of.get(name, 0)] * 2, "rule": rule_id}
                    severity = labels.pop("severity", "")
                    out.append(SourceAlert(name, severity, summary, description, action, source, provenance,
                                            alert_family(name), labels={**query_labels(str(rule.get("expr", ""))), **labels},
                                            kinds=tuple(kinds), extra_keys=tuple(sorted(refs))))
    return out


def awesome_alertname(rule_name: str) -> str:
    """The site's CamelCase (Liquid ``capitalize`` on each space-separated word, then the
    spaces removed), with the characters a Prometheus alert name cannot hold dropped:
    ``Prometheus target missing`` → ``PrometheusTargetMissing``,
    ``Mysql too many connections (> 80%)`` → ``MysqlTooManyConnections80``."""
    words = re.split(r"[^A-Za-z0-9]+", rule_name)
    return "".join(w[:1].upper() + w[1:].lower() for w in words if w)


def read_awesome(path: Path, skipped: list[tuple[str, str]]) -> list[SourceAlert]:
    yaml, loader = _yaml_loader()
    text = _read(path, skipped)
    if text is None:
        return []
    line_of: dict[str, int] = {}
    for m in re.finditer(r"^[ \t]*-[ \t]*name:[ \t]*(.+?)[ \t]*$", text, re.M):
        line_of.setdefault(m.group(1).strip("'\""), text.count("\n", 0, m.start()) + 1)
    try:
        doc = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        skipped.append((str(path), f"not valid YAML: {exc}"))
        return []
    out = []
    seen: set[str] = set()
    for group in doc.get("groups") or []:
        for service in group.get("services") or []:
            job = re.sub(r"[^a-z0-9]+", "-", str(service.get("name", "")).lower()).strip("-")
            for exporter in service.get("exporters") or []:
                for rule in exporter.get("rules") or []:
                    rule_name = str(rule.get("name", ""))
                    name = awesome_alertname(rule_name)
                    where = f"{path}:{line_of.get(rule_name, 0)} {rule_name}"
                    if not name or name in seen:
                        skipped.append((where, "empty or duplicate alert name"))
                        continue
                    seen.add(name)
                    description = str(rule.get("description", ""))
                    summary = f"{rule_name} (instance {{{{ $labels.instance }}}})"
                    found = rule_label(name, summary, description)
                    kinds = label_text_kinds(f"{alertname_words(name)} {rule_name}", found.action)
                    provenance = {"file": str(path), "lines": [line_of.get(rule_name, 0)] * 2, "rule": found.id,
                                  "service": str(service.get("name", ""))}
                    family = alert_family(awesome_alertname(re.sub(r"\([^)]*\)", "", rule_name)))
                    labels = {"job": job, **query_labels(str(rule.get("query", "")))}
                    out.append(SourceAlert(name, str(rule.get("severity", "")), summary, description, found.action,
                                            "rules-awesome", provenance, family, labels=labels, kinds=kinds,
                                            extra_keys=("instance", *sorted(template_labels(description)))))
    return out
