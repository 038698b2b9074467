"""Untrusted text → ``rich.text.Text``, never markup.

``Text(str)`` is not parsed for ``[bold]``-style markup, and :func:`clean` has removed
control characters and escape sequences, so a label value can neither style the screen
nor move the cursor.
"""

from __future__ import annotations

from rich.text import Text

from sreconsole.domain.text import clean


def safe(value: object, max_len: int | None = 200, style: str = "", single_line: bool = True) -> Text:
    return Text(clean(value, max_len, single_line=single_line), style=style, no_wrap=single_line, overflow="ellipsis")
