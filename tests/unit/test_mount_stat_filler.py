"""The READDIRPLUS stat fillers of pithosfs/fs/fuse/stat_fill.py give the kernel the same bytes.

The packed filler (one struct.pack_into per entry, for the Linux 64-bit layout) must
write exactly what the binding's own generic filler and the per-field one write,
including times that differ from one another and ones before 1970.
"""

from __future__ import annotations

import ctypes
import stat

import pytest

mfusepy = pytest.importorskip("mfusepy")

from pithosfs.fs.fuse import stat_fill  # noqa: E402

ATTRS = [
    {"st_mode": stat.S_IFREG | 0o640, "st_ino": 2**63 + 5, "st_nlink": 1, "st_uid": 1000,
     "st_gid": 1001, "st_size": 5 * 2**40 + 3, "st_blksize": 4 * 2**20, "st_blocks": 11,
     "st_atime": 1_700_000_000_123_456_789, "st_mtime": 1_700_000_000_123_456_789,
     "st_ctime": 1_700_000_000_123_456_789},
    {"st_mode": stat.S_IFDIR | 0o755, "st_ino": 7, "st_nlink": 2, "st_uid": 0, "st_gid": 0,
     "st_size": 0, "st_blksize": 4096, "st_blocks": 0, "st_atime": 1,
     "st_mtime": -1_500_000_001, "st_ctime": 2_000_000_000_999_999_999},
]  # fmt: skip


def _fill(filler: object, attrs: dict[str, int]) -> bytes:
    st = mfusepy.c_stat()
    ctypes.memset(ctypes.byref(st), 0xAB, ctypes.sizeof(st))  # stale bytes of a reused struct
    filler(st, attrs)  # type: ignore[operator]
    return bytes(st)


def _generic(st: object, attrs: dict[str, int]) -> None:
    ctypes.memset(ctypes.byref(st), 0, ctypes.sizeof(st))  # type: ignore[call-overload]
    mfusepy.set_st_attrs(st, attrs, use_ns=True)


@pytest.mark.parametrize("attrs", ATTRS)
def test_packed_filler_writes_what_the_binding_writes(attrs: dict[str, int]) -> None:
    packed = stat_fill.packed_filler(mfusepy)
    if packed is None:
        pytest.skip("the binding's struct stat is not the Linux 64-bit layout here")
    assert _fill(packed, attrs) == _fill(_generic, attrs)


def test_stat_filler_uses_the_packed_one_on_linux_64() -> None:
    filler = stat_fill.stat_filler(mfusepy, use_ns=True)
    if stat_fill.packed_filler(mfusepy) is None:
        pytest.skip("the binding's struct stat is not the Linux 64-bit layout here")
    assert filler.__name__ == "packed"
    for attrs in ATTRS:
        assert _fill(filler, attrs) == _fill(_generic, attrs)
