"""Alertmanager label matchers, parsed and validated as Alertmanager does.

Syntax (``amtool``, the Alertmanager UI and silences): ``name=value``, ``name!=value``,
``name=~regex``, ``name!~regex``; values quoted (``"..."`` with ``\\"``, ``\\\\`` and ``\\n``
escapes) or bare; several matchers separated by commas or spaces, optionally inside ``{}``.
Regexes are matched by RE2 (the ``google-re2`` package), the engine behind Go's ``regexp``
that Alertmanager uses: the same syntax, anchored the same way (``^(?:re)$``, ``.`` not
matching a newline), the same refusals (look-around, back-references), and time linear in
the length of the label, so ``(A+)+B`` against a 100,000-character label costs what any
other pattern does instead of never ending (Python's ``re`` backtracks exponentially). A
filter that works here also works as a silence there.

The Alerts pane's filter mixes matchers with free text: ``severity="critical" payments``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import re2

LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # RE2 would write every refusal to stderr, under the TUI
_RE2_OPTIONS.never_capture = True  # only match / no match is needed: the cheapest program
_LOOK_AROUND = re.compile(r"invalid perl operator: \(\?(?:=|!|<|P=)|invalid escape sequence: \\[1-9]")
_MEMO_VALUE_CHARS = 256
"""Label values up to this length remember their answer per matcher: a namespace or a
severity repeats across thousands of alerts, and a filter keystroke re-reads them all."""
_MEMO_ENTRIES = 4096


def compile_regex(value: str) -> re2._Regexp:
    """``value`` anchored as Alertmanager anchors it. Raises :class:`MatcherError` with
    the reason in words (``look-around ... not supported``, ``missing )``)."""
    try:
        re2.compile(value, _RE2_OPTIONS)  # the error names the operator's text, not the anchors
        return re2.compile(f"^(?:{value})$", _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        if _LOOK_AROUND.search(reason):
            raise MatcherError(f"look-around and back-references are not supported by Alertmanager ({reason})") from None
        raise MatcherError(f"invalid regular expression: {reason}") from None
    except UnicodeEncodeError:
        raise MatcherError("invalid regular expression: not valid UTF-8 text") from None


class MatcherError(ValueError):
    """The filter or silence matchers are invalid; ``str()`` says where and why."""


class MatchType(enum.Enum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


@dataclass(frozen=True)
class Matcher:
    name: str
    type: MatchType
    value: str
    _regex: re2._Regexp | None = field(default=None, compare=False, repr=False)
    _memo: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def create(cls, name: str, type_: MatchType, value: str) -> Matcher:
        if not LABEL_NAME.fullmatch(name):
            raise MatcherError(f"invalid label name {name!r}")
        regex = None
        if type_ in (MatchType.REGEX, MatchType.NOT_REGEX):
            try:
                regex = compile_regex(value)
            except MatcherError as exc:
                raise MatcherError(f"{name}{type_.value}: {exc}") from None
        return cls(name, type_, value, regex)

    def matches(self, labels: Mapping[str, str]) -> bool:
        """A missing label matches as the empty string, as in Alertmanager."""
        actual = labels.get(self.name, "")
        if self.type is MatchType.EQUAL:
            return actual == self.value
        if self.type is MatchType.NOT_EQUAL:
            return actual != self.value
        hit = self._regex_hit(actual)
        return hit if self.type is MatchType.REGEX else not hit

    def matches_alert(self, alert) -> bool:
        """:meth:`matches` on an alert's labels, where ``cluster`` is also a pseudo-label
        holding :attr:`Alert.cluster` (the configured cluster the alert came from). A real
        ``cluster`` label, when the alert carries one (Prometheus external labels often
        do), wins: it is what the rule author wrote and what a silence would match."""
        labels = alert.labels
        if self.name == "cluster" and "cluster" not in labels:
            labels = {"cluster": alert.cluster}
        return self.matches(labels)

    def _regex_hit(self, actual: str) -> bool:
        memo = self._memo
        if len(actual) <= _MEMO_VALUE_CHARS:
            known = memo.get(actual)
            if known is not None:
                return known
        assert self._regex is not None
        # Bytes: the wrapper's str path maps every offset back to characters (3x slower);
        # "surrogatepass" keeps a lone surrogate (bad JSON) from raising.
        hit = self._regex.match(actual.encode("utf-8", "surrogatepass")) is not None
        if len(actual) <= _MEMO_VALUE_CHARS:
            if len(memo) >= _MEMO_ENTRIES:
                memo.clear()
            memo[actual] = hit
        return hit

    @property
    def is_regex(self) -> bool:
        return self.type in (MatchType.REGEX, MatchType.NOT_REGEX)

    @property
    def is_equal(self) -> bool:
        return self.type in (MatchType.EQUAL, MatchType.REGEX)

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.type.value}"{escaped}"'

    def to_api(self) -> dict[str, object]:
        """The Alertmanager API v2 form used in silences."""
        return {"name": self.name, "value": self.value, "isRegex": self.is_regex, "isEqual": self.is_equal}


_SEPARATORS = ", \t{}"
_OPERATOR = re.compile(r"(=~|!~|!=|=)")


def _read_value(text: str, i: int) -> tuple[str, int]:
    """A quoted or bare value starting at ``i``; returns (value, index after it)."""
    if i < len(text) and text[i] == '"':
        out = []
        i += 1
        while i < len(text):
            ch = text[i]
            if ch == "\\" and i + 1 < len(text):
                nxt = text[i + 1]
                out.append({"n": "\n", '"': '"', "\\": "\\"}.get(nxt, "\\" + nxt))
                i += 2
                continue
            if ch == '"':
                return "".join(out), i + 1
            out.append(ch)
            i += 1
        raise MatcherError("unterminated quoted value")
    start = i
    while i < len(text) and text[i] not in _SEPARATORS:
        i += 1
    return text[start:i], i


@dataclass(frozen=True)
class Filter:
    """A parsed filter: matchers (all must hold) and free-text terms (all must occur)."""

    matchers: tuple[Matcher, ...] = ()
    terms: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str], text: str) -> bool:
        return all(m.matches(labels) for m in self.matchers) and all(t in text for t in self.terms)

    def matches_alert(self, alert) -> bool:
        """:meth:`matches` for an :class:`~sreconsole.domain.alerts.Alert`, with the
        ``cluster`` pseudo-label (:meth:`Matcher.matches_alert` says which wins)."""
        if not all(m.matches_alert(alert) for m in self.matchers):
            return False
        text = alert.search_text()
        return all(t in text for t in self.terms)

    def __bool__(self) -> bool:
        return bool(self.matchers or self.terms)


def narrows(new: Filter, old: Filter) -> bool:
    """Whether every alert ``new`` matches is one ``old`` matches, read off the filters'
    parts alone: ``old`` is not empty, each of its matchers is in ``new`` as it is, and each
    of its words is inside one of ``new``'s (a longer word occurs only where the shorter one
    does). Then a growing filter can narrow the previous answer instead of the whole pool.
    A matcher that changes (``=~"a"`` to ``=~"a|b"`` widens) never counts."""
    if not old:
        return False
    return all(m in new.matchers for m in old.matchers) and all(any(t in u for u in new.terms) for t in old.terms)


def parse_filter(text: str) -> Filter:
    """Split ``text`` into matchers and free-text terms. Raises :class:`MatcherError`."""
    s = text.strip()
    matchers: list[Matcher] = []
    terms: list[str] = []
    i = 0
    while i < len(s):
        if s[i] in _SEPARATORS:
            i += 1
            continue
        name_match = LABEL_NAME.match(s, i)
        if name_match:
            op = _OPERATOR.match(s, name_match.end())
            if op:
                value, i = _read_value(s, op.end())
                matchers.append(Matcher.create(name_match.group(0), MatchType(op.group(1)), value))
                continue
        start = i
        while i < len(s) and s[i] not in _SEPARATORS:
            i += 1
        word = s[start:i]
        if any(ch in word for ch in "=~") and _OPERATOR.search(word):
            raise MatcherError(f"invalid matcher {word!r}: label names are letters, digits and _")
        terms.append(word.lower())
    return Filter(tuple(matchers), tuple(terms))


def parse_matchers(text: str) -> list[Matcher]:
    """Strict form for silences: only matchers, at least one, no free text."""
    parsed = parse_filter(text)
    if parsed.terms:
        raise MatcherError(f"not a matcher: {parsed.terms[0]!r} (expected name=\"value\")")
    if not parsed.matchers:
        raise MatcherError("at least one matcher is needed")
    return list(parsed.matchers)
