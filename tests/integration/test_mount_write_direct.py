"""Write-only handles bypass the kernel page cache, and other handles stay coherent with them.

The page cache of a file is observed with cachestat(2) (Linux 6.5+) on the
writer's own descriptor, which works on a write-only handle too.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import pytest

from tests.integration.conftest import Mount

SYS_CACHESTAT = 451  # x86_64 and the generic syscall table
MiB = 1024 * 1024


class _Range(ctypes.Structure):
    _fields_ = [("off", ctypes.c_uint64), ("len", ctypes.c_uint64)]


class _Stat(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_uint64)
        for name in ("cache", "dirty", "writeback", "evicted", "recently_evicted")
    ]


def cached_pages(fd: int) -> int:
    """Pages of the file behind `fd` in the page cache (the whole file)."""
    libc = ctypes.CDLL(None, use_errno=True)
    stat = _Stat()
    if libc.syscall(SYS_CACHESTAT, fd, ctypes.byref(_Range(0, 0)), ctypes.byref(stat), 0) != 0:
        err = ctypes.get_errno()
        if err == 38:  # ENOSYS: kernel older than 6.5
            pytest.skip("no cachestat(2) on this kernel")
        raise OSError(err, os.strerror(err))
    return int(stat.cache)


def test_a_lone_write_only_handle_leaves_no_page_cache_and_the_data_arrives(
    mnt: Path, session_mount: Mount
) -> None:
    data = os.urandom(3 * MiB + 12345)
    fd = os.open(mnt / "wo", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
        assert cached_pages(fd) == 0
    finally:
        os.close(fd)
    assert session_mount.client.read_object(mnt.name, "wo") == data
    assert (mnt / "wo").read_bytes() == data
    # The same write through a read-write handle still goes through the page cache
    # (the control: without it the check above could not fail).
    fd = os.open(mnt / "rw", os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
        assert cached_pages(fd) > 0
    finally:
        os.close(fd)
    assert session_mount.client.read_object(mnt.name, "rw") == data


def test_a_reader_opened_during_a_direct_write_sees_each_write_at_once(mnt: Path) -> None:
    """The reader's cached pages are dropped when the direct writer changes the file."""
    page = 65536
    writer = os.open(mnt / "f", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    reader = os.open(mnt / "f", os.O_RDONLY)
    try:
        os.write(writer, b"a" * MiB)
        assert cached_pages(writer) == 0  # the writer was alone at open: direct
        assert os.pread(reader, MiB, 0) == b"a" * MiB  # now cached for the reader
        assert cached_pages(reader) > 0
        os.pwrite(writer, b"b" * 8192, page)  # an overwrite inside cached pages
        want = b"a" * page + b"b" * 8192 + b"a" * (MiB - page - 8192)
        assert os.pread(reader, MiB, 0) == want
        os.write(writer, b"c" * 100)  # a growth past the cached end
        assert os.pread(reader, 2 * MiB, 0) == want + b"c" * 100
    finally:
        os.close(writer)
        os.close(reader)


def test_a_writer_opened_beside_a_reader_keeps_the_page_cache(mnt: Path) -> None:
    (mnt / "g").write_bytes(b"x" * 200_000)
    reader = os.open(mnt / "g", os.O_RDONLY)
    try:
        assert os.pread(reader, 300_000, 0) == b"x" * 200_000
        writer = os.open(mnt / "g", os.O_WRONLY)
        try:
            os.pwrite(writer, b"z" * 50, 0)
            assert cached_pages(writer) > 0  # not direct: the reader may have it mapped
            assert os.pread(reader, 300_000, 0) == b"z" * 50 + b"x" * 199_950
        finally:
            os.close(writer)
    finally:
        os.close(reader)


def test_pages_cached_before_a_direct_rewrite_are_not_read_after_it(mnt: Path) -> None:
    path = mnt / "h"
    path.write_bytes(b"A" * 300_000)
    assert path.read_bytes() == b"A" * 300_000  # cached, then closed
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, b"B" * 300_000)
    finally:
        os.close(fd)
    assert path.read_bytes() == b"B" * 300_000
