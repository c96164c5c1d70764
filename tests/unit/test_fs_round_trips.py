"""Fewer round trips on the FakeStore: moves without a HEAD,
attribute changes held and merged, small containers listed whole, files read ahead."""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator

import pytest

from pithosfs.client.fake import FakeStore
from pithosfs.client.types import ObjectInfo, Subdir
from pithosfs.fs.core import Filesystem
from pithosfs.fs.errors import NoEntry
from pithosfs.fs.meta_behind import MetaBehind
from pithosfs.fs.options import FsOptions
from pithosfs.fs.paths import parse
from pithosfs.fs.tree_listing import split_tree

BS = 4096


@pytest.fixture
def store() -> FakeStore:
    s = FakeStore(block_size=BS)
    s.create_container("c")
    return s


@pytest.fixture
def fs(store: FakeStore, tmp_path) -> Iterator[Filesystem]:  # type: ignore[no-untyped-def]
    f = Filesystem(store, FsOptions(cache_dir=tmp_path / "cache", attr_timeout=60, dir_timeout=60))
    yield f
    f.close()


def read_object(store: FakeStore, name: str) -> bytes:
    return bytes(store.read_range("c", name, 0, store.head_object("c", name).size))


def requests(store: FakeStore, before) -> dict[str, int]:  # type: ignore[no-untyped-def]
    delta = store.stats.snapshot() - before
    return {m: delta.count(m) for m in ("GET", "HEAD", "PUT", "POST", "DELETE") if delta.count(m)}


def test_a_move_builds_the_destination_without_a_head(fs: Filesystem, store: FakeStore) -> None:
    store.put_object("c", "a", b"payload", meta={"Pithosfs-Mode": "640", "Color": "red"})
    fs.lookup("/c")
    fs.readdir("/c")  # the destination is known missing, as after `ls`
    old = fs.lookup("/c/a")
    before = store.stats.snapshot()
    fs.rename("/c/a", "/c/b")
    assert requests(store, before) == {"PUT": 1}
    node = fs.lookup("/c/b")
    assert requests(store, before) == {"PUT": 1}
    head = store.head_object("c", "b")
    assert node.ino == old.ino and node.info is not None
    assert (node.info.version, node.info.hash, node.mode) == (head.version, head.hash, 0o640)


