"""Which kind of question is this? Rules first, then the example table by embedding.

No language model is involved. Operators type fast: the question is first **normalised**
(:func:`normalise`): chat shorthand is spelled out ("rn", "u", "wat", "b4"), and a
misspelt routing word ("fireing", "reveiw") is corrected when it is one edit away from a
word the rules or examples use and is not itself an English word (the MiniLM WordPiece
vocabulary, which ships with the embedder, says which words are real). The original
question is what retrieval and the answer use.

The rules then catch the phrasings operators use most, each checked in this order:
capability ("can you restart pods?"), the review queue ("anything waiting on me?"), the
incident history ("what did we do last time the payments database was down?"), the
alert list ("anything firing in checkout?"), and small talk: a message made only of chat
words ("you there?", "brb", "lol"). A question that asks *how* or *why* ("…keeps firing,
how do I debug it") is not taken for a question about the alert list. What the rules
leave undecided is scored, by MiniLM embedding, against a table of example utterances per
intent (:class:`IntentRouter`), and leaves knowledge only when another intent clearly
scores higher. Everything else is a knowledge question, because a wrong "live"
answer hides the runbook while a knowledge answer to a live question still says where to
look.

Intents (:data:`INTENTS`) and their topics:

* ``knowledge`` → hybrid retrieval over the knowledge base;
* ``live`` with topic ``firing``, ``review`` or ``history`` → the alert source, the review
  queue, the incident history;
* ``capability`` → the action catalog;
* ``smalltalk`` → a short reply, no retrieval.

Measured on held-out utterances by ``bench/routing_quality.py`` (bench/README.md).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported when the first question is embedded, not at start-up
    import numpy as np


INTENTS = ("knowledge", "live", "capability", "smalltalk")
TOPICS = {"live": ("firing", "review", "history")}

KERNEL_GAMMA = 2.0
"""Width of the example kernel, exp(γ·(cos − 1)): 2 weighs every example, nearer ones more."""
RIDGE = 0.1
MARGIN = 0.1
"""How much a class's score must beat knowledge's: the smallest of 0 / 0.1 / 0.2 that keeps
all 121 knowledge questions of bench/data/retrieval_questions.jsonl on the runbooks
(bench/README.md, "Bruno: routing")."""

# -- normalising ---------------------------------------------------------------------------

SHORTHAND = {
    "u": "you", "ya": "you", "ur": "your", "r": "are", "y": "why", "rn": "right now", "atm": "at the moment",
    "pls": "please", "plz": "please", "plse": "please", "wat": "what", "wut": "what", "wht": "what", "wot": "what",
    "whats": "what is", "wats": "what is", "wuts": "what is", "thats": "that is", "hows": "how is", "whos": "who is",
    "wheres": "where is", "im": "i am", "ive": "i have", "dont": "do not", "didnt": "did not", "doesnt": "does not",
    "isnt": "is not", "wasnt": "was not", "cant": "cannot", "wont": "will not", "b4": "before", "bc": "because",
    "cuz": "because", "coz": "because", "thx": "thanks", "thnx": "thanks", "thanx": "thanks", "ty": "thanks",
    "tyvm": "thanks", "idk": "i do not know", "btw": "by the way", "smth": "something", "sth": "something",
    "ppl": "people", "prev": "previous", "teh": "the", "hte": "the", "anythin": "anything", "somethin": "something",
    "nothin": "nothing", "goin": "going", "alrets": "alerts", "k": "ok", "kk": "ok", "okk": "ok", "okey": "ok", "yea": "yes", "yeah": "yes", "yep": "yes",
    "yup": "yes", "nope": "no", "nah": "no", "gonna": "going to", "wanna": "want to", "gotta": "got to", "w": "with",
    "hrs": "hours", "mins": "minutes", "secs": "seconds", "ns": "namespace", "pvcs": "pvcs", "cya": "see you",
    "gm": "good morning", "gn": "good night", "nite": "night", "nvm": "never mind", "np": "no problem",
}
"""Chat shorthand spelled out before the rules and the embedding see the question."""

_WORD = re.compile(r"[A-Za-z0-9]+(?:'[A-Za-z]+)?")
_REPEATS = re.compile(r"([a-z])\1{2,}")


@lru_cache(maxsize=1)
def _english() -> frozenset[str]:
    """Whole words of the MiniLM WordPiece vocabulary (ships with the embedder): a word in
    it is a real word and is never "corrected". Empty when the file is missing: then
    nothing is corrected."""
    import json

    try:
        from sreconsole.knowledge.offline import minilm_files

        with open(minilm_files()["tokenizer.json"], encoding="utf-8") as fh:
            vocab = json.load(fh)["model"]["vocab"]
    except Exception:  # noqa: BLE001 - MissingAsset, OSError, a changed format: no corrections
        return frozenset()
    return frozenset(w for w in vocab if w.isalpha())


def _one_edit(a: str, b: str) -> bool:
    """Whether ``a`` becomes ``b`` by one insertion, deletion, substitution or swap of
    neighbours."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    i = next((i for i in range(len(short)) if short[i] != long_[i]), len(short))
    return short[i:] == long_[i + 1:]


