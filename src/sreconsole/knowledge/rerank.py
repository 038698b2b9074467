"""What Bruno's retrieval adds to the store's hybrid search: query expansion from the
runbooks' own words, fused with the store's BM25 and vector rankings.

Operators describe symptoms in their words ("the pods that route our pages keep
restarting"), runbooks in theirs ("Alertmanager instances … crashlooping"). **expand**
(pseudo-relevance feedback) reads the best three passages of a first BM25 + vector pass,
takes the :data:`EXPANSION_TERMS` words that weigh most in them (term frequency × inverse
document frequency over the store) and are not in the question, and adds a BM25 ranking
of question + those words to the fusion: the runbook's vocabulary enters the query without
a hand-made synonym list. **files** ranks passages by the best score of their file too
(a runbook whose other section matches well is a better answer). **glossary** adds, first,
the names runbooks use for what the question describes in plain words ("the cluster
store" → etcd, "a node agent" → kubelet; ``glossary.toml``): expansion can only add words
the first passages already have, and for a paraphrase those passages are the wrong ones.

Only the store's public search is used (``KnowledgeBase.search`` in ``bm25`` and
``vector`` modes, each cached), plus its snapshot's postings for document frequencies,
so this module stays apart from how the store searches. Measured options, and why these
and not a cross-encoder: bench/README.md, "Retrieval on paraphrased questions".
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter, OrderedDict
from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache

from sreconsole.knowledge.textindex import STOPWORDS

OPTIONS = ("glossary", "expand", "files")
DEFAULT_OPTIONS = ("glossary", "files")
"""What Bruno uses: the best R@5 + MRR summed over the dev halves of both question sets
(bench/README.md)."""
DEPTH = 50
"""How deep each ranking goes before fusion (the store's own ``CANDIDATES``)."""
FEEDBACK = 3
"""Passages read for expansion words."""
EXPANSION_TERMS = 8
RRF_C = 60.0
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]{2,}")


def _rrf(rankings: Sequence[Sequence], k: int) -> list[tuple[object, float]]:
    """Reciprocal rank fusion of hit lists, by chunk."""
    fused: dict[int, float] = {}
    first: dict[int, object] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking):
            fused[hit.chunk_id] = fused.get(hit.chunk_id, 0.0) + 1.0 / (RRF_C + rank + 1)
            first.setdefault(hit.chunk_id, hit)
    best = sorted(fused.items(), key=lambda kv: -kv[1])[:k]
    return [(first[cid], score) for cid, score in best]


_PASSAGE_TERMS: OrderedDict[tuple, list[tuple[str, str, float]]] = OrderedDict()
_PASSAGE_TERMS_MAX = 4096
_LOCK = threading.Lock()


def _passage_terms(kb, snap, hit) -> list[tuple[str, str, float]]:
    """(stem, word as written, idf) for every indexed word of a passage, kept per store
    generation and chunk: a passage is read for expansion words once, not per question."""
    key = (str(kb.path), snap.meta.get("generation"), hit.chunk_id)
    with _LOCK:
        found = _PASSAGE_TERMS.get(key)
        if found is not None:
            _PASSAGE_TERMS.move_to_end(key)
            return found
    tok = kb.tokenizer
    postings = snap.postings
    indptr = postings.matrix.indptr
    total = max(1, len(snap.ids))
    out = []
    for word in _WORD.findall(hit.text):
        low = word.lower()
        if low in STOPWORDS:
            continue
        for stem in tok.tokens(low):
            col = postings.vocab.get(stem)
            if col is not None:
                df = int(indptr[col + 1] - indptr[col])
                out.append((stem, low, math.log1p((total - df + 0.5) / (df + 0.5))))
    with _LOCK:
        _PASSAGE_TERMS[key] = out
        if len(_PASSAGE_TERMS) > _PASSAGE_TERMS_MAX:
            _PASSAGE_TERMS.popitem(last=False)
    return out


