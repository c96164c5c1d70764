"""Reads arriving a little out of order (concurrent kernel read-ahead) are still sequential."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pytest

from pithosfs.client.fake import FakeStore
from pithosfs.fs.reader import ObjectReader

BS = 4 * 1024 * 1024
MiB = 1024 * 1024


@pytest.fixture
def pool():
    p = ThreadPoolExecutor(8)
    yield p
    p.shutdown()


def kernel_like_order(size: int) -> list[int]:
    """1 MiB reads, each pair swapped now and then, as two FUSE threads deliver them."""
    offsets = list(range(0, size, MiB))
    for i in range(3, len(offsets) - 1, 5):
        offsets[i], offsets[i + 1] = offsets[i + 1], offsets[i]
    return offsets


def test_out_of_order_reads_fetch_each_byte_once_in_few_requests(pool):
    store = FakeStore(block_size=BS)
    store.create_container("c")
    data = os.urandom(96 * MiB)
    store.put_object("c", "big", data)
    info = store.head_object("c", "big")
    fetched: list[int] = []  # lengths of the data GETs (the hashmap GET is not one)
    original = store.read_range

    def counting(*args, **kwargs):
        out = original(*args, **kwargs)
        fetched.append(len(out))
        return out

    store.read_range = counting
    reader = ObjectReader(store, "c", info, BS, None, pool, max_readahead=32 * MiB)
    for offset in kernel_like_order(len(data)):
        assert reader.read(offset, MiB) == data[offset : offset + MiB]
    assert sum(fetched) == len(data)  # nothing fetched twice
    assert len(fetched) <= len(data) // (4 * BS) + 4  # mostly 4-segment runs


def test_a_far_jump_is_random_and_resets_the_window(pool):
    store = FakeStore(block_size=BS)
    store.create_container("c")
    data = os.urandom(64 * MiB)
    store.put_object("c", "big", data)
    info = store.head_object("c", "big")
    reader = ObjectReader(store, "c", info, BS, None, pool, max_readahead=32 * MiB)
    for offset in range(0, 16 * MiB, MiB):
        reader.read(offset, MiB)
    assert reader._window > 1
    assert reader.read(48 * MiB, MiB) == data[48 * MiB : 49 * MiB]
    assert reader._window == 1
