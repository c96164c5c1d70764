"""Receive buffers reused across block uploads: reuse, the bound, and no stale bytes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pithosfs import protocol
from pithosfs.server.blocks import MAX_PENDING_BLOCKS, BlockStore
from pithosfs.server.buffers import BufferPool
from pithosfs.server.errors import ClientDisconnected

from .test_backend_blocks import filler

BLOCK = 8192  # two pages: a short block leaves a stale page behind in a reused buffer


@pytest.fixture
def store(tmp_path: Path) -> BlockStore:
    s = BlockStore(tmp_path / "blocks", block_size=BLOCK)
    yield s
    s.close()


def no_nuls(size: int) -> bytes:
    return bytes(b or 1 for b in os.urandom(size))


def test_pool_hands_back_the_buffer_it_was_given() -> None:
    pool = BufferPool(4096)
    first = pool.take()
    pool.give(first)
    assert pool.take() is first


def test_pool_unmaps_buffers_beyond_its_bound() -> None:
    pool = BufferPool(4096, max_idle_bytes=3 * 4096)
    bufs = [pool.take() for _ in range(5)]
    for buf in bufs:
        pool.give(buf)
    assert pool.idle == 3
    assert [b.closed for b in bufs] == [False, False, False, True, True]
    pool.close()
    assert pool.idle == 0 and all(b.closed for b in bufs)


def test_consecutive_uploads_reuse_the_same_buffers(store: BlockStore) -> None:
    store.ingest(filler(no_nuls(BLOCK)), total=BLOCK)
    assert store._buffers.idle == 1
    kept = store._buffers._idle[0][0]
    store.ingest(filler(no_nuls(BLOCK)), total=BLOCK)
    assert store._buffers.idle == 1 and store._buffers._idle[0][0] is kept
    data = no_nuls(10 * BLOCK)
    store.ingest(filler(data), total=len(data))
    assert 1 <= store._buffers.idle <= MAX_PENDING_BLOCKS


@pytest.mark.parametrize("short", [1, 100, 4096, 4097, BLOCK - 1])
def test_short_block_after_a_full_one_stores_only_its_own_bytes(
    store: BlockStore, short: int
) -> None:
    """A reused buffer still holds the previous body: hashing or writing past the
    new body's end (or into the O_DIRECT padding) would leak those bytes."""
    store.ingest(filler(no_nuls(BLOCK)), total=BLOCK)
    data = no_nuls(short)
    hashes = store.ingest(filler(data), total=short)
    assert hashes == protocol.hashmap_of(data, BLOCK)
    assert store.path_of(hashes[0]).read_bytes() == data
    assert list(store.tmp_dir.iterdir()) == []


def test_short_block_ending_in_nuls_after_a_full_one(store: BlockStore) -> None:
    store.ingest(filler(no_nuls(BLOCK)), total=BLOCK)
    data = b"tail" + bytes(300)  # trailing NULs are stripped from the hash and the file
    hashes = store.ingest(filler(data), total=len(data))
    assert hashes == protocol.hashmap_of(data, BLOCK)
    assert store.read(hashes[0], len(data)) == data


def test_failed_upload_returns_its_buffers_and_leaves_no_files(store: BlockStore) -> None:
    data = no_nuls(3 * BLOCK)
    with pytest.raises(ClientDisconnected):
        store.ingest(filler(data, fail_after=2 * BLOCK), total=len(data))
    assert list(store.tmp_dir.iterdir()) == []
    assert 1 <= store._buffers.idle <= MAX_PENDING_BLOCKS
    hashes = store.ingest(filler(data), total=len(data))  # the buffers are still good
    assert hashes == protocol.hashmap_of(data, BLOCK)
    assert b"".join(store.read(h, BLOCK) for h in hashes) == data


def test_closing_the_store_unmaps_idle_buffers(tmp_path: Path) -> None:
    s = BlockStore(tmp_path / "blocks", block_size=BLOCK)
    s.ingest(filler(no_nuls(BLOCK)), total=BLOCK)
    kept = s._buffers._idle[0][0]
    s.close()
    assert kept.closed and s._buffers.idle == 0


def test_buffers_left_idle_while_others_are_used_are_unmapped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The pool follows the recent number of uploads at once, not the highest ever."""
    from pithosfs.server import buffers

    now = [1000.0]
    monkeypatch.setattr(buffers.time, "monotonic", lambda: now[0])
    pool = buffers.BufferPool(4096, max_idle_bytes=10 * 4096)
    peak = [pool.take() for _ in range(5)]  # a burst of uploads
    for buf in peak:
        pool.give(buf)
    assert pool.idle == 5
    for _ in range(3):  # then one upload at a time, for longer than IDLE_SECONDS
        now[0] += buffers.IDLE_SECONDS / 2
        pool.give(pool.take())
    assert pool.idle == 1 and sum(b.closed for b in peak) == 4
    pool.close()
