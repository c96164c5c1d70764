"""Bounded on-disk LRU of blocks, keyed by their hash.

A block's hash names its content, so an entry can never be stale: it is shared
by every file and version that contains the block, and needs no invalidation.
Blocks are stored as the server hashes them, with trailing NUL bytes stripped
(protocol.md 7.1), and padded back by the reader, who knows the block's length.

The bound is `max_bytes` (--cache-size) and also the free space of the cache's
file system: blocks are evicted rather than fill the disk that staged writes need.

Files live under `<dir>/<hash[:2]>/<hash>` in a directory only the user can
read (0700): cached blocks are the user's data. Writes go to a temporary name
and are renamed into place, so a crash never leaves a torn block under its hash.
"""

from __future__ import annotations

import errno
import logging
import os
import tempfile
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from pithosfs import protocol
from pithosfs.cache.block_file import BlockFileWriter

log = logging.getLogger(__name__)

# Free space the cache leaves on its file system: 64 MiB, or a quarter of a small one.
MIN_FREE_BYTES = 64 * 1024 * 1024
MIN_FREE_DIVISOR = 4


class BlockCache:
    """Thread-safe; `max_bytes` bounds the bytes on disk (least recently used evicted)."""

    def __init__(self, directory: Path, max_bytes: int, algorithm: str = "sha256") -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.algorithm = algorithm
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.directory, 0o700)
        self._lock = threading.Lock()
        # GUARDED_BY(_lock): hash -> stored size, least recently used first;
        # INVARIANT: _used == sum(_index.values()) <= max_bytes after each put.
        self._index: OrderedDict[str, int] = OrderedDict()
        self._used = 0
        # GUARDED_BY(_lock): hashes whose file a thread is writing (put) or unlinking
        # (eviction, outside the lock). They are not in _index, and no other thread
        # touches their file meanwhile: a put of one is skipped rather than racing the
        # unlink (which could leave an indexed hash with no file).
        self._busy: set[str] = set()
        self.hits = 0
        self.misses = 0
        # Background writes (put_later): one thread, at most max_pending bytes waiting.
        self.max_pending = 16 * 1024 * 1024
        self._pending = 0  # GUARDED_BY(_lock)
        self._writer = ThreadPoolExecutor(1, "pithosfs-cache")
        self._files = BlockFileWriter()  # O_DIRECT where possible: see block_file.py
        self._load_existing()

    def _path(self, block_hash: str) -> Path:
        return self.directory / block_hash[:2] / block_hash

    def _load_existing(self) -> None:
        """Index blocks left by a previous mount, oldest access first."""
        found: list[tuple[float, str, int]] = []
        for sub in self.directory.iterdir():
            if not sub.is_dir() or len(sub.name) != 2:
                continue
            for f in sub.iterdir():
                if f.name.startswith("."):
                    f.unlink(missing_ok=True)  # a torn temporary from a crash
                    continue
                st = f.stat()
                found.append((st.st_atime, f.name, st.st_size))
        for _, name, size in sorted(found):
            self._index[name] = size
            self._used += size
        self._evict()

    def get(self, block_hash: str) -> bytes | None:
        """The stored (NUL-stripped) block, or None."""
        with self._lock:
            if block_hash not in self._index:
                self.misses += 1
                return None
            self._index.move_to_end(block_hash)
            self.hits += 1
        try:
            return self._path(block_hash).read_bytes()
        except FileNotFoundError:  # evicted meanwhile, or removed behind our back
            with self._lock:
                # Unless a put has stored it again since: then the entry is good.
                if not self._path(block_hash).exists():
                    self._used -= self._index.pop(block_hash, 0)
            return None

    def put(self, block_hash: str, block: bytes | memoryview, trusted: bool = False) -> bool:
        """Store a block under its hash; False (and nothing stored) if it does not match.

        `trusted`: the caller knows the content is the block's (a whole block read from
        a pinned version), so hashing it again is skipped. `block` may be a view into a
        larger buffer: it is written as is, without a copy, unless it ends in NULs.
        """
        data = _strip_trailing_nuls(block)
        if not trusted and protocol.block_hash_buffer(data, self.algorithm).hex() != block_hash:
            return False
        if len(data) > self.max_bytes:
            return True
        size = len(data)
        with self._lock:
            if block_hash in self._index:
                self._index.move_to_end(block_hash)
                return True
            if block_hash in self._busy:
                return True  # another thread is writing or unlinking this block's file
            self._busy.add(block_hash)
        stored = False
        try:
            # Not stored when even an empty cache leaves the disk too little room.
            stored = self._evict(incoming=size) and self._write_file(block_hash, data)
        finally:
            with self._lock:
                # One step with leaving _busy: an eviction may take it only once indexed.
                self._busy.discard(block_hash)
                if stored:
                    self._index[block_hash] = size
                    self._used += size
        if stored:
            self._evict()  # concurrent puts may together have passed the bound
        return True

    def _write_file(self, block_hash: str, data: bytes | memoryview) -> bool:
        """Write the block's file (temporary name, then rename); False if that failed."""
        target = self._path(block_hash)
        tmp = None
        try:
            target.parent.mkdir(mode=0o700, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".", dir=target.parent)
            try:
                self._files.write(fd, data)
            finally:
                os.close(fd)
            os.replace(tmp, target)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):  # a full disk is no bug: one line
                log.warning("block cache: %s, block %s not cached", exc.strerror, block_hash)
            else:
                log.warning("block cache write failed for %s", block_hash, exc_info=True)
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
            return False
        return True

    def _evict(self, incoming: int = 0) -> bool:
        """Evict least recently used blocks until `incoming` more bytes fit both bounds.

        The bounds: `max_bytes`, and the free space of the cache's file system, since
        cached blocks must never take the room that staged writes (same disk, by
        default) or anything else on it needs. Victims leave the index under the lock
        and their files are unlinked outside it (unlinking may wait on the disk;
        readers and writers of other blocks need not). False if even an empty cache
        leaves too little free space: the incoming block is then not cached.
        """
        while True:
            disk_short = self._disk_shortfall(incoming)
            victims: list[str] = []
            with self._lock:
                excess = max(self._used + incoming - self.max_bytes, disk_short)
                while excess > 0 and self._index:
                    victim, size = self._index.popitem(last=False)
                    self._used -= size
                    excess -= size
                    victims.append(victim)
                self._busy.update(victims)
            if not victims:
                return disk_short <= 0
            try:
                for victim in victims:
                    self._path(victim).unlink(missing_ok=True)
            finally:
                with self._lock:
                    self._busy.difference_update(victims)
            if disk_short <= 0:
                return True  # the size bound is met; the disk had room already

    def _disk_shortfall(self, incoming: int) -> int:
        """Bytes to free so that `incoming` more leave the disk's reserve (<= 0: none)."""
        try:
            fs = os.statvfs(self.directory)
        except OSError:
            return 0  # no answer: the write itself will tell
        total, free = fs.f_blocks * fs.f_frsize, fs.f_bavail * fs.f_frsize
        return min(MIN_FREE_BYTES, total // MIN_FREE_DIVISOR) - (free - incoming)

    def put_later(self, block_hash: str, block: bytes | memoryview, trusted: bool = False) -> None:
        """`put` on a background thread; dropped when too much is already waiting.

        Readers call this so that hashing and the disk write never delay a read.
        """
        with self._lock:
            if (
                block_hash in self._index
                or self._pending + len(block) > self.max_pending
                or len(block) > self.max_bytes  # includes a disabled cache (size 0)
            ):
                return
            self._pending += len(block)
        self._writer.submit(self._put_pending, block_hash, block, trusted)

    def _put_pending(self, block_hash: str, block: bytes | memoryview, trusted: bool) -> None:
        try:
            self.put(block_hash, block, trusted)
        finally:
            with self._lock:
                self._pending -= len(block)

    def flush(self) -> None:
        """Wait for background puts (tests, shutdown)."""
        self._writer.submit(lambda: None).result()

    def close(self) -> None:
        self._writer.shutdown(wait=True)

    @property
    def used_bytes(self) -> int:
        with self._lock:
            return self._used


def _strip_trailing_nuls(block: bytes | memoryview) -> bytes | memoryview:
    """The block as stored (protocol.md 7.1); no copy when it does not end in NUL, the usual case."""
    if not block or block[-1] != 0:
        return block
    return bytes(block).rstrip(b"\0")
