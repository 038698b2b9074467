"""The knowledge store end to end, in process: real DuckDB, the real MiniLM model.

One small indexed store is built per module for the tests that only read it; tests that
change files build their own (a few chunks each, so embedding stays cheap).
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from sreconsole.knowledge.chunking import chunk_markdown, chunk_text
from sreconsole.knowledge.embedder import Embedder
from sreconsole.knowledge.search import KnowledgeBase
from sreconsole.knowledge.store import IncidentRecord, StoreError, Writer

from kbhelp import write_docs

DOCS = {
    "disk.md": (
        "# Disk full on node\n"
        "\n"
        "## Symptoms\n"
        "\n"
        "The root filesystem of a worker node is at 95 percent and kubelet starts evicting pods.\n"
        "\n"
        "## Mitigation\n"
        "\n"
        "Clean up old container images with crictl rmi --prune and rotate the journald logs.\n"
    ),
    "cert.md": (
        "# Certificate expiry\n"
        "\n"
        "TLS certificates issued by cert-manager expire after ninety days.\n"
        "Renew them with cmctl renew before the ingress starts failing handshakes.\n"
    ),
    "KubePodCrashLooping.md": (
        "---\n"
        "title: Kube Pod Crash Looping\n"
        "---\n"
        "\n"
        "# KubePodCrashLooping\n"
        "\n"
        "## Meaning\n"
        "\n"
        "A pod keeps crashing and kubernetes restarts it with a growing backoff.\n"
        "\n"
        "## Impact\n"
        "\n"
        "Service degradation.\n"
        "\n"
        "## Diagnosis\n"
        "\n"
        "```bash\n"
        "# the last container's logs\n"
        "kubectl logs $POD --previous\n"
        "```\n"
        "\n"
        "## Mitigation\n"
        "\n"
        "Fix the configuration that makes the container exit, then delete the pod.\n"
    ),
    "dns.txt": (
        "Notes about DNS resolution failures in CoreDNS.\n"
        "\n"
        "Restart the coredns pods when upstream resolvers time out.\n"
    ),
}


def assert_hit_cites_its_file(hit) -> None:
    """The hit's text is exactly the cited lines of the file at its absolute path."""
    path = Path(hit.path)
    assert path.is_absolute(), hit.path
    lines = path.read_text(encoding="utf-8").splitlines()
    assert 1 <= hit.start_line <= hit.end_line <= len(lines), hit
    assert "\n".join(lines[hit.start_line - 1 : hit.end_line]).strip() == hit.text, hit
    assert hit.heading, hit


def expected_heading(hit) -> str:
    path = Path(hit.path)
    text = path.read_text(encoding="utf-8")
    chunks = chunk_markdown(text, title=path.name) if path.suffix == ".md" else chunk_text(text, title=path.name)
    (match,) = [c for c in chunks if (c.start_line, c.end_line) == (hit.start_line, hit.end_line)]
    return match.heading


@pytest.fixture(scope="module")
def now() -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0)


def incidents(now: datetime) -> list[IncidentRecord]:
    return [
        IncidentRecord(
            "old-1", "KubePodCrashLooping", {"namespace": "payments", "pod": "api-1"}, now - timedelta(days=20),
            now - timedelta(days=20, minutes=-9), "pod-restart", "resolved", "alice", "the database came back",
        ),
        IncidentRecord(
            "new-1", "KubePodCrashLooping", {"namespace": "payments", "pod": "api-2"}, now - timedelta(days=2),
            now - timedelta(days=2, minutes=-9), "pod-restart", "resolved", "bob", "restarted after the database recovered",
        ),
        IncidentRecord(
            "new-2", "KubePersistentVolumeFillingUp", {"namespace": "data", "persistentvolumeclaim": "pg"}, now - timedelta(days=1),
            None, "expand-pvc", "resolved", "bob", "expanded the volume by half",
        ),
    ]


