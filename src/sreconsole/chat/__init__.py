"""Bruno, the chat assistant: answers grounded in the knowledge base and the live state,
with citations (:mod:`sreconsole.chat.bruno`).

Bruno only reads (the knowledge base, the alert list, the review queue, the action
catalog); it has no path to approve, reject or execute anything. Nothing is imported here
so that the TUI can name a submodule without loading the rest.
"""
