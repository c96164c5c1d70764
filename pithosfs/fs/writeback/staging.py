"""The local sparse file that holds a file's staged (not yet committed) bytes.

A staged file keeps its bytes at their logical offsets in an anonymous
temporary file: regions never written are holes, so a 1-byte edit of a
256 MiB object costs one block of disk, not 256 MiB, and nothing of the file
is held in memory. The file is unlinked from birth (O_TMPFILE where the
kernel has it), so a crash or kill leaves no staging garbage behind.

Small files never get a file at all: bytes within the first
`MEMORY_LIMIT` are kept in a bytearray until a write reaches past it (then
they move to the file). Why: an untar creates thousands of small files, and
creating, writing and closing a temporary file for each was a visible part
of the mount's time per file.

Not thread-safe on its own: the owning `StagedFile` serialises access, except
that once `ensure_open()` has run, positional writes of disjoint ranges may
come from several threads (the in-memory write path's pool tasks).
"""

from __future__ import annotations

import errno
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import IO

from pithosfs.cache.block_file import is_page_aligned

log = logging.getLogger(__name__)

IOV_MAX = 1024  # Linux limit on buffers per pwritev call
MEMORY_LIMIT = 256 * 1024  # staged bytes kept in memory before a file is created
DIRECT_ALIGN = 4096  # O_DIRECT offsets, lengths and buffer addresses are multiples of this
# posix_fallocate errors that mean "cannot reserve room here", not "no room".
_NO_FALLOCATE = (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL, errno.ENODEV)


