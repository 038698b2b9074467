"""The review store's files on disk: who may read them, how readers open them, and the key.

* **Private by default.** A store sreconsole creates is ``0600`` in a directory it creates
  ``0700``, whatever the umask; SQLite gives the ``-wal`` and ``-shm`` files the mode of the
  database file.
* **Shared with a group** when ``review.share_group`` names one (a bastion where every
  operator is in ``oncall``): the directory must be that group's and setgid (``install -d
  -m 2770 -g oncall DIR``; sreconsole creates it so when it is missing), files are ``0660``
  and take the directory's group. A directory that is not set up so is refused with the
  command that fixes it, rather than silently producing a queue other operators cannot open.
* **Readers open read-only**: ``mode=ro``, or ``immutable=1`` where the directory cannot be
  written (a read-only filesystem, a copy on a read-only mount): SQLite then needs no
  ``-shm`` file, which it could not create. ``immutable`` does not read a ``-wal`` file, so
  a copy that still has an unmerged ``-wal`` and no ``-shm`` is refused with the reason.
* **The key** of the keyed chain (``review.audit_key_file``) must be a regular file of at
  least 16 bytes that only its owner can read (mode ``0600`` or ``0400``), like an SSH key.

Plain files and modes: nothing here depends on SQLite's own tricks beyond the URI options
every SQLite build has.
"""

from __future__ import annotations

import grp
import os
import sqlite3
import stat
from pathlib import Path
from urllib.parse import quote

from sreconsole.review.errors import ReviewError

PRIVATE_FILE, PRIVATE_DIR = 0o600, 0o700
SHARED_FILE, SHARED_DIR = 0o660, 0o2770
KEY_MIN_BYTES = 16


def group_id(name: str) -> int:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise ReviewError(f"review.share_group: there is no group {name!r} on this host") from None


def file_mode(share_group: str) -> int:
    return SHARED_FILE if share_group else PRIVATE_FILE


def prepare(path: Path, share_group: str = "") -> None:
    """Make the store's directory and an empty database file with the right modes, before
    SQLite opens it (SQLite would create it with the umask's mode)."""
    gid = group_id(share_group) if share_group else None
    directory = path.parent
    if not directory.exists():
        directory.mkdir(parents=True, mode=PRIVATE_DIR, exist_ok=True)
        if gid is not None:
            os.chown(directory, -1, gid)
            os.chmod(directory, SHARED_DIR)
        else:
            os.chmod(directory, PRIVATE_DIR)
    elif gid is not None:
        st = directory.stat()
        if st.st_gid != gid or not st.st_mode & stat.S_ISGID or (st.st_mode & 0o070) != 0o070:
            raise ReviewError(
                f"review.share_group = {share_group!r}, but {directory} is not a setgid directory of that group"
                f" (mode {stat.S_IMODE(st.st_mode):o}): run  chgrp {share_group} {directory} && chmod 2770 {directory}"
            )
    mode = file_mode(share_group)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        if gid is not None:
            share_own_files(path, gid)
        return
    try:
        os.fchmod(fd, mode)  # the umask took bits off at open
        if gid is not None and os.fstat(fd).st_gid != gid:
            os.fchown(fd, -1, gid)
    finally:
        os.close(fd)


def share_own_files(path: Path, gid: int) -> None:
    """Group-readable and -writable: the database and its companions, where this user owns
    them (a file another operator created is theirs to fix, and was created so anyway)."""
    for f in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            st = f.stat()
        except FileNotFoundError:
            continue
        if st.st_uid == os.geteuid():
            if st.st_gid != gid:
                os.chown(f, -1, gid)
            if stat.S_IMODE(st.st_mode) != SHARED_FILE:
                os.chmod(f, SHARED_FILE)


def unwritable(path: Path) -> str:
    """Why this process cannot write the store (and the ``-wal``/``-shm`` beside it), or ''."""
    directory = path.parent
    probe = path if path.exists() else directory if directory.exists() else None
    if probe is None:
        return ""
    try:
        if os.statvfs(probe).f_flag & os.ST_RDONLY:
            return "a read-only filesystem"
    except OSError:
        return ""
    if not os.access(directory, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return "no write permission"
    return ""


def open_read_only(path: Path, factory: type[sqlite3.Connection] = sqlite3.Connection, timeout: float = 5.0) -> sqlite3.Connection:
    """A read-only connection that never creates a file. ``mode=ro`` first; where that cannot
    work because no ``-shm`` can be created next to the file, ``immutable=1``."""
    if not path.exists():
        raise FileNotFoundError(f"no review store at {path}")
    uri = f"file:{quote(str(path.resolve()))}"
    try:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=timeout, isolation_level=None, check_same_thread=False, factory=factory)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # mode=ro fails on first read, not at connect
    except sqlite3.OperationalError as exc:
        if os.access(path.parent, os.W_OK):
            raise ReviewError(f"cannot read the review store {path}: {exc}") from exc
        wal = Path(f"{path}-wal")
        if wal.exists() and wal.stat().st_size > 0 and not Path(f"{path}-shm").exists():
            raise ReviewError(
                f"cannot read the review store {path} on a read-only directory: its {wal.name} holds changes not yet"
                " in the main file and there is no -shm file; copy the store with its -wal and -shm files, or"
                " copy it from a closed store"
            ) from exc
        conn = sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True, timeout=timeout, isolation_level=None, check_same_thread=False, factory=factory)
    conn.execute("PRAGMA query_only = ON")
    return conn


def load_key(path_text: str) -> bytes:
    """The chain's HMAC key, or ReviewError saying why the file is refused."""
    path = Path(path_text).expanduser()
    try:
        st = path.stat()
    except OSError as exc:
        raise ReviewError(f"review.audit_key_file {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ReviewError(f"review.audit_key_file {path} is not a regular file")
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise ReviewError(
            f"review.audit_key_file {path} has mode {mode:04o}: others can read it, so it cannot protect the audit;"
            f" chmod 600 {path} (or 400)"
        )
    try:
        key = path.read_bytes().strip()
    except OSError as exc:
        raise ReviewError(f"review.audit_key_file {path}: {exc.strerror or exc}") from None
    if len(key) < KEY_MIN_BYTES:
        raise ReviewError(f"review.audit_key_file {path} holds {len(key)} bytes; a key needs at least {KEY_MIN_BYTES} (e.g. head -c 32 /dev/urandom > {path})")
    return key
