"""White-box tests of the block store: staging, O_DIRECT ingest, cleanup on failure."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pithosfs import protocol
from pithosfs.server.blocks import BlockStore
from pithosfs.server.errors import ClientDisconnected


def filler(data: bytes, fail_after: int | None = None):
    """A `fill(view)` over in-memory data; optionally disconnects after some bytes."""
    pos = 0

    def fill(view: memoryview) -> int:
        nonlocal pos
        if fail_after is not None and pos >= fail_after:
            raise ClientDisconnected("gone")
        chunk = data[pos : pos + len(view)]
        view[: len(chunk)] = chunk
        pos += len(chunk)
        return len(chunk)

    return fill


@pytest.fixture
def store(tmp_path: Path) -> BlockStore:
    s = BlockStore(tmp_path / "blocks", block_size=1024)
    yield s
    s.close()


@pytest.mark.parametrize("size", [0, 1, 1023, 1024, 1025, 3000, 4096 + 7])
def test_ingest_hashes_and_stores_exact_bytes(store: BlockStore, size: int) -> None:
    data = bytes(b or 1 for b in os.urandom(size))  # no NULs: every block is really stored
    hashes = store.ingest(filler(data))
    assert hashes == ([] if size == 0 else protocol.hashmap_of(data, 1024))
    back = b"".join(store.read(h, min(1024, size - i * 1024)) for i, h in enumerate(hashes))
    assert back == data
    for h in hashes:  # stored with its real length, not the O_DIRECT padding
        assert store.path_of(h).stat().st_size == len(data[hashes.index(h) * 1024 :][:1024])
    assert list(store.tmp_dir.iterdir()) == []


@pytest.mark.parametrize("size", [0, 1, 1024, 2048, 5000])
def test_ingest_with_known_total_matches(store: BlockStore, size: int) -> None:
    data = bytes(b or 1 for b in os.urandom(size))
    assert store.ingest(filler(data), total=size) == store.ingest(filler(data))
    assert store.ingest(filler(data), total=size) == (
        [] if size == 0 else protocol.hashmap_of(data, 1024)
    )


def test_trailing_zero_blocks_dedup_to_the_empty_hash(store: BlockStore) -> None:
    data = b"a" * 1024 + b"\0" * 1024 + b"b" + b"\0" * 100
    hashes = store.ingest(filler(data))
    assert hashes[1] == protocol.EMPTY_SHA256
    assert not store.path_of(protocol.EMPTY_SHA256).exists()
    assert store.read(hashes[1], 1024) == b"\0" * 1024
    assert store.read(hashes[2], 101) == b"b" + b"\0" * 100


def test_disconnect_leaves_no_staged_or_partial_blocks(store: BlockStore) -> None:
    data = os.urandom(10 * 1024)
    with pytest.raises(ClientDisconnected):
        store.ingest(filler(data, fail_after=5 * 1024))
    assert list(store.tmp_dir.iterdir()) == []
    # nothing of the aborted upload was published under a hash name
    published = [p for p in store.root.rglob("*") if p.is_file() and p.parent != store.tmp_dir]
    assert published == []


def test_existing_blocks_are_not_rewritten(store: BlockStore) -> None:
    data = os.urandom(2048)
    first = store.ingest(filler(data))
    path = store.path_of(first[0])
    mtime = path.stat().st_mtime_ns
    assert store.ingest(filler(data)) == first
    assert path.stat().st_mtime_ns == mtime
    assert store.missing(first + ["00" * 32, first[0]]) == ["00" * 32]


def test_batch_add_and_store_agree_with_ingest(store: BlockStore) -> None:
    data = os.urandom(1000)
    with store.batch() as batch:
        h = batch.add(data)
        batch.finish()
    assert h == protocol.block_hash_hex(data)
    assert store.read(h, 1000) == data
    assert store.store(data) == h


def test_leftover_temp_files_are_removed_at_start(tmp_path: Path) -> None:
    (tmp_path / "blocks" / "tmp").mkdir(parents=True)
    (tmp_path / "blocks" / "tmp" / "deadbeef.partial").write_bytes(b"half")
    s = BlockStore(tmp_path / "blocks", block_size=1024)
    try:
        assert list(s.tmp_dir.iterdir()) == []
    finally:
        s.close()


def test_block_hash_buffer_matches_block_hash() -> None:
    for block in (b"", b"abc", b"abc\0\0", b"\0" * 50, os.urandom(4096)):
        assert protocol.block_hash_buffer(memoryview(block)) == protocol.block_hash(block)


@pytest.mark.skipif(not Path("/dev/shm").is_dir(), reason="no tmpfs at /dev/shm")
def test_filesystems_without_o_direct_fall_back_to_buffered_writes(tmp_path: Path) -> None:
    import tempfile

    with tempfile.TemporaryDirectory(dir="/dev/shm") as shm:
        s = BlockStore(Path(shm) / "blocks", block_size=1024)
        try:
            data = bytes(b or 1 for b in os.urandom(3000))
            hashes = s.ingest(filler(data), total=len(data))
            assert hashes == protocol.hashmap_of(data, 1024)
            assert b"".join(s.read(h, 1024) for h in hashes)[:3000] == data
        finally:
            s.close()
