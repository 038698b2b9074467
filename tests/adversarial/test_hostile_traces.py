"""Hostile traces: whoever can send spans to the tracing backend names them, so span names,
service names, root names and trace ids from Tempo are outside text like alert labels.

Markup (``[bold]``, ``[@click=…]``), terminal escapes (``\\x1b]52;…`` writes the clipboard),
bidi overrides and 100 000-character names must reach the screen inert and cut; a trace id
that is not hex must never reach a request path. No Tempo binary is packaged here, so the
answers are served by ``tests/tempostub.py`` (a local HTTP server) in Tempo's documented
search and trace formats, with the hostile text inside.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone

import pytest
from rich.console import Console
from textual.theme import BUILTIN_THEMES

from sreconsole.domain.traces import span_tree
from sreconsole.sources.tempo import parse_search, parse_trace
from sreconsole.tui.evidence_view import span_tree_renderable, trace_line

from adversarial.hostile import ATTACKS, screen_faults, screen_text, settle, until
from tempostub import TempoStub

THEME = BUILTIN_THEMES["textual-dark"]
TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
T0 = 1764957600_000_000_000


def _b64(hex_id: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_id)).decode()


def _search(name: str, trace_id: str = TRACE_ID) -> dict:
    return {"traces": [{"traceID": trace_id, "rootServiceName": f"svc{name}", "rootTraceName": name, "startTimeUnixNano": str(T0), "durationMs": 1200}]}


def _trace(name: str, depth: int = 3) -> dict:
    spans = []
    for i in range(depth):
        span = {"traceId": _b64(TRACE_ID), "spanId": _b64(f"{i + 1:016x}"), "name": f"{name}{i}", "startTimeUnixNano": str(T0 + i),
                "endTimeUnixNano": str(T0 + 10**9), "status": {"code": "STATUS_CODE_ERROR"}}
        if i:
            span["parentSpanId"] = _b64(f"{i:016x}")
        spans.append(span)
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": f"svc{name}"}}]}
    return {"batches": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}


def _printed(renderable, width: int = 120) -> tuple[str, str]:
    """(what the terminal would receive, the plain text) for a renderable."""
    console = Console(width=width, record=True, force_terminal=True, color_system="truecolor", file=open("/dev/null", "w"))
    console.print(renderable)
    return console.export_text(styles=True, clear=False), console.export_text()


@pytest.mark.parametrize("kind", sorted(ATTACKS))
def test_hostile_trace_names_are_inert_in_the_trace_line_and_the_span_tree(kind):
    text = ATTACKS[kind]
    (summary,) = parse_search(_search(text))
    raw, plain = _printed(trace_line(summary, THEME))
    rows = span_tree(parse_trace(_trace(text)))
    tree_raw, tree_plain = _printed(span_tree_renderable(rows, THEME, 120))
    for out in (raw, tree_raw):
        for needle in ("\x1b]", "\x1b[2J", "\x00", "\u009b", "\u009d", "\u202e", "\u200b"):
            assert needle not in out, (kind, needle)
    if kind.startswith("markup"):  # shown as typed, not applied
        assert text[:12] in plain and text[:12] in tree_plain
    assert max(len(line) for line in plain.splitlines()) <= 120
    assert len(plain) < 400 and len(tree_plain) < 4 * 121  # a 100 000-character name is cut


@pytest.mark.parametrize("bad_id", ["../../api/admin", "0af7651916cd43dd8448eb211c80319c0", "zz", "0af76519 16cd", "%2e%2e", "", None, 12])
def test_a_trace_id_that_is_not_hex_is_dropped(bad_id):
    assert parse_search(_search("GET /x", bad_id)) == []


def test_a_deep_trace_does_not_recurse_or_indent_past_the_screen():
    rows = span_tree(parse_trace(_trace("hop", depth=3000)))
    assert len(rows) == 500 and rows[-1][0] == 499  # capped, built without recursion
    _, plain = _printed(span_tree_renderable(rows[-5:], THEME, 60), width=60)
    assert all("hop" in line for line in plain.splitlines()[1:])  # names still on screen, not pushed off


async def test_hostile_names_through_the_tui(make_demo_app):
    """The whole way: the detail screen's trace list and the span tree, markup and escapes
    in every name, nothing reaches the terminal but their plain characters."""
    from sreconsole.sources.tempo import TempoSource
    from sreconsole.tui.modals import AlertDetailScreen
    from sreconsole.tui.panes.alerts import AlertsPane
    from sreconsole.tui.span_tree import SpanTreeScreen

    from conftest import wait_for_polls

    text = ATTACKS["markup-click"] + ATTACKS["osc52"] + ATTACKS["bidi"] + ATTACKS["csi"]
    stub = TempoStub(search_body=json.dumps(_search(text)).encode(), traces={TRACE_ID: json.dumps(_trace(text)).encode()})
    with stub:
        app = make_demo_app()
        app.evidence_service.traces = TempoSource(stub.url, retries=0, clock=lambda: datetime(2025, 12, 5, 18, 2, tzinfo=timezone.utc))
        async with app.run_test(size=(100, 30)) as pilot:
            await wait_for_polls(app, pilot)
            pane = app.query_one(AlertsPane)
            pane.select_fingerprint(next(a for a in pane.visible_alerts() if a.alertname == "HighErrorRate").fingerprint)
            await pilot.pause(0.3)
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, AlertDetailScreen) and app.screen.evidence is not None, "the evidence")
            await pilot.press("t")
            await pilot.pause()
            assert screen_faults(app) == []
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, SpanTreeScreen) and app.screen.rows, "the span tree")
            await settle(app, pilot)
            assert app.is_running and screen_faults(app) == []
            shown = screen_text(app)
            assert "[link=" in shown and "@click=app.quit" in shown  # typed characters, not a link or an action
