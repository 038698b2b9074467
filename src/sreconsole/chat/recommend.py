"""From an answer to a draft proposal: which catalog actions it recommends, for which
alert, with which parameters. Pure logic over the catalog; nothing is queued here.

An answer recommends an action when it, or a passage it cites, names the action's id
(``**Action:** `pod-restart```, or the id as a word), or shows the ``kubectl`` command the
action stands for (``kubectl -n shop delete pod api-1`` → ``pod-restart``). Words a
runbook uses in passing ("escalate to the owner") are not ids: a one-word id counts only
in backticks or after ``Action:``.

**Where each candidate comes from** is kept (:class:`Provenance`): the cited runbook line,
the cited incident, or only the model's own words. Model output is untrusted text: a
passage planted in a document, or a prompt injection, can make an LLM write
"**Action:** `rollback-deployment`" while the runbook it cites says ``pod-restart``. So an
action that the cited sources name comes before any action only the model names, and an
action only the model names is never the default while a cited source names another; the
proposal dialog shows each candidate's provenance.

Parameters come from the context: the firing alert the question is about (its name in the
question or in the cited runbook section, its namespace or other label values among the
question's words; else the alert selected in the Alerts pane when it is the same alert),
then values the question states ("pod api-7d9", "-n payments"). What is still missing is
asked for in the proposal dialog. A planted instruction ("kubectl delete namespace prod")
matches no catalog action and so can never become a proposal.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field

from sreconsole.chat.live import is_firing, narrow
from sreconsole.domain.proposal import EvidenceItem

EQUIVALENT_COMMANDS = {
    # What operators type for an action whose catalog rendering is an API patch.
    ("rollout", "restart"): "rollout-restart",
    ("flux", "reconcile", "kustomization"): "flux-reconcile-kustomization",
    ("flux", "reconcile", "ks"): "flux-reconcile-kustomization",
    ("flux", "reconcile", "helmrelease"): "flux-reconcile-helmrelease",
    ("flux", "reconcile", "hr"): "flux-reconcile-helmrelease",
    ("flux", "reconcile", "source", "git"): "flux-reconcile-gitrepository",
}
_OPTION_WITH_VALUE = {"-n", "--namespace", "-c", "--container", "--context", "-l", "--selector", "-o", "--output"}
_COMMAND = re.compile(r"(?<![\w./-])(kubectl|flux)\s+")
_COMMAND_END = re.compile(r"[\n`;|&]|\b(?:kubectl|flux)\b")
_NOT_VALUES = {"in", "on", "of", "for", "to", "with", "that", "this", "is", "are", "the", "a", "an", "which", "it", "and", "or",
               "keeps", "has", "was", "be", "from", "again", "now", "first", "then", "when"}


def _command_heads(catalog) -> dict[tuple[str, ...], str]:
    """Each action's kubectl template up to its first placeholder, without options:
    ``delete pod {name} -n {namespace}`` → ``("delete", "pod")``."""
    heads: dict[tuple[str, ...], str] = {}
    for action in catalog:
        head: list[str] = []
        for arg in action.kubectl:
            if arg.startswith("-") or "{" in arg:
                if "{" in arg and not arg.startswith("-") and "/" in arg:
                    head.append(arg.split("/", 1)[0])  # deployment/{name}
                break
            head.append(arg)
        if head and head[0] not in ("get", "annotate", "patch"):  # read-only or too generic to recognise
            heads.setdefault(tuple(head), action.id)
    for words, action_id in EQUIVALENT_COMMANDS.items():
        if action_id in catalog:
            heads.setdefault(words, action_id)
    return heads


def _words_of_command(line: str) -> list[str]:
    try:
        argv = shlex.split(line, comments=False)
    except ValueError:
        argv = line.split()
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg in _OPTION_WITH_VALUE:
            skip = True
            continue
        if arg.startswith("-"):
            continue
        out.extend(arg.split("/", 1)[:1] if "/" in arg else [arg])
    return out


def actions_in(text: str, catalog) -> list[str]:
    """Catalog actions ``text`` names or shows the command of, in order of appearance."""
    seen: dict[str, None] = {}
    for _, action_id in _mentions(text, catalog):
        seen.setdefault(action_id, None)
    return list(seen)


def _mentions(text: str, catalog) -> list[tuple[int, str]]:
    """(offset, action id) of every catalog action ``text`` names or shows the command of,
    in order of appearance."""
    found: list[tuple[int, str]] = []
    for action in catalog:
        aid = re.escape(action.id)
        pattern = rf"`{aid}`|\b[Aa]ction:\**\s*`?{aid}\b" if "-" not in action.id else rf"(?<![\w-]){aid}(?![\w-])"
        m = re.search(pattern, text)
        if m:
            found.append((m.start(), action.id))
    heads = _command_heads(catalog)
    for m in _COMMAND.finditer(text):
        end = _COMMAND_END.search(text, m.end())
        args = text[m.end() : end.start() if end else len(text)]
        words = ([] if m.group(1) == "kubectl" else ["flux"]) + _words_of_command(args)
        for head, action_id in heads.items():
            if tuple(words[: len(head)]) == head:
                found.append((m.start(), action_id))
                break
    return sorted(found)


MODEL_GENERATORS = ("ollama:", "mlx:")
"""Generators whose text is a model's own words (the extractive one quotes the passages)."""


