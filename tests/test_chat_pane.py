"""The Bruno pane driven from the keyboard (Textual pilot) on the demo cluster: ask, watch
an answer stream in (from a local stand-in speaking Ollama's documented NDJSON chat
format, see tests/ollamastub.py), open a citation in the side panel, queue the recommended
action for review, and find the conversation again after a restart."""

from __future__ import annotations

import os
import threading

from rich.console import Console

from conftest import wait_for_polls
from ollamastub import OllamaStub
from sreconsole.config import load_settings
from sreconsole.tui.panes.bruno import BrunoPane

QUESTION = "how do I fix a crash looping payments pod"


def _text(renderable, width: int = 100) -> str:
    console = Console(width=width, record=True, file=open(os.devnull, "w"))
    console.print(renderable)
    return console.export_text()


async def _until(pilot, condition, what: str, tries: int = 600) -> None:
    for _ in range(tries):
        await pilot.pause(0.05)
        if condition():
            return
    raise AssertionError(f"timed out waiting for {what}")


async def _open_bruno(app, pilot) -> BrunoPane:
    await wait_for_polls(app, pilot)
    await pilot.press("4")
    return app.query_one(BrunoPane)


async def _ask(pilot, pane: BrunoPane, question: str):
    before = pane.last_answer
    await pilot.press(*question, "enter")
    await _until(pilot, lambda: pane.last_answer is not None and pane.last_answer is not before, f"an answer to {question!r}")
    return pane.last_answer


async def test_ask_open_a_citation_and_queue_the_recommended_action(make_demo_app, monkeypatch):
    from textual.widgets import OptionList, Static

    from sreconsole.tui.panes.bruno_dialogs import ProposeScreen

    monkeypatch.setenv("SRECONSOLE_KNOWLEDGE_ENABLED", "1")
    app = make_demo_app(load_settings())
    app.evidence_service.knowledge.prepare()
    async with app.run_test(size=(120, 34)) as pilot:
        pane = await _open_bruno(app, pilot)
        assert app.focused is app.query_one("#bruno-input")
        assert "generator: extractive" in _text(app.query_one("#bruno-title", Static).content)
        answer = await _ask(pilot, pane, QUESTION)
        assert answer.citations and any(c.path.endswith("RUNBOOK.md") for c in answer.citations)
        assert answer.recommends[0] == "pod-restart"
        shown = "".join(_text(t.content) for t in pane.query(".bruno-turn"))
        assert "RUNBOOK.md:" in shown and f"— {answer.generator}" in shown and "p queues it for review" in shown
        runbook = next(c for c in answer.citations if c.path.endswith("RUNBOOK.md"))
        # Under the answer, relative to the indexed directory; absolute in the side panel.
        assert f"] RUNBOOK.md:{runbook.start_line}-{runbook.end_line}" in shown and "demo/knowledge/RUNBOOK.md" not in shown

        await pilot.press("up")
        assert app.query_one("#bruno-input").value == QUESTION
        await pilot.press("ctrl+u")  # clear the recalled question

        # o: the side panel lists the citations; the highlighted one shows its lines.
        await pilot.press("escape", "o")
        await pilot.pause(0.1)
        assert pane.has_class("-side")
        options = app.query_one("#bruno-citations", OptionList)
        assert app.focused is options and options.option_count == len(answer.citations)
        first = answer.citations[0]
        lines = open(first.path, encoding="utf-8").read().splitlines()
        passage = _text(app.query_one("#bruno-passage", Static).content, 120)
        from sreconsole.tui.panes.bruno_dialogs import display_ref

        assert display_ref(first, pane.chat.roots) in passage and f"{first.start_line:>5} " in passage and lines[first.start_line - 1][:30] in passage
        if len(answer.citations) > 1:
            await pilot.press("down")
            await pilot.pause(0.05)
            second = answer.citations[1]
            assert f"{second.start_line:>5} " in _text(app.query_one("#bruno-passage", Static).content, 120)
        await pilot.press("escape")
        assert not pane.has_class("-side")

        # p: the dialog shows the firing alert it found and the exact command; enter queues it.
        await pilot.press("p")
        await pilot.pause(0.2)
        assert isinstance(app.screen, ProposeScreen)
        dialog = app.screen
        assert dialog.draft.alert.alertname == "KubePodCrashLooping" and dialog.draft.alert.namespace == "payments"
        pod = dialog.draft.alert.labels["pod"]
        assert f"kubectl delete pod {pod} -n payments" in _text(dialog.query_one("#propose-preview", Static).content, 120)
        await pilot.press("enter")
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        assert not isinstance(app.screen, ProposeScreen)
        [record] = app.review_queue.list()
        assert (record.action, record.method, record.state) == ("pod-restart", "chat", "pending")
        assert record.parameters == {"name": pod, "namespace": "payments"}
        assert {e["ref"] for e in record.evidence} == {c.ref for c in answer.citations}
        assert record.result is None  # queued, not executed

    # A new console shows the conversation again (history in the data dir) ...
    app2 = make_demo_app(load_settings())
    async with app2.run_test(size=(100, 30)) as pilot:
        pane2 = await _open_bruno(app2, pilot)
        assert pane2.asked == [QUESTION] and len(pane2.turns) == 2
        assert "RUNBOOK.md:" in "".join(_text(t.content) for t in pane2.query(".bruno-turn"))
        # ctrl+l clears the screen only; the context stays ...
        await pilot.press("ctrl+l")
        await pilot.pause(0.1)
        assert len(pane2.query(".bruno-turn")) == 1 and len(pane2.turns) == 2
        # ... until a new chat starts over.
        await pilot.press("ctrl+n")
        await pilot.pause(0.1)
        assert len(pane2.query(".bruno-turn")) == 1 and pane2.turns == []
    app3 = make_demo_app(load_settings())
    async with app3.run_test(size=(100, 30)) as pilot:
        await wait_for_polls(app3, pilot)
        assert app3.query_one(BrunoPane).turns == []


