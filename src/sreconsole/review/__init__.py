"""The review queue: proposals waiting for an operator's verdict, the hash-chained audit trail
of everything done to them, and the executor that carries out approved actions.

``store`` and ``audit`` know SQLite and nothing else (no Textual, no network); one shared
file serves every operator's process on the bastion host.
"""