def test_a_move_whose_reply_names_no_version_reads_the_current_one(
    fs: Filesystem, store: FakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reference garbles MOVE's X-Object-Version: the node keeps 0, a read asks."""
    store.put_object("c", "a", b"payload")
    fs.lookup("/c/a")
    move = store.move_object
    monkeypatch.setattr(store, "move_object", lambda *a, **k: (move(*a, **k), None)[1])
    fs.rename("/c/a", "/c/b")
    assert fs.lookup("/c/b").version == 0
    fh = fs.open("/c/b", os.O_RDONLY)
    assert bytes(fs.read(fh, 0, 100)) == b"payload"
    fs.release(fh)


def test_attribute_changes_right_after_a_commit_ride_on_the_rename(
    fs: Filesystem, store: FakeStore
) -> None:
    """rsync: temp file written and closed, its times and mode set, renamed into place."""
    fs.readdir("/c")
    fh = fs.create("/c/.f.tmp", 0o600, os.O_RDWR | os.O_CREAT | os.O_EXCL)
    fs.write(fh, 0, b"synced")
    fs.flush(fh)
    fs.release(fh)
    before = store.stats.snapshot()
    fs.utimens("/c/.f.tmp", (0, 1_234_567_890_000_000_000))
    fs.chmod("/c/.f.tmp", 0o644)
    assert stat.S_IMODE(fs.getattr("/c/.f.tmp")["st_mode"]) == 0o644  # shown at once
    fs.rename("/c/.f.tmp", "/c/f")
    assert requests(store, before) == {"PUT": 1}  # the MOVE carried both
    meta = store.head_object("c", "f").meta
    assert meta["Pithosfs-Mode"] == "644" and meta["Pithosfs-Mtime"].startswith("1234567890.")
    assert fs.getattr("/c/f")["st_mtime"] == 1_234_567_890_000_000_000


def test_a_directory_s_time_and_mode_go_in_one_post(fs: Filesystem, store: FakeStore) -> None:
    fs.mkdir("/c/d", 0o700)
    before = store.stats.snapshot()
    fs.utimens("/c/d", (0, 1_000_000_000_000_000_000))
    fs.chmod("/c/d", 0o755)
    assert stat.S_IMODE(fs.getattr("/c/d")["st_mode"]) == 0o755
    deadline = time.monotonic() + 10
    while fs.meta_behind.waiting() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert requests(store, before) == {"POST": 1}
    meta = store.head_object("c", "d").meta
    assert meta["Pithosfs-Mode"] == "755" and meta["Pithosfs-Mtime"] == "1000000000.000000000"


def test_an_older_file_s_chmod_is_sent_at_once(fs: Filesystem, store: FakeStore) -> None:
    store.put_object("c", "old", b"x")
    fs.chmod("/c/old", 0o600)
    assert store.head_object("c", "old").meta["Pithosfs-Mode"] == "600"


def test_what_is_held_goes_before_anything_that_reads_it_and_is_dropped_by_unlink(
    tmp_path,  # type: ignore[no-untyped-def]
) -> None:
    sent: list[tuple[str, dict[str, str]]] = []
    held = MetaBehind(lambda loc, updates, base: sent.append((loc.path, dict(updates))), 60)
    held.add(parse("/c/d/x"), {"A": "1"}, None)
    held.add(parse("/c/d/x"), {"B": "2"}, None)
    held.add(parse("/c/d/sub/y"), {"A": "3"}, None)
    held.add(parse("/c/gone"), {"A": "4"}, None)
    held.flush_children("/c/d")
    assert sent == [("/c/d/x", {"A": "1", "B": "2"})]
    held.discard("/c/gone")
    assert held.take("/c/d/sub/y") == {"A": "3"} and held.waiting() == 0
    held.add(parse("/c/e"), {"A": "5"}, None)
    held.close()
    assert sent[-1] == ("/c/e", {"A": "5"})


def test_a_tree_listing_cut_into_directories() -> None:
    def obj(name: str, ctype: str = "text/plain") -> ObjectInfo:
        return ObjectInfo(name, 1, ctype, "h", "u", 1, 0.0, 0.0)

    dirs = split_tree([obj("a"), obj("b", "application/directory"), obj("b/c/d"), obj("e/f")])
    assert dirs is not None
    assert dirs[""] == [obj("a"), obj("b", "application/directory"), Subdir("b"), Subdir("e")]
    assert dirs["b/"] == [Subdir("b/c")] and dirs["b/c/"] == [obj("b/c/d")]
    assert dirs["e/"] == [obj("e/f")]
    assert split_tree([obj("a//b")]) is None and split_tree([obj("a/")]) is None


def test_a_small_container_answers_every_directory_from_one_listing(
    fs: Filesystem, store: FakeStore
) -> None:
    for name in ("top", "p/a", "p/q/b", "p/q/c", "r/d"):
        store.put_object("c", name, b"x")
    fs.lookup("/c")  # its HEAD brings its object count
    before = store.stats.snapshot()
    assert [n for n, _ in fs.readdir("/c/p/q")] == ["b", "c"]
    assert fs.lookup("/c/r/d").size == 1
    assert [n for n, _ in fs.readdir("/c")] == ["p", "r", "top"]
    assert requests(store, before) == {"GET": 1}
    # A name the snapshot does not show may have been created elsewhere since: asked.
    store.put_object("c", "r/new", b"y")
    assert fs.lookup("/c/r/new").size == 1
    with pytest.raises(NoEntry):
        fs.lookup("/c/r/missing")


def test_a_big_container_is_listed_per_directory(
    store: FakeStore, tmp_path  # type: ignore[no-untyped-def]
) -> None:
    fs = Filesystem(store, FsOptions(cache_dir=tmp_path / "cache", attr_timeout=60, dir_timeout=60))
    fs.trees.whole_max = 3
    try:
        for name in ("a", "b", "d/x", "d/y"):
            store.put_object("c", name, b"x")
        fs.lookup("/c")
        before = store.stats.snapshot()
        assert [n for n, _ in fs.readdir("/c")] == ["a", "b", "d"]
        assert [n for n, _ in fs.readdir("/c/d")] == ["x", "y"]
        assert requests(store, before) == {"GET": 2}  # delimiter listings, no whole one
    finally:
        fs.close()


def _read_whole(fs: Filesystem, path: str) -> bytes:
    fh = fs.open(path, os.O_RDONLY)
    try:
        return bytes(fs.read(fh, 0, 1 << 20))
    finally:
        fs.release(fh)


def _settle(fs: Filesystem) -> None:
    deadline = time.monotonic() + 10
    while fs.background_work() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_files_read_in_listing_order_are_fetched_ahead_once(
    fs: Filesystem, store: FakeStore
) -> None:
    for i in range(12):
        store.put_object("c", f"w/f{i:02d}", b"file %d" % i)
    store.put_object("c", "w/sub/z", b"below")
    fs.lookup("/c")
    fs.readdir("/c/w")
    before = store.stats.snapshot()
    got = [_read_whole(fs, f"/c/w/f{i:02d}") for i in range(12)]
    _settle(fs)
    assert got == [b"file %d" % i for i in range(12)]
    assert requests(store, before) == {"GET": 12}  # each file once, whoever fetched it
    assert fs.prefetch.fetched_ahead >= 8 and fs.prefetch.taken == fs.prefetch.fetched_ahead


def test_read_ahead_stops_when_the_order_breaks(fs: Filesystem, store: FakeStore) -> None:
    for i in range(40):
        store.put_object("c", f"w/f{i:02d}", b"file %d" % i)
    fs.lookup("/c")
    listing = dict(fs.readdir("/c/w"))
    by_inode = sorted(listing, key=lambda n: listing[n].ino)
    before = store.stats.snapshot()
    for i in (0, 1, 2, 3):
        _read_whole(fs, f"/c/w/f{i:02d}")
    _settle(fs)
    ahead = fs.prefetch.fetched_ahead
    assert 0 < ahead <= 2 + 4 + 8  # the window grew with each file in order
    # Then files in no order, by name or by inode number: nothing more is fetched ahead.
    picked: list[str] = []
    for name in (f"f{i:02d}" for i in (30, 10, 25, 17, 36, 21, 33, 12)):
        prev = picked[-1] if picked else "f03"
        if abs(by_inode.index(name) - by_inode.index(prev)) > 1 and len(picked) < 3:
            picked.append(name)
    assert len(picked) == 3
    for name in picked:
        _read_whole(fs, f"/c/w/{name}")
    _settle(fs)
    assert fs.prefetch.fetched_ahead == ahead
    assert requests(store, before)["GET"] <= 4 + ahead + 3


def test_a_directory_changed_here_since_the_snapshot_is_listed_again(
    fs: Filesystem, store: FakeStore
) -> None:
    """A snapshot names the versions it saw: a directory this mount changed since (a
    file created, rewritten or removed) is listed again, never shown older than it is."""
    store.put_object("c", "d/old", b"x")
    store.put_object("c", "d/gone", b"x")
    store.put_object("c", "e/kept", b"x")
    fs.lookup("/c")
    assert [n for n, _ in fs.readdir("/c/d")] == ["gone", "old"]  # the snapshot is taken
    fs.stats.forget_listing("/c/d")  # as when the directory's listing expires
    fh = fs.create("/c/d/new", 0o644, os.O_WRONLY | os.O_CREAT)
    fs.write(fh, 0, b"y")
    fs.flush(fh)
    fs.release(fh)
    fh = fs.open("/c/d/old", os.O_WRONLY | os.O_TRUNC)
    fs.write(fh, 0, b"rewritten")
    fs.flush(fh)
    fs.release(fh)
    fs.unlink("/c/d/gone")
    fs.stats.forget_listing("/c/d")
    fs.stats.forget("/c/d/old")  # its own entry gone too: only a listing can tell
    before = store.stats.snapshot()
    listing = dict(fs.readdir("/c/d"))
    assert sorted(listing) == ["new", "old"] and listing["old"].size == len(b"rewritten")
    assert requests(store, before) == {"GET": 1}  # listed again, not cut out
    assert [n for n, _ in fs.readdir("/c/e")] == ["kept"]  # unchanged: from the snapshot
    assert requests(store, before) == {"GET": 1}


def test_files_read_in_inode_order_are_fetched_ahead_too(fs: Filesystem, store: FakeStore) -> None:
    """GNU `cp -r` reads a directory sorted by inode number, not by name."""
    for i in range(12):
        store.put_object("c", f"w/f{i:02d}", b"file %d" % i)
    fs.lookup("/c")
    listing = dict(fs.readdir("/c/w"))
    by_inode = sorted(listing, key=lambda n: listing[n].ino)
    assert by_inode != sorted(listing)  # the two orders differ (hashed inode numbers)
    before = store.stats.snapshot()
    got = {name: _read_whole(fs, f"/c/w/{name}") for name in by_inode}
    _settle(fs)
    assert got == {f"f{i:02d}": b"file %d" % i for i in range(12)}
    assert requests(store, before) == {"GET": 12}
    assert fs.prefetch.fetched_ahead >= 8 and fs.prefetch.taken == fs.prefetch.fetched_ahead


def test_a_version_s_hashmap_is_fetched_once(fs: Filesystem, store: FakeStore) -> None:
    """Segments read ahead on several threads, and later opens, share one hashmap GET."""
    data = os.urandom(40 * BS)
    store.put_object("c", "big", data)
    fs.lookup("/c")
    fs.readdir("/c")
    hashmap_gets = []
    get_hashmap = store.get_hashmap

    def counted(*args, **kw):  # type: ignore[no-untyped-def]
        hashmap_gets.append(args)
        return get_hashmap(*args, **kw)

    store.get_hashmap = counted  # type: ignore[method-assign]
    for _ in range(2):
        fh = fs.open("/c/big", os.O_RDONLY)
        got = b"".join(bytes(fs.read(fh, off, 8 * BS)) for off in range(0, len(data), 8 * BS))
        fs.release(fh)
        assert got == data
    assert len(hashmap_gets) == 1, hashmap_gets


def test_a_small_directory_whose_listing_expired_is_listed_again_not_asked_by_name(
    fs: Filesystem, store: FakeStore
) -> None:
    """rsync into a directory this mount made: once its listing expires, the names it
    looks up (its files, its temporaries) cost one listing, not a HEAD and a one-entry
    listing each."""
    now = [1000.0]
    fs.stats._clock = lambda: now[0]  # type: ignore[method-assign]
    fs.trees.whole_max = -1  # no container is small: listed per directory
    fs.lookup("/c")
    fs.mkdir("/c/d", 0o755)
    for name in ("a", "b"):
        fh = fs.create(f"/c/d/{name}", 0o644, os.O_WRONLY | os.O_CREAT)
        fs.write(fh, 0, b"x")
        fs.release(fh)
    now[0] += 120  # listing and entries expired
    before = store.stats.snapshot()
    assert fs.lookup("/c/d/a").size == 1
    for name in ("b", ".tmp1", ".tmp2", "c"):
        fs.exists(f"/c/d/{name}")
    assert requests(store, before) == {"GET": 1}


def test_a_file_renamed_while_open_with_unsaved_data_moves_its_new_version(
    fs: Filesystem, store: FakeStore
) -> None:
    """The rename commits the open file first: the destination shows that version
    (its size), not the one the file was opened at."""
    store.put_object("c", "a", b"short")
    fs.lookup("/c")
    fs.readdir("/c")
    fh = fs.open("/c/a", os.O_WRONLY)
    fs.write(fh, 5, b" and longer")
    fs.rename("/c/a", "/c/b")
    assert fs.getattr("/c/b")["st_size"] == len(b"short and longer")
    fs.release(fh)
    fh = fs.open("/c/b", os.O_RDONLY)
    assert bytes(fs.read(fh, 0, 100)) == b"short and longer"
    fs.release(fh)


def test_a_held_change_lands_on_the_version_committed_meanwhile(
    fs: Filesystem, store: FakeStore
) -> None:
    """A handle open since before a chmod commits new content while the chmod waits:
    the chmod goes onto that version, and the file shows both."""
    fs.lookup("/c")
    fs.readdir("/c")
    fh = fs.create("/c/f", 0o644, os.O_RDWR | os.O_CREAT)
    fs.write(fh, 0, b"one")
    fs.fsync(fh)  # committed: attribute changes are held from now on
    fs.chmod("/c/f", 0o600)
    fs.write(fh, 3, b" and two")
    fs.release(fh)  # commits the new content while the chmod still waits
    _settle(fs)
    st = fs.getattr("/c/f")
    assert (st["st_size"], stat.S_IMODE(st["st_mode"])) == (len(b"one and two"), 0o600)
    assert store.head_object("c", "f").meta["Pithosfs-Mode"] == "600"
    assert read_object(store, "f") == b"one and two"


def test_a_directory_s_mtime_set_after_filling_it_is_what_it_shows(
    fs: Filesystem, store: FakeStore
) -> None:
    """rsync -a and tar x set a directory's time after creating its entries: that time
    shows, not the (later) time of the last entry change, so the next rsync sets nothing."""
    fs.mkdir("/c/d", 0o755)
    fh = fs.create("/c/d/f", 0o644, os.O_WRONLY | os.O_CREAT)
    fs.release(fh)
    fs.utimens("/c/d", (0, 1_000_000_000_000_000_000))
    assert fs.getattr("/c/d")["st_mtime"] == 1_000_000_000_000_000_000


def test_a_walk_goes_on_in_a_renewed_listing_without_the_files_removed_meanwhile(
    fs: Filesystem, store: FakeStore
) -> None:
    """Files fetched ahead, then removed and the listing renewed: the walk carries on
    (a name the new listing lacks is dropped, not looked up in it)."""
    now = [1000.0]
    fs.stats._clock = lambda: now[0]  # type: ignore[method-assign]
    for i in range(12):
        store.put_object("c", f"w/f{i:02d}", b"file %d" % i)
    fs.lookup("/c")
    fs.readdir("/c/w")
    for i in (0, 1, 2, 3):
        _read_whole(fs, f"/c/w/f{i:02d}")
    _settle(fs)
    assert "f04" in fs.prefetch._walks[("/c/w", "name")].ahead
    fs.unlink("/c/w/f04")  # fetched ahead, now gone
    for order in ("name", "inode"):  # the walk's listing just expired: it is renewed
        fs.prefetch._walks[("/c/w", order)].expires = time.monotonic() - 1
    assert _read_whole(fs, "/c/w/f05") == b"file 5"
    assert _read_whole(fs, "/c/w/f06") == b"file 6"


def test_a_flush_waits_for_the_change_already_on_the_wire() -> None:
    """An open for writing flushes a path whose POST another thread has on the wire: it
    returns only once that POST has landed (else its HEAD could miss the change)."""
    import threading

    landed = threading.Event()
    release = threading.Event()

    def send(loc, updates, base):  # type: ignore[no-untyped-def]
        release.wait(10)
        landed.set()

    held = MetaBehind(send, 60)
    held.add(parse("/c/f"), {"A": "1"}, None)
    sender = threading.Thread(target=held.flush, args=("/c/f",))
    sender.start()
    deadline = time.monotonic() + 10
    while not held._on_wire and time.monotonic() < deadline:  # the first flush sends it
        time.sleep(0.001)
    waiter = threading.Thread(target=held.flush, args=("/c/f",))
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive() and not landed.is_set()  # waiting for the POST on the wire
    release.set()
    waiter.join(10)
    sender.join(10)
    assert landed.is_set() and not waiter.is_alive()


def test_a_moved_file_whose_version_is_not_known_is_not_read_ahead(
    fs: Filesystem, store: FakeStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against the reference a moved file's version is not known (0): two such files
    in turn at one name must not pass for one another through a reader fetched ahead."""
    move = store.move_object
    monkeypatch.setattr(store, "move_object", lambda *a, **k: (move(*a, **k), None)[1])
    for i in range(6):
        store.put_object("c", f"w/f{i:02d}", b"file %d" % i)
    store.put_object("c", "w/a", b"first moved")
    store.put_object("c", "w/b", b"second moved")
    fs.lookup("/c")
    fs.readdir("/c/w")
    fs.rename("/c/w/a", "/c/w/f03")
    fs.readdir("/c/w")
    for i in (0, 1):
        _read_whole(fs, f"/c/w/f{i:02d}")
    _settle(fs)
    assert "f03" not in fs.prefetch._walks[("/c/w", "name")].ahead  # its version unknown
    fs.rename("/c/w/b", "/c/w/f03")
    assert _read_whole(fs, "/c/w/f02") == b"file 2"
    assert _read_whole(fs, "/c/w/f03") == b"second moved"
