"""Which kind of question is this? Rules first, then the nearest example by embedding.

No language model is involved. The rules catch the phrasings operators use most
("what is firing in payments?", "what is waiting for review?", "what did we do last time
KubePodCrashLooping fired?"); what they leave undecided is compared, by MiniLM embedding,
with a small table of example utterances per intent, and goes to the nearest one only
when it is both close and clearly closer than any knowledge question. Everything else is
a knowledge question, because a wrong "live" answer hides the runbook while a knowledge
answer to a live question still says where to look.

Intents (:data:`INTENTS`) and their topics:

* ``knowledge`` → hybrid retrieval over the knowledge base;
* ``live`` with topic ``firing``, ``review`` or ``history`` → the alert source, the review
  queue, the incident history;
* ``capability`` → the action catalog;
* ``smalltalk`` → no retrieval.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported when the first question is embedded, not at start-up
    import numpy as np


INTENTS = ("knowledge", "live", "capability", "smalltalk")
TOPICS = {"live": ("firing", "review", "history")}

NEAREST_MIN = 0.55
"""Cosine similarity a question needs with an example to be routed to its intent."""
NEAREST_MARGIN = 0.08
"""…and how much closer than the nearest knowledge example it must be. Chosen on the 121
knowledge questions of bench/data/retrieval_questions.jsonl (none may leave knowledge) and
the paraphrase table in tests/test_chat_routing.py."""

_SMALLTALK = re.compile(
    r"^\W*(hi|hello|hey|hiya|yo|howdy|good (morning|afternoon|evening|night)|thanks?( you)?|thx|ty|cheers|"
    r"bye|goodbye|see you|ok(ay)?|cool|great|nice|who are you|how are you)\b",
    re.IGNORECASE,
)
_CAPABILITY = re.compile(
    r"what (can|could) (you|bruno) (do|fix|remediate|handle|run|automate)|"
    r"\b(which|what) (remediation )?actions\b|\blist (of |the |all )?(remediation )?actions\b|"
    r"\bwhat (remediations?|fixes) (are|do you|can)|\baction catalog\b|\bcapabilit(y|ies)\b|"
    r"\bwhat are you able to\b",
    re.IGNORECASE,
)
# Firing: a question *about the set of alerts*, not a statement that one alert fires
# ("KubeHpaMaxedOut has been firing all evening, is that bad?" is a knowledge question).
_FIRING = re.compile(
    r"^\W*(what|which)( alerts?| services?| things?| namespaces?)?( is| are|'s| are currently| is currently)? "
    r"(currently |still |now )?(firing|alerting|going off|on fire|broken|wrong)\b|"
    r"^\W*(is|are) (there )?(any|anything|something) (alerts? )?(firing|alerting|going off|on fire|broken)\b|"
    r"^\W*(show|list|tell)( me)?( the| all| what)?( current| active| firing)? (alerts|is firing)\b|"
    r"\b(current|active|open|live) alerts?\b|\bany alerts\b|\balerts? (right )?now\b",
    re.IGNORECASE,
)
_REVIEW = re.compile(
    r"\b(waiting|pending|queued) (for )?(review|approval)|\bpending (proposals?|reviews?|approvals?)\b|"
    r"\breview queue\b|\bneeds? (my |an? )?(review|approval)\b|\bto (review|approve)\b",
    re.IGNORECASE,
)
LAST_TIME = re.compile(
    r"\b(last|previous|past) times? (?P<a>.+?) (fired|happened|went off|triggered|alerted|occurred)\b|"
    r"\bwhat did (we|you|they|the team) do (about|for|with|when|on) (?P<b>.+?)(\s+(fired|happened|went off|last time|before))?\s*\??$|"
    r"\b(past|previous|similar) incidents? (of|for|with|about) (?P<c>.+?)\s*\??$|"
    r"\bhow (did|have) (we|you|they) (fix|fixed|resolve|resolved|handle|handled|deal with|dealt with) (?P<d>.+?) (before|previously|last time)\b|"
    r"^\W*(has|have|did) (we (seen|had) )?(?P<e>.+?)( (happened|fired|occurred|gone off))? (before|previously)\W*$",
    re.IGNORECASE,
)
ALERTNAME = re.compile(r"\b[A-Za-z][a-z0-9]*(?:[A-Z][A-Za-z0-9]*)+\b")
"""CamelCase words: how alert names are written (KubePodCrashLooping, etcdNoLeader)."""

EXAMPLES: dict[tuple[str, str], tuple[str, ...]] = {
    ("live", "firing"): (
        "what is firing right now", "which alerts are active", "show me the current alerts",
        "is anything broken in payments", "what is alerting in the checkout namespace",
        "any critical alerts at the moment", "anything screaming in checkout", "are there alerts for the payments team",
        "what's going on in the cluster right now", "which services are alerting",
    ),
    ("live", "review"): (
        "what is waiting for review", "which proposals need my approval", "show the review queue",
        "anything pending approval", "what remediations are queued", "is there something for me to approve",
        "which items are awaiting a decision", "what needs my sign-off",
    ),
    ("live", "history"): (
        "what did we do last time this alert fired", "past incidents of this alert", "how was this resolved before",
        "has this happened before", "how did we fix this alert previously", "what was done the previous time",
    ),
    ("capability", ""): (
        "what can you remediate", "which actions can you take", "what are you allowed to fix",
        "list the remediation actions", "what can you do for me", "which fixes are you able to apply",
        "what actions do you support",
    ),
    ("smalltalk", ""): (
        "hello there", "thanks, that helped", "good morning", "who are you", "bye for now", "you're great",
        "cheers mate", "how is it going",
    ),
    ("knowledge", ""): (
        "how do I fix a pod that is crash looping", "what does this alert mean", "how to mitigate CPU throttling",
        "why is the volume filling up", "what should I check when etcd has no leader", "how do I debug a failing job",
        "what is the runbook for target down", "what should I do when this alert fires", "what causes this alert",
        "this alert has been firing all evening, is that bad", "how do I drain a node", "what alerts does the runbook cover",
        "alerts are firing but no notifications are sent", "why is the config reload failing",
    ),
}


@dataclass(frozen=True)
class Route:
    intent: str
    topic: str = ""
    how: str = "rule"
    """``rule``, ``nearest`` (embedding), or ``default`` (nothing matched: knowledge)."""
    score: float = 0.0
    """For ``nearest``: the cosine similarity of the example that decided."""


def route_by_rules(question: str) -> Route | None:
    """The route the rules give, or ``None`` when no rule applies."""
    q = " ".join(question.split())
    if not q:
        return Route("smalltalk")
    if _SMALLTALK.match(q) and len(q.split()) <= 6:
        return Route("smalltalk")
    if _CAPABILITY.search(q):
        return Route("capability")
    if _REVIEW.search(q):
        return Route("live", "review")
    m = LAST_TIME.search(q)
    if m and not _FIRING.search(q.replace(m.group(0), "")):
        return Route("live", "history")
    if _FIRING.search(q):
        return Route("live", "firing")
    return None


def route(question: str) -> str:
    """The intent of ``question`` by rules alone: one of :data:`INTENTS`."""
    r = route_by_rules(question)
    return r.intent if r is not None else "knowledge"


def for_embedding(question: str) -> str:
    """The question with alert names replaced by "this alert": the examples are written
    without names, and an unknown CamelCase word otherwise dominates the embedding."""
    return ALERTNAME.sub("this alert", " ".join(question.split()))


class IntentRouter:
    """Rules, then nearest example. ``embed`` turns texts into unit vectors (the knowledge
    base's MiniLM); without it, or when it fails, the rules alone decide."""

    def __init__(self, embed: Callable[[list[str]], "np.ndarray"] | None = None) -> None:
        self.embed = embed
        self._keys: list[tuple[str, str]] = [k for k, texts in EXAMPLES.items() for _ in texts]
        self._vectors: "np.ndarray | None" = None
        self._lock = threading.Lock()

    def _examples(self) -> np.ndarray:
        import numpy as np

        with self._lock:
            if self._vectors is None:
                assert self.embed is not None
                texts = [t for texts in EXAMPLES.values() for t in texts]
                self._vectors = np.asarray(self.embed(texts), dtype=np.float32)
            return self._vectors

    def warm(self) -> None:
        """Embed the examples now (in the background, before the first question needs them)."""
        if self.embed is not None:
            self._examples()

    def route(self, question: str) -> Route:
        ruled = route_by_rules(question)
        if ruled is not None:
            return ruled
        if self.embed is None:
            return Route("knowledge", how="default")
        import numpy as np

        try:
            examples = self._examples()
            q = np.asarray(self.embed([for_embedding(question)]), dtype=np.float32)[0]
        except Exception:  # noqa: BLE001 - no model here: the rules have decided
            return Route("knowledge", how="default")
        sims = examples @ q
        best: dict[tuple[str, str], float] = {}
        for key, s in zip(self._keys, sims.tolist()):
            best[key] = max(best.get(key, -1.0), s)
        knowledge = best.get(("knowledge", ""), -1.0)
        (intent, topic), score = max(((k, s) for k, s in best.items() if k[0] != "knowledge"), key=lambda ks: ks[1])
        if score >= NEAREST_MIN and score >= knowledge + NEAREST_MARGIN:
            return Route(intent, topic, "nearest", score)
        return Route("knowledge", how="default", score=knowledge)


def history_subject(question: str) -> str:
    """The alert a history question asks about: its CamelCase name when it has one, else
    the words the question puts where the name goes ("" when it names nothing)."""
    q = " ".join(question.split())
    names = ALERTNAME.findall(q)
    if names:
        return names[0]
    m = LAST_TIME.search(q)
    if m:
        subject = next((g for g in m.groupdict().values() if g), "")
        subject = re.sub(r"^(the|this|that|an?)\s+", "", subject.strip(" ?.!\"'`"), flags=re.IGNORECASE)
        if subject.lower() not in ("it", "this", "that", "this alert", "that alert", "alert", "this happen", "it happen"):
            return subject
    return ""
