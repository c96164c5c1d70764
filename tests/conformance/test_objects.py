"""Conformance: objects, reading, writing, partial updates, preconditions (protocol.md 4, 7, 8, 9.6)."""

from __future__ import annotations

import pytest

from pithosfs import protocol
from pithosfs.client.errors import (
    BadRequest,
    MissingBlocks,
    NotFound,
    PreconditionFailed,
    RangeNotSatisfiable,
)
from pithosfs.client.types import ObjectStore


def _payload(n: int, seed: int = 1) -> bytes:
    return bytes((i * 31 + seed) % 251 for i in range(n))


def test_put_then_head_reports_size_type_and_merkle_hash(
    store: ObjectStore, container: str, bs: int
):
    data = _payload(2 * bs + 10)
    info = store.put_object(container, "a.bin", data, content_type="text/plain")
    head = store.head_object(container, "a.bin")
    assert head.size == len(data)
    assert head.content_type.startswith("text/plain")
    assert head.hash == protocol.object_hash(data, bs)
    assert head.uuid == info.uuid and head.version == info.version
    assert head.uuid


def test_read_range_is_clamped_to_size(store: ObjectStore, container: str, bs: int):
    data = _payload(bs + 100)
    store.put_object(container, "r", data)
    assert store.read_range(container, "r", 0, len(data)) == data
    assert store.read_range(container, "r", bs - 5, 10) == data[bs - 5 : bs + 5]
    assert store.read_range(container, "r", len(data) - 3, 1000) == data[-3:]
    assert store.read_range(container, "r", len(data), 10) == b""
    assert store.read_range(container, "r", len(data) + 50, 10) == b""


def test_empty_object_reads_empty_and_has_empty_hashmap(store: ObjectStore, container: str):
    store.put_object(container, "empty", b"")
    assert store.read_range(container, "empty", 0, 100) == b""
    hm = store.get_hashmap(container, "empty")
    assert hm.size == 0 and hm.hashes == [protocol.EMPTY_SHA256]
    assert store.head_object(container, "empty").hash == protocol.EMPTY_SHA256


def test_missing_object_is_not_found(store: ObjectStore, container: str):
    with pytest.raises(NotFound):
        store.head_object(container, "nope")
    with pytest.raises(NotFound):
        store.read_range(container, "nope", 0, 1)
    with pytest.raises(NotFound):
        store.delete_object(container, "nope")


def test_hashmap_round_trip_and_missing_blocks(store: ObjectStore, container: str, bs: int):
    data = _payload(3 * bs - 7, seed=5)
    hashes = protocol.hashmap_of(data, bs)
    with pytest.raises(MissingBlocks) as exc:
        store.put_hashmap(container, "hm", len(data), hashes)
    assert sorted(exc.value.hashes) == sorted(set(hashes))
    blocks = [data[i : i + bs] for i in range(0, len(data), bs)]
    assert store.upload_blocks(container, blocks) == hashes
    info = store.put_hashmap(container, "hm", len(data), hashes, content_type="x/y")
    assert info.size == len(data)
    assert store.read_range(container, "hm", 0, len(data)) == data
    hm = store.get_hashmap(container, "hm")
    assert (hm.size, hm.hashes, hm.block_size) == (len(data), hashes, bs)


def test_hashmap_length_mismatch_is_bad_request(store: ObjectStore, container: str, bs: int):
    with pytest.raises(BadRequest):
        store.put_hashmap(container, "bad", 3 * bs, [protocol.EMPTY_SHA256])


def test_zero_blocks_dedupe_to_the_empty_hash(store: ObjectStore, container: str, bs: int):
    data = b"\0" * (2 * bs)
    store.put_object(container, "zeros", data)
    assert store.get_hashmap(container, "zeros").hashes == [protocol.EMPTY_SHA256] * 2
    assert store.read_range(container, "zeros", 0, 2 * bs) == data


def test_overwrite_keeps_uuid_and_bumps_version(store: ObjectStore, container: str):
    first = store.put_object(container, "o", b"one")
    second = store.put_object(container, "o", b"two")
    assert second.uuid == first.uuid
    assert second.version > first.version


def test_put_replaces_meta_and_update_merges(store: ObjectStore, container: str):
    store.put_object(container, "m", b"x", meta={"my_KEY": "v1", "other": "o"})
    assert store.head_object(container, "m").meta == {"My-Key": "v1", "Other": "o"}
    store.update_meta(container, "m", {"third": "3", "Other": ""})
    assert store.head_object(container, "m").meta == {"My-Key": "v1", "Third": "3"}
    store.put_object(container, "m", b"y", meta={"new": "n"})
    assert store.head_object(container, "m").meta == {"New": "n"}


