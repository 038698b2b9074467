#!/usr/bin/env python3
"""Bruno answering with the real Gemma 3 270M (``chat.mlx_model = "gemma3-270m"``), grounded by
the retrieved passages, on the labelled questions of ``bench/data/retrieval_questions.jsonl``
(the held-out ``test`` split by default), over the prometheus-operator runbooks.

For each question, through Bruno's own path (routing, retrieval, the grounding prompt, the
MLX generator, :func:`sreconsole.chat.grounding.ground`):

- **right citation**: the answer cites a runbook that answers the question;
- **invalid citations**: markers the model wrote that name no retrieved passage (Bruno
  removes them; the share of answers where it had to is reported), and citations left in
  the final answer that are not a retrieved span (must be 0);
- **commands**: answers that contain a shell command (the LoRA checker's patterns:
  ``kubectl``, ``rm``, pipes...) and, of those, answers with a command that is in none of
  the retrieved passages (invented); answers naming an ``action:`` outside the catalog;
- **speed**: time to first token (from ``stream()`` to the first piece of text: routing,
  retrieval and the prompt's prefill), generation tokens/s after it, prompt tokens.

The floor, in the same run: the extractive generator on the same questions.

Run: ``.venv/bin/python bench/gemma_answers.py [--n 20] [--max-tokens 64] [--split test] [--openblas]``
(``--data-dir DIR`` reuses a data dir where ``sreconsole models prepare gemma3-270m`` ran;
``--openblas`` runs the script again with Debian's OpenBLAS preloaded under MLX, whose
``mlx[cpu]`` wheel bundles netlib's reference BLAS).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("SRECONSOLE_CORPUS", ROOT.parent / "shared" / "corpus")) / "runbooks" / "prometheus-operator"
QUESTIONS = ROOT / "bench" / "data" / "retrieval_questions.jsonl"
MODEL = "gemma3-270m"
OPENBLAS = "/usr/lib/x86_64-linux-gnu/libopenblas.so.0"
_CODE_START = re.compile(r"\b(?:kubectl|helm|curl|wget|ssh|sudo|rm|bash|sh|flux|chmod|dd)\b[^\n`]*")


def invented_commands(text: str, hits) -> list[str]:
    """Commands in ``text`` whose first words appear in no retrieved passage."""
    out = []
    passages = " ".join(" ".join(h.text.split()) for h in hits)
    for m in _CODE_START.finditer(text):
        words = " ".join(m.group(0).split()[:3]).rstrip(".,;:")
        if words and words not in passages:
            out.append(m.group(0).strip()[:80])
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20, help="questions (spread evenly over the split)")
    ap.add_argument("--split", default="test", choices=("test", "dev", "all"))
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--data-dir", help="a data dir with the prepared model (default: a temporary one, prepared here)")
    ap.add_argument("--kb", help="a knowledge store of the runbooks to reuse (default: indexed here)")
    ap.add_argument("--show", type=int, default=3, help="answers to print in full")
    ap.add_argument("--openblas", action="store_true", help=f"preload {OPENBLAS} (runs this script again with LD_PRELOAD)")
    args = ap.parse_args()
    if args.openblas and OPENBLAS not in os.environ.get("LD_PRELOAD", ""):
        os.execve(sys.executable, [sys.executable, *sys.argv], {**os.environ, "LD_PRELOAD": OPENBLAS})
    blas = "OpenBLAS" if "openblas" in Path("/proc/self/maps").read_text() else "mlx[cpu]'s reference BLAS"

    tmp = Path(tempfile.mkdtemp(prefix="sreconsole-gemma-bench-"))
    data = Path(args.data_dir) if args.data_dir else tmp / "data"
    os.environ["SRECONSOLE_DATA_DIR"] = str(data)
    sys.path.insert(0, str(ROOT / "src"))
    from bruno_answers import Knowledge, pct  # bench/ is on the path when this runs as a script
    from sreconsole.chat.bruno import Bruno
    from sreconsole.chat.extractive import ExtractiveGenerator
    from sreconsole.chat.generators import make_generator
    from sreconsole.chat.grounding import MARKER
    from sreconsole.config import load_settings
    from sreconsole.knowledge.embedder import Embedder
    from sreconsole.knowledge.search import KnowledgeBase
    from sreconsole.knowledge.store import Writer
    from sreconsole.models.prepare import prepare
    from sreconsole.pipeline.lora import _SHELL, judge_answer
    from sreconsole.triage.catalog import load_catalog

    t = time.perf_counter()
    prepared = prepare(data, MODEL)
    print(f"# Gemma answers — {date.today()} — {platform.node()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; "
          f"BLAS: {blas}; model {'prepared' if prepared.created else 'found'} in {time.perf_counter() - t:.0f}s at {prepared.path}")
    emb = Embedder()
    store = Path(args.kb) if args.kb else tmp / "kb.duckdb"
    if not args.kb:
        with Writer(store, emb) as w:
            w.index([CORPUS])
    catalog = load_catalog()
    settings = load_settings()
    settings = replace(settings, chat=replace(settings.chat, generator="mlx", mlx_model=MODEL, max_tokens=args.max_tokens, context_messages=0))
    generator = make_generator(settings, catalog.ids)
    model, tokenizer = generator._load()
    gemma = Bruno(settings, Knowledge(KnowledgeBase(store, emb)), catalog=catalog, generator=generator)
    floor = Bruno(settings, Knowledge(KnowledgeBase(store, emb)), catalog=catalog, generator=ExtractiveGenerator())

    questions = [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]
    if args.split != "all":
        questions = [q for q in questions if q.get("split") == args.split]
    step = max(1, len(questions) // max(1, args.n))
    questions = questions[::step][: args.n]
    gemma.ask("warm up: pod crash looping")  # loads the model, the router's examples, the tokenizer

    rows = []
    for q in questions:
        hits, _ = gemma.retrieve(q["query"])
        raw: list[str] = []
        original = generator.generate

        def recording(question, hits_, history=(), _orig=original):
            for piece in _orig(question, hits_, history):
                raw.append(piece)
                yield piece

        generator.generate = recording
        t0 = time.perf_counter()
        stamps = []
        answer = None
        for item in gemma.stream(q["query"]):
            if isinstance(item, str):
                stamps.append(time.perf_counter() - t0)
            else:
                answer = item
        total = time.perf_counter() - t0
        generator.generate = original
        prompt_tokens = len(tokenizer.encode(generator.prompt(tokenizer, q["query"], hits, []), add_special_tokens=False)) if hits else 0
        text = "".join(raw)
        markers = [int(m.group(1)) for m in MARKER.finditer(text)]
        spans = {(h.path, h.start_line, h.end_line) for h in hits}
        cited = {os.path.relpath(c.path, CORPUS) for c in answer.citations}
        shell = any(p.search(answer.text) for p in _SHELL)
        unsafe_action = any(not judge_answer(line, catalog).safe for line in answer.text.splitlines() if "action:" in line)
        ex = floor.ask(q["query"])
        ex_cited = {os.path.relpath(c.path, CORPUS) for c in ex.citations}
        rows.append({
            "id": q["id"], "intent": answer.intent, "generator": answer.generator,
            "right": bool(cited & set(q["relevant"])), "cites": bool(answer.citations),
            "model_invalid": any(not 1 <= n <= len(hits) for n in markers),
            "final_invalid": any((c.path, c.start_line, c.end_line) not in spans for c in answer.citations),
            "shell": shell, "invented": invented_commands(answer.text, hits), "unsafe_action": unsafe_action,
            "ttft": stamps[0] if stamps else None, "pieces": len(stamps),
            "tps": (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 2 and stamps[-1] > stamps[0] else None,
            "total": total, "prompt_tokens": prompt_tokens,
            "floor_right": bool(ex_cited & set(q["relevant"])), "floor_shell": any(p.search(ex.text) for p in _SHELL),
            "text": answer.text,
        })
        r = rows[-1]
        print(f"{q['id']}: right {r['right']} cites {r['cites']} ttft {r['ttft'] or 0:.1f}s {r['tps'] or 0:.2f} tok/s "
              f"prompt {prompt_tokens} tok | {answer.text[:100]!r}", flush=True)

    n = len(rows)
    answered = [r for r in rows if r["generator"].startswith("mlx")]

    def share(key, of=rows):
        k = sum(bool(r[key]) for r in of)
        return f"{k}/{len(of)} = {k / len(of):.2f}" if of else "0/0"

    ttft = [r["ttft"] for r in answered if r["ttft"] is not None]
    tps = [r["tps"] for r in answered if r["tps"]]
    prompt = [r["prompt_tokens"] for r in answered]
    print(f"\n{n} questions ({args.split} split), max_tokens {args.max_tokens}; answered by the model: {len(answered)}")
    print(f"right citation: gemma {share('right')}  | floor (extractive, same questions) {share('floor_right')}")
    print(f"answers citing anything: {share('cites')}")
    print(f"model wrote an invalid marker (removed by grounding): {share('model_invalid')}; invalid citation left in the answer: {share('final_invalid')}")
    print(f"answers with a shell command: gemma {share('shell')} | floor {share('floor_shell')}; "
          f"with a command in no retrieved passage: {share('invented')}; naming an action outside the catalog: {share('unsafe_action')}")
    if ttft:
        print(f"time to first token: p50 {statistics.median(ttft):.1f} s  p95 {pct(ttft, 95):.1f} s  (prompt {statistics.median(prompt):.0f} tokens median)")
    if tps:
        print(f"generation: {statistics.median(tps):.2f} tokens/s median ({min(tps):.2f}-{max(tps):.2f})")
    for r in rows[: args.show]:
        print(f"\n--- {r['id']} (right {r['right']}):\n{r['text']}")
    (tmp / "gemma_answers.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    print(f"\nrows: {tmp / 'gemma_answers.jsonl'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
