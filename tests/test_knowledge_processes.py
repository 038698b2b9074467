"""The knowledge store shared by real processes: a second writer is turned away with the
holder's name while readers carry on, a writer killed with SIGKILL leaves the live store
intact and the next run resumes, and the CLI's machine-readable contract."""

from __future__ import annotations

import json
import os
import random
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sreconsole.knowledge.embedder import Embedder
from sreconsole.knowledge.search import KnowledgeBase
from sreconsole.knowledge.store import Writer

from kbhelp import cli_env, write_docs

ROOT = Path(__file__).resolve().parent.parent
RUNBOOK = ROOT / "src" / "sreconsole" / "sources" / "demo" / "knowledge" / "RUNBOOK.md"

DOCS = {
    "postgres.md": (
        "# Postgres replication lag\n"
        "\n"
        "## Symptoms\n"
        "\n"
        "The standby replays WAL minutes behind the primary and read queries see stale rows.\n"
        "\n"
        "## Mitigation\n"
        "\n"
        "Check the replication slot and the network between the nodes, then restart the walreceiver.\n"
    ),
    "ingress.md": (
        "# Ingress returns 502\n"
        "\n"
        "The nginx ingress answers 502 Bad Gateway when no backend endpoint is ready.\n"
        "List the endpoints of the service and look at the readiness probe.\n"
    ),
    "cron.txt": "Backups run from a CronJob at 02:00.\n\nA missed schedule shows in the job history.\n",
}
QUERIES = ["postgres standby replication lag", "ingress 502 bad gateway", "missed backup cronjob schedule"]


def kb_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "sreconsole", "kb", *args]


def run(args: list[str], env: dict, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)


def build_store(tmp: Path, embedder: Embedder) -> tuple[Path, Path]:
    docs = write_docs(tmp / "docs", DOCS)
    store = tmp / "store" / "kb.duckdb"
    with Writer(store, embedder) as w:
        w.index([docs])
    kb = KnowledgeBase(store, embedder)
    for q in QUERIES:  # CLI processes will find these query vectors in the cache
        assert kb.search(q, k=3).hits
    kb.close()
    return store, docs


HOLDER = """
import sys, time
from pathlib import Path
from sreconsole.knowledge.embedder import Embedder
from sreconsole.knowledge.store import Writer

with Writer(Path(sys.argv[1]), Embedder()):
    print("locked", flush=True)
    time.sleep(600)
"""


