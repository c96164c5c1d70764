"""Content-addressed block files.

A block is stored under the hex digest of its content with trailing NUL bytes
stripped (pithosfs.protocol.block_hash), so identical data is stored once for
every container and account. Reads pad with zeros up to the requested length,
which is why an all-zero block is simply the empty hash and is never written.

Durability: each block goes to a temp file, is fsync'ed, then renamed into
place, so a block file under its final name is always complete. Writing runs on
a small pool (`BlockBatch`) so disk flushes overlap with receiving the body.
"""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from pithosfs.protocol import DEFAULT_HASH_ALGORITHM, block_hash

log = logging.getLogger(__name__)

# Blocks in flight per upload: bounds memory to this many blocks per request.
MAX_PENDING_BLOCKS = 4
WRITER_THREADS = 8


class BlockStore:
    def __init__(self, root: Path, block_size: int, algorithm: str = DEFAULT_HASH_ALGORITHM):
        self.root = root
        self.block_size = block_size
        self.algorithm = algorithm
        self.empty_hash = block_hash(b"", algorithm).hex()
        self.tmp_dir = root / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self._clean_temp_files()
        self._pool = ThreadPoolExecutor(
            max_workers=WRITER_THREADS, thread_name_prefix="block-writer"
        )

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
        """Hashes not in the store, deduplicated, in first-seen order (spec 7.3)."""
        seen: set[str] = set()
        result: list[str] = []
        for h in hashes:
            if h in seen:
                continue
            seen.add(h)
            if not self.exists(h):
                result.append(h)
        return result

    def store(self, data: bytes, hex_hash: str | None = None) -> str:
        """Write one block durably (if new) and return its hash."""
        hex_hash = hex_hash or self.hash_of(data)
        if self.exists(hex_hash):
            return hex_hash
        target = self.path_of(hex_hash)
        target.parent.mkdir(exist_ok=True)
        tmp = self.tmp_dir / f"{hex_hash}.{uuid.uuid4().hex}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            tmp.unlink(missing_ok=True)
            raise
        os.close(fd)
        os.replace(tmp, target)
        return hex_hash

    def read(self, hex_hash: str, length: int, offset: int = 0) -> bytes:
        """`length` bytes of the block starting at `offset`, zero-padded past its stored end."""
        if length <= 0:
            return b""
        if hex_hash == self.empty_hash:
            return bytes(length)
        with open(self.path_of(hex_hash), "rb", buffering=0) as f:
            if offset:
                f.seek(offset)
            data = f.read(length)
        if len(data) < length:
            data += bytes(length - len(data))
        return data

    def batch(self) -> BlockBatch:
        return BlockBatch(self)

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class BlockBatch:
    """Blocks of one request, hashed by the caller and written on the pool.

    `finish()` must return before the version referencing them is committed.
    """

    def __init__(self, store: BlockStore) -> None:
        self._store = store
        self._pending: list[Future[str]] = []
        self._slots = threading.Semaphore(MAX_PENDING_BLOCKS)

    def add(self, data: bytes) -> str:
        """Hash now (the caller needs the digest at once), write in the background."""
        hex_hash = self._store.hash_of(data)
        if not self._store.exists(hex_hash):
            self._submit(self._store.store, data, hex_hash)
        return hex_hash

    def add_async(self, data: bytes) -> Future[str]:
        """Hash and write in the background, so receiving the next block overlaps both."""
        return self._submit(self._store.store, data, None)

    def _submit(
        self, fn: Callable[[bytes, str | None], str], data: bytes, h: str | None
    ) -> Future[str]:
        self._slots.acquire()
        future = self._store._pool.submit(fn, data, h)
        future.add_done_callback(lambda _f: self._slots.release())
        self._pending = [f for f in self._pending if not f.done() or f.exception()]
        self._pending.append(future)
        return future

    def finish(self) -> None:
        """Wait for every write; re-raise the first failure."""
        pending, self._pending = self._pending, []
        for future in pending:
            future.result()