@dataclass(frozen=True)
class Provenance:
    """Where a recommended action comes from: a cited file line, a cited record, or only
    the answer's own words."""

    kind: str
    """``runbook`` (a cited document), ``incident``, ``alert``, ``review``, or ``model``
    (named only in what an LLM wrote) / ``answer`` (named only in the extractive text)."""
    path: str = ""
    line: int = 0
    """The 1-based line of the cited file that names the action (0 for a record)."""

    @property
    def cited(self) -> bool:
        return self.kind not in ("model", "answer")

    def text(self) -> str:
        if self.kind == "model":
            return "the model's own words only (no cited source names it)"
        if self.kind == "answer":
            return "the answer's text only"
        if self.line:
            return f"{self.kind} {self.path}:{self.line}"
        return self.path


def provenance(answer_text: str, citations: Sequence, catalog, generator: str = "") -> dict[str, tuple[Provenance, ...]]:
    """Each action the answer or its citations name → where it is named: the cited
    passages (file and line, or the record), and the answer text itself when no citation
    names it (``model`` when an LLM wrote that text)."""
    out: dict[str, list[Provenance]] = {}
    for c in citations:
        for offset, action_id in _mentions(c.text, catalog):
            if c.path.startswith(("incident:", "alert:", "review:")):
                where = Provenance(c.path.split(":", 1)[0], c.path)
            else:
                where = Provenance("runbook", c.path, c.start_line + c.text.count("\n", 0, offset))
            if where not in out.setdefault(action_id, []):
                out[action_id].append(where)
    own = "model" if generator.startswith(MODEL_GENERATORS) else "answer"
    for _, action_id in _mentions(answer_text, catalog):
        out.setdefault(action_id, [Provenance(own)])
    return {k: tuple(v) for k, v in out.items()}


def recommended(answer_text: str, citations: Sequence, catalog, generator: str = "") -> tuple[str, ...]:
    """What the answer recommends, best first: the actions its cited sources name (in the
    order the answer mentions them, then the order of the citations), then those only the
    answer's own words name. An LLM's words alone never outrank a cited runbook."""
    sources = provenance(answer_text, citations, catalog, generator)
    order = {a: i for i, a in enumerate(dict.fromkeys([*actions_in(answer_text, catalog), *sources]))}
    return tuple(sorted(sources, key=lambda a: (not sources[a][0].cited, order[a])))


@dataclass
class ProposalDraft:
    """What the proposal dialog starts from."""

    action: str
    candidates: tuple[str, ...]
    parameters: dict[str, str]
    missing: list[str]
    """Parameters no context supplied: the dialog asks for them."""
    alert: object | None
    """The firing alert the proposal is for, or ``None`` (a chat proposal of its own)."""
    alertname: str
    """The alert name the proposal is filed under (the cited runbook section's when no
    alert matched)."""
    evidence: tuple[EvidenceItem, ...]
    question: str
    context: str = ""
    """How the alert and parameters were found, for the dialog."""
    sources: dict[str, tuple[Provenance, ...]] = field(default_factory=dict)
    """Each candidate → where it comes from (the dialog shows it beside the candidate)."""

    def parameters_for(self, action) -> dict[str, str]:
        """Another candidate's parameters from the same context (a rolling restart wants
        the deployment label where a pod restart wants the pod)."""
        return dict(_context_binding(action, self.alert, self.question)[0].params)


def _context_binding(action, alert, question: str):
    """(binding, stated values): the alert's labels, overridden by what the question states."""
    from sreconsole.triage.catalog import bind

    stated = stated_values(question, action)
    return bind(action, dict(alert.labels) if alert is not None else {}, stated), stated


