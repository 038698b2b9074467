"""The footer: help and quit first, so an 80-column terminal always shows ``? help`` and
``q quit`` (Textual's footer lists the focused widget's keys first, and at 80 columns the
pane's keys pushed help and quit off the right edge)."""

from __future__ import annotations

from textual.widgets import Footer

FIRST = ("help", "quit")
"""Actions whose keys the footer shows before the pane's."""


class KeyFooter(Footer):
    def compose(self):
        # No binding here has a group, so Footer.compose yields plain FooterKeys.
        keys = list(super().compose())
        first = [k for a in FIRST for k in keys if getattr(k, "action", None) == a]
        yield from first + [k for k in keys if k not in first]
