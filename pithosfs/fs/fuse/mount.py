"""Loading the FUSE binding and running a mount (foreground, blocking).

mfusepy picks libfuse 2 when both are installed; libfuse 3 is asked for with
FUSE_LIBRARY_NAME=fuse3, which must be set before the first import. Options
differ per major version: libfuse 3 refuses `big_writes`/`max_write` (its
writes are already up to 1 MiB), libfuse 2 needs `big_writes` to go past
4 KiB writes.
"""

from __future__ import annotations

import ctypes.util
import errno
import itertools
import logging
import os
import re
import shutil
import struct
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from pithosfs.fs.core import Filesystem
from pithosfs.fs.errors import BadHandle
from pithosfs.fs.fuse.page_cache_bypass import DirectIoPolicy

log = logging.getLogger(__name__)


KERNEL_READAHEAD_KIB = 1024
FUSE3_MAX_THREADS = 10  # libfuse 3's default number of worker threads


class FuseUnavailable(RuntimeError):
    """No usable libfuse, /dev/fuse or fusermount on this machine."""


def load_binding() -> ModuleType:
    """Import mfusepy, on libfuse 3 when it is installed, else libfuse 2."""
    if "mfusepy" not in sys.modules and "FUSE_LIBRARY_NAME" not in os.environ:
        if ctypes.util.find_library("fuse3"):
            os.environ["FUSE_LIBRARY_NAME"] = "fuse3"
    try:
        import mfusepy
    except (OSError, ImportError) as exc:
        raise FuseUnavailable(f"FUSE library not usable: {exc}") from None
    return mfusepy


def check_fuse_available() -> None:
    if not os.path.exists("/dev/fuse"):
        raise FuseUnavailable("/dev/fuse is missing (load the fuse module or install fuse3)")
    if os.geteuid() != 0 and not (shutil.which("fusermount3") or shutil.which("fusermount")):
        raise FuseUnavailable("fusermount3 is missing (install the fuse3 package)")


def mount_options(major: int, attr_timeout: float, extra: dict[str, Any]) -> dict[str, Any]:
    """The -o options for this libfuse major version; `extra` (from -o) wins."""
    opts: dict[str, Any] = {
        "fsname": "pithosfs",
        "subtype": "pithosfs",
        "use_ino": True,  # st_ino from object UUIDs: stable across renames
        "default_permissions": True,  # the kernel checks the stored mode bits
        "attr_timeout": attr_timeout,
        "entry_timeout": attr_timeout,
        "negative_timeout": 0,  # names created elsewhere show at the next lookup
    }
    if major == 2:
        opts["big_writes"] = True
        opts["max_read"] = 1024 * 1024
    else:
        for refused in ("big_writes", "max_write"):
            if extra.pop(refused, None) is not None:
                log.warning("ignoring -o %s: libfuse 3 refuses it", refused)
        # libfuse 3 mounts over anything and refuses the option; the command checked
        # the mount point (empty unless -o nonempty) before getting here.
        extra.pop("nonempty", None)
        # libfuse 3.12-3.14 hand their own default of "unlimited" idle threads to a
        # setter that rejects it, printing "Ignoring invalid max threads value
        # 4294967295" at every mount. Naming the bound avoids that: as many idle
        # threads as worker threads keeps every worker (no thread is ever retired,
        # as with the default).
        threads = str(extra.get("max_threads", ""))
        opts["max_idle_threads"] = int(threads) if threads.isdigit() else FUSE3_MAX_THREADS
    opts.update(extra)
    return opts


def parse_o(values: tuple[str, ...]) -> dict[str, Any]:
    """`-o a,b=1 -o c` -> {"a": True, "b": "1", "c": True}."""
    out: dict[str, Any] = {}
    for value in values:
        for item in filter(None, value.split(",")):
            key, sep, val = item.partition("=")
            out[key.strip()] = val if sep else True
    return out


def raise_kernel_readahead(mountpoint: Path, kib: int, timeout: float = 30.0) -> None:
    """Let the kernel read ahead `kib` KiB on this mount (its default is 128 KiB).

    FUSE can only lower the window at init; the per-device knob in sysfs raises it
    (root only; silently skipped otherwise). Run on a thread: it waits for the mount.
    The fallback of `set_readahead_at_init`, which has no race with the first reader.
    """
    deadline = time.monotonic() + timeout
    while not os.path.ismount(mountpoint):
        if time.monotonic() > deadline:
            return
        time.sleep(0.05)
    dev = os.stat(mountpoint).st_dev
    _write_readahead_knob(f"{os.major(dev)}:{os.minor(dev)}", kib)


