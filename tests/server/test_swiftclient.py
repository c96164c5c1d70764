"""python-swiftclient, an unmodified third-party client, against the embedded server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from swiftclient import client as swift
from swiftclient.exceptions import ClientException

from tests.conftest import User


@pytest.fixture
def conn(alice: User) -> Iterator[swift.Connection]:
    connection = swift.Connection(preauthurl=alice.storage_url, preauthtoken=alice.token, retries=0)
    yield connection
    connection.close()


def test_container_and_object_round_trip(conn: swift.Connection, unique_name: str) -> None:
    conn.put_container(unique_name)
    etag = conn.put_object(unique_name, "dir/hello.txt", b"hello swift", content_type="text/plain")
    assert etag
    headers, body = conn.get_object(unique_name, "dir/hello.txt")
    assert body == b"hello swift"
    assert headers["content-type"] == "text/plain" and headers["etag"].strip('"') == etag
    head = conn.head_object(unique_name, "dir/hello.txt")
    assert head["content-length"] == "11"


def test_listing_and_delete(conn: swift.Connection, unique_name: str) -> None:
    conn.put_container(unique_name)
    for name in ("a", "b/c", "b/d"):
        conn.put_object(unique_name, name, name.encode(), content_type="application/octet-stream")
    _, items = conn.get_container(unique_name)
    assert [(i["name"], i["bytes"]) for i in items] == [("a", 1), ("b/c", 3), ("b/d", 3)]
    assert all("last_modified" in i and "content_type" in i for i in items)
    _, top = conn.get_container(unique_name, delimiter="/")
    assert [i.get("name", i.get("subdir")) for i in top] == ["a", "b/"]
    _, paged = conn.get_container(unique_name, limit=1, full_listing=True)
    assert [i["name"] for i in paged] == ["a", "b/c", "b/d"]
    conn.delete_object(unique_name, "a")
    with pytest.raises(ClientException) as err:
        conn.head_object(unique_name, "a")
    assert err.value.http_status == 404


def test_post_object_metadata(conn: swift.Connection, unique_name: str) -> None:
    conn.put_container(unique_name)
    conn.put_object(unique_name, "m", b"x", content_type="application/octet-stream")
    conn.post_object(unique_name, "m", headers={"X-Object-Meta-Colour": "blue"})
    assert conn.head_object(unique_name, "m")["x-object-meta-colour"] == "blue"
    conn.post_object(unique_name, "m", headers={"X-Object-Meta-Size": "big"})
    head = conn.head_object(unique_name, "m")
    assert head["x-object-meta-size"] == "big" and "x-object-meta-colour" not in head


def test_account_and_container_heads(conn: swift.Connection, unique_name: str) -> None:
    conn.put_container(unique_name)
    conn.put_object(unique_name, "o", b"12345", content_type="application/octet-stream")
    assert int(conn.head_container(unique_name)["x-container-object-count"]) == 1
    _, containers = conn.get_account()
    assert unique_name in [c["name"] for c in containers]
    conn.delete_object(unique_name, "o")
    conn.delete_container(unique_name)
    with pytest.raises(ClientException):
        conn.head_container(unique_name)


def test_ranged_get_and_missing_object(conn: swift.Connection, unique_name: str) -> None:
    conn.put_container(unique_name)
    conn.put_object(unique_name, "r", b"0123456789", content_type="application/octet-stream")
    _, body = conn.get_object(unique_name, "r", headers={"Range": "bytes=2-4"})
    assert body == b"234"
    with pytest.raises(ClientException) as err:
        conn.get_object(unique_name, "missing")
    assert err.value.http_status == 404
