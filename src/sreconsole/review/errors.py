"""What the review store refuses or cannot do, each as one line an operator can act on.

Apart from the store so that the audit reader (:mod:`sreconsole.review.audit`) can raise
the same errors without importing the store.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sreconsole.review.records import age, utc

if TYPE_CHECKING:
    from sreconsole.review.records import ProposalRecord

BUSY_MESSAGE = "the review store is busy (another process holds it); try again"


class ReviewError(Exception):
    """Anything the review store refuses or cannot do; ``str()`` is one line for the operator."""


class AlreadyDecided(ReviewError):
    """Lost the compare-and-set: someone else decided first (or the proposal expired or was
    superseded). ``record`` is the proposal as it is now."""

    def __init__(self, record: ProposalRecord, now: datetime | None = None) -> None:
        self.record = record
        super().__init__(_already_message(record, utc(now)))


class PolicyRefused(ReviewError):
    """A decision the approval rules refuse (four eyes, no self-approval, the policy file):
    the message names the rule; nothing was changed."""

    def __init__(self, message: str, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


class StoreBusy(ReviewError):
    """Another process held the store for longer than ``busy_timeout_s``."""


class ReadOnlyStore(ReviewError):
    """A change asked of a store opened read-only (a read-only console, a read-only copy)."""


class InvalidTransition(ReviewError):
    """The proposal's state does not allow this step (executing a rejected proposal)."""


def _already_message(rec: ProposalRecord, now: datetime) -> str:
    if rec.decided_at is not None and rec.decided_by:
        who = rec.decided_by + (f"@{rec.decided_from}" if rec.decided_from else "")
        if getattr(rec, "decided_claim", ""):
            who += f" (claims {rec.decided_claim})"
        verb = "rejected" if rec.state == "rejected" else "approved"
        text = f"#{rec.id} was already {verb} by {who} {age((now - rec.decided_at).total_seconds())} ago"
        if rec.state not in ("approved", "rejected"):
            text += f" (now {rec.state.replace('_', ' ')})"
        return text
    return f"#{rec.id} was already {rec.state} {age((now - rec.updated_at).total_seconds())} ago"
