"""The process heap (glibc): which blocks go straight to the OS, and handing
freed memory back.  No-ops off glibc.

glibc serves a block below its mmap threshold from the heap, where a freed
block stays resident until everything above it is free too; at or above the
threshold it maps the block on its own and unmaps it at free.  The threshold
is dynamic by default (it rises to the size of the largest block freed so
far), so a process that frees one big block once keeps all later blocks of
that size resident.  Parts of bibkiosk each ask for the size they need kept
out of the heap; the lowest asked for holds for the whole process (one
threshold per process: a part asking for a higher one must not undo a
lower one another part set).
"""

from __future__ import annotations

import ctypes

_M_MMAP_THRESHOLD = -3
_threshold: int | None = None


def _libc():
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc
        return None


def map_blocks_from(nbytes: int) -> int | None:
    """Blocks of *nbytes* and more are mapped on their own (and given back
    at free) for the rest of the process, or from a lower size if some part
    asked for one.  Returns the threshold in force (None off glibc)."""
    global _threshold
    wanted = nbytes if _threshold is None else min(_threshold, nbytes)
    libc = _libc()
    if libc is None or not hasattr(libc, "mallopt"):
        return None
    if wanted != _threshold and libc.mallopt(_M_MMAP_THRESHOLD, wanted):
        _threshold = wanted
    return _threshold


def trim() -> None:
    """Hand the free pages of the heap back to the OS (``malloc_trim``)."""
    libc = _libc()
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)
