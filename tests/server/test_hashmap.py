"""Blocks and hashmaps (protocol.md 7): test vectors with 1 KiB blocks, 409 protocol, dedup."""

from __future__ import annotations

import json

import pytest

from pithosfs import protocol
from tests.server.pithos_http import OCTET, Api, assert_fault

BS = 1024
VECTOR = b"a" * 1024 + b"b" * 1024 + b"c" * 10
VECTOR_ROOT = "a282af1511d57e9a9703701b5fa4b333b3d85f80f487899f95e7e990a82f7652"
HELLO_ROOT = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"


def test_container_reports_small_block_size(sb_api: Api, sb_cont: str) -> None:
    h = sb_api.head(sb_cont).headers
    assert h["X-Container-Block-Size"] == "1024" and h["X-Container-Block-Hash"] == "sha256"


@pytest.mark.parametrize(
    ("data", "root"),
    [(b"", protocol.EMPTY_SHA256), (b"hello", HELLO_ROOT), (VECTOR, VECTOR_ROOT)],
    ids=["empty", "hello", "three-blocks"],
)
def test_spec_vectors_for_object_hash(sb_api: Api, sb_cont: str, data: bytes, root: str) -> None:
    put = sb_api.put_object(sb_cont, "v", data)
    assert put.headers["ETag"].strip('"') == root
    h = sb_api.meta(sb_cont, "v")
    assert h["X-Object-Hash"] == root and h["ETag"].strip('"') == root
    assert sb_api.listing(sb_cont)[0]["x_object_hash"] == root


def test_hashmap_get_shape(sb_api: Api, sb_cont: str) -> None:
    sb_api.put_object(sb_cont, "v", VECTOR, "image/png")
    resp = sb_api.get(sb_cont, "v", params={"hashmap": "True", "format": "json"})
    assert resp.status_code == 200
    body = json.loads(resp.content)  # whatever the Content-Type says (protocol.md 1.3 quirk)
    assert body == {
        "block_size": 1024,
        "block_hash": "sha256",
        "bytes": len(VECTOR),
        "hashes": protocol.hashmap_of(VECTOR, BS),
    }
    assert [h[:8] for h in body["hashes"]] == ["2edc9868", "0c66f2c4", "d1616b87"]


def test_hashmap_of_empty_object(sb_api: Api, sb_cont: str) -> None:
    sb_api.put_object(sb_cont, "e", b"")
    assert sb_api.hashmap(sb_cont, "e")["hashes"] == [protocol.EMPTY_SHA256]


def test_hashmap_of_old_version(sb_api: Api, sb_cont: str) -> None:
    first = sb_api.put_object(sb_cont, "v", b"first")
    sb_api.put_object(sb_cont, "v", b"second")
    old = sb_api.hashmap(sb_cont, "v", version=first.headers["X-Object-Version"])
    assert old["hashes"] == protocol.hashmap_of(b"first", BS) and old["bytes"] == 5


def test_trailing_zeros_share_the_block_hash(sb_api: Api, sb_cont: str) -> None:
    sb_api.put_object(sb_cont, "z", b"x" + b"\0" * 1023 + b"\0" * 1024)
    assert sb_api.hashmap(sb_cont, "z")["hashes"] == [
        protocol.block_hash_hex(b"x"),
        protocol.EMPTY_SHA256,
    ]
    assert sb_api.read(sb_cont, "z") == b"x" + b"\0" * 2047


def test_upload_protocol_409_then_blocks_then_201(
    sb_api: Api, sb_cont: str, unique_name: str
) -> None:
    data = unique_name.encode() * 100  # fresh content: no block exists yet
    hashes = protocol.hashmap_of(data, BS)
    first = sb_api.put_hashmap(sb_cont, "up", len(data), hashes + [])
    assert first.status_code == 409
    assert first.headers["Content-Type"].startswith("application/json")
    assert first.json() == list(dict.fromkeys(hashes))
    assert_fault(sb_api.head(sb_cont, "up"), 404)  # nothing created
    blocks = sb_api.upload_blocks(sb_cont, data)
    assert blocks.status_code == 202 and blocks.json() == hashes
    second = sb_api.put_hashmap(sb_cont, "up", len(data), hashes)
    assert second.status_code == 201
    assert second.headers["ETag"].strip('"') == protocol.merkle_root_hex(hashes)
    assert int(second.headers["X-Object-Version"]) > 0
    assert sb_api.read(sb_cont, "up") == data


def test_missing_list_is_deduplicated_in_first_seen_order(
    sb_api: Api, sb_cont: str, unique_name: str
) -> None:
    a = (unique_name + "A").encode().ljust(BS, b".")
    b = (unique_name + "B").encode().ljust(BS, b".")
    ha, hb = protocol.block_hash_hex(a), protocol.block_hash_hex(b)
    resp = sb_api.put_hashmap(sb_cont, "d", 4 * BS, [hb, ha, hb, ha])
    assert resp.status_code == 409 and resp.json() == [hb, ha]
    sb_api.upload_blocks(sb_cont, a)
    resp = sb_api.put_hashmap(sb_cont, "d", 4 * BS, [hb, ha, hb, ha])
    assert resp.status_code == 409 and resp.json() == [hb]


