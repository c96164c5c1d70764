"""Byte ranges of stored blocks, handed to the HTTP layer before they are read.

Why: a GET used to read every block into a fresh Python bytes object and write
that to the socket. Profiled on a 1 GiB object (scripts/bench_server.py
--get-cpu), Python itself was a few percent of the server's CPU; the rest was
the kernel filling the page cache from disk (block files are written with
O_DIRECT, so a block is on disk only until something reads it), faulting in a
new 4 MiB buffer per block, and the two copies. A `BlockSlice` names the file
range instead, and `send` picks the cheapest way to the socket:

- the range is in the page cache (mincore): sendfile(2), no copy through
  user space;
- it is not, and the block was not served recently: one O_DIRECT read into
  a reused, page-aligned buffer, then a send. The disk DMAs into the buffer
  and the page cache is neither filled nor polluted; a buffered read of the
  same data costs 2-3x the CPU here. A mount reads a file once (it has its
  own cache), so its cold reads take this way;
- it is not, but the block was served recently (`RecentBlocks`): sendfile
  anyway, which leaves the block in the page cache, so data that is read again
  and again (a public link, several readers) is served from memory.

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
from dataclasses import dataclass, field
from pathlib import Path

from pithosfs.server.buffers import BufferPool

ALIGN = 4096
PAGE = mmap.PAGESIZE
# Zero padding is sent from one shared buffer, not allocated per slice.
_ZEROS = bytes(1024 * 1024)


@dataclass(frozen=True, slots=True)
class BlockSlice:
    """Bytes [offset, offset + length) of a block file, zero-padded past its end.

    `path` None is the empty (all-zero) block, which has no file. `buffers`
    (the block store's pool) lends the buffer for O_DIRECT reads; without it,
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
        sent = 0
        if self.path is not None and self.length > 0:
            fd = os.open(self.path, os.O_RDONLY)
            try:
                size = os.fstat(fd).st_size
                end = min(self.offset + self.length, size)
                if end > self.offset:
                    if self.cache or self.buffers is None or _cached(fd, self.offset, end):
                        sent = _sendfile(sock, fd, self.offset, end - self.offset)
                    else:
                        sent = self._send_direct(sock, fd, end)
            finally:
                os.close(fd)
        while sent < self.length:  # the file ended early: zeros, as read() gives
            n = min(self.length - sent, len(_ZEROS))
            sock.sendall(memoryview(_ZEROS)[:n])
            sent += n
        return sent

    def _send_direct(self, sock: socket.socket, fd: int, end: int) -> int:
        """O_DIRECT read of the aligned span around [offset, end), then one send."""
        assert self.path is not None and self.buffers is not None
        start = self.offset - self.offset % ALIGN
        span = -(-(end - start) // ALIGN) * ALIGN
        if span > self.buffers.size:
            return _sendfile(sock, fd, self.offset, end - self.offset)
        try:
            dfd = os.open(self.path, os.O_RDONLY | os.O_DIRECT)
        except OSError as exc:
            if exc.errno != errno.EINVAL:  # EINVAL: no O_DIRECT on this filesystem
                raise
            return _sendfile(sock, fd, self.offset, end - self.offset)
        buf = self.buffers.take()
        view = memoryview(buf)
        try:
            got = 0
            try:
                while start + got < end:
                    n = os.preadv(dfd, [view[got:span]], start + got)
                    if not n:
                        break
                    got += n
            except OSError as exc:
                if exc.errno != errno.EINVAL:
                    raise
                return _sendfile(sock, fd, self.offset, end - self.offset)
            have = min(end, start + got) - self.offset
            if have > 0:
                sock.sendall(view[self.offset - start : self.offset - start + have])
            return max(have, 0)
        finally:
            os.close(dfd)
            view.release()
            self.buffers.give(buf)


class RecentBlocks:
    """The last `capacity` block hashes served: a block seen again is worth caching."""

    def __init__(self, capacity: int = 8192) -> None:
        self.capacity = capacity
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def seen_again(self, key: str) -> bool:
        """Record `key`; True when it was among the recent ones already."""
        with self._lock:
            if key in self._seen:
                self._seen.move_to_end(key)
                return True
            self._seen[key] = None
            if len(self._seen) > self.capacity:
                self._seen.popitem(last=False)
            return False


def _sendfile(sock: socket.socket, fd: int, offset: int, count: int) -> int:
    with open(fd, "rb", buffering=0, closefd=False) as f:
        return sock.sendfile(f, offset, count)


# ---- mincore: is a file range in the page cache? ------------------------------------

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_MAP_FAILED = ctypes.c_void_p(-1).value
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
    _mincore = _libc.mincore
    _mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
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
