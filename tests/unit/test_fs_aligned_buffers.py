"""AlignedBuffers: aligned receive buffers, reused only once no view of them is left."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from pithosfs.cache.block_file import is_page_aligned
from pithosfs.fs.aligned_buffers import SIZE_STEP, AlignedBuffers
from pithosfs.fs.read.reader import ObjectReader
from tests.unit.staged_fixtures import stored_object

MiB = 1024 * 1024


def address(view: memoryview) -> int:
    import ctypes

    return ctypes.addressof(ctypes.c_char.from_buffer(view))


def test_a_buffer_is_free_only_once_its_last_view_is_gone():
    pool = AlignedBuffers()
    view = pool.take(5 * MiB)
    where = address(view)
    assert len(view) == 5 * MiB and is_page_aligned(view)
    piece = view[MiB : 2 * MiB].toreadonly()  # what a FUSE read or a cache write holds
    del view
    assert pool.free_bytes() == 0  # the piece still refers to it
    del piece
    assert pool.free_bytes() == 5 * MiB
    again = pool.take(5 * MiB - 100)  # rounded to the same capacity: the same memory
    assert address(again) == where and pool.mapped == 1
    assert len(again) == 5 * MiB - 100


def test_buffers_in_use_are_never_handed_out_twice():
    pool = AlignedBuffers()
    views = [pool.take(SIZE_STEP) for _ in range(4)]
    for i, view in enumerate(views):
        view[:] = bytes([i]) * SIZE_STEP
    assert len({address(v) for v in views}) == 4
    assert [v[0] for v in views] == [0, 1, 2, 3]  # none overwrote another


def test_free_memory_is_bounded():
    pool = AlignedBuffers(max_free_bytes=2 * MiB)
    views = [pool.take(MiB) for _ in range(3)]
    del views
    assert pool.free_bytes() == 2 * MiB  # the third was unmapped


def test_free_buffers_are_unmapped_when_reads_stop():
    pool = AlignedBuffers(idle=0.05)
    pool.take(MiB)  # dropped at once: free
    assert pool.free_bytes() == MiB
    deadline = time.monotonic() + 5
    while pool.free_bytes() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert pool.free_bytes() == 0
    pool.take(MiB)
    assert pool.mapped == 2


def test_a_capacity_no_longer_asked_for_is_unmapped_while_reads_go_on():
    """Reads of many sizes must not keep a buffer of every size mapped for good."""
    pool = AlignedBuffers(idle=0.3)
    pool.take(9 * MiB)  # one read of an odd size, then only 1 MiB reads
    assert pool.free_bytes() == 9 * MiB
    deadline = time.monotonic() + 10
    while pool.free_bytes() > MiB and time.monotonic() < deadline:
        pool.take(MiB)  # reads go on: the pool is never idle as a whole
        time.sleep(0.02)
    assert pool.free_bytes() == MiB


@pytest.fixture
def read_pool():
    p = ThreadPoolExecutor(4)
    yield p
    p.shutdown()


def test_a_sequential_read_receives_into_few_reused_buffers(read_pool):
    bs = 4 * MiB
    store, data, info = stored_object(160 * MiB, bs)
    buffers = AlignedBuffers()
    reader = ObjectReader(store, "c", info, bs, None, read_pool, 32 * MiB, buffers=buffers)
    gets = 0
    original = store.read_range_into

    def counting(*args, **kwargs):
        nonlocal gets
        gets += 1
        return original(*args, **kwargs)

    store.read_range_into = counting
    for offset in range(0, len(data), MiB):
        chunk = reader.read(offset, MiB)
        assert chunk.readonly and chunk == data[offset : offset + MiB]
        del chunk
    reader.close()
    assert gets >= 12
    # Reused: about the read-ahead window's worth are mapped, not one per GET.
    assert buffers.mapped <= 8


def test_small_objects_are_not_received_into_pooled_buffers(read_pool):
    """A small file may stay open long: its bytes must not pin a pooled MiB."""
    store, data, info = stored_object(100 * 1024, 4 * MiB)
    buffers = AlignedBuffers()
    reader = ObjectReader(store, "c", info, 4 * MiB, None, read_pool, 32 * MiB, buffers=buffers)
    assert reader.read(0, MiB) == data
    assert buffers.mapped == 0
