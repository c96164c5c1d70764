"""The file table's last commit (release, unmount) journals or holds what it cannot commit.

FakeStore with a switch that makes every request fail like a server that is down;
the retrier (durability.UploadGuard) must upload by itself once it is back.
"""

from __future__ import annotations

import errno
import os
import time
from collections import Counter
from pathlib import Path

import pytest

from pithosfs.client.errors import (
    Forbidden,
    InsufficientStorage,
    NotFound,
    QuotaExceeded,
    ServerError,
)
from pithosfs.client.fake import FakeStore
from pithosfs.fs.core import Filesystem
from pithosfs.fs.options import FsOptions
from pithosfs.fs.writeback.durability import guard_of

BS = 4096


class SwitchableStore(FakeStore):
    """A FakeStore whose requests all fail while `down` is set (as a stopped server's);
    `refuse` maps a method (or "name:<object>") to the error it raises instead; `calls`
    counts the write requests made."""

    down = False
    refuse: dict[str, Exception]
    calls: Counter[str]

    def __getattribute__(self, name: str):  # noqa: ANN204
        attr = super().__getattribute__(name)
        if name.startswith("_") or not callable(attr) or name in ANSWERED_LOCALLY:
            return attr
        if super().__getattribute__("down"):

            def down(*_a: object, **_k: object) -> None:
                raise ServerError(f"{name}: connection refused")

            return down
        refusals = super().__getattribute__("__dict__").get("refuse", {})
        calls = super().__getattribute__("__dict__").setdefault("calls", Counter())

        def checked(*a: object, **k: object) -> object:
            if name in WRITES:
                calls[name] += 1
            target = a[1] if len(a) > 1 and isinstance(a[1], str) else ""
            failure = refusals.get(name) or refusals.get(f"name:{target}")
            if failure is not None and name in WRITES:
                raise failure
            return attr(*a, **k)

        return checked


WRITES = frozenset({"put_object", "put_hashmap", "upload_blocks"})
# What the test sets up, and what the HTTP client answers without a request (a stopped
# server does not change whether the client could fetch a new token).
ANSWERED_LOCALLY = frozenset({"stats", "create_container", "can_reauthenticate"})


@pytest.fixture
def store() -> SwitchableStore:
    s = SwitchableStore(block_size=BS)
    s.create_container("c")
    return s


