"""Eviction unlinks files outside the cache's lock, and the index still matches the disk."""

from __future__ import annotations

import os
import random
import threading
from pathlib import Path

import pytest

from pithosfs import protocol
from pithosfs.cache.block_cache import BlockCache

WAIT = 5.0  # seconds any step here may take before the test counts it as stuck


def block(n: int) -> tuple[str, bytes]:
    data = bytes([n + 1]) * 100
    return protocol.block_hash_hex(data), data


def assert_matches_disk(cache: BlockCache) -> None:
    """Every indexed block has its file, every file is indexed, and the byte count agrees."""
    on_disk = {f.name: f.stat().st_size for f in cache.directory.rglob("*") if f.is_file()}
    assert dict(cache._index) == on_disk
    assert cache.used_bytes == sum(on_disk.values()) <= cache.max_bytes


class SlowUnlink:
    """os.unlink that stops on one file until released (a disk slow to free a block)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
        self.name = name
        self.entered = threading.Event()
        self.release = threading.Event()
        self._real = os.unlink
        monkeypatch.setattr(os, "unlink", self)

    def __call__(self, path, *args, **kw):  # type: ignore[no-untyped-def]
        if Path(path).name == self.name:
            self.entered.set()
            self.release.wait(WAIT)
        return self._real(path, *args, **kw)


def in_thread(fn, *args):  # type: ignore[no-untyped-def]
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(fn(*args)), daemon=True)
    thread.start()
    return thread, result


def test_readers_and_writers_do_not_wait_for_an_unlink(tmp_path, monkeypatch):
    cache = BlockCache(tmp_path, max_bytes=250)
    (old, old_data), (kept, kept_data), (new, new_data) = block(0), block(1), block(2)
    cache.put(old, old_data)
    cache.put(kept, kept_data)
    slow = SlowUnlink(monkeypatch, old)
    try:
        evicting, _ = in_thread(cache.put, new, new_data)  # evicts `old`, the least recent
        assert slow.entered.wait(WAIT)
        reader, got = in_thread(cache.get, kept)
        reader.join(1.0)
        assert got == [kept_data], "get() waited for another block's unlink"
        again, stored = in_thread(cache.put, old, old_data)  # the block being unlinked
        again.join(1.0)
        assert stored == [True], "put() waited for an unlink"
    finally:
        slow.release.set()
    evicting.join(WAIT)
    assert_matches_disk(cache)  # the skipped put left no indexed block without a file
    assert cache.get(old) is None
    cache.put(old, old_data)  # once unlinked, the block is cached again as usual
    assert cache.get(old) == old_data
    assert_matches_disk(cache)


def test_concurrent_puts_and_gets_keep_the_index_true_to_the_disk(tmp_path):
    cache = BlockCache(tmp_path, max_bytes=1000)  # room for 10 of the 30 blocks
    blocks = [block(n) for n in range(30)]
    errors: list[BaseException] = []

    def churn(seed: int) -> None:
        rng = random.Random(seed)
        try:
            for _ in range(300):
                h, data = rng.choice(blocks)
                if rng.random() < 0.5:
                    assert cache.put(h, data)
                else:
                    assert cache.get(h) in (None, data)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=churn, args=(seed,)) for seed in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert_matches_disk(cache)
    assert cache.used_bytes > 0
