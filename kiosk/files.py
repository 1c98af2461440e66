"""Small file helpers shared by every part that keeps state or reads settings.

- :func:`private_file` creates a state file readable by its owner only
  (0600) before SQLite opens it — SQLite gives its ``-wal`` and ``-shm``
  files the database file's mode, so the whole state stays private whatever
  the umask.  An existing file of ours that is wider is narrowed.
- :func:`read_bounded` reads a config, data or secret file with a size
  limit: ``/dev/zero`` or a runaway file is an ``OSError`` (EFBIG) with a
  one-line message, never an exhausted memory.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

__all__ = ["CONFIG_LIMIT", "DATA_LIMIT", "SECRET_LIMIT", "private_file", "read_bounded"]

#: Largest configuration file read (TOML).
CONFIG_LIMIT = 1 << 20
#: Largest library data file read (JSON).
DATA_LIMIT = 64 << 20
#: Largest password or key file read.
SECRET_LIMIT = 64 << 10

_SIDE_FILES = ("-wal", "-shm", "-journal")


#: Names SQLite opens as a private in-memory database, never as a file.
SQLITE_MEMORY_NAMES = frozenset({":memory:", ""})


def private_file(path: str | os.PathLike[str], *, side_files: bool = True) -> Path:
    """Make sure *path* exists with mode 0600 (owner read/write only).

    Created with ``O_CREAT`` and mode 0600 when missing (so it is never
    readable by others, not even for a moment); narrowed to 0600 when it
    exists, belongs to us and allows more.  With *side_files*, SQLite's
    ``-wal``/``-shm``/``-journal`` files that already exist are narrowed too.
    SQLite's in-memory database name (``:memory:``) is not a file: nothing
    is created for it.  Returns the path."""
    p = Path(path)
    if os.fspath(path) in SQLITE_MEMORY_NAMES:
        return p
    try:
        fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        # read-only file or directory: SQLite will report it when it opens
        return p
    try:
        _narrow(fd)
    finally:
        os.close(fd)
    if side_files:
        for suffix in _SIDE_FILES:
            side = Path(f"{p}{suffix}")
            try:
                fd = os.open(side, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
            except OSError:
                continue
            try:
                _narrow(fd)
            finally:
                os.close(fd)
    return p


def _narrow(fd: int) -> None:
    st = os.fstat(fd)
    if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid() and st.st_mode & 0o077:
        os.fchmod(fd, stat.S_IMODE(st.st_mode) & 0o700)


def read_bounded(path: str | os.PathLike[str], limit: int) -> bytes:
    """The bytes of *path*, at most *limit* of them.

    Raises ``OSError`` as reading does (missing, no permission, a directory)
    and ``OSError(EFBIG)`` when the file holds more than *limit* bytes
    (a device such as ``/dev/zero`` included); ``strerror`` says which."""
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"larger than {_size(limit)} (not a file of this kind?)", str(path))
    return data


def _size(n: int) -> str:
    for unit, factor in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor and n % factor == 0:
            return f"{n // factor} {unit}"
    return f"{n} bytes"