@pytest.fixture
def fs(store: SwitchableStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PITHOSFS_RETRY_MAX", "0.2")
    f = Filesystem(store, FsOptions(cache_dir=tmp_path / "cache", attr_timeout=60, dir_timeout=60))
    yield f
    guard_of(f).stop()
    f.close()


def content(store: FakeStore, name: str) -> bytes:
    info = store.head_object("c", name)
    return store.read_range("c", name, 0, info.size) if info.size else b""


def wait_for(predicate, timeout: float = 10.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.02)


def write_new(fs: Filesystem, name: str, data: bytes) -> int:
    fh = fs.files.create(f"/c/{name}", 0o644, os.O_WRONLY | os.O_CREAT)
    fs.files.write(fh, 0, data)
    return fh


def test_failed_close_is_journalled_then_uploaded_when_the_server_returns(fs, store) -> None:
    data = os.urandom(3 * BS + 11)
    fs.container_info("c")  # known before the server goes away (as on a live mount)
    fh = write_new(fs, "f", data)
    store.down = True
    with pytest.raises(ServerError):
        fs.files.flush(fh)  # what close() reports
    fs.files.release(fh)
    guard = guard_of(fs)
    (entry,) = guard.journal.entries()
    assert (entry.container, entry.name, entry.size) == ("c", "f", len(data))
    assert guard.journal.data_path(entry).read_bytes() == data
    assert [(u.path, u.state) for u in guard.pending()] == [("/c/f", "journal")]
    time.sleep(0.5)  # several retries fail meanwhile; the entry stays
    assert guard.journal.entries() and guard.journal.entries()[0].attempts >= 1
    store.down = False
    wait_for(lambda: guard.committed == 1)
    assert content(store, "f") == data
    assert guard.pending() == [] and guard.journal.entries() == []


def test_entry_whose_object_changed_meanwhile_is_kept_as_conflict(fs, store) -> None:
    base = store.put_object("c", "f", b"old")
    fs.container_info("c")
    fh = fs.files.open("/c/f", os.O_WRONLY | os.O_TRUNC)
    fs.files.write(fh, 0, b"mine")
    store.down = True
    fs.files.release(fh)
    guard = guard_of(fs)
    assert guard.journal.entries()[0].base_hash == base.hash
    store.down = False
    store.put_object("c", "f", b"theirs")  # someone else, while the entry waited
    wait_for(lambda: bool(guard.recent_conflicts()))
    (conflict,) = guard.recent_conflicts()
    assert conflict["path"] == "/c/f"
    assert Path(conflict["kept_at"]).read_bytes() == b"mine"
    assert content(store, "f") == b"theirs"
    assert guard.journal.entries() == []


def test_file_that_cannot_be_journalled_is_held_and_retried(fs, store, monkeypatch) -> None:
    original = os.urandom(4 * BS)
    store.put_object("c", "big", original)
    fs.container_info("c")
    fh = fs.files.open("/c/big", os.O_RDWR)
    fs.files.write(fh, BS + 1, b"patch")
    guard = guard_of(fs)

    def disk_full(*_a: object, **_k: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(guard.journal, "park", disk_full)
    store.down = True
    fs.files.release(fh)
    assert list(guard.journal.directory.iterdir()) == []
    assert [(u.path, u.state) for u in guard.pending()] == [("/c/big", "held")]
    time.sleep(0.5)
    assert guard.pending()[0].attempts >= 1  # retried, still failing, still held
    store.down = False
    wait_for(lambda: guard.pending() == [])
    expected = original[: BS + 1] + b"patch" + original[BS + 6 :]
    assert content(store, "big") == expected


def test_unmount_journals_what_it_cannot_commit(fs, store, tmp_path: Path) -> None:
    fs.container_info("c")
    write_new(fs, "open-at-unmount", b"still open")
    store.down = True
    fs.files.close_all()
    guard_of(fs).stop()
    reloaded = Filesystem(store, FsOptions(cache_dir=tmp_path / "cache"))  # the next mount
    try:
        store.down = False
        again = guard_of(reloaded)
        again.start()
        wait_for(lambda: not again.journal.entries())
        assert content(store, "open-at-unmount") == b"still open"
    finally:
        guard_of(reloaded).stop()
        reloaded.close()


def test_commit_at_release_shows_as_uploading_while_it_runs(fs, store, monkeypatch) -> None:
    import threading

    gate = threading.Event()
    entered = threading.Event()
    real_put_hashmap = store.put_hashmap

    def slow_put_hashmap(*a: object, **k: object):  # noqa: ANN202
        entered.set()
        assert gate.wait(10)
        return real_put_hashmap(*a, **k)

    monkeypatch.setattr(store, "put_hashmap", slow_put_hashmap)
    # No block may end in NUL: such a block goes up stripped, and the counter counts
    # bytes on the wire (random data did so in 1 run of about 85: CI, 2026-12-05).
    data = b"".join(os.urandom(BS - 1) + b"\x01" for _ in range(3))
    fh = write_new(fs, "slow", data)
    closing = threading.Thread(target=fs.files.release, args=(fh,))
    closing.start()
    assert entered.wait(10)
    guard = guard_of(fs)
    (upload,) = guard.pending()
    assert (upload.path, upload.state, upload.total) == ("/c/slow", "uploading", len(data))
    assert upload.sent == len(data)  # the blocks went up before the hashmap PUT
    gate.set()
    closing.join(10)
    assert guard.pending() == [] and content(store, "slow") == data


def test_entry_whose_data_vanished_is_set_aside_not_retried_forever(fs, store) -> None:
    guard = guard_of(fs)
    fs.container_info("c")
    fh = write_new(fs, "gone", b"data")
    store.down = True
    fs.files.release(fh)
    (entry,) = guard.journal.entries()
    guard.journal.data_path(entry).unlink()  # e.g. removed by hand
    store.down = False
    guard.retry_now()
    wait_for(lambda: guard.journal.entries() == [])
    assert (guard.journal.directory / f"{entry.id}.bad").exists()
    with pytest.raises(NotFound):
        store.head_object("c", "gone")


def test_replayed_upload_is_visible_in_the_mount_at_once(fs, store) -> None:
    store.put_object("c", "f", b"old")
    assert fs.lookup("/c/f").size == 3  # cached for the 60 s attribute timeout
    fh = fs.files.open("/c/f", os.O_WRONLY | os.O_TRUNC)
    fs.files.write(fh, 0, b"new and longer")
    store.down = True
    fs.files.release(fh)
    assert fs.lookup("/c/f").size == 3  # the server's version while it waits
    store.down = False
    guard = guard_of(fs)
    wait_for(lambda: guard.committed == 1)
    assert fs.lookup("/c/f").size == len(b"new and longer")


def test_a_failed_close_is_journalled_before_it_returns_and_left_alone_while_open(
    fs, store, caplog
) -> None:
    """The crash window: close() fails, the mount dies before release. The bytes must be
    in the journal when close() returns, not only after release's second try."""
    fs.container_info("c")
    data = os.urandom(3 * BS + 5)
    fh = write_new(fs, "f", data)
    store.down = True
    with pytest.raises(ServerError):
        fs.files.flush(fh)
    guard = guard_of(fs)
    (entry,) = guard.journal.entries()
    assert guard.journal.data_path(entry).read_bytes() == data
    store.down = False
    guard.retry_now()
    time.sleep(0.6)  # retrier passes run meanwhile (retry max 0.2 s): the open file is left be
    with pytest.raises(NotFound):
        store.head_object("c", "f")
    assert sum(store.calls.values()) == 0
    fs.files.release(fh)  # unchanged since that close: not committed again, the journal has it
    assert "commit at release" not in caplog.text
    wait_for(lambda: guard.journal.entries() == [])
    assert content(store, "f") == data


def test_a_later_commit_of_the_open_file_supersedes_its_journal_copy(fs, store) -> None:
    fs.container_info("c")
    fh = write_new(fs, "f", b"first")
    store.down = True
    with pytest.raises(ServerError):
        fs.files.flush(fh)
    assert len(guard_of(fs).journal.entries()) == 1
    store.down = False
    fs.files.write(fh, 5, b" and second")
    fs.files.flush(fh)
    assert guard_of(fs).journal.entries() == []
    fs.files.release(fh)
    assert content(store, "f") == b"first and second"


def test_unlinking_an_open_file_drops_its_journal_copy(fs, store) -> None:
    fs.container_info("c")
    fh = write_new(fs, "f", b"soon gone")
    store.down = True
    with pytest.raises(ServerError):
        fs.files.flush(fh)
    store.down = False
    fs.unlink("/c/f")
    fs.files.release(fh)
    assert guard_of(fs).journal.entries() == []
    time.sleep(0.5)
    with pytest.raises(NotFound):
        store.head_object("c", "f")  # never resurrected by a replay


@pytest.mark.parametrize(
    "refusal, number",
    [
        (Forbidden("Not allowed"), errno.EACCES),
        (QuotaExceeded("Quota error: account quota exceeded"), errno.EDQUOT),
        (InsufficientStorage("Insufficient Storage"), errno.ENOSPC),  # the server's disk
    ],
)
@pytest.mark.parametrize("call", ["close", "fsync"])
def test_a_close_refused_for_good_is_the_writers_errno_and_nothing_is_kept(
    fs, store, refusal: Exception, number: int, call: str
) -> None:
    fs.container_info("c")
    store.put_object("c", "f", b"theirs")
    fh = fs.files.open("/c/f", os.O_WRONLY | os.O_TRUNC)
    fs.files.write(fh, 0, b"mine" * 3000)
    store.refuse = {"put_object": refusal, "put_hashmap": refusal, "upload_blocks": refusal}
    with pytest.raises(OSError) as caught:
        fs.fsync(fh) if call == "fsync" else fs.files.flush(fh)
    assert caught.value.errno == number
    tries = sum(store.calls.values())
    fs.files.release(fh)
    guard = guard_of(fs)
    assert guard.journal.entries() == [] and guard.pending() == []
    assert not guard.journal.failed_dir.exists() or not any(guard.journal.failed_dir.iterdir())
    time.sleep(0.5)
    assert sum(store.calls.values()) == tries  # not sent again: not at release, not later
    assert content(store, "f") == b"theirs"


def test_a_refusal_nobody_could_be_told_of_goes_to_failed(fs, store) -> None:
    """Written and released without a close's flush (as after an mmap write): the commit at
    release is refused for good; its content waits in failed/, never deleted."""
    fs.container_info("c")
    fh = write_new(fs, "f", b"precious")
    store.refuse = {"put_object": Forbidden("Not allowed")}
    fs.files.release(fh)
    guard = guard_of(fs)
    assert guard.journal.entries() == []
    (kept,) = list(guard.journal.failed_dir.glob("*.data"))
    assert kept.read_bytes() == b"precious"
    (record,) = guard.failures
    assert record["path"] == "/c/f" and "no right to write" in record["why"]


def test_replay_refused_for_good_moves_the_entry_to_failed(fs, store) -> None:
    fs.container_info("c")
    fh = write_new(fs, "f", b"data")
    store.down = True
    fs.files.release(fh)
    guard = guard_of(fs)
    store.refuse = {"put_object": Forbidden("Not allowed")}
    store.down = False
    wait_for(lambda: bool(guard.failures))
    assert guard.journal.entries() == []
    tries = store.calls["put_object"]
    time.sleep(0.6)
    assert store.calls["put_object"] == tries  # never retried by itself


def test_one_failing_entry_does_not_hold_back_the_others(fs, store) -> None:
    fs.container_info("c")
    for name in ("a-stuck", "b-fine"):
        fh = write_new(fs, name, name.encode())
        store.down = True
        fs.files.release(fh)
        store.down = False
    guard = guard_of(fs)
    assert [e.name for e in guard.journal.entries()] == ["a-stuck", "b-fine"]
    store.refuse = {"name:a-stuck": ServerError("503 busy", status=503)}
    wait_for(lambda: [e.name for e in guard.journal.entries()] == ["a-stuck"])
    assert content(store, "b-fine") == b"b-fine"
    wait_for(lambda: guard.journal.entries()[0].attempts >= 2)  # retried on its own schedule