def _correct(word: str) -> str:
    if len(word) < 5 or word in _vocabulary() or not word.isalpha():
        return word
    candidates = [v for v in _vocabulary() if len(v) >= 5 and _one_edit(word, v)]
    if len(candidates) != 1:
        return word
    english = _english()
    if not english or word in english:
        return word
    return candidates[0]


def normalise(question: str) -> str:
    """The question as the rules and the embedding read it: shorthand spelled out, letters
    typed three times or more once ("hellooo"), a misspelt routing word corrected. Words
    keep their case (alert names are CamelCase)."""
    q = " ".join(question.replace("\u2019", "'").split())

    def one(m: re.Match) -> str:
        word = m.group(0)
        low = word.lower()
        if low in SHORTHAND:
            return SHORTHAND[low]
        base, _, tail = low.partition("'")
        if tail and base in SHORTHAND:  # "wut's" is "what's"
            return f"{SHORTHAND[base]}'{tail}"
        if low.isalpha() and low == word.lower() and not any(c.isupper() for c in word[1:]):
            squeezed = _REPEATS.sub(r"\1", low)
            fixed = _correct(squeezed)
            return fixed if fixed != low else word
        return word

    q = _WORD.sub(one, q)
    # "how 2 fix", "waiting 4 my approval"; not "last 4 hours", "worker 2"
    q = re.sub(r"\b(how|want|need|going|have|got|able|like) 2 (?=[a-z])", r"\1 to ", q, flags=re.IGNORECASE)
    return re.sub(r"\b([A-Za-z]+) 4 (?=[a-z])", lambda m: m.group(0) if m.group(1).lower() in _COUNTING else f"{m.group(1)} for ", q)


_COUNTING = frozenset("last past next in within than every about around over under only worker node".split())
"""Words after which a 4 is a number ("last 4 hours"), not "for"."""


# -- rules -----------------------------------------------------------------------------------

_I = re.IGNORECASE
_ACT_VERBS = (r"(restart|reboot|delete|kill|scale|cordon|uncordon|drain|roll ?back|rollback|revert|expand|resize|grow|"
              r"silence|evict|patch|apply|fix|remediate|automate|execute|run|change|touch|bump|increase|decrease|free|"
              r"clean|do|handle|approve|deploy|recreate|bounce)")
