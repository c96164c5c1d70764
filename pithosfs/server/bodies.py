"""Reading request bodies block by block, and re-readable spools for partial updates.

Nothing here holds a whole body in memory: readers hand out at most one block.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, Protocol

from pithosfs.server.errors import BadRequest, ClientDisconnected

log = logging.getLogger(__name__)

SPOOL_IN_MEMORY = 16 * 1024 * 1024
STREAM_PIECE = 256 * 1024


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class RequestBody:
    """The body of one request: `length` bytes, or until EOF when chunked (length None)."""

    def __init__(self, stream: Readable, length: int | None, max_size: int) -> None:
        self._stream = stream
        self.length = length
        self._remaining = length
        self._max = max_size
        self.received = 0
        # Called with every chunk read, e.g. to compute an MD5 while streaming.
        self.on_data: Callable[[bytes | memoryview], None] | None = None

    def read(self, n: int) -> bytes:
        """Up to n bytes; fewer only at the end of the body. Short declared bodies raise."""
        if self._remaining is not None:
            n = min(n, self._remaining)
        if n <= 0:
            return b""
        parts: list[bytes] = []
        got = 0
        while got < n:
            chunk = _guarded(self._stream.read, n - got)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        self.received += got
        if self._remaining is not None:
            self._remaining -= got
            if got < n:
                raise ClientDisconnected("body ended early")
        if self.received > self._max:
            raise BadRequest("Maximum size is reached")
        if self.on_data is not None and data:
            self.on_data(data)
        return data

    def readinto(self, view: memoryview) -> int:
        """Fill `view` completely, or as far as the body goes; returns the byte count.

        With cheroot's known-length input over our fast reader, bytes go from the
        socket straight into `view` (no intermediate copies).
        """
        want = len(view) if self._remaining is None else min(len(view), self._remaining)
        rfile = getattr(self._stream, "rfile", None)
        direct = hasattr(rfile, "readinto_fast") and hasattr(self._stream, "remaining")
        got = 0
        if direct and self._remaining is not None:
            while got < want:
                n = _guarded(rfile.readinto_fast, view[got:want])  # type: ignore[union-attr]
                if not n:
                    break
                got += n
            self._stream.remaining -= got  # type: ignore[attr-defined]
        else:
            while got < want:
                # Small pieces: cheroot's chunked reader concatenates bytes per
                # chunk, which is quadratic in the size asked for.
                data = _guarded(self._stream.read, min(want - got, STREAM_PIECE))
                if not data:
                    break
                view[got : got + len(data)] = data
                got += len(data)
        self.received += got
        if self._remaining is not None:
            self._remaining -= got
            if got < want:
                raise ClientDisconnected("body ended early")
        if self.received > self._max:
            raise BadRequest("Maximum size is reached")
        if self.on_data is not None and got:
            self.on_data(view[:got])
        return got

    def blocks(self, block_size: int) -> Iterator[bytes]:
        while True:
            data = self.read(block_size)
            if not data:
                return
            yield data
            if len(data) < block_size:
                return

    def drain(self) -> None:
        """Consume what is left so the connection stays usable after an early error."""
        try:
            while self.read(1024 * 1024):
                pass
        except (ClientDisconnected, BadRequest, OSError):
            pass

    def spool(self, tmp_dir: Path) -> Spool:
        """Copy the body into a re-readable spool (memory up to 16 MiB, then a temp file)."""
        f = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY, dir=str(tmp_dir))
        for chunk in self.blocks(1024 * 1024):
            f.write(chunk)
        return Spool(f, self.received)


def _guarded(read: Callable[[Any], Any], arg: Any) -> Any:
    """A socket error or timeout while reading a body is a disconnect, not a server fault."""
    try:
        return read(arg)
    except OSError as exc:
        raise ClientDisconnected(str(exc)) from exc


class Spool:
    def __init__(self, f: IO[bytes], size: int) -> None:
        self._f = f
        self.size = size

    def reader(self) -> Callable[[int], bytes]:
        self._f.seek(0)
        return self._f.read

    def close(self) -> None:
        self._f.close()
