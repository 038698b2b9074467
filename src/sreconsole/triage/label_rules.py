"""The labelling rules of the triage dataset: loaded from ``label_rules.toml`` and checked.

The rules are data, like the action catalog: an operator reads and edits them in one file
without reading Python. This module only turns that file into :class:`LabelRule` objects,
and refuses a file it cannot trust, naming the file and the rule: a rule that labels with
an action the catalog lacks, reads an unknown scope, repeats an id or carries a pattern
that does not compile would otherwise mislabel a training set silently. The shipped file
is loaded once, at import, and :func:`rule_label` applies it: the first rule that matches.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

from sreconsole.triage.examples import ACTION_IDS, alertname_words

SHIPPED_FILE = "label_rules.toml"

SCOPES = ("name", "alert", "text")
"""What a pattern reads, narrowest first: ``name`` (the alertname, its words and the
summary), ``alert`` (that and the description), ``text`` (that and the runbook's mitigation)."""

FLAGS = re.IGNORECASE | re.DOTALL
"""Every pattern is case-blind, and ``.`` crosses the line breaks between scope parts."""

_ID = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
_RULE_KEYS = {"id", "scope", "pattern", "action", "rationale"}
_DEFAULT_KEYS = {"action", "rationale"}


class LabelRuleError(ValueError):
    """The rules file cannot be used; the message names the file and the rule."""


@dataclass(frozen=True)
class LabelRule:
    id: str
    scope: str
    """A name of :data:`SCOPES`."""
    pattern: str
    action: str
    """A catalog action id."""
    rationale: str
    regex: re.Pattern[str] = field(compare=False, repr=False, default=re.compile(""))
    """``pattern`` compiled with :data:`FLAGS`; the default rule's empty pattern matches anything."""


@dataclass(frozen=True)
class LabelRules:
    rules: tuple[LabelRule, ...]
    """In file order, which is the precedence: the first rule that matches labels the alert."""
    default: LabelRule
    """Labels an alert no rule matches (id ``default``, scope ``text``, empty pattern)."""
    source: str


def _fail(where: str, message: str) -> NoReturn:
    raise LabelRuleError(f"{where}: {message}")


def _text(table: dict[str, Any], key: str, where: str) -> str:
    value = table.get(key)
    if value is None:
        _fail(where, f"{key} is missing")
    if not isinstance(value, str) or not value.strip():
        _fail(where, f"{key} must be a non-empty string")
    return value


def _table(data: object, where: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(data, dict):
        _fail(where, "must be a table")
    unknown = sorted(set(data) - allowed)
    if unknown:
        _fail(where, f"unknown field {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
    return data


def _pattern(value: object, where: str) -> str:
    """One regular expression, or a list of them read as alternatives (joined with ``|``),
    so a long rule can put one group of alternatives per line. Each part must compile on
    its own, so that a line break never falls inside a group."""
    parts = [value] if isinstance(value, str) else value
    if not isinstance(parts, list) or not parts or not all(isinstance(p, str) and p for p in parts):
        _fail(where, "pattern must be a non-empty string or a list of non-empty strings")
    for n, part in enumerate(parts, 1):
        try:
            re.compile(part, FLAGS)
        except re.error as exc:
            part_name = "pattern" if isinstance(value, str) else f"pattern part {n}"
            _fail(where, f"{part_name} does not compile: {exc} in {part!r}")
    return "|".join(parts)


def parse_label_rules(raw: bytes, source: str, action_ids: Iterable[str]) -> LabelRules:
    """Rules from the bytes of a rules file; ``source`` names the file in errors."""
    known_actions = set(action_ids)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        _fail(source, f"not a valid TOML file ({exc})")
    _table(data, source, {"default", "rule"})

    def action_of(table: dict[str, Any], where: str) -> str:
        action = _text(table, "action", where)
        if action not in known_actions:
            _fail(where, f"action {action!r} is not in the catalog")
        return action

    where = f"{source}: [default]"
    default_table = _table(data.get("default"), where, _DEFAULT_KEYS)
    default = LabelRule("default", "text", "", action_of(default_table, where), _text(default_table, "rationale", where))
    rows = data.get("rule")
    if not isinstance(rows, list) or not rows:
        _fail(source, "no [[rule]] tables: a rules file needs at least one rule")
    rules: list[LabelRule] = []
    seen = {default.id}
    for n, row in enumerate(rows, 1):
        if not isinstance(row, dict):
            _fail(f"{source}: rule #{n}", "must be a table")
        rule_id = _text(row, "id", f"{source}: rule #{n}")
        where = f'{source}: rule "{rule_id}"'
        table = _table(row, where, _RULE_KEYS)
        if not _ID.fullmatch(rule_id):
            _fail(where, "id must be lowercase letters, digits and single '-', starting with a letter")
        if rule_id in seen:
            _fail(where, "id is used twice (or is the reserved 'default')")
        seen.add(rule_id)
        scope = _text(table, "scope", where)
        if scope not in SCOPES:
            _fail(where, f"scope {scope!r} is not one of {', '.join(SCOPES)}")
        pattern = _pattern(table.get("pattern"), where)
        try:
            regex = re.compile(pattern, FLAGS)
        except re.error as exc:  # each part compiles; together they may not (a group name used twice)
            _fail(where, f"pattern does not compile: {exc}")
        rules.append(LabelRule(rule_id, scope, pattern, action_of(table, where), _text(table, "rationale", where), regex))
    return LabelRules(tuple(rules), default, source)


def load_label_rules(path: Path | None = None, action_ids: Iterable[str] | None = None) -> LabelRules:
    """The shipped rules file (or ``path``), checked against ``action_ids`` (default: the
    shipped catalog's). Raises :class:`LabelRuleError` naming the file and the rule."""
    action_ids = ACTION_IDS if action_ids is None else action_ids
    if path is None:
        resource = resources.files(__package__).joinpath(SHIPPED_FILE)
        return parse_label_rules(resource.read_bytes(), str(resource), action_ids)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        _fail(str(path), f"cannot read the file ({exc.strerror or exc})")
    return parse_label_rules(raw, str(path), action_ids)


SHIPPED = load_label_rules()
LABEL_RULES = SHIPPED.rules
"""The shipped rules in precedence order."""
DEFAULT_RULE = SHIPPED.default


def rule_label(alertname: str, summary: str = "", description: str = "", mitigation: str = "") -> LabelRule:
    """The first rule of ``LABEL_RULES`` whose pattern matches its scope, else ``DEFAULT_RULE``."""
    name = f"{alertname_words(alertname)}\n{alertname}\n{summary}"
    scopes = {"name": name, "alert": f"{name}\n{description}", "text": f"{name}\n{description}\n{mitigation}"}
    for rule in LABEL_RULES:
        if rule.regex.search(scopes[rule.scope]):
            return rule
    return DEFAULT_RULE
