"""The approval policy: who may approve which risk levels and actions, who may silence, who
may promote a model, and which risks need two people (``review.policy_file``, TOML).

```toml
[rules.oncall]                       # a rule: its name is what a refusal names
groups = ["oncall"]                  # Unix groups, or database roles on PostgreSQL
approve_risks = ["low", "medium"]    # may approve (and reject) proposals of these risks
approve_actions = ["*"]              # ... of these actions ("*": any)
silence = true                       # may silence and ack alerts

[rules.leads]
groups = ["sre-leads"]
approve_risks = ["low", "medium", "high"]
approve_actions = ["*"]
silence = true
promote = true                       # may promote a trained model

[four_eyes]
risks = ["high"]                     # two approvals from two different people
```

Without a policy file everyone may do everything (the single-operator default), and high
risk still needs one approval. With one, what no rule allows is refused — a person in no
rule's groups is a read-only operator: they see everything and change nothing. Every
refusal names the rule (or the missing one) that refused it, so the operator knows whom to
ask. The checks are pure: the caller says who the person is and which groups they are in
(:func:`sreconsole.services.identity` reads them from the kernel or the database).

Two rules hold whatever the policy says, in the store itself: a person cannot give both
approvals of a four-eyes proposal, and nobody approves a proposal they created from Bruno.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

RISKS = ("low", "medium", "high")
VERBS = ("approve", "reject", "execute", "rollback", "silence", "promote")


class PolicyError(ValueError):
    """A policy file that cannot be used: one line naming the file and the problem."""


@dataclass(frozen=True)
class Rule:
    name: str
    groups: frozenset[str]
    approve_risks: frozenset[str] = frozenset()
    approve_actions: frozenset[str] = frozenset()
    silence: bool = False
    promote: bool = False

    def covers(self, groups: Iterable[str]) -> bool:
        return bool(self.groups & set(groups)) or "*" in self.groups

    def approves(self, risk: str, action: str) -> bool:
        return risk in self.approve_risks and ("*" in self.approve_actions or action in self.approve_actions)


@dataclass(frozen=True)
class Decision:
    """The answer to "may they?": ``allowed``, and the sentence that says why not (naming
    the rule), or which rule allowed it."""

    allowed: bool
    rule: str
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed


@dataclass(frozen=True)
class Policy:
    rules: tuple[Rule, ...] = ()
    four_eyes_risks: frozenset[str] = frozenset()
    source: str = ""
    """The file it came from ('' for the open default)."""
    enforced: bool = False
    """False: no policy file, everyone may do everything."""
    _names: tuple[str, ...] = field(default=(), repr=False)

    @classmethod
    def open(cls) -> Policy:
        return cls()

    @classmethod
    def load(cls, path: str | Path) -> Policy:
        p = Path(path).expanduser()
        try:
            doc = tomllib.loads(p.read_text(encoding="utf-8"))
        except OSError as exc:
            raise PolicyError(f"policy file {p}: {exc.strerror or exc}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise PolicyError(f"policy file {p}: {exc}") from exc
        return cls.parse(doc, str(p))

    @classmethod
    def parse(cls, doc: dict, source: str = "policy") -> Policy:
        unknown = sorted(set(doc) - {"rules", "four_eyes"})
        if unknown:
            raise PolicyError(f"{source}: unknown section {unknown[0]!r} (rules, four_eyes)")
        rules = []
        for name, body in (doc.get("rules") or {}).items():
            if not isinstance(body, dict):
                raise PolicyError(f"{source}: rules.{name} must be a table")
            extra = sorted(set(body) - {"groups", "approve_risks", "approve_actions", "silence", "promote"})
            if extra:
                raise PolicyError(f"{source}: rules.{name}: unknown key {extra[0]!r}")
            risks = _strings(body.get("approve_risks", []), f"{source}: rules.{name}.approve_risks")
            bad = sorted(set(risks) - set(RISKS))
            if bad:
                raise PolicyError(f"{source}: rules.{name}.approve_risks: {bad[0]!r} is not one of {', '.join(RISKS)}")
            actions = _strings(body.get("approve_actions", ["*"] if risks else []), f"{source}: rules.{name}.approve_actions")
            for key in ("silence", "promote"):
                if not isinstance(body.get(key, False), bool):
                    raise PolicyError(f"{source}: rules.{name}.{key} must be true or false")
            rules.append(Rule(f"rules.{name}", frozenset(_strings(body.get("groups", []), f"{source}: rules.{name}.groups")),
                              frozenset(risks), frozenset(actions), body.get("silence", False), body.get("promote", False)))
        four = doc.get("four_eyes") or {}
        if not isinstance(four, dict) or sorted(set(four) - {"risks"}):
            raise PolicyError(f"{source}: four_eyes takes one key, risks")
        four_risks = _strings(four.get("risks", []), f"{source}: four_eyes.risks")
        bad = sorted(set(four_risks) - set(RISKS))
        if bad:
            raise PolicyError(f"{source}: four_eyes.risks: {bad[0]!r} is not one of {', '.join(RISKS)}")
        return cls(tuple(rules), frozenset(four_risks), source, True)

    # -- questions -------------------------------------------------------------------------------

    def approvals_needed(self, risk: str) -> int:
        """2 for a risk under four eyes, else 1."""
        return 2 if risk in self.four_eyes_risks else 1

    def may_decide(self, who: str, groups: Iterable[str], risk: str, action: str, verb: str = "approve") -> Decision:
        """Approve or reject (a rejection is a decision too: the same rule)."""
        if not self.enforced:
            return Decision(True, "no policy")
        groups = set(groups)
        mine = [r for r in self.rules if r.covers(groups)]
        for r in mine:
            if r.approves(risk, action):
                return Decision(True, r.name)
        allowing = [r.name for r in self.rules if r.approves(risk, action)]
        if not mine:
            return Decision(False, "no rule", f"{who} is in no rule of the policy ({self.source}): read-only — "
                                               f"{verb} needs {_one_of(allowing)}")
        return Decision(False, ", ".join(r.name for r in mine),
                        f"{_one_of([r.name for r in mine], 'rule')} does not let {who} {verb} {risk}-risk {action}"
                        f" ({self.source}); {_one_of(allowing)} does")

    def may(self, who: str, groups: Iterable[str], verb: str) -> Decision:
        """``silence`` (silences and acks) or ``promote`` (a trained model)."""
        if not self.enforced:
            return Decision(True, "no policy")
        if verb not in ("silence", "promote"):
            raise ValueError(f"unknown verb {verb!r}")
        groups = set(groups)
        mine = [r for r in self.rules if r.covers(groups)]
        for r in mine:
            if getattr(r, verb):
                return Decision(True, r.name)
        allowing = [r.name for r in self.rules if getattr(r, verb)]
        if not mine:
            return Decision(False, "no rule", f"{who} is in no rule of the policy ({self.source}): read-only — {verb} needs {_one_of(allowing)}")
        return Decision(False, ", ".join(r.name for r in mine),
                        f"{_one_of([r.name for r in mine], 'rule')} does not let {who} {verb} ({self.source}); {_one_of(allowing)} does")

    def read_only(self, groups: Iterable[str]) -> bool:
        """In no rule at all: sees everything, changes nothing."""
        return self.enforced and not any(r.covers(set(groups)) for r in self.rules)


def _strings(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise PolicyError(f"{where} must be a list of names")
    return list(value)


def _one_of(names: list[str], noun: str = "") -> str:
    if not names:
        return "a rule that allows it (none does)"
    prefix = f"{noun} " if noun else ""
    return prefix + " or ".join(names) if len(names) < 4 else prefix + ", ".join(names[:3]) + ", …"
