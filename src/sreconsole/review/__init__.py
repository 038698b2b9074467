"""The review queue: proposals waiting for an operator's verdict, the hash-chained audit trail
of everything done to them, and the executor that carries out approved actions.

The store (``store``, the public face) is split by what changes together: ``schema``
(tables and migrations), ``queue`` (enqueue, supersede, expire, listings), ``decisions``
(the compare-and-set verdicts), ``outcomes`` (execution bookkeeping), ``records`` (the
record type and value normalising) and ``chain`` (writing the audit chain). ``audit``
verifies and exports the chain without importing the store; ``errors`` are shared by both.
The executor (``executor``) sends through ``kube_calls`` and undoes through ``undo``.

Everything but the executor knows its database and nothing else (no Textual, no network):
one shared SQLite file serves every operator's process on a bastion host, or a PostgreSQL
database (``pg_backend``, ``pg_schema``; the seam is ``backend``) a team on several hosts.
``policy`` holds the approval rules (who may approve what, four eyes).
"""
