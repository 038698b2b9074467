"""Reading catalog files: the shipped ``actions.toml`` and an optional user file, each
checked field by field so that a typo fails at start-up — naming the file, the action and
the field — rather than during an incident.

A user file may add actions; it may replace a shipped one only with ``override = true``.
"""

from __future__ import annotations

import re
from datetime import timedelta
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

from sreconsole.triage.catalog_model import (
    BODY_SOURCES,
    CONTENT_TYPES,
    HTTP_METHODS,
    KINDS,
    PLACEHOLDER,
    RESERVED_NAMES,
    RISKS,
    SHIPPED_FILE,
    Action,
    Catalog,
    CatalogError,
    Operation,
    Parameter,
)

# Syntax of the names in a catalog file, each with the words used when one is wrong.
_ID = (
    re.compile(r"(?=.{1,63}\Z)[a-z][a-z0-9]*(-[a-z0-9]+)*"),
    "an action id: at most 63 lowercase letters, digits and single '-', starting with a letter",
)
_PARAM_NAME = (
    re.compile(r"[a-z][a-z0-9_]*"),
    "a parameter name: lowercase letters, digits and '_', starting with a letter",
)
_LABEL_NAME = (re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*"), "a Prometheus label name")
_API = (
    re.compile(r"core/v1|[a-z0-9]([-a-z0-9.]*[a-z0-9])?/v[0-9]+((alpha|beta)[0-9]+)?"),
    "a group/version such as core/v1 or apps/v1",
)
_RESOURCE = (re.compile(r"[a-z][a-z0-9]*"), "a plural resource name such as pods")


def load_catalog(extra: Path | None = None) -> Catalog:
    """The shipped catalog, plus the actions of ``extra`` (a user file) if given.

    A user file may add actions; it may replace a shipped one only with ``override = true``,
    so that a clash of ids is never silent.
    """
    raw = resources.files(__package__).joinpath(SHIPPED_FILE).read_bytes()
    files = [(SHIPPED_FILE, raw)]
    if extra is not None:
        try:
            files.append((str(extra), Path(extra).read_bytes()))
        except OSError as exc:
            raise CatalogError(f"{extra}: cannot read the file ({exc.strerror or exc})") from None
    by_id: dict[str, Action] = {}
    for name, data in files:
        seen: set[str] = set()
        for action, override in _parse_file(name, data):
            where = f'{name}: action "{action.id}"'
            if action.id in seen:
                raise CatalogError(f"{where}: id is defined twice in this file")
            seen.add(action.id)
            if override and action.id not in by_id:
                raise CatalogError(f"{where}: override is true but no earlier action has this id")
            if action.id in by_id and not override:
                raise CatalogError(
                    f"{where}: id is already defined in {by_id[action.id].source};"
                    " set override = true to replace it"
                )
            by_id[action.id] = action
    for action in by_id.values():
        if action.undo_action is not None and action.undo_action not in by_id:
            raise CatalogError(
                f'{action.source}: action "{action.id}": undo_action names'
                f" {action.undo_action!r}, which is not in the catalog"
            )
    return Catalog(tuple(by_id.values()))


# --- parsing --------------------------------------------------------------------------


def _fail(where: str, message: str) -> NoReturn:
    raise CatalogError(f"{where}: {message}")


class _Table:
    """Typed access to one TOML table that fails with the file, action and field named."""

    def __init__(self, data: object, where: str, allowed: set[str]) -> None:
        if not isinstance(data, dict):
            _fail(where, "must be a table")
        unknown = sorted(set(data) - allowed)
        if unknown:
            _fail(where, f"unknown field {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")
        self.data, self.where = data, where

    def text(
        self, key: str, *, required: bool = True, syntax: tuple[re.Pattern[str], str] | None = None
    ) -> Any:
        value = self.data.get(key)
        if value is None:
            if required:
                _fail(self.where, f"{key} is missing")
            return None
        if not isinstance(value, str) or not value.strip():
            _fail(self.where, f"{key} must be a non-empty string")
        if syntax is not None and not syntax[0].fullmatch(value):
            _fail(self.where, f"{key} {value!r} is not {syntax[1]}")
        return value

    def flag(self, key: str, *, default: bool | None = None) -> bool:
        value = self.data.get(key, default)
        if value is None:
            _fail(self.where, f"{key} is missing")
        if not isinstance(value, bool):
            _fail(self.where, f"{key} must be true or false")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            _fail(self.where, f"{key} must be a list of strings")
        return tuple(value)


_ACTION_KEYS = {
    "id", "title", "description", "risk", "reversible", "rollback", "kubectl",
    "parameters", "operation", "undo_action", "undo_operation", "override", "effect_window",
}  # fmt: skip
_PARAMETER_KEYS = {"name", "label", "labels", "kind", "pattern", "default"}
_OPERATION_KEYS = {"verb", "api", "resource", "namespaced", "patch_type", "body", "body_from"}


def _parse_file(name: str, raw: bytes) -> list[tuple[Action, bool]]:
    """``(action, override)`` pairs in file order, each fully validated."""
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        _fail(name, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        if m := re.search(r"\s*\(at line (\d+), column (\d+)\)$", message):
            _fail(f"{name}:{m[1]}", f"invalid TOML: {message[: m.start()]} (column {m[2]})")
        _fail(name, f"invalid TOML: {message}")
    top = _Table(data, name, {"action"})
    actions = top.data.get("action", [])
    if not isinstance(actions, list):
        _fail(name, "action must be an array of tables ([[action]])")
    return [_parse_action(name, n, item) for n, item in enumerate(actions, 1)]


def _effect_window(where: str, table: _Table, verb: str) -> float | None:
    """``effect_window`` in seconds: a duration ("10m", "1h"), only on an action that changes
    something (a read-only action cannot fix an alert)."""
    text = table.text("effect_window", required=False)
    if text is None:
        return None
    if verb in ("get", "none"):
        _fail(where, f'effect_window is given but the operation verb is "{verb}" (it changes nothing)')
    from sreconsole.domain.silences import parse_duration

    try:
        return parse_duration(text, longest=timedelta(days=1), too_long="an effect window is at most a day").total_seconds()
    except ValueError as exc:
        _fail(where, f"effect_window: {exc}")


def _parse_action(file: str, number: int, data: object) -> tuple[Action, bool]:
    table = _Table(data, f"{file}: action #{number}", _ACTION_KEYS)
    action_id = table.text("id", syntax=_ID)
    where = f'{file}: action "{action_id}"'
    table.where = where
    risk = table.text("risk")
    if risk not in RISKS:
        _fail(where, f"risk {risk!r} is not one of {', '.join(RISKS)}")

    raw_params = table.data.get("parameters", [])
    if not isinstance(raw_params, list):
        _fail(where, "parameters must be an array of tables ([[action.parameters]])")
    parameters: list[Parameter] = []
    for item in raw_params:
        param = _parse_parameter(where, item)
        if any(p.name == param.name for p in parameters):
            _fail(where, f'parameter "{param.name}": name is used twice')
        parameters.append(param)
    names = {p.name for p in parameters}

    operation = _parse_operation(f"{where}: operation", table.data.get("operation"), names)
    undo_raw = table.data.get("undo_operation")
    undo_operation = None
    if undo_raw is not None:
        undo_operation = _parse_operation(f"{where}: undo_operation", undo_raw, names)
    undo_action = table.text("undo_action", required=False, syntax=_ID)
    reversible = table.flag("reversible")
    if not reversible and (undo_action or undo_operation):
        _fail(where, "undo_action / undo_operation given but reversible is false")
    if undo_action and undo_operation:
        _fail(where, "give undo_action or undo_operation, not both")
    if reversible and operation.verb in ("patch", "delete") and not (undo_action or undo_operation):
        _fail(where, "reversible is true but no undo_action or undo_operation says what undoes it")

    kubectl = table.texts("kubectl")
    if operation.verb == "none" and kubectl:
        _fail(where, 'kubectl must be empty when the operation verb is "none"')
    if operation.verb != "none" and not kubectl:
        _fail(where, "kubectl is missing (the command shown to the operator)")
    known = names | {"now"} | ({"body"} if operation.body is not None else set())
    for arg in kubectl:
        _check_placeholders(where, "kubectl", arg, known, whole=False)

    action = Action(
        id=action_id,
        title=table.text("title"),
        description=table.text("description"),
        risk=risk,
        reversible=reversible,
        rollback=table.text("rollback"),
        operation=operation,
        parameters=tuple(parameters),
        kubectl=kubectl,
        undo_action=undo_action,
        undo_operation=undo_operation,
        source=file,
        effect_window_s=_effect_window(where, table, operation.verb),
    )
    return action, table.flag("override", default=False)


def _parse_parameter(action_where: str, data: object) -> Parameter:
    name = data.get("name") if isinstance(data, dict) else None
    where = f"{action_where}: parameter" + (f' "{name}"' if isinstance(name, str) else "")
    table = _Table(data, where, _PARAMETER_KEYS)
    name = table.text("name", syntax=_PARAM_NAME)
    if name in RESERVED_NAMES:
        _fail(where, f"name {name!r} is reserved for the renderer")
    label = table.text("label", required=False, syntax=_LABEL_NAME)
    labels = table.texts("labels")
    if labels and label is None:
        _fail(where, "labels are fallbacks for label, which is missing")
    for fallback in labels:
        if not _LABEL_NAME[0].fullmatch(fallback):
            _fail(where, f"labels: {fallback!r} is not a Prometheus label name")
    kind = table.text("kind", required=False)
    if kind is not None and kind not in KINDS:
        _fail(where, f"kind {kind!r} is not one of {', '.join(KINDS)}")
    pattern = table.text("pattern")
    try:
        re.compile(pattern)
    except re.error as exc:
        _fail(where, f"pattern is not a valid regular expression ({exc})")
    param = Parameter(name, pattern, label, labels, kind, table.text("default", required=False))
    if param.default is not None and (problem := param.check(param.default)):
        _fail(where, f"default {problem}")
    return param


def _parse_operation(where: str, data: object, names: set[str]) -> Operation:
    if data is None:
        _fail(where, "is missing")
    table = _Table(data, where, _OPERATION_KEYS)
    verb = table.text("verb")
    if verb not in HTTP_METHODS:
        _fail(where, f"verb {verb!r} is not one of {', '.join(HTTP_METHODS)}")
    if verb == "none":
        extra = sorted(set(table.data) - {"verb"})
        if extra:
            _fail(where, f'{extra[0]} makes no sense when verb is "none"')
        return Operation("none")
    op = Operation(
        verb=verb,
        api=table.text("api", syntax=_API),
        resource=table.text("resource", syntax=_RESOURCE),
        namespaced=table.flag("namespaced", default=True),
        patch_type=table.text("patch_type", required=verb == "patch"),
        body=table.data.get("body"),
        body_from=table.text("body_from", required=False),
    )
    needed = ["name", "namespace"] if op.namespaced else ["name"]
    for param in needed:
        if param not in names:
            _fail(where, f'the object needs a parameter "{param}"')
    if verb != "patch":
        for key in ("patch_type", "body", "body_from"):
            if key in table.data:
                _fail(where, f"{key} is only for verb patch")
        return op
    if op.patch_type not in CONTENT_TYPES:
        _fail(where, f"patch_type {op.patch_type!r} is not one of {', '.join(CONTENT_TYPES)}")
    if (op.body is None) == (op.body_from is None):
        _fail(where, "a patch needs exactly one of body or body_from")
    if op.body_from is not None and op.body_from not in BODY_SOURCES:
        _fail(where, f"body_from {op.body_from!r} is not one of {', '.join(BODY_SOURCES)}")
    if op.body is not None:
        if not isinstance(op.body, dict):
            _fail(where, "body must be a table")
        _check_body(where, op.body, names | {"now"})
    return op


def _check_body(where: str, value: Any, known: set[str]) -> None:
    if isinstance(value, dict):
        for item in value.values():
            _check_body(where, item, known)
    elif isinstance(value, list):
        for item in value:
            _check_body(where, item, known)
    elif isinstance(value, str):
        _check_placeholders(where, "body", value, known, whole=True)


def _check_placeholders(where: str, key: str, text: str, known: set[str], *, whole: bool) -> None:
    """Every ``{...}`` in ``text`` names a known value; body values are placeholders whole."""
    if whole and ("{" in text or "}" in text) and not PLACEHOLDER.fullmatch(text):
        _fail(where, f'{key}: {text!r} — a placeholder must be the whole value, like "{{name}}"')
    for m in PLACEHOLDER.finditer(text):
        if m[1] not in known:
            known_list = ", ".join(sorted(known))
            _fail(where, f"{key}: placeholder {m[0]} names no parameter (known: {known_list})")
    rest = PLACEHOLDER.sub("", text)
    if "{" in rest or "}" in rest:
        _fail(where, f"{key}: {text!r} has a brace that is not a placeholder")
