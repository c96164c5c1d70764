"""Filling the binding's `struct stat` from a getattr-style dict, fast.

getattr and READDIRPLUS fill one struct per entry; mfusepy's generic filler looks
each key up and sets each field through ctypes, so where the struct has the
Linux 64-bit layout the whole struct is written at once.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable
from types import ModuleType
from typing import Any

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
