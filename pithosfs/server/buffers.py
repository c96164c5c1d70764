"""Receive buffers for block uploads, reused across requests.

Why: a fresh anonymous mmap per upload request costs a page fault and a
kernel page-zeroing for every 4 KiB the body fills, then an munmap; with one
4 MiB block per POST (the FUSE mount's write-back), profiling showed that
set-up as ~40% of the server's CPU. Buffers handed back here keep their
pages mapped, so the next request receives into memory that is already
faulted in.

Bounded: at most `max_idle_bytes` of idle buffers are kept; extra buffers are
unmapped when returned, and so are buffers left idle for IDLE_SECONDS while
others are used (the pool follows the recent number of uploads at once, not the
highest ever: a soak's server otherwise grew towards the whole bound over an
hour). Buffers are mmaps, so page-aligned as O_DIRECT needs.
Their old contents are not cleared: every user writes before it reads.
"""

from __future__ import annotations

import mmap
import threading
import time

DEFAULT_MAX_IDLE_BYTES = 64 * 1024 * 1024
IDLE_SECONDS = 10.0


class BufferPool:
    def __init__(self, size: int, max_idle_bytes: int = DEFAULT_MAX_IDLE_BYTES) -> None:
        self.size = size
        # At least a few, so even huge block sizes get reuse for one upload at a time.
        self.max_idle = max(2, max_idle_bytes // size)
        self._idle: list[tuple[mmap.mmap, float]] = []  # with when it was given back, oldest first
        self._lock = threading.Lock()

    def take(self) -> mmap.mmap:
        """An idle buffer (most recently used first: its pages are the warmest), or a new one."""
        with self._lock:
            stale = self._stale_locked()
            buf = self._idle.pop()[0] if self._idle else None
        for old in stale:
            _unmap(old)
        return buf if buf is not None else mmap.mmap(-1, self.size)

    def give(self, buf: mmap.mmap) -> None:
        """Return a buffer no one writes to any more; unmapped if the pool is full."""
        with self._lock:
            stale = self._stale_locked()
            kept = len(self._idle) < self.max_idle
            if kept:
                self._idle.append((buf, time.monotonic()))
        for old in stale if kept else [*stale, buf]:
            _unmap(old)

    def _stale_locked(self) -> list[mmap.mmap]:
        """Take out the buffers idle for IDLE_SECONDS (the oldest are first)."""
        cutoff = time.monotonic() - IDLE_SECONDS
        stale = []
        while self._idle and self._idle[0][1] <= cutoff:
            stale.append(self._idle.pop(0)[0])
        return stale

    @property
    def idle(self) -> int:
        with self._lock:
            return len(self._idle)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for buf, _ in idle:
            _unmap(buf)


def _unmap(buf: mmap.mmap) -> None:
    try:
        buf.close()
    except BufferError:  # a traceback still holds a view: freed with it
        pass