class StagingFile:
    """Positional reads and writes on a lazily created, self-deleting sparse file."""

    def __init__(self, directory: Path, memory_limit: int = MEMORY_LIMIT) -> None:
        self._directory = Path(directory)
        self._file: IO[bytes] | None = None
        self._closed = False
        self._memory_limit = memory_limit
        self._memory = bytearray()  # the content while there is no file (short: zeros follow)
        self._direct_lock = threading.Lock()
        self._direct_fd: int | None = None  # GUARDED_BY(_direct_lock); -1: not supported here
        self._direct_refused: int | None = None  # a descriptor whose writes got EINVAL

    def _fits_in_memory(self, end: int) -> bool:
        return self._file is None and end <= self._memory_limit

    def _fd(self) -> int:
        if self._closed:
            raise ValueError("staging file already closed")
        if self._file is None:
            self._directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._file = tempfile.TemporaryFile(
                dir=self._directory, prefix=".pithosfs-stage-", buffering=0
            )
            if self._memory:
                self._pwrite_all(self._file.fileno(), memoryview(self._memory), 0)
                self._memory = bytearray()
        return self._file.fileno()

    @staticmethod
    def _pwrite_all(fd: int, view: memoryview, offset: int) -> None:
        while view:
            written = os.pwrite(fd, view, offset)
            view = view[written:]
            offset += written

    def ensure_open(self) -> None:
        """Create the file now (so that concurrent writers never race to create it)."""
        self._fd()

    def writev(self, offset: int, chunks: list[memoryview]) -> None:
        """Write consecutive chunks at `offset` with as few system calls as possible."""
        if self._fits_in_memory(offset + sum(len(c) for c in chunks)):
            self._write_memory(offset, b"".join(chunks))
            return
        fd = self._fd()
        views = [memoryview(c) for c in chunks if len(c)]
        while views:
            written = os.pwritev(fd, views[:IOV_MAX], offset)
            offset += written
            while views and written >= len(views[0]):
                written -= len(views[0])
                views.pop(0)
            if written:
                views[0] = views[0][written:]

    def write_direct(self, offset: int, chunks: list[memoryview]) -> None:
        """writev() of a whole block, bypassing the page cache where the file system allows.

        Why: copying a block into freshly allocated page-cache pages was the
        largest single cost of a sequential write (perf: 45% of the mount's
        CPU for a 1 GiB cp), and the block is rarely read back (it is uploaded
        from memory). A block gathered in one page-aligned buffer
        (writeback_memory's, which every complete block of the memory path is)
        goes to disk from there. Reads stay buffered and see these bytes (the
        kernel keeps direct and buffered I/O of one file coherent). Anything
        else, an unaligned range or buffer, or a file system that refuses
        O_DIRECT (tmpfs), is an ordinary writev().
        """
        direct = (
            len(chunks) == 1
            and not offset % DIRECT_ALIGN
            and not len(chunks[0]) % DIRECT_ALIGN
            and is_page_aligned(chunks[0])
        )
        fd = self._open_direct() if direct else -1
        if fd < 0 or not self._pwrite_direct(fd, chunks[0], offset):
            self.writev(offset, chunks)

    def _pwrite_direct(self, fd: int, view: memoryview, offset: int) -> bool:
        """pwrite an aligned view through the O_DIRECT descriptor; False if refused
        (EINVAL: the file system took the flag but not the write), remembered."""
        try:
            self._pwrite_all(fd, view, offset)
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            log.info("O_DIRECT refused for staging writes: %s", exc)
            with self._direct_lock:
                self._direct_fd = -1  # the descriptor stays open until close()
                self._direct_refused = fd
            return False
        return True

    def _open_direct(self) -> int:
        with self._direct_lock:
            if self._direct_fd is None:
                try:
                    self._direct_fd = os.open(
                        f"/proc/self/fd/{self._fd()}", os.O_WRONLY | os.O_DIRECT
                    )
                except OSError as exc:  # no O_DIRECT here (tmpfs) or no /proc
                    log.debug("staging without O_DIRECT: %s", exc)
                    self._direct_fd = -1
            return self._direct_fd

    def write(self, offset: int, data: bytes | memoryview) -> None:
        """Write `data` at `offset`, all or nothing on a full disk.

        The range's room is taken first (fallocate), so ENOSPC comes before any
        byte lands: a write() that fails leaves the staged content as it was,
        never a part of its bytes (which the next commit would carry). Where the
        file system cannot reserve room, the bytes are just written.
        """
        if self._fits_in_memory(offset + len(data)):
            self._write_memory(offset, data)
            return
        fd = self._fd()
        if data:
            try:
                os.posix_fallocate(fd, offset, len(data))
            except OSError as exc:
                if exc.errno not in _NO_FALLOCATE:
                    raise
        self._pwrite_all(fd, memoryview(data), offset)

    def _write_memory(self, offset: int, data: bytes | memoryview) -> None:
        if self._closed:
            raise ValueError("staging file already closed")
        if offset > len(self._memory):
            self._memory.extend(bytes(offset - len(self._memory)))
        self._memory[offset : offset + len(data)] = data

    def read(self, offset: int, length: int) -> bytes:
        """`length` bytes at `offset`; whatever lies past the end of the file reads as zeros."""
        if length <= 0:
            return b""
        if self._file is None:
            data = bytes(self._memory[offset : offset + length])
            return data + bytes(length - len(data))
        fd = self._fd()
        parts: list[bytes] = []
        got = 0
        while got < length:
            chunk = os.pread(fd, length - got, offset + got)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        data = b"".join(parts)
        return data if got == length else data + bytes(length - got)

    def shrink(self, length: int) -> None:
        """Cut the file to `length` (if longer), so bytes past it read as zeros again."""
        if self._file is None:
            del self._memory[length:]
            return
        fd = self._fd()
        if os.fstat(fd).st_size > length:
            os.ftruncate(fd, length)

    def allocated_bytes(self) -> int:
        """Space actually used (holes excluded; in memory while the file is small)."""
        if self._closed:
            return 0
        if self._file is None:
            return len(self._memory)
        return os.fstat(self._file.fileno()).st_blocks * 512

    def close(self) -> None:
        self._memory = bytearray()
        with self._direct_lock:
            for fd in (self._direct_fd, self._direct_refused):
                if fd is not None and fd >= 0:
                    os.close(fd)
            self._direct_fd = None
            self._direct_refused = None
        if self._file is not None:
            self._file.close()
            self._file = None
        self._closed = True
