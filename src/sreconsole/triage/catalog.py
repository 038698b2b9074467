"""The remediation action catalog: what sreconsole may propose, and the exact call each makes.

The catalog is data (``actions.toml``, plus an optional user file) so that an operator can
read every action, its risk and its undo in one place, and so that the model only ever
chooses an action *id* — it never writes a command. The concrete call is rendered here
from alert labels, and alert labels are untrusted: anyone who can push a metric sets
them. Hence the shape of this module:

* :func:`load_catalog` rejects a catalog with anything unexpected in it, naming the file,
  the action and the field, so a typo fails at start-up rather than during an incident;
* :func:`bind` reads each parameter from the labels and validates it; it never guesses
  or repairs a value — a missing or invalid parameter sends the proposal to a human;
* :func:`render` turns a complete, valid binding into one Kubernetes API call (what the
  executor sends) and the equivalent ``kubectl`` line (what the operator reads).

No Textual, no network, no Kubernetes client: pure data and checks.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import quote

SHIPPED_FILE = "actions.toml"
RISKS = ("low", "medium", "high")
HTTP_METHODS = {"get": "GET", "delete": "DELETE", "patch": "PATCH", "none": None}
CONTENT_TYPES = {
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "json": "application/json-patch+json",
}
# Bodies that only the executor can build, because they depend on cluster state.
BODY_SOURCES = ("previous-replicaset",)

# What a value must look like, in the operator's words, per parameter kind. The pattern in
# the file is the rule; this text explains a mismatch.
KINDS = {
    "dns-label": "not a DNS-1123 label: must be at most 63 lowercase letters, digits or '-',"
    " starting and ending with a letter or digit",
    "dns-subdomain": "not a DNS-1123 subdomain: must be at most 253 lowercase letters,"
    " digits, '-' or '.', each dot-separated part starting and ending with a letter or digit",
    "integer": "not a whole number in the allowed range",
    "quantity": "not a storage size such as 20Gi",
}

# No Kubernetes name or value an action takes is longer (DNS-1123 subdomain limit).
MAX_VALUE_LENGTH = 253
# Refused in every value whatever its pattern says, so that a lax user pattern cannot let
# a value through that would change the meaning of a pasted command.
SHELL_METACHARACTERS = frozenset(";&|$`\\\"'<>(){}[]*?!~#")
# Names the renderer fills in itself; a parameter may not take them.
RESERVED_NAMES = ("now", "body")

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
_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")


class CatalogError(ValueError):
    """A catalog file cannot be used; the message names the file, the action and the field."""


@dataclass(frozen=True)
class Parameter:
    """One value an action needs, and where it comes from."""

    name: str
    """Placeholder name, e.g. ``namespace``; matches the agent's ``lambda_parameters`` keys."""
    pattern: str
    """Regular expression the whole value must match (``re.fullmatch``, no stripping)."""
    label: str | None = None
    """Alert label read first. ``None``: the value comes from an override (the operator)."""
    labels: tuple[str, ...] = ()
    """Fallback labels, tried in order after ``label``."""
    kind: str | None = None
    """A key of :data:`KINDS`: explains a mismatch; ``integer`` renders as a JSON number."""
    default: str | None = None
    """Used when no label or override gives a value; validated at load time."""

    @property
    def label_order(self) -> tuple[str, ...]:
        return ((self.label,) if self.label else ()) + self.labels

    def check(self, value: object) -> str | None:
        """Why ``value`` cannot be used for this parameter, or ``None`` if it can."""
        if not isinstance(value, str):
            return f"expected text, got {type(value).__name__}"
        problem = _unsafe(value)
        if problem:
            return problem
        if re.fullmatch(self.pattern, value) is None:
            if self.kind in KINDS:
                return f"{_show(value)} is {KINDS[self.kind]}"
            return f"{_show(value)} does not match the pattern {self.pattern!r}"
        return None


@dataclass(frozen=True)
class Operation:
    """The Kubernetes API operation an action performs (``verb = "none"``: nothing)."""

    verb: str
    """``get``, ``delete``, ``patch`` or ``none``."""
    api: str | None = None
    """Group/version: ``core/v1``, ``apps/v1``, ``kustomize.toolkit.fluxcd.io/v1``..."""
    resource: str | None = None
    """Plural resource name as in the URL: ``pods``, ``deployments``, ``nodes``."""
    namespaced: bool = True
    patch_type: str | None = None
    """``merge``, ``strategic`` or ``json`` (a key of :data:`CONTENT_TYPES`)."""
    body: Mapping[str, Any] | None = field(default=None, hash=False)
    """Patch body; string values ``"{param}"`` / ``"{now}"`` are filled in by :func:`render`."""
    body_from: str | None = None
    """For a patch whose body needs cluster state (see :class:`ApiCall`)."""

    @property
    def method(self) -> str | None:
        return HTTP_METHODS[self.verb]

    @property
    def content_type(self) -> str | None:
        return CONTENT_TYPES[self.patch_type] if self.patch_type else None


