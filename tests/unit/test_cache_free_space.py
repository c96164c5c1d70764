"""The block cache never takes the last free space of its disk (staged writes need it)."""

from __future__ import annotations

import logging
import os
from types import SimpleNamespace

import pytest

from pithosfs import protocol
from pithosfs.cache import block_cache
from pithosfs.cache.block_cache import BlockCache

MiB = 1024 * 1024


class FakeDisk:
    """statvfs of a small disk whose free space follows the cache's files."""

    def __init__(self, directory, size: int) -> None:
        self.directory, self.size = directory, size

    def statvfs(self, path):
        used = sum(f.stat().st_size for f in self.directory.rglob("*") if f.is_file())
        return SimpleNamespace(f_frsize=1, f_blocks=self.size, f_bavail=max(0, self.size - used))


def block(n: int) -> tuple[str, bytes]:
    data = bytes([n + 1]) * MiB
    return protocol.block_hash_hex(data, "sha256"), data


@pytest.fixture
def small_disk(tmp_path, monkeypatch):
    disk = FakeDisk(tmp_path / "c", 8 * MiB)  # reserve: a quarter, 2 MiB
    monkeypatch.setattr(block_cache.os, "statvfs", disk.statvfs)
    return disk


def test_old_blocks_are_evicted_to_keep_the_reserve(tmp_path, small_disk):
    cache = BlockCache(tmp_path / "c", 1024 * MiB)  # the size bound alone would keep all
    hashes = []
    for n in range(10):
        h, data = block(n)
        assert cache.put(h, data, trusted=True)
        hashes.append(h)
    assert cache.used_bytes <= 6 * MiB
    assert small_disk.statvfs(None).f_bavail >= 2 * MiB
    assert cache.get(hashes[-1]) == block(9)[1]  # the newest are kept
    assert cache.get(hashes[0]) is None  # the oldest went


def test_a_block_larger_than_the_room_is_not_cached(tmp_path, small_disk):
    cache = BlockCache(tmp_path / "c", 1024 * MiB)
    data = os.urandom(7 * MiB)
    h = protocol.block_hash_hex(data, "sha256")
    assert cache.put(h, data, trusted=True)  # accepted, silently not stored
    assert cache.get(h) is None
    assert cache.used_bytes == 0


def test_a_full_disk_is_one_warning_line(tmp_path, monkeypatch, caplog):
    cache = BlockCache(tmp_path / "c", 1024 * MiB)

    def full(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(cache._files, "write", full)
    h, data = block(1)
    with caplog.at_level(logging.WARNING, logger="pithosfs.cache.block_cache"):
        assert cache.put(h, data, trusted=True)
    assert cache.get(h) is None
    assert [r.exc_info for r in caplog.records] == [None]
    assert "No space left" in caplog.records[0].getMessage()
    assert not [p for p in (tmp_path / "c").rglob("*") if p.is_file()]  # no temporary left
