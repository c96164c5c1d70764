"""Conformance: containers, listings, versions, copy/move, delete, sharing, public (protocol.md 3, 5, 6, 9)."""

from __future__ import annotations

import pytest

from pithosfs import protocol
from pithosfs.client.errors import BadRequest, Conflict, NotFound, QuotaExceeded
from pithosfs.client.types import ObjectInfo, ObjectStore, Subdir

DIR = protocol.DIRECTORY_CONTENT_TYPE


def _names(entries) -> list[str]:
    return [e.name + ("/" if isinstance(e, Subdir) else "") for e in entries]


def test_container_lifecycle(store: ObjectStore, container: str):
    info = store.container_info(container)
    assert (info.count, info.bytes, info.versioning) == (0, 0, "auto")
    store.put_object(container, "x", b"12345")
    info = store.container_info(container)
    assert (info.count, info.bytes) == (1, 5)
    assert container in [c.name for c in store.list_containers()]
    with pytest.raises(Conflict):
        store.delete_container(container)
    store.set_container_versioning(container, "none")
    assert store.container_info(container).versioning == "none"
    store.create_container(container)  # existing: no error, policy kept
    assert store.container_info(container).versioning == "none"


def test_missing_container(store: ObjectStore):
    with pytest.raises(NotFound):
        store.container_info("conf-missing-container-xyz")
    with pytest.raises(NotFound):
        store.put_object("conf-missing-container-xyz", "o", b"")


def test_account_info_counts_containers(store: ObjectStore, container: str):
    acc = store.account_info()
    assert acc.container_count >= 1
    assert acc.name == store.account


def test_delimiter_listing_merges_markers_and_subdirs(store: ObjectStore, container: str):
    store.put_object(container, "d", b"", content_type=DIR)
    for name in ("d/f1", "d/sub/f2", "d/sub/f3", "e", "top"):
        store.put_object(container, name, b"x")
    top = list(store.list_objects(container))
    assert _names(top) == ["d", "d/", "e", "top"]
    marker = top[0]
    assert isinstance(marker, ObjectInfo) and marker.is_directory
    assert _names(store.list_objects(container, prefix="d/")) == ["d/f1", "d/sub/"]
    # naming policy: prefix without the delimiter gets it appended
    assert _names(store.list_objects(container, prefix="d")) == ["d/f1", "d/sub/"]
    flat = _names(store.list_objects(container, delimiter=None))
    assert flat == ["d", "d/f1", "d/sub/f2", "d/sub/f3", "e", "top"]


def test_listing_carries_meta_when_supported(
    store: ObjectStore, container: str, request: pytest.FixtureRequest
):
    store.put_object(container, "m", b"x", meta={"mode": "0644"})
    (item,) = list(store.list_objects(container))
    assert isinstance(item, ObjectInfo)
    if request.node.callspec.params["store"] == "real":
        assert item.meta in (None, {"Mode": "0644"})  # the extension is optional there
    else:
        assert item.meta == {"Mode": "0644"}
    (bare,) = list(store.list_objects(container, with_meta=False))
    assert bare.meta is None
    assert bare.size == 1 and bare.hash == protocol.block_hash_hex(b"x")


def test_versions_list_read_and_restore(store: ObjectStore, container: str):
    v1 = store.put_object(container, "v", b"first")
    v2 = store.put_object(container, "v", b"second!")
    serials = [e.version for e in store.list_versions(container, "v")]
    assert serials == sorted(serials) and serials[-2:] == [v1.version, v2.version]
    assert store.read_range(container, "v", 0, 100, version=v1.version) == b"first"
    old = store.head_object(container, "v", version=v1.version)
    assert old.size == 5 and old.version == v1.version
    store.copy_object(container, "v", container, "v", src_version=v1.version)
    cur = store.head_object(container, "v")
    assert store.read_range(container, "v", 0, 100) == b"first"
    assert cur.uuid == v1.uuid and cur.version > v2.version
    with pytest.raises(NotFound):
        store.head_object(container, "v", version=10**9)


def test_delete_keeps_history_and_recreate_gets_new_uuid(store: ObjectStore, container: str):
    v1 = store.put_object(container, "h", b"old")
    store.delete_object(container, "h")
    with pytest.raises(NotFound):
        store.head_object(container, "h")
    assert v1.version in [e.version for e in store.list_versions(container, "h")]
    assert store.read_range(container, "h", 0, 10, version=v1.version) == b"old"
    again = store.put_object(container, "h", b"new")
    assert again.uuid != v1.uuid


def test_copy_gets_new_uuid_and_merges_meta(store: ObjectStore, container: str):
    src = store.put_object(
        container, "s", b"data", content_type="text/a", meta={"a": "1", "b": "2"}
    )
    store.copy_object(container, "s", container, "c", meta={"b": "", "c": "3"})
    dst = store.head_object(container, "c")
    assert dst.uuid != src.uuid
    assert dst.meta == {"A": "1", "C": "3"}
    assert dst.content_type.startswith("text/a")
    store.copy_object(container, "s", container, "c2", content_type="text/b")
    assert store.head_object(container, "c2").content_type.startswith("text/b")


def test_move_keeps_uuid(store: ObjectStore, container: str):
    src = store.put_object(container, "from", b"payload", meta={"k": "v"})
    store.move_object(container, "from", container, "to")
    with pytest.raises(NotFound):
        store.head_object(container, "from")
    dst = store.head_object(container, "to")
    assert dst.uuid == src.uuid and dst.meta == {"K": "v"}
    assert store.read_range(container, "to", 0, 100) == b"payload"