def expansion_words(kb, question: str, hits: Sequence, n: int = EXPANSION_TERMS) -> list[str]:
    """The words weighing most (tf × idf) in ``hits`` that the question does not have, as
    written in the passages (the store tokenises them as it tokenised the passages)."""
    asked = set(kb.tokenizer.tokens(question))
    snap = kb.snapshot()
    weight: Counter[str] = Counter()
    surface: dict[str, str] = {}
    for hit in hits:
        for stem, low, idf in _passage_terms(kb, snap, hit):
            if stem not in asked:
                weight[stem] += idf
                surface.setdefault(stem, low)
    return [surface[s] for s, _ in weight.most_common(n)]


@lru_cache(maxsize=1)
def _glossary() -> tuple[tuple[re.Pattern[str], str], ...]:
    """(phrase as a whole-word, case-blind pattern, the name it stands for), from the
    shipped ``glossary.toml``."""
    import tomllib
    from importlib import resources

    terms = tomllib.loads(resources.files(__package__).joinpath("glossary.toml").read_text(encoding="utf-8"))["terms"]
    return tuple((re.compile(r"\b" + re.escape(phrase) + r"\b", re.IGNORECASE), name) for name, phrases in terms.items() for phrase in phrases)


def glossary_names(question: str) -> list[str]:
    """The names of the glossary whose phrases ``question`` uses and that it does not
    already say, in the glossary's order."""
    asked = question.lower()
    out: list[str] = []
    for pattern, name in _glossary():
        if name not in out and name.lower() not in asked and pattern.search(question):
            out.append(name)
    return out


def search(kb, query: str, k: int = 5, *, options: Sequence[str] = DEFAULT_OPTIONS, exclude_kind: str | None = None, kind: str | None = None):
    """Top ``k`` passages for ``query``: the store's BM25 and vector rankings fused (RRF),
    with the rankings ``options`` add. Returns the store's ``SearchResult`` shape."""
    return search_with_similarity(kb, query, k, options=options, exclude_kind=exclude_kind, kind=kind)[0]


def search_with_similarity(kb, query: str, k: int = 5, *, options: Sequence[str] = DEFAULT_OPTIONS,
                           exclude_kind: str | None = None, kind: str | None = None):
    """:func:`search`, and the best cosine similarity of any passage to the query (what
    Bruno's "I don't know" gate reads), from the same vector ranking."""
    unknown = set(options) - set(OPTIONS)
    if unknown:
        raise ValueError(f"unknown retrieval option(s): {', '.join(sorted(unknown))}")
    asked = query
    if "glossary" in options:
        names = glossary_names(query)
        if names:
            query = f"{query} {' '.join(names)}"
    bm25 = kb.search(query, DEPTH, mode="bm25", kind=kind, exclude_kind=exclude_kind)
    vector = kb.search(query, DEPTH, mode="vector", kind=kind, exclude_kind=exclude_kind)
    # The "I don't know" gate reads how close the question itself came to a passage, not the
    # question with names added ("is the coffee machine broken" must not gain a node's runbook).
    plain = vector if query == asked else kb.search(asked, DEPTH, mode="vector", kind=kind, exclude_kind=exclude_kind)
    rankings = [list(bm25.hits), list(vector.hits)]
    if "expand" in options and (bm25.hits or vector.hits):
        first = [hit for hit, _ in _rrf(rankings, FEEDBACK)]
        extra = expansion_words(kb, query, first)
        if extra:
            rankings.append(list(kb.search(f"{query} {' '.join(extra)}", DEPTH, mode="bm25", kind=kind, exclude_kind=exclude_kind).hits))
    if "files" in options:
        for ranking in list(rankings[:2]):
            order: dict[str, int] = {}
            for hit in ranking:
                order.setdefault(hit.path, len(order))
            rankings.append(sorted(ranking, key=lambda h: order[h.path]))
    fused = _rrf(rankings, k)
    hits = tuple(replace(hit, score=score) for hit, score in fused)
    best = plain.hits[0].score if plain.hits else 0.0
    return replace(vector if vector.hits else bm25, hits=hits, cached=False), best