@dataclass(frozen=True)
class Action:
    """A remediation the console may propose, as the catalog file describes it."""

    id: str
    title: str
    description: str
    risk: str
    """``low``, ``medium`` or ``high``."""
    reversible: bool
    rollback: str
    """How to undo it (or why it cannot be), for the operator."""
    operation: Operation
    parameters: tuple[Parameter, ...] = ()
    kubectl: tuple[str, ...] = ()
    """``kubectl`` arguments with placeholders; empty when ``operation.verb == "none"``."""
    undo_action: str | None = None
    """Catalog id of the action that undoes this one (e.g. scale back)."""
    undo_operation: Operation | None = None
    """The operation that undoes this one when no catalog action does (cordon → uncordon)."""
    source: str = SHIPPED_FILE
    """The file that defined this action."""

    def parameter(self, name: str) -> Parameter | None:
        return next((p for p in self.parameters if p.name == name), None)


@dataclass(frozen=True)
class Catalog:
    """All known actions in file order (shipped first, then user additions)."""

    actions: tuple[Action, ...]
    _by_id: dict[str, Action] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_id", {a.id: a for a in self.actions})

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(a.id for a in self.actions)

    def get(self, action_id: str) -> Action | None:
        return self._by_id.get(action_id)

    def __contains__(self, action_id: object) -> bool:
        return action_id in self._by_id

    def __iter__(self) -> Iterator[Action]:
        return iter(self.actions)

    def __len__(self) -> int:
        return len(self.actions)


@dataclass
class Binding:
    """An action's parameters read from one alert. Only a complete binding is rendered."""

    action: Action
    params: dict[str, str]
    """Valid values by parameter name."""
    missing: list[str]
    """Parameters no label, override or default supplied."""
    invalid: list[tuple[str, str]]
    """``(parameter, reason)``; the reason shows the value escaped and truncated."""

    @property
    def complete(self) -> bool:
        return not self.missing and not self.invalid


@dataclass(frozen=True)
class ApiCall:
    """The exact Kubernetes API request an action makes."""

    method: str
    path: str
    content_type: str | None = None
    body: Any = None
    body_from: str | None = None
    """Set when the body depends on cluster state and ``body`` is ``None``:
    ``previous-replicaset`` means the executor lists the Deployment's ReplicaSets, takes
    the pod template of the one with the second-highest ``deployment.kubernetes.io/revision``
    and sends a JSON patch replacing ``/spec/template`` (what ``kubectl rollout undo`` does)."""


@dataclass(frozen=True)
class RenderedCall:
    """One action made concrete: the API call to send and the command to show."""

    action_id: str
    api: ApiCall | None
    """``None`` for actions with no automated operation (escalate)."""
    argv: tuple[str, ...]
    """The equivalent ``kubectl`` invocation as a list; empty when there is none."""
    command: str
    """``argv`` as one shell-quoted line, for display and copying only (see :func:`render`)."""


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


def bind(
    action: Action, labels: Mapping[str, str], overrides: Mapping[str, str] | None = None
) -> Binding:
    """Read and validate ``action``'s parameters from an alert's labels.

    Per parameter: an override wins, then the first non-empty label in ``label_order``,
    then the default. A label that is present but invalid is reported, not skipped for a
    fallback: the alert said something, and a human should see what.
    """
    overrides = dict(overrides or {})
    unknown = sorted(set(overrides) - {p.name for p in action.parameters})
    if unknown:
        raise ValueError(f"action {action.id!r} has no parameter {', '.join(map(repr, unknown))}")
    binding = Binding(action, {}, [], [])
    for param in action.parameters:
        if param.name in overrides:
            value: object = overrides[param.name]
        else:
            value = next(
                (labels[name] for name in param.label_order if labels.get(name)), param.default
            )
        if value is None:
            binding.missing.append(param.name)
        elif problem := param.check(value):
            binding.invalid.append((param.name, problem))
        else:
            binding.params[param.name] = value  # type: ignore[assignment]  # check() proved str
    return binding


