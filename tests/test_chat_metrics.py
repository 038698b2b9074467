"""Bruno's own numbers (the seeds' "Key Metrics to Track") and the operator's ratings:
stored under the data dir in 0600 files, summed up by ``chat stats``, exported as training
data by ``chat export``, and rated with ``+`` / ``-`` and shown with ``S`` in the Bruno
pane (Textual pilot on the demo)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from sreconsole.chat.metrics import BrunoMetrics, pct
from sreconsole.domain.chat import Answer, Citation

NOW = datetime(2026, 11, 23, 18, 0, 30, tzinfo=timezone.utc)
PASSAGE = Citation(1, "/runbooks/node/NodeFilesystemAlmostOutOfSpace.md", 8, 27, "NodeFilesystemAlmostOutOfSpace > Mitigation", "free space")


def answers() -> list[Answer]:
    return [
        Answer("node disk full, what do I do?", "From the runbooks:\n- Free space [1]", "extractive", (PASSAGE,), "knowledge", latency_ms=12.0),
        Answer("capital of France?", "I don't know: nothing in the knowledge base answers that question.", "none", (), "knowledge", latency_ms=9.0),
        Answer("what is firing?", "1 alert firing:\n- X [1]", "live", (Citation(1, "alert:ab", 1, 1, "X", "x"),), "live", topic="firing", latency_ms=3.0),
        Answer("last time X fired?", "Last times X fired:\n- X [1]", "live", (Citation(1, "incident:i1", 1, 1, "X", "x"),), "live", topic="history", latency_ms=30.0),
        Answer("brb", "Sure, I'll be here.", "none", (), "smalltalk", latency_ms=1.0),
    ]


def test_numbers_are_kept_in_0600_files_and_summed_up(tmp_path: Path) -> None:
    m = BrunoMetrics(tmp_path / "chat", clock=lambda: NOW)
    ids = [m.record(a) for a in answers()]
    assert len(set(ids)) == 5
    m.rate(ids[0], answers()[0], up=True, operator="alice")
    m.rate(ids[1], answers()[1], up=True, operator="alice")
    m.rate(ids[1], answers()[1], up=False, operator="alice")  # changed her mind: the last rating counts
    for path in (m.answers_path, m.ratings_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE((tmp_path / "chat").stat().st_mode) == 0o700
    line = json.loads(m.answers_path.read_text().splitlines()[0])
    assert "node disk" not in json.dumps(line)  # the numbers file holds no question text
    s = m.stats()
    assert s.answers == 5 and s.by_intent == {"knowledge": 2, "live": 2, "smalltalk": 1}
    assert s.rag_usage_rate == 3 / 5  # two knowledge questions and the history lookup
    assert s.citation_rate == 3 / 5
    assert s.kb_coverage == 2 / 3  # the "I don't know" is the miss
    assert s.latency_ms == {"p50": 9.0, "p95": 30.0, "p99": 30.0}
    assert (s.up, s.down, s.rated_share) == (1, 1, 2 / 5)


def test_percentiles_by_nearest_rank() -> None:
    xs = [float(x) for x in range(1, 101)]
    assert (pct(xs, 50), pct(xs, 95), pct(xs, 99)) == (50.0, 95.0, 99.0)
    assert pct([], 50) is None and pct([7.0], 99) == 7.0


def test_unwritable_dir_is_reported_not_raised(tmp_path: Path) -> None:
    (tmp_path / "chat").write_text("a file where the directory should be")
    m = BrunoMetrics(tmp_path / "chat")
    m.record(answers()[0])
    assert m.problem and m.stats().answers == 0
    assert BrunoMetrics(None).record(answers()[0]) and BrunoMetrics(None).stats().answers == 0


def test_cli_exports_ratings_as_training_data(tmp_path: Path) -> None:
    env = {**os.environ, "SRECONSOLE_DATA_DIR": str(tmp_path / "data")}
    m = BrunoMetrics(tmp_path / "data" / "chat", clock=lambda: NOW)
    ids = [m.record(a) for a in answers()]
    m.rate(ids[0], answers()[0], up=True, operator="alice")
    m.rate(ids[2], answers()[2], up=False, operator="bob")
    out = tmp_path / "ratings.jsonl"
    proc = subprocess.run([sys.executable, "-m", "sreconsole", "chat", "export", str(out)], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "2 rated answers written" in proc.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["rating"] for r in rows] == ["up", "down"]
    assert rows[0]["messages"] == [{"role": "user", "content": "node disk full, what do I do?"},
                                   {"role": "assistant", "content": "From the runbooks:\n- Free space [1]"}]
    assert rows[0]["citations"] == ["/runbooks/node/NodeFilesystemAlmostOutOfSpace.md:8-27"] and rows[0]["operator"] == "alice"
    up = subprocess.run([sys.executable, "-m", "sreconsole", "chat", "export", "-", "--only", "up"], capture_output=True, text=True, env=env, timeout=120)
    assert [json.loads(line)["answer_id"] for line in up.stdout.splitlines()] == [ids[0]]
    stats = subprocess.run([sys.executable, "-m", "sreconsole", "chat", "stats", "--json"], capture_output=True, text=True, env=env, timeout=120)
    got = json.loads(stats.stdout)
    assert got["answers"] == 5 and got["ratings"] == {"up": 1, "down": 1, "rated_share": 0.4} and got["kb_coverage"] == 0.6667


def test_cli_ask_counts_in_the_numbers(tmp_path: Path) -> None:
    env = {**os.environ, "SRECONSOLE_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.run([sys.executable, "-m", "sreconsole", "ask", "--json", "brb"], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0 and json.loads(proc.stdout)["intent"] == "smalltalk"
    rows = [json.loads(line) for line in (tmp_path / "data" / "chat" / "metrics.jsonl").read_text().splitlines()]
    assert [(r["intent"], r["source"], r["rag"]) for r in rows] == [("smalltalk", "cli", False)]
    assert isinstance(rows[0]["latency_ms"], float)


# -- the Bruno pane: + / - and the stats view ----------------------------------------------------


async def test_plus_minus_rate_the_last_answer_and_s_shows_the_numbers(make_demo_app, isolated_env):
    from textual.widgets import Static

    from conftest import wait_for_polls
    from sreconsole.config import load_settings
    from sreconsole.tui.panes.bruno import BrunoPane
    from sreconsole.tui.panes.bruno_dialogs import StatsScreen

    app = make_demo_app(load_settings())
    ratings = isolated_env / "data" / "chat" / "ratings.jsonl"
    async with app.run_test(size=(120, 34)) as pilot:
        await wait_for_polls(app, pilot)
        await pilot.press("4")
        pane = app.query_one(BrunoPane)
        await pilot.press("escape", "plus")  # nothing to rate yet
        await pilot.pause()
        assert not ratings.exists()
        await pilot.press("i", *"you there?", "enter")
        for _ in range(400):
            await pilot.pause(0.05)
            if pane.last_answer is not None:
                break
        assert pane.last_answer.intent == "smalltalk" and pane.last_answer_id
        await pilot.press("plus")  # typed into the question: the input has the keys
        assert app.query_one("#bruno-input").value == "+"
        await pilot.press("ctrl+u", "escape", "plus")
        await app.workers.wait_for_complete()
        await pilot.pause()
        rows = [json.loads(line) for line in ratings.read_text().splitlines()]
        assert [(r["id"], r["rating"], r["question"]) for r in rows] == [(pane.last_answer_id, "up", "you there?")]
        await pilot.press("minus")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert [json.loads(line)["rating"] for line in ratings.read_text().splitlines()] == ["up", "down"]
        assert stat.S_IMODE(ratings.stat().st_mode) == 0o600
        await pilot.press("S")
        for _ in range(100):
            await pilot.pause(0.05)
            if isinstance(app.screen, StatsScreen):
                break
        assert isinstance(app.screen, StatsScreen)
        table = app.screen.query_one("#bruno-stats-table", Static)
        from rich.console import Console

        console = Console(width=100, record=True, file=open(os.devnull, "w"))
        console.print(table.content)
        text = console.export_text()
        assert "answers" in text and "1 (smalltalk 1)" in text
        assert "0 up, 1 down" in text and "RAG usage rate" in text and "latency p50 / p95 / p99" in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, StatsScreen)
