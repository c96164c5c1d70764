"""`EmbeddedServer(strict=True)` / `pithosfs serve --strict` answers as the reference
Pithos+; the default server offers its extensions and names them (docs/server.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pithosfs import protocol
from tests.conftest import ALICE, BOB
from tests.server.pithos_http import DIRECTORY, Api
from tests.server.server_process import ServerProcess

CAROL = ("ca401000-0000-4000-8000-000000000003", "carol-token")
USERS = dict([ALICE, BOB, CAROL])
# Headers a reply carries whatever it answers (server, date, length...), not about the object.
GENERIC = {"content-length", "content-type", "date", "server", "last-modified", "vary",
           "cache-control", "expires", "connection", "keep-alive"}  # fmt: skip


@pytest.fixture(scope="module", params=["default", "strict"])
def mode(request: pytest.FixtureRequest, make_server: Callable[..., object]) -> tuple[str, object]:
    return request.param, make_server(users=USERS, strict=request.param == "strict")


def _api(server: object, user: tuple[str, str]) -> Api:
    return Api(server.storage_url(user[0]), user[0], user[1])  # type: ignore[attr-defined]


def test_extensions_are_advertised_only_by_the_default_server(
    mode: tuple[str, object], unique_name: str
) -> None:
    name, server = mode
    alice = _api(server, ALICE)
    alice.make_container(unique_name)
    replies = [alice.head(), alice.get(params={"format": "json"}), alice.head(unique_name),
               alice.get(unique_name, params={"format": "json"})]  # fmt: skip
    for reply in replies:
        offered = protocol.parse_extensions(reply.headers.get(protocol.EXTENSIONS_HEADER))
        assert offered == (set(protocol.ALL_EXTENSIONS) if name == "default" else set())


def test_put_replies(mode: tuple[str, object], unique_name: str) -> None:
    name, server = mode
    alice = _api(server, ALICE)
    cont = alice.make_container(unique_name)
    plain = alice.put_object(cont, "o", b"data", headers={"X-Object-Meta-K": "v"})
    hashmap = alice.put_hashmap(cont, "h", 4, [protocol.block_hash_hex(b"data")])
    for reply in (plain, hashmap):
        assert reply.status_code == 201
        specific = {k.lower() for k in reply.headers} - GENERIC
        if name == "strict":  # the reference's 201: ETag and X-Object-Version, nothing more
            assert specific == {"etag", "x-object-version"}, reply.headers
        else:
            assert {
                "x-object-uuid",
                "x-object-hash",
                protocol.EXTENSIONS_HEADER.lower(),
            } <= specific
            assert reply.headers[protocol.EXTENSIONS_HEADER] == protocol.EXT_WRITE_REPLY


def test_listing_metadata_only_where_offered(mode: tuple[str, object], unique_name: str) -> None:
    name, server = mode
    alice = _api(server, ALICE)
    cont = alice.make_container(unique_name)
    alice.put_object(cont, "o", b"", headers={"X-Object-Meta-Mode": "755"})
    (item,) = alice.listing(cont, **{protocol.LISTING_META_PARAM: "1"})
    if name == "strict":
        assert not any("meta" in key for key in item), item
    else:
        assert item["x_object_meta"] == {"Mode": "755"}


def test_rights_labels_in_listings(mode: tuple[str, object], unique_name: str) -> None:
    """A grantee's listing: exact rights by default; the reference's labels when strict
    ("write" whenever the path has any write grant; nothing under a shared folder)."""
    name, server = mode
    alice, bob = _api(server, ALICE), _api(server, BOB)
    cont = alice.make_container(unique_name)
    mixed = {"X-Object-Sharing": f"read={BOB[0]};write={CAROL[0]}"}
    alice.put_object(cont, "mixed", b"m", headers=mixed)
    alice.put_object(cont, "folder", b"", DIRECTORY, headers={"X-Object-Sharing": f"read={BOB[0]}"})
    alice.put_object(cont, "folder/inside", b"i")
    listed = bob.get(cont, account=alice.account, params={"format": "json"})
    items = {i["name"]: i for i in listed.json()}
    inside, labelled = items["folder/inside"], items["mixed"]
    assert labelled["x_object_sharing"] == f"read={BOB[0]}; write={CAROL[0]}"
    if name == "strict":
        assert labelled["x_object_allowed_to"] == "write"
        assert "x_object_allowed_to" not in inside and "x_object_shared_by" not in inside
    else:
        assert labelled["x_object_allowed_to"] == "read"
        assert inside["x_object_allowed_to"] == "read"
        assert inside["x_object_shared_by"] == f"{alice.account}/{cont}/folder"
    # Either way HEAD tells the truth (protocol.md 4.1), inherited sharing included.
    assert bob.meta(cont, "mixed", account=alice.account)["X-Object-Allowed-To"] == "read"
    head = bob.meta(cont, "folder/inside", account=alice.account)
    assert head["X-Object-Allowed-To"] == "read"
    assert head["X-Object-Sharing"] == f"read={BOB[0]}"
    assert head["X-Object-Shared-By"] == f"{alice.account}/{cont}/folder"


@pytest.mark.parametrize("strict", [False, True])
def test_serve_strict_flag(tmp_path: Path, strict: bool) -> None:
    """`pithosfs serve --strict` (a real child process) is the strict server."""
    args = ("--strict",) if strict else ()
    srv = ServerProcess(tmp_path / "data", ALICE, tmp_path / "serve.log", args)
    srv.start()
    try:
        alice = Api(srv.storage_url, ALICE[0], ALICE[1])
        head = alice.head()
        assert (protocol.EXTENSIONS_HEADER in head.headers) is not strict
        alice.make_container("c")
        reply = alice.put_object("c", "o", b"x")
        assert ("X-Object-UUID" in reply.headers) is not strict
    finally:
        srv.stop()
    assert ("Strict:" in (tmp_path / "serve.log").read_text()) is strict


def test_no_other_kindness_in_strict_mode(mode: tuple[str, object], unique_name: str) -> None:
    """The reference's quirks the default server deliberately does not copy (docs/server.md),
    copied by the strict one: MOVE's version, the hashmap's type, If-Range, `Destination`."""
    name, server = mode
    strict = name == "strict"
    alice = _api(server, ALICE)
    cont = alice.make_container(unique_name)
    alice.put_object(cont, "a.png", b"0123456789", ctype="image/png")
    hashmap = alice.get(cont, "a.png", params={"hashmap": "", "format": "json"})
    assert hashmap.json()["bytes"] == 10
    expected_type = "image/png" if strict else "application/json"
    assert hashmap.headers["Content-Type"].startswith(expected_type)
    etag = alice.meta(cont, "a.png")["ETag"]
    ranged = alice.get(cont, "a.png", headers={"Range": "bytes=0-3", "If-Range": etag})
    assert ranged.status_code == (200 if strict else 206)
    moved = alice.request("MOVE", cont, "a.png", headers={"Destination": f"/{cont}/b.png"})
    assert moved.status_code == 201
    version = moved.headers["X-Object-Version"]
    assert version.isdigit() is not strict
    bare = alice.request("COPY", cont, "b.png", headers={"Destination": f"{cont}/c.png"})
    assert bare.status_code == (400 if strict else 201)
    swift = alice.put(
        cont, "s", data=b"abc",
        headers={"Content-Type": "text/plain", "User-Agent": "rclone/v1.60"},
    )  # fmt: skip
    md5 = "900150983cd24fb0d6963f7d28e17f72"
    assert (swift.headers["ETag"] == md5) is not strict
