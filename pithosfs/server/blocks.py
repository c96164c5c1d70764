"""Content-addressed block files.

A block is stored under the hex digest of its content with trailing NUL bytes
stripped (pithosfs.protocol.block_hash), so identical data is stored once for
every container and account. Reads pad with zeros up to the requested length,
which is why an all-zero block is simply the empty hash and is never written.

Durability: each block goes to a temp file, is fsync'ed, then renamed into
place, so a block file under its final name is always complete. Writing runs on
a small pool (`BlockBatch`) so disk flushes overlap with receiving the body.

Collection (block_gc.py): every way of storing a block takes a `PinSet` and pins
the block's hash before looking whether it exists, so the collector never
removes a block a running request is about to name.
"""

from __future__ import annotations

import errno
import functools
import logging
import mmap
import os
import queue
import threading
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pithosfs.protocol import DEFAULT_HASH_ALGORITHM, block_hash, block_hash_buffer
from pithosfs.server.block_gc import BlockGuard, PinSet
from pithosfs.server.block_slices import BlockSlice, RecentBlocks
from pithosfs.server.buffers import BufferPool

log = logging.getLogger(__name__)

# Blocks in flight per upload: bounds memory to this many blocks per request.
MAX_PENDING_BLOCKS = 4
WRITER_THREADS = 8
# O_DIRECT needs sector-aligned lengths and buffers; 4096 covers every common disk.
ALIGN = 4096


def _give_back(free: queue.Queue[mmap.mmap], buf: mmap.mmap, _done: Future[Any]) -> None:
    """A staged block's done-callback: its buffer is free for the next block."""
    free.put(buf)