_CAPABILITY = re.compile(
    r"\bwhat (can|could|do|does|will) (you|bruno|this bot|the bot|it) (do|fix|remediate|handle|run|automate|change|touch|offer|help with)\b|"
    rf"\b(can|could|will|would) (you|bruno|the bot|this bot) (\w+ ){{0,2}}?{_ACT_VERBS}\b|"
    r"\b(are you|is bruno|is the bot) (able|allowed|permitted|capable|authori[sz]ed) (to|of)\b|"
    r"\bdo (you|bruno) (support|offer|have|provide|know how to) (\w+ ){0,2}?(actions?|remediations?|fix(es)?|tools?|features?|"
    r"capabilit\w*|restart\w*|scal\w*|drain\w*|cordon\w*|roll\w*|silenc\w*|delet\w*|expan\w*)|"
    r"\bsomething (you|bruno) can do\b|\b(you|bruno) (can|could) do (that|this|it)\b|"
    r"\b(your|bruno'?s) (capabilit\w*|actions?|features?|tools?|remediations?( options)?|options|skills|abilities|powers|catalog\w*)\b|"
    r"\b(what|which) (kinds? of |sorts? of |types? of )?(tools|actions|features|operations|remediations?|fixes|skills|commands) "
    r"((do|can|could|will|would) (you|bruno)|(are|is) (available|supported|there)|you (support|have|know|offer))\b|"
    r"\b(action )?catalog(ue)?\b|^\W*(features|capabilities|abilities|skills|actions)\W*$|"
    r"\bwhat are you (good for|for|able to do|allowed to|capable of)\b|\bhow (can|could) (you|bruno) help( me| us)?\W*$|"
    r"\b(list|show)( me)?( of| the| all| your)? (remediation )?actions\b|\bcapabilit(y|ies)\b|\bwhat are you able to\b|"
    r"\bbesides answering\b",
    _I,
)
_NOT_REVIEW_QUEUE = re.compile(r"\b(notification|remote|write|send|sending|shard|work|alertmanager'?s?|prometheus'?s?|scrape|kafka|message)s? queues?\b|\bqueues? (is |are )?(running )?full\b", _I)
_REVIEW = re.compile(
    r"\b(waiting|pending|queued|awaiting) (for )?(a )?(review|approval|sign[- ]?off|decision|human|my)\b|"
    r"\b(waiting|pending) (on|for) (me|us|you|a human|someone)\b|"
    r"\b(any|open|pending|waiting|queued|new) (proposals?|remediations?|actions?|reviews?|approvals?|items|stuff|fix(es)?|suggestions?)\b|"
    r"\bproposals?\b|\bproposed\b|\bwhat (did|has|have) .{0,40}\bpropos|"
    r"\breview (queue|pane|list)\b|\b(the|my|our|in) queue\b|^\W*(the )?queue\b|\bqueued\b|"
    r"\bneeds? (my |an? |your )?(review|approval|sign[- ]?off|ok|okay|decision|attention from me)\b|"
    r"\b(for me|for us) to (review|approve|sign|decide|look at)\b|\bapprove or reject\b|"
    r"\b(anyone|somebody|someone) (approved?|rejected?)\b|\bto (review|approve)\b|\bsign[- ]?off\b|"
    r"\bpending approvals?\b|\bapprovals? (pending|waiting|open)\b|\bstuck in review\b",
    _I,
)
_NOT_HISTORY = re.compile(r"\bwhat (did|does) the (runbook|docs?|documentation|wiki|guide)\b|\blast time i (checked|looked)\b", _I)
_HISTORY = re.compile(
    r"\b(last|previous|prior) times?\b|\blast few times\b|"
    r"\b(we|you|they|it|this|that|anyone|ever)\b.*\b(before|previously|earlier|in the past)\W*$|"
    r"\b(had|seen|happened|fired|occurred|been) .{0,40}\b(before|previously)\W*$|"
    r"\bwhat did (we|you|they|the team|the on-?call|[a-z]+) do\b|"
    r"\b(past|previous|prior|similar|old|earlier|recent|any|our) (incidents?|outages?|occurrences?|postmortems?)\b|"
    r"\bincidents? (history|did we have|we had|from|in the past|yesterday|last|over|this|since)\b|"
    r"\b(what|which|show|list|recap( of)?|summary of|any) (the )?incidents?\b|"
    r"\bincident history\b|\bhistory (for|of|on)\b|\bany history\b|\bhistorically\b|"
    r"\bhow (often|many times) (has|have|did|had|was|were)\b|"
    r"\bwhen did .{1,60}\b(last )?(fire|happen|go off|occur|alert|break)\b|\bwhen was .{1,60}\blast\b|"
    r"\bwhat (fixed|worked|helped|was done|did the trick)\b|\b(who|which operator) (handled|fixed|resolved|dealt|took)\b|"
    r"\bwhat (we|you|they) did\b|\bdid (we|you|they|anyone) ever\b|\bhave (we|you) (ever )?(seen|had)\b|"
    r"\bhow (did|have|was|were) (we|you|they|it|this|that|the .{1,40}?) (fix|fixed|resolve|resolved|handle|handled|deal with|dealt with|sorted|solved|mitigated)\b",
    _I,
)
_KNOWLEDGE_CUE = re.compile(
    r"\bhow (do|does|can|should|would|to|could|is)\b|\bwhy\b|\bwhat (does|do) .{1,60} mean\b|\bmeaning\b|\bexplain\b|"
    r"\bwhat causes?\b|\bcauses? of\b|\bwhat should\b|\bshould (i|we)\b|\bsafe to\b|\bsteps? (to|for)\b|\bdebug|"
    r"\btroubleshoot|\binvestigat|\brunbooks?\b|\bdocs?\b|\bdocumentation\b|\bdifference\b|\bimpact\b|"
    r"\bwhat happens (if|when)\b|\btips?\b|\brisks?\b|\bworry\b|\bbad\?|\bnormal\b|\bmitigat|\brecommend|\bbest way\b",
    _I,
)
_FIRING_STRONG = re.compile(
    r"^\W*(what|which)( alerts?| services?| things?| namespaces?)?( is| are|'s| are currently| is currently)? "
    r"(currently |still |now )?(firing|alerting|going off|on fire|broken)\b",
    _I,
)
_FIRING = re.compile(
    r"\b(what|which|anything|any|something|everything|who)\b.{0,30}?\b(firing|alerting|going off|went off|on fire|fired|"
    r"broken|borked|red|wrong|unhappy|affected|failing|paging|screaming|burning)\b|"
    r"\b(current|active|open|live|new|recent|top|critical|firing|latest|fresh)( \w+)? alerts?\b|"
    r"\balerts? (for|in|on|now|right now|at the moment|came in|today|since)\b|"
    r"\b(any|got|see|seeing|have|getting|list|show)( me)?( the)? (alerts|criticals|warnings|pages|alarms)\b|"
    r"^\W*(alerts|criticals|warnings|alarms)( please)?\W*$|\bhow many alerts\b|"
    r"\b(is|are) (\S+ ){1,3}?(still )?(firing|alerting|going off|active)\b|"
    r"^\W*(is|are) (\S+ ){1,3}?(healthy|ok|okay|fine|good|alright|all right|up|down|happy|green|on fire)\W*$|"
    r"\b(status|situation|rundown|overview|summary|state) (of|on|for) (the )?(cluster|alerts|things|prod|everything|production)\b|"
    r"\b(current|alert) (alert )?situation\b|\bwhat (is|'s) (up|going on|happening|popping|poppin'?|cooking) (with|in|on|at)\b|"
    r"\bon fire\b|\bhow bad is it\b|^\W*(anything|something|what'?s?|what is) new\W*$|\bpages? (are )?(active|firing|open)\b|"
    r"\b(which|what) (nodes|namespaces|services|pods|deployments|teams|clusters|apps) (have|has|with|are|got|show)\b|"
    r"\b(firing|active|open|current) (ones|stuff|things)\b",
    _I,
)
_TIME_WORDS = re.compile(r"\s+(right now|now|at the moment|currently|today|atm)\W*$", _I)

