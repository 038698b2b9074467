"""Whatever people drop into a knowledge directory, and whatever they type as a query:
each bad file is skipped with a reason in the summary and the index stays usable; odd
queries get an answer, never a traceback; hostile text reaches the terminal inert."""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from sreconsole.knowledge.embedder import Embedder
from sreconsole.knowledge.search import KnowledgeBase
from sreconsole.knowledge.store import Writer

from kbhelp import cli_env, write_docs

GOOD = {
    "good.md": "# Kafka consumer lag\n\n## Mitigation\n\nScale the consumer group and check for a stuck partition rebalance.\n",
    "notes.txt": "Redis evicts keys when maxmemory is reached.\n\nRaise maxmemory or pick another eviction policy.\n",
}
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\x0f\x00\x00\x01\x01\x00\x05\x18\xd8N\x00\x00\x00\x00IEND\xaeB`\x82"
)


def write_good(directory: Path) -> Path:
    return write_docs(directory, GOOD)


def index(store: Path, embedder: Embedder, paths: list[Path]):
    with Writer(store, embedder) as w:
        return w.index(paths)


def assert_index_is_usable(store: Path, embedder: Embedder, docs: Path) -> None:
    """Both good files are there, each search mode finds them, and a hit cites exact lines."""
    kb = KnowledgeBase(store, embedder)
    stats = kb.stats()
    assert stats["documents"] == len(GOOD)
    assert stats["staging_left_by_interrupted_run"] is False
    for mode in ("bm25", "vector", "hybrid"):
        hits = kb.search("kafka consumer lag partition rebalance", k=2, mode=mode).hits
        assert hits and hits[0].path == str(docs / "good.md"), mode
    hit = kb.search("redis maxmemory eviction", k=1, mode="bm25").hits[0]
    assert hit.path == str(docs / "notes.txt")
    lines = (docs / "notes.txt").read_text(encoding="utf-8").splitlines()
    assert "\n".join(lines[hit.start_line - 1 : hit.end_line]).strip() == hit.text
    kb.close()


def skipped_reasons(summary) -> dict[str, str]:
    return {s.path: s.reason for s in summary.skipped}


# -- bad files ------------------------------------------------------------------------


def _png(d: Path) -> dict[str, str]:
    (d / "diagram.md").write_bytes(PNG)
    return {"diagram.md": "binary file (NUL bytes)"}


def _nul(d: Path) -> dict[str, str]:
    (d / "dump.md").write_bytes(b"# Looks like text\n\nuntil a NUL\x00 byte\n")
    return {"dump.md": "binary file (NUL bytes)"}


def _latin1(d: Path) -> dict[str, str]:
    (d / "cafe.md").write_bytes("# Café\n\nrésumé naïve façade\n".encode("latin-1"))
    return {"cafe.md": "not UTF-8 text (byte 0xe9 at offset 5)"}


def _empty(d: Path) -> dict[str, str]:
    (d / "empty.md").write_bytes(b"")
    (d / "blank.md").write_bytes(b"  \n\n\t\n")
    return {"empty.md": "empty file", "blank.md": "empty file (only whitespace)"}


def _huge(d: Path) -> dict[str, str]:
    with open(d / "huge.md", "wb") as fh:
        fh.truncate(50 * 1024 * 1024)  # sparse: all NULs, must be refused by size before any read
    return {"huge.md": "too large (50.0 MB; the limit is 8.0 MB)"}


def _symlink_loop(d: Path) -> dict[str, str]:
    os.symlink("b.md", d / "a.md")
    os.symlink("a.md", d / "b.md")
    return {"a.md": "symlink loop", "b.md": "symlink loop"}


def _dir_loop(d: Path) -> dict[str, str]:
    (d / "sub").mkdir()
    os.symlink("..", d / "sub" / "up")
    return {"sub/up": "symlink loop (directory already indexed through another path)"}


BAD = {
    "png-named-md": _png,
    "nul-bytes": _nul,
    "latin-1": _latin1,
    "empty": _empty,
    "50-MB": _huge,
    "symlink-loop": _symlink_loop,
    "dir-symlink-to-parent": _dir_loop,
}


@pytest.mark.parametrize("make_bad", list(BAD.values()), ids=list(BAD))
def test_a_bad_file_is_skipped_with_a_reason_and_the_index_stays_usable(tmp_path, embedder, make_bad):
    docs = write_good(tmp_path / "docs")
    expected = {str(docs / name): reason for name, reason in make_bad(docs).items()}
    store = tmp_path / "kb.duckdb"
    summary = index(store, embedder, [docs])
    assert summary.added == len(GOOD)
    assert skipped_reasons(summary) == expected
    assert_index_is_usable(store, embedder, docs)
    # The next run says the same and changes nothing.
    again = index(store, embedder, [docs])
    assert (again.added, again.updated, again.removed, again.unchanged) == (0, 0, 0, len(GOOD))
    assert skipped_reasons(again) == expected
    assert_index_is_usable(store, embedder, docs)


def test_bad_files_named_explicitly_are_skipped_too(tmp_path, embedder):
    docs = write_good(tmp_path / "docs")
    other = tmp_path / "other"
    other.mkdir()
    reasons = {**_png(other), **_latin1(other), **_huge(other), **_symlink_loop(other)}
    (other / "photo.jpg").write_bytes(PNG)  # any extension is read when named explicitly
    named = [other / n for n in ("diagram.md", "cafe.md", "huge.md", "a.md", "photo.jpg")] + [tmp_path / "missing.md"]
    summary = index(tmp_path / "kb.duckdb", embedder, [docs, *named])
    got = skipped_reasons(summary)
    assert got[str(other / "diagram.md")] == reasons["diagram.md"]
    assert got[str(other / "cafe.md")] == reasons["cafe.md"]
    assert got[str(other / "huge.md")] == reasons["huge.md"]
    assert got[str(other / "a.md")] == "symlink loop"
    assert got[str(other / "photo.jpg")] == "binary file (NUL bytes)"
    assert got[str(tmp_path / "missing.md")] == "does not exist"
    assert summary.added == len(GOOD)
    assert_index_is_usable(tmp_path / "kb.duckdb", embedder, docs)


def test_a_good_file_that_goes_bad_leaves_the_index(tmp_path, embedder):
    docs = write_good(tmp_path / "docs")
    (docs / "later.md").write_text("# Elasticsearch\n\nThe cluster turns red when a primary shard is unassigned.\n", encoding="utf-8")
    store = tmp_path / "kb.duckdb"
    assert index(store, embedder, [docs]).added == 3
    (docs / "later.md").write_bytes("# Elasticsearch\n\nunassigned shard é\n".encode("latin-1"))
    summary = index(store, embedder, [docs])
    assert summary.removed == 1
    assert skipped_reasons(summary)[str(docs / "later.md")].startswith("not UTF-8 text")
    assert KnowledgeBase(store, embedder).search("unassigned primary shard", mode="bm25").hits == ()
    assert_index_is_usable(store, embedder, docs)


# -- an unreadable file ---------------------------------------------------------------

PR_CAPBSET_DROP = 24
CAP_DAC_OVERRIDE = 1
CAP_DAC_READ_SEARCH = 2
NOBODY = 65534


def _drop_file_capabilities() -> None:
    """preexec_fn for root: the exec'd process keeps uid 0 but not the capabilities that
    let root read any file (dropped from the bounding set, so execve cannot grant them)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def _become_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def _cannot_read(preexec, secret: Path, env: dict) -> tuple[bool, str]:
    """Whether a process started this way imports sreconsole but is refused ``secret``."""
    probe = (
        "import sys, sreconsole\n"
        "try:\n    open(sys.argv[1], 'rb').read()\nexcept PermissionError:\n    sys.exit(42)\n"
    )
    try:
        out = subprocess.run([sys.executable, "-c", probe, str(secret)], preexec_fn=preexec, env=env, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    if out.returncode == 42:
        return True, ""
    return False, (out.stderr.strip().splitlines() or [f"exit {out.returncode}, the file was readable"])[-1]


def test_an_unreadable_file_is_skipped_with_permission_denied(embedder):
    # A world-writable base outside pytest's (owner-only) tmp dir, so that "nobody" can
    # write the store there if that is the way that has to be taken.
    base = Path(tempfile.mkdtemp(prefix="sreconsole-kb-perm-"))
    try:
        os.chmod(base, 0o777)
        docs = write_good(base / "docs")
        os.chmod(docs, 0o755)
        for name in GOOD:
            os.chmod(docs / name, 0o644)
        secret = docs / "secret.md"
        secret.write_text("# Secret\n\nroot only\n", encoding="utf-8")
        os.chmod(secret, 0)
        env = {
            **os.environ,
            "HOME": str(base),
            "XDG_CONFIG_HOME": str(base / "config"),
            "XDG_DATA_HOME": str(base / "data-home"),
            "SRECONSOLE_DATA_DIR": str(base / "data"),
            "SRECONSOLE_KNOWLEDGE_STORE": str(base / "store" / "kb.duckdb"),
            "SRECONSOLE_KNOWLEDGE_PATHS": str(docs),
        }
        ways = [("as this user", None)] if os.geteuid() != 0 else [
            ("as root without CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH", _drop_file_capabilities),
            ("as nobody (uid 65534)", _become_nobody),
        ]
        chosen = None
        why_not = []
        for label, preexec in ways:
            ok, reason = _cannot_read(preexec, secret, env)
            if ok:
                chosen = (label, preexec)
                break
            why_not.append(f"{label}: {reason}")
        if chosen is None:
            pytest.skip("no way to run a process that is refused a mode-000 file here (" + "; ".join(why_not) + ")")
        out = subprocess.run(
            [sys.executable, "-m", "sreconsole", "kb", "index", str(docs), "--json"],
            preexec_fn=chosen[1], env=env, capture_output=True, text=True, timeout=300,
        )
        assert out.returncode == 0, out.stderr
        assert "Traceback" not in out.stderr
        summary = json.loads(out.stdout)
        assert summary["added"] == len(GOOD), chosen[0]
        assert summary["skipped"] == [{"path": str(secret), "reason": "permission denied"}]
        assert_index_is_usable(base / "store" / "kb.duckdb", embedder, docs)
    finally:
        for p in base.rglob("*"):
            if not p.is_symlink():
                os.chmod(p, stat.S_IRWXU)
        shutil.rmtree(base, ignore_errors=True)


# -- odd queries ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_store(tmp_path_factory, embedder):
    base = tmp_path_factory.mktemp("goodstore")
    docs = write_good(base / "docs")
    store = base / "kb.duckdb"
    index(store, embedder, [docs])
    return store, docs


LONG_QUERY = ("kafka consumer lag " + " ".join(f"term{n}" for n in range(2000)))[:10_000]


def test_a_ten_thousand_character_query_gets_an_answer(good_store, embedder):
    store, docs = good_store
    assert len(LONG_QUERY) == 10_000
    kb = KnowledgeBase(store, embedder)
    for mode in ("hybrid", "bm25", "vector"):
        result = kb.search(LONG_QUERY, k=3, mode=mode)
        assert result.truncated is True, mode
        assert result.hits, (mode, result.note)
        assert result.hits[0].path == str(docs / "good.md"), mode


@pytest.mark.parametrize("query", ["?!.,;:", "   ", "--- *** ...", "___", "«»—…"])
def test_a_query_without_words_returns_an_empty_result_with_a_note(good_store, query):
    kb = KnowledgeBase(good_store[0], Embedder())
    for mode in ("hybrid", "bm25", "vector"):
        result = kb.search(query, mode=mode)
        assert result.hits == ()
        assert result.note == "the query has no words to search for"
    assert not kb.embedder.loaded, "nothing to embed: the model is not loaded for it"


def cli(args: list[str], env: dict, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sreconsole", "kb", *args], env=env, capture_output=True, timeout=300, **kw)



def test_odd_queries_through_the_cli_batch(good_store, embedder, tmp_path):
    store, docs = good_store
    KnowledgeBase(store, embedder).search(LONG_QUERY, k=3)  # the CLI process finds its vector in the query cache
    batch = tmp_path / "queries.txt"
    batch.write_text(f"?!.,;:\n{LONG_QUERY}\n\n", encoding="utf-8")
    out = cli(["search", "--batch", str(batch), "-k", "3", "--json"], cli_env(store, docs), text=True)
    assert out.returncode == 0, out.stderr
    assert "Traceback" not in out.stderr
    punct, long = [json.loads(line) for line in out.stdout.splitlines()]
    assert punct == {"query": "?!.,;:", "hits": [], "note": "the query has no words to search for"}
    assert long["truncated"] is True
    assert long["hits"] and long["hits"][0]["path"] == str(docs / "good.md")


# -- hostile text ---------------------------------------------------------------------

ESC = "\x1b"
EVIL = (
    "# Evil [bold]x[/bold] \x1b[31mheading\x1b[0m\n"
    "\n"
    "zebra \x1b[31mred\x1b[0m text [bold]x[/bold] and [link=http://evil.example]click[/link]\n"
    "title change \x1b]0;pwned\x07 and a clear-screen \x1b[2J here\n"
)


@pytest.fixture
def hostile_store(tmp_path, embedder):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "evil.md").write_text(EVIL, encoding="utf-8")
    (docs / f"bad{ESC}[2Jname.md").write_text("# Name\n\nquokka lives in a file whose name holds an escape\n", encoding="utf-8")
    (docs / f"bin{ESC}[31m.md").write_bytes(b"\x00\x01binary")
    store = tmp_path / "kb.duckdb"
    summary = index(store, embedder, [docs])
    assert summary.added == 2 and len(summary.skipped) == 1
    kb = KnowledgeBase(store, embedder)
    assert len(kb.search("zebra quokka", k=5).hits) == 2  # warms the query cache: the CLI needs no model
    kb.close()
    return store, docs


def test_hostile_text_is_printed_inert_by_kb_search(hostile_store):
    store, docs = hostile_store
    env = cli_env(store, docs)
    out = cli(["search", "zebra quokka"], env)
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode("utf-8")
    assert ESC.encode() not in out.stdout and ESC.encode() not in out.stderr
    assert b"\x07" not in out.stdout and b"\x9b" not in out.stdout
    assert "[bold]x[/bold]" in text
    assert "[link=http://evil.example]click[/link]" in text
    assert "Evil [bold]x[/bold] heading" in text  # the heading, escape removed, markup literal
    assert "pwned" not in text, "an OSC sequence is removed whole, payload included"
    assert f"{docs / 'evil.md'}:1-4" in text
    # A file name is untrusted text too: shown without its escape sequence.
    assert f"{docs / 'badname.md'}:1-3" in text


def test_hostile_file_names_are_printed_inert_by_kb_index(hostile_store):
    store, docs = hostile_store
    out = cli(["index", str(docs)], cli_env(store, docs))
    assert out.returncode == 0, out.stderr
    assert ESC.encode() not in out.stdout and ESC.encode() not in out.stderr
    text = out.stdout.decode("utf-8")
    assert f"skipped {docs / 'bin.md'}: binary file (NUL bytes)" in text
    assert "0 added, 0 updated, 2 unchanged" in text


def test_kb_index_names_the_files_it_ignored_for_their_type(tmp_path, embedder):
    """Issue 16: "2 files ignored for their extension" named none of them."""
    docs = write_good(tmp_path / "docs")
    (docs / "diagram.png").write_bytes(PNG)
    (docs / "old").mkdir()
    (docs / "old" / "report.pdf").write_bytes(b"%PDF-1.4 not a document type we index")
    store = tmp_path / "kb.duckdb"
    summary = index(store, embedder, [docs])  # embeds once; the CLI run below finds it unchanged
    assert summary.ignored == 2 and sorted(summary.ignored_paths) == sorted([str(docs / "diagram.png"), str(docs / "old" / "report.pdf")])
    out = cli(["index", str(docs)], cli_env(store, docs))
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode("utf-8")
    line = next(x for x in text.splitlines() if "ignored" in x)
    assert line.startswith("2 files ignored (not a document type; indexed are .adoc .markdown .md")
    assert "diagram.png" in line and "old/report.pdf" in line and str(docs) not in line  # relative to the root
    out = cli(["index", str(docs), "--json"], cli_env(store, docs))
    assert sorted(json.loads(out.stdout)["ignored_paths"]) == sorted([str(docs / "diagram.png"), str(docs / "old" / "report.pdf")])


def test_json_output_keeps_the_exact_text_and_no_raw_escape(hostile_store):
    store, docs = hostile_store
    out = cli(["search", "zebra", "--json", "-k", "1"], cli_env(store, docs))
    assert out.returncode == 0, out.stderr
    assert ESC.encode() not in out.stdout, "JSON escapes control characters (\\u001b)"
    (hit,) = json.loads(out.stdout)["hits"]
    assert hit["path"] == str(docs / "evil.md")
    lines = EVIL.splitlines()
    assert hit["text"] == "\n".join(lines[hit["start_line"] - 1 : hit["end_line"]]).strip()
    assert ESC in hit["text"], "machine output is the file's exact text"


# -- names and text that are not UTF-8 ---------------------------------------------------


def test_a_file_name_that_is_not_utf8_is_skipped_not_fatal(tmp_path, embedder):
    docs = write_good(tmp_path / "docs")
    bad = os.fsdecode(bytes(docs) + b"/caf\xe9.md")  # a name written by a latin-1 system
    with open(os.fsencode(bad), "wb") as fh:
        fh.write(b"# Cafe\n\nthe name is latin-1, the text is fine\n")
    store = tmp_path / "kb.duckdb"
    summary = index(store, embedder, [docs])
    assert summary.added == len(GOOD)
    assert skipped_reasons(summary) == {str(docs / "caf\ufffd.md"): "file name is not valid UTF-8"}
    assert_index_is_usable(store, embedder, docs)
    # The CLI can print that summary (a lone surrogate would not encode on stdout).
    out = cli(["index", str(docs)], cli_env(store, docs))
    assert out.returncode == 0, out.stderr
    assert "caf\ufffd.md: file name is not valid UTF-8" in out.stdout.decode("utf-8")


def test_a_cli_query_with_bytes_that_are_not_utf8_is_answered(good_store, embedder):
    store, docs = good_store
    KnowledgeBase(store, embedder).search("kafka consumer lag caf\ufffd", k=1)  # warm the query cache
    out = subprocess.run(
        [sys.executable, "-m", "sreconsole", "kb", "search", b"kafka consumer lag caf\xe9", "--json", "-k", "1"],
        env=cli_env(store, docs), capture_output=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert b"Traceback" not in out.stderr
    result = json.loads(out.stdout)
    assert result["query"] == "kafka consumer lag caf\ufffd"
    assert result["hits"][0]["path"] == str(docs / "good.md")


def test_a_root_directory_whose_name_is_not_utf8_does_not_abort_the_run(tmp_path, embedder):
    docs = write_good(tmp_path / "docs")
    latin = os.fsdecode(bytes(tmp_path) + b"/r\xe9pertoire")
    os.mkdir(os.fsencode(latin))
    with open(os.fsencode(latin) + b"/note.md", "wb") as fh:
        fh.write(b"# Note\n\ntext in a directory with a latin-1 name\n")
    store = tmp_path / "kb.duckdb"
    summary = index(store, embedder, [docs, Path(latin)])
    assert summary.added == len(GOOD)
    assert any(s.reason == "file name is not valid UTF-8" for s in summary.skipped)
    assert_index_is_usable(store, embedder, docs)


def test_text_with_a_lone_surrogate_does_not_break_vector_search(good_store, embedder):
    store, docs = good_store
    kb = KnowledgeBase(store, embedder)
    query = json.loads('"kafka consumer lag caf\\udce9"')  # valid JSON, as an alert annotation may carry it
    assert kb.search(query, k=1, mode="bm25").hits  # the tokenizer copes
    assert kb.search(query, k=1).hits[0].path == str(docs / "good.md")
