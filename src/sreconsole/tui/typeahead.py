"""Keys typed ahead of a binding that opens a text field land in that field.

Textual forwards each key to the widget focused *when the App receives it* and runs
bindings only when the key bubbles back up to the App. Over SSH (or on a loaded machine)
keys arrive in bursts: for ``/checkout`` the ``/`` and the next letters are all forwarded to
the alert table before the ``/`` binding has moved focus to the filter, and those letters
bubble back unhandled and vanish (the filter read ``ckout``). Measured by logging
``App.on_event`` and ``Input._on_key``.

This keeps the order an operator typed in:

* a key forwarded to a widget that is not a text field is *outstanding* until it bubbles
  back to the App;
* when it comes back and the focus has since moved to a text field (the binding of an
  earlier key opened it), it goes into that field instead of being looked up as a binding;
* a key that arrives while earlier ones are outstanding and a text field (or nothing, as
  while a dialog mounts) has focus waits for them, then goes its normal way.

A key stopped on its way (never coming back) would hold later ones forever, so what is held
goes on after ``RELEASE_AFTER_S`` at the latest.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input

RELEASE_AFTER_S = 0.3


class TypeAhead:
    """The App's bookkeeping of keys on their way; the App calls it from ``on_event``."""

    def __init__(self, app) -> None:
        self.app = app
        self.sent: dict[int, object] = {}
        """id(key event) → the widget it was forwarded to (not a text field)."""
        self.held: list[events.Key] = []
        self._returned = 0
        """How many of the held keys came back from a widget (they go first)."""
        self.submitting = False
        """An enter came back from a text field: its Submitted handler may move the focus
        (the filter hands it to the table), so later keys wait for it to reach the App."""
        self._timer = None

    def should_hold(self, event: events.Key) -> bool:
        """A fresh key that must wait for earlier ones (and is now held)."""
        if event.key.startswith("ctrl+"):
            return False  # commands (quit, palette, new chat) are never held
        focused = self.app.focused
        if self.held or self.submitting or (self.sent and (focused is None or isinstance(focused, Input))):
            self.held.append(event)
            if self._timer is None:
                self._timer = self.app.set_timer(RELEASE_AFTER_S, self.release)
            return True
        return False

    def forwarded(self, event: events.Key, target) -> None:
        """A key the App forwarded: outstanding until it comes back, unless a text field
        consumes it (a printable key in an Input never comes back)."""
        if not event.is_forwarded or target is None:
            return
        if isinstance(target, Input) and event.is_printable:
            return
        if len(self.sent) > 256:  # keys stopped on their way: forget them
            self.sent.clear()
        self.sent[id(event)] = target

    def returned(self, event: events.Key) -> bool:
        """A forwarded key back at the App. True when it went into the field that was
        opened after it was sent, or waits for a dialog still mounting (then it is not
        looked up as a binding)."""
        target = self.sent.pop(id(event), None)
        if target is None:
            return False
        focused = self.app.focused
        if isinstance(target, Input) and event.key == "enter" and focused is target:
            self.submitting = True
            return False
        if isinstance(focused, Input) and focused is not target:
            again = events.Key(event.key, event.character)
            again._set_forwarded()  # it must bubble back as a forwarded key, not come in again
            focused.post_message(again)
            return True
        if focused is None and getattr(target, "is_attached", False) and target.screen is not self.app.screen:
            # A dialog opened by an earlier key is still mounting: try again once it has
            # (before the keys held meanwhile, which were typed after this one).
            self.held.insert(self._returned, events.Key(event.key, event.character))
            self._returned += 1
            if self._timer is None:
                self._timer = self.app.set_timer(RELEASE_AFTER_S, self.release)
            return True
        return False

    def settled(self) -> None:
        """After a returned key's binding ran: once nothing is on its way, the held keys
        go on (after the binding's own deferred work, such as a focus change)."""
        if not self.sent and self.held and not self.submitting:
            self.app.call_later(self.release, False)

    def submitted(self) -> None:
        """A text field's Submitted reached the App: its handlers have run."""
        if self.submitting:
            self.submitting = False
            self.app.call_later(self.release, False)

    def release(self, force: bool = True) -> None:
        """Hand the held keys on, in order, once nothing is on its way (or, forced, after
        ``RELEASE_AFTER_S``). Into the focused text field directly: posting them back to
        the App would put them behind keys that arrived meanwhile."""
        if (self.sent or self.submitting) and not force:
            return
        self.sent.clear()
        self.submitting = False
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        held, self.held, self._returned = self.held, [], 0
        focused = self.app.focused
        for event in held:
            if isinstance(focused, Input):
                again = events.Key(event.key, event.character)
                again._set_forwarded()
                focused.post_message(again)
            else:
                self.app.post_message(events.Key(event.key, event.character))  # a fresh key: the held one was already dispatched once