async def test_an_answer_streams_in_before_it_is_complete(make_demo_app, monkeypatch):
    """The first chunk is on screen while the model is still writing (the stand-in holds
    the rest until the test has seen it); the final answer replaces it, grounded."""
    monkeypatch.setenv("SRECONSOLE_KNOWLEDGE_ENABLED", "1")
    gate = threading.Event()
    with OllamaStub(["Delete the crash-looping pod once the database answers", " [1]; [7] is not a passage."], gate=gate) as stub:
        monkeypatch.setenv("SRECONSOLE_OLLAMA_URL", stub.url)
        monkeypatch.setenv("SRECONSOLE_OLLAMA_MODEL", "llama3.2:3b")
        app = make_demo_app(load_settings())
        app.evidence_service.knowledge.prepare()
        async with app.run_test(size=(100, 30)) as pilot:
            pane = await _open_bruno(app, pilot)
            assert "generator: ollama:llama3.2:3b" in _text(app.query_one("#bruno-title").content)
            await pilot.press(*QUESTION, "enter")
            await _until(pilot, lambda: "once the database answers" in _text(pane.query(".bruno-turn").last().content), "the first chunk")
            assert pane.last_answer is None  # mid-answer: the rest is still held back
            gate.set()
            await _until(pilot, lambda: pane.last_answer is not None, "the final answer")
            answer = pane.last_answer
            assert answer.generator == "ollama:llama3.2:3b" and "[7]" not in answer.text and len(answer.citations) == 1
            final = _text(pane.query(".bruno-turn").last().content)
            assert "[7]" not in final and "— ollama:llama3.2:3b" in final

            # A newer question stops the one still streaming; its box says so.
            gate.clear()
            await pilot.press(*"etcd has no leader", "enter")
            first_box = pane.query(".bruno-turn").last()
            await _until(pilot, lambda: "once the database answers" in _text(first_box.content), "the first chunk again")
            await pilot.press(*"what is firing?", "enter")
            gate.set()
            await _until(pilot, lambda: "stopped: you asked something else" in _text(first_box.content), "the stopped answer")
            await _until(pilot, lambda: pane.last_answer.query == "what is firing?", "the newer answer")
    assert stub.requests and stub.requests[0][1]["model"] == "llama3.2:3b"


async def test_p_with_nothing_recommended_says_so(make_demo_app):
    app = make_demo_app(load_settings())
    async with app.run_test(size=(100, 30)) as pilot:
        pane = await _open_bruno(app, pilot)
        await _ask(pilot, pane, "hi")
        await pilot.press("escape", "p")
        await pilot.pause(0.1)
        assert any("recommends no catalog action" in str(n.message) for n in app._notifications)
        assert app.review_queue.list() == []


def test_bruno_keys_that_act_are_in_the_command_palette():
    from sreconsole.tui.commands import COMMANDS

    palette = {action for _, _, action in COMMANDS}
    for action in ("new_chat", "clear", "open_citations", "propose"):
        assert any(b.action == action for b in BrunoPane.BINDINGS)
        assert f"bruno('action_{action}')" in palette
