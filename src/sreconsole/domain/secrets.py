"""Take credentials out of text that is about to be kept (a session recording).

:func:`sreconsole.domain.text.redact_url` covers addresses: userinfo and query tokens.
A recording keeps more than addresses: label and annotation values, log lines, error
messages, an operator's reason. Any of those can carry a token pasted by a person or an
exporter (``Authorization: Bearer …`` in a log line, an ``api_key`` label, a JWT in an
annotation). This module is the one place that decides what looks like a credential:

* a value whose *name* says it is one (``token``, ``password``, ``secret``, ``api_key``,
  ``authorization``, ``credential``, ``private_key``…) is replaced whole;
* inside any text: ``Authorization``/``Bearer``/``Basic`` header values, ``name=value`` and
  ``name: value`` pairs with such names, JWTs, PEM private keys and the fixed-prefix keys of
  well-known services (AWS ``AKIA…``, GitHub ``ghp_…``, Slack ``xox…-``, ``sk-…``);
* a bare run of 32 or more base64/hex characters (what a generated key looks like, and
  what a readable value almost never is), so an unnamed key is caught too;
* and, for a recording, the literal values of the settings marked ``secret(...)`` wherever
  they appear (:func:`redact_known`), whatever their shape.

It over-redacts on purpose: a 64-digit image digest becomes ``********`` too. A
recording that loses a digest is still useful; one that leaks a token is not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sreconsole.domain.text import REDACTED, redact_url, to_str

_SECRET_NAME = re.compile(
    r"(?i)(pass(word|wd|phrase)?|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|"
    r"(?<![a-z])auth(?![a-z])|authorization|credential|session[_-]?id|cookie|signature|(?<![a-z])(dsn|pwd)(?![a-z]))"
)

_HEADER = re.compile(r"(?i)\b(authorization|proxy-authorization|x-api-key|x-auth-token|cookie)(\s*[:=]\s*)([^\r\n,;]+)")
_SCHEME_CREDENTIAL = re.compile(r"(?i)\b(bearer|basic|token)(\s+)([A-Za-z0-9._~+/=-]{8,})")
_NAMED_PAIR = re.compile(
    r"""(?ix)
    (?P<name>["']?[\w.-]*(?:pass(?:word|wd)?|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credential)[\w.-]*["']?)
    (?P<sep>\s*[:=]\s*)
    (?P<value>"[^"]*"|'[^']*'|[^\s,;&"'}]+)
    """
)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_PEM = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)", re.S)
_KNOWN_PREFIX = re.compile(
    r"\b(AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|"
    r"xox[abposr]-[A-Za-z0-9-]{10,}|sk-[A-Za-z0-9_-]{20,}|glpat-[A-Za-z0-9_-]{20,})"
)
_LONG_RUN = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{32,}={0,2}(?![A-Za-z0-9+/=_-])")


def name_is_secret(name: object) -> bool:
    """Whether a label, annotation, header or setting *named* ``name`` holds a credential."""
    return bool(_SECRET_NAME.search(to_str(name)))


def _long_run(match: re.Match) -> str:
    run = match[0]
    # A path or a dotted name made of words is not a key: a key mixes digits and letters.
    if not (re.search(r"\d", run) and re.search(r"[A-Za-z]", run)):
        return run
    return REDACTED


def redact_text(text: object) -> str:
    """``text`` with everything that looks like a credential replaced by ``********``."""
    s = redact_url(text)
    s = _PEM.sub(REDACTED, s)
    s = _HEADER.sub(lambda m: f"{m[1]}{m[2]}{REDACTED}", s)
    s = _SCHEME_CREDENTIAL.sub(lambda m: f"{m[1]}{m[2]}{REDACTED}", s)
    s = _NAMED_PAIR.sub(lambda m: f"{m['name']}{m['sep']}{REDACTED}", s)
    s = _JWT.sub(REDACTED, s)
    s = _KNOWN_PREFIX.sub(REDACTED, s)
    return _LONG_RUN.sub(_long_run, s)


def redact_value(name: object, value: object) -> str:
    """A label or annotation value: whole when its name says credential, else scanned."""
    if name_is_secret(name) and to_str(value):
        return REDACTED
    return redact_text(value)


def redact_known(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each of ``secrets`` (literal values, the longest first so that one
    secret inside another goes whole) replaced. Values under 4 characters are left: they
    would blank out ordinary words, and no real credential is that short."""
    for secret in sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text
