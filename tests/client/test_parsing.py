"""Response parsing and request encoding, without a server (pithosfs.client.parsing)."""

from __future__ import annotations

from pithosfs.client import parsing as p
from pithosfs.client.types import ObjectInfo, Subdir


def test_object_headers_are_unquoted_and_meta_normalised():
    headers = {
        "Content-Length": "42",
        "Content-Type": "text/plain; charset=UTF-8",
        "ETag": "ff" * 32,
        "X-Object-Hash": "ab" * 32,
        "X-Object-UUID": "u-1",
        "X-Object-Version": "17",
        "X-Object-Version-Timestamp": "Sun, 09 Sep 2001 01:46:40 GMT",
        "Last-Modified": "Sun, 09 Sep 2001 01:46:41 GMT",
        "X-Object-Meta-My-Key": "caf%C3%A9 %25",
        "X-Object-Meta-%CE%B1": "x",
        "X-Object-Sharing": "read=a,b; write=c",
        "X-Object-Public": "http://h/pithos/public/abc",
    }
    info = p.object_from_headers("dir/f", headers)
    assert (info.size, info.hash, info.uuid, info.version) == (42, "ab" * 32, "u-1", 17)
    assert info.version_timestamp == 1000000000.0 and info.last_modified == 1000000001.0
    assert info.meta == {"My-Key": "café %", "Α": "x"}
    assert info.sharing == "read=a,b; write=c"
    assert info.public_url.endswith("/public/abc")


def test_plain_swift_headers_fall_back_to_etag():
    info = p.object_from_headers("o", {"Content-Length": "1", "ETag": '"abc"'})
    assert (info.hash, info.uuid, info.version) == ("abc", "", 0)
    assert info.content_type == "application/octet-stream"


def test_listing_items_and_subdirs():
    item = {
        "name": "a/b",
        "bytes": 5,
        "content_type": "application/directory",
        "hash": "",
        "x_object_hash": "cd" * 32,
        "x_object_uuid": "u",
        "x_object_version": 3,
        "x_object_version_timestamp": "1322813441.565891",
        "last_modified": "2011-12-02T08:10:41.565891+00:00",
        "x_object_meta": {"Mode": "0755"},
        "available": 1,
    }
    entry = p.entry_from_json(item, with_meta=True)
    assert isinstance(entry, ObjectInfo) and entry.is_directory
    assert entry.version_timestamp == 1322813441.565891
    assert entry.last_modified == 1322813441.565891
    assert entry.meta == {"Mode": "0755"}
    assert p.entry_from_json(item, with_meta=False).meta is None  # type: ignore[union-attr]
    without_ext = dict(item)
    del without_ext["x_object_meta"]
    assert p.entry_from_json(without_ext, with_meta=True).meta is None  # type: ignore[union-attr]
    assert p.entry_from_json({"subdir": "a/b/"}, True) == Subdir("a/b")


def test_meta_headers_encode_non_ascii_and_normalise_keys():
    headers = p.meta_headers("X-Object-Meta-", {"my_key": "καλή 100%", "plain": "a b"})
    assert headers == {
        "X-Object-Meta-My-Key": "%CE%BA%CE%B1%CE%BB%CE%AE 100%25",
        "X-Object-Meta-Plain": "a b",
    }
    for value in headers.values():
        value.encode("ascii")


def test_names_are_quoted_for_the_path():
    assert p.quote_name("dir/with space/ü?#%") == "dir/with%20space/%C3%BC%3F%23%25"


def test_account_groups_are_parsed():
    info = p.account_from_headers(
        "acc",
        {
            "X-Account-Container-Count": "2",
            "X-Account-Group-Team": "u1,u2",
            "X-Account-Policy-Quota": "9",
        },
    )
    assert info.groups == {"team": ["u1", "u2"]}
    assert (info.container_count, info.quota) == (2, 9)


def test_block_bodies_are_packed_until_a_short_block():
    from pithosfs.client.writes import _pack_bodies

    full, short = b"a" * 4, b"b" * 3
    assert _pack_bodies([full, full, short, full, b""], 4) == [full * 2 + short, full + b"\0"]
    assert _pack_bodies([full * 2, full], 4) == [full * 3]