@pytest.fixture(scope="module")
def store(tmp_path_factory, embedder, now):
    """(store path, docs dir, index summary): the module's read-only store."""
    base = tmp_path_factory.mktemp("kbstore")
    docs = write_docs(base / "docs", DOCS)
    (docs / "diagram.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")  # not a text suffix: ignored, not skipped
    path = base / "store" / "knowledge.duckdb"
    with Writer(path, embedder) as w:
        summary = w.index([docs])
        w.add_incidents(incidents(now))
    return path, docs, summary


@pytest.fixture
def kb(store, embedder):
    kb = KnowledgeBase(store[0], embedder)
    yield kb
    kb.close()


# -- indexing -------------------------------------------------------------------------


def test_index_summary_and_stats_count_what_was_indexed(store, kb):
    path, docs, summary = store
    assert (summary.added, summary.updated, summary.unchanged, summary.removed) == (4, 0, 0, 0)
    assert summary.ignored == 1
    assert summary.skipped == []
    assert summary.chunks_written >= 4
    assert summary.embedded + summary.cached == summary.chunks_written
    assert summary.sections == 4  # Meaning, Impact, Diagnosis, Mitigation
    stats = kb.stats()
    assert stats["documents"] == 4
    assert stats["documents_by_kind"] == {"markdown": 2, "runbook": 1, "text": 1}
    assert stats["chunks"] == summary.chunks_written
    assert stats["incidents"] == 3
    assert stats["alerts_with_runbooks"] == 1
    assert stats["cached_embeddings"] >= summary.chunks_written + 3
    assert stats["generation"] == 1
    assert stats["roots"] == [{"path": str(docs), "state": "complete", "finished_at": stats["roots"][0]["finished_at"]}]
    assert stats["roots"][0]["finished_at"]
    assert stats["staging_left_by_interrupted_run"] is False
    assert not Path(str(path) + ".staging").exists()


def test_search_hits_cite_absolute_paths_exact_lines_and_headings(store, kb):
    _, docs, _ = store
    result = kb.search("worker node root filesystem full, kubelet evicting pods", k=5)
    assert result.hits and not result.cached
    top = result.hits[0]
    assert top.path == str(docs / "disk.md")
    assert top.heading == "Disk full on node > Symptoms"
    assert "evicting pods" in top.text
    for hit in result.hits:
        if hit.kind == "incident":
            continue
        assert_hit_cites_its_file(hit)
        assert hit.heading == expected_heading(hit)


def test_runbook_chunks_skip_front_matter_and_carry_the_alert(store, kb):
    _, docs, _ = store
    result = kb.search("kubectl logs previous container", k=3, kind="runbook")
    assert result.hits
    for hit in result.hits:
        assert hit.path == str(docs / "KubePodCrashLooping.md")
        assert hit.alertname == "KubePodCrashLooping"
        assert hit.start_line >= 5, "front matter is never cited"
        assert_hit_cites_its_file(hit)


def test_runbook_sections_are_stored_with_their_line_ranges(store, kb):
    _, docs, _ = store
    passages = kb.runbook_sections("kubepodcrashlooping")
    assert [p.part for p in passages] == ["meaning", "impact", "diagnosis", "mitigation"]
    lines = (docs / "KubePodCrashLooping.md").read_text(encoding="utf-8").splitlines()
    for p in passages:
        assert p.path == str(docs / "KubePodCrashLooping.md")
        assert p.format == "prometheus-operator"
        assert lines[p.start_line - 1].lower() == f"## {p.part}"
        assert "\n".join(lines[p.start_line : p.end_line]).strip() == p.text
    assert kb.runbook_sections("NoSuchAlert") == []


