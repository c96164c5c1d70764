"""The local sparse file that holds a file's staged (not yet committed) bytes.

A staged file keeps its bytes at their logical offsets in an anonymous
temporary file: regions never written are holes, so a 1-byte edit of a
256 MiB object costs one block of disk, not 256 MiB, and nothing of the file
is held in memory. The file is unlinked from birth (O_TMPFILE where the
kernel has it), so a crash or kill leaves no staging garbage behind.

Not thread-safe on its own: the owning `StagedFile` serialises access.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import IO

log = logging.getLogger(__name__)


class StagingFile:
    """Positional reads and writes on a lazily created, self-deleting sparse file."""

    def __init__(self, directory: Path) -> None:
        self._directory = Path(directory)
        self._file: IO[bytes] | None = None
        self._closed = False

    def _fd(self) -> int:
        if self._closed:
            raise ValueError("staging file already closed")
        if self._file is None:
            self._directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._file = tempfile.TemporaryFile(
                dir=self._directory, prefix=".pithosfs-stage-", buffering=0
            )
        return self._file.fileno()

    def write(self, offset: int, data: bytes | memoryview) -> None:
        fd = self._fd()
        view = memoryview(data)
        while view:
            written = os.pwrite(fd, view, offset)
            view = view[written:]
            offset += written

    def read(self, offset: int, length: int) -> bytes:
        """`length` bytes at `offset`; whatever lies past the end of the file reads as zeros."""
        if length <= 0:
            return b""
        if self._file is None:
            return bytes(length)
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
            return
        fd = self._fd()
        if os.fstat(fd).st_size > length:
            os.ftruncate(fd, length)

    def allocated_bytes(self) -> int:
        """Disk space actually used (holes excluded)."""
        if self._file is None or self._closed:
            return 0
        return os.fstat(self._file.fileno()).st_blocks * 512

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._closed = True
