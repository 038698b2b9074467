"""What every command writes to stdout: JSON through one writer, tables through one console.

**JSON.** Every ``--json`` output goes through :func:`json_text` (or :func:`write_json`), so
every command escapes the same characters the same way. Text other than ASCII stays as it
is (a namespace in Cyrillic is still readable), but every character that could act on a
terminal or hide what a line says is written as a ``\\uXXXX`` escape: C0 and C1 controls
(U+0000–U+001F, U+007F–U+009F: ESC, the 8-bit CSI U+009B and OSC U+009D), the bidi
embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069) and the other invisible
format characters (category Cf: zero-width joiners, U+200E/U+200F marks, the BOM), the line
and paragraph separators U+2028/U+2029, and lone surrogates (bytes that were not UTF-8).
The JSON means exactly what it meant: a decoder reads the same strings back.

**Tables.** :func:`console` is a Rich console that reports a closed pipe as
:class:`BrokenPipeError` instead of exiting by itself, so ``cli.main`` ends every command on
a closed pipe the same way (exit 141, see ``exit_codes.EXIT_BROKEN_PIPE``).
"""

from __future__ import annotations

import json
import re
import sys
import unicodedata
from typing import Any, TextIO

_NOT_ASCII = re.compile(r"[^\x00-\x7e]")
_UNSAFE_CATEGORIES = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))
"""Controls, format characters (bidi, zero-width), surrogates, line/paragraph separators:
what ``json.dumps(ensure_ascii=False)`` leaves raw. (U+0000–U+001F it escapes itself.)"""


def _escape(match: re.Match) -> str:
    ch = match.group()
    return f"\\u{ord(ch):04x}" if unicodedata.category(ch) in _UNSAFE_CATEGORIES else ch


def json_text(value: Any, *, indent: int | None = 2) -> str:
    """``value`` as JSON, with the characters above escaped. ``indent=None``: one line (the
    ``--batch`` outputs write one object per line)."""
    text = json.dumps(value, ensure_ascii=False, indent=indent, default=str)
    # These characters can only occur inside JSON strings (the syntax around them is ASCII),
    # so replacing each with its escape keeps the document valid and its meaning unchanged.
    return _NOT_ASCII.sub(_escape, text)


def write_json(value: Any, *, indent: int | None = 2, out: TextIO | None = None) -> None:
    """Write ``value`` as JSON and a newline to stdout (or ``out``)."""
    stream = out or sys.stdout
    stream.write(json_text(value, indent=indent) + "\n")


def write_json_line(value: Any) -> None:
    """One object per line, flushed: a reader of ``--batch`` output sees each as it comes."""
    sys.stdout.write(json_text(value, indent=None) + "\n")
    sys.stdout.flush()


def rich_console(**kwargs: Any):
    """A Rich console for a command's output whose closed pipe raises
    :class:`BrokenPipeError` (Rich's own reaction is ``SystemExit(1)``)."""
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True
            raise BrokenPipeError("stdout closed")

    return _Console(**kwargs)
