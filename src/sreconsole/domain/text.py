"""Make untrusted text safe to show.

Alert labels, annotations, log lines, documents and model output come from systems we do
not control. Before any of it reaches a terminal it goes through :func:`clean`, which
removes everything a terminal could interpret (C0/C1 controls, ESC sequences, bidi
overrides, zero-width characters) and elides values too long to be useful. Rendering as
Rich markup is a separate hazard handled in the TUI by always building ``rich.text.Text``
objects from plain strings.
"""

from __future__ import annotations

import re
import unicodedata

ELLIPSIS = "…"

# ESC followed by a CSI / OSC / DCS / single-char sequence. Removing the whole sequence,
# not just the ESC byte, keeps "[2J" and "]52;c;..." payloads out of the display too.
_ESCAPE_SEQUENCE = re.compile(
    r"""
    \x1b\[[0-?]*[ -/]*[@-~]            # CSI ... final byte
    | \x1b\][^\x07\x1b]*(?:\x07|\x1b\\)? # OSC ... BEL or ST (or unterminated)
    | \x1b[PX^_][^\x1b]*(?:\x1b\\)?     # DCS / SOS / PM / APC ... ST
    | \x1b[@-Z\\-_]                     # two-byte Fe sequences
    | \x9b[0-?]*[ -/]*[@-~]             # 8-bit CSI
    | \x9d[^\x07\x9c]*(?:\x07|\x9c)?    # 8-bit OSC
    """,
    re.VERBOSE,
)

# Characters that change how the rest of a line is displayed without being visible:
# bidi embeddings/overrides/isolates, zero-width joiners and spaces, the BOM.
_INVISIBLE = dict.fromkeys(
    [
        *range(0x200B, 0x2010),  # zero-width space/non-joiner/joiner, LRM, RLM
        *range(0x202A, 0x202F),  # LRE, RLE, PDF, LRO, RLO
        *range(0x2060, 0x2065),  # word joiner, invisible operators
        *range(0x2066, 0x206A),  # LRI, RLI, FSI, PDI
        0xFEFF,
        0x180E,
        0x061C,  # Arabic letter mark
    ]
)


def to_str(value: object) -> str:
    """Turn any value (including non-UTF-8 bytes) into a ``str`` without raising."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def clean(value: object, max_len: int | None = 500, *, single_line: bool = True) -> str:
    """Return ``value`` as display-safe text.

    * escape sequences are removed whole; other control characters are dropped, except
      that newlines and tabs become spaces when ``single_line`` (table cells) and are
      kept otherwise (detail panels, log lines);
    * invisible formatting characters (bidi overrides, zero-width) are dropped;
    * the result is cut to ``max_len`` characters with a trailing ellipsis.
    """
    text = to_str(value)
    if "\x1b" in text or "\x9b" in text or "\x9d" in text:
        text = _ESCAPE_SEQUENCE.sub("", text)
    text = text.translate(_INVISIBLE)
    out: list[str] = []
    for ch in text:
        if ch in "\n\t":
            out.append(" " if single_line else ch)
            continue
        if ch == "\r":
            continue
        category = unicodedata.category(ch)
        if category in ("Cc", "Cs"):  # controls, lone surrogates
            continue
        out.append(ch)
    text = "".join(out)
    if max_len is not None and len(text) > max_len:
        text = text[: max(max_len - 1, 0)] + ELLIPSIS
    return text


# -- secrets in addresses ------------------------------------------------------------------

REDACTED = "********"
"""What a secret is shown as, wherever it would have appeared."""

# ``scheme://userinfo@`` anywhere in a text: the userinfo (user, password, token) goes.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#@\s\"'<>]*)@")
# ``?token=…`` and the like: query parameters whose name says they carry a credential.
_SECRET_PARAM = re.compile(
    r"(?P<name>[?&;](?:[A-Za-z0-9_.-]*[_.-])?(?:password|passwd|pwd|pass|token|secret|api[_-]?key|apikey|key|auth|"
    r"signature|sig|credential|credentials|access[_-]?key)=)(?P<value>[^&#\s\"'<>]*)",
    re.IGNORECASE,
)


def redact_url(text: object) -> str:
    """``text`` with every credential an address can carry replaced by ``********``: the
    userinfo of each ``scheme://user:password@host`` in it, and the value of query parameters
    named like a credential (``?token=…``, ``&api_key=…``). The host, port and path stay, so
    an operator can still tell which server is meant.

    It is the one function every setting, health line, ``doctor`` row and error message that
    may hold an address goes through before it is shown, printed or stored; it works on any
    text, so a library's error message that quotes the URL is covered too."""
    s = to_str(text)
    if "@" in s:
        s = _USERINFO.sub(lambda m: f"{m['scheme']}{REDACTED}@" if m["userinfo"] else m[0], s)
    if "=" in s:
        s = _SECRET_PARAM.sub(lambda m: f"{m['name']}{REDACTED}" if m["value"] else m[0], s)
    return s


def url_host(url: str) -> str:
    """``host:port`` of an address, without its scheme, userinfo or path (the header's name
    for an environment nobody named)."""
    rest = re.sub(r"^[A-Za-z][A-Za-z0-9+.-]*://", "", to_str(url))
    rest = re.split(r"[/?#]", rest, maxsplit=1)[0]
    return rest.rsplit("@", 1)[-1]
