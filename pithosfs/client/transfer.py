"""Bulk transfers with the block/hashmap protocol (protocol.md 7.4, 7.5).

Memory is bounded by what is in flight, never by file size: downloads are
streamed 128 KiB at a time, upload bodies by file region (sendfile) or 1 MiB
pieces, and the streaming uploader holds at most `2 * workers` blocks.

- `upload_file` (pithosfs.client.uploads): dedup first when the server has
  the data (a re-upload costs one hashmap PUT), hashing pipelined with the
  block upload when it does not.
- `download_file`: pin the version, GET its hashmap, stream runs of needed
  blocks by ranged GETs into the destination, skipping blocks whose local
  bytes already hash right (resume) and writing zero blocks without a request.
- `StreamingUpload`: blocks are handed over as they are produced (the FUSE
  write path, while `cp` is still writing), uploaded in the background, and
  committed with one hashmap PUT.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pithosfs import protocol
from pithosfs.client.errors import MissingBlocks
from pithosfs.client.types import Hashmap, ObjectInfo

if TYPE_CHECKING:
    from pithosfs.client.pithos import PithosClient

log = logging.getLogger(__name__)

STREAM_BYTES = 256 * 1024 * 1024  # bytes per streamed ranged GET
# Ranged GETs in flight during a download. One: the server already reads the
# next block while it sends one, and two streams pwrite()ing one file contend
# for its inode lock. perf on a 1 GiB download with two: 25% of the client's
# CPU spinning in rwsem_spin_on_owner, taken from the server on a shared
# 2-core machine; same run, 4 rounds, one stream 971-2053 MiB/s vs two
# 341-742 (curl 1349-1547); see scripts/bench_client_results.md.
DOWNLOAD_STREAMS = 1


class _BoundedPool:
    """Submits to a shared executor; submit() blocks while `limit` of its tasks are unfinished.

    The executor belongs to the client and lives as long as it: reusing the
    same few threads keeps glibc from growing a malloc arena per short-lived
    thread, which otherwise shows up as RSS well above the bytes in flight.
    """

    def __init__(self, executor: Executor, limit: int) -> None:
        self._executor = executor
        self._slots = threading.BoundedSemaphore(limit)
        self._futures: list[Future[object]] = []  # GUARDED_BY(_lock)
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., object], *args: object) -> None:
        self._slots.acquire()
        try:
            fut = self._executor.submit(fn, *args)
        except BaseException:
            self._slots.release()
            raise
        fut.add_done_callback(lambda _f: self._slots.release())
        with self._lock:
            self._futures.append(fut)
            done = [f for f in self._futures if f.done()]
            for f in done:
                self._futures.remove(f)
        # Fail fast: surface an error from a finished task at the next submit.
        for f in done:
            f.result()

    def wait(self) -> None:
        with self._lock:
            pending, self._futures = self._futures, []
        for f in pending:
            f.result()

    def cancel(self) -> None:
        """Drop tasks not started yet and wait for the running ones (errors ignored)."""
        with self._lock:
            pending, self._futures = self._futures, []
        for f in pending:
            f.cancel()
        for f in pending:
            if not f.cancelled():
                f.exception()


def executor_of(client: object, workers: int) -> Executor:
    """The client's shared transfer executor, or a private one for stores without it (tests)."""
    get = getattr(client, "executor", None)
    if callable(get):
        return get()
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pithos-xfer")


def runs(indices: list[int], max_blocks: int) -> list[tuple[int, int]]:
    """Sorted indices grouped into (first, count) runs of consecutive blocks, at most max_blocks long."""
    out: list[tuple[int, int]] = []
    for index in sorted(set(indices)):
        if out and out[-1][0] + out[-1][1] == index and out[-1][1] < max_blocks:
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((index, 1))
    return out


@dataclass(frozen=True)
class DownloadResult:
    hashmap: Hashmap
    version: int
    fetched_blocks: int  # blocks fetched by ranged GETs (consecutive ones share a request)
    skipped_blocks: int  # already present locally (resume)
    zero_blocks: int  # written locally without a request


def download_file(
    client: PithosClient,
    container: str,
    name: str,
    dest: Path,
    version: int | None,
    resume: bool,
) -> DownloadResult:
    if not client.supports_pithos(container):
        return _download_whole(client, container, name, dest, version)
    # Pin one version so that blocks of a concurrent overwrite cannot mix in.
    pinned = version if version is not None else client.head_object(container, name).version
    hm = client.get_hashmap(container, name, version=pinned or None)
    bs, size = hm.block_size, hm.size
    empty = protocol.block_hash_hex(b"", hm.block_hash)
    mode = os.O_RDWR | os.O_CREAT | (0 if resume else os.O_TRUNC)
    fd = os.open(dest, mode, 0o644)
    try:
        local_size = os.fstat(fd).st_size
        todo: list[int] = []
        skipped = zeros = 0
        for index in range(protocol.block_count(size, bs)):
            start, end = index * bs, min(size, (index + 1) * bs)
            expected = hm.hashes[index]
            if resume and local_size >= end:
                local = os.pread(fd, end - start, start)
                if protocol.block_hash_hex(local, hm.block_hash) == expected:
                    skipped += 1
                    continue
            if expected == empty:
                os.pwrite(fd, b"\0" * (end - start), start)
                zeros += 1
                continue
            todo.append(index)
        _fetch_indices(client, container, name, pinned or None, fd, hm, todo)
        os.ftruncate(fd, size)
    finally:
        os.close(fd)
    return DownloadResult(hm, pinned, len(todo), skipped, zeros)