CHAT_WORDS = frozenset("""
hi hello hey heya hiya yo sup howdy morning afternoon evening night good day thanks thank cheers appreciated appreciate
ta ok okay sure yes no fine alright right got it noted understood roger ack cool nice great awesome perfect excellent
sweet job well done lol lmao rofl haha hahaha hehe heh xd omg wow ugh meh hmm hm huh oops whoa damn sigh yikes oh ah
there alive awake around here anyone anybody someone still with me brb bbl afk bye goodbye see later ttyl go run
leaving off gone back sorry wrong window mistake typo ignore never mind bot robot human ai real name who are you your
useless helpful useful rock rocks best worst stupid dumb smart test testing ping pong is it that this was so very really
one just a an the i we all guys folks team everyone mate buddy bruno again how long what for now in min minutes sec to of and
hour bit coffee lunch break tired done problem welcome much love again am re s m ll ve d t exhausted quick be will help helped helps
""".split())
"""Words a message made only of is small talk ("you there?", "brb", "lol", "sorry wrong
window"). No domain word is among them, so "ok so how do I fix the crashloop" is not."""


def _all_chat(q: str) -> bool:
    words = [w.lower() for w in re.findall(r"[A-Za-z]+|\d+", q)]
    return bool(words) and len(words) <= 10 and all(w in CHAT_WORDS or w.isdigit() for w in words)


