"""Byte ranges of stored blocks, handed to the HTTP layer before they are read.

Why: a GET used to read every block into a fresh Python bytes object and write
that to the socket. Profiled on a 1 GiB object (scripts/bench_server.py
--get-cpu), Python itself was a few percent of the server's CPU; the rest was
the kernel filling the page cache from disk (block files are written with
O_DIRECT, so a block is on disk only until something reads it), faulting in a
new 4 MiB buffer per block, and the two copies. A `BlockSlice` names the file
range instead, and `send` reads it into a reused, page-aligned buffer (from the
store's BufferPool: no page faults) and sends that:

- if the range is in the page cache (mincore), with a plain read;
- if not, and the block is not hot: with one O_DIRECT read. The disk DMAs into
  the buffer and the page cache is neither filled nor polluted; a buffered
  read of the same data costs 2-3x the CPU here. A mount reads a file once (it
  has its own cache), so its cold reads take this way;
- if not, but the block was served often lately (`RecentBlocks`): a buffered
  read, which leaves the block in the page cache for the reads after it.

After a response's first slice, reads from disk (O_DIRECT, or a hot block's
cache fill) run on a reader thread while the slice before is being sent. Not
sendfile(2): it saved the server ~0.1 s per GiB but cost the receiving side
(here curl; for a mount, the FUSE process, which is the bottleneck) 0.1-0.3 s
more, from a warm or a cold cache alike. It remains the fallback when no
buffer fits.

Any other consumer calls `read()` and gets the same bytes as ever.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import mmap
import os
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from pithosfs.server.buffers import BufferPool

ALIGN = 4096
# Reader threads for the slice read ahead while a response sends the one before.
READER_THREADS = 8
PAGE = mmap.PAGESIZE
# Zero padding is sent from one shared buffer, not allocated per slice.
_ZEROS = bytes(1024 * 1024)


@dataclass(frozen=True, slots=True)
class BlockSlice:
    """Bytes [offset, offset + length) of a block file, zero-padded past its end.

    `path` None is the empty (all-zero) block, which has no file. `buffers`
    (the block store's pool) lends the buffer for reads; without it,
    or with `cache` set, uncached bytes are read through the page cache.
    """

    path: Path | None
    offset: int
    length: int
    buffers: BufferPool | None = field(default=None, compare=False)
    cache: bool = False

    def read(self) -> bytes:
        if self.length <= 0:
            return b""
        if self.path is None:
            return bytes(self.length)
        with open(self.path, "rb", buffering=0) as f:
            if self.offset:
                f.seek(self.offset)
            data = f.read(self.length)
        if len(data) < self.length:
            data += bytes(self.length - len(data))
        return data

    def send(self, sock: socket.socket) -> int:
        """Write the slice to a blocking (or timeout) socket; returns its length.

        Raises what the socket raises (a disconnect or timeout), like sendall.
        """
        return self.start().finish(sock)

    def start(self, ahead: bool = False) -> Outgoing:
        """Open the slice, choose its way out, and read it if that way needs a read.

        `ahead`: a read from disk (O_DIRECT, or a hot block filling the page
        cache) runs on a reader thread, to overlap with sending the slice
        before this one. A read from the page cache is a memory copy and
        happens here: a thread hand-off would only add latency. (A hot block's
        fill used to run here too: a second GET of a 1 GiB object then read
        disk and socket in turn, 0.4-0.5x the speed of the first.)
        """
        if self.path is None or self.length <= 0:
            return Outgoing(self)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            end = min(self.offset + self.length, os.fstat(fd).st_size)
            if end <= self.offset:
                os.close(fd)
                return Outgoing(self)
            first = self.offset - self.offset % ALIGN
            span = -(-(end - first) // ALIGN) * ALIGN
            if self.buffers is None or span > self.buffers.size:
                return Outgoing(self, fd, end)
            read_fd = fd  # a buffered read: from the page cache, or into it when hot
            from_disk = not _cached(fd, self.offset, end)
            if from_disk and not self.cache:
                try:
                    read_fd = os.open(self.path, os.O_RDONLY | os.O_DIRECT)
                except OSError as exc:
                    if exc.errno != errno.EINVAL:  # EINVAL: no O_DIRECT on this filesystem
                        raise
            buf = self.buffers.take()
            args = (read_fd, read_fd != fd, buf, first, span, end)
            # A read that waits for the disk (O_DIRECT, or a hot block's cache
            # fill) overlaps with sending the slice before; a page-cache copy
            # is faster done here than handed to a thread.
            if from_disk and read_fd == fd:
                # A cache fill: ask for the whole span at once rather than in
                # read-ahead windows (1720 vs 1460 MiB/s for 4 MiB blocks here).
                os.posix_fadvise(fd, first, span, os.POSIX_FADV_WILLNEED)
            if ahead and from_disk:
                try:
                    future = _readers().submit(_read_span, *args)
                except BaseException:  # not submitted: nothing else will close or return them
                    os.close(read_fd)
                    self.buffers.give(buf)
                    raise
            else:
                future = Future()
                try:
                    future.set_result(_read_span(*args))
                except Exception as exc:  # raised again by finish(), as from a reader thread
                    future.set_exception(exc)
            return Outgoing(self, fd, end, (future, buf, first))
        except BaseException:
            os.close(fd)
            raise


class Outgoing:
    """A started slice: `finish` sends it, `close` gives up (after its read ends)."""

    def __init__(
        self,
        piece: BlockSlice,
        fd: int | None = None,
        end: int = 0,
        read: tuple[Future[int], mmap.mmap, int] | None = None,
    ) -> None:
        self.piece, self._fd, self._end, self._read = piece, fd, end, read

    def finish(self, sock: socket.socket) -> int:
        piece = self.piece
        try:
            sent = 0
            if self._read is not None:
                future, buf, first = self._read
                try:
                    got = future.result()
                except OSError as exc:
                    if exc.errno != errno.EINVAL:
                        raise
                    got = -1  # the filesystem refused O_DIRECT after all: sendfile
                if got >= 0:
                    have = max(min(self._end, first + got) - piece.offset, 0)
                    if have:
                        at = piece.offset - first
                        with memoryview(buf) as view:
                            sock.sendall(view[at : at + have])
                    sent = have
                elif self._fd is not None:
                    sent = _sendfile(sock, self._fd, piece.offset, self._end - piece.offset)
            elif self._fd is not None:
                sent = _sendfile(sock, self._fd, piece.offset, self._end - piece.offset)
            while sent < piece.length:  # the file ended early: zeros, as read() gives
                n = min(piece.length - sent, len(_ZEROS))
                sock.sendall(memoryview(_ZEROS)[:n])
                sent += n
            return sent
        finally:
            self.close()

    def close(self) -> None:
        if self._read is not None:
            future, buf, _ = self._read
            self._read = None
            future.exception()  # wait: the reader may still be writing into buf
            if self.piece.buffers is not None:
                self.piece.buffers.give(buf)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _read_span(fd: int, own_fd: bool, buf: mmap.mmap, first: int, span: int, end: int) -> int:
    """Read file bytes [first, first + span) into buf (stopping at `end`); returns the count.

    `own_fd`: close fd afterwards (the O_DIRECT descriptor opened for this read).
    """
    try:
        got = 0
        with memoryview(buf) as view:
            while first + got < end:
                n = os.preadv(fd, [view[got:span]], first + got)
                if not n:
                    break
                got += n
        return got
    finally:
        if own_fd:
            os.close(fd)


_reader_pool: ThreadPoolExecutor | None = None
_reader_lock = threading.Lock()


def _readers() -> ThreadPoolExecutor:
    global _reader_pool
    with _reader_lock:
        if _reader_pool is None:
            _reader_pool = ThreadPoolExecutor(
                max_workers=READER_THREADS, thread_name_prefix="block-reader"
            )
        return _reader_pool


class RecentBlocks:
    """Read counts of the last `capacity` block hashes served.

    A block is worth the page cache once it has been served `cache_after`
    times recently. An O_DIRECT read is the cheapest read there is (0.05 s of
    CPU per GiB here) while filling the cache costs 0.4-1.0 s, so the first
    read of a block (a mount reading back what it wrote: the mount has its own
    cache) does not fill it; a block asked for again is likely to be asked for
    once more (a public link, a second client) and is served from memory from
    its third read on.
    """

    def __init__(self, capacity: int = 8192, cache_after: int = 1) -> None:
        self.capacity = capacity
        self.cache_after = cache_after
        self._reads: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def hot(self, key: str) -> bool:
        """Record a read of `key`; True when it had been read `cache_after` times already."""
        with self._lock:
            before = self._reads.pop(key, 0)
            self._reads[key] = min(before + 1, self.cache_after)
            if len(self._reads) > self.capacity:
                self._reads.popitem(last=False)
            return before >= self.cache_after


def _sendfile(sock: socket.socket, fd: int, offset: int, count: int) -> int:
    with open(fd, "rb", buffering=0, closefd=False) as f:
        return sock.sendfile(f, offset, count)


# ---- mincore: is a file range in the page cache? ------------------------------------

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_MAP_FAILED = ctypes.c_void_p(-1).value
_mincore: Callable[..., int] | None  # None where libc has no mincore(2)
try:
    _mmap = _libc.mmap
    _mmap.restype = ctypes.c_void_p
    _mmap.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_long,
    ]
    _munmap = _libc.munmap
    _munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    _mincore_fn = _libc.mincore
    _mincore_fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    _mincore = _mincore_fn
except AttributeError:  # not Linux: no way to ask, treat everything as cached
    _mincore = None


def _cached(fd: int, start: int, end: int) -> bool:
    """True when every page of [start, end) of the file is in the page cache.

    Maps the range (no page is touched, so nothing is read) and asks mincore(2).
    """
    if _mincore is None:
        return True
    first = start - start % PAGE
    length = end - first
    addr = _mmap(None, length, mmap.PROT_READ, mmap.MAP_SHARED, fd, first)
    if addr is None or addr == _MAP_FAILED:
        return True
    try:
        pages = -(-length // PAGE)
        vec = ctypes.create_string_buffer(pages)
        if _mincore(addr, length, vec) != 0:
            return True
        return all(b & 1 for b in vec.raw)
    finally:
        _munmap(addr, length)


def is_plain_socket(sock: object) -> bool:
    """sendfile and sendall on the raw socket: kernel sockets only (not an SSL-wrapped one)."""
    return type(sock) is socket.socket and hasattr(os, "sendfile")