def render(
    action: Action, params: Mapping[str, str], *, now: datetime | None = None
) -> RenderedCall:
    """The API call and the equivalent ``kubectl`` command for a complete, valid binding.

    ``params`` are validated again here, so no caller can render an unchecked value.
    ``now`` (timezone-aware; default: the current time) fills time-stamped annotations
    such as ``restartedAt`` / ``requestedAt``. ``RenderedCall.command`` is built with
    :func:`shlex.quote` per argument for display and copying to the clipboard only:
    nothing in sreconsole runs it, through a shell or otherwise — the executor sends
    ``RenderedCall.api``.

    Raises ``ValueError`` if a parameter is missing, unknown or invalid.
    """
    names = [p.name for p in action.parameters]
    problems = [f"{n}: missing" for n in names if n not in params]
    problems += [f"{n}: not a parameter of this action" for n in params if n not in names]
    problems += [
        f"{p.name}: {reason}"
        for p in action.parameters
        if p.name in params and (reason := p.check(params[p.name]))
    ]
    if problems:
        raise ValueError(f"cannot render {action.id!r}: " + "; ".join(problems))
    op = action.operation
    if op.method is None:
        return RenderedCall(action.id, None, (), f"{action.title} (no automated action)")

    stamp = _timestamp(now)
    typed: dict[str, Any] = {"now": stamp}
    for p in action.parameters:
        typed[p.name] = int(params[p.name]) if p.kind == "integer" else params[p.name]
    body = _fill(op.body, typed) if op.body is not None else None
    api = ApiCall(op.method, _path(op, params), op.content_type, body, op.body_from)

    text = {**params, "now": stamp, "body": json.dumps(body, separators=(",", ":"))}
    argv = ("kubectl", *(_PLACEHOLDER.sub(lambda m: text[m[1]], arg) for arg in action.kubectl))
    return RenderedCall(action.id, api, argv, shlex.join(argv))


# --- values ---------------------------------------------------------------------------


def _show(value: str, limit: int = 40) -> str:
    """``value`` escaped (repr) and cut, so a reason never replays hostile text."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}… ({len(value)} characters)"


def _unsafe(value: str) -> str | None:
    """Why ``value`` is unusable whatever the parameter's pattern, or ``None``."""
    if not value:
        return "is empty"
    if len(value) > MAX_VALUE_LENGTH:
        return f"{value[:40]!r}… is {len(value)} characters long; the limit is {MAX_VALUE_LENGTH}"
    for ch in value:
        if ch.isspace():
            return f"{_show(value)} contains whitespace ({ch!r})"
        if unicodedata.category(ch).startswith("C"):
            return f"{_show(value)} contains a control or invisible character ({ch!r})"
        if ch in SHELL_METACHARACTERS:
            return f"{_show(value)} contains the shell metacharacter {ch!r}"
    if value.startswith("-"):
        return f"{_show(value)} starts with '-', which kubectl would read as an option"
    return None


def _timestamp(now: datetime | None) -> str:
    """RFC 3339 UTC to the second, the form kubectl and the flux CLI write."""
    now = datetime.now(timezone.utc) if now is None else now
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _path(op: Operation, params: Mapping[str, str]) -> str:
    prefix = "/api/v1" if op.api == "core/v1" else f"/apis/{op.api}"
    segments = ["namespaces", params["namespace"]] if op.namespaced else []
    segments += [op.resource or "", params["name"]]
    if any(s in (".", "..") for s in segments):
        raise ValueError("'.' and '..' are not object names")
    return prefix + "/" + "/".join(quote(s, safe="") for s in segments)


def _fill(template: Any, values: Mapping[str, Any]) -> Any:
    """Copy of ``template`` with each ``"{name}"`` string replaced by its typed value."""
    if isinstance(template, Mapping):
        return {k: _fill(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [_fill(v, values) for v in template]
    if isinstance(template, str) and (m := _PLACEHOLDER.fullmatch(template)):
        return values[m[1]]
    return template


# --- loading --------------------------------------------------------------------------


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
    "parameters", "operation", "undo_action", "undo_operation", "override",
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
    if whole and ("{" in text or "}" in text) and not _PLACEHOLDER.fullmatch(text):
        _fail(where, f'{key}: {text!r} — a placeholder must be the whole value, like "{{name}}"')
    for m in _PLACEHOLDER.finditer(text):
        if m[1] not in known:
            known_list = ", ".join(sorted(known))
            _fail(where, f"{key}: placeholder {m[0]} names no parameter (known: {known_list})")
    rest = _PLACEHOLDER.sub("", text)
    if "{" in rest or "}" in rest:
        _fail(where, f"{key}: {text!r} has a brace that is not a placeholder")
