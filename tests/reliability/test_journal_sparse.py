"""The journal keeps holes as holes and base blocks by hash, checks its room before writing,
and keeps what the server refuses for good in failed/ (listed, retried, saved, discarded)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from pithosfs.client.errors import Forbidden
from pithosfs.client.fake import FakeStore
from pithosfs.fs.writeback import journal_areas
from pithosfs.fs.writeback.journal import ReplayConflict, UploadJournal

BS = 64 * 1024


def _store() -> FakeStore:
    store = FakeStore(block_size=BS)
    store.create_container("c")
    return store


def _content(store: FakeStore, name: str) -> bytes:
    info = store.head_object("c", name)
    return store.read_range("c", name, 0, info.size) if info.size else b""


def _reader(data: bytes):  # noqa: ANN202
    reads: list[tuple[int, int]] = []

    def read(offset: int, length: int) -> bytes:
        reads.append((offset, length))
        return data[offset : offset + length]

    return read, reads


def test_a_sparse_file_takes_no_disk_and_replays_exactly(tmp_path: Path) -> None:
    """A 1 GiB file with two written blocks: the journal writes those two, reads nothing
    else, and the replay sends a hashmap whose other blocks are the empty block."""
    size = 1024**3 + 5
    count = -(-size // BS)
    written = {3: os.urandom(BS), count - 1: b"tail!"}
    plan: list[str | None] = ["" for _ in range(count)]
    for index in written:
        plan[index] = None

    def read(offset: int, length: int) -> bytes:
        index = offset // BS
        assert index in written and length <= BS, (offset, length)
        return written[index][:length]

    journal = UploadJournal(tmp_path)
    entry = journal.park("c", "big", None, size, read, plan=plan, block_size=BS, error="down")
    data = journal.data_path(entry)
    assert data.stat().st_size == size
    assert data.stat().st_blocks * 512 <= 4 * BS  # two blocks, not a gigabyte of zeros
    assert entry.stored <= 4 * BS
    store = _store()
    info = UploadJournal(tmp_path).replay(store, journal.entries()[0])
    assert info.size == size
    assert store.read_range("c", "big", 3 * BS, BS) == written[3]
    assert store.read_range("c", "big", (count - 1) * BS, 5) == b"tail!"
    assert store.read_range("c", "big", 10 * BS, 100) == bytes(100)


def test_zeros_read_without_a_plan_are_left_as_holes(tmp_path: Path) -> None:
    data = bytes(3 * BS) + b"x" * 10
    read, _ = _reader(data)
    journal = UploadJournal(tmp_path)
    entry = journal.park("c", "f", None, len(data), read)
    assert journal.data_path(entry).read_bytes() == data
    assert journal.data_path(entry).stat().st_blocks * 512 < len(data)


def test_base_blocks_are_recorded_by_hash_not_copied(tmp_path: Path) -> None:
    store = _store()
    old = os.urandom(8 * BS)
    base = store.put_object("c", "f", old)
    new = bytearray(old)
    new[2 * BS : 2 * BS + 10] = b"0123456789"
    hashes = store.get_hashmap("c", "f").hashes
    plan: list[str | None] = list(hashes)
    plan[2] = None  # the one block the writer changed
    read, reads = _reader(bytes(new))
    journal = UploadJournal(tmp_path)
    entry = journal.park(
        "c", "f", base, len(new), read, plan=plan, block_size=BS, error="down"
    )
    assert reads == [(2 * BS, BS)]
    assert len(entry.refs) == 7 and entry.stored <= 2 * BS
    journal.replay(store, journal.entries()[0])
    assert _content(store, "f") == bytes(new)


def test_a_conflict_gets_its_base_blocks_copied_in(tmp_path: Path) -> None:
    store = _store()
    old = os.urandom(4 * BS)
    base = store.put_object("c", "f", old)
    plan: list[str | None] = list(store.get_hashmap("c", "f").hashes)
    plan[0] = None
    mine = b"M" * BS + old[BS:]
    journal = UploadJournal(tmp_path)
    journal.park("c", "f", base, len(mine), _reader(mine)[0], plan=plan, block_size=BS)
    store.put_object("c", "f", b"someone else's")
    with pytest.raises(ReplayConflict) as caught:
        journal.replay(store, journal.entries()[0])
    assert caught.value.kept_at.read_bytes() == mine  # whole, from the base version


def test_no_room_in_the_bound_is_enospc_before_anything_is_written(tmp_path: Path) -> None:
    journal = UploadJournal(tmp_path, max_bytes=3 * BS)
    journal.park("c", "a", None, 2 * BS, lambda o, n: b"a" * n)
    read, reads = _reader(b"b" * 2 * BS)
    with pytest.raises(OSError) as caught:
        journal.park("c", "b", None, 2 * BS, read)
    assert caught.value.errno == errno.ENOSPC and "--cache-size" in str(caught.value)
    assert reads == []  # refused before reading or writing a byte
    assert [e.name for e in journal.entries()] == ["a"]
    assert sorted(p.suffix for p in journal.directory.iterdir()) == [".data", ".json"]


def test_a_disk_without_room_is_enospc_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = UploadJournal(tmp_path)
    real = os.statvfs

    class Almost:
        def __init__(self, st: os.statvfs_result) -> None:
            self.f_frsize, self.f_blocks = st.f_frsize, st.f_blocks
            self.f_bavail = BS // st.f_frsize  # one block's worth left

    monkeypatch.setattr("pithosfs.fs.writeback.journal.os.statvfs", lambda p: Almost(real(p)))
    read, reads = _reader(os.urandom(4 * BS))
    with pytest.raises(OSError) as caught:
        journal.park("c", "f", None, 4 * BS, read)
    assert caught.value.errno == errno.ENOSPC and reads == []
    assert list(journal.directory.iterdir()) == []


def test_refused_for_good_goes_to_failed_and_can_be_retried_saved_or_discarded(
    tmp_path: Path,
) -> None:
    store = _store()
    journal = UploadJournal(tmp_path)
    data = os.urandom(3 * BS + 1)
    entry = journal.park("c", "f", None, len(data), _reader(data)[0], error="down")
    kept = journal.fail(entry, "no right to write there: 403 Forbidden", store)
    assert journal.entries() == [] and kept.read_bytes() == data
    (listed,) = journal_areas.failed(tmp_path)
    assert listed["path"] == "/c/f" and "403" in listed["why"]
    assert listed["retry"].startswith(f"pithosfs journal retry {entry.id}")
    assert listed["discard"].startswith(f"pithosfs journal discard {entry.id}")

    saved = tmp_path / "saved.bin"
    assert journal_areas.save(tmp_path, entry.id[:8], saved) == "/c/f"
    assert saved.read_bytes() == data
    assert journal_areas.retry(tmp_path, entry.id) == "/c/f"
    assert journal_areas.failed(tmp_path) == []
    (back,) = journal.entries()
    assert back.id == entry.id and back.attempts == 0
    journal.replay(store, back)
    assert _content(store, "f") == data

    other = journal.park("c", "g", None, 3, lambda o, n: b"abc")
    journal.fail(other, "refused")
    journal_areas.discard(tmp_path, other.id)
    assert journal_areas.failed(tmp_path) == [] and not any(journal.failed_dir.iterdir())
    with pytest.raises(journal_areas.AreaError):
        journal_areas.retry(tmp_path, "nonexistent")


def test_shared_accounts_journals_are_listed_with_their_mount_paths(tmp_path: Path) -> None:
    mine = UploadJournal(tmp_path, account="http://h/v1/alice")
    theirs = UploadJournal(tmp_path / "shared" / "bob", account="http://h/v1/bob")
    mine.park("c", "a", None, 1, lambda o, n: b"a")
    e = theirs.park("c", "b", None, 1, lambda o, n: b"b")
    paths = {u["path"] for u in journal_areas.journalled(tmp_path, "http://h/v1/alice")}
    assert paths == {"/c/a", "/.shared/bob/c/b"}
    theirs.fail(e, "403")
    assert [f["path"] for f in journal_areas.failed(tmp_path)] == ["/.shared/bob/c/b"]
    other_account = journal_areas.journalled(tmp_path, "http://h/v1/carol")
    assert other_account == [] or {u["path"] for u in other_account} == {"/.shared/bob/c/b"}


def test_replay_refused_for_good_is_not_retried(tmp_path: Path) -> None:
    store = _store()
    journal = UploadJournal(tmp_path)
    journal.park("c", "f", None, 3, lambda o, n: b"abc")

    def refuse(*_a: object, **_k: object) -> None:
        raise Forbidden("Not allowed")

    store.put_object = refuse  # type: ignore[method-assign]
    with pytest.raises(Forbidden):
        journal.replay(store, journal.entries()[0])


def test_a_late_commit_of_the_same_content_is_not_a_conflict(tmp_path: Path) -> None:
    """The close that parked the entry sent a commit that arrived late: the replay's PUT
    fails on the version it made, which holds the same bytes. Done, not a conflict."""
    store = _store()
    base = store.put_object("c", "f", b"old")
    journal = UploadJournal(tmp_path)
    data = os.urandom(3 * BS + 5)
    journal.park("c", "f", base, len(data), _reader(data)[0], error="timed out")
    real_put_hashmap = store.put_hashmap

    def late_commit_first(*a: object, **k: object):  # noqa: ANN202
        store.put_object("c", "f", data)  # the delayed original lands just before
        return real_put_hashmap(*a, **k)

    store.put_hashmap = late_commit_first  # type: ignore[method-assign]
    info = journal.replay(store, journal.entries()[0])
    assert info.size == len(data) and _content(store, "f") == data
    assert journal.entries() == [] and not (tmp_path / "conflicts").exists()
