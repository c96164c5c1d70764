"""StagedFile on the in-memory FakeStore: content, conditional commits, what crosses the wire."""

from __future__ import annotations

import concurrent.futures
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pithosfs import protocol
from pithosfs.client.errors import PreconditionFailed, ServerError
from pithosfs.client.fake import FakeStore
from pithosfs.client.types import ObjectInfo
from pithosfs.fs.writeback.staged_file import StagedFile
from pithosfs.fs.writeback.upload import KnownBlocks
from tests.unit.staged_fixtures import BS  # the pool and store fixtures: tests/unit/conftest.py


class Opener:
    """Opens StagedFiles the way the filesystem does, counting base block fetches."""

    def __init__(self, store: FakeStore, pool: concurrent.futures.Executor, tmp: Path) -> None:
        self.store = store
        self.pool = pool
        self.tmp = tmp
        self.fetches: list[int] = []

    def fetcher(self, name: str, base: ObjectInfo) -> Callable[[int], bytes]:
        bs = self.store.block_size

        def fetch(index: int) -> bytes:
            self.fetches.append(index)
            return self.store.read_range("c", name, index * bs, bs, version=base.version)

        return fetch

    def open(
        self, name: str, truncate: bool = False, new: bool = False, **kw: object
    ) -> StagedFile:
        base = None if new else self.store.head_object("c", name)
        fetch = self.fetcher(name, base) if base is not None else None
        kw.setdefault("upload_group_bytes", BS)  # one block per background request
        return StagedFile(
            self.store, "c", name, base, self.tmp, fetch, self.pool, truncate=truncate, **kw
        )  # type: ignore[arg-type]

    def content(self, name: str) -> bytes:
        return self.store.read_range("c", name, 0, 1 << 40)


@pytest.fixture
def opener(store: FakeStore, pool: concurrent.futures.Executor, tmp_path: Path) -> Opener:
    return Opener(store, pool, tmp_path)


