"""Writing one cache file without passing its bytes through the page cache.

A cold read fills the block cache with every block it fetches. Buffered writes
copy each block into the page cache, and on the benchmark machine that copy was
the largest single cost of a cold read: about a third of the mount's CPU, more
than receiving the bytes (perf: `copy_folio_from_iter_atomic`; a 1 GiB buffered
write of 4 MiB files costs 0.8-1.6 s of CPU, the same with O_DIRECT 0.3 s, most
of it the copy into the aligned buffer below). A cached block is read back
rarely and soon enough from disk, so caching it twice (page cache and file) buys
little.

O_DIRECT needs an aligned address and length: a block in memory that is page
aligned already (a mount's reader receives GETs into aligned buffers) is
written as it is; others are copied into a page-aligned buffer of the writing
thread (an mmap) and written from there.
Lengths that are not a multiple of the alignment (a short last block) and file
systems without O_DIRECT (tmpfs) get an ordinary write.
"""

from __future__ import annotations

import ctypes
import fcntl
import mmap
import os
import threading

ALIGN = 4096  # covers 512- and 4096-byte logical blocks
MAX_DIRECT = 64 * 1024 * 1024  # larger blocks (not Pithos' 4 MiB) are written buffered


class BlockFileWriter:
    """Writes whole files to open descriptors; safe to share between threads."""

    def __init__(self, direct: bool = True) -> None:
        self.direct = direct and hasattr(os, "O_DIRECT")
        self._local = threading.local()  # per thread: its aligned buffer

    def write(self, fd: int, data: bytes | memoryview) -> None:
        """All of `data` to `fd` (at its current offset, a new empty file)."""
        view = memoryview(data).cast("B")
        if self.direct and len(view) % ALIGN == 0 and 0 < len(view) <= MAX_DIRECT:
            if self._write_direct(fd, view):
                return
        _write_all(fd, view)

    def _write_direct(self, fd: int, view: memoryview) -> bool:
        """False (nothing written) when this file system refuses O_DIRECT."""
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        try:
            fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_DIRECT)
        except OSError:
            self.direct = False
            return False
        if is_page_aligned(view):
            aligned = view[:]
        else:
            aligned = memoryview(self._buffer(len(view)))[: len(view)]
            aligned[:] = view
        try:
            _write_all(fd, aligned)
        except OSError:
            # Some file systems accept the flag and refuse the write (EINVAL): the file
            # is still empty or holds an aligned prefix; finish it buffered from there.
            done = os.lseek(fd, 0, os.SEEK_CUR)
            fcntl.fcntl(fd, fcntl.F_SETFL, flags)
            _write_all(fd, view[done:])
        finally:
            aligned.release()
        return True

    def _buffer(self, size: int) -> mmap.mmap:
        buf: mmap.mmap | None = getattr(self._local, "buf", None)
        if buf is None or len(buf) < size:
            if buf is not None:
                buf.close()
            buf = mmap.mmap(-1, size)  # anonymous mmaps are page aligned
            self._local.buf = buf
        return buf


def is_page_aligned(view: memoryview) -> bool:
    """Whether a writable view starts on a page boundary (read-only views: False:
    ctypes finds the address of writable buffers only)."""
    if view.readonly or not view.c_contiguous or len(view) == 0:
        return False
    return ctypes.addressof(ctypes.c_char.from_buffer(view)) % ALIGN == 0


def _write_all(fd: int, view: memoryview) -> None:
    done = 0
    while done < len(view):
        done += os.write(fd, view[done:])