LAST_TIME = re.compile(
    r"\b(last|previous|past) times? (?P<a>.+?) (fired|happened|went off|triggered|alerted|occurred|was down|was broken|broke|failed|ran out of .+?)\b|"
    r"\bwhat did (we|you|they|the team) do (about|for|with|when|on) (?P<b>.+?)(\s+(fired|happened|went off|last time|before))?\s*\??$|"
    r"\bwhat did (we|you|they|the team) do (last time|the last time|previously|before) (?P<f>.+?)(\s+(fired|happened|went off|was down|was broken|broke|failed))?\s*\??$|"
    r"\b(past|previous|similar) incidents? (of|for|with|about) (?P<c>.+?)\s*\??$|"
    r"\bhow (did|have) (we|you|they) (fix|fixed|resolve|resolved|handle|handled|deal with|dealt with) (?P<d>.+?) (before|previously|last time)\b|"
    r"^\W*(has|have|did) (we (seen|had) )?(?P<e>.+?)( (happened|fired|occurred|gone off))? (before|previously)\W*$",
    _I,
)
ALERTNAME = re.compile(r"\b[A-Za-z][a-z0-9]*(?:[A-Z][A-Za-z0-9]*)+\b")
"""CamelCase words: how alert names are written (KubePodCrashLooping, etcdNoLeader)."""