@pytest.mark.parametrize(
    ("mode", "query", "expected"),
    [
        ("bm25", "certificate expiry renew cmctl", "cert.md"),
        ("vector", "TLS cert about to run out", "cert.md"),
        ("hybrid", "certificate expiry renew", "cert.md"),
        ("bm25", "coredns upstream resolvers", "dns.txt"),
        ("vector", "node out of disk space", "disk.md"),
        ("hybrid", "name lookups are failing in coredns", "dns.txt"),
    ],
)
def test_every_mode_finds_the_obviously_relevant_document(store, kb, mode, query, expected):
    _, docs, _ = store
    result = kb.search(query, k=3, mode=mode)
    assert result.hits, result.note
    assert result.hits[0].path == str(docs / expected), [h.path for h in result.hits]
    assert_hit_cites_its_file(result.hits[0])
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("batch_rows", [3, 8192])
def test_the_snapshot_holds_every_chunk_in_chunk_id_order_with_its_own_vector(store, embedder, monkeypatch, batch_rows):
    """The loader streams tables in record batches with no ORDER BY and puts rows in order
    itself: every field of every row must match the table read in order, and each row's
    vector must be its own embedding, whatever the batch size (3 forces many batches)."""
    import duckdb
    import numpy as np

    from sreconsole.knowledge import snapshot, store_file

    monkeypatch.setattr(snapshot, "BATCH_ROWS", batch_rows)
    monkeypatch.setattr(store_file, "BATCH_ROWS", batch_rows)
    snap = snapshot.load_snapshot(store[0], embedder.model_id)
    con = duckdb.connect(str(store[0]), read_only=True)
    try:
        rows = con.execute(
            "SELECT c.chunk_id, c.path, c.kind, coalesce(c.alertname, ''), c.heading, c.start_line, c.end_line, c.text, "
            "epoch(c.ts), e.vec FROM chunks c JOIN embeddings e ON e.key = c.embed_key ORDER BY c.chunk_id"
        ).fetchall()
    finally:
        con.close()
    assert len(rows) == len(snap.ids)
    assert batch_rows > len(rows) or len(rows) > 2 * batch_rows, "batch 3 must mean several batches"
    assert any(r[8] is None for r in rows) and any(r[8] is not None for r in rows), "the fixture should mix dated and undated chunks"
    for i, (cid, path, kind, alertname, heading, start, end, text, ts, vec) in enumerate(rows):
        assert (int(snap.ids[i]), snap.paths[i], snap.kinds[i], snap.alertnames[i], snap.headings[i]) == (cid, path, kind, alertname, heading)
        assert (int(snap.starts[i]), int(snap.ends[i]), snap.texts[i]) == (start, end, text)
        assert np.isnan(snap.ts[i]) if ts is None else snap.ts[i] == pytest.approx(ts)
        assert np.array_equal(snap.vectors[snap.vec_pos[i]], np.asarray(vec, dtype=np.float32))
    assert snap.postings.matrix.shape[0] == len(rows)


def test_bm25_mode_says_when_no_query_word_is_known(kb):
    result = kb.search("zyxwvut qqqq", mode="bm25")
    assert result.hits == ()
    assert "none of the query's words" in result.note


def test_a_bad_mode_is_refused(kb):
    with pytest.raises(ValueError):
        kb.search("disk", mode="fuzzy")


# -- filters --------------------------------------------------------------------------


def test_kind_filter(store, kb):
    _, docs, _ = store
    text_hits = kb.search("pods restart", k=10, kind="text").hits
    assert text_hits and {h.path for h in text_hits} == {str(docs / "dns.txt")}
    runbook_hits = kb.search("pods restart", k=10, kind="runbook").hits
    assert runbook_hits and {h.kind for h in runbook_hits} == {"runbook"}
    incident_hits = kb.search("pods restart", k=10, kind="incident").hits
    assert {h.path for h in incident_hits} == {"incident:old-1", "incident:new-1", "incident:new-2"}
    none = kb.search("pods restart", kind="pdf")
    assert none.hits == () and "filters" in none.note


def test_alertname_filter_is_case_insensitive_and_spans_runbooks_and_incidents(kb):
    hits = kb.search("restart the pod", k=20, alertname="kubepodcrashlooping").hits
    assert hits
    assert {h.alertname for h in hits} == {"KubePodCrashLooping"}
    assert {h.kind for h in hits} == {"runbook", "incident"}
    assert "incident:new-2" not in {h.path for h in hits}


