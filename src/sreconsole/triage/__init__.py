"""Triage: the action catalog, the dataset builder, the TRM model and the decision engine.

Nothing here imports Textual; the TUI and the CLI reach triage through ``services/``.
"""
