"""Modes, mtimes and links without the listing extension: the metadata cache keyed by
(uuid, version) and the store decorator that completes listings (fs/meta_store.py)."""

from __future__ import annotations

import stat
import threading
import time
from pathlib import Path

from pithosfs.cache.meta_cache import MetaCache
from pithosfs.client.fake import FakeStore
from pithosfs.client.types import ObjectInfo
from pithosfs.fs import nodes
from pithosfs.fs.core import META_CACHE_FILE, Filesystem
from pithosfs.fs.meta_store import ASSUMED_EMPTY, MetaCachingStore
from pithosfs.fs.options import FsOptions


def _fs(store: FakeStore, cache_dir: Path) -> Filesystem:
    return Filesystem(store, FsOptions(cache_dir=cache_dir, attr_timeout=60, dir_timeout=0))


def _requests(store: FakeStore) -> dict[str, int]:
    return {m: s.requests for m, s in store.stats.snapshot().by_method.items() if s.requests}


def test_cache_survives_reopening_and_keys_on_uuid_and_version(tmp_path: Path) -> None:
    cache = MetaCache(tmp_path / "m.sqlite3")
    cache.put("u1", 7, {"Pithosfs-Mode": "755"})
    cache.put("u1", 8, {"Pithosfs-Mode": "700"})
    cache.close()
    again = MetaCache(tmp_path / "m.sqlite3")
    assert again.get("u1", 7) == {"Pithosfs-Mode": "755"}
    assert again.get("u1", 8) == {"Pithosfs-Mode": "700"}
    assert again.get("u1", 9) is None and again.get("u2", 7) is None
    many = again.get_many([("u1", 7), ("u1", 8), ("x", 1)])
    assert set(many) == {("u1", 7), ("u1", 8)}
    assert (tmp_path / "m.sqlite3").stat().st_mode & 0o077 == 0


def test_cache_is_bounded_on_disk(tmp_path: Path) -> None:
    cache = MetaCache(tmp_path / "m.sqlite3", max_rows=100, memory_entries=10)
    for i in range(1500):
        cache.put(f"u{i}", 1, {"K": str(i)})
    assert len(cache) <= 1100  # trimmed every 1000 writes to max_rows
    assert cache.get("u1499", 1) == {"K": "1499"}


def test_an_unusable_cache_file_costs_only_the_cache(tmp_path: Path) -> None:
    (tmp_path / "m.sqlite3").mkdir()  # not a file: SQLite cannot open it
    cache = MetaCache(tmp_path / "m.sqlite3")
    cache.put("u", 1, {"K": "v"})
    assert cache.get("u", 1) == {"K": "v"}  # kept in memory


def test_ls_without_listing_meta_keeps_modes_and_mtimes_across_fresh_mounts(
    tmp_path: Path,
) -> None:
    store = FakeStore(listing_meta=False)
    store.create_container("c")
    fs = _fs(store, tmp_path / "cache")
    for name in ("a", "b", "c"):
        fs.release(fs.create(f"/c/{name}", 0o644, 0))
    fs.chmod("/c/a", 0o755)
    fs.utimens("/c/b", (0, 1_500_000_000_123_456_789))
    fs.symlink("/c/l", "a")
    fs.close()
    # Another client changes nothing; a fresh mount of the same cache dir lists once.
    store.stats.reset()
    fresh = _fs(store, tmp_path / "cache")
    listing = dict(fresh.readdir("/c"))
    assert _requests(store) == {"GET": 1, "HEAD": 1}  # the listing and the container itself
    assert listing["a"].mode == 0o755 and listing["c"].mode == 0o644
    assert listing["b"].mtime_ns == 1_500_000_000_123_456_789
    assert listing["l"].kind is nodes.NodeKind.LINK
    fresh.close()
    # A fresh mount with an empty cache asks the server, each object once, never a default.
    store.stats.reset()
    empty = _fs(store, tmp_path / "other-cache")
    listing = dict(empty.readdir("/c"))
    assert listing["a"].mode == 0o755 and listing["b"].mtime_ns == 1_500_000_000_123_456_789
    assert _requests(store)["HEAD"] == 1 + 4
    store.stats.reset()
    assert dict(empty.readdir("/c"))["a"].mode == 0o755
    assert _requests(store).get("HEAD", 0) == 0  # versions seen once are known for good
    empty.close()


