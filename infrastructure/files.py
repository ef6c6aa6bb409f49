"""Files the service writes for people (timelines, reports, digests, secrets): private and never through a link.

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


def write_private(path: Path, content: str | bytes) -> None:
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
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
