"""Untrusted text is shown inert: no markup, no escape sequences, no invisible tricks."""

from __future__ import annotations

from sreconsole.domain.text import clean
from sreconsole.tui.render import safe


def test_escape_sequences_are_removed_whole():
    assert clean("a\x1b[2Jb") == "ab"
    assert clean("x\x1b]52;c;ZXZpbA==\x07y") == "xy"  # OSC 52 clipboard write
    assert clean("x\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\y") == "xlinky"
    assert clean("\x9b31mred") == "red"


def test_controls_bidi_and_zero_width_are_dropped():
    assert clean("a\u202eb\u200bc\u2066d\ufeff") == "abcd"
    assert clean("a\x00b\x07c\x7fd") == "abcd"
    assert clean("line1\nline2\tx") == "line1 line2 x"
    assert clean("line1\nline2", single_line=False) == "line1\nline2"


def test_long_values_are_elided_and_bytes_decoded():
    out = clean("x" * 10_000, 100)
    assert len(out) == 100 and out.endswith("…")
    assert clean(b"caf\xe9 \xff ok") == "caf\ufffd \ufffd ok"


def test_markup_is_shown_literally():
    text = safe("[bold red]boom[/] [link=http://x]click[/link]")
    assert text.plain == "[bold red]boom[/] [link=http://x]click[/link]"
    assert not text.spans
