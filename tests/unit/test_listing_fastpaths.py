"""The per-entry shortcuts of the listing path give what the plain code gives.

`ls -l` of a big directory runs entry_from_json, node_from_object and the stat
cache's fill_dir once per entry; each builds its objects without the frozen
dataclass __init__ and pauses the cyclic collector (see pithosfs.fs.gc_pause).
These tests hold the shortcuts to the plain constructors and rules.
"""

from __future__ import annotations

import dataclasses
import gc
import threading

import pytest

from pithosfs.cache.stat_cache import MISSING, StatCache
from pithosfs.client import parsing as p
from pithosfs.client.fake import FakeStore
from pithosfs.client.types import ObjectInfo, listed_object
from pithosfs.fs import gc_pause, nodes
from pithosfs.fs.core import Filesystem
from pithosfs.fs.gc_pause import gc_paused
from pithosfs.fs.nodes import Node, NodeKind
from pithosfs.fs.options import FsOptions

FIELDS = dict(
    name="d/f", size=7, content_type="text/plain", hash="ab" * 32, uuid="u-1", version=9,
    version_timestamp=1.5, last_modified=2.5, modified_by="someone", meta={"K": "v"},
    sharing="read=x", public_url="http://p", allowed_to="read", shared_by="a/c/d",
)  # fmt: skip


def test_listed_object_is_the_dataclass_with_every_field() -> None:
    fast = listed_object(**FIELDS)  # type: ignore[arg-type]
    plain = ObjectInfo(**FIELDS)  # type: ignore[arg-type]
    assert type(fast) is ObjectInfo
    assert fast == plain and hash(dataclasses.replace(fast, meta=None)) == hash(
        dataclasses.replace(plain, meta=None)
    )
    for field in dataclasses.fields(ObjectInfo):  # each one set (a missed slot raises)
        assert getattr(fast, field.name) == FIELDS[field.name], field.name
    assert len(FIELDS) == len(dataclasses.fields(ObjectInfo))
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.size = 8  # type: ignore[misc]
    assert dataclasses.replace(fast, size=1).size == 1


def item(**extra: object) -> dict[str, object]:
    base: dict[str, object] = {
        "name": "f", "bytes": 3, "content_type": "text/plain", "hash": "",
        "x_object_hash": "cd" * 32, "x_object_uuid": "u", "x_object_version": 4,
        "x_object_version_timestamp": "1322813441.565891",
        "last_modified": "2011-12-02T08:10:41.565891+00:00", "x_object_meta": {},
    }  # fmt: skip
    base.update(extra)
    return base


def test_listing_item_fields_and_fallbacks() -> None:
    info = p.entry_from_json(item(), with_meta=True)
    assert info == ObjectInfo(
        "f", 3, "text/plain", "cd" * 32, "u", 4, 1322813441.565891, 1322813441.565891, meta={}
    )
    # No version timestamp: the last modification; a Z suffix reads as UTC.
    bare = {"name": "g", "last_modified": "2011-12-02T08:10:41.565891Z"}
    info = p.entry_from_json(bare, with_meta=True)
    assert isinstance(info, ObjectInfo)
    assert info.version_timestamp == info.last_modified == 1322813441.565891
    assert (info.content_type, info.size, info.meta) == ("application/octet-stream", 0, None)


def test_listing_meta_keys_are_normalised_and_their_memo_stays_bounded() -> None:
    raw = {"pithosfs-mtime": "1.5", "my_key%CE%B1": "v"}
    info = p.entry_from_json(item(x_object_meta=raw), with_meta=True)
    assert isinstance(info, ObjectInfo) and info.meta == {"Pithosfs-Mtime": "1.5", "My-Keyα": "v"}
    for i in range(p._META_KEYS_MAX + 10):
        p.entry_from_json(item(x_object_meta={f"k{i}": "v"}), with_meta=True)
    assert len(p._META_KEYS) <= p._META_KEYS_MAX
    again = p.entry_from_json(item(x_object_meta=raw), with_meta=True)
    assert isinstance(again, ObjectInfo) and again.meta == info.meta


@pytest.mark.parametrize(
    "content_type, meta, kind, mode, size",
    [
        ("text/plain", None, NodeKind.FILE, 0o644, 7),
        ("application/directory; charset=x", {}, NodeKind.DIR, 0o755, 0),
        ("Application/Folder", {"Pithosfs-Mode": "700"}, NodeKind.DIR, 0o700, 0),
        ("text/plain", {"Pithosfs-Symlink": "t"}, NodeKind.LINK, 0o644, 7),
        ("inode/symlink", None, NodeKind.LINK, 0o644, 7),
        ("text/plain", {"Pithosfs-Mode": "bad", "Pithosfs-Mtime": "x"}, NodeKind.FILE, 0o644, 7),
    ],
)
def test_node_from_listed_object(
    content_type: str, meta: dict[str, str] | None, kind: NodeKind, mode: int, size: int
) -> None:
    info = listed_object(**{**FIELDS, "content_type": content_type, "meta": meta})  # type: ignore[arg-type]
    node = nodes.node_from_object(info)
    assert type(node) is Node
    for field in dataclasses.fields(Node):  # each one set (a missed slot raises)
        getattr(node, field.name)
    stored = bool(meta) and meta.get("Pithosfs-Mode", "").isdigit()
    expected = Node(kind, size, 2_500_000_000, mode, nodes.inode_of("uuid:u-1"), info)
    assert node == dataclasses.replace(expected, mode_stored=stored)
    with pytest.raises(dataclasses.FrozenInstanceError):
        node.size = 1  # type: ignore[misc]


