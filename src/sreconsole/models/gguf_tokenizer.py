"""A ``tokenizers`` tokenizer rebuilt from a GGUF file's ``tokenizer.ggml.*`` fields.

A GGUF carries no ``tokenizer.json``: llama.cpp stores the SentencePiece vocabulary as
three parallel arrays (``tokens``, ``scores``, ``token_type``) plus the special ids.
transformers has a reader for them, but it imports torch, which this project does not
install, so the tokenizer is rebuilt here with the ``tokenizers`` library alone.

How the file is to be read is how llama.cpp itself tokenizes a ``llama`` (SentencePiece)
vocabulary, which is what the model ran under when it was converted:

* text is split first on the *user-defined* pieces (token type 4: newline runs, space
  runs, tabs, a few HTML tags) and, for prompts, the *control* pieces (type 3:
  ``<bos>``, ``<start_of_turn>``...); each becomes one token, matched in the raw text;
* the rest has its spaces written as ``▁`` (no leading space is added when the file
  says ``add_space_prefix = false``, as Gemma's does) and is merged bottom-up, starting
  from single characters: at each step the adjacent pair whose concatenation is a vocabulary
  piece with the highest *score* is merged;
* a character left outside the vocabulary is spelled as its UTF-8 bytes (``<0x..>``
  pieces, type 6).

``tokenizers``' BPE model merges the adjacent pair with the best *rank*, so the merges list
is derived from the vocabulary: every way of cutting a normal piece into two normal pieces
is a merge, ranked by the score of the piece it makes. That is the same choice at every
step, so encoding matches llama.cpp's (:func:`reference_encode` is a plain
transcription of that algorithm, used by the tests to check it on the runbooks).
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

SPACE = "\u2581"
"""SentencePiece's visible space, ``▁``."""

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
"""llama.cpp's token types (``gguf.TokenType``)."""


@dataclass(frozen=True)
class GgufVocab:
    """The tokenizer fields of one GGUF file, as plain Python values."""

    model: str
    tokens: list[str]
    scores: list[float]
    types: list[int]
    bos_id: int
    eos_id: int
    unk_id: int
    pad_id: int
    add_bos: bool
    add_eos: bool
    add_space_prefix: bool

    def special(self, kind: str) -> str:
        return self.tokens[getattr(self, f"{kind}_id")]


def read_vocab(fields: Mapping[str, Any]) -> GgufVocab:
    """The ``tokenizer.ggml.*`` fields of a GGUF file's metadata
    (:attr:`sreconsole.models.gguf_file.GgufFile.fields`)."""

    def value(key: str, default: Any = None) -> Any:
        return fields.get(f"tokenizer.ggml.{key}", default)

    model = value("model", "")
    if model != "llama":
        raise ValueError(f"tokenizer.ggml.model is {model!r}; only SentencePiece ('llama') vocabularies are read")
    tokens = list(value("tokens", []))
    scores = [float(s) for s in value("scores", [])]
    types = [int(t) for t in value("token_type", [])]
    if not tokens or len(scores) != len(tokens) or len(types) != len(tokens):
        raise ValueError(f"tokenizer arrays disagree: {len(tokens)} tokens, {len(scores)} scores, {len(types)} types")
    return GgufVocab(
        model=model, tokens=tokens, scores=scores, types=types,
        bos_id=int(value("bos_token_id")), eos_id=int(value("eos_token_id")),
        unk_id=int(value("unknown_token_id")), pad_id=int(value("padding_token_id", 0)),
        add_bos=bool(value("add_bos_token", True)), add_eos=bool(value("add_eos_token", False)),
        add_space_prefix=bool(value("add_space_prefix", True)),
    )


def derive_merges(vocab: GgufVocab) -> list[tuple[str, str]]:
    """Every cut of a normal piece into two normal pieces, best-scoring result first.

    Ties in score fall back to the piece's id, then to where the cut is (leftmost first):
    only one cut of a piece can ever be adjacent at once, so that order never decides."""
    normal = {t for t, kind in zip(vocab.tokens, vocab.types) if kind == NORMAL}
    ranked = sorted((-vocab.scores[i], i) for i, kind in enumerate(vocab.types) if kind == NORMAL and len(vocab.tokens[i]) > 1)
    merges: list[tuple[str, str]] = []
    for _, i in ranked:
        piece = vocab.tokens[i]
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in normal and right in normal:
                merges.append((left, right))
    return merges


