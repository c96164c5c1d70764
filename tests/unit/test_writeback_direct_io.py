"""DirectIoPolicy: which handles bypass the kernel page cache (pithosfs/fs/fuse/page_cache_bypass.py)."""

from __future__ import annotations

import os

from pithosfs.fs.fuse.page_cache_bypass import DirectIoPolicy


def policy(counts: dict[int, int | None]) -> DirectIoPolicy:
    return DirectIoPolicy(counts.__getitem__)


def test_a_lone_write_only_handle_is_direct() -> None:
    p = policy({1: 1})
    assert p.opened(1, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    assert p.opened(1, os.O_WRONLY | os.O_APPEND)


def test_readers_and_read_write_handles_keep_the_cache() -> None:
    p = policy({1: 1})
    assert not p.opened(1, os.O_RDONLY)
    assert not p.opened(1, os.O_RDWR)


def test_a_writer_beside_other_handles_keeps_the_cache() -> None:
    assert not policy({1: 2}).opened(1, os.O_WRONLY)


def test_virtual_files_keep_the_cache() -> None:
    assert not policy({1: None}).opened(1, os.O_WRONLY)
