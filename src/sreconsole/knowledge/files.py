"""Find the files to index and read them, with a reason for every file that is skipped.

A knowledge directory on a bastion host collects whatever people drop there: images,
PDFs, editor backups, a 50 MB log, a symlink that points at itself, a file someone else
owns. None of that may stop an index run or corrupt the index; each is skipped and named
in the summary with the reason.

A symlink that leads out of the folder being indexed (``notes.md -> ~/.kube/config``) is
skipped too, with that reason: whoever can write into a shared runbook folder must not be
able to make ``kb search`` and Bruno serve the indexing user's private files. Links that
stay inside the folder are followed. ``knowledge.follow_external_links = true`` is the
explicit opt-in to follow the others; a path named on the command line (or in
``knowledge.paths``) is always read, since the operator named it.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

TEXT_SUFFIXES = {".md", ".markdown", ".mdx", ".txt", ".text", ".rst", ".adoc"}
MARKDOWN_SUFFIXES = {".md", ".markdown", ".mdx"}
MAX_FILE_BYTES = 8 * 1024 * 1024
"""Runbooks are kilobytes; anything this big is a log or a dump, not a document."""
SNIFF_BYTES = 8192


@dataclass(frozen=True)
class Skipped:
    path: str
    reason: str


@dataclass(frozen=True)
class Candidate:
    path: Path
    """Absolute, as found (symlinks not resolved, so the cited path is the one people know)."""
    root: Path
    size: int
    mtime_ns: int
    explicit: bool = False
    """Named on the command line or in knowledge.paths: read wherever it leads."""


class UnreadableFile(Exception):
    """``str()`` is the reason shown in the index summary."""


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"  # pragma: no cover


def _stat(path: Path) -> os.stat_result:
    try:
        return path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnreadableFile("symlink loop") from exc
        if exc.errno == errno.ENOENT:
            raise UnreadableFile("broken symlink" if path.is_symlink() else "does not exist") from exc
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise UnreadableFile("permission denied") from exc
        raise UnreadableFile(exc.strerror or str(exc)) from exc


def _shown(path: Path) -> str:
    """The path as text that can be stored and printed: bytes of a name that are not UTF-8
    (``str`` holds them as lone surrogates, which neither DuckDB nor a UTF-8 stdout accept)
    become U+FFFD."""
    return os.fsencode(path).decode("utf-8", "replace")


def name_is_utf8(path: str | Path) -> bool:
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def outside(path: Path, root: Path) -> str:
    """Where ``path`` really leads when that is outside ``root`` (both resolved through
    every symlink), else ``""``."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep):
        return ""
    return real


def external_link_reason(target: str, root: Path) -> str:
    return (f"symlink to {_shown(Path(target))}, outside the indexed folder {_shown(root)} "
            "(set knowledge.follow_external_links = true to index it)")


def discover(
    paths: list[str | Path], max_bytes: int = MAX_FILE_BYTES, *, follow_external_links: bool = False
) -> tuple[list[Candidate], list[Skipped], list[str]]:
    """Files under ``paths`` worth reading, files skipped with a reason, and the files
    ignored for their extension (not a document type), as printable paths. A path named explicitly is
    read whatever its extension, and wherever it leads; under a directory, a symlink leading
    out of it is skipped unless ``follow_external_links``."""
    found: dict[Path, Candidate] = {}
    skipped: list[Skipped] = []
    ignored: list[str] = []
    for raw in paths:
        root = Path(os.path.abspath(os.path.expanduser(str(raw))))
        try:
            st = _stat(root)
        except UnreadableFile as exc:
            skipped.append(Skipped(_shown(root), str(exc)))
            continue
        if not os.path.isdir(root):
            _consider(root, root.parent, st, True, max_bytes, found, skipped)
            continue
        for file_path, problem in _walk(root, follow_external_links):
            if problem:
                skipped.append(Skipped(_shown(file_path), problem))
                continue
            if file_path.suffix.lower() not in TEXT_SUFFIXES:
                ignored.append(_shown(file_path))
                continue
            try:
                fst = _stat(file_path)
            except UnreadableFile as exc:
                skipped.append(Skipped(_shown(file_path), str(exc)))
                continue
            _consider(file_path, root, fst, False, max_bytes, found, skipped)
    return list(found.values()), skipped, ignored


def _consider(path: Path, root: Path, st: os.stat_result, explicit: bool, max_bytes: int, found: dict, skipped: list) -> None:
    import stat as stat_mod

    if not stat_mod.S_ISREG(st.st_mode):
        skipped.append(Skipped(_shown(path), "not a regular file"))
    elif st.st_size == 0:
        skipped.append(Skipped(_shown(path), "empty file"))
    elif st.st_size > max_bytes:
        skipped.append(Skipped(_shown(path), f"too large ({_human(st.st_size)}; the limit is {_human(max_bytes)})"))
    elif not name_is_utf8(path):
        skipped.append(Skipped(_shown(path), "file name is not valid UTF-8"))
    elif path not in found:
        found[path] = Candidate(path, root, st.st_size, st.st_mtime_ns, explicit)


def _walk(root: Path, follow_external_links: bool = False) -> Iterator[tuple[Path, str]]:
    """Depth-first, following directory symlinks but never into a directory already seen
    (that is how a symlink loop shows up), nor, unless ``follow_external_links``, through a
    symlink that leads out of ``root``. Hidden directories (.git, .venv) are skipped."""
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        directory = stack.pop()
        try:
            st = directory.stat()
        except OSError as exc:
            yield directory, "symlink loop" if exc.errno == errno.ELOOP else (exc.strerror or str(exc))
            continue
        key = (st.st_dev, st.st_ino)
        if key in seen:
            yield directory, "symlink loop (directory already indexed through another path)"
            continue
        seen.add(key)
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except PermissionError:
            yield directory, "permission denied"
            continue
        except OSError as exc:
            yield directory, exc.strerror or str(exc)
            continue
        subdirs = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                is_dir = entry.is_dir(follow_symlinks=True)
            except OSError as exc:
                yield path, "symlink loop" if exc.errno == errno.ELOOP else (exc.strerror or str(exc))
                continue
            if not follow_external_links and entry.is_symlink():
                target = outside(path, root)
                if target:
                    yield path, external_link_reason(target, root)
                    continue
            if is_dir:
                subdirs.append(path)
            else:
                yield path, ""
        stack.extend(reversed(subdirs))


def read_text(path: Path, max_bytes: int = MAX_FILE_BYTES) -> tuple[str, str]:
    """(text, sha256 of the bytes). Raises :class:`UnreadableFile` with the reason."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise UnreadableFile("permission denied") from exc
        if exc.errno == errno.ELOOP:
            raise UnreadableFile("symlink loop") from exc
        raise UnreadableFile(exc.strerror or str(exc)) from exc
    if len(data) > max_bytes:
        raise UnreadableFile(f"too large (over {_human(max_bytes)})")
    if b"\x00" in data[:SNIFF_BYTES]:
        raise UnreadableFile("binary file (NUL bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableFile(f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from exc
    if text.startswith("\ufeff"):
        text = text[1:]
    if not text.strip():
        raise UnreadableFile("empty file (only whitespace)")
    return text, hashlib.sha256(data).hexdigest()
