"""UploadJournal: parked commits survive a restart, replay once, and conflicts are kept."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pithosfs.client.errors import ServerError
from pithosfs.client.fake import FakeStore
from pithosfs.fs.writeback.journal import ReplayConflict, UploadJournal

BS = 4096


def _store() -> FakeStore:
    store = FakeStore(block_size=BS)
    store.create_container("c")
    return store


def _park(journal: UploadJournal, data: bytes, base=None, name: str = "f"):
    return journal.park("c", name, base, len(data), lambda o, n: data[o : o + n], error="down")


def _content(store: FakeStore, name: str) -> bytes:
    info = store.head_object("c", name)
    return store.read_range("c", name, 0, info.size) if info.size else b""


@pytest.mark.parametrize("size", [0, 10, BS, 5 * BS + 7])
def test_parked_file_survives_reload_and_replays(tmp_path: Path, size: int) -> None:
    store = _store()
    data = os.urandom(size)
    entry = _park(UploadJournal(tmp_path), data)
    reloaded = UploadJournal(tmp_path)  # a new mount
    assert [e.id for e in reloaded.entries()] == [entry.id]
    info = reloaded.replay(store, reloaded.entries()[0])
    assert info.size == size
    assert _content(store, "f") == data
    assert reloaded.entries() == []
    assert list(reloaded.directory.iterdir()) == []


def test_failed_replay_keeps_data_and_counts_attempts(tmp_path: Path) -> None:
    store = _store()
    journal = UploadJournal(tmp_path)
    _park(journal, b"precious")

    def down(*_a, **_k):
        raise ServerError("server down")

    store.head_object = down  # type: ignore[method-assign]
    with pytest.raises(ServerError):
        journal.replay(store, journal.entries()[0])
    (entry,) = journal.entries()
    assert entry.attempts == 1 and "server down" in entry.last_error
    assert journal.data_path(entry).read_bytes() == b"precious"


def test_changed_base_is_kept_as_conflict(tmp_path: Path) -> None:
    store = _store()
    base = store.put_object("c", "f", b"old")
    journal = UploadJournal(tmp_path)
    _park(journal, b"mine", base=base)
    store.put_object("c", "f", b"someone else")
    with pytest.raises(ReplayConflict) as caught:
        journal.replay(store, journal.entries()[0])
    assert caught.value.kept_at == tmp_path / "conflicts" / "c" / "f"
    assert caught.value.kept_at.read_bytes() == b"mine"
    assert _content(store, "f") == b"someone else"  # the server's newer data is untouched
    assert journal.entries() == []


def test_new_file_created_meanwhile_is_a_conflict(tmp_path: Path) -> None:
    store = _store()
    journal = UploadJournal(tmp_path)
    _park(journal, b"mine")
    store.put_object("c", "f", b"theirs")
    done, conflicts, pending = journal.replay_all(store)
    assert (done, pending) == ([], []) and len(conflicts) == 1
    assert conflicts[0].kept_at.read_bytes() == b"mine"


def test_unchanged_base_replays_over_it(tmp_path: Path) -> None:
    store = _store()
    base = store.put_object("c", "f", b"old")
    journal = UploadJournal(tmp_path)
    _park(journal, b"new" * 5000, base=base)
    done, conflicts, pending = journal.replay_all(store)
    assert len(done) == 1 and conflicts == [] and pending == []
    assert _content(store, "f") == b"new" * 5000


def test_unfinished_park_is_discarded_and_failed_park_leaves_nothing(tmp_path: Path) -> None:
    journal = UploadJournal(tmp_path)
    (journal.directory / "deadbeef.data").write_bytes(b"half")  # crash before the record
    assert journal.entries() == []
    assert not (journal.directory / "deadbeef.data").exists()

    def failing_read(offset: int, length: int) -> bytes:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        journal.park("c", "f", None, 10, failing_read)
    assert list(journal.directory.iterdir()) == []


def test_entry_already_committed_is_recognised_not_a_conflict(tmp_path: Path) -> None:
    store = _store()
    base = store.put_object("c", "f", b"old")
    journal = UploadJournal(tmp_path)
    data = os.urandom(3 * BS + 5)
    _park(journal, data, base=base)
    store.put_object("c", "f", data)  # the commit went through, but its reply was lost
    done, conflicts, pending = journal.replay_all(store)
    assert len(done) == 1 and conflicts == [] and pending == []
    assert journal.entries() == [] and not (tmp_path / "conflicts").exists()


def test_mounts_of_two_accounts_sharing_a_cache_dir_replay_only_their_own(tmp_path: Path) -> None:
    """The default cache dir is shared: alice's parked file must never land in bob's account."""
    alices = UploadJournal(tmp_path, account="http://h/v1/alice")
    bobs = UploadJournal(tmp_path, account="http://h/v1/bob")
    entry = _park(alices, b"alice's bytes")
    assert [e.id for e in UploadJournal(tmp_path, account="http://h/v1/alice").entries()] == [
        entry.id
    ]
    bob_store = _store()
    assert bobs.entries() == []
    assert bobs.replay_all(bob_store) == ([], [], [])
    assert alices.data_path(entry).exists()  # bob's listing did not take it for a leftover
    alice_store = _store()
    alices.replay_all(alice_store)
    assert _content(alice_store, "f") == b"alice's bytes"
