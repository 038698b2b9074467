"""How long a big trace takes from Tempo's JSON to the span tree's rows and its table.

Real traces reach 200,000 spans (grafana/tempo#5311); the span tree reads at most
``sources.tempo.MAX_SPANS`` and draws at most ``domain.traces.MAX_TREE_SPANS``. This times
each step on synthetic traces in Tempo's answer format (OTLP JSON, base64 ids), with a fan
of a few children per span, median of ``--runs``:

    .venv/bin/python bench/span_tree.py --runs 5
"""

from __future__ import annotations

import argparse
import base64
import statistics
import time

import orjson
from rich.console import Console
from textual.theme import BUILTIN_THEMES

from sreconsole.domain.traces import span_tree
from sreconsole.sources.tempo import parse_trace
from sreconsole.tui.evidence_view import span_tree_renderable


def synthetic_trace(n: int, fan: int = 4) -> bytes:
    """``n`` spans over 10 services, span i a child of span (i - 1) // fan."""
    t0 = 1_764_957_600_000_000_000
    batches = []
    for service in range(10):
        spans = []
        for i in range(service, n, 10):
            span = {"traceId": base64.b64encode(bytes(16)).decode(), "spanId": base64.b64encode((i + 1).to_bytes(8, "big")).decode(),
                    "name": f"GET /api/v1/items/{i}", "startTimeUnixNano": str(t0 + i * 1000), "endTimeUnixNano": str(t0 + i * 1000 + 5_000_000),
                    "status": {"code": "STATUS_CODE_ERROR" if i % 97 == 0 else "STATUS_CODE_OK"}}
            if i:
                span["parentSpanId"] = base64.b64encode(((i - 1) // fan + 1).to_bytes(8, "big")).decode()
            spans.append(span)
        batches.append({"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": f"svc-{service}"}}]}, "scopeSpans": [{"spans": spans}]})
    return orjson.dumps({"batches": batches})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sizes", default="1000,10000,50000")
    args = parser.parse_args()
    theme = BUILTIN_THEMES["textual-dark"]
    console = Console(width=120, file=open("/dev/null", "w"))
    print(f"{'spans':>7} {'bytes':>11} {'decode+parse ms':>16} {'tree ms':>8} {'render ms':>10} {'rows':>6}")
    for n in (int(x) for x in args.sizes.split(",")):
        body = synthetic_trace(n)
        parse_ms, tree_ms, render_ms = [], [], []
        rows = []
        for _ in range(args.runs):
            t = time.perf_counter()
            spans = parse_trace(orjson.loads(body))
            parse_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            rows = span_tree(spans)
            tree_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            console.print(span_tree_renderable(rows, theme, 116))
            render_ms.append((time.perf_counter() - t) * 1000)
        print(f"{n:>7} {len(body):>11,} {statistics.median(parse_ms):>16.1f} {statistics.median(tree_ms):>8.1f} {statistics.median(render_ms):>10.1f} {len(rows):>6}")


if __name__ == "__main__":
    main()
