"""Loading the FUSE binding and running a mount (foreground, blocking).

mfusepy picks libfuse 2 when both are installed; libfuse 3 is asked for with
FUSE_LIBRARY_NAME=fuse3, which must be set before the first import. Options
differ per major version: libfuse 3 refuses `big_writes`/`max_write` (its
writes are already up to 1 MiB), libfuse 2 needs `big_writes` to go past
4 KiB writes.
"""

from __future__ import annotations

import ctypes.util
import logging
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from pithosfs.fs.core import Filesystem
from pithosfs.fs.errors import BadHandle
from pithosfs.fs.fuse.page_cache_bypass import DirectIoPolicy
from pithosfs.fs.fuse.plus_fuse import plus_fuse_class

log = logging.getLogger(__name__)

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