def build_tokenizer(vocab: GgufVocab):
    """The ``tokenizers.Tokenizer`` that encodes as llama.cpp does with this vocabulary."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, processors

    ids: dict[str, int] = {}
    for i, token in enumerate(vocab.tokens):
        ids.setdefault(token, i)  # a repeated piece keeps its first id, as llama.cpp's lookup does
    bpe = models.BPE(vocab=ids, merges=derive_merges(vocab), unk_token=vocab.special("unk"),
                     byte_fallback=True, fuse_unk=True, dropout=None)
    tok = Tokenizer(bpe)
    steps = [normalizers.Prepend(SPACE)] if vocab.add_space_prefix else []
    tok.normalizer = normalizers.Sequence([*steps, normalizers.Replace(" ", SPACE)])
    tok.pre_tokenizer = None  # SentencePiece merges across the whole text, spaces included
    parts = [decoders.Replace(SPACE, " "), decoders.ByteFallback(), decoders.Fuse()]
    if vocab.add_space_prefix:
        parts.append(decoders.Strip(" ", 1, 0))
    tok.decoder = decoders.Sequence(parts)
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, k in zip(vocab.tokens, vocab.types) if k == CONTROL])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t, k in zip(vocab.tokens, vocab.types) if k == USER_DEFINED])
    bos, eos = vocab.special("bos"), vocab.special("eos")
    single = ([f"{bos}:0"] if vocab.add_bos else []) + ["$A:0"] + ([f"{eos}:0"] if vocab.add_eos else [])
    pair = single + ["$B:1"] + ([f"{eos}:1"] if vocab.add_eos else [])
    specials = [(bos, vocab.bos_id)] * vocab.add_bos + [(eos, vocab.eos_id)] * vocab.add_eos
    tok.post_processor = processors.TemplateProcessing(single=" ".join(single), pair=" ".join(pair), special_tokens=specials)
    return tok


# -- the reference: llama.cpp's SentencePiece tokenizer, transcribed plainly -----------------


def reference_encode(vocab: GgufVocab, text: str, *, parse_special: bool = False, lookup: dict[str, int] | None = None) -> list[int]:
    """Token ids for ``text`` without a BOS, by llama.cpp's algorithm: split out the
    user-defined (and, with ``parse_special``, control) pieces, escape spaces, then merge
    the best-scoring adjacent pair until none is in the vocabulary; bytes for the rest.

    Quadratic in the worst case and pure Python: for tests, not for prompts."""
    ids = lookup if lookup is not None else {t: i for i, t in reversed(list(enumerate(vocab.tokens)))}
    whole = [t for t, k in zip(vocab.tokens, vocab.types) if k == USER_DEFINED or (parse_special and k == CONTROL)]
    out: list[int] = []
    for piece, is_whole in _split_on(text, whole):
        if is_whole:
            out.append(ids[piece])
        else:
            out.extend(_merge(vocab, ids, piece.replace(" ", SPACE)))
    return out


def _split_on(text: str, pieces: Sequence[str]) -> list[tuple[str, bool]]:
    """``text`` cut at every occurrence of one of ``pieces``, the longest piece winning at a
    position (the leftmost occurrence first)."""
    by_first: dict[str, list[str]] = {}
    for p in sorted(set(pieces), key=len, reverse=True):
        if p:
            by_first.setdefault(p[0], []).append(p)
    out: list[tuple[str, bool]] = []
    start = i = 0
    while i < len(text):
        match = next((p for p in by_first.get(text[i], ()) if text.startswith(p, i)), None)
        if match is None:
            i += 1
            continue
        if start < i:
            out.append((text[start:i], False))
        out.append((match, True))
        i += len(match)
        start = i
    if start < len(text):
        out.append((text[start:], False))
    return out


def _merge(vocab: GgufVocab, ids: dict[str, int], text: str) -> list[int]:
    symbols: list[str | None] = list(text)
    nxt = list(range(1, len(symbols) + 1))
    prv = list(range(-1, len(symbols) - 1))
    heap: list[tuple[float, int, int, str]] = []

    def push(left: int) -> None:
        right = nxt[left]
        if right >= len(symbols):
            return
        joined = symbols[left] + symbols[right]
        tid = ids.get(joined)
        if tid is not None and vocab.types[tid] == NORMAL:
            heapq.heappush(heap, (-vocab.scores[tid], left, right, joined))

    for i in range(len(symbols) - 1):
        push(i)
    while heap:
        _, left, right, joined = heapq.heappop(heap)
        if symbols[left] is None or symbols[right] is None or nxt[left] != right or symbols[left] + symbols[right] != joined:
            continue  # stale: one side was merged since
        symbols[left], symbols[right] = joined, None
        nxt[left] = nxt[right]
        if nxt[left] < len(symbols):
            prv[nxt[left]] = left
        if prv[left] >= 0:
            push(prv[left])
        push(left)
    out: list[int] = []
    for s in symbols:
        if s is None:
            continue
        tid = ids.get(s)
        if tid is not None and vocab.types[tid] == NORMAL:
            out.append(tid)
        else:
            out.extend(ids[f"<0x{b:02X}>"] for b in s.encode("utf-8"))
    return out
