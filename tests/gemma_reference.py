"""Gemma 3 as llama.cpp computes it, in numpy, straight from the GGUF's tensors: the
reference the converted MLX model is checked against.

Written from llama.cpp's Gemma 3 graph, not from mlx-lm: it reads the GGUF names
(``blk.N.attn_q.weight``), multiplies by the norm weights *as stored* (llama.cpp folded
Gemma's ``1 +`` into them), applies NeoX-style rotary embeddings with base 10,000 on the
five sliding-window layers of every six and the file's ``rope.freq_base`` on the sixth,
scales queries by ``head_dim ** -0.5``, and ties the output to the embedding. If the
conversion renamed, transposed or shifted anything wrongly, the logits part ways.
"""

from __future__ import annotations

import numpy as np


def _rms(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def _rope(x: np.ndarray, base: float) -> np.ndarray:
    """NeoX rotation of ``x`` (tokens, heads, dim): pairs (i, i + dim/2)."""
    t, _, d = x.shape
    half = d // 2
    inv = base ** (-np.arange(half, dtype=np.float64) * 2 / d)
    angle = np.arange(t)[:, None] * inv[None, :]
    cos, sin = np.cos(angle)[:, None, :], np.sin(angle)[:, None, :]
    a, b = x[..., :half], x[..., half:]
    return np.concatenate([a * cos - b * sin, a * sin + b * cos], axis=-1).astype(np.float32)


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


def logits(gguf_file, token_ids: list[int]) -> np.ndarray:
    """Logits (tokens, vocab) for ``token_ids`` (BOS included by the caller)."""
    from gguf.quants import dequantize

    f = gguf_file.fields
    tensors = {t.name: t for t in gguf_file.tensors}

    def w(name: str) -> np.ndarray:
        t = tensors[name]
        return dequantize(t.data, t.tensor_type).astype(np.float32)

    n_embd = int(f["gemma3.embedding_length"])
    n_head, n_kv = int(f["gemma3.attention.head_count"]), int(f["gemma3.attention.head_count_kv"])
    head_dim = int(f["gemma3.attention.key_length"])
    eps = float(f["gemma3.attention.layer_norm_rms_epsilon"])
    global_base = float(f["gemma3.rope.freq_base"])
    embd = w("token_embd.weight")
    x = embd[token_ids] * np.float32(np.sqrt(n_embd))
    t = len(token_ids)
    causal = np.triu(np.full((t, t), -np.inf, dtype=np.float32), 1)
    for il in range(int(f["gemma3.block_count"])):
        p = f"blk.{il}."
        sliding = il % 6 < 5
        h = _rms(x, w(p + "attn_norm.weight"), eps)
        q = (h @ w(p + "attn_q.weight").T).reshape(t, n_head, head_dim)
        k = (h @ w(p + "attn_k.weight").T).reshape(t, n_kv, head_dim)
        v = (h @ w(p + "attn_v.weight").T).reshape(t, n_kv, head_dim)
        q = _rms(q, w(p + "attn_q_norm.weight"), eps)
        k = _rms(k, w(p + "attn_k_norm.weight"), eps)
        base = 10_000.0 if sliding else global_base
        q, k = _rope(q, base), _rope(k, base)
        q = q * np.float32(head_dim ** -0.5)
        group = n_head // n_kv
        heads = []
        for hh in range(n_head):
            kv = hh // group
            scores = q[:, hh, :] @ k[:, kv, :].T + causal
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            heads.append(scores @ v[:, kv, :])
        attn = np.concatenate(heads, axis=-1) @ w(p + "attn_output.weight").T
        x = x + _rms(attn, w(p + "post_attention_norm.weight"), eps)
        h = _rms(x, w(p + "ffn_norm.weight"), eps)
        ffn = (_gelu_tanh(h @ w(p + "ffn_gate.weight").T) * (h @ w(p + "ffn_up.weight").T)) @ w(p + "ffn_down.weight").T
        x = x + _rms(ffn, w(p + "post_ffw_norm.weight"), eps)
    x = _rms(x, w("output_norm.weight"), eps)
    return x @ embd.T
