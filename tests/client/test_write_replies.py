"""Write results built from the PUT reply: one request, and the same info a HEAD gives."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pithosfs import protocol
from pithosfs.client import PithosClient
from pithosfs.client import parsing as p
from tests.client.flaky_server import FlakyServer


@pytest.fixture
def client(alice) -> Iterator[PithosClient]:
    c = PithosClient.from_storage_url(alice.storage_url, alice.token)
    yield c
    c.close()


@pytest.fixture
def cont(client: PithosClient, unique_name: str) -> str:
    client.create_container(unique_name)
    client.container_info(unique_name)  # the block-layout HEAD, cached before we count
    return unique_name


def _requests(client: PithosClient) -> dict[str, int]:
    return {m: s.requests for m, s in client.stats.snapshot().by_method.items() if s.requests}


def test_put_object_is_one_request_and_its_result_equals_a_head(client, cont):
    client.stats.reset()
    info = client.put_object(cont, "a", b"hello", "text/plain", {"mtime": "1"}, if_none_match=True)
    assert _requests(client) == {"PUT": 1}
    assert info == client.head_object(cont, "a")
    assert info.size == 5 and info.content_type == "text/plain" and info.meta == {"Mtime": "1"}
    assert info.uuid and info.version > 0 and info.last_modified > 0


def test_overwrite_of_a_shared_public_object_reports_its_sharing_and_link(client, cont):
    first = client.put_object(cont, "s", b"v1")
    client.set_sharing(cont, "s", "read=*")
    url = client.set_public(cont, "s", True)
    client.stats.reset()
    info = client.put_object(cont, "s", b"version two", if_match=first.hash)
    assert _requests(client) == {"PUT": 1}
    assert info == client.head_object(cont, "s")
    assert info.sharing and info.public_url == url and info.uuid == first.uuid


def test_hashmap_put_is_one_request_and_its_result_equals_a_head(client, cont):
    data = b"x" * 1000
    hashes = client.upload_blocks(cont, [data])
    client.stats.reset()
    info = client.put_hashmap(cont, "h", len(data), hashes, meta={"k": "v"})
    assert _requests(client) == {"PUT": 1}
    assert info == client.head_object(cont, "h")
    empty = client.put_hashmap(cont, "e", 0, [protocol.EMPTY_SHA256])
    assert empty == client.head_object(cont, "e") and empty.size == 0


def test_a_reply_with_only_etag_and_version_falls_back_to_head():
    """A real Pithos+ reply (protocol.md 4.3): the client HEADs, as before."""
    srv = FlakyServer()
    try:
        srv.script += [
            ("reply", 201, {"ETag": "ab" * 32, "X-Object-Version": "7"}, b""),
            ("reply", 200, {"Content-Length": "2", "X-Object-Version": "7", "X-Object-UUID": "u"}, b""),
        ]  # fmt: skip
        client = PithosClient.from_storage_url(srv.url + "/v1/acc", "tok")
        info = client.put_object("c", "o", b"hi")
        assert [m for m, *_ in srv.requests] == ["PUT", "HEAD"]
        assert info.version == 7 and info.uuid == "u" and info.size == 2
        client.close()
    finally:
        srv.stop()


FULL = {
    "ETag": "ab" * 32,
    "X-Object-Hash": "ab" * 32,
    "X-Object-UUID": "u-1",
    "X-Object-Modified-By": "alice",
    "X-Object-Version": "12",
    "X-Object-Version-Timestamp": "Fri, 04 Dec 2026 16:00:00 GMT",
    "Last-Modified": "Fri, 04 Dec 2026 16:00:09 GMT",
    "X-Object-Meta-Color": "blue%20green",
    "Content-Length": "0",
    "Content-Type": "text/html; charset=utf-8",
}


def test_reply_parsing_takes_size_and_type_from_the_request_and_mtime_from_the_version():
    info = p.object_from_write_reply("o", FULL, 42, "image/png")
    assert info is not None
    assert (info.size, info.content_type, info.version, info.uuid) == (42, "image/png", 12, "u-1")
    assert (
        info.last_modified
        == info.version_timestamp
        == p.parse_http_date(FULL["X-Object-Version-Timestamp"])
    )
    assert info.meta == {"Color": "blue green"} and info.sharing == "" and info.public_url == ""


@pytest.mark.parametrize("missing", [*p.WRITE_REPLY_NEEDS, "X-Object-Version"])
def test_reply_parsing_needs_every_field_a_head_would_give(missing: str):
    partial = {k: v for k, v in FULL.items() if k != missing}
    assert p.object_from_write_reply("o", partial, 1, "a/b") is None
    assert (
        p.object_from_write_reply("o", {**FULL, "X-Object-Version": "([1], 2)"}, 1, "a/b") is None
    )


def test_a_full_reply_that_does_not_name_the_extension_is_not_trusted():
    """HEAD-like headers without `X-Pithosfs-Extensions: write-reply`: a HEAD all the same."""
    srv = FlakyServer()
    full = {
        "ETag": "ab" * 32, "X-Object-Version": "7", "X-Object-Hash": "ab" * 32,
        "X-Object-UUID": "from-reply", "X-Object-Modified-By": "someone",
        "X-Object-Version-Timestamp": "Sun, 09 Sep 2001 01:46:40 GMT",
    }  # fmt: skip
    try:
        srv.script += [
            ("reply", 201, full, b""),
            ("reply", 200, {"Content-Length": "2", "X-Object-Version": "7", "X-Object-UUID": "u"}, b""),
            ("reply", 201, {**full, protocol.EXTENSIONS_HEADER: protocol.EXT_WRITE_REPLY}, b""),
        ]  # fmt: skip
        client = PithosClient.from_storage_url(srv.url + "/v1/acc", "tok")
        assert client.put_object("c", "o", b"hi").uuid == "u"
        assert client.put_object("c", "o", b"hi").uuid == "from-reply"
        assert [m for m, *_ in srv.requests] == ["PUT", "HEAD", "PUT"]
        client.close()
    finally:
        srv.stop()


def test_copy_and_move_ask_the_server_to_ignore_the_request_type():
    """Behind some WSGI servers a missing Content-Type becomes text/plain: the client sends
    `ignore_content_type` unless it means to change the type (protocol.md 4.4)."""
    srv = FlakyServer(lambda *_: ("reply", 201, {"X-Object-Version": "3"}, b""))
    try:
        srv.script += [("reply", 204, {"X-Container-Block-Size": "4194304"}, b"")]
        client = PithosClient.from_storage_url(srv.url + "/v1/acc", "tok")
        client.move_object("c", "a", "c", "b")  # checks the container kind first (a HEAD)
        client.copy_object("c", "b", "c", "d")
        client.copy_object("c", "d", "c", "e", content_type="text/csv")
        puts = [(path, headers) for method, path, headers, _ in srv.requests if method == "PUT"]
        assert ["ignore_content_type" in path for path, _ in puts] == [True, True, False]
        assert puts[2][1]["Content-Type"] == "text/csv"
        client.close()
    finally:
        srv.stop()


def test_a_reference_reply_folds_into_the_result_when_asked():
    """The mount's client: ETag and X-Object-Version plus what was sent, no HEAD."""
    srv = FlakyServer()
    try:
        srv.script += [("reply", 201, {"ETag": "ab" * 32, "X-Object-Version": "7"}, b"")]
        client = PithosClient.from_storage_url(srv.url + "/v1/acc", "tok", fold_write_replies=True)
        info = client.put_object("c", "o", b"hi", "text/plain", {"pithosfs_mode": "640", "gone": ""})
        assert [m for m, *_ in srv.requests] == ["PUT"]
        assert (info.version, info.hash, info.size, info.content_type) == (7, "ab" * 32, 2, "text/plain")
        assert info.meta == {"Pithosfs-Mode": "640"} and info.uuid == ""  # as the server stores it
        client.close()
    finally:
        srv.stop()


def test_a_reply_naming_no_version_still_gets_a_head():
    """Plain Swift (an MD5 ETag, no version): the folded client HEADs as before."""
    srv = FlakyServer()
    try:
        srv.script += [
            ("reply", 201, {"ETag": "d41d8cd98f00b204e9800998ecf8427e"}, b""),
            ("reply", 200, {"Content-Length": "2", "X-Object-Version": "3"}, b""),
        ]  # fmt: skip
        client = PithosClient.from_storage_url(srv.url + "/v1/acc", "tok", fold_write_replies=True)
        info = client.put_object("c", "o", b"hi")
        assert [m for m, *_ in srv.requests] == ["PUT", "HEAD"] and info.version == 3
        client.close()
    finally:
        srv.stop()
