"""How list commands print a table: fitted to the terminal, or plain for a pipe.

* **A terminal** gets aligned columns with a bold header, at most as wide as the terminal.
  Identifying columns (an id, a state, a number) are never shrunk or cut: they are what the
  next command needs (``review approve ID``). The free-text columns share what is left and
  end in an ellipsis when they must; a column marked ``second_line`` (a summary) moves to
  an indented line of its own under its row rather than being squeezed to a few letters.
* **``--wide``** shows every column, extra ones included, at full width: long lines wrap
  in the terminal, nothing is cut.
* **A pipe or a file** (not a TTY) gets what ``kubectl get`` prints: a header line, columns
  aligned with spaces, no title, no box characters, no colour, nothing cut, one row per
  line — so ``grep``, ``awk '{print $1}'`` and ``sort`` work, and the output of one run
  compares with the next. An empty cell is ``-``.

Every cell is outside text: it goes through :func:`sreconsole.domain.text.clean` (no escape
sequences, no control characters, one line) and is never read as Rich markup.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

GAP = 2
"""Spaces between two columns on a terminal (the pipe layout uses three, as kubectl does)."""

PIPE_GAP = 3

MIN_FLEX = 6
"""The narrowest a free-text column is cut to (5 letters and the ellipsis)."""


@dataclass(frozen=True)
class Column:
    header: str
    key: bool = False
    """Identifies the row or states a fact (id, state, a number): never shrunk or cut."""
    wide: bool = False
    """Shown only with ``--wide`` (and in pipes only then, so scripts see stable columns)."""
    second_line: bool = False
    """On a terminal too narrow for the row, printed under it on a line of its own."""
    justify: str = "left"


Cell = str | tuple[str, str]
"""A cell's text, or ``(text, Rich style)`` for a terminal (the style is dropped in a pipe)."""


def print_table(
    columns: Sequence[Column],
    rows: Sequence[Sequence[Cell]],
    *,
    title: str = "",
    wide: bool = False,
    empty: str = "",
    out: TextIO | None = None,
) -> None:
    """Print ``rows`` under ``columns`` (see the module doc). ``title`` is shown above the
    table on a terminal only; ``empty`` is said (on stderr, like kubectl's "No resources
    found") when there are no rows."""
    from sreconsole.cli.output import rich_console

    stream = out or sys.stdout
    console = rich_console(file=stream, highlight=False)
    chosen = [i for i, c in enumerate(columns) if wide or not c.wide]
    cols = [columns[i] for i in chosen]
    cells = [[_cell(row[i]) for i in chosen] for row in rows]
    if not rows and empty:
        print(empty, file=sys.stderr)
    if not console.is_terminal:
        if rows:
            _plain(cols, cells, stream)
        return
    if title:
        console.print(_text(title, "bold"), no_wrap=True, crop=False, soft_wrap=True)
    if not rows:
        return
    _terminal(console, cols, cells, wide)


def _cell(value: Cell) -> tuple[str, str]:
    from sreconsole.domain.text import clean

    text, style = value if isinstance(value, tuple) else (value, "")
    text = clean(text, None).strip()
    return (text or "-"), style


def _width(text: str) -> int:
    from rich.cells import cell_len

    return cell_len(text)


def _plain(cols: list[Column], cells: list[list[tuple[str, str]]], stream: TextIO) -> None:
    widths = [max([_width(c.header)] + [_width(row[i][0]) for row in cells]) for i, c in enumerate(cols)]
    lines = [[c.header.upper() for c in cols]] + [[text for text, _ in row] for row in cells]
    for line in lines:
        parts = [_pad(text, w, c.justify) for text, w, c in zip(line, widths, cols)]
        stream.write((" " * PIPE_GAP).join(parts).rstrip() + "\n")
    stream.flush()


def _pad(text: str, width: int, justify: str) -> str:
    space = " " * max(width - _width(text), 0)
    return space + text if justify == "right" else text + space


def fit(cols: Sequence[Column], natural: Sequence[int], available: int) -> tuple[list[int], bool]:
    """Column widths for a terminal ``available`` cells wide, and whether the
    ``second_line`` columns move under their rows. Key columns keep their natural width;
    free-text columns share the rest fairly (none wider than it needs, none narrower than
    :data:`MIN_FLEX` unless it needs less)."""
    widths = list(natural)

    def total(ws: Sequence[int], skip: set[int]) -> int:
        shown = [w for i, w in enumerate(ws) if i not in skip]
        return sum(shown) + GAP * max(len(shown) - 1, 0)

    second = {i for i, c in enumerate(cols) if c.second_line}
    moved = False
    if total(widths, set()) > available and second:
        moved = True
    skip = second if moved else set()
    if total(widths, skip) <= available:
        return widths, moved
    flexible = [i for i, c in enumerate(cols) if not c.key and i not in skip]
    fixed = total([w if i not in flexible else 0 for i, w in enumerate(widths)], skip)
    left = available - fixed  # the gaps next to the flexible columns are already in `fixed`
    # Water-filling: the narrowest needs are met in full, the rest split what remains.
    pending = sorted(flexible, key=lambda i: natural[i])
    while pending:
        share = left // len(pending)
        i = pending[0]
        if natural[i] <= share:
            widths[i] = natural[i]
            left -= natural[i]
            pending.pop(0)
            continue
        for j in pending:
            widths[j] = max(min(natural[j], MIN_FLEX), share)
        break
    return widths, moved


def _terminal(console, cols: list[Column], cells: list[list[tuple[str, str]]], wide: bool) -> None:
    from rich.text import Text

    natural = [max([_width(c.header)] + [_width(row[i][0]) for row in cells]) for i, c in enumerate(cols)]
    if wide:
        widths, moved = natural, False
    else:
        widths, moved = fit(cols, natural, console.width)
    inline = [i for i, c in enumerate(cols) if not (moved and c.second_line)]
    below = [i for i in range(len(cols)) if i not in inline]

    def line(parts: list[tuple[str, str]], indices: list[int]) -> Text:
        out = Text()
        for n, i in enumerate(indices):
            text, style = parts[i]
            piece = _text(text, style)
            piece.truncate(widths[i], overflow="ellipsis", pad=n < len(indices) - 1)
            if cols[i].justify == "right":
                piece = Text(" " * max(widths[i] - piece.cell_len, 0)) + piece
            if n:
                out.append(" " * GAP)
            out.append_text(piece)
        return out

    header = [(c.header.upper(), "bold") for c in cols]
    print_line = dict(no_wrap=not wide, crop=not wide, soft_wrap=wide)
    console.print(line(header, inline), **print_line)
    for row in cells:
        console.print(line(row, inline), **print_line)
        if below:
            # One indented line for what moved: named by header when more than one did.
            piece = Text("  ")
            for n, i in enumerate(below):
                text, style = row[i]
                if n:
                    piece.append("  ")
                if len(below) > 1:
                    piece.append(cols[i].header.lower() + " ", style="dim")
                piece.append(text, style=style or "dim")
            piece.truncate(console.width, overflow="ellipsis")
            console.print(piece, no_wrap=True, crop=True)


def _text(text: str, style: str):
    from rich.text import Text

    return Text(text, style=style or "")
