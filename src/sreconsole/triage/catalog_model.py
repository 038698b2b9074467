"""What a remediation action is: the catalog's types, and the rules every parameter value
obeys whatever its pattern says (no whitespace, control characters, shell metacharacters
or leading ``-``; at most :data:`MAX_VALUE_LENGTH` characters).

Reading catalog files is :mod:`sreconsole.triage.catalog_file`; binding labels and
rendering calls is :mod:`sreconsole.triage.catalog`, which also re-exports these names.
No Textual, no network, no Kubernetes client: pure data and checks.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

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

PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_]*)\}")
"""A ``{name}`` placeholder in a kubectl argument or a patch body value."""


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
        problem = unsafe_value(value)
        if problem:
            return problem
        if re.fullmatch(self.pattern, value) is None:
            if self.kind in KINDS:
                return f"{shown(value)} is {KINDS[self.kind]}"
            return f"{shown(value)} does not match the pattern {self.pattern!r}"
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
    effect_window_s: float | None = None
    """How long after executing the action its alert must resolve for the action to count as
    effective (``effect_window`` in the catalog: "10m" for a pod restart, "30m" for a
    rollout); None: the action changes nothing, so its effect is not judged."""

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


# --- values ---------------------------------------------------------------------------


def shown(value: str, limit: int = 40) -> str:
    """``value`` escaped (repr) and cut, so a reason never replays hostile text."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}… ({len(value)} characters)"


def unsafe_value(value: str) -> str | None:
    """Why ``value`` is unusable whatever the parameter's pattern, or ``None``."""
    if not value:
        return "is empty"
    if len(value) > MAX_VALUE_LENGTH:
        return f"{value[:40]!r}… is {len(value)} characters long; the limit is {MAX_VALUE_LENGTH}"
    for ch in value:
        if ch.isspace():
            return f"{shown(value)} contains whitespace ({ch!r})"
        if unicodedata.category(ch).startswith("C"):
            return f"{shown(value)} contains a control or invisible character ({ch!r})"
        if ch in SHELL_METACHARACTERS:
            return f"{shown(value)} contains the shell metacharacter {ch!r}"
    if value.startswith("-"):
        return f"{shown(value)} starts with '-', which kubectl would read as an option"
    return None
