"""Untrusted text → ``rich.text.Text``, never markup.

``Text(str)`` is not parsed for ``[bold]``-style markup, and :func:`clean` has removed
control characters and escape sequences, so a label value can neither style the screen
nor move the cursor.
"""

from __future__ import annotations

import re

from rich.text import Text

from sreconsole.domain.text import clean


def safe(value: object, max_len: int | None = 200, style: str = "", single_line: bool = True) -> Text:
    return Text(clean(value, max_len, single_line=single_line), style=style, no_wrap=single_line, overflow="ellipsis")


_FENCE = re.compile(r"^\s*(```|~~~)")
_CODE_SPAN = re.compile(r"(`+)(.*?)\1")


def inert_markdown(text: str) -> str:
    """Markdown source whose raw HTML and images show as the text they are.

    Rich's Markdown drops HTML (``<namespace>`` in ``kubectl -n <namespace>`` vanished,
    and a ``<script>`` line took its list item with it) and draws images as an icon: both
    lose what a runbook or a model wrote. Outside code, ``<`` becomes an entity and
    ``![`` an escaped ``!``, which markdown-it renders literally; code is left alone (it is
    literal already)."""
    out: list[str] = []
    in_fence = False
    for line in text.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
            out.append(line)
            continue
        if in_fence:
            out.append(line)
            continue
        pieces, last = [], 0
        for m in _CODE_SPAN.finditer(line):
            pieces.append(_inert_prose(line[last : m.start()]))
            pieces.append(m.group(0))
            last = m.end()
        pieces.append(_inert_prose(line[last:]))
        out.append("".join(pieces))
    return "\n".join(out)


def _inert_prose(text: str) -> str:
    return text.replace("<", "&lt;").replace("![", "\\![")