def _write_readahead_knob(bdi: str, kib: int) -> bool:
    knob = Path(f"/sys/class/bdi/{bdi}/read_ahead_kb")
    try:
        knob.write_text(str(kib))
    except OSError as exc:
        log.debug("kernel read-ahead left at its default: %s", exc)
        return False
    log.debug("kernel read-ahead of %s set to %d KiB", bdi, kib)
    return True


def mounted_device(mountpoint: Path) -> str | None:
    """The "major:minor" of the file system mounted on `mountpoint`, from mountinfo.

    Read without touching the mount: during FUSE init a stat of it would wait for
    the very init reply we are preparing.
    """
    # The parent's real path only: resolving the mount point itself would stat it.
    absolute = Path(os.path.abspath(mountpoint))
    want = os.path.join(os.path.realpath(absolute.parent), absolute.name)
    found = None
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) > 4 and _unescape_mountinfo(fields[4]) == want:
            found = fields[2]  # the last one: a mount stacked over others is listed last
    return found


def _unescape_mountinfo(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def set_readahead_at_init(conn: Any, mountpoint: Path, kib: int) -> None:
    """In FUSE init: a `kib` KiB kernel read-ahead from the mount's first read on.

    The kernel keeps min(device knob, init reply's max_readahead): both are raised
    here, before the reply, so no reader opens a file with the 128 KiB default (a
    file keeps the window it was opened with; a knob written after the mount went
    live lost that race under load, and whole cold reads ran in 256 KiB requests).
    """
    if conn is not None:
        conn.contents.max_readahead = kib * 1024
    bdi = mounted_device(mountpoint)
    if bdi is None or not _write_readahead_knob(bdi, kib):
        threading.Thread(target=raise_kernel_readahead, args=(mountpoint, kib), daemon=True).start()


def limit_malloc_arenas() -> None:
    """Bound the memory glibc keeps after multi-MiB block buffers are freed.

    glibc raises its mmap threshold after the first large free, so later 4 MiB
    buffers come from per-thread arenas that keep freed memory: with the default
    8 arenas per core a mount's RSS creeps up to the sum of many threads' peaks.
    Two arenas keep it bounded (measured: about 85 MiB after a 1 GiB cold read,
    against 140 MiB) at no measurable cost; forcing every buffer through mmap
    instead bounded it further but slowed cold reads by about 40%.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_arena_max = -8
    libc.mallopt(m_arena_max, 2)


MAX_OPEN_LISTINGS = 1024  # directory streams whose listing is kept (PlusFUSE)
FUSE_READDIR_PLUS = 1  # readdir flag from libfuse 3: the kernel asks for attributes too
FUSE_FILL_DIR_PLUS = 2  # filler flag: this entry carries full attributes


STAT_KEYS = ("st_mode", "st_ino", "st_nlink", "st_uid", "st_gid", "st_size", "st_blksize",
             "st_blocks")  # fmt: skip
TIME_KEYS = ("st_atime", "st_mtime", "st_ctime")


def stat_filler(fuse: ModuleType, use_ns: bool) -> Callable[[Any, dict[str, Any]], None]:
    """A function filling the binding's `struct stat` from a getattr-style dict.

    The binding's `set_st_attrs` looks every key up generically; a readdir of
    10,000 entries fills 10,000 structs, so where the struct has the Linux layout
    the fields are assigned directly (all of them: no memset needed between uses).
    """
    names = {field[0] for field in fuse.c_stat._fields_}
    known = set(STAT_KEYS) | {key + "spec" for key in TIME_KEYS}
    if not use_ns or not known <= names:

        def generic(st: Any, attrs: dict[str, Any]) -> None:
            ctypes.memset(ctypes.byref(st), 0, ctypes.sizeof(st))
            fuse.set_st_attrs(st, attrs, use_ns=use_ns)

        return generic

    packed = packed_filler(fuse)
    if packed is not None:
        return packed

    def direct(st: Any, attrs: dict[str, Any]) -> None:
        get = attrs.get
        st.st_mode, st.st_ino, st.st_nlink = get("st_mode", 0), get("st_ino", 0), get("st_nlink", 0)
        st.st_uid, st.st_gid, st.st_size = get("st_uid", 0), get("st_gid", 0), get("st_size", 0)
        st.st_blksize, st.st_blocks = get("st_blksize", 0), get("st_blocks", 0)
        st.st_rdev = get("st_rdev", 0)
        for spec, ns in ((st.st_atimespec, get("st_atime", 0)),
                         (st.st_mtimespec, get("st_mtime", 0)),
                         (st.st_ctimespec, get("st_ctime", 0))):  # fmt: skip
            spec.tv_sec, spec.tv_nsec = divmod(int(ns), 10**9)

    return direct


# struct stat on Linux x86-64/aarch64 as mfusepy declares it: dev, ino, nlink, mode, uid,
# gid, pad, rdev, size, blksize, blocks, 3 timespecs, 3 reserved longs.
LINUX_64_STAT = (
    ("st_dev", "L"), ("st_ino", "L"), ("st_nlink", "L"), ("st_mode", "I"), ("st_uid", "I"),
    ("st_gid", "I"), ("__pad0", "i"), ("st_rdev", "L"), ("st_size", "l"), ("st_blksize", "l"),
    ("st_blocks", "l"), ("st_atimespec", "ll"), ("st_mtimespec", "ll"), ("st_ctimespec", "ll"),
    ("reserved", "lll"),
)  # fmt: skip


def _struct_codes(ctype: Any) -> str:
    if hasattr(ctype, "_fields_"):
        return "".join(_struct_codes(sub) for _, sub in ctype._fields_)
    if hasattr(ctype, "_length_"):
        return str(ctype._type_._type_) * int(ctype._length_)
    return str(ctype._type_)


def packed_filler(fuse: ModuleType) -> Callable[[Any, dict[str, Any]], None] | None:
    """A filler writing the whole struct with one struct.pack_into, or None if the
    binding's c_stat is not the Linux 64-bit layout (then fields are set one by one)."""
    fields = [(name, _struct_codes(ctype)) for name, ctype in fuse.c_stat._fields_]
    if fields != [(name, codes) for name, codes in LINUX_64_STAT]:
        return None
    layout = struct.Struct("@" + "".join(codes for _, codes in fields))
    if layout.size != ctypes.sizeof(fuse.c_stat):
        return None
    pack_into = layout.pack_into

    def packed(st: Any, attrs: dict[str, Any]) -> None:
        get = attrs.get
        atime, mtime, ctime = get("st_atime", 0), get("st_mtime", 0), get("st_ctime", 0)
        asec, ansec = divmod(int(atime), 10**9)
        if mtime == atime and ctime == atime:  # what to_stat gives: one division, not three
            msec, mnsec, csec, cnsec = asec, ansec, asec, ansec
        else:
            msec, mnsec = divmod(int(mtime), 10**9)
            csec, cnsec = divmod(int(ctime), 10**9)
        pack_into(
            st, 0, 0, get("st_ino", 0), get("st_nlink", 0), get("st_mode", 0), get("st_uid", 0),
            get("st_gid", 0), 0, get("st_rdev", 0), get("st_size", 0), get("st_blksize", 0),
            get("st_blocks", 0), asec, ansec, msec, mnsec, csec, cnsec, 0, 0, 0,
        )  # fmt: skip

    return packed


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


def file_handles(core: Filesystem) -> Callable[[int], int | None]:
    """For DirectIoPolicy: how many handles a handle's file has open (None: a virtual file)."""

    def handles_of(fh: int) -> int | None:
        if core.layers.owns(fh):
            return None
        try:
            return core.files.get(fh).refs  # a snapshot is enough (see direct_writes)
        except BadHandle:  # released already: whatever we answer, nobody writes through it
            return None

    return handles_of


def run(core: Filesystem, mountpoint: Path, extra_options: dict[str, Any]) -> None:
    """Mount and serve until unmounted (blocks). The core is closed on the way out."""
    fuse = load_binding()
    from pithosfs.fs.fuse.operations import Operations

    limit_malloc_arenas()
    core.mountpoint = os.path.realpath(mountpoint)  # as /proc shows callers' open files
    major = int(getattr(fuse, "fuse_version_major", 2))
    options = mount_options(major, core.opts.attr_timeout, dict(extra_options))
    log.info("mounting on %s with libfuse %s, options %s", mountpoint, major, options)
    try:
        fuse_class = plus_fuse_class(fuse)
        fuse_class(
            Operations(core), str(mountpoint), foreground=True, nothreads=False,
            direct_io_policy=DirectIoPolicy(file_handles(core)), **options,
        )  # fmt: skip
    finally:
        core.close()
