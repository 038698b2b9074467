"""``kb index --rebuild``: build the store anew, keeping what the old file can still give.

A store can be damaged (a disk error, a copy cut short, a file overwritten by mistake);
DuckDB then refuses it at open or at the first query touching a bad block. Documents can
always be indexed again from their files; two things cannot: the incident history (what
operators did, recorded by the review queue) and the embedding cache (minutes of model
time). So a rebuild first reads the old file, every row of every table:

* readable: its incidents and cached embeddings are carried into the new store, and the
  old file is replaced when the new one is published, as after any index run;
* damaged: it is moved aside as ``<store>.corrupt-<UTC timestamp>`` (never deleted: it may
  matter to whoever looks into the failure), and whatever incidents can still be read from
  it are carried over; the summary says how many.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from sreconsole.knowledge.incidents import IncidentRecord
from sreconsole.knowledge.store_file import StoreError, corrupt_name, read_meta, reading

TABLES = ("meta", "roots", "documents", "chunks", "terms", "postings", "embeddings", "sections", "incidents", "ivf_centroids", "ivf_lists")


@dataclass
class OldStore:
    """What a rebuild found in the previous file."""

    readable: bool
    problem: str = ""
    model_id: str = ""
    incidents: list[IncidentRecord] = field(default_factory=list)
    incidents_lost: bool = False
    """The file had an incidents table that could not be read."""


def inspect(path: Path) -> OldStore:
    """Read every row of every table of ``path`` (a damaged block fails the read that
    touches it), and the incidents, as far as they can be read."""
    try:
        with reading(path) as con:
            present = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
            meta = read_meta(con) if "meta" in present else {}
            for table in TABLES:
                if table in present:
                    con.execute(f"SELECT count(*), bit_xor(hash(t)) FROM {table} t").fetchall()
    except StoreError as exc:
        old = OldStore(False, getattr(exc, "detail", "") or str(exc))
        old.incidents, old.incidents_lost = _incidents(path)
        return old
    incidents, lost = _incidents(path)
    return OldStore(True, "", meta.get("model_id", ""), incidents, lost)


def _incidents(path: Path) -> tuple[list[IncidentRecord], bool]:
    """(incidents read, whether some could not be)."""
    try:
        with reading(path) as con:
            if not con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'incidents'").fetchone()[0]:
                return [], False
            rows = con.execute(
                "SELECT incident_id, alertname, labels, started_at, resolved_at, action, outcome, operator, notes, fingerprint, severity "
                "FROM incidents ORDER BY incident_id"
            ).fetchall()
    except StoreError:
        return [], True
    out = []
    for r in rows:
        try:
            labels = json.loads(r[2] or "{}")
        except ValueError:
            labels = {}
        out.append(IncidentRecord(r[0], r[1] or "", {str(k): str(v) for k, v in labels.items()}, r[3], r[4], r[5] or "", r[6] or "",
                                  r[7] or "", r[8] or "", r[9] or "", r[10] or ""))
    return out, False


def move_aside(path: Path) -> Path:
    """Rename the damaged store (and its WAL, if any) out of the way; returns the new name."""
    target = corrupt_name(path)
    os.replace(path, target)
    wal = Path(str(path) + ".wal")
    if wal.exists():
        os.replace(wal, Path(str(target) + ".wal"))
    return target


def copy_embeddings(con, old: Path) -> int:
    """Carry the old file's embedding cache into the new store (same model only: the
    caller checks); returns how many vectors came over."""
    con.execute(f"ATTACH '{_sql_string(old)}' AS old_store (READ_ONLY)")
    try:
        con.execute("INSERT OR IGNORE INTO embeddings SELECT * FROM old_store.embeddings")
        return con.execute("SELECT count(*) FROM embeddings").fetchone()[0]
    finally:
        con.execute("DETACH old_store")


def _sql_string(path: Path) -> str:
    return str(path).replace("'", "''")
