"""Bruno, the chat assistant: answers grounded in the knowledge base, with citations.

Bruno only reads (the knowledge base, the alert list, the review queue, the action
catalog); it has no path to approve, reject or execute anything.
"""

from sreconsole.chat.bruno import INTENTS, MAX_QUESTION_CHARS, Answer, Bruno, Citation, route

__all__ = ["INTENTS", "MAX_QUESTION_CHARS", "Answer", "Bruno", "Citation", "route"]