class BlockStore:
    def __init__(self, root: Path, block_size: int, algorithm: str = DEFAULT_HASH_ALGORITHM):
        self.root = root
        self.block_size = block_size
        self.algorithm = algorithm
        self.empty_hash = block_hash(b"", algorithm).hex()
        self._direct_ok = hasattr(os, "O_DIRECT")
        self.tmp_dir = root / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self._clean_temp_files()
        self._pool = ThreadPoolExecutor(
            max_workers=WRITER_THREADS, thread_name_prefix="block-writer"
        )
        self._buffers = BufferPool(-(-block_size // ALIGN) * ALIGN)
        self._recent = RecentBlocks()
        self.guard = BlockGuard()

    def _clean_temp_files(self) -> None:
        """Leftovers of a crash mid-write are incomplete by definition: drop them."""
        for leftover in self.tmp_dir.iterdir():
            try:
                leftover.unlink()
            except OSError:  # another server on the same dir may own it
                pass

    def path_of(self, hex_hash: str) -> Path:
        return self.root / hex_hash[:2] / hex_hash

    def hash_of(self, data: bytes) -> str:
        return block_hash(data, self.algorithm).hex()

    def exists(self, hex_hash: str) -> bool:
        return hex_hash == self.empty_hash or self.path_of(hex_hash).exists()

    def missing(self, hashes: Iterable[str]) -> list[str]:
        """Hashes not in the store, deduplicated, in first-seen order (protocol.md 7.3)."""
        seen: set[str] = set()
        result: list[str] = []
        for h in hashes:
            if h in seen:
                continue
            seen.add(h)
            if not self.exists(h):
                result.append(h)
        return result

    def store(self, data: bytes, pins: PinSet | None = None) -> str:
        """Write one block durably (if new) and return its hash.

        `pins` (here and below): the caller's pins, held until its commit; without
        them the block is protected from the collector only while the call runs.
        """
        with self.guard.pinning(pins) as held:
            hex_hash, tmp = self.stage(data, held)
            if tmp is not None:
                self.publish(hex_hash, tmp)
            return hex_hash

    def stage(
        self, data: bytes, pins: PinSet, hex_hash: str | None = None
    ) -> tuple[str, Path | None]:
        """Hash (if needed) and write a new block to a temp file, not yet durable.

        Returns the temp path, or None when the block is already stored.
        """
        hex_hash = hex_hash or self.hash_of(data)
        pins.add(hex_hash)
        if self.exists(hex_hash):
            return hex_hash, None
        tmp = self.tmp_dir / f"{hex_hash}.{uuid.uuid4().hex}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        return hex_hash, tmp

    def publish(self, hex_hash: str, tmp: Path) -> None:
        """fsync a staged block, then rename it to its hash: complete or absent, never torn."""
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        target = self.path_of(hex_hash)
        target.parent.mkdir(exist_ok=True)
        os.replace(tmp, target)

    def read(self, hex_hash: str, length: int, offset: int = 0) -> bytes:
        """`length` bytes of the block starting at `offset`, zero-padded past its stored end."""
        path = None if hex_hash == self.empty_hash else self.path_of(hex_hash)
        return BlockSlice(path, offset, max(length, 0)).read()

    def slice(self, hex_hash: str, length: int, offset: int = 0) -> BlockSlice:
        """The same bytes as `read`, not yet read, for a response body (see block_slices)."""
        if hex_hash == self.empty_hash:
            return BlockSlice(None, offset, max(length, 0))
        hot = self._recent.hot(hex_hash)
        return BlockSlice(self.path_of(hex_hash), offset, max(length, 0), self._buffers, hot)

    def ingest(
        self,
        fill: Callable[[memoryview], int],
        total: int | None = None,
        pins: PinSet | None = None,
    ) -> list[str]:
        """Store a stream block by block; returns the block hashes once all are durable.

        `fill(view)` fills view completely or up to the end of the stream. Each
        block lands in a page-aligned buffer, is hashed and written (O_DIRECT when
        the filesystem allows: no page-cache copy, and the final fsync is cheap)
        on the pool while the next block is received. At most
        MAX_PENDING_BLOCKS buffers are in use per call, which bounds memory; with
        a known `total`, no more buffers than the body needs. Buffers come from,
        and go back to, the store's `BufferPool`: already-mapped memory, so a
        request does not pay page faults and zeroing for fresh pages. Only the
        pages a body touches count (a 1 KiB body maps one page of its buffer).
        """
        with self.guard.pinning(pins) as held:
            return self._ingest(fill, total, held)

    def _ingest(
        self, fill: Callable[[memoryview], int], total: int | None, pins: PinSet
    ) -> list[str]:
        consumed = 0
        free: queue.Queue[mmap.mmap] = queue.Queue()
        buffers: list[mmap.mmap] = []
        futures: list[Future[tuple[str, Path | None]]] = []
        view: memoryview | None = None
        try:
            while True:
                if total == 0:
                    break
                if free.empty() and len(buffers) < MAX_PENDING_BLOCKS:
                    buffers.append(self._buffers.take())
                    free.put(buffers[-1])
                buf = free.get()
                view = memoryview(buf)[: min(self.block_size, len(buf))]
                n = fill(view)
                view = None
                if n == 0:
                    free.put(buf)
                    break
                future = self._pool.submit(self._stage_buffer, buf, n, pins)
                future.add_done_callback(functools.partial(_give_back, free, buf))
                futures.append(future)
                consumed += n
                if n < self.block_size or (total is not None and consumed >= total):
                    break
            staged = [f.result() for f in futures]
            published = [self._pool.submit(self.publish, h, t) for h, t in staged if t]
            for publishing in published:
                publishing.result()
            return [h for h, _ in staged]
        except BaseException:
            for future in futures:
                try:
                    _h, tmp = future.result()
                except Exception:  # the write itself failed: nothing to remove
                    continue
                if tmp is not None:
                    tmp.unlink(missing_ok=True)
            raise
        finally:
            for future in futures:
                future.exception()  # wait: no worker may still use a buffer
            view = None  # drop our export of the last buffer
            for buf in buffers:  # no worker or reader writes to them any more
                self._buffers.give(buf)

    def _stage_buffer(self, buf: mmap.mmap, n: int, pins: PinSet) -> tuple[str, Path | None]:
        view = memoryview(buf)
        hex_hash = block_hash_buffer(view[:n], self.algorithm).hex()
        pins.add(hex_hash)
        if self.exists(hex_hash):
            return hex_hash, None
        tmp = self.tmp_dir / f"{hex_hash}.{uuid.uuid4().hex}"
        if self._direct_ok:
            try:
                self._write_file(tmp, view, n, direct=True)
                return hex_hash, tmp
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                # This filesystem refuses O_DIRECT (tmpfs, some overlays): stop trying.
                log.info("O_DIRECT not supported under %s; using buffered writes", self.root)
                self._direct_ok = False
        self._write_file(tmp, view, n, direct=False)
        return hex_hash, tmp

    @staticmethod
    def _write_file(tmp: Path, view: memoryview, n: int, direct: bool) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | (getattr(os, "O_DIRECT", 0) if direct else 0)
        padded = -(-n // ALIGN) * ALIGN if direct else n
        fd = os.open(tmp, flags, 0o644)
        try:
            view[n:padded] = bytes(padded - n)  # O_DIRECT writes whole aligned sectors
            pos = 0
            while pos < padded:
                pos += os.write(fd, view[pos:padded])
            if padded != n:
                os.ftruncate(fd, n)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)

    def batch(self, pins: PinSet | None = None) -> BlockBatch:
        return BlockBatch(self, pins)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        self._buffers.close()


class BlockBatch:
    """Blocks of one request: staged on the pool while the body streams in,
    made durable together by `finish()`.

    Why batch the fsyncs: one fsync per block while later blocks are still being
    written made every journal commit wait for the other writers' dirty pages;
    fsyncing the staged files together at the end lets the kernel write them in
    one sweep. `finish()` must return before a version referencing the blocks
    is committed; leaving the `with` block on an error removes staged files.
    """

    def __init__(self, store: BlockStore, pins: PinSet | None = None) -> None:
        self._store = store
        self._own_pins = pins is None
        self._pins = pins if pins is not None else store.guard.new_pins()
        self._staged: list[Future[tuple[str, Path | None]]] = []
        self._slots = threading.Semaphore(MAX_PENDING_BLOCKS)

    def __enter__(self) -> BlockBatch:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self.abort()
        if self._own_pins:
            self._pins.release()

    def add(self, data: bytes) -> str:
        """Hash now (the caller needs the digest at once), write in the background."""
        hex_hash = self._store.hash_of(data)
        self._pins.add(hex_hash)
        if not self._store.exists(hex_hash):
            self._submit(data, hex_hash)
        return hex_hash

    def add_async(self, data: bytes) -> Future[tuple[str, Path | None]]:
        """Hash and write in the background, so receiving the next block overlaps both."""
        return self._submit(data, None)

    def _submit(self, data: bytes, h: str | None) -> Future[tuple[str, Path | None]]:
        self._slots.acquire()
        future = self._store._pool.submit(self._store.stage, data, self._pins, h)
        future.add_done_callback(lambda _f: self._slots.release())
        self._staged.append(future)
        return future

    def finish(self) -> None:
        """Wait for every staged write, then fsync and rename them all; re-raise the first failure."""
        staged = [f.result() for f in self._staged]
        self._staged = []
        pool = self._store._pool
        published = [pool.submit(self._store.publish, h, tmp) for h, tmp in staged if tmp]
        for future in published:
            future.result()

    def abort(self) -> None:
        for future in self._staged:
            try:
                _h, tmp = future.result()
            except Exception:  # the write itself failed: nothing to remove
                continue
            if tmp is not None:
                tmp.unlink(missing_ok=True)
        self._staged = []
