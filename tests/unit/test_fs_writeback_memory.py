"""StagedFile's in-memory sequential path (fs/writeback/memory.py) on the FakeStore.

The path is on for every block size here (memory_min_block=1), so tiny blocks
exercise block boundaries, hand-offs and spills on every few bytes.
"""

from __future__ import annotations

import concurrent.futures
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pithosfs import protocol
from pithosfs.client.errors import ServerError
from pithosfs.client.fake import FakeStore
from pithosfs.fs.writeback import memory as writeback_memory
from pithosfs.fs.writeback.staged_file import StagedFile
from pithosfs.fs.writeback.staging import StagingFile
from pithosfs.fs.writeback.upload import KnownBlocks
from tests.unit.staged_fixtures import BS  # the pool and store fixtures: tests/unit/conftest.py


@pytest.fixture
def open_file(
    store: FakeStore, pool: concurrent.futures.Executor, tmp_path: Path
) -> Callable[..., StagedFile]:
    def opener(
        name: str, new: bool = True, truncate: bool = False, known: KnownBlocks | None = None
    ) -> StagedFile:
        base = None if new else store.head_object("c", name)

        def fetch(index: int) -> bytes:
            assert base is not None
            return store.read_range("c", name, index * BS, BS, version=base.version)

        return StagedFile(
            store, "c", name, base, tmp_path, fetch if base else None, pool,
            truncate=truncate, upload_group_bytes=BS, memory_min_block=1, known_blocks=known,
        )  # fmt: skip

    return opener


