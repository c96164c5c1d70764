"""Reads arriving a little out of order (concurrent kernel read-ahead) are still sequential."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from pithosfs.fs.read.reader import ObjectReader
from tests.unit.staged_fixtures import stored_object

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
    store, data, info = stored_object(96 * MiB, BS)
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
    store, data, info = stored_object(64 * MiB, BS)
    reader = ObjectReader(store, "c", info, BS, None, pool, max_readahead=32 * MiB)
    for offset in range(0, 16 * MiB, MiB):
        reader.read(offset, MiB)
    assert reader._window > 1
    assert reader.read(48 * MiB, MiB) == data[48 * MiB : 49 * MiB]
    assert reader._window == 1


class HeldPool:
    """An executor that starts no task until `release()`: fetches stay pending (cancellable)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued: list[tuple[Future, object, tuple]] = []
        self._released = False
        self._pool = ThreadPoolExecutor(4)

    def submit(self, fn, *args):
        with self._lock:
            if self._released:
                return self._pool.submit(fn, *args)
            fut: Future = Future()
            self._queued.append((fut, fn, args))
            return fut

    def release(self) -> None:
        with self._lock:
            self._released = True
            queued, self._queued = self._queued, []
        for fut, fn, args in queued:
            if fut.set_running_or_notify_cancel():  # a cancelled one is never run
                self._pool.submit(lambda f=fut, g=fn, a=args: f.set_result(g(*a)))

    def shutdown(self) -> None:
        self._pool.shutdown()


@pytest.mark.parametrize("cancel", ["close", "far read"])
def test_a_read_whose_fetch_is_cancelled_meanwhile_still_gets_its_bytes(cancel):
    """A commit closes the shared reader, or another handle jumps far: no EIO for the waiter."""
    store, data, info = stored_object(64 * MiB, BS)
    held = HeldPool()
    reader = ObjectReader(store, "c", info, BS, None, held, max_readahead=32 * MiB)
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(bytes(reader.read(0, MiB))))
    waiter.start()
    time.sleep(0.2)  # the waiter is blocked on segment 0's pending fetch
    if cancel == "close":
        reader.close()
    else:
        other = threading.Thread(target=reader.read, args=(48 * MiB, MiB))
        other.start()
        time.sleep(0.2)
    held.release()
    waiter.join(10)
    held.shutdown()
    assert got == [data[:MiB]]
