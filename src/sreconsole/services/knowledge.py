"""The knowledge base as the rest of sreconsole uses it: built from settings, with the
demo's bundled documents and a plausible incident history, and the evidence the Alerts
pane shows (runbook passage, similar past incidents).

Everything here is synchronous and may take seconds the first time (model load, demo
indexing); the TUI calls it from thread workers.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sreconsole.config import Settings
from sreconsole.knowledge.embed_cache import make_embedder

PREFERRED_PARTS = ("action", "symptoms", "meaning", "investigation", "diagnosis", "resolution", "mitigation", "notes")


def demo_knowledge_dir() -> Path:
    return Path(__file__).resolve().parent.parent / "sources" / "demo" / "knowledge"


def store_path(settings: Settings) -> Path:
    if settings.knowledge.store:
        return Path(settings.knowledge.store).expanduser()
    return settings.data_path / "knowledge.duckdb"


def index_paths(settings: Settings) -> list[str]:
    """What ``kb index`` reads with no PATH: the configured paths, plus the demo's bundled
    documents when running the demo."""
    paths = list(settings.knowledge.paths)
    if settings.is_demo:
        paths.append(str(demo_knowledge_dir()))
    return paths


def trusted_roots(settings: Settings) -> list[Path]:
    """The roots whose documents may name or vote for a remediation: ``knowledge.trusted_paths``
    and the shipped demo runbook's folder (ours, shipped in the wheel)."""
    roots = [demo_knowledge_dir().resolve()]
    for raw in settings.knowledge.trusted_paths:
        try:
            roots.append(Path(raw).expanduser().resolve())
        except (OSError, RuntimeError):
            continue  # a root that cannot be resolved trusts nothing
    return roots


def trust_predicate(settings: Settings):
    """``trusted(path) -> bool`` for the triage engine: the document's real path (links
    resolved, so a link cannot smuggle a file in) lies under a trusted root."""
    roots = trusted_roots(settings)

    def trusted(path: str) -> bool:
        try:
            real = Path(path).resolve()
        except (OSError, RuntimeError, ValueError):
            return False
        return any(real == root or real.is_relative_to(root) for root in roots)

    return trusted


def index_roots(settings: Settings) -> tuple[str, ...]:
    """The indexed directories, resolved, longest first: screens show a document's path
    relative to the one that holds it."""
    found = []
    for p in index_paths(settings):
        try:
            found.append(str(Path(p).expanduser().resolve()))
        except OSError:
            continue
    return tuple(sorted(found, key=len, reverse=True))


def relative_to_roots(path: str, roots: tuple[str, ...]) -> str:
    """``path`` (possibly with a ``:first-last`` suffix) relative to the first root that
    holds it; as it is when none does."""
    for root in roots:
        prefix = root.rstrip("/") + "/"
        if path.startswith(prefix):
            return path[len(prefix):]
    return path


@dataclass(frozen=True)
class AlertKnowledge:
    """What the knowledge base says about one alert."""

    passages: tuple  # RunbookPassage, best first
    incidents: tuple  # SimilarIncident
    error: str = ""


class KnowledgeService:
    """One per process; thread-safe enough for workers (the knowledge base locks itself)."""

    def __init__(self, settings: Settings, clock=lambda: datetime.now(timezone.utc)) -> None:
        self.settings = settings
        self.clock = clock
        self.path = store_path(settings)
        self._kb = None
        self._ready = threading.Lock()
        self._prepared = False

    def knowledge_base(self):
        from sreconsole.knowledge.search import KnowledgeBase

        if self._kb is None:
            self._kb = KnowledgeBase(self.path, make_embedder(self.settings))
        return self._kb

    def prepare(self) -> None:
        """In the demo, make sure the bundled documents and the demo history are indexed
        (a few seconds the first time, a ``stat`` per file afterwards)."""
        with self._ready:
            if self._prepared:
                return
            if self.settings.is_demo:
                ensure_demo_store(self.settings, self.clock())
            self._prepared = True

    def for_alert(self, alertname: str, labels: dict[str, str], summary: str = "") -> AlertKnowledge:
        from sreconsole.knowledge.embedder import EmbedderError
        from sreconsole.knowledge.store import StoreError

        try:
            self.prepare()
            if not self.path.exists():
                return AlertKnowledge((), (), "no knowledge base yet: run `sreconsole kb index PATH`")
            kb = self.knowledge_base()
            passages = sorted(kb.runbook_sections(alertname), key=_passage_rank)
            incidents = kb.similar_incidents(alertname, labels, summary, k=3, now=self.clock())
            return AlertKnowledge(tuple(passages), tuple(incidents))
        except (StoreError, EmbedderError, OSError) as exc:
            return AlertKnowledge((), (), str(exc))