def stated_values(question: str, action) -> dict[str, str]:
    """Parameter values the question states: ``pod api-7d9``, ``-n payments``,
    ``namespace=payments``, ``node worker-3`` (label or parameter name, then the value).
    Object names must look like names (a digit, dash or dot: "pod in payments" names no
    pod); a namespace may be any word after ``namespace`` / ``-n`` / ``ns``."""
    out: dict[str, str] = {}
    for p in action.parameters:
        names = {p.name, *p.label_order}
        is_namespace = p.name == "namespace" or "namespace" in names
        if is_namespace:
            names |= {"-n", "--namespace", "ns"}
        elif p.name == "name":
            names.discard("name")  # "the name of" is prose, not a value
        for name in sorted(names, key=len, reverse=True):
            for m in re.finditer(rf"(?<![\w-]){re.escape(name)}(?:\s*[=:]\s*|\s+)([A-Za-z0-9][A-Za-z0-9._-]*)", question):
                value = m.group(1)
                if value.lower() in _NOT_VALUES or (not is_namespace and not re.search(r"[-0-9.]", value)):
                    continue
                out[p.name] = value
                break
            if p.name in out:
                break
    return out


def context_alert(question: str, citations: Sequence, alerts: Sequence | None, selected=None):
    """The firing alert an answer is about, and how it was chosen (or ``None``)."""
    names_asked = {w for w in re.findall(r"[A-Za-z][A-Za-z0-9]+", question)}
    cited_names = {c.alertname for c in citations if getattr(c, "alertname", "")}
    for c in citations:  # a live answer cites the alerts themselves
        if c.path.startswith("alert:"):
            fp = c.path.split(":", 1)[1]
            for a in alerts or ():
                if a.fingerprint == fp:
                    return a, f"the alert cited as [{c.n}]"
    firing = [a for a in (alerts or ()) if is_firing(a)]
    by_name = [a for a in firing if a.alertname in names_asked] or [a for a in firing if a.alertname in cited_names]
    if by_name:
        chosen, used, _ = narrow(by_name, lambda a: a.labels, question)
        pool = chosen or by_name
        pool.sort(key=lambda a: (int(a.severity), a.starts_at))
        how = f"{pool[0].alertname} is firing" + (f" ({len(pool)} match; the worst first)" if len(pool) > 1 else "")
        if used:
            how += f", matched on {', '.join(used)}"
        return pool[0], how
    if selected is not None and (selected.alertname in names_asked or selected.alertname in cited_names):
        return selected, "the alert selected in the Alerts pane"
    return None, ""


def draft(answer, catalog, alerts: Sequence | None = None, selected=None, action_id: str | None = None) -> ProposalDraft | None:
    """The proposal an answer leads to, or ``None`` when it recommends no catalog action
    (:attr:`Answer.recommends`, which Bruno fills from runbooks and incidents only)."""
    sources = provenance(answer.text, answer.citations, catalog, answer.generator)
    candidates = tuple(a for a in answer.recommends if a in catalog)
    # Whatever order ``recommends`` came in (an old history line, another caller), a
    # candidate only the model names never goes first while a cited source names another.
    cited_first = sorted(range(len(candidates)), key=lambda i: (not _is_cited(sources.get(candidates[i], ())), i))
    candidates = tuple(candidates[i] for i in cited_first)
    if action_id is not None:
        if action_id not in catalog:
            raise ValueError(f"unknown action {action_id!r}")
        candidates = (action_id, *[c for c in candidates if c != action_id])
    if not candidates:
        return None
    action = catalog.get(candidates[0])
    alert, how = context_alert(answer.query, answer.citations, alerts, selected)
    binding, stated = _context_binding(action, alert, answer.query)
    if stated:
        how = (how + "; " if how else "") + "from the question: " + ", ".join(f"{k}={v}" for k, v in stated.items())
    cited_names = [c.alertname for c in answer.citations if getattr(c, "alertname", "")]
    alertname = alert.alertname if alert is not None else (cited_names[0] if cited_names else "")
    evidence = tuple(
        EvidenceItem("incident" if c.path.startswith("incident:") else ("alert" if c.path.startswith("alert:") else "runbook"),
                     c.ref, f"{c.heading}: {c.text[:200]}", action=action.id if action.id in actions_in(c.text, catalog) else "")
        for c in answer.citations
    )
    return ProposalDraft(
        action=action.id, candidates=candidates, parameters=dict(binding.params), missing=list(binding.missing),
        alert=alert, alertname=alertname, evidence=evidence, question=answer.query, context=how,
        sources={a: sources.get(a, ()) for a in candidates},
    )


def _is_cited(where: Sequence[Provenance]) -> bool:
    return any(p.cited for p in where)
