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

No Textual, no network, no Kubernetes client: pure data and checks. The types and the
value rules are :mod:`~sreconsole.triage.catalog_model`, reading files is
:mod:`~sreconsole.triage.catalog_file`; the names callers use are importable from here.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from sreconsole.triage.catalog_file import load_catalog
from sreconsole.triage.catalog_model import (
    BODY_SOURCES,
    CONTENT_TYPES,
    HTTP_METHODS,
    KINDS,
    MAX_VALUE_LENGTH,
    PLACEHOLDER,
    RESERVED_NAMES,
    RISKS,
    SHELL_METACHARACTERS,
    SHIPPED_FILE,
    Action,
    ApiCall,
    Binding,
    Catalog,
    CatalogError,
    Operation,
    Parameter,
    RenderedCall,
)

__all__ = [
    "BODY_SOURCES",
    "CONTENT_TYPES",
    "HTTP_METHODS",
    "KINDS",
    "MAX_VALUE_LENGTH",
    "RESERVED_NAMES",
    "RISKS",
    "SHELL_METACHARACTERS",
    "SHIPPED_FILE",
    "Action",
    "ApiCall",
    "Binding",
    "Catalog",
    "CatalogError",
    "Operation",
    "Parameter",
    "RenderedCall",
    "bind",
    "load_catalog",
    "render",
]


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
    argv = ("kubectl", *(PLACEHOLDER.sub(lambda m: text[m[1]], arg) for arg in action.kubectl))
    return RenderedCall(action.id, api, argv, shlex.join(argv))


# --- rendering ------------------------------------------------------------------------


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
    if isinstance(template, str) and (m := PLACEHOLDER.fullmatch(template)):
        return values[m[1]]
    return template