def test_a_changed_object_is_fetched_again_by_its_new_version(tmp_path: Path) -> None:
    store = FakeStore(listing_meta=False)
    store.create_container("c")
    fs = _fs(store, tmp_path / "cache")
    fs.release(fs.create("/c/f", 0o600, 0))
    assert dict(fs.readdir("/c"))["f"].mode == 0o600
    store.update_meta("c", "f", {nodes.MODE_KEY: "640"})  # another client's chmod
    assert dict(fs.readdir("/c"))["f"].mode == 0o640
    fs.close()


def test_own_chmod_records_the_new_version_without_a_head(tmp_path: Path) -> None:
    store = FakeStore(listing_meta=False)
    store.create_container("c")
    fs = _fs(store, tmp_path / "cache")
    fs.release(fs.create("/c/f", 0o644, 0))
    fs.readdir("/c")
    store.stats.reset()
    fs.chmod("/c/f", 0o751)  # just written: held a moment for more changes (meta_behind.py)
    assert stat.S_IMODE(fs.getattr("/c/f")["st_mode"]) == 0o751
    assert _requests(store) == {}
    assert dict(fs.readdir("/c"))["f"].mode == 0o751  # a listing sends what is held first
    assert _requests(store) == {"POST": 1, "GET": 1}  # the listing, no HEAD
    fs.close()


def test_a_container_whose_objects_carry_no_node_keys_needs_no_head(tmp_path: Path) -> None:
    store = FakeStore(listing_meta=False)
    store.create_container("c")
    for i in range(20):
        store.put_object("c", f"o{i}", b"x", meta={"Color": "red"})
    wrapped = MetaCachingStore(store, MetaCache(tmp_path / "m"))
    keys = {"c": frozenset({"color"})}
    store.object_meta_keys = keys.get  # type: ignore[attr-defined]  # what a reply says
    store.stats.reset()
    items = [i for i in wrapped.list_objects("c") if isinstance(i, ObjectInfo)]
    assert len(items) == 20 and all(i.meta is ASSUMED_EMPTY for i in items)
    assert _requests(store) == {"GET": 1}
    keys["c"] = frozenset({"color", "pithosfs-mode"})
    items = [i for i in wrapped.list_objects("c") if isinstance(i, ObjectInfo)]
    assert all(i.meta == {"Color": "red"} for i in items)
    assert _requests(store) == {"GET": 2, "HEAD": 20}
    wrapped.close()


def test_heads_of_a_listing_run_in_parallel(tmp_path: Path) -> None:
    store = FakeStore(listing_meta=False)
    store.create_container("c")
    for i in range(16):
        store.put_object("c", f"o{i}", b"x")
    inside = 0
    most = 0
    lock = threading.Lock()
    plain_head = store.head_object

    def slow_head(*args: object, **kw: object) -> ObjectInfo:
        nonlocal inside, most
        with lock:
            inside += 1
            most = max(most, inside)
        time.sleep(0.05)
        with lock:
            inside -= 1
        return plain_head(*args, **kw)  # type: ignore[arg-type]

    store.head_object = slow_head  # type: ignore[method-assign]
    wrapped = MetaCachingStore(store, MetaCache(tmp_path / "m"))
    assert len(list(wrapped.list_objects("c"))) == 16
    assert most > 1
    wrapped.close()


def test_rights_of_another_accounts_share_come_from_heads(tmp_path: Path) -> None:
    store = FakeStore(listing_meta=False)
    store.create_container("c")
    store.put_object("c", "f", b"x")
    wrapped = MetaCachingStore(store, MetaCache(tmp_path / "m"), rights=True)
    store.stats.reset()
    list(wrapped.list_objects("c"))
    list(wrapped.list_objects("c"))
    assert _requests(store) == {"GET": 2, "HEAD": 2}  # rights are not versioned: not cached
    wrapped.close()


def test_cache_file_lives_in_the_cache_dir(tmp_path: Path) -> None:
    store = FakeStore()
    store.create_container("c")
    fs = _fs(store, tmp_path / "cache")
    fs.close()
    assert (tmp_path / "cache" / META_CACHE_FILE).is_file()
