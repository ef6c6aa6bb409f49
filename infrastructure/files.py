"""Files the service writes (stores, keys, timelines, reports, digests, secrets): private, never through a link.

``create_private_file`` makes a store's file before SQLite opens it: mode 0600 in a folder made
0700, so the database, and the write-ahead log and shared-memory files SQLite gives the same
mode, are readable by the service's user only; an existing file open to others is narrowed.

``write_private`` writes to a new file (mode 0600, created exclusively) in the target's folder and
then renames it over the target. A rename replaces the folder entry itself: it never writes
through a symbolic or hard link someone planted at the target's name, never leaves a half-written
file under that name, and the result is readable by its owner only, whatever the umask.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


class UnsafeTarget(OSError):
    """Raised when the target is not a place to write a file (a folder, say)."""


def write_private(path: Path, content: str | bytes, *, exclusive: bool = False) -> bool:
    """Writes ``content`` to ``path`` (mode 0600, never through a link); returns whether it was written.

    ``exclusive``: only if no file is there yet, decided atomically (a hard link of the finished
    file, which fails if the name exists), so of two processes writing at once exactly one wins.
    """
    data = content.encode() if isinstance(content, str) else content
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir() and not path.is_symlink():
        raise UnsafeTarget(f"{path} is a folder, not a file")
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), 0o600)
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if not exclusive:
            os.replace(temporary, path)
            return True
        try:
            os.link(temporary, path)
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def create_private_file(path: Path) -> None:
    """Creates ``path`` empty, mode 0600, if it does not exist (a new folder 0700); narrows it if open to others."""
    make_private_folder(path.parent)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
    except FileExistsError:
        for each in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
            with contextlib.suppress(FileNotFoundError, PermissionError):
                if not each.is_symlink() and each.stat().st_mode & 0o077:
                    os.chmod(each, 0o600)


def make_private_folder(path: Path) -> None:
    """Creates ``path`` and any missing parent with mode 0700 (``mkdir(parents=True)`` would give
    the parents the umask's default); an existing folder is left as it is."""
    missing = []
    folder = path
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for each in reversed(missing):
        with contextlib.suppress(FileExistsError):
            each.mkdir(mode=0o700)


def on_read_only_media(path: Path) -> bool:
    """Whether ``path`` exists on a file system mounted read-only: nothing can change it there."""
    return path.exists() and bool(os.statvfs(path).f_flag & os.ST_RDONLY)


def sqlite_database_name(path: Path) -> str:
    """The name SQLite opens ``path`` by: the plain path for a store that can be written; for a
    read-only evidence copy a read-only URI, so reads work and the first write is refused in words.

    On read-only media (``ST_RDONLY``) the file is opened ``immutable``: a write-ahead-log file there
    has no shared-memory file beside it and none can be made, and nothing can write it through this
    mount. A file that is only not writable by this user is opened ``mode=ro``."""
    if not path.exists():
        return str(path)
    if on_read_only_media(path):
        return f"file:{path}?mode=ro&immutable=1"
    if not os.access(path, os.W_OK):
        return f"file:{path}?mode=ro"
    return str(path)