EXAMPLES: dict[tuple[str, str], tuple[str, ...]] = {
    ("live", "firing"): (
        "what is firing right now", "which alerts are active", "show me the current alerts",
        "is anything broken in payments", "what is alerting in the checkout namespace",
        "any critical alerts at the moment", "anything screaming in checkout", "are there alerts for the payments team",
        "what's going on in the cluster right now", "which services are alerting",
        "is prod in trouble", "how is the cluster doing", "give me the alert list", "what is paging us",
        "is everything green", "anything I should look at right now", "what's hurting at the moment",
        "alert summary please", "is the shop up", "are things calm tonight", "what's degraded right now",
        "current state of production", "which workloads are in trouble", "anything going sideways in data",
        "what is open in the alerts pane", "which alarms are ringing",
    ),
    ("live", "review"): (
        "what is waiting for review", "which proposals need my approval", "show the review queue",
        "anything pending approval", "what remediations are queued", "is there something for me to approve",
        "which items are awaiting a decision", "what needs my sign-off",
        "what is there to approve", "anything for me to decide on", "what's on my plate to approve",
        "which remediations did the engine suggest", "what has been queued up", "what can I approve now",
        "anything awaiting a verdict", "what did the engine put up for review", "outstanding approvals",
    ),
    ("live", "history"): (
        "what did we do last time this alert fired", "past incidents of this alert", "how was this resolved before",
        "has this happened before", "how did we fix this alert previously", "what was done the previous time",
        "what happened the other times this went off", "how did the on-call handle it before",
        "show earlier occurrences of this alert", "what did the team do when this broke",
        "what was the fix the last time around", "did this alert fire last month too", "when was the last outage",
        "what did alice do the previous time", "track record of this alert", "incidents this week",
    ),
    ("capability", ""): (
        "what can you remediate", "which actions can you take", "what are you allowed to fix",
        "list the remediation actions", "what can you do for me", "which fixes are you able to apply",
        "what actions do you support", "could you bounce a pod for me", "are you able to act on the cluster",
        "what are your powers", "what remediation can bruno offer", "can you take care of it for me",
        "which things can you change", "what automation do you have", "do you have a restart action",
        "what options do you give me", "what can you help with",
    ),
    ("smalltalk", ""): (
        "hello there", "thanks, that helped", "good morning", "who are you", "bye for now", "you're great",
        "cheers mate", "how is it going", "are you awake", "heading home now", "back from lunch",
        "that made me laugh", "fair enough", "oh well", "talk later", "nice to meet you", "i'm exhausted",
        "whatever", "never mind that", "hang on a sec", "one moment", "just testing",
    ),
    ("knowledge", ""): (
        "how do I fix a pod that is crash looping", "what does this alert mean", "how to mitigate CPU throttling",
        "why is the volume filling up", "what should I check when etcd has no leader", "how do I debug a failing job",
        "what is the runbook for target down", "what should I do when this alert fires", "what causes this alert",
        "this alert has been firing all evening, is that bad", "how do I drain a node", "what alerts does the runbook cover",
        "alerts are firing but no notifications are sent", "why is the config reload failing",
        "how can I tell what is using the disk", "what are the steps to recover etcd", "is it normal for this to fire at night",
        "the scheduler looks stuck, where do I start", "what's a good way to find a memory leak", "explain this alert to me",
        "what does a high error budget burn mean", "my pods are stuck terminating", "what is the usual fix for this",
        "which command shows the pod logs", "how do I renew a certificate", "where do I look when scraping fails",
        "the node ran out of inodes", "what do I do about too many open files", "is it dangerous to delete the pvc",
        "the disk on the node is full", "how to roll back a deployment", "what should the replicas be",
    ),
}


@dataclass(frozen=True)
class Route:
    intent: str
    topic: str = ""
    how: str = "rule"
    """``rule``, ``examples`` (the example table, by embedding), or ``default`` (nothing
    matched: knowledge)."""
    score: float = 0.0
    """For ``examples``: the winning class's score."""


@lru_cache(maxsize=1)
def _vocabulary() -> frozenset[str]:
    """The words of the example table and the rules: what a typo may be corrected to."""
    words = {w.lower() for texts in EXAMPLES.values() for t in texts for w in re.findall(r"[A-Za-z]+", t)}
    words |= set("""firing alerting alerts review approval approvals approve pending proposal proposals queue queued
    incident incidents history previous previously before capabilities capability actions remediation remediations
    anything something everything nothing yesterday minutes hours namespace broken awaiting waiting catalog""".split())
    return frozenset(w for w in words if len(w) >= 5)