def payload(n: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(n)


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


# -- content -----------------------------------------------------------------------


def test_new_file_written_and_committed(opener: Opener, store: FakeStore):
    f = opener.open("new", new=True)
    assert f.dirty and f.size == 0
    data = payload(1000)
    for off in range(0, len(data), 100):
        assert f.write(off, data[off : off + 100]) == 100
    assert f.size == 1000 and f.read(0, 2000) == data
    info = f.commit()
    assert info is not None and info.size == 1000
    assert opener.content("new") == data
    assert info.hash == protocol.object_hash(data, BS)
    assert not f.dirty and f.commit() is None  # idempotent


def test_empty_new_file_is_created(opener: Opener, store: FakeStore):
    f = opener.open("empty", new=True)
    info = f.commit()
    assert info is not None and info.size == 0
    assert store.head_object("c", "empty").size == 0


def test_randomized_ops_match_a_bytearray_model(opener: Opener, store: FakeStore):
    rng = random.Random(20240607)
    model = bytearray(payload(700, seed=2))
    store.put_object("c", "r", bytes(model))
    f = opener.open("r")
    for step in range(3000):
        op = rng.random()
        if op < 0.55:
            off = rng.randrange(0, len(model) + 3 * BS)
            data = rng.randbytes(rng.choice([1, 2, 7, BS - 1, BS, BS + 1, 3 * BS + 5]))
            f.write(off, data)
            if off > len(model):
                model.extend(bytes(off - len(model)))
            model[off : off + len(data)] = data
        elif op < 0.65:
            length = rng.randrange(0, len(model) + 2 * BS + 1)
            f.truncate(length)
            del model[length:]
            model.extend(bytes(length - len(model)))
        elif op < 0.9:
            off = rng.randrange(0, len(model) + BS)
            n = rng.randrange(0, 4 * BS)
            assert f.read(off, n) == bytes(model[off : off + n]), f"step {step}"
        elif op < 0.97:
            f.commit()
            assert opener.content("r") == bytes(model), f"step {step}"
        else:
            # Close and reopen at the committed version, as a new open() would.
            f.commit()
            f.discard()
            f = opener.open("r")
        assert f.size == len(model)
        if len(model) > 40 * BS:  # keep the file small so the run stays fast
            f.truncate(10 * BS + 3)
            del model[10 * BS + 3 :]
    f.commit()
    assert opener.content("r") == bytes(model)
    assert store.get_hashmap("c", "r").hashes == protocol.hashmap_of(bytes(model), BS)


def test_appends_to_existing_object(opener: Opener, store: FakeStore):
    base = payload(150)
    store.put_object("c", "log", base)
    f = opener.open("log")
    lines = [f"line {i}\n".encode() for i in range(40)]
    for line in lines:
        f.write(f.size, line)
    f.commit()
    assert opener.content("log") == base + b"".join(lines)
    # The untouched leading blocks were never fetched: only the tail block was.
    assert opener.fetches == [150 // BS]


def test_truncate_shrink_then_extend_reads_zeros(opener: Opener, store: FakeStore):
    base = payload(5 * BS)
    store.put_object("c", "t", base)
    f = opener.open("t")
    f.truncate(BS + 10)
    assert f.read(0, 10 * BS) == base[: BS + 10]
    f.truncate(3 * BS)  # the cut bytes must not come back
    expected = base[: BS + 10] + bytes(3 * BS - BS - 10)
    assert f.read(0, 10 * BS) == expected
    f.commit()
    assert opener.content("t") == expected


def test_shrink_only_reuses_base_blocks_without_uploading(opener: Opener, store: FakeStore):
    base = payload(8 * BS)
    store.put_object("c", "s", base)
    f = opener.open("s")
    before = store.stats.snapshot()
    f.truncate(3 * BS + 5)
    f.commit()
    diff = store.stats.snapshot() - before
    assert opener.content("s") == base[: 3 * BS + 5]
    assert diff.count("POST") == 0 and opener.fetches == []


def test_sparse_write_past_eof(opener: Opener, store: FakeStore):
    f = opener.open("sparse", new=True)
    f.write(10 * BS + 3, b"tail")
    assert f.size == 10 * BS + 7
    assert f.read(0, 20 * BS) == bytes(10 * BS + 3) + b"tail"
    before = store.stats.snapshot()
    f.commit()
    diff = store.stats.snapshot() - before
    assert opener.content("sparse") == bytes(10 * BS + 3) + b"tail"
    hashes = store.get_hashmap("c", "sparse").hashes
    assert hashes[:10] == [protocol.EMPTY_SHA256] * 10
    assert diff.by_method["POST"].bytes_sent == 7  # only "\0\0\0tail", never the zeros


def test_o_trunc_replaces_content(opener: Opener, store: FakeStore):
    store.put_object("c", "o", payload(10 * BS), content_type="text/plain", meta={"Color": "red"})
    f = opener.open("o", truncate=True)
    assert f.size == 0 and f.dirty and f.read(0, 100) == b""
    f.write(0, b"short")
    info = f.commit()
    assert opener.content("o") == b"short"
    assert info is not None and info.content_type == "text/plain"
    assert store.head_object("c", "o").meta == {"Color": "red"}
    assert opener.fetches == []


def test_meta_argument_replaces_metadata(opener: Opener, store: FakeStore):
    store.put_object("c", "m", b"x", meta={"A": "1"})
    f = opener.open("m")
    f.write(1, b"y")
    f.commit(meta={"B": "2"})
    assert store.head_object("c", "m").meta == {"B": "2"}


def test_partial_overwrite_fetches_only_that_block(opener: Opener, store: FakeStore):
    base = payload(10 * BS)
    store.put_object("c", "p", base)
    f = opener.open("p")
    f.write(4 * BS + 3, b"abc")  # partial: needs block 4 from the base
    f.write(6 * BS, b"z" * BS)  # whole block: nothing to fetch
    assert opener.fetches == [4]
    assert f.read(4 * BS, 8) == base[4 * BS : 4 * BS + 3] + b"abc" + base[4 * BS + 6 : 4 * BS + 8]
    assert f.read(0, 5) == base[:5]  # unmodified data is read through the base
    f.commit()
    expected = bytearray(base)
    expected[4 * BS + 3 : 4 * BS + 6] = b"abc"
    expected[6 * BS : 7 * BS] = b"z" * BS
    assert opener.content("p") == bytes(expected)


# -- the wire: background uploads, dedup, small edits --------------------------------


def test_sequential_writes_upload_completed_blocks_in_background(opener: Opener, store: FakeStore):
    f = opener.open("seq", new=True)
    data = payload(50 * BS + 10)
    before = store.stats.snapshot()
    for off in range(0, len(data), 40):
        f.write(off, data[off : off + 40])
    # All 50 complete blocks go up before close; the 10-byte tail waits for commit.
    assert wait_for(lambda: (store.stats.snapshot() - before).count("POST") >= 50)
    assert wait_for(lambda: f.pending_bytes() == 10)
    assert f.bg_uploaded_bytes == 50 * BS
    f.commit()
    assert opener.content("seq") == data
    assert f.commit_uploaded_bytes == 10


def test_background_uploads_send_groups_of_blocks(opener: Opener, store: FakeStore):
    f = opener.open("grp", new=True, upload_group_bytes=4 * BS)
    data = payload(50 * BS + 10)
    before = store.stats.snapshot()
    for off in range(0, len(data), 40):
        f.write(off, data[off : off + 40])
    # 48 of the 50 complete blocks form 12 full groups, one request each.
    assert wait_for(lambda: f.bg_uploaded_bytes == 48 * BS)
    assert (store.stats.snapshot() - before).count("POST") == 12
    f.commit()
    assert opener.content("grp") == data
    assert f.commit_uploaded_bytes == 2 * BS + 10
    assert (store.stats.snapshot() - before).count("POST") == 13  # the rest in one more


def test_recopy_of_identical_content_sends_no_blocks(opener: Opener, store: FakeStore):
    data = payload(40 * BS + 17)
    store.put_object("c", "same", data)
    before = store.stats.snapshot()
    f = opener.open("same", truncate=True)
    for off in range(0, len(data), 100):
        f.write(off, data[off : off + 100])
    f.commit()
    diff = store.stats.snapshot() - before
    assert opener.content("same") == data
    # One hashmap PUT and nothing else sent (with 64-byte blocks the hashmap
    # is bigger than the data, so compare requests, not a ratio of bytes).
    assert diff.count("POST") == 0 and diff.count("PUT") == 1
    assert diff.bytes_sent == diff.by_method["PUT"].bytes_sent


def test_copy_to_new_name_of_known_blocks_sends_no_blocks(opener: Opener, store: FakeStore):
    data = payload(30 * BS)
    store.put_object("c", "src", data)
    known = KnownBlocks()
    known.add_many(store.get_hashmap("c", "src").hashes)  # what a reader of src learns
    before = store.stats.snapshot()
    f = opener.open("dst", new=True, known_blocks=known)
    for off in range(0, len(data), 128):
        f.write(off, data[off : off + 128])
    f.commit()
    diff = store.stats.snapshot() - before
    assert opener.content("dst") == data and diff.count("POST") == 0


def test_one_byte_edit_sends_one_block(opener: Opener, store: FakeStore):
    data = payload(100 * BS)
    store.put_object("c", "big", data)
    before = store.stats.snapshot()
    f = opener.open("big")
    f.write(57 * BS + 9, b"!")
    f.commit()
    diff = store.stats.snapshot() - before
    expected = bytearray(data)
    expected[57 * BS + 9] = ord("!")
    assert opener.content("big") == bytes(expected)
    assert diff.by_method["POST"].bytes_sent <= BS
    assert opener.fetches == [57]
    assert f.staged_disk_bytes() <= 8192  # one block staged (a page or two of disk)


def test_rewriting_a_block_after_its_background_upload_resends_it(opener: Opener, store: FakeStore):
    f = opener.open("rw", new=True)
    data = payload(4 * BS)
    f.write(0, data)
    assert wait_for(lambda: f.pending_bytes() == 0)
    f.write(BS + 1, b"XY")
    f.commit()
    expected = bytearray(data)
    expected[BS + 1 : BS + 3] = b"XY"
    assert opener.content("rw") == bytes(expected)


# -- failures ------------------------------------------------------------------------


def test_conflicting_change_fails_and_keeps_staged_data(opener: Opener, store: FakeStore):
    store.put_object("c", "x", payload(3 * BS))
    f = opener.open("x")
    f.write(BS, b"mine")
    store.put_object("c", "x", b"theirs")
    with pytest.raises(PreconditionFailed):
        f.commit()
    assert opener.content("x") == b"theirs"
    assert f.dirty and f.read(BS, 4) == b"mine"
    with pytest.raises(PreconditionFailed):  # still staged, still conflicting: nothing dropped
        f.commit()
    assert f.dirty and f.read(BS, 4) == b"mine"


def test_new_file_created_elsewhere_meanwhile_conflicts(opener: Opener, store: FakeStore):
    f = opener.open("race", new=True)
    f.write(0, b"mine")
    store.put_object("c", "race", b"theirs")
    with pytest.raises(PreconditionFailed):
        f.commit()
    assert opener.content("race") == b"theirs"


class FlakyStore(FakeStore):
    """Fails block uploads while `failing` is set, as a server going away would."""

    failing = False

    def upload_blocks(self, container: str, blocks: list[bytes]) -> list[str]:
        if self.failing:
            raise ServerError("injected failure", method="POST")
        return super().upload_blocks(container, blocks)


def test_failed_upload_surfaces_at_commit_and_retry_succeeds(
    pool: concurrent.futures.Executor, tmp_path: Path
):
    store = FlakyStore(account="acc", block_size=BS)
    store.create_container("c")
    opener = Opener(store, pool, tmp_path)
    store.failing = True
    f = opener.open("fl", new=True)
    data = payload(20 * BS + 5)
    f.write(0, data)
    with pytest.raises(ServerError):
        f.commit()
    assert f.dirty and f.read(0, len(data)) == data
    store.failing = False
    info = f.commit()
    assert info is not None and opener.content("fl") == data


def test_commit_after_discard_is_an_error(opener: Opener):
    f = opener.open("d", new=True)
    f.write(0, b"abc")
    f.discard()
    with pytest.raises(ValueError):
        f.commit()


# -- bounded memory --------------------------------------------------------------------


class SinkStore(FakeStore):
    """Accepts blocks without keeping them, so only StagedFile's own memory is measured."""

    def upload_blocks(self, container: str, blocks: list[bytes]) -> list[str]:
        hashes = [protocol.block_hash_hex(b) for b in blocks]
        with self._lock:
            for h in hashes:
                self._blocks[h] = b""
        return hashes


def _peak_bytes_for(size: int, tmp_path: Path) -> int:
    import tracemalloc

    bs = 1024 * 1024
    store = SinkStore(account="acc", block_size=bs)
    store.create_container("c")
    chunk = payload(128 * 1024, seed=size)
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        tracemalloc.start()
        try:
            f = StagedFile(
                store, "c", "m", None, tmp_path, None, pool,
                upload_buffer_bytes=4 * bs, upload_group_bytes=bs,
            )  # fmt: skip
            for off in range(0, size, len(chunk)):
                # Vary every chunk so no two blocks dedup.
                f.write(off, off.to_bytes(8, "big") + chunk[8:])
            f.commit()
            f.discard()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()


def test_memory_does_not_grow_with_file_size(tmp_path: Path):
    small = _peak_bytes_for(16 * 1024 * 1024, tmp_path)
    large = _peak_bytes_for(96 * 1024 * 1024, tmp_path)
    # Bound: the 4-block commit buffer + the block being read for it + one block
    # per pool worker (2) = 7 blocks of 1 MiB, whatever the file size. How much
    # of it is used depends on how far background uploads got, hence the slack
    # between the two sizes.
    assert large < 8 * 1024 * 1024, large
    assert large < small + 4 * 1024 * 1024, (small, large)


# -- threads ----------------------------------------------------------------------------


def test_concurrent_writers_readers_and_commits(opener: Opener, store: FakeStore):
    """FUSE calls in from many threads: disjoint writers, readers and commits interleave."""
    size = 64 * BS
    store.put_object("c", "mt", bytes(size))
    f = opener.open("mt")
    errors: list[BaseException] = []
    final: dict[int, bytes] = {}

    def writer(worker: int) -> None:
        rng = random.Random(worker)
        try:
            region = range(worker * 16 * BS, (worker + 1) * 16 * BS)
            for _ in range(300):
                off = rng.randrange(region.start, region.stop - 8)
                data = rng.randbytes(rng.randrange(1, min(40, region.stop - off)))
                f.write(off, data)
                for i, b in enumerate(data):
                    final[off + i] = b
                assert f.read(off, len(data)) == data  # own writes visible at once
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    def committer() -> None:
        try:
            for _ in range(20):
                f.commit()
                time.sleep(0.002)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    threads.append(threading.Thread(target=committer))
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    f.commit()
    expected = bytearray(size)
    for off, b in final.items():
        expected[off] = b
    assert opener.content("mt") == bytes(expected)
    assert f.read(0, size) == bytes(expected)


def test_discard_with_background_uploads_in_flight(opener: Opener, store: FakeStore):
    f = opener.open("gone", new=True)
    f.write(0, payload(200 * BS))
    f.discard()  # must neither hang nor raise, whatever the pool is doing
    with pytest.raises(ValueError):
        f.read(0, 1)
    with pytest.raises(Exception, match="Object does not exist"):
        store.head_object("c", "gone")


def test_base_block_the_server_lost_is_sent_from_our_side(
    store: FakeStore, pool: concurrent.futures.Executor, tmp_path: Path
):
    """A 409 naming a block we reuse from the base: fetch it (local cache) and send it."""
    data = payload(3 * BS)
    info = store.put_object("c", "lost", data)
    cached = {i: data[i * BS : (i + 1) * BS] for i in range(3)}  # e.g. the block cache
    f = StagedFile(store, "c", "lost", info, tmp_path, cached.__getitem__, pool)
    f.write(2 * BS + 1, b"new")
    with store._lock:  # the server lost block 0 (what a real one should never do)
        del store._blocks[protocol.block_hash_hex(cached[0])]
    f.commit()
    assert (
        store.read_range("c", "lost", 0, 1000) == data[: 2 * BS + 1] + b"new" + data[2 * BS + 4 :]
    )


def test_staging_leaves_no_named_files_behind(opener: Opener, tmp_path: Path):
    f = opener.open("anon", new=True)
    f.write(0, payload(10 * BS))
    # Unlinked from birth (O_TMPFILE): a crash or kill cannot leave staging garbage.
    assert list(tmp_path.iterdir()) == []
    assert f.staged_disk_bytes() > 0
    f.commit()
    f.discard()
    assert f.staged_disk_bytes() == 0