def test_meta_values_round_trip_non_ascii(store: ObjectStore, container: str):
    store.put_object(container, "u", b"x", meta={"title": "καλημέρα 100% ok"})
    assert store.head_object(container, "u").meta == {"Title": "καλημέρα 100% ok"}


def test_if_match_and_if_none_match(store: ObjectStore, container: str):
    info = store.put_object(container, "p", b"base")
    with pytest.raises(PreconditionFailed):
        store.put_object(container, "p", b"new", if_match="0" * 64)
    store.put_object(container, "p", b"new", if_match=info.hash)
    with pytest.raises(PreconditionFailed):
        store.put_object(container, "p", b"again", if_none_match=True)
    with pytest.raises(PreconditionFailed):
        store.put_object(container, "absent", b"x", if_match=info.hash)
    store.put_object(container, "fresh", b"x", if_none_match=True)


def test_update_range_overwrites_and_appends_keeping_meta(
    store: ObjectStore, container: str, bs: int
):
    data = bytearray(_payload(bs + 50))
    first = store.put_object(container, "w", bytes(data), content_type="text/x", meta={"k": "v"})
    store.update_range(container, "w", 10, b"HELLO")
    data[10:15] = b"HELLO"
    store.update_range(container, "w", len(data), b"tail")
    data += b"tail"
    info = store.head_object(container, "w")
    assert store.read_range(container, "w", 0, len(data) + 10) == bytes(data)
    assert info.size == len(data)
    assert info.meta == {"K": "v"}
    assert info.content_type.startswith("text/x")
    assert info.uuid == first.uuid


def test_update_range_past_eof_is_refused(store: ObjectStore, container: str):
    store.put_object(container, "w", b"abc")
    with pytest.raises(RangeNotSatisfiable):
        store.update_range(container, "w", 10, b"x")


def test_truncate_shrinks_and_extends(store: ObjectStore, container: str, bs: int):
    data = _payload(2 * bs + 3)
    store.put_object(container, "t", data, meta={"k": "v"})
    store.truncate(container, "t", bs + 1)
    assert store.read_range(container, "t", 0, 3 * bs) == data[: bs + 1]
    store.truncate(container, "t", bs + 11)
    assert store.read_range(container, "t", 0, 3 * bs) == data[: bs + 1] + b"\0" * 10
    store.truncate(container, "t", 0)
    info = store.head_object(container, "t")
    assert info.size == 0 and info.meta == {"K": "v"}


def test_names_with_odd_characters(store: ObjectStore, container: str):
    names = [
        "with space",
        "ünïcødé/ƒile",
        "pct%41x",
        "q?a=b&c#d",
        "plus+sign",
        "dir/ trailing ",
        "dots/../x",
        "./y",
        "z/..",
    ]
    for i, name in enumerate(names):
        store.put_object(container, name, bytes([i]) * 3)
    for i, name in enumerate(names):
        assert store.read_range(container, name, 0, 10) == bytes([i]) * 3
    listed = {e.name for e in store.list_objects(container, delimiter=None)}
    assert listed == set(names)


def test_object_name_too_long_is_bad_request(store: ObjectStore, container: str):
    with pytest.raises(BadRequest):
        store.put_object(container, "x" * 1025, b"")


def test_meta_limits_and_empty_values(store: ObjectStore, container: str):
    # PUT replaces all meta and stores empty values; with ?update an empty value deletes.
    store.put_object(container, "lim", b"x", meta={"empty": "", "kept": "1"})
    assert store.head_object(container, "lim").meta == {"Empty": "", "Kept": "1"}
    store.update_meta(container, "lim", {"empty": ""})
    assert store.head_object(container, "lim").meta == {"Kept": "1"}
    store.update_meta(container, "lim", {f"k{i}": "v" for i in range(31)})
    assert len(store.head_object(container, "lim").meta or {}) == 32
    with pytest.raises(BadRequest):
        store.update_meta(container, "lim", {"one_too_many": "v"})
    with pytest.raises(BadRequest):
        store.update_meta(container, "lim", {"long": "v" * 257})
    assert len(store.head_object(container, "lim").meta or {}) == 32


def test_update_meta_without_keys_changes_nothing(store: ObjectStore, container: str):
    before = store.put_object(container, "same", b"x", meta={"a": "1"})
    store.update_meta(container, "same", {})
    after = store.head_object(container, "same")
    assert after.version == before.version and after.meta == {"A": "1"}