def route_by_rules(question: str) -> Route | None:
    """The route the rules give, or ``None`` when no rule applies. ``question`` is
    normalised first (:func:`normalise`)."""
    q = normalise(question)
    if not q or not re.search(r"[A-Za-z0-9]", q):
        return Route("smalltalk")
    if _CAPABILITY.search(q):
        return Route("capability")
    if _REVIEW.search(q) and not _NOT_REVIEW_QUEUE.search(q) and not _KNOWLEDGE_CUE.search(q):
        return Route("live", "review")
    if _HISTORY.search(q) and not _NOT_HISTORY.search(q):
        return Route("live", "history")
    if _FIRING_STRONG.search(q) or (_FIRING.search(q) and not _KNOWLEDGE_CUE.search(q)):
        return Route("live", "firing")
    if _all_chat(q):
        return Route("smalltalk")
    return None


def route(question: str) -> str:
    """The intent of ``question`` by rules alone: one of :data:`INTENTS`."""
    r = route_by_rules(question)
    return r.intent if r is not None else "knowledge"


def for_embedding(question: str) -> str:
    """The question, normalised, with alert names replaced by "this alert": the examples
    are written without names, and an unknown CamelCase word otherwise dominates the
    embedding."""
    return ALERTNAME.sub("this alert", normalise(question))


class IntentRouter:
    """Rules, then the example table. ``embed`` turns texts into unit vectors (the
    knowledge base's MiniLM); without it, or when it fails, the rules alone decide.

    The example step is kernel ridge regression over the examples' embeddings (an RBF
    kernel on the unit sphere, :data:`KERNEL_GAMMA`, ridge :data:`RIDGE`), one score per
    intent/topic, solved once when the examples are first embedded (a 200×200 system:
    milliseconds). Compared with the nearest single example it weighs every example of a
    class, so one odd example neither wins nor vetoes alone. A class other than knowledge
    wins only by :data:`MARGIN` over knowledge."""

    def __init__(self, embed: Callable[[list[str]], "np.ndarray"] | None = None) -> None:
        self.embed = embed
        self._keys: list[tuple[str, str]] = [k for k, texts in EXAMPLES.items() for _ in texts]
        self.classes: list[tuple[str, str]] = list(EXAMPLES)
        self._vectors: "np.ndarray | None" = None
        self._weights: "np.ndarray | None" = None
        self._lock = threading.Lock()

    def _examples(self) -> tuple[np.ndarray, np.ndarray]:
        import numpy as np

        with self._lock:
            if self._vectors is None:
                assert self.embed is not None
                texts = [for_embedding(t) for texts in EXAMPLES.values() for t in texts]
                x = np.asarray(self.embed(texts), dtype=np.float64)
                y = np.array([[1.0 if k == c else 0.0 for c in self.classes] for k in self._keys])
                kernel = np.exp(KERNEL_GAMMA * (x @ x.T - 1.0))
                self._weights = np.linalg.solve(kernel + RIDGE * np.eye(len(x)), y)
                self._vectors = x
            return self._vectors, self._weights

    def warm(self) -> None:
        """Embed the examples now (in the background, before the first question needs them)."""
        if self.embed is not None:
            self._examples()

    def scores(self, question: str) -> dict[tuple[str, str], float]:
        """The example step's score per (intent, topic); raises when the model cannot run."""
        import numpy as np

        vectors, weights = self._examples()
        q = np.asarray(self.embed([for_embedding(question)]), dtype=np.float64)[0]
        s = np.exp(KERNEL_GAMMA * (vectors @ q - 1.0)) @ weights
        return dict(zip(self.classes, s.tolist()))

    def route(self, question: str) -> Route:
        ruled = route_by_rules(question)
        if ruled is not None:
            return ruled
        if self.embed is None:
            return Route("knowledge", how="default")
        try:
            scores = self.scores(question)
        except Exception:  # noqa: BLE001 - no model here: the rules have decided
            return Route("knowledge", how="default")
        knowledge = scores.get(("knowledge", ""), 0.0)
        (intent, topic), score = max(((k, v) for k, v in scores.items() if k[0] != "knowledge"), key=lambda kv: kv[1])
        if score >= knowledge + MARGIN:
            return Route(intent, topic, "examples", score)
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