def wait_for_line(proc: subprocess.Popen, expected: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            if line.strip() == expected:
                return
            if not line and proc.poll() is not None:
                break
        elif proc.poll() is not None:
            break
    raise AssertionError(f"the lock holder never said {expected!r}: {proc.stderr.read() if proc.poll() is not None else 'still running'}")


def kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


# -- (a) one writer at a time, readers never wait --------------------------------------


def test_a_second_writer_is_turned_away_while_readers_carry_on(tmp_path, embedder):
    store, docs = build_store(tmp_path, embedder)
    env = cli_env(store, docs)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(store)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_line(holder, "locked")
        # All three at once, while the lock is held.
        procs = {
            "index": subprocess.Popen(kb_cmd("index", str(docs)), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
            "stats": subprocess.Popen(kb_cmd("stats", "--json"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
            "search": subprocess.Popen(kb_cmd("search", QUERIES[0], "--json"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        }
        results = {}
        for name, proc in procs.items():
            stdout, stderr = proc.communicate(timeout=300)
            results[name] = (proc.returncode, stdout, stderr)
        assert holder.poll() is None, "the holder must still hold the lock"

        rc, stdout, stderr = results["index"]
        assert rc == 3, (rc, stdout, stderr)
        assert f"pid {holder.pid}" in stderr, stderr
        assert "another sreconsole is writing" in stderr
        assert "Traceback" not in stderr

        rc, stdout, stderr = results["stats"]
        assert rc == 0, stderr
        stats = json.loads(stdout)
        assert stats["documents"] == len(DOCS)
        assert stats["staging_left_by_interrupted_run"] is True  # the holder's working copy

        rc, stdout, stderr = results["search"]
        assert rc == 0, stderr
        hits = json.loads(stdout)["hits"]
        assert hits and hits[0]["path"] == str(docs / "postgres.md")
    finally:
        kill(holder)
    assert holder.returncode == -signal.SIGKILL

    # The lock dies with its holder: the next writer gets in and resumes its working copy.
    again = run(kb_cmd("index", str(docs), "--json"), env)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["resumed"] is True
    assert (summary["unchanged"], summary["added"], summary["embedded"]) == (len(DOCS), 0, 0)
    assert not Path(str(store) + ".staging").exists()


# -- (b) kill -9 in the middle of an index run -----------------------------------------

N_FILES = 100
"""Enough that `kb index` embeds for several seconds (the staging file appears within a
fraction of a second, the run takes ~6 s on the 2-core machine); few enough to stay cheap."""


def many_files(directory: Path) -> Path:
    vocabulary = sorted(set(re.findall(r"[a-z]{4,}", RUNBOOK.read_text(encoding="utf-8").lower())))
    assert len(vocabulary) > 200
    directory.mkdir(parents=True)
    for n in range(N_FILES):
        rng = random.Random(n)
        body = " ".join(rng.sample(vocabulary, 60))
        (directory / f"note{n:03d}.md").write_text(f"# Note {n}\n\nmarker{n:03d} {body}\n", encoding="utf-8")
    return directory


def test_a_writer_killed_mid_run_leaves_the_store_usable_and_the_next_run_resumes(tmp_path, embedder):
    docs = many_files(tmp_path / "many")
    store = tmp_path / "store" / "kb.duckdb"
    staging = Path(str(store) + ".staging")
    env = cli_env(store, docs)
    env["TMPDIR"] = str(tmp_path)  # what the killed process cannot clean up (its model links) stays in here

    first = run(kb_cmd("index", str(docs / "note000.md"), "--json"), env)  # so a live store exists
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["added"] == 1

    proc = subprocess.Popen(kb_cmd("index", str(docs), "--json"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not staging.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert staging.exists() or proc.poll() is not None, "the index run never created its staging file"
        time.sleep(2.0)
        if proc.poll() is not None:
            pytest.skip(f"kb index finished {N_FILES} files before it could be killed (exit {proc.returncode}); this machine is too fast for the test")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        kill(proc)
    assert proc.returncode == -signal.SIGKILL
    assert staging.exists(), "a killed run keeps its staging file for the next run"

    stats = run(kb_cmd("stats", "--json"), env)
    assert stats.returncode == 0, stats.stderr
    before = json.loads(stats.stdout)
    assert before["documents"] == 1, "the live store is the one the first run published"
    assert before["staging_left_by_interrupted_run"] is True

    resumed = run(kb_cmd("index", str(docs), "--json"), env)
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout)
    assert summary["resumed"] is True
    assert summary["skipped"] == []
    assert summary["added"] + summary["unchanged"] == N_FILES
    assert summary["removed"] == 0
    assert not staging.exists()

    after = json.loads(run(kb_cmd("stats", "--json"), env).stdout)
    assert after["documents"] == N_FILES
    assert after["chunks"] == N_FILES
    assert after["staging_left_by_interrupted_run"] is False
    assert after["generation"] == before["generation"] + 1

    kb = KnowledgeBase(store, embedder)
    for mode in ("hybrid", "bm25"):
        hits = kb.search("marker077", k=3, mode=mode).hits
        assert hits and hits[0].path == str(docs / "note077.md"), mode
    assert kb.search("note 140", k=3, mode="vector").hits


# -- (c) the CLI contract ----------------------------------------------------------------


@pytest.fixture(scope="module")
def contract_store(tmp_path_factory, embedder):
    return build_store(tmp_path_factory.mktemp("contract"), embedder)


HIT_KEYS = {"path", "start_line", "end_line", "heading", "score", "text"}


def assert_hit_contract(hit: dict) -> None:
    assert set(hit) == HIT_KEYS, hit
    path = Path(hit["path"])
    assert path.is_absolute()
    assert isinstance(hit["start_line"], int) and isinstance(hit["end_line"], int)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert 1 <= hit["start_line"] <= hit["end_line"] <= len(lines)
    assert "\n".join(lines[hit["start_line"] - 1 : hit["end_line"]]).strip() == hit["text"]
    assert isinstance(hit["heading"], str) and hit["heading"]
    assert isinstance(hit["score"], float)


def test_batch_search_prints_one_json_object_per_query(contract_store, embedder, tmp_path):
    store, docs = contract_store
    batch = tmp_path / "queries.txt"
    batch.write_text("\n".join([QUERIES[0], "", QUERIES[1], QUERIES[2]]) + "\n", encoding="utf-8")
    out = run(kb_cmd("search", "--batch", str(batch), "-k", "3", "--json"), cli_env(store, docs))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 3, "one line per non-empty query"
    objects = [json.loads(line) for line in lines]
    assert [o["query"] for o in objects] == QUERIES
    expected_top = ["postgres.md", "ingress.md", "cron.txt"]
    kb = KnowledgeBase(store, embedder)
    for obj, top in zip(objects, expected_top):
        assert set(obj) == {"query", "hits"}
        assert 1 <= len(obj["hits"]) <= 3
        assert obj["hits"][0]["path"] == str(docs / top)
        for hit in obj["hits"]:
            assert_hit_contract(hit)
        scores = [h["score"] for h in obj["hits"]]
        assert scores == sorted(scores, reverse=True)
        # The CLI answers exactly what the library answers.
        assert obj["hits"] == [h.as_dict() for h in kb.search(obj["query"], k=3).hits]


def test_batch_search_reads_stdin_and_needs_json(contract_store):
    store, docs = contract_store
    env = cli_env(store, docs)
    out = subprocess.run(kb_cmd("search", "--batch", "-", "--json", "-k", "1"), input=QUERIES[1] + "\n", env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    (obj,) = [json.loads(line) for line in out.stdout.splitlines()]
    assert obj["query"] == QUERIES[1] and len(obj["hits"]) == 1
    refused = run(kb_cmd("search", "--batch", "-"), env)
    assert refused.returncode == 2 and "--json" in refused.stderr
    neither = run(kb_cmd("search", "--json"), env)
    assert neither.returncode == 2 and "QUERY or --batch" in neither.stderr


def test_single_search_json(contract_store):
    store, docs = contract_store
    out = run(kb_cmd("search", QUERIES[1], "--json", "-k", "2"), cli_env(store, docs))
    assert out.returncode == 0, out.stderr
    obj = json.loads(out.stdout)
    assert obj["query"] == QUERIES[1]
    assert 1 <= len(obj["hits"]) <= 2
    assert obj["hits"][0]["path"] == str(docs / "ingress.md")
    assert obj["hits"][0]["heading"] == "Ingress returns 502"
    for hit in obj["hits"]:
        assert_hit_contract(hit)


def test_search_filters_through_the_cli(contract_store):
    store, docs = contract_store
    env = cli_env(store, docs)
    out = run(kb_cmd("search", QUERIES[2], "--json", "--kind", "text", "--mode", "bm25"), env)
    assert out.returncode == 0, out.stderr
    hits = json.loads(out.stdout)["hits"]
    assert hits and {h["path"] for h in hits} == {str(docs / "cron.txt")}
    none = json.loads(run(kb_cmd("search", QUERIES[2], "--json", "--since", "7d", "--mode", "bm25"), env).stdout)
    assert none["hits"] == [] and none["note"]
    bad = run(kb_cmd("search", QUERIES[2], "--since", "soon"), env)
    assert bad.returncode == 2 and "--since" in bad.stderr and "Traceback" not in bad.stderr


def test_cli_on_a_missing_store_exits_1_with_a_hint(tmp_path):
    env = cli_env(tmp_path / "none" / "kb.duckdb", tmp_path)
    for args in (("stats",), ("search", "anything", "--json")):
        out = run(kb_cmd(*args), env)
        assert out.returncode == 1, (args, out.stdout, out.stderr)
        assert "kb index" in out.stderr
        assert "Traceback" not in out.stderr