def test_since_filter_keeps_only_recent_dated_passages(kb, now):
    hits = kb.search("pod restart volume", k=20, since=now - timedelta(days=7)).hits
    assert {h.path for h in hits} == {"incident:new-1", "incident:new-2"}
    older = kb.search("pod restart volume", k=20, since=now - timedelta(days=30)).hits
    assert {h.path for h in older} == {"incident:new-1", "incident:new-2", "incident:old-1"}


# -- incidents ------------------------------------------------------------------------


def test_similar_incidents_prefer_the_last_seven_days(kb, now):
    found = kb.similar_incidents("KubePodCrashLooping", {"namespace": "payments", "pod": "api-3"}, k=3, now=now)
    ids = [i.incident_id for i in found]
    assert ids[0] == "new-1"
    assert "old-1" in ids
    assert ids.index("old-1") > ids.index("new-1")
    for inc in found:
        assert inc.reason.strip()
        assert "similarity" in inc.reason
    first = found[0]
    assert first.reason.startswith("same alert on the same namespace")
    assert "ago" in first.reason and "nothing closer" not in first.reason
    old = found[ids.index("old-1")]
    assert "nothing closer in the last 7 days" in old.reason
    assert first.action == "pod-restart" and first.outcome == "resolved" and first.operator == "bob"
    assert first.labels == {"namespace": "payments", "pod": "api-2"}
    only = kb.similar_incidents("KubePodCrashLooping", {"namespace": "payments"}, k=1, now=now)
    assert [i.incident_id for i in only] == ["new-1"]


def test_similar_incidents_fall_back_to_older_history(kb, now):
    later = now + timedelta(days=30)  # every incident is now older than a week
    found = kb.similar_incidents("KubePodCrashLooping", {"namespace": "payments"}, k=2, now=later)
    assert [i.incident_id for i in found] == ["new-1", "old-1"]
    for inc in found:
        assert "nothing closer in the last 7 days" in inc.reason
        assert inc.reason.startswith("same alert")
    # Incidents that start after "now" are not history yet.
    assert kb.similar_incidents("KubePodCrashLooping", {}, k=3, now=now - timedelta(days=60)) == []


def test_an_incident_recorded_again_is_replaced_not_duplicated(tmp_path, embedder, now):
    path = tmp_path / "kb.duckdb"
    first = incidents(now)[:1]
    with Writer(path, embedder) as w:
        w.add_incidents(first)
    updated = IncidentRecord(**{**first[0].__dict__, "outcome": "escalated", "notes": "paged the database team"})
    with Writer(path, embedder) as w:
        assert w.add_incidents([updated]) == 1
    kb = KnowledgeBase(path, embedder)
    assert kb.stats()["incidents"] == 1
    hits = kb.search("paged the database team", k=5).hits
    assert [h.path for h in hits] == ["incident:old-1"]
    (inc,) = kb.similar_incidents("KubePodCrashLooping", {"namespace": "payments"}, k=3, now=now)
    assert inc.outcome == "escalated"



def test_an_incident_whose_labels_hold_lone_surrogates_is_kept(tmp_path, embedder, now):
    """Alertmanager's JSON may carry a label like "caf\\udce9"; DuckDB and the model refuse
    such text, so it is stored with U+FFFD instead of losing the incident."""
    import json

    pod = json.loads('"api-caf\\udce9"')
    path = tmp_path / "kb.duckdb"
    record = IncidentRecord(
        "sur-1", "KubePodCrashLooping", {"namespace": "payments", "pod": pod}, now - timedelta(hours=3),
        None, "pod-restart", "resolved", "carol",
    )
    with Writer(path, embedder) as w:
        assert w.add_incidents([record]) == 1
    kb = KnowledgeBase(path, embedder)
    (inc,) = kb.similar_incidents("KubePodCrashLooping", {"namespace": "payments", "pod": pod}, k=3, now=now)
    assert inc.incident_id == "sur-1"
    assert inc.labels["pod"] == "api-caf\ufffd"
    assert "same alert on the same namespace/pod" in inc.reason

# -- caches ---------------------------------------------------------------------------


