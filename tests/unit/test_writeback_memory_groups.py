"""The in-memory path sends staged blocks in groups (writeback_memory.SEND_GROUP_BLOCKS).

On the FakeStore each upload call counts as one POST, as one request of the
real client does.
"""

from __future__ import annotations

import concurrent.futures
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from pithosfs import protocol
from pithosfs.client.fake import FakeStore
from pithosfs.fs.writeback import memory as writeback_memory
from pithosfs.fs.writeback.staged_file import StagedFile
from tests.unit.staged_fixtures import BS  # the pool and store fixtures: tests/unit/conftest.py
from tests.unit.test_fs_writeback_memory import wait_for

GROUP = writeback_memory.SEND_GROUP_BLOCKS


@pytest.fixture
def new_file(
    store: FakeStore, pool: concurrent.futures.Executor, tmp_path: Path
) -> Callable[[str], StagedFile]:
    def opener(name: str) -> StagedFile:
        return StagedFile(
            store, "c", name, None, tmp_path, None, pool,
            upload_group_bytes=BS, memory_min_block=1,
        )  # fmt: skip

    return opener


def no_nul_end(n: int, seed: int) -> bytes:
    """Random bytes in which no block ends with a NUL (those travel alone)."""
    data = bytearray(random.Random(seed).randbytes(n))
    for end in range(BS - 1, n, BS):
        data[end] = data[end] or 1
    return bytes(data)


def posts(store: FakeStore) -> tuple[int, int]:
    method = store.stats.snapshot().by_method.get("POST")
    return (method.requests, method.bytes_sent) if method else (0, 0)


def test_complete_blocks_go_up_a_group_per_request(new_file, store):
    f = new_file("g")
    blocks = 3 * GROUP
    data = no_nul_end(blocks * BS, seed=1)
    for off in range(0, len(data), BS):
        f.write(off, data[off : off + BS])
    assert wait_for(lambda: f.bg_uploaded_bytes == len(data))
    assert posts(store) == (blocks // GROUP, len(data))
    info = f.commit()
    assert info is not None and info.hash == protocol.object_hash(data, BS)
    assert posts(store) == (blocks // GROUP, len(data))  # the commit sent no block again
    assert store.read_range("c", "g", 0, 1 << 20) == data


def test_commit_sends_the_parked_rest_from_memory_in_one_request(new_file, store):
    f = new_file("rest")
    data = no_nul_end((GROUP + GROUP - 1) * BS + 5, seed=2)  # one group, a short one, a tail
    for off in range(0, len(data), 40):
        f.write(off, data[off : off + 40])
    assert wait_for(lambda: f.bg_uploaded_bytes == GROUP * BS)
    before = store.stats.snapshot()
    f.commit()
    diff = store.stats.snapshot() - before
    # The parked blocks in one POST, the tail in another, then the hashmap: no 409 round.
    assert diff.by_method["POST"].requests == 2
    assert diff.by_method["POST"].bytes_sent == (GROUP - 1) * BS + 5
    assert diff.by_method["PUT"].requests == 1
    assert store.read_range("c", "rest", 0, 1 << 20) == data


def test_a_block_ending_in_nul_travels_alone_and_stripped(new_file, store):
    f = new_file("nul")
    data = bytearray(no_nul_end(GROUP * BS, seed=3))
    data[2 * BS - 3 : 2 * BS] = b"\0\0\0"  # block 1 ends in NULs
    for off in range(0, len(data), BS):
        f.write(off, bytes(data[off : off + BS]))
    f.commit()
    assert store.read_range("c", "nul", 0, 1 << 20) == bytes(data)
    requests, sent = posts(store)
    assert sent == len(data) - 3  # the NULs were not sent
    assert requests == 2  # block 1 alone, the other GROUP - 1 together


def test_discard_drops_parked_blocks(new_file, store):
    f = new_file("drop")
    data = no_nul_end((GROUP - 1) * BS, seed=4)
    for off in range(0, len(data), BS):
        f.write(off, data[off : off + BS])
    assert wait_for(lambda: len(f._mem_unsent) == GROUP - 1)
    f.discard()
    assert f._mem_unsent == []
    assert posts(store) == (0, 0)
    assert "drop" not in [o.name for o in store.list_objects("c")]