def test_recursive_move_copy_delete_of_a_directory(store: ObjectStore, container: str):
    store.put_object(container, "dir", b"", content_type=DIR)
    store.put_object(container, "dir/a", b"a")
    store.put_object(container, "dir/sub/b", b"b")
    store.put_object(container, "dirx", b"not inside")
    store.move_object(container, "dir", container, "moved", recursive=True)
    flat = _names(store.list_objects(container, delimiter=None))
    assert flat == ["dirx", "moved", "moved/a", "moved/sub/b"]
    store.copy_object(container, "moved", container, "copy", recursive=True)
    assert store.read_range(container, "copy/sub/b", 0, 5) == b"b"
    store.delete_object(container, "moved", recursive=True)
    flat = _names(store.list_objects(container, delimiter=None))
    assert flat == ["copy", "copy/a", "copy/sub/b", "dirx"]


def test_recursive_operation_needs_the_marker(store: ObjectStore, container: str):
    store.put_object(container, "implicit/a", b"a")
    with pytest.raises(NotFound):
        store.delete_object(container, "implicit", recursive=True)


def test_sharing_set_show_and_clear(store: ObjectStore, container: str):
    store.put_object(container, "sh", b"x")
    before = store.head_object(container, "sh").version
    store.set_sharing(container, "sh", "read=UserA,userb;write=userc")
    info = store.head_object(container, "sh")
    assert info.sharing == "read=usera,userb; write=userc"
    assert info.version == before  # sharing does not create a version
    with pytest.raises(BadRequest):
        store.set_sharing(container, "sh", "bogus")
    store.set_sharing(container, "sh", "")
    assert store.head_object(container, "sh").sharing == ""


def test_public_link_is_stable_until_unpublished(store: ObjectStore, container: str):
    store.put_object(container, "pub", b"x")
    url = store.set_public(container, "pub", True)
    assert "/public/" in url
    assert store.set_public(container, "pub", True) == url
    assert store.head_object(container, "pub").public_url == url
    assert store.set_public(container, "pub", False) == ""
    assert store.head_object(container, "pub").public_url == ""


def test_delete_clears_sharing_and_public(store: ObjectStore, container: str):
    store.put_object(container, "gone", b"x")
    store.set_sharing(container, "gone", "read=*")
    store.set_public(container, "gone", True)
    store.delete_object(container, "gone")
    store.put_object(container, "gone", b"y")
    info = store.head_object(container, "gone")
    assert info.sharing == "" and info.public_url == ""


def test_account_groups_merge_and_delete(store: ObjectStore, container: str):
    store.set_account_groups({"ConfTest": ["UserA", "userb"]})
    assert store.account_info().groups.get("conftest") == ["UserA", "userb"]
    store.set_account_groups({"conftest": []})
    assert "conftest" not in store.account_info().groups


def test_container_quota_is_enforced(store: ObjectStore, container: str):
    set_quota = getattr(store, "set_container_quota", None)
    if set_quota is None:
        pytest.skip("this store has no quota call")
    set_quota(container, 10)
    assert store.container_info(container).quota == 10
    store.put_object(container, "fits", b"x" * 10)
    with pytest.raises(QuotaExceeded):
        store.put_object(container, "over", b"y")


def test_listing_until_shows_an_earlier_state(store: ObjectStore, container: str):
    import time

    store.put_object(container, "early", b"1")
    time.sleep(1.1)  # `until` has whole-second resolution
    cutoff = int(time.time())
    time.sleep(1.1)
    store.put_object(container, "late", b"2")
    store.delete_object(container, "early")
    assert [e.name for e in store.list_objects(container, until=cutoff)] == ["early"]
    assert [e.name for e in store.list_objects(container)] == ["late"]


def test_copy_and_move_across_containers(store: ObjectStore, container: str):
    other = container + "-b"
    store.create_container(other)
    try:
        src = store.put_object(container, "x", b"payload", meta={"k": "v"})
        store.copy_object(container, "x", other, "copied")
        store.move_object(container, "x", other, "moved")
        assert store.read_range(other, "copied", 0, 100) == b"payload"
        moved = store.head_object(other, "moved")
        assert moved.uuid == src.uuid and moved.meta == {"K": "v"}
        with pytest.raises(NotFound):
            store.head_object(container, "x")
    finally:
        for name in ("copied", "moved"):
            try:
                store.delete_object(other, name)
            except NotFound:
                pass
        store.delete_container(other)


def test_copy_and_move_onto_existing_destinations(store: ObjectStore, container: str):
    src = store.put_object(container, "src", b"new content")
    dst = store.put_object(container, "dst", b"old")
    store.copy_object(container, "src", container, "dst")
    copied = store.head_object(container, "dst")
    assert copied.uuid not in (src.uuid, dst.uuid)  # a copy is a new object
    assert copied.version > dst.version
    assert dst.version in [e.version for e in store.list_versions(container, "dst")]
    store.move_object(container, "src", container, "dst")
    assert store.head_object(container, "dst").uuid == src.uuid  # a move keeps its identity


def test_names_with_odd_slashes(store: ObjectStore, container: str):
    names = ["/lead", "a//b", "trail/", "x/y"]
    for n in names:
        store.put_object(container, n, n.encode())
    for n in names:
        assert store.read_range(container, n, 0, 100) == n.encode()
    assert sorted(e.name for e in store.list_objects(container, delimiter=None)) == sorted(names)
    # an object ending in the delimiter is listed as an object, next to subdirs (protocol.md 5.2)
    top = _names(store.list_objects(container))
    assert "trail/" in top and "x/" in top and "a/" in top