def test_a_cold_process_answers_a_known_query_without_loading_the_model(store, embedder):
    path = store[0]
    query = "which command renews a certificate from cert-manager?"
    warm = KnowledgeBase(path, embedder)
    first = warm.search(query, k=3)
    warm.close()
    assert first.hits
    assert Path(str(path) + ".qcache").exists()

    cold = KnowledgeBase(path, Embedder())  # a new process: nothing in memory, model not loaded
    again = cold.search(query, k=3)
    assert not cold.embedder.loaded, "the query vector should have come from the persistent cache"
    assert not again.cached
    assert [(h.path, h.start_line) for h in again.hits] == [(h.path, h.start_line) for h in first.hits]
    cold.close()


def test_a_cold_process_loads_the_model_for_a_new_query(store):
    cold = KnowledgeBase(store[0], Embedder())
    result = cold.search(f"a question nobody asked before {time.time_ns()}", k=1)
    assert result.hits
    assert cold.embedder.loaded
    cold.close()


def test_similar_incidents_reuse_the_query_cache(store, embedder, now):
    warm = KnowledgeBase(store[0], embedder)
    labels = {"namespace": "data", "persistentvolumeclaim": "pg"}
    first = warm.similar_incidents("KubePersistentVolumeFillingUp", labels, k=2, now=now)
    warm.close()
    cold = KnowledgeBase(store[0], Embedder())
    again = cold.similar_incidents("KubePersistentVolumeFillingUp", labels, k=2, now=now)
    assert not cold.embedder.loaded
    assert [i.incident_id for i in again] == [i.incident_id for i in first]
    assert again[0].incident_id == "new-2"
    cold.close()


def test_a_repeated_query_is_answered_from_the_result_cache(store, embedder):
    kb = KnowledgeBase(store[0], embedder)
    first = kb.search("rotate journald logs", k=2)
    second = kb.search("rotate journald logs", k=2)
    assert first.cached is False
    assert second.cached is True
    assert second.hits == first.hits
    other_k = kb.search("rotate journald logs", k=3)
    assert other_k.cached is False
    kb.close()


# -- changes --------------------------------------------------------------------------

TWO_PARTS = (
    "# Two parts\n"
    "\n"
    "## Alpha\n"
    "\n"
    "Alpha covers the ingress controller: nginx reloads its configuration when an ingress object changes,\n"
    "and a broken annotation makes every reload fail until it is fixed.\n"
    "\n"
    "## Beta\n"
    "\n"
    "Beta covers the message queue: rabbitmq blocks publishers when its disk alarm fires,\n"
    "so consumers must drain the queues before anyone restarts the brokers.\n"
)


def build(tmp_path: Path, embedder: Embedder, docs: dict[str, str], chunk_words: int = 40):
    directory = write_docs(tmp_path / "docs", docs)
    path = tmp_path / "store" / "kb.duckdb"
    with Writer(path, embedder, chunk_words) as w:
        summary = w.index([directory])
    return directory, path, summary


def index(path: Path, embedder: Embedder, directory: Path, chunk_words: int = 40):
    with Writer(path, embedder, chunk_words) as w:
        return w.index([directory])