def test_node_mtime_from_metadata_and_inode_without_uuid() -> None:
    meta = {"Pithosfs-Mtime": "1700000000.123456789"}
    info = listed_object(**{**FIELDS, "uuid": "", "meta": meta})  # type: ignore[arg-type]
    node = nodes.node_from_object(info)
    assert node.mtime_ns == 1_700_000_000_123_456_789
    assert node.ino == nodes.inode_of("name:d/f")


class V:
    def __init__(self, version: int) -> None:
        self.version = version


def test_fill_dir_keeps_lru_order_and_bound() -> None:
    cache: StatCache[V] = StatCache(attr_ttl=5, dir_ttl=5, max_entries=3)
    cache.put("/c/a", V(1))
    cache.put("/e/b", V(1))
    cache.fill_dir("/c", {"a": V(2)}, cache.now())  # a is now the most recent
    cache.put("/e/x", V(1))
    cache.put("/e/y", V(1))  # over the bound: b goes first, a stays
    assert cache.get("/e/b") is None
    value = cache.get("/c/a")
    assert isinstance(value, V) and value.version == 2
    # A listing bigger than the bound keeps its last entries, as one put per entry would.
    cache.fill_dir("/d", {f"n{i}": V(1) for i in range(5)}, cache.now())
    assert [cache.get(f"/d/n{i}") is not None for i in range(5)] == [False] * 2 + [True] * 3


def test_fill_dir_brings_back_a_name_deleted_before_the_listing_started() -> None:
    t = [100.0]
    cache: StatCache[V] = StatCache(attr_ttl=5, dir_ttl=5, clock=lambda: t[0])
    cache.put_missing("/c/a")
    t[0] += 1
    cache.fill_dir("/c", {"a": V(1)}, cache.now())  # recreated elsewhere, then listed
    assert isinstance(cache.get("/c/a"), V)
    started = cache.now()
    t[0] += 1
    cache.put_missing("/c/a")  # deleted by us while the next listing was on its way
    cache.fill_dir("/c", {"a": V(1)}, started)
    assert cache.get("/c/a") is MISSING


def test_gc_pause_is_counted_and_restores_the_previous_state() -> None:
    assert gc.isenabled()
    inside = threading.Event()
    leave = threading.Event()

    def other_listing() -> None:
        with gc_paused():
            inside.set()
            leave.wait(10)

    worker = threading.Thread(target=other_listing)
    with gc_paused():
        worker.start()
        assert inside.wait(10)
        assert not gc.isenabled()
    assert not gc.isenabled()  # the other listing is still going
    leave.set()
    worker.join(10)
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("listing failed")
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # disabled by someone else: left so
    finally:
        gc.enable()


class WatchedStore(FakeStore):
    """Records whether the collector was running while a listing was consumed."""

    collector_running: list[bool] = []

    def list_objects(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        for entry in super().list_objects(*args, **kwargs):
            self.collector_running.append(gc.isenabled())
            yield entry


def test_readdir_lists_with_the_collector_paused(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = WatchedStore(block_size=1024)
    store.create_container("c")
    for i in range(3):
        store.put_object("c", f"f{i}", b"x")
    fs = Filesystem(store, FsOptions(cache_dir=tmp_path / "cache"))
    try:
        assert [n for n, _ in fs.readdir("/c")] == ["f0", "f1", "f2"]
    finally:
        fs.close()
    assert store.collector_running == [False] * 3
    assert gc.isenabled()


def test_listed_children_is_the_listing_with_each_fresh_value() -> None:
    t = [100.0]
    cache: StatCache[V] = StatCache(attr_ttl=5, dir_ttl=10, clock=lambda: t[0])
    assert cache.listed_children("/c") is None  # never listed
    cache.fill_dir("/c", {"a": V(1), "b": V(2)}, cache.now())
    cache.put("/c/n", V(3))  # an own write joins the listing
    children = cache.listed_children("/c")
    assert children is not None
    assert {k: v.version for k, v in children.items()} == {"a": 1, "b": 2, "n": 3}
    cache.put_missing("/c/b")  # an own delete leaves it
    children = cache.listed_children("/c")
    assert children is not None and sorted(children) == ["a", "n"]
    cache.forget("/c/a")  # an entry gone: list again
    assert cache.listed_children("/c") is None
    cache.fill_dir("/c", {"a": V(1)}, cache.now())
    t[0] += 6  # the entries expire before the listing does
    assert cache.listing("/c") == ["a"] and cache.listed_children("/c") is None
    cache.fill_dir("/r", {"x": V(1)}, cache.now())
    assert cache.listed_children("/") is None
    root: StatCache[V] = StatCache()
    root.fill_dir("/", {"c": V(1)}, root.now())  # the root's children are "/c", not "//c"
    assert list(root.listed_children("/") or {}) == ["c"]


def test_a_long_listing_still_collects_the_young_generations(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Paused or not, other threads' cycles must not wait for a huge listing to end."""
    store = FakeStore(block_size=1024)
    store.create_container("c")
    for i in range(7):
        store.put_object("c", f"f{i}", b"x")
    collections: list[tuple[bool, int]] = []

    def seen(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collections.append((gc.isenabled(), info["generation"]))

    monkeypatch.setattr(gc_pause, "YOUNG_EVERY", 3)
    fs = Filesystem(store, FsOptions(cache_dir=tmp_path / "cache"))
    gc.callbacks.append(seen)
    try:
        assert len(fs.readdir("/c")) == 7
    finally:
        gc.callbacks.remove(seen)
        fs.close()
    assert collections.count((False, 1)) == 2  # after entries 3 and 6, while paused
