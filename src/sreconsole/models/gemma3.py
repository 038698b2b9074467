"""Gemma 3 from a llama.cpp GGUF file to mlx-lm's ``gemma3_text`` model.

What the conversion has to undo, and where each fact comes from:

* **names**: the GGUF calls the tensors ``blk.N.attn_q.weight`` and so on. The ``gguf``
  package's own table (``gguf.get_tensor_name_map``), which llama.cpp uses to write them,
  gives the Hugging Face name of each; mlx-lm's ``gemma3_text`` uses those names.
  Every model parameter must be found and every GGUF tensor used, or the conversion fails.
* **layout**: GGUF lists dimensions innermost first; the ``gguf`` reader already hands
  arrays back as ``(out, in)`` rows, the layout of an ``nn.Linear``. No q/k permutation:
  Gemma's rotary embedding is the "NeoX" half-split kind in llama.cpp and in mlx-lm
  (``traditional=False``), so llama.cpp's converter leaves q and k as they were.
* **norms**: Gemma's RMSNorm scales by ``1 + weight``; llama.cpp folds the ``+ 1`` into the
  stored weight (its graph multiplies by the weight alone), and mlx-lm adds it back, so
  every ``*norm.weight`` loses 1 here.
* **quantization**: Q4_K, Q5_0, Q6_K and Q8_0 blocks are dequantized by ``gguf.quants``
  (numpy); the values are what llama.cpp computes with, stored as ``float32`` by default
  (see :data:`DTYPES`).
* **hyper-parameters** the file does not carry are Gemma 3 constants that llama.cpp also
  hard-codes for this architecture: local (sliding-window) RoPE base 10,000, one global
  layer in six, attention scaled by ``head_dim ** -0.5``.
* **tied output**: there is no ``output.weight``; the embedding is the output projection.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ARCHITECTURE = "gemma3"
DTYPES = ("float32", "bfloat16")
"""What the safetensors may hold. ``float32`` (1.07 GB) is the default: MLX on CPU generated
about twice as fast from it as from ``bfloat16`` (536 MB, the dtype Gemma was trained in),
and MLX's quantized kernels were slower still on CPU (bench/README.md). ``bfloat16`` loses
nothing the 4-6 bit GGUF had not already lost, and suits Apple silicon."""

LOCAL_ROPE_BASE = 10_000.0
SLIDING_WINDOW_PATTERN = 6
END_OF_TURN = "<end_of_turn>"
START_OF_TURN = "<start_of_turn>"

CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% set ns = namespace(system='') %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{% set ns.system = message['content'] + '\n\n' %}"
    "{% else %}"
    "{% set role = 'model' if message['role'] == 'assistant' else 'user' %}"
    "<start_of_turn>{{ role }}\n"
    "{% if role == 'user' and ns.system %}{{ ns.system }}{% set ns.system = '' %}{% endif %}"
    "{{ message['content'] | trim }}<end_of_turn>\n"
    "{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
"""Gemma's turn format, written out: ``<start_of_turn>user`` / ``model``, each turn closed by
``<end_of_turn>``; Gemma has no system role, so a system message opens the first user
turn. The base model was not instruction-tuned, but these are its own control tokens, and
a LoRA fine-tune learns to answer inside them."""


def hf_config(fields: dict[str, Any], eos_ids: list[int], bos_id: int, pad_id: int, dtype: str = "float32") -> dict[str, Any]:
    """mlx-lm's ``config.json`` for the file's ``gemma3.*`` fields."""
    arch = fields.get("general.architecture")
    if arch != ARCHITECTURE:
        raise ValueError(f"general.architecture is {arch!r}, not {ARCHITECTURE!r}")

    def need(name: str) -> Any:
        value = fields.get(f"{ARCHITECTURE}.{name}")
        if value is None:
            raise ValueError(f"the GGUF has no {ARCHITECTURE}.{name}")
        return value

    head_dim = int(need("attention.key_length"))
    if int(fields.get(f"{ARCHITECTURE}.attention.value_length", head_dim)) != head_dim:
        raise ValueError("key and value head sizes differ; Gemma 3 has one head_dim")
    vocab = len(fields["tokenizer.ggml.tokens"])
    return {
        "architectures": ["Gemma3ForCausalLM"],
        "model_type": "gemma3_text",
        "hidden_size": int(need("embedding_length")),
        "num_hidden_layers": int(need("block_count")),
        "intermediate_size": int(need("feed_forward_length")),
        "num_attention_heads": int(need("attention.head_count")),
        "num_key_value_heads": int(need("attention.head_count_kv")),
        "head_dim": head_dim,
        "query_pre_attn_scalar": head_dim,
        "rms_norm_eps": float(need("attention.layer_norm_rms_epsilon")),
        "rope_theta": float(need("rope.freq_base")),
        "rope_local_base_freq": LOCAL_ROPE_BASE,
        "sliding_window": int(need("attention.sliding_window")),
        "sliding_window_pattern": SLIDING_WINDOW_PATTERN,
        "max_position_embeddings": int(need("context_length")),
        "vocab_size": vocab,
        "hidden_activation": "gelu_pytorch_tanh",
        "tie_word_embeddings": True,
        "bos_token_id": bos_id,
        "eos_token_id": eos_ids,
        "pad_token_id": pad_id,
        "torch_dtype": dtype,
    }


def expected_parameters(config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """The name and shape of every parameter mlx-lm's ``gemma3_text`` builds for ``config``
    (read off the model itself, so a renamed layer in a new mlx-lm shows up here)."""
    from mlx.utils import tree_flatten
    from mlx_lm.models import gemma3_text

    args = gemma3_text.ModelArgs.from_dict(config)
    model = gemma3_text.Model(args)
    model.sanitize({})  # no lm_head: the embedding is tied
    return {name: tuple(v.shape) for name, v in tree_flatten(model.parameters())}


def weights(gguf_file: Any, config: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """``(mlx-lm name, float32 numpy array)`` for every parameter, from the GGUF tensors."""
    import gguf
    import numpy as np

    wanted = expected_parameters(config)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GEMMA3, int(config["num_hidden_layers"]))
    tensors = {t.name: t for t in gguf_file.tensors}
    used: set[str] = set()
    for name, shape in wanted.items():
        source = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if source is None or source not in tensors:
            raise ValueError(f"no GGUF tensor for {name} (looked for {source!r})")
        tensor = tensors[source]
        array = gguf.quants.dequantize(tensor.data, tensor.tensor_type).astype(np.float32, copy=False)
        if tuple(array.shape) != shape:
            raise ValueError(f"{source} is {tuple(array.shape)}, {name} needs {shape}")
        if source.endswith("norm.weight"):
            array = array - 1.0
        used.add(source)
        yield name, array
    left = sorted(set(tensors) - used)
    if left:
        raise ValueError(f"GGUF tensors with no place in the model: {', '.join(left[:5])}")


def tokenizer_config(vocab: Any) -> dict[str, Any]:
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": vocab.special("bos"), "eos_token": vocab.special("eos"),
        "unk_token": vocab.special("unk"), "pad_token": vocab.special("pad"),
        "add_bos_token": vocab.add_bos, "add_eos_token": vocab.add_eos,
        "model_max_length": 32768, "padding_side": "left",
        "chat_template": CHAT_TEMPLATE,
    }


def write_model(gguf_file: Any, target: Path, dtype: str = "float32", progress=lambda message: None) -> dict[str, Any]:
    """Write ``config.json``, ``model.safetensors``, ``tokenizer.json``,
    ``tokenizer_config.json`` and ``generation_config.json`` into ``target`` (which exists).
    Returns a summary: parameter count and the quantization types met."""
    import mlx.core as mx

    from sreconsole.models.gguf_tokenizer import build_tokenizer, read_vocab

    progress("reading the tokenizer fields")
    vocab = read_vocab(gguf_file.fields)
    end_of_turn = vocab.tokens.index(END_OF_TURN)
    eos_ids = [vocab.eos_id, end_of_turn]
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    config = hf_config(gguf_file.fields, eos_ids, vocab.bos_id, vocab.pad_id, dtype)
    progress("building the tokenizer (merges from the vocabulary)")
    build_tokenizer(vocab).save(str(target / "tokenizer.json"))
    (target / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(vocab), indent=2), encoding="utf-8")
    (target / "generation_config.json").write_text(json.dumps(
        {"bos_token_id": vocab.bos_id, "eos_token_id": eos_ids, "pad_token_id": vocab.pad_id}, indent=2), encoding="utf-8")
    (target / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    progress(f"dequantizing {len(gguf_file.tensors)} tensors")
    arrays: dict[str, Any] = {}
    count = 0
    for name, array in weights(gguf_file, config):
        count += array.size
        arrays[name] = mx.array(array).astype(getattr(mx, dtype))
    mx.save_safetensors(str(target / "model.safetensors"), arrays, metadata={"format": "mlx"})
    kinds = sorted({t.tensor_type.name for t in gguf_file.tensors})
    return {"parameters": count, "tensors": len(gguf_file.tensors), "tensor_types": kinds, "dtype": dtype,
            "vocab_size": len(vocab.tokens), "architecture": config["model_type"]}
