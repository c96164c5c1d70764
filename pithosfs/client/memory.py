"""Keep a long-running transfer process's RSS close to the bytes it really holds.

Measured (tests/client/test_transfers.py, 384 MiB upload + download, 4 workers
x 16 MiB requests): peak RSS 94 MiB with a fixed mmap threshold, but anywhere
from 120 to 310 MiB without, growing when the server answers slowly. The cause
is glibc's dynamic mmap threshold: after a freed 16 MiB buffer it raises the
threshold, so later buffers come from per-thread heap arenas that keep freed
memory instead of returning it to the kernel.

`bound_malloc_retention()` pins the threshold (large buffers are mmapped and
unmapped on free). It changes process-wide allocator behaviour, so a library
must not do it on import: the process owner (the mount daemon, a benchmark,
a CLI) opts in. It is a no-op where glibc's mallopt is not available.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

_M_MMAP_THRESHOLD = -3  # from glibc's malloc.h
DEFAULT_THRESHOLD = 1024 * 1024


def bound_malloc_retention(threshold: int = DEFAULT_THRESHOLD) -> bool:
    """Pin glibc's mmap threshold; True if it took effect."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(_M_MMAP_THRESHOLD, threshold))
    log.debug("mallopt(M_MMAP_THRESHOLD, %d) -> %s", threshold, ok)
    return ok
