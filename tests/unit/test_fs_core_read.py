"""Reads through the core on the FakeStore: ranges, read-ahead, block cache, versions."""

import os
import threading

import pytest

from pithosfs.client.fake import FakeStore
from pithosfs.fs.core import Filesystem
from pithosfs.fs.options import FsOptions
from pithosfs.fs.read.reader import ObjectReader

BS = 64 * 1024  # the smallest block size the disk cache keeps


@pytest.fixture
def store():
    s = FakeStore(block_size=BS)
    s.create_container("c")
    return s


@pytest.fixture
def fs(store, tmp_path):
    f = Filesystem(store, FsOptions(cache_dir=tmp_path / "cache", max_readahead=8 * 1024 * 1024))
    yield f
    f.close()


def read_all(fs, path, chunk=128 * 1024):
    fh = fs.files.open(path, os.O_RDONLY)
    out, off = bytearray(), 0
    while True:
        data = fs.files.read(fh, off, chunk)
        if not data:
            break
        out += data
        off += len(data)
    fs.files.release(fh)
    return bytes(out)


def test_small_object_fetched_whole_in_one_request(fs, store):
    store.put_object("c", "small", b"hello world")
    fs.lookup("/c/small")
    before = store.stats.snapshot()
    fh = fs.files.open("/c/small", os.O_RDONLY)
    assert fs.files.read(fh, 0, 5) == b"hello"
    assert fs.files.read(fh, 6, 100) == b"world"
    assert fs.files.read(fh, 100, 5) == b""
    fs.files.release(fh)
    delta = store.stats.snapshot() - before
    assert delta.count("GET") == 1


def test_large_sequential_read_and_block_cache(fs, store):
    data = os.urandom(12 * 1024 * 1024 + 123)  # under the 16 MiB of pending cache writes
    store.put_object("c", "big", data)
    assert read_all(fs, "/c/big") == data
    fs.blocks.flush()  # blocks are stored in the background
    before = store.stats.snapshot()
    store.put_object("c", "copy", data)  # same blocks under another name
    assert read_all(fs, "/c/copy") == data
    delta = store.stats.snapshot() - before
    assert delta.bytes_received < 200_000, "second read must come from the block cache"


def test_random_reads_are_block_aligned_ranges(fs, store):
    data = os.urandom(10 * BS * 64)
    store.put_object("c", "r", data)
    fh = fs.files.open("/c/r", os.O_RDONLY)
    for off in (5 * BS * 64 + 17, 123, 9 * BS * 64 + 5):
        assert fs.files.read(fh, off, 4096) == data[off : off + 4096]
    fs.files.release(fh)


def test_sequential_read_keeps_several_requests_in_flight(store, tmp_path):
    data = os.urandom(64 * 1024 * 1024)
    store.put_object("c", "seq", data)
    info = store.head_object("c", "seq")
    peak, current, lock = [0], [0], threading.Lock()
    original = store.read_range

    def counting(*a, **kw):
        with lock:
            current[0] += 1
            peak[0] = max(peak[0], current[0])
        try:
            threading.Event().wait(0.01)
            return original(*a, **kw)
        finally:
            with lock:
                current[0] -= 1

    store.read_range = counting
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(8)
    reader = ObjectReader(store, "c", info, BS, None, pool, max_readahead=32 * 1024 * 1024)
    off = 0
    while off < len(data):
        chunk = reader.read(off, 128 * 1024)
        assert chunk == data[off : off + len(chunk)]
        off += len(chunk)
    assert peak[0] >= 3
    assert reader._window == reader.max_window
    pool.shutdown()


def test_reads_stay_on_the_opened_version(fs, store):
    old = os.urandom(3 * 4 * 1024 * 1024)
    store.put_object("c", "v", old)
    fh = fs.files.open("/c/v", os.O_RDONLY)
    assert fs.files.read(fh, 0, 10) == old[:10]
    store.put_object("c", "v", os.urandom(len(old)))  # replaced behind our back
    off = 8 * 1024 * 1024 + 5
    assert fs.files.read(fh, off, 1000) == old[off : off + 1000]
    fs.files.release(fh)


def test_shrunk_object_whose_last_block_hash_covers_more_than_its_size(fs, store):
    """A shrink may keep the longer block on the server (protocol.md 8): the data is still served."""
    full = os.urandom(3 * BS + 100)
    store.put_object("c", "cut", full)
    hashes = store.get_hashmap("c", "cut").hashes
    store.put_hashmap("c", "cut", 2 * BS + 10, hashes[:3])  # last block longer than needed
    assert read_all(fs, "/c/cut") == full[: 2 * BS + 10]
    fs.blocks.flush()
    store.put_hashmap("c", "whole", 3 * BS, hashes[:3])  # the same third block, in full
    assert read_all(fs, "/c/whole") == full[: 3 * BS]  # the cut block did not poison the cache
    store.put_hashmap("c", "one", 10, [hashes[0]])  # one block object, hash of the whole block
    assert read_all(fs, "/c/one") == full[:10]
