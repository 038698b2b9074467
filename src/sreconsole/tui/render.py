"""The one door for outside text into the screen.

Textual parses markup in strings given to ``App.notify``, ``Static``, ``Label``, titles and
``update()``: a ``[/]`` in an alert name crashed the console, and ``[@click=app.quit]``
turned a label into a clickable action (``[link=…]`` into a terminal hyperlink). Rich and
Textual also pass escape sequences in a ``Text`` straight to the terminal. So every string
that did not come from this code reaches the screen through this module:

* :func:`safe` builds a ``rich.text.Text`` from :func:`~sreconsole.domain.text.clean` text
  (no escapes, controls, bidi or zero-width characters; long values elided). ``Text(str)``
  is never parsed for markup, so brackets show as typed.
* :func:`notify_plain` is the only way to show a toast: cleaned, ``markup=False``.
* :func:`inert` lets a variable holding a renderable through, and turns a ``str`` into
  :func:`safe` text rather than markup.

``tests/adversarial/test_no_markup_bypass.py`` reads every module of ``tui/`` and fails on a
call that passes outside text to a widget any other way.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from rich.text import Text

from sreconsole.domain.text import clean

if TYPE_CHECKING:
    from textual.notifications import SeverityLevel


def safe(value: object, max_len: int | None = 200, style: str = "", single_line: bool = True) -> Text:
    """``value`` as inert text: cleaned, cut to ``max_len``, styled only by ``style``.
    ``single_line`` (table cells, titles) turns newlines into spaces and does not wrap."""
    return Text(clean(value, max_len, single_line=single_line), style=style, no_wrap=single_line, overflow="ellipsis")


def inert(renderable: object) -> object:
    """A renderable as it is; a ``str`` as :func:`safe` text (never as markup)."""
    if isinstance(renderable, str):
        return safe(renderable, None, single_line=False)
    return renderable


def notify_plain(
    target,
    message: object,
    *,
    severity: SeverityLevel = "information",
    timeout: float | None = None,
    title: str = "",
    max_len: int = 300,
) -> None:
    """Show a toast whose text is shown exactly as given, cleaned, never parsed as markup.

    ``target`` is the app or any widget of it. Thread-safe, like ``App.notify`` (it posts
    a message), so thread workers call it directly."""
    from textual.app import App

    app = target if isinstance(target, App) else target.app
    app.notify(
        clean(message, max_len, single_line=False),
        title=clean(title, 80),
        severity=severity,
        timeout=timeout,
        markup=False,
    )


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
