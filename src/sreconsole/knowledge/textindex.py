"""Tokenising, BM25 and vector search over chunks held in memory.

Why in memory and not DuckDB's ``match_bm25`` / ``array_cosine_distance``: at 100k chunks
those take tens of milliseconds per query (bench/kb_speed.py measures them side by side),
while the goal is ≤ 20 ms end to end *including* the query embedding. The DuckDB file stays
the store of record: postings and vectors are persisted there at index time and loaded
into scipy/numpy arrays when a process opens the knowledge base, so nobody tokenises the
corpus at start-up.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

_TOKEN = re.compile(r"[A-Za-z][a-z]+|[A-Z]+(?![a-z])|[0-9]+|[a-z]+")
_RAW = re.compile(r"[A-Za-z0-9]+")
MAX_QUERY_TERMS = 64
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """``text`` with lone surrogates as U+FFFD. JSON may carry them (``"\\udce9"`` in an alert
    label is valid JSON), and neither the model's tokenizer, DuckDB nor a UTF-8 terminal
    accepts them; everything else is left exactly as it was."""
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text
K1 = 1.2
B = 0.75
STOPWORDS = frozenset(
    """a an and are as at be been but by can could did do does for from had has have how i if in into is it
    its me my no not of on or our so than that the their them then there these they this to too was we were
    what when where which while who why will with would you your""".split()
)


class Tokenizer:
    """Lower-case words, camelCase split *and* kept whole (``KubePodCrashLooping`` matches both
    "kubepodcrashlooping" and "crash loop"), English stop words dropped, Snowball-stemmed.

    The same function runs at index and query time, so they cannot disagree."""

    def __init__(self) -> None:
        from py_rust_stemmers import SnowballStemmer  # ships with fastembed

        self._stemmer = SnowballStemmer("english")
        self._memo: dict[str, str] = {}
        self._raw_memo: dict[str, tuple[str, ...]] = {}

    def _stem(self, word: str) -> str:
        stem = self._memo.get(word)
        if stem is None:
            stem = self._stemmer.stem_word(word)
            if len(self._memo) < 500_000:
                self._memo[word] = stem
        return stem

    def tokens(self, text: str) -> list[str]:
        out: list[str] = []
        memo = self._raw_memo
        for raw in _RAW.findall(text):
            found = memo.get(raw)
            if found is None:
                found = self._raw_tokens(raw)
                if len(memo) < 500_000:
                    memo[raw] = found
            out.extend(found)
        return out

    def _raw_tokens(self, raw: str) -> tuple[str, ...]:
        """The tokens of one run of letters and digits. Runbooks repeat their words, so
        :meth:`tokens` keeps this per distinct run: indexing tokenised ~40 % faster."""
        out: list[str] = []
        whole = raw.lower()
        parts = _TOKEN.findall(raw) if not raw.islower() and not raw.isupper() else [raw]
        if len(parts) > 1:
            out.append(whole)
            words = (p.lower() for p in parts)
        else:
            words = (whole,)
        for word in words:
            if word not in STOPWORDS and len(word) < 64:
                out.append(self._stem(word))
        return tuple(out)


@dataclass
class Postings:
    """A chunk × term matrix of BM25 weights (CSC: one column per term)."""

    vocab: dict[str, int]
    matrix: object  # scipy.sparse.csc_matrix, shape (chunks, terms)

    @classmethod
    def build(cls, chunk_ids: np.ndarray, term_ids: np.ndarray, tfs: np.ndarray, lengths: np.ndarray, vocab: dict[str, int]) -> Postings:
        """From (row, term, tf) triples and per-row lengths (in tokens)."""
        from scipy.sparse import csc_matrix

        n = len(lengths)
        if n == 0 or len(tfs) == 0:
            return cls(vocab, csc_matrix((max(n, 0), max(len(vocab), 1)), dtype=np.float32))
        df = np.bincount(term_ids, minlength=len(vocab)).astype(np.float32)
        idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
        avg = float(lengths.mean()) or 1.0
        norm = K1 * (1 - B + B * lengths[chunk_ids] / avg)
        tf = tfs.astype(np.float32)
        weights = idf[term_ids] * tf * (K1 + 1) / (tf + norm)
        return cls(vocab, csc_matrix((weights.astype(np.float32), (chunk_ids, term_ids)), shape=(n, max(len(vocab), 1))))

    def scores(self, terms: Iterable[str]) -> np.ndarray | None:
        """BM25 score of every chunk for these query terms (repeats count once), or None
        when no term is in the vocabulary. Adds each term's column into one dense array:
        no sparse-matrix temporaries (the whole call is ~1 ms at 100k chunks)."""
        cols = sorted({self.vocab[t] for t in terms if t in self.vocab})
        if not cols:
            return None
        m = self.matrix
        out = np.zeros(m.shape[0], dtype=np.float32)
        for c in cols:
            a, b = m.indptr[c], m.indptr[c + 1]
            out[m.indices[a:b]] += m.data[a:b]
        return out


def top_k(scores: np.ndarray, k: int, mask: np.ndarray | None = None) -> np.ndarray:
    """Indices of the ``k`` highest scores, best first, among rows where ``mask`` is true."""
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)
    k = min(k, len(scores))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    idx = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
    idx = idx[np.argsort(-scores[idx], kind="stable")]
    return idx[np.isfinite(scores[idx])]


def rrf(rankings: list[np.ndarray], k: int, c: float = 60.0, weights: list[float] | None = None) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: Σ w / (c + rank). Rank-based, so BM25's unbounded scores and
    cosine similarities need no calibration against each other."""
    fused: dict[int, float] = {}
    for n, ranking in enumerate(rankings):
        w = weights[n] if weights else 1.0
        for rank, row in enumerate(ranking.tolist()):
            fused[row] = fused.get(row, 0.0) + w / (c + rank + 1)
    return sorted(fused.items(), key=lambda kv: -kv[1])[:k]
