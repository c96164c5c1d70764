"""ImageClient against a scripted Plankton stub (the embedded server has no Plankton yet).

These check the wire form the client sends (protocol.md 10.4-10.9, 11.2) and how it
reads replies; the behaviour of a real Plankton is out of their reach.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from pithosfs.client import RetryPolicy
from pithosfs.client.errors import BadRequest
from pithosfs.client.images import ImageClient, pithos_location, property_key
from tests.client.flaky_server import FlakyServer

FAST = RetryPolicy(attempts=2, base_backoff=0.01, read_timeout=2)
IMAGE_HEADERS = {
    "x-image-meta-id": "3f0c-uuid",
    "x-image-meta-name": "Debian%20%CE%B1",
    "x-image-meta-disk-format": "diskdump",
    "x-image-meta-container-format": "bare",
    "x-image-meta-size": "1024",
    "x-image-meta-checksum": "ab" * 32,
    "x-image-meta-location": "pithos://acc/images/debian.diskdump",
    "x-image-meta-status": "AVAILABLE",
    "x-image-meta-is-public": "True",
    "x-image-meta-owner": "acc",
    "x-image-meta-property-osfamily": "linux",
    "x-image-meta-property-root-partition": "1",
}


@pytest.fixture
def stub() -> Iterator[FlakyServer]:
    srv = FlakyServer()
    yield srv
    srv.stop()


def _client(stub: FlakyServer) -> ImageClient:
    return ImageClient(stub.url + "/image/v1.0", "tok", retry=FAST)


def test_register_sends_meta_headers_and_parses_the_reply(stub: FlakyServer):
    stub.script = [("reply", 200, IMAGE_HEADERS, b"")]
    img = _client(stub).register(
        "Debian α",
        pithos_location("acc", "images", "debian.diskdump"),
        disk_format="diskdump",
        is_public=True,
        properties={"OSFAMILY": "linux", "root_partition": "1"},
    )
    method, path, headers, _ = stub.requests[0]
    assert (method, path) == ("POST", "/image/v1.0/images/")
    assert headers["X-Image-Meta-Name"] == "Debian%20%CE%B1"
    assert headers["X-Image-Meta-Location"] == "pithos://acc/images/debian.diskdump"
    assert headers["X-Image-Meta-Is-Public"] == "True"
    assert headers["X-Image-Meta-Property-OSFAMILY"] == "linux"
    assert "X-Image-Meta-Size" not in headers  # always 400 over HTTP (protocol.md 10.6 quirk)
    assert img.id == "3f0c-uuid" and img.name == "Debian α"
    assert img.is_public and img.size == 1024
    assert img.properties == {"osfamily": "linux", "root_partition": "1"}


def test_list_detail_accepts_both_shapes_and_filters_client_side(stub: FlakyServer):
    items = [
        {"id": "1", "name": "a", "size": 10, "status": "AVAILABLE", "properties": {"x": "y"}},
        {"id": "2", "name": "b", "size": 99, "status": "AVAILABLE"},
    ]
    stub.script = [
        (
            "reply",
            200,
            {"Content-Type": "application/json"},
            json.dumps({"images": items}).encode(),
        ),
        ("reply", 200, {"Content-Type": "application/json"}, json.dumps(items).encode()),
    ]
    client = _client(stub)
    imgs = client.list(detail=True, sort_key="name", sort_dir="asc")
    assert [i.id for i in imgs] == ["1", "2"] and imgs[0].properties == {"x": "y"}
    assert stub.requests[0][1].startswith("/image/v1.0/images/detail?")
    assert [i.id for i in client.list(filters={"size_min": "50"})] == ["2"]
    with pytest.raises(ValueError):
        client.list(sort_key="bogus")


def test_get_update_unregister_and_members(stub: FlakyServer):
    members = {"members": [{"member_id": "u1", "can_share": False}]}
    stub.script = [
        ("reply", 200, IMAGE_HEADERS, b""),  # HEAD
        ("reply", 200, IMAGE_HEADERS, b""),  # PUT update
        ("reply", 200, {"Content-Type": "application/json"}, json.dumps(members).encode()),
        ("reply", 204, {}, b""),  # add member
        ("reply", 204, {}, b""),  # replace members
        ("reply", 204, {}, b""),  # remove member
        ("reply", 204, {}, b""),  # unregister
    ]
    client = _client(stub)
    assert client.get("3f0c-uuid").checksum == "ab" * 32
    client.update("3f0c-uuid", name="new", properties={"gone": ""})
    assert client.list_members("3f0c-uuid") == ["u1"]
    client.add_member("3f0c-uuid", "u2@example.org")
    client.set_members("3f0c-uuid", ["u1", "u3"])
    client.remove_member("3f0c-uuid", "u1")
    client.unregister("3f0c-uuid")
    seen = [(m, p) for m, p, _, _ in stub.requests]
    assert seen == [
        ("HEAD", "/image/v1.0/images/3f0c-uuid"),
        ("PUT", "/image/v1.0/images/3f0c-uuid"),
        ("GET", "/image/v1.0/images/3f0c-uuid/members"),
        ("PUT", "/image/v1.0/images/3f0c-uuid/members/u2@example.org"),
        ("PUT", "/image/v1.0/images/3f0c-uuid/members"),
        ("DELETE", "/image/v1.0/images/3f0c-uuid/members/u1"),
        ("DELETE", "/image/v1.0/images/3f0c-uuid"),
    ]
    update_headers = stub.requests[1][2]
    assert update_headers["X-Image-Meta-Name"] == "new"
    assert update_headers["X-Image-Meta-Property-gone"] == ""
    assert json.loads(stub.requests[4][3]) == {
        "memberships": [{"member_id": "u1"}, {"member_id": "u3"}]
    }


def test_register_error_is_typed(stub: FlakyServer):
    fault = {"badRequest": {"code": 400, "message": "Invalid location", "details": ""}}
    stub.script = [("reply", 400, {}, json.dumps(fault).encode())]
    with pytest.raises(BadRequest, match="Invalid location"):
        _client(stub).register("n", "pithos://bad")


def test_property_key_normalisation_matches_the_server():
    assert property_key("Root-Partition") == "root_partition"
    assert property_key("OS.Family") == "os_family"