def _download_whole(
    client: PithosClient, container: str, name: str, dest: Path, version: int | None
) -> DownloadResult:
    """Plain Swift has no hashmaps: one streamed GET of the whole object, no resume."""
    info = client.head_object(container, name, version)
    fd = os.open(dest, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        if info.size:  # never a Range on an empty object
            client.stream_range_to_fd(container, name, 0, info.size, fd, version=version)
    finally:
        os.close(fd)
    hm = Hashmap(0, "", info.size, [])
    return DownloadResult(hm, info.version, 1 if info.size else 0, 0, 0)


def _fetch_indices(
    client: PithosClient,
    container: str,
    name: str,
    version: int | None,
    fd: int,
    hm: Hashmap,
    indices: list[int],
) -> None:
    # Long streamed ranges: measured on the embedded server, a streamed body
    # keeps up with curl where many 16 MiB GETs fall behind. One range per run
    # of consecutive wanted blocks (the blocks a resume skips split runs), cut
    # at STREAM_BYTES. Memory: one 128 KiB piece per stream.
    pool = _BoundedPool(executor_of(client, client.workers), DOWNLOAD_STREAMS)

    def work(first: int, count: int) -> None:
        start = first * hm.block_size
        length = min(hm.size, start + count * hm.block_size) - start
        client.stream_range_to_fd(container, name, start, length, fd, version=version)

    try:
        for first, count in runs(indices, max(1, STREAM_BYTES // hm.block_size)):
            pool.submit(work, first, count)
        pool.wait()
    finally:
        pool.cancel()


class StreamingUpload:
    """Upload blocks as they arrive; `commit()` writes the object with one hashmap PUT.

    Usage (the FUSE write path)::

        up = client.streaming_upload("cont", "big.iso")
        up.add_block(first_4mib)            # uploaded in the background
        up.put_hash(7, known_hash)          # reuse a block the server has (clean block)
        info = up.commit(size)              # waits for uploads, one PUT ?hashmap

    Every block except the last must be exactly the container's block size.
    `add_block` blocks the caller while 2*workers uploads are in flight, which
    bounds memory. Thread-safe: several writers may call put_block at once.
    """

    def __init__(
        self,
        client: PithosClient,
        container: str,
        name: str,
        content_type: str = protocol.OCTET_STREAM,
        meta: Mapping[str, str] | None = None,
        if_match: str | None = None,
        if_none_match: bool = False,
    ) -> None:
        self.client = client
        self.container = container
        self.name = name
        self.content_type = content_type
        self.meta = dict(meta or {})
        self.if_match = if_match
        self.if_none_match = if_none_match
        self.block_size, self.algorithm = client.block_params(container)
        self._lock = threading.Lock()
        self._hashes: dict[int, str] = {}
        self._lengths: dict[int, int] = {}
        self._sent: set[str] = set()
        self._next = 0
        self._executor = executor_of(client, client.workers)
        self._owns_executor = not callable(getattr(client, "executor", None))
        self._pool = _BoundedPool(self._executor, 2 * client.workers)
        self._closed = False

    def add_block(self, data: bytes) -> str:
        """Append the next block in order; returns its hash."""
        with self._lock:
            index = self._next
            self._next += 1
        return self.put_block(index, data)

    def put_block(self, index: int, data: bytes) -> str:
        """Set block `index` from data (uploaded unless already sent in this upload)."""
        if len(data) > self.block_size:
            raise ValueError(f"block of {len(data)} bytes exceeds block size {self.block_size}")
        digest = protocol.block_hash_hex(data, self.algorithm)
        with self._lock:
            self._check_open()
            self._hashes[index] = digest
            self._lengths[index] = len(data)
            self._next = max(self._next, index + 1)
            fresh = digest not in self._sent
            self._sent.add(digest)
        if fresh:
            self._pool.submit(self.client.upload_blocks, self.container, [data])
        return digest

    def put_hash(self, index: int, digest: str, length: int | None = None) -> None:
        """Reference a block the server already holds (e.g. an unchanged block of the old version)."""
        with self._lock:
            self._check_open()
            self._hashes[index] = digest
            self._lengths[index] = self.block_size if length is None else length
            self._next = max(self._next, index + 1)

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("upload already committed or aborted")

    def commit(self, size: int | None = None) -> ObjectInfo:
        """Wait for the uploads, then PUT the hashmap. `size` defaults to the sum of block lengths."""
        with self._lock:
            self._check_open()
            self._closed = True
        try:
            self._pool.wait()
        except BaseException:
            self._pool.cancel()
            raise
        finally:
            self._release_executor()
        count = self._next
        if size is None:
            size = sum(self._lengths.get(i, 0) for i in range(count))
        expected = protocol.block_count(size, self.block_size)
        absent = [i for i in range(expected) if i not in self._hashes]
        if absent:
            raise ValueError(f"blocks {absent[:5]} were never given")
        hashes = [self._hashes[i] for i in range(expected)]
        try:
            return self._put(size, hashes)
        except MissingBlocks as exc:
            # Only the empty block can be regenerated here; anything else is lost data.
            empty = protocol.block_hash_hex(b"", self.algorithm)
            if set(exc.hashes) != {empty}:
                raise
            self.client.upload_blocks(self.container, [b"\0"])
            return self._put(size, hashes)

    def _put(self, size: int, hashes: list[str]) -> ObjectInfo:
        return self.client.put_hashmap(
            self.container, self.name, size, hashes, self.content_type, self.meta,
            self.if_match, self.if_none_match,
        )  # fmt: skip

    def abort(self) -> None:
        with self._lock:
            self._closed = True
        self._pool.cancel()
        self._release_executor()

    def _release_executor(self) -> None:
        if self._owns_executor:
            self._executor.shutdown(wait=True)

    def __enter__(self) -> StreamingUpload:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is not None and not self._closed:
            self.abort()