def payload(n: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(n)


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_sequential_blocks_are_uploaded_from_memory_before_commit(open_file, store):
    f = open_file("seq")
    data = payload(20 * BS + 10)
    for off in range(0, len(data), 48):  # writes that straddle block boundaries
        f.write(off, data[off : off + 48])
        assert f.read(0, off + 48) == data[: off + 48]  # own writes visible at once
    # Every complete block went up in the background (the 10-byte tail waits for commit).
    assert wait_for(lambda: f.bg_uploaded_bytes == 20 * BS)
    assert f.staged_disk_bytes() > 0  # and was staged: the staging file holds the data
    before = store.stats.snapshot()
    info = f.commit()
    diff = store.stats.snapshot() - before
    assert info is not None and info.hash == protocol.object_hash(data, BS)
    assert store.read_range("c", "seq", 0, 1 << 20) == data
    # The commit sent the tail and the hashmap, not the blocks again.
    assert diff.by_method["POST"].bytes_sent == 10


def test_reads_and_rewrites_of_blocks_in_flight_see_the_newest_bytes(open_file, store):
    f = open_file("rw")
    model = bytearray(payload(12 * BS, seed=3))
    for off in range(0, len(model), BS):
        f.write(off, bytes(model[off : off + BS]))
    # Rewrite inside blocks that were just handed off, and inside the last one.
    for off in (3, BS + 5, 11 * BS + 60, 5 * BS - 2):
        patch = payload(7, seed=off)
        f.write(off, patch)
        model[off : off + 7] = patch
    assert f.read(0, len(model) + 5) == bytes(model)
    f.commit()
    assert store.read_range("c", "rw", 0, 1 << 20) == bytes(model)


def test_randomized_sequential_and_random_ops_match_a_model(open_file, store):
    rng = random.Random(4711)
    store.put_object("c", "m", payload(5 * BS + 3, seed=9))
    model = bytearray(store.read_range("c", "m", 0, 1 << 20))
    f = open_file("m", new=False, truncate=False)
    pos = len(model)
    for step in range(2500):
        op = rng.random()
        if op < 0.5:  # mostly a sequential stream, often restarting at a block boundary
            if rng.random() < 0.1:
                pos = rng.randrange(0, len(model) // BS + 3) * BS
            data = rng.randbytes(rng.choice([1, 5, BS // 2, BS, BS + 3, 3 * BS]))
            f.write(pos, data)
            if pos > len(model):
                model.extend(bytes(pos - len(model)))
            model[pos : pos + len(data)] = data
            pos += len(data)
        elif op < 0.6:
            off = rng.randrange(0, len(model) + 2 * BS)
            data = rng.randbytes(rng.choice([1, 9, BS]))
            f.write(off, data)
            if off > len(model):
                model.extend(bytes(off - len(model)))
            model[off : off + len(data)] = data
        elif op < 0.66:
            length = rng.randrange(0, len(model) + 2 * BS + 1)
            f.truncate(length)
            del model[length:]
            model.extend(bytes(length - len(model)))
        elif op < 0.94:
            off = rng.randrange(0, len(model) + BS)
            n = rng.randrange(0, 5 * BS)
            assert f.read(off, n) == bytes(model[off : off + n]), f"step {step}"
        else:
            f.commit()
            assert store.read_range("c", "m", 0, 1 << 20) == bytes(model), f"step {step}"
    f.commit()
    assert store.read_range("c", "m", 0, 1 << 20) == bytes(model)
    f.discard()


def test_a_failed_background_upload_is_sent_by_the_commit(open_file, store, monkeypatch):
    calls = {"n": 0}
    real = store.upload_blocks

    def flaky(container: str, blocks: list[bytes]) -> list[str]:
        calls["n"] += 1
        if calls["n"] <= 3:
            raise ServerError("injected", status=503)
        return real(container, blocks)

    monkeypatch.setattr(store, "upload_blocks", flaky)
    f = open_file("flaky")
    data = payload(8 * BS)
    for off in range(0, len(data), BS):
        f.write(off, data[off : off + BS])
    f.commit()
    assert store.read_range("c", "flaky", 0, 1 << 20) == data


def test_a_staging_failure_reaches_the_writer_and_loses_nothing(open_file, store, monkeypatch):
    real = StagingFile.writev
    broken = {"on": True}

    def failing(self: StagingFile, offset: int, chunks: list[memoryview]) -> None:
        if broken["on"]:
            raise OSError(28, "No space left on device")
        real(self, offset, chunks)

    monkeypatch.setattr(StagingFile, "writev", failing)
    f = open_file("full")
    data = payload(40 * BS + 20)
    written = 0
    with pytest.raises(OSError) as info:
        for off in range(0, len(data), BS):
            f.write(off, data[off : off + BS])
            written = off + BS
            time.sleep(0.01)  # let the staging tasks run (and fail)
    assert info.value.errno == 28 and 0 < written < len(data)  # from write(), not only close()
    assert f.read(0, len(data)) == data[:written]  # accepted writes still held in memory
    # The commit cannot stage them either: it sends them from memory, so what write()
    # accepted gets home and close() can say so.
    f.commit()
    assert store.read_range("c", "full", 0, 1 << 20) == data[:written]
    with pytest.raises(OSError):
        f.write(written, b"more")  # the disk is still full: write() keeps saying so
    broken["on"] = False  # space freed: writing and committing work again
    f.write(written, b"more")
    f.commit()
    assert store.read_range("c", "full", 0, 1 << 20) == data[:written] + b"more"


def test_a_writer_ahead_of_the_uploads_waits(open_file, store, monkeypatch, pool):
    gate = threading.Event()
    real = store.upload_blocks

    def slow(container: str, blocks: list[bytes]) -> list[str]:
        gate.wait(10)
        return real(container, blocks)

    monkeypatch.setattr(store, "upload_blocks", slow)
    f = open_file("slow")
    data = payload(30 * BS)
    progress = {"written": 0}

    def writer() -> None:
        for off in range(0, len(data), BS):
            f.write(off, data[off : off + BS])
            progress["written"] = off + BS

    t = threading.Thread(target=writer)
    t.start()
    time.sleep(0.5)
    # Held back: a few blocks in flight, not the whole file in memory.
    assert progress["written"] <= (writeback_memory.MAX_HELD_BLOCKS + 2) * BS
    gate.set()
    t.join(10)
    assert progress["written"] == len(data)
    f.commit()
    assert store.read_range("c", "slow", 0, 1 << 20) == data


def test_a_write_waits_until_the_bound_holds_not_for_one_task(open_file, store, monkeypatch):
    """The race behind a CI flake, made deterministic: the oldest task in flight may be
    a quick staging task while the sends behind it stall. A write that waited for that
    one task and returned let the writer run a block further ahead each time (15
    blocks held with 12 allowed). Here the bound reports three finished tasks in turn
    and then nothing: the write must ask again after each, until nothing is left."""
    f = open_file("bound")
    answers: list[concurrent.futures.Future[None] | None] = []
    for _ in range(3):
        finished: concurrent.futures.Future[None] = concurrent.futures.Future()
        finished.set_result(None)
        answers.append(finished)
    answers.append(None)
    asked = []

    def bound() -> concurrent.futures.Future[None] | None:
        asked.append(len(asked))
        return answers.pop(0) if answers else None

    monkeypatch.setattr(f, "_upload_to_wait_for", bound)
    f.write(0, payload(2 * BS))
    assert not answers and len(asked) == 4  # once in the write itself, then after each wait
    f.commit()
    assert store.read_range("c", "bound", 0, 1 << 20) == payload(2 * BS)


def test_discard_with_blocks_in_flight_leaves_the_object_alone(open_file, store):
    store.put_object("c", "keep", b"old")
    f = open_file("keep", new=False, truncate=True)
    for off in range(0, 16 * BS, BS):
        f.write(off, payload(BS, seed=off))
    f.discard()
    assert store.read_range("c", "keep", 0, 100) == b"old"


def dense_blocks(n: int, seed: int) -> bytes:
    """n random blocks none of which ends in NUL (such blocks are always hashed here)."""
    rng = random.Random(seed)
    return b"".join(rng.randbytes(BS - 1) + bytes([rng.randrange(1, 256)]) for _ in range(n))


@pytest.fixture
def hashed_here(monkeypatch) -> list[int]:
    """Counts the blocks the memory path hashes itself."""
    counted: list[int] = []
    real = writeback_memory.chunks_hash

    def counting(chunks, algorithm):
        counted.append(sum(len(c) for c in chunks))
        return real(chunks, algorithm)

    monkeypatch.setattr(writeback_memory, "chunks_hash", counting)
    return counted


def test_a_new_file_is_hashed_here_only_for_its_first_blocks(open_file, store, hashed_here):
    f = open_file("new")
    data = dense_blocks(20, seed=5)
    for off in range(0, 2 * BS, BS):
        f.write(off, data[off : off + BS])
    # The decision needs the probe blocks hashed (they run on the pool).
    assert wait_for(lambda: len(hashed_here) == writeback_memory.PROBE_BLOCKS)
    for off in range(2 * BS, len(data), BS):
        f.write(off, data[off : off + BS])
    assert wait_for(lambda: f.bg_uploaded_bytes == len(data))
    before = store.stats.snapshot()
    info = f.commit()
    diff = store.stats.snapshot() - before
    assert len(hashed_here) == writeback_memory.PROBE_BLOCKS
    assert info is not None and info.hash == protocol.object_hash(data, BS)
    assert diff.count("POST") == 0  # the hashmap came from the uploads' answers
    assert store.read_range("c", "new", 0, 1 << 20) == data


def test_a_recopy_over_the_same_name_is_hashed_and_sends_nothing(open_file, store, hashed_here):
    data = dense_blocks(12, seed=6)
    store.put_object("c", "same", data)
    f = open_file("same", new=False, truncate=True)
    before = store.stats.snapshot()
    for off in range(0, len(data), BS):
        f.write(off, data[off : off + BS])
    f.commit()
    diff = store.stats.snapshot() - before
    assert len(hashed_here) == 12  # the first block was known: every block is hashed here
    assert diff.count("POST") == 0
    assert store.read_range("c", "same", 0, 1 << 20) == data


def test_a_second_copy_of_a_file_the_server_hashed_sends_nothing(open_file, store, hashed_here):
    """The server's answers feed the mount's known blocks, so a copy under another name dedups."""
    known = KnownBlocks()
    data = dense_blocks(12, seed=10)
    hashed = []
    for name in ("first", "second"):
        f = open_file(name, known=known)
        for off in range(0, len(data), BS):
            f.write(off, data[off : off + BS])
        before = store.stats.snapshot()
        f.commit()
        sent = (store.stats.snapshot() - before).count("POST") + f.bg_uploaded_bytes
        hashed.append(len(hashed_here) - sum(hashed))
    assert sent == 0
    # The first copy: its probe (and the blocks whose tasks ran before the decision);
    # the second: its first block was known, so every block is hashed here.
    assert hashed[0] < 12 and hashed[1] == 12
    assert store.read_range("c", "second", 0, 1 << 20) == data


def test_zero_blocks_of_a_new_file_are_still_not_sent(open_file, store, hashed_here):
    data = dense_blocks(4, seed=7) + bytes(8 * BS) + dense_blocks(2, seed=8)
    f = open_file("sparse-ish")
    before = store.stats.snapshot()
    for off in range(0, len(data), BS):
        f.write(off, data[off : off + BS])
        if off == BS:
            assert wait_for(lambda: len(hashed_here) == writeback_memory.PROBE_BLOCKS)
    info = f.commit()
    assert info is not None and info.hash == protocol.object_hash(data, BS)
    assert f.bg_uploaded_bytes + f.commit_uploaded_bytes == 6 * BS
    assert (store.stats.snapshot() - before).by_method["POST"].bytes_sent == 6 * BS
    assert store.read_range("c", "sparse-ish", 0, 1 << 20) == data


def test_an_upload_answered_with_no_hashes_is_sent_again_by_the_commit(
    open_file, store, monkeypatch, hashed_here
):
    real = store.upload_blocks
    answers = {"bad": 0}

    def garbled(container: str, blocks: list[bytes]) -> list[str]:
        got = real(container, blocks)
        if answers["bad"] < 2:
            answers["bad"] += 1
            return ["not-a-hash"] * len(got)
        return got

    monkeypatch.setattr(store, "upload_blocks", garbled)
    f = open_file("garbled")
    data = dense_blocks(12, seed=9)
    for off in range(0, len(data), BS):
        f.write(off, data[off : off + BS])
    info = f.commit()
    assert answers["bad"] == 2
    assert info is not None and info.hash == protocol.object_hash(data, BS)
    assert store.read_range("c", "garbled", 0, 1 << 20) == data


def test_written_bytes_are_copied_before_write_returns(open_file, store):
    """The mount lends write() a view of the kernel's request buffer, which is reused as
    soon as the call returns: nothing may keep that view. Each write here comes from one
    buffer that is scribbled over once write() returns; the file must not change."""
    f = open_file("lent")
    data = payload(9 * BS + 100)
    kernel = bytearray(64)
    for off in range(0, len(data), 64):
        piece = data[off : off + 64]
        kernel[: len(piece)] = piece
        f.write(off, memoryview(kernel)[: len(piece)].toreadonly())
        kernel[:] = b"\xee" * 64  # the next request lands in the same buffer
    assert f.read(0, len(data)) == data
    f.commit()
    assert store.read_range("c", "lent", 0, len(data)) == data


def test_blocks_are_gathered_in_aligned_buffers_that_are_reused(open_file, store, monkeypatch):
    from pithosfs.cache.block_file import is_page_aligned

    # Blocks past SMALL_BLOCK_BYTES move to an aligned buffer (BS is 64 bytes here).
    monkeypatch.setattr(writeback_memory, "SMALL_BLOCK_BYTES", BS // 2)
    seen: list[bool] = []
    real = writeback_memory.BLOCK_BUFFERS.take

    def spy(size: int):
        view = real(size)
        seen.append(is_page_aligned(view))
        return view

    monkeypatch.setattr(writeback_memory.BLOCK_BUFFERS, "take", spy)
    small = open_file("small")
    small.write(0, b"x" * (BS // 2))  # stays small: no pooled buffer held for it
    assert seen == []
    small.commit()
    mapped = writeback_memory.BLOCK_BUFFERS.mapped
    f = open_file("aligned")
    data = payload(40 * BS)
    for off in range(0, len(data), BS // 4):  # each block starts small, then moves
        f.write(off, data[off : off + BS // 4])
    f.commit()
    assert store.read_range("c", "aligned", 0, len(data)) == data
    assert store.read_range("c", "small", 0, BS) == b"x" * (BS // 2)
    assert len(seen) == 40 and all(seen)
    # Blocks are sent and freed as the writer goes: far fewer maps than blocks.
    assert writeback_memory.BLOCK_BUFFERS.mapped - mapped < 40


def test_content_the_server_holds_is_not_sent_whatever_the_mounts_history(
    open_file, store, hashed_here
):
    """Blocks another client stored are found by the hashmap-PUT probe, not by hints."""
    data = dense_blocks(12, seed=21)
    store.put_object("c", "uploaded-elsewhere", data)
    f = open_file("copy", known=KnownBlocks())  # a fresh mount: no hints at all
    before = store.stats.snapshot()
    for off in range(0, len(data), BS):
        f.write(off, data[off : off + BS])
    info = f.commit()
    diff = store.stats.snapshot() - before
    assert diff.count("POST") == 0 and f.bg_uploaded_bytes == 0
    assert len(hashed_here) == 12  # taken for a re-copy: hashed here, asked, not sent
    assert info is not None and store.read_range("c", "copy", 0, 1 << 20) == data


def test_a_recopy_with_new_blocks_sends_only_those(open_file, store, hashed_here):
    old = dense_blocks(12, seed=22)
    store.put_object("c", "old", old)
    data = old[: 8 * BS] + dense_blocks(4, seed=23)
    f = open_file("mixed", known=KnownBlocks())
    for off in range(0, len(data), BS):
        f.write(off, data[off : off + BS])
    f.commit()
    assert f.bg_uploaded_bytes + f.commit_uploaded_bytes == 4 * BS
    assert store.read_range("c", "mixed", 0, 1 << 20) == data
