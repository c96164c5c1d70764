"""Reading one object version: block-aligned ranged GETs, read-ahead, block cache.

An object is read in *segments*: runs of whole blocks of about `MIN_REQUEST`
bytes (one block with 4 MiB blocks; many with tiny test blocks), each fetched
with one ranged GET, so reads are always block aligned and the blocks can be
checked against the hashmap and kept in the block cache under their hash.
Sequential reading is detected per open file: the read-ahead window doubles
with each sequential segment (up to `max_readahead` bytes), and the segments
ahead are fetched by a shared thread pool, so several requests are in flight
while the kernel consumes the current one. Reads arriving a little out of order
(concurrent kernel read-ahead) still count as sequential; a read far from the
current position resets the window.

Objects of one segment or less (most small files) are fetched whole, at once.

Consistency: every GET names the version that was opened (`?version=`), so a
replacement on the server never mixes into an open file; if that version is
gone (purged by a `versioning=none` container), Stale. Fetched blocks go to the
block cache in the background, each checked against its hash first.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from concurrent.futures import CancelledError, Executor, Future

from pithosfs.cache.block_cache import BlockCache
from pithosfs.client.errors import NotFound, PithosError
from pithosfs.client.types import ObjectInfo, ObjectStore
from pithosfs.fs.aligned_buffers import AlignedBuffers
from pithosfs.fs.errors import Stale
from pithosfs.fs.writeback.upload import KnownBlocks

log = logging.getLogger(__name__)

MIN_REQUEST = 4 * 1024 * 1024  # bytes per ranged GET at least (whole blocks)
MAX_RUN = 4  # segments fetched by one GET once a reader is sequential
POOLED_MIN = 1024 * 1024  # smaller GETs are received into a bytearray of their size
MIN_CACHED_BLOCK = 64 * 1024  # smaller blocks are not worth a file each in the disk cache


class VersionHashmaps:
    """Block hashes of object versions, shared by a mount's readers (a version's never
    change). Bounded: the least recently used go first."""

    def __init__(self, max_versions: int = 256) -> None:
        self._max = max_versions
        self._lock = threading.Lock()
        self._known: OrderedDict[tuple[str, str, int], list[str]] = OrderedDict()  # GUARDED_BY(_lock)

    def get(self, key: tuple[str, str, int]) -> list[str] | None:
        with self._lock:
            hashes = self._known.get(key)
            if hashes is not None:
                self._known.move_to_end(key)
            return hashes

    def put(self, key: tuple[str, str, int], hashes: list[str]) -> None:
        with self._lock:
            self._known[key] = hashes
            self._known.move_to_end(key)
            while len(self._known) > self._max:
                self._known.popitem(last=False)


class ObjectReader:
    """Reads of one object version; safe to call from many FUSE threads."""

    def __init__(
        self,
        store: ObjectStore,
        container: str,
        info: ObjectInfo,
        block_size: int,
        block_cache: BlockCache | None,
        pool: Executor,
        max_readahead: int = 32 * 1024 * 1024,
        known_blocks: KnownBlocks | None = None,
        buffers: AlignedBuffers | None = None,
        hashmaps: VersionHashmaps | None = None,
    ) -> None:
        self.buffers = buffers  # where GETs are received (the mount's shared pool)
        self.hashmaps = hashmaps  # block hashes per version, shared by the mount's readers
        self.known_blocks = known_blocks  # fed with every hashmap: the write path dedups on it
        self.store = store
        self.container = container
        self.info = info
        self.block_size = block_size
        self.cache = block_cache if block_size >= MIN_CACHED_BLOCK else None
        self.pool = pool
        self.seg_blocks = max(1, MIN_REQUEST // block_size)
        self.seg_bytes = self.seg_blocks * block_size
        self.nsegs = (info.size + self.seg_bytes - 1) // self.seg_bytes
        self.max_window = max(1, max_readahead // self.seg_bytes)
        self._lock = threading.Lock()
        # GUARDED_BY(_lock): segment index -> its pending or finished fetch;
        # INVARIANT: only segments within [current - 1, current + window] are kept.
        self._segments: dict[int, Future[memoryview]] = {}
        self._next_offset = 0  # where a sequential reader would read next
        self._window = 1  # segments to have in flight ahead of the current one
        self._hashes: list[str] | None = None  # GUARDED_BY(_lock) once set
        self._hashes_loaded = False
        self._hashes_lock = threading.Lock()  # one fetch of them at a time (see _block_hashes)
        self._closed = False  # GUARDED_BY(_lock)

    # -- public ------------------------------------------------------------
    def read(self, offset: int, size: int) -> bytes | memoryview:
        """Bytes [offset, offset+size) of the version, clamped to its size.

        A read inside one segment (nearly all FUSE reads: 1 MiB of a 4 MiB segment)
        returns a read-only view into the fetched segment, not a copy: on this
        path every copy of a gigabyte costs a visible share of the CPU. Reads
        spanning segments are joined into bytes. A view keeps its receive buffer
        from being reused until it is dropped.
        """
        end = min(offset + size, self.info.size)
        if offset >= end:
            return b""
        first, last = offset // self.seg_bytes, (end - 1) // self.seg_bytes
        futures = self._plan(offset, end, first, last)
        parts = []
        for index, fut in zip(range(first, last + 1), futures, strict=True):
            data = self._result(index, fut)
            base = index * self.seg_bytes
            parts.append(data[max(offset, base) - base : min(end, base + len(data)) - base])
        return parts[0].toreadonly() if len(parts) == 1 else b"".join(parts)

    def block(self, index: int) -> bytes:
        """Block `index` of this version (for the write path's unchanged blocks)."""
        seg = (index * self.block_size) // self.seg_bytes
        data = self._result(seg, self._segment_future(seg))
        lo = index * self.block_size - seg * self.seg_bytes
        return bytes(data[lo : lo + self.block_size])

    def _result(self, index: int, fut: Future[memoryview]) -> memoryview:
        """Segment `index`'s bytes, fetched again if its fetch was cancelled meanwhile.

        Handles of one file share its reader, so another thread's far read can move
        the window past a segment this thread waits for, and a commit closes the
        reader while reads of the old version are in flight: the waiting read still
        wants its bytes, not EIO. After a few lost races it fetches them itself.
        """
        for _ in range(3):
            try:
                return fut.result()
            except CancelledError:
                with self._lock:
                    if self._closed:  # nothing would drop a segment kept now: fetch it here
                        break
                    fut = self._segment_future_locked(index)
        return self._fetch_segment(index)

    def fetch_whole(self) -> None:
        """Start fetching a small object (one segment) before anyone reads it."""
        if self.nsegs == 1:
            self._segment_future(0)

    def fetched(self) -> bool:
        """Whether nothing of this reader is being fetched any more."""
        with self._lock:
            return all(f.done() for f in self._segments.values())

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for fut in self._segments.values():
                fut.cancel()
            self._segments.clear()

    # -- planning (sequential detection and read-ahead) ---------------------
    def _plan(self, offset: int, end: int, first: int, last: int) -> list[Future[memoryview]]:
        with self._lock:
            # The kernel's read-ahead sends several reads at once, served by different
            # FUSE threads: they arrive out of order by up to the kernel's window (1 MiB).
            # A read within a segment of the furthest position is still sequential;
            # calling it random cancelled the read-ahead and fetched segments again
            # (measured: 1.5x the file's bytes over the wire for a cold `cat`).
            sequential = abs(offset - self._next_offset) <= self.seg_bytes
            previous_last = (self._next_offset - 1) // self.seg_bytes
            if sequential and last > previous_last:
                self._window = min(self._window * 2, self.max_window)
            elif not sequential:
                self._window = 1
            self._next_offset = max(self._next_offset, end) if sequential else end
            ahead = self._window if sequential else 0
            front = max(last, (self._next_offset - 1) // self.seg_bytes)
            keep = range(first - 1, min(front + ahead, self.nsegs - 1) + 1)
            for index in [i for i in self._segments if i not in keep]:
                self._segments.pop(index).cancel()
            futures = [self._segment_future_locked(i) for i in range(first, last + 1)]
            # Read-ahead in runs: one GET for several segments once the reader is clearly
            # sequential (fewer, larger requests), one per segment before that.
            run = MAX_RUN if self._window >= MAX_RUN else 1
            missing = [i for i in range(last + 1, keep.stop) if self._needs_fetch_locked(i)]
            if keep.stop < self.nsegs:
                # The window slides a quarter segment per 1 MiB read: wait until a whole
                # run is missing, or every GET would fetch one segment (4x the requests).
                missing = missing[: len(missing) - len(missing) % run]
            for start in range(0, len(missing), run):
                self._submit_run_locked(missing[start : start + run])
            return futures

    def _segment_future(self, index: int) -> Future[memoryview]:
        with self._lock:
            return self._segment_future_locked(index)

    def _segment_future_locked(self, index: int) -> Future[memoryview]:
        if self._needs_fetch_locked(index):
            self._submit_run_locked([index])
        return self._segments[index]

    def _needs_fetch_locked(self, index: int) -> bool:
        fut = self._segments.get(index)
        return fut is None or fut.cancelled()

    def _submit_run_locked(self, indices: list[int]) -> None:
        """Fetch consecutive segments with one task (and one GET when none is cached)."""
        if len(indices) == 1 or indices[-1] - indices[0] != len(indices) - 1:
            for index in indices:
                self._segments[index] = self.pool.submit(self._fetch_segment, index)
            return
        futures: list[Future[memoryview]] = [Future() for _ in indices]
        for index, fut in zip(indices, futures, strict=True):
            self._segments[index] = fut
        self.pool.submit(self._fetch_run, indices, futures)

    def _fetch_run(self, indices: list[int], futures: list[Future[memoryview]]) -> None:
        live = [f.set_running_or_notify_cancel() for f in futures]
        try:
            if not any(live):
                return
            datas = self._fetch_segments(indices)
        except BaseException as exc:  # handed to the readers waiting on these segments
            for fut, running in zip(futures, live, strict=True):
                if running:
                    fut.set_exception(exc)
            return
        for fut, running, data in zip(futures, live, datas, strict=True):
            if running:
                fut.set_result(data)

    def _fetch_segments(self, indices: list[int]) -> list[memoryview]:
        """Several consecutive segments: from the cache if all are there, else one GET.

        The segments are views into the one response body (no copies); it stays
        in memory while any of them is kept.
        """
        hashes = self._block_hashes()
        cached = [self._cached_segment(i, hashes) for i in indices]
        if all(c is not None for c in cached):
            return cached  # type: ignore[return-value]
        start = indices[0] * self.seg_bytes
        end = min((indices[-1] + 1) * self.seg_bytes, self.info.size)
        data = self._read_pinned(start, end - start)
        if len(data) != end - start:
            raise Stale("object shorter than when opened", self.info.name)
        out = [data[i * self.seg_bytes - start : (i + 1) * self.seg_bytes - start] for i in indices]
        for index, segment in zip(indices, out, strict=True):
            self._cache_segment(index, segment, hashes)
        return out

    # -- fetching ----------------------------------------------------------
    def _block_hashes(self) -> list[str] | None:
        """The opened version's block hashes (one small request for multi-block objects).

        Fetched once: the read-ahead's segments start on several threads at once, and
        each needs them (three fetches of one hashmap were seen before this waited),
        and once per version across the mount's readers (`hashmaps`)."""
        with self._hashes_lock:
            with self._lock:
                if self._hashes_loaded:
                    return self._hashes
            hashes = self._fetch_hashes()
            with self._lock:
                self._hashes, self._hashes_loaded = hashes, True
        if hashes and self.known_blocks is not None:
            self.known_blocks.add_many(hashes)
        return hashes

    def _fetch_hashes(self) -> list[str] | None:
        info = self.info
        if info.size <= self.block_size:
            return [info.hash] if info.hash else None
        key = (self.container, info.name, info.version)
        if info.version and self.hashmaps is not None:
            known = self.hashmaps.get(key)
            if known is not None:
                return known
        try:
            hashes = self.store.get_hashmap(self.container, info.name, info.version or None).hashes
        except PithosError as exc:
            log.debug("no hashmap for %s (%s): reads are not cached", info.name, exc)
            return None
        if info.version and self.hashmaps is not None:
            self.hashmaps.put(key, hashes)
        return hashes

    def _fetch_segment(self, index: int) -> memoryview:
        hashes = self._block_hashes()
        cached = self._cached_segment(index, hashes)
        if cached is not None:
            return cached
        start = index * self.seg_bytes
        length = min(self.seg_bytes, self.info.size - start)
        data = self._read_pinned(start, length)
        if len(data) != length:
            raise Stale("object shorter than when opened", self.info.name)
        self._cache_segment(index, data, hashes)
        return data

    def _cached_segment(self, index: int, hashes: list[str] | None) -> memoryview | None:
        if hashes is None:
            return None
        start = index * self.seg_bytes
        first_block = start // self.block_size
        lengths = self._block_lengths(first_block, min(self.seg_bytes, self.info.size - start))
        return self._from_cache(hashes[first_block : first_block + len(lengths)], lengths)

    def _cache_segment(self, index: int, data: memoryview, hashes: list[str] | None) -> None:
        """Hand the blocks to the cache (stored off the read path).

        A whole block read from the pinned version is that version's block: stored as
        is. A partial last block is checked against its hash first, because the server
        may have cut it without rehashing (protocol.md 8): caching it under the longer block's
        hash would hand zeros to every other file sharing that block.
        """
        if hashes is None or self.cache is None:
            return
        first_block = index * self.seg_bytes // self.block_size
        pos = 0
        for i, block_len in enumerate(self._block_lengths(first_block, len(data))):
            block = data[pos : pos + block_len]
            trusted = block_len == self.block_size
            self.cache.put_later(hashes[first_block + i], block, trusted=trusted)
            pos += block_len

    def _block_lengths(self, first_block: int, length: int) -> list[int]:
        count = (length + self.block_size - 1) // self.block_size
        return [min(self.block_size, length - i * self.block_size) for i in range(count)]

    def _from_cache(self, hashes: list[str], lengths: list[int]) -> memoryview | None:
        if self.cache is None:
            return None
        parts = []
        for block_hash, length in zip(hashes, lengths, strict=True):
            block = self.cache.get(block_hash)
            if block is None:
                return None
            parts.append(block if len(block) == length else block.ljust(length, b"\0"))
        return memoryview(parts[0] if len(parts) == 1 else b"".join(parts))

    def _read_pinned(self, start: int, length: int) -> memoryview:
        """Bytes of the opened version: a replacement on the server cannot mix in.

        Received into a buffer of the mount's pool (see aligned_buffers.py), or
        a new one when the reader has no pool.
        """
        if self.buffers is not None and length >= POOLED_MIN:
            buf = self.buffers.take(length)
        else:  # a small object's bytes stay as long as its file is open: no pooled MiB for it
            buf = memoryview(bytearray(length))
        version = self.info.version
        if not version:  # moved on a server whose reply did not name the version: ask
            try:
                current = self.store.head_object(self.container, self.info.name)
            except NotFound:
                raise Stale("the opened object is gone", self.info.name) from None
            with self._lock:
                self.info = current
            return buf[: self._get(start, buf, current.version)]
        try:
            return buf[: self._get(start, buf, version)]
        except NotFound:
            pass
        # The version may have been superseded by a metadata-only change (same content) and
        # purged (`versioning=none`), or our number may predate such a change: same hash,
        # same bytes. Anything else means the content we opened is gone.
        try:
            current = self.store.head_object(self.container, self.info.name)
        except NotFound:
            raise Stale("the opened version is gone", self.info.name) from None
        if current.hash != self.info.hash or current.size != self.info.size:
            raise Stale("the opened version is gone", self.info.name)
        with self._lock:
            self.info = current
        return buf[: self._get(start, buf, current.version)]

    def _get(self, start: int, buf: memoryview, version: int | None) -> int:
        return self.store.read_range_into(self.container, self.info.name, start, buf, version)
