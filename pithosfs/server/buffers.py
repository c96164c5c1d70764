"""Receive buffers for block uploads, reused across requests.

Why: a fresh anonymous mmap per upload request costs a page fault and a
kernel page-zeroing for every 4 KiB the body fills, then an munmap; with one
4 MiB block per POST (the FUSE mount's write-back), profiling showed that
set-up as ~40% of the server's CPU. Buffers handed back here keep their
pages mapped, so the next request receives into memory that is already
faulted in.

Bounded: at most `max_idle_bytes` of idle buffers are kept; extra buffers are
unmapped when returned. Buffers are mmaps, so page-aligned as O_DIRECT needs.
Their old contents are not cleared: every user writes before it reads.
"""

from __future__ import annotations

import mmap
import threading

DEFAULT_MAX_IDLE_BYTES = 64 * 1024 * 1024


class BufferPool:
    def __init__(self, size: int, max_idle_bytes: int = DEFAULT_MAX_IDLE_BYTES) -> None:
        self.size = size
        # At least a few, so even huge block sizes get reuse for one upload at a time.
        self.max_idle = max(2, max_idle_bytes // size)
        self._idle: list[mmap.mmap] = []
        self._lock = threading.Lock()

    def take(self) -> mmap.mmap:
        """An idle buffer (most recently used first: its pages are the warmest), or a new one."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return mmap.mmap(-1, self.size)

    def give(self, buf: mmap.mmap) -> None:
        """Return a buffer no one writes to any more; unmapped if the pool is full."""
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append(buf)
                return
        _unmap(buf)

    @property
    def idle(self) -> int:
        with self._lock:
            return len(self._idle)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for buf in idle:
            _unmap(buf)


def _unmap(buf: mmap.mmap) -> None:
    try:
        buf.close()
    except BufferError:  # a traceback still holds a view: freed with it
        pass
