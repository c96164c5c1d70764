"""Page-aligned buffers, lent out as views and reused once no view of them is left.

Two users: a mount's readers receive ranged GETs into them, and its
sequential writers copy each block's FUSE writes into one (fs/writeback/memory.py).

Why, for reads: a cold read used to receive every GET (up to 16 MiB) into a new bytes
object. glibc serves an allocation that large with fresh pages, so each byte
read cost a page fault and the zeroing of its page (perf of a mount during a
1 GiB cold read: page faults, page clearing and memory-cgroup charging about
10% of its CPU), and the block cache then copied each block once more into an
aligned buffer for its O_DIRECT write (another 8%). A buffer taken from here
is page aligned, so the cache writes blocks straight from it, and reused, so
its pages stay mapped. For writes, the same: a block gathered in one aligned
buffer is staged with O_DIRECT without a bounce copy.

When is a buffer free again? Its bytes are handed out as views: the reader's
segments, a FUSE read being copied into the kernel's buffer, a block waiting
for the cache's writer. Each buffer is lent through a ctypes array over it,
and every view is made from that array, so the array lives exactly as long as
the last view (CPython frees it by reference counting the moment that view
goes). A finalizer on the array puts the buffer back in the free list. A view
kept alive longer (a cycle waiting for the collector) only delays the return:
meanwhile `take` maps a new buffer.

Memory: at most `max_free_bytes` are kept free, none once nobody has taken a
buffer for `idle` seconds, and, while buffers are taken, none that stayed free
for `idle` seconds (a capacity the traffic no longer asks for: a soak reading
files of many sizes kept 64 MiB of them mapped for good); buffers in use are
bounded by their holders (the readers' read-ahead windows, the cache's pending
writes, the blocks a writer may hold).
"""

from __future__ import annotations

import ctypes
import mmap
import threading
import time
import weakref

PAGE = mmap.PAGESIZE
SIZE_STEP = 1024 * 1024  # capacities are rounded up to this, so sizes near each other share
# Free buffers kept for reuse. Why this much: a sequential reader's window (32 MiB
# of read-ahead in 16 MiB GETs) and the cache's pending writes return several
# buffers at once; with 32 MiB kept, a 1 GiB cold read mapped 21 buffers (faulting
# in 336 MiB of new pages), with 64 MiB 8-9.
MAX_FREE_BYTES = 64 * 1024 * 1024
IDLE_SECONDS = 10.0  # free buffers unused this long are unmapped


class AlignedBuffers:
    """Thread-safe pool of anonymous mmaps, lent out as writable memoryviews."""

    def __init__(self, max_free_bytes: int = MAX_FREE_BYTES, idle: float = IDLE_SECONDS) -> None:
        self.max_free_bytes = max_free_bytes
        self.idle = idle
        # Reentrant: a finalizer (`_give_back`) may run in a thread that holds the lock,
        # when an allocation under it sets off the cyclic collector.
        self._lock = threading.RLock()
        # GUARDED_BY(_lock): capacity -> free buffers, each with when it was given back
        # (oldest first; `take` reuses the newest, whose pages are the warmest)
        self._free: dict[int, list[tuple[mmap.mmap, float]]] = {}
        self._free_bytes = 0  # GUARDED_BY(_lock)
        self._last_take = 0.0  # GUARDED_BY(_lock): monotonic time of the latest take
        self._trimmer: threading.Timer | None = None  # GUARDED_BY(_lock): pending idle trim
        self.mapped = 0  # buffers mapped so far (for tests and benchmarks)

    def take(self, size: int) -> memoryview:
        """A writable, page-aligned view of `size` bytes (contents undefined)."""
        capacity = max(SIZE_STEP, -(-size // SIZE_STEP) * SIZE_STEP)
        with self._lock:
            self._last_take = time.monotonic()
            free = self._free.get(capacity)
            buf = free.pop()[0] if free else None
            if buf is not None:
                self._free_bytes -= capacity
            else:
                self.mapped += 1
        if buf is None:
            # Anonymous maps are page aligned. Private: ordinary anonymous pages (a
            # shared map's pages live in shmem, whose faults cost more).
            buf = mmap.mmap(-1, capacity, flags=mmap.MAP_PRIVATE)
        lent = (ctypes.c_char * capacity).from_buffer(buf)
        weakref.finalize(lent, self._give_back, buf, capacity).atexit = False
        return memoryview(lent).cast("B")[:size]

    def free_bytes(self) -> int:
        with self._lock:
            return self._free_bytes

    def _give_back(self, buf: mmap.mmap, capacity: int) -> None:
        """Finalizer of a lent array: every view of the buffer is gone."""
        with self._lock:
            kept = self._free_bytes + capacity <= self.max_free_bytes
            if kept:
                self._free.setdefault(capacity, []).append((buf, time.monotonic()))
                self._free_bytes += capacity
        # Otherwise dropped: the map goes with its last reference (the dying array's).
        if kept:
            self._schedule_trim()

    def _schedule_trim(self) -> None:
        """Start the idle trim's timer unless one is pending.

        Started outside the lock: Thread.start waits for the new thread, whose
        own start-up may run a finalizer that wants the lock.
        """
        if self.idle <= 0:
            return
        with self._lock:
            if self._trimmer is not None:
                return
            timer = self._trimmer = threading.Timer(self.idle, self._trim_if_idle)
        timer.daemon = True
        try:
            timer.start()
        except RuntimeError:  # no thread to be had (interpreter exiting): no trim
            with self._lock:
                self._trimmer = None

    def _trim_if_idle(self) -> None:
        """Unmap the free buffers once no reader has taken one for `idle` seconds, and,
        while readers go on, those that stayed free that long (capacities no longer
        asked for); the check comes back while any are kept.
        """
        with self._lock:
            self._trimmer = None
            now = time.monotonic()
            busy = now - self._last_take < self.idle
            stale = now - self.idle if busy else float("inf")
            dropped = []
            for capacity in list(self._free):
                bufs = self._free[capacity]
                while bufs and bufs[0][1] <= stale:
                    dropped.append(bufs.pop(0)[0])
                    self._free_bytes -= capacity
                if not bufs:
                    del self._free[capacity]
            again = self._free_bytes > 0
        if again:
            self._schedule_trim()
        for buf in dropped:
            try:
                buf.close()
            except BufferError:  # a finalizer's array not quite gone yet: its reference will be
                pass