def test_dedup_across_containers_and_accounts(
    sb_api: Api, sb_bob: Api, sb_cont: str, unique_name: str
) -> None:
    data = (unique_name * 200).encode()
    sb_api.put_object(sb_cont, "orig", data)
    hashes = protocol.hashmap_of(data, BS)
    other = sb_api.make_container(unique_name + "-other")
    assert sb_api.put_hashmap(other, "copy", len(data), hashes).status_code == 201
    bobs = sb_bob.make_container(unique_name)
    assert sb_bob.put_hashmap(bobs, "copy", len(data), hashes).status_code == 201
    assert sb_bob.read(bobs, "copy") == data


def test_all_zero_blocks_need_no_upload(sb_api: Api, sb_cont: str) -> None:
    resp = sb_api.put_hashmap(sb_cont, "zeros", 2 * BS + 5, [protocol.EMPTY_SHA256] * 3)
    assert resp.status_code == 201
    assert sb_api.read(sb_cont, "zeros") == b"\0" * (2 * BS + 5)


@pytest.mark.parametrize("hashes", [[], [protocol.EMPTY_SHA256]])
def test_empty_hashmap_put(sb_api: Api, sb_cont: str, hashes: list[str]) -> None:
    assert sb_api.put_hashmap(sb_cont, "e", 0, hashes).status_code == 201
    assert sb_api.read(sb_cont, "e") == b""


@pytest.mark.parametrize(
    ("size", "count"), [(1, 0), (1, 2), (1025, 1), (2048, 3), (0, 2)], ids=lambda v: str(v)
)
def test_wrong_hash_count_is_400(sb_api: Api, sb_cont: str, size: int, count: int) -> None:
    assert_fault(sb_api.put_hashmap(sb_cont, "w", size, [protocol.EMPTY_SHA256] * count), 400)
    assert_fault(sb_api.head(sb_cont, "w"), 404)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"{}",
        b'{"bytes": 1}',
        b'{"hashes": []}',
        b"[1, 2]",
        b'{"bytes": "x", "hashes": []}',
        b'{"bytes": 5, "hashes": ["zz"]}',
        b'{"bytes": 5, "hashes": [7]}',
        b'{"bytes": -1, "hashes": []}',
        b"\xff\xfe",
    ],
)
def test_malformed_hashmap_is_400(sb_api: Api, sb_cont: str, body: bytes) -> None:
    resp = sb_api.put(
        sb_cont,
        "m",
        params={"hashmap": "", "format": "json"},
        data=body,
        headers={"Content-Type": OCTET},
    )
    assert_fault(resp, 400)


def test_hashmap_put_without_content_type_is_411(sb_api: Api, sb_cont: str) -> None:
    body = json.dumps({"bytes": 0, "hashes": []})
    resp = sb_api.put(sb_cont, "m", params={"hashmap": ""}, data=body)
    assert_fault(resp, 411)


def test_hashmap_put_keeps_meta_rules(sb_api: Api, sb_cont: str) -> None:
    sb_api.put_object(sb_cont, "h", b"hello", headers={"X-Object-Meta-Old": "1"})
    resp = sb_api.put_hashmap(
        sb_cont, "h", 5, [HELLO_ROOT], "text/plain", headers={"X-Object-Meta-New": "2"}
    )
    assert resp.status_code == 201
    h = sb_api.meta(sb_cont, "h")
    assert h["X-Object-Meta-New"] == "2" and "X-Object-Meta-Old" not in h
    assert h["Content-Type"] == "text/plain"


def test_block_upload_needs_owner(sb_api: Api, sb_bob: Api, sb_cont: str) -> None:
    sb_api.put_object(sb_cont, "s", b"", headers={"X-Object-Sharing": f"write={sb_bob.account}"})
    resp = sb_bob.post(
        sb_cont,
        account=sb_api.account,
        params="update",
        data=b"x" * 10,
        headers={"Content-Type": OCTET},
    )
    assert_fault(resp, 403)


def test_block_upload_of_several_blocks(sb_api: Api, sb_cont: str) -> None:
    data = b"1" * BS + b"2" * BS + b"3" * 7
    resp = sb_api.upload_blocks(sb_cont, data)
    assert resp.status_code == 202 and resp.json() == protocol.hashmap_of(data, BS)


def test_ranged_read_across_blocks(sb_api: Api, sb_cont: str) -> None:
    sb_api.put_object(sb_cont, "v", VECTOR)
    resp = sb_api.get(sb_cont, "v", headers={"Range": "bytes=1020-2050"})
    assert resp.status_code == 206 and resp.content == VECTOR[1020:2051]
