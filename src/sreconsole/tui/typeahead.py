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
from textual.app import ScreenStackError
from textual.widgets import Input

RELEASE_AFTER_S = 1.0
"""A safety net only (a key stopped on its way never comes back); generous, as a loaded
machine takes a while to bring keys back."""


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
        self._progress = 0
        """Keys come back: the safety net waits on while this moves."""
        self._armed_at = 0

    def _arm(self) -> None:
        self._armed_at = self._progress
        self._timer = self.app.set_timer(RELEASE_AFTER_S, self._expire)

    def _expire(self) -> None:
        """The safety net: keys still come back (a loaded machine), so wait on; nothing
        came back for RELEASE_AFTER_S, so a key was stopped on its way: go on without it."""
        self._timer = None
        if self._progress != self._armed_at and (self.sent or self.submitting):
            self._arm()
            return
        self.release(force=True)

    def _focused(self):
        try:
            return self.app.focused
        except ScreenStackError:  # shutting down
            return None

    def should_hold(self, event: events.Key) -> bool:
        """A fresh key that must wait for earlier ones (and is now held)."""
        if event.key.startswith("ctrl+") or not self.app.screen_stack:
            return False  # commands (quit, palette, new chat) are never held
        focused = self._focused()
        if self.submitting and not isinstance(focused, Input):
            self.submitting = False  # the submit has moved the focus already
        if self.held or self.submitting or (self.sent and (focused is None or isinstance(focused, Input))):
            self.held.append(event)
            if self._timer is None:
                self._arm()
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
        self._progress += 1
        focused = self._focused()
        if isinstance(target, Input) and event.key == "enter" and focused is target:
            self.submitting = True
            return False
        if isinstance(focused, Input) and focused is not target:
            if self.submitting or any(isinstance(t, Input) for t in self.sent.values()):
                # A key already handed to the field (enter, backspace) is still on its way:
                # this one waits behind it, as it was typed after it.
                self.held.insert(self._returned, events.Key(event.key, event.character))
                self._returned += 1
                if self._timer is None:
                    self._arm()
            else:
                self._into(focused, event)
            return True
        if focused is None and getattr(target, "is_attached", False) and target.screen is not self.app.screen:
            # A dialog opened by an earlier key is still mounting: try again once it has
            # (before the keys held meanwhile, which were typed after this one).
            self.held.insert(self._returned, events.Key(event.key, event.character))
            self._returned += 1
            if self._timer is None:
                self._arm()
            return True
        return False

    def settled(self) -> None:
        """After a returned key's binding ran: once nothing is on its way, the held keys
        go on (after the binding's own deferred work, such as a focus change)."""
        if not self.sent and self.held and not self.submitting:
            self.app.call_later(self.release, False)

    def submitted(self) -> None:
        """A text field's Submitted reached the App: its handlers have run (dialogs let it
        bubble; one that does not is released by the timer)."""
        if self.submitting:
            self.submitting = False
            self.app.call_later(self.release, False)

    def _into(self, field: Input, event: events.Key) -> None:
        """Hand a key to a text field as the App would have; one the field does not consume
        (enter, backspace: its bindings run when it comes back) stays outstanding."""
        again = events.Key(event.key, event.character)
        again._set_forwarded()  # it must bubble back as a forwarded key, not come in again
        if not again.is_printable:
            self.sent[id(again)] = field
        field.post_message(again)

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
        focused = self._focused()
        for event in held:
            if isinstance(focused, Input):
                self._into(focused, event)
            else:
                self.app.post_message(events.Key(event.key, event.character))  # a fresh key: the held one was already dispatched once