def _passage_rank(p) -> tuple[int, int, str, int]:
    """The team's own runbook (seeds format) before upstream ones; parts in reading order."""
    part = PREFERRED_PARTS.index(p.part) if p.part in PREFERRED_PARTS else len(PREFERRED_PARTS)
    return (0 if p.format == "seed" else 1, part, p.path, p.start_line)


# -- the demo ------------------------------------------------------------------------

OPERATORS = ("alice", "bob", "chen", "dana")
OUTCOMES = {
    "resolved": "Alert resolved within {m} minutes of the action.",
    "no effect": "The action did not clear the alert; {note}",
    "escalated": "Escalated to the owning team; {note}",
}
NOTES = (
    "root cause was upstream, see the linked incident",
    "the same fix as last time worked",
    "happened during a deploy window; watch the next rollout",
    "capacity request filed",
    "flapped twice before settling",
)


def demo_incidents(settings: Settings, now: datetime) -> list:
    """A deterministic month of history for the demo scenario: 2–4 past occurrences per
    alert, some in the last week, each with the runbook's action, an outcome and a note."""
    import random

    from sreconsole.knowledge.chunking import parse_seed_runbook
    from sreconsole.knowledge.store import IncidentRecord
    from sreconsole.sources.demo.simulator import DemoCluster, load_scenario

    scenario = load_scenario(settings.demo.scenario or None)
    cluster = DemoCluster(scenario, settings.demo.seed, now)
    runbook = (demo_knowledge_dir() / "RUNBOOK.md").read_text(encoding="utf-8")
    actions = {s.alertname: s.parts.get("action", "") for s in parse_seed_runbook(runbook)}
    out = []
    for inc in scenario.incidents:
        rng = random.Random(f"{settings.demo.seed}:history:{inc.index}")
        for n in range(rng.randint(2, 4)):
            cycle = -1000 - inc.index * 10 - n
            labels = cluster._labels(inc, cluster._values(inc, cycle))
            days = rng.choice((0.4, 1.5, 2.5, 4, 6, 9, 13, 18, 25, 29))
            started = now - timedelta(days=days, minutes=rng.randint(0, 600))
            minutes = rng.randint(4, 55)
            outcome = rng.choices(("resolved", "no effect", "escalated"), weights=(6, 2, 1))[0]
            action = actions.get(inc.alertname, "") if outcome != "escalated" or rng.random() < 0.5 else "escalate"
            note = rng.choice(NOTES)
            out.append(
                IncidentRecord(
                    incident_id=f"demo-{settings.demo.seed}-{inc.index:02d}-{n}",
                    alertname=inc.alertname,
                    labels=labels,
                    started_at=started,
                    resolved_at=started + timedelta(minutes=minutes),
                    action=action,
                    outcome=outcome,
                    operator=rng.choice(OPERATORS),
                    notes=OUTCOMES[outcome].format(m=minutes, note=note),
                    severity=inc.severity,
                )
            )
    return out


def ensure_demo_store(settings: Settings, now: datetime, progress=None):
    """Index the bundled documents and seed the history when missing or changed. Returns the
    index summary, or None when another process is writing (it will have done the work)."""
    from sreconsole.knowledge.store import StoreBusy, Writer
    from sreconsole.knowledge.search import KnowledgeBase

    path = store_path(settings)
    if path.exists():
        kb = KnowledgeBase(path, make_embedder(settings))
        try:
            stats = kb.stats()
        finally:
            kb.close()
        if stats["incidents"] and any(r["path"] == str(demo_knowledge_dir()) and r["state"] == "complete" for r in stats["roots"]):
            if not _docs_changed(path, demo_knowledge_dir()):
                return None
    try:
        with Writer(path, make_embedder(settings), settings.knowledge.chunk_words,
                    follow_external_links=settings.knowledge.follow_external_links) as w:
            summary = w.index(index_paths(settings), progress=progress)
            have = w.con.execute("SELECT count(*) FROM incidents WHERE incident_id LIKE 'demo-%'").fetchone()[0]
            if not have:
                w.add_incidents(demo_incidents(settings, now))
            return summary
    except StoreBusy:
        return None


def _docs_changed(store: Path, root: Path) -> bool:
    """Cheap check that no bundled file changed since it was indexed (size and mtime)."""
    from sreconsole.knowledge.files import discover
    from sreconsole.knowledge.store_file import reading

    with reading(store) as con:
        known = {p: (s, m) for p, s, m in con.execute("SELECT path, size, mtime_ns FROM documents WHERE root = ?", [str(root)]).fetchall()}
    found, _, _ = discover([root])
    return {str(c.path): (c.size, c.mtime_ns) for c in found} != known