def test_reindexing_unchanged_files_embeds_nothing(tmp_path, embedder):
    directory, path, first = build(tmp_path, embedder, {"two.md": TWO_PARTS, "cert.md": DOCS["cert.md"]})
    assert first.added == 2 and first.chunks_written == 3
    again = index(path, embedder, directory)
    assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, 2)
    assert again.embedded == 0 and again.chunks_written == 0
    assert not again.resumed
    # Touched but not changed: the content hash says so, nothing is re-chunked.
    st = os.stat(directory / "two.md")
    os.utime(directory / "two.md", ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    touched = index(path, embedder, directory)
    assert (touched.updated, touched.unchanged, touched.embedded, touched.chunks_written) == (0, 2, 0, 0)
    kb = KnowledgeBase(path, embedder)
    assert kb.stats()["documents"] == 2
    assert kb.stats()["chunks"] == 3
    assert kb.stats()["generation"] == 3


def test_a_changed_file_is_reread_and_unchanged_chunks_come_from_the_cache(tmp_path, embedder):
    directory, path, _ = build(tmp_path, embedder, {"two.md": TWO_PARTS, "cert.md": DOCS["cert.md"]})
    changed = TWO_PARTS.replace("restarts the brokers", "restarts the rabbitmq brokers")
    (directory / "two.md").write_text(changed, encoding="utf-8")
    summary = index(path, embedder, directory)
    assert (summary.added, summary.updated, summary.unchanged, summary.removed) == (0, 1, 1, 0)
    assert summary.chunks_written == 2
    assert summary.embedded == 1, "only the Beta chunk changed"
    assert summary.cached == 1, "the Alpha chunk's text is unchanged: its vector comes from the cache"
    kb = KnowledgeBase(path, embedder)
    hit = kb.search("restarts the rabbitmq brokers", k=1, mode="bm25").hits[0]
    assert hit.path == str(directory / "two.md")
    assert "rabbitmq brokers" in hit.text
    assert_hit_cites_its_file(hit)
    assert kb.stats()["chunks"] == 3


def test_lines_shift_but_texts_do_not_so_nothing_is_embedded(tmp_path, embedder):
    directory, path, _ = build(tmp_path, embedder, {"two.md": TWO_PARTS})
    kb = KnowledgeBase(path, embedder)
    before = kb.search("rabbitmq disk alarm", k=1, mode="bm25").hits[0]
    (directory / "two.md").write_text("\n\n\n" + TWO_PARTS, encoding="utf-8")
    summary = index(path, embedder, directory)
    assert summary.updated == 1 and summary.embedded == 0 and summary.cached == 2
    after = KnowledgeBase(path, embedder).search("rabbitmq disk alarm", k=1, mode="bm25").hits[0]
    assert (after.start_line, after.end_line) == (before.start_line + 3, before.end_line + 3)
    assert after.text == before.text
    assert_hit_cites_its_file(after)


def test_a_deleted_file_leaves_the_index(tmp_path, embedder):
    directory, path, _ = build(tmp_path, embedder, {"two.md": TWO_PARTS, "cert.md": DOCS["cert.md"], "dns.txt": DOCS["dns.txt"]})
    long_lived = KnowledgeBase(path, embedder)
    assert str(directory / "cert.md") in {h.path for h in long_lived.search("certificate expiry cmctl", k=3).hits}
    (directory / "cert.md").unlink()
    summary = index(path, embedder, directory)
    assert (summary.removed, summary.unchanged, summary.added, summary.updated) == (1, 2, 0, 0)
    fresh = KnowledgeBase(path, embedder)
    for mode in ("bm25", "vector", "hybrid"):
        paths = {h.path for h in fresh.search("certificate expiry cmctl", k=5, mode=mode).hits}
        assert str(directory / "cert.md") not in paths, mode
    assert fresh.search("cmctl", mode="bm25").hits == ()
    assert fresh.stats()["documents"] == 2
    # A process that had the old store open notices the new one (it re-checks at most once a second).
    time.sleep(1.05)
    assert str(directory / "cert.md") not in {h.path for h in long_lived.search("certificate expiry cmctl", k=5).hits}


def test_a_file_that_turns_binary_is_removed_and_reported(tmp_path, embedder):
    directory, path, _ = build(tmp_path, embedder, {"two.md": TWO_PARTS, "cert.md": DOCS["cert.md"]})
    (directory / "cert.md").write_bytes(b"\x00\x01\x02binary now")
    summary = index(path, embedder, directory)
    assert summary.removed == 1
    assert [(Path(s.path).name, s.reason) for s in summary.skipped] == [("cert.md", "binary file (NUL bytes)")]
    kb = KnowledgeBase(path, embedder)
    assert kb.stats()["documents"] == 1
    assert kb.search("cmctl", mode="bm25").hits == ()
    assert kb.search("rabbitmq", mode="bm25").hits


def test_searching_a_store_that_does_not_exist_says_how_to_build_it(tmp_path):
    kb = KnowledgeBase(tmp_path / "nothing.duckdb", Embedder())
    with pytest.raises(StoreError, match="kb index"):
        kb.search("disk")
    assert not kb.embedder.loaded
