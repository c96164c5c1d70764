"""PlusFUSE: mfusepy's FUSE class with READDIRPLUS attributes, fast fills and reads.

The subclass is built by a function because its base, `mfusepy.FUSE`, exists
only once the binding is loaded (`mount.load_binding`, which must pick libfuse 3
before the first import of mfusepy).
"""

from __future__ import annotations

import ctypes
import errno
import itertools
import logging
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

from pithosfs.fs.fuse.device import KERNEL_READAHEAD_KIB, set_readahead_at_init
from pithosfs.fs.fuse.stat_fill import stat_filler

log = logging.getLogger(__name__)

MAX_OPEN_LISTINGS = 1024  # directory streams whose listing is kept (PlusFUSE)
FUSE_READDIR_PLUS = 1  # readdir flag from libfuse 3: the kernel asks for attributes too
FUSE_FILL_DIR_PLUS = 2  # filler flag: this entry carries full attributes


def plus_fuse_class(fuse: ModuleType) -> type:
    """mfusepy's FUSE, answering libfuse 3 READDIRPLUS with full attributes.

    The binding fills entries with their type only, so after a readdir the kernel
    still sends one LOOKUP per name that `ls -l` stats. Filling attributes (which
    the listing brought anyway) lets the kernel skip those round trips.
    Also used on libfuse 2 (which never calls readdir_fuse_3) for its `read`.
    """

    # `fuse` is the module load_binding imported at run time: the checker cannot see
    # a class of it as a type.
    class PlusFUSE(fuse.FUSE):  # type: ignore[name-defined]
        def __init__(self, operations: Any, mountpoint: str, *args: Any, **kwargs: Any) -> None:
            self.readahead_kib = kwargs.pop("readahead_kib", KERNEL_READAHEAD_KIB)
            self.mountpoint_path = Path(mountpoint)
            self.direct_io = kwargs.pop("direct_io_policy", None)  # DirectIoPolicy or None
            self._fill_stat = stat_filler(fuse, bool(getattr(operations, "use_ns", False)))
            super().__init__(operations, mountpoint, *args, **kwargs)

        def open(self, path: bytes, fip: Any) -> int:
            result = int(super().open(path, fip))
            self._choose_direct_io(fip.contents)
            return result

        def create(self, path: bytes, mode: int, fip: Any) -> int:
            """The binding's create, minus its per-call `inspect.signature` of ours
            (4-5% of the mount's Python samples during an untar)."""
            fi = fip.contents
            text = path.decode(self.encoding, self.errors)
            fi.fh = self.operations.create(text, mode, fi.flags)
            self._choose_direct_io(fi)
            return 0

        def fgetattr(self, path: bytes | None, buf: Any, fip: Any) -> int:
            """The binding's getattr, filling the struct in one step (see stat_filler).

            getattr is the commonest upcall (every lookup, every stat); the binding
            clears the struct and then sets each field through ctypes.
            """
            fh = (fip.contents if self.raw_fi else fip.contents.fh) if fip else None
            text = None if path is None else path.decode(self.encoding, self.errors)
            self._fill_stat(buf.contents, self.operations.getattr(text, fh))
            return 0

        def _choose_direct_io(self, fi: Any) -> None:
            """Writers past the kernel's page cache where that stays coherent (direct_writes)."""
            if self.direct_io is not None and self.direct_io.opened(fi.fh, fi.flags):
                fi.direct_io = 1

        def init_fuse_3(self, conn: Any, config: Any) -> None:
            set_readahead_at_init(conn, self.mountpoint_path, self.readahead_kib)
            super().init_fuse_3(conn, config)

        def init_fuse_2(self, conn: Any) -> None:
            set_readahead_at_init(conn, self.mountpoint_path, self.readahead_kib)
            super().init_fuse_2(conn)

        # Directory handle -> entries of a listing being returned in several calls.
        # Per handle, not per path: two listings of one directory that changes
        # between them each continue their own (keyed by path, the second replaced
        # the first's entries, which then went on at its offset in the new list:
        # an entry twice or one skipped). GUARDED_BY(_plus_lock)
        _plus_pending: dict[int, list[tuple[str, Any]]] = {}
        _plus_lock = threading.Lock()
        _dir_handles = itertools.count(1)  # GUARDED_BY(_plus_lock)

        def opendir(self, path: bytes, fip: Any) -> int:
            """The binding's opendir, then a handle of this open directory's own."""
            result = int(super().opendir(path, fip))
            with self._plus_lock:
                fip.contents.fh = next(self._dir_handles)  # Operations keeps no directory state
            return result

        def releasedir(self, path: bytes | None, fip: Any) -> int:
            with self._plus_lock:
                self._plus_pending.pop(fip.contents.fh, None)
            return int(super().releasedir(path, fip))

        def readdir_fuse_3(
            self, path: bytes | None, buf: Any, filler: Any, offset: int, fip: Any, flags: int
        ) -> int:
            plus = getattr(self.operations, "readdir_plus", None)
            if plus is None or path is None:
                return int(super().readdir_fuse_3(path, buf, filler, offset, fip, flags))
            decoded = path.decode(self.encoding, self.errors)
            st = fuse.c_stat()
            fill_stat = self._fill_stat
            # Non-zero offsets: libfuse hands our attributes to the kernel only in this mode
            # (with offset 0 it sends them without node ids, and the kernel looks each name
            # up again). A full buffer makes the kernel call again from the last offset.
            # The kernel asks READDIRPLUS first and may go on with plain READDIR (when
            # the reader stats nothing): both continue the one listing of this handle.
            with_attrs = bool(flags & FUSE_READDIR_PLUS)
            handle = fip.contents.fh
            entries = self._plus_entries(handle, decoded, offset, plus)
            for index in range(offset, len(entries)):
                name, attrs = entries[index]
                encoded = name.encode(self.encoding, self.errors)
                if attrs is None:
                    full = filler(buf, encoded, None, index + 1, 0)
                else:  # plain READDIR takes the type and inode number from it too
                    fill_stat(st, attrs)
                    full = filler(
                        buf, encoded, st, index + 1, FUSE_FILL_DIR_PLUS if with_attrs else 0
                    )
                if full != 0:
                    return 0
            return 0  # the listing stays until releasedir: a reader may call again at the end

        def getxattr(self, path: bytes, name: bytes, value: Any, size: int, *args: Any) -> int:
            """Namespaces other than user. end here, as ENOTSUP (see Operations.getxattr).

            `ls -l` asks this once per device; answering without an exception also keeps
            the binding from logging a debug traceback for it.
            """
            if not name.startswith(b"user."):
                if log.isEnabledFor(logging.DEBUG):  # counted by the upcall tests
                    log.debug("getxattr(%r, %r) -> ENOTSUP", path, name)
                return -errno.ENOTSUP
            return int(super().getxattr(path, name, value, size, *args))

        def read(self, path: bytes | None, buf: Any, size: int, offset: int, fip: Any) -> int:
            """The binding's read, also taking the views the reader hands out (no copy).

            The binding's own wrapper accepts only bytes; a view is copied straight
            into the kernel's buffer instead of being turned into bytes first.
            """
            fh = fip.contents if self.raw_fi else fip.contents.fh
            text = None if path is None else path.decode(self.encoding, self.errors)
            data = self.operations.read(text, size, offset, fh)
            count = len(data)
            if count > size:
                raise ValueError(f"read returned {count} bytes, more than the {size} asked")
            if count == 0:
                return 0
            if isinstance(data, bytes):
                ctypes.memmove(buf, data, count)
            else:
                target = (ctypes.c_char * count).from_address(ctypes.addressof(buf.contents))
                memoryview(target).cast("B")[:] = data
            return count

        def write(self, path: bytes | None, buf: Any, size: int, offset: int, fip: Any) -> int:
            """The binding's write, lending the kernel's bytes instead of copying them.

            The binding copies each request into a new bytes object first; for a
            sequential writer that was one of the two copies of every byte in the
            mount (writeback_memory copies each block once, into its aligned
            buffer). The view is valid during this call only: whatever keeps
            written bytes must copy them (Filesystem.write's contract).
            """
            fh = fip.contents if self.raw_fi else fip.contents.fh
            text = None if path is None else path.decode(self.encoding, self.errors)
            kernel = (ctypes.c_char * size).from_address(ctypes.addressof(buf.contents))
            lent = memoryview(kernel).cast("B").toreadonly()
            written = int(self.operations.write(text, lent, offset, fh))
            del lent
            # Views of `kernel` share one managed buffer that holds a reference to it:
            # a count above ours and getrefcount's means a view was kept.
            if sys.getrefcount(kernel) > 2:
                log.error("write to %s kept a view of the request buffer: a bug", text)
            return written

        def copy_file_range(
            self, path_in: bytes | None, fip_in: Any, off_in: int, path_out: bytes | None,
            fip_out: Any, off_out: int, size: int, flags: int,
        ) -> int:  # fmt: skip
            """The binding has the slot but no wrapper: hand the call on with plain fhs."""

            def text(path: bytes | None) -> str:
                return "" if path is None else path.decode(self.encoding, self.errors)

            return int(
                self.operations.copy_file_range(
                    text(path_in), fip_in.contents.fh, off_in, text(path_out),
                    fip_out.contents.fh, off_out, size, flags,
                )
            )  # fmt: skip

        def _plus_entries(
            self, handle: int, path: str, offset: int, plus: Any
        ) -> list[tuple[str, Any]]:
            """The entries of one directory listing, kept between its continuation calls.

            Offset 0 (opendir, or rewinddir) lists afresh; later offsets continue
            the listing this handle began.
            """
            with self._plus_lock:
                if offset > 0 and handle in self._plus_pending:
                    return self._plus_pending[handle]
            entries = [(".", None), ("..", None), *plus(path)]
            with self._plus_lock:
                self._plus_pending[handle] = entries
                # A bound in case a releasedir never comes; past it, the oldest open
                # stream is listed afresh if it reads on.
                while len(self._plus_pending) > MAX_OPEN_LISTINGS:
                    self._plus_pending.pop(next(iter(self._plus_pending)))
            return entries

    return PlusFUSE
