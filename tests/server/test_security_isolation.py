"""Security rule 2: one account never reads, lists or changes another's data except
through sharing (protocol.md 9.4), and sharing gives exactly what it says, until revoked.

Carol never gets anything shared: every operation she tries on alice's data is
refused, nothing changes, and no reply to her carries alice's content, block
hashes, Merkle hash, object UUID or names. Bob gets read, then write shares,
and loses them again.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import ALICE, BOB
from tests.server.pithos_http import OCTET, Api, assert_fault
from tests.server.plankton_api import location
from tests.server.security_world import BLOCK_SIZE, CAROL, World, fingerprint
from tests.server.security_world import world as world  # noqa: F401 (fixture)

ISO = "isolated"
SECRET = b"".join(b"ALICE-SECRET-%06d|" % i for i in range(200))  # 4000 B: 4 blocks


def block_hashes(data: bytes) -> list[str]:
    return [
        hashlib.sha256(data[i : i + BLOCK_SIZE].rstrip(b"\0")).hexdigest()
        for i in range(0, len(data), BLOCK_SIZE)
    ]


class Recorder:
    """Wraps one user's Api and keeps every reply, to search them for leaks later."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.replies: list[requests.Response] = []

    def __call__(self, method: str, *parts: str, **kw: Any) -> requests.Response:
        resp = self.api.request(method, *parts, **kw)
        self.replies.append(resp)
        return resp

    def leaked(self, needles: list[str]) -> list[tuple[str, str]]:
        found = []
        for resp in self.replies:
            text = resp.content.decode("latin-1") + "\n".join(
                f"{k}: {v}" for k, v in resp.headers.items()
            )
            for needle in needles:
                if needle in text:
                    found.append((f"{resp.request.method} {resp.url}", needle))
        return found


@pytest.fixture(scope="module")
def alice_data(world: World) -> dict[str, str]:
    alice = world.alice
    alice.make_container(ISO)
    alice.put_object(ISO, "secret", SECRET[:1000])
    alice.put_object(ISO, "secret", SECRET)
    alice.mkdir(ISO, "d")
    alice.put_object(ISO, "d/inner", b"ALICE-SECRET inner")
    alice.put_object(ISO, "image.raw", b"ALICE-SECRET image")
    image = world.alice_img.register("alice-private", location(ALICE[0], ISO, "image.raw"))
    meta = alice.meta(ISO, "secret")
    return {
        "uuid": meta["X-Object-UUID"],
        "hash": meta["X-Object-Hash"],
        "old": str(alice.versions(ISO, "secret")[0][0]),
        "image": image["id"],
    }


def carol_tries_everything(world: World, rec: Recorder, data: dict[str, str]) -> list[int]:
    """Every way carol could reach alice's data; returns the statuses."""
    acc = {"account": ALICE[0]}
    src = {"X-Source-Account": ALICE[0]}
    world.carol.make_container("carols")
    world.carol.put_object("carols", "mine", b"carol's")
    statuses = [
        # account
        rec("HEAD", **acc).status_code,
        rec("GET", **acc, params={"format": "json"}).status_code,
        rec("GET", **acc, params={"until": "9999999999"}).status_code,
        rec("POST", **acc, params="update", headers={"X-Account-Meta-X": "1"}).status_code,
        rec("POST", **acc, params="update", headers={"X-Account-Group-G": CAROL[0]}).status_code,
        # container, existing and not
        rec("HEAD", ISO, **acc).status_code,
        rec("GET", ISO, **acc, params={"format": "json"}).status_code,
        rec("GET", ISO, **acc, params={"format": "json", "shared": ""}).status_code,
        rec("GET", ISO, **acc, params={"prefix": "d/", "delimiter": "/"}).status_code,
        rec("PUT", ISO, **acc).status_code,
        rec("PUT", "carol-made", **acc).status_code,
        rec("POST", ISO, **acc, params="update", headers={"X-Container-Meta-X": "1"}).status_code,
        rec("POST", ISO, **acc, headers={"X-Container-Policy-Quota": "1"}).status_code,
        rec(
            "POST",
            ISO,
            **acc,
            params={"update": "", "format": "json"},
            headers={"Content-Type": OCTET},
            data=b"block",
        ).status_code,
        rec("DELETE", ISO, **acc).status_code,
        rec("DELETE", ISO, **acc, params={"delimiter": "/"}).status_code,
        rec("DELETE", ISO, **acc, params={"until": "9999999999"}).status_code,
        rec("HEAD", "no-such-container", **acc).status_code,
        rec("GET", "no-such-container", **acc).status_code,
        rec("HEAD", "no-such-container", "x", **acc).status_code,
        # objects: reads in every form
        rec("HEAD", ISO, "secret", **acc).status_code,
        rec("GET", ISO, "secret", **acc).status_code,
        rec("GET", ISO, "secret", **acc, headers={"Range": "bytes=0-9"}).status_code,
        rec("GET", ISO, "secret", **acc, params={"hashmap": "", "format": "json"}).status_code,
        rec("GET", ISO, "secret", **acc, params={"version": "list"}).status_code,
        rec("GET", ISO, "secret", **acc, params={"version": data["old"]}).status_code,
        rec("GET", ISO, "secret", **acc, headers={"If-Match": data["hash"]}).status_code,
        rec("HEAD", ISO, "no-such-object", **acc).status_code,
        rec("GET", ISO, "d", **acc).status_code,
        rec("GET", ISO, "d/inner", **acc).status_code,
        # objects: writes
        rec("PUT", ISO, "secret", **acc, data=b"x", headers={"Content-Type": OCTET}).status_code,
        rec("PUT", ISO, "new", **acc, data=b"x", headers={"Content-Type": OCTET}).status_code,
        rec(
            "PUT",
            ISO,
            "secret",
            **acc,
            params={"hashmap": "", "format": "json"},
            headers={"Content-Type": OCTET},
            data=json.dumps({"bytes": 1000, "hashes": block_hashes(SECRET[:1000])}),
        ).status_code,
        rec(
            "POST", ISO, "secret", **acc, params="update", headers={"X-Object-Meta-X": "1"}
        ).status_code,
        rec(
            "POST", ISO, "secret", **acc, headers={"X-Object-Sharing": f"read={CAROL[0]}"}
        ).status_code,
        rec("POST", ISO, "secret", **acc, headers={"X-Object-Public": "true"}).status_code,
        rec("POST", ISO, "secret", **acc, files={"X-Object-Data": ("f", b"form")}).status_code,
        rec(
            "POST",
            ISO,
            "secret",
            **acc,
            params="update",
            data=b"more",
            headers={"Content-Type": OCTET, "Content-Range": "bytes */*"},
        ).status_code,
        rec("DELETE", ISO, "secret", **acc).status_code,
        rec("DELETE", ISO, "secret", **acc, params={"until": "9999999999"}).status_code,
        rec("DELETE", ISO, "d", **acc, params={"delimiter": "/"}).status_code,
        rec(
            "MOVE",
            ISO,
            "secret",
            **acc,
            headers={"Destination": "/carols/moved", "Destination-Account": CAROL[0]},
        ).status_code,
        rec(
            "COPY",
            ISO,
            "secret",
            **acc,
            headers={"Destination": "/carols/copied", "Destination-Account": CAROL[0]},
        ).status_code,
        rec(
            "COPY",
            ISO,
            "d",
            **acc,
            params={"delimiter": "/"},
            headers={"Destination": "/carols/d", "Destination-Account": CAROL[0]},
        ).status_code,
        # carol's own objects, fed from alice's
        rec(
            "PUT",
            "carols",
            "copy",
            headers={"X-Copy-From": f"/{ISO}/secret", **src, "Content-Length": "0"},
        ).status_code,
        rec(
            "PUT",
            "carols",
            "copy",
            headers={
                "X-Copy-From": f"/{ISO}/secret",
                **src,
                "X-Source-Version": data["old"],
                "Content-Length": "0",
            },
        ).status_code,
        rec(
            "PUT",
            "carols",
            "move",
            headers={"X-Move-From": f"/{ISO}/secret", **src, "Content-Length": "0"},
        ).status_code,
        rec(
            "POST",
            "carols",
            "mine",
            params="update",
            headers={"X-Source-Object": f"/{ISO}/secret", **src, "Content-Range": "bytes 0-/*"},
        ).status_code,
    ]
    return statuses


def carol_tries_images(world: World, rec: Recorder, image: str) -> list[int]:
    img = f"/image/v1.0/images/{image}"

    def call(method: str, path: str, **kw: Any) -> int:
        resp = requests.request(method, world.base_url + path, timeout=30, **kw)
        rec.replies.append(resp)
        return resp.status_code

    token = {"X-Auth-Token": CAROL[1]}
    loc = location(ALICE[0], ISO, "secret")
    return [
        call(
            "POST",
            "/image/v1.0/images/",
            headers={**token, "X-Image-Meta-Name": "stolen", "X-Image-Meta-Location": loc},
        ),
        call("HEAD", img, headers=token),
        call("PUT", img, headers={**token, "X-Image-Meta-Name": "renamed"}),
        call("PUT", img, headers={**token, "X-Image-Meta-Is-Public": "true"}),
        call("DELETE", img, headers=token),
        call("GET", img + "/members", headers=token),
        call("PUT", img + "/members/" + CAROL[0], headers=token),
        call("DELETE", img + "/members/" + ALICE[0], headers=token),
        call(
            "PUT",
            img + "/members",
            headers=token,
            data=json.dumps({"memberships": [{"member_id": CAROL[0]}]}),
        ),
    ]


def test_a_stranger_can_neither_read_list_nor_change(
    world: World, alice_data: dict[str, str]
) -> None:
    before = fingerprint(world.alice, world.alice_img)
    rec = Recorder(world.carol)
    statuses = carol_tries_everything(world, rec, alice_data)
    image_statuses = carol_tries_images(world, rec, alice_data["image"])
    assert statuses == [403] * len(statuses), statuses
    assert image_statuses == [403] * len(image_statuses), image_statuses
    for resp in rec.replies:
        if resp.request.method != "HEAD":
            assert_fault(resp, 403)
    assert fingerprint(world.alice, world.alice_img) == before
    # Nothing of alice's ended up with carol, and carol's lists show nothing of alice.
    assert world.carol.names("carols") == ["mine"]
    assert world.carol.read("carols", "mine") == b"carol's"
    assert world.carol.get("", params={"format": "json"}).status_code in (200, 204)
    top = world.carol.session.get(world.carol.root + "/", headers={"X-Auth-Token": CAROL[1]})
    assert ALICE[0] not in top.text
    assert alice_data["image"] not in json.dumps(
        requests.get(
            world.base_url + "/image/v1.0/images/detail",
            headers={"X-Auth-Token": CAROL[1]},
            timeout=30,
        ).json()
    )
    shared = requests.get(
        world.base_url + f"/image/v1.0/shared-images/{ALICE[0]}",
        headers={"X-Auth-Token": CAROL[1]},
        timeout=30,
    )
    assert shared.status_code == 200 and alice_data["image"] not in shared.text
    needles = [
        "ALICE-SECRET",
        alice_data["hash"],
        alice_data["uuid"],
        *block_hashes(SECRET),
        *block_hashes(SECRET[:1000]),
        "image.raw",
        "d/inner",
    ]
    assert rec.leaked(needles) == []


def test_a_manifest_reaches_only_its_own_account(world: World, alice_data: dict[str, str]) -> None:
    """X-Object-Manifest names a container of the manifest's own account: carol's
    manifest naming alice's container path reads carol's (empty) container."""
    carol = world.carol
    carol.make_container(ISO)  # same name as alice's, but carol's
    carol.put_object(ISO, "manifest", b"", headers={"X-Object-Manifest": f"{ISO}/secret"})
    carol.put_object(ISO, "escape", b"", headers={"X-Object-Manifest": f"../{ALICE[0]}/{ISO}/"})
    for name in ("manifest", "escape"):
        resp = carol.get(ISO, name)
        assert resp.status_code == 200 and b"ALICE-SECRET" not in resp.content


def test_unknown_block_hashes_are_refused_and_create_nothing(world: World) -> None:
    """A hashmap PUT naming blocks no one uploaded gets 409 with exactly those hashes
    (protocol.md 7.3): the store answers only whether a hash exists, never with content."""
    carol = world.carol
    carol.make_container("carol-blocks")
    guesses = [hashlib.sha256(b"guess %d" % i).hexdigest() for i in range(3)]
    resp = carol.put_hashmap("carol-blocks", "guessed", 3 * BLOCK_SIZE, guesses)
    assert resp.status_code == 409 and resp.json() == guesses
    assert_fault(carol.head("carol-blocks", "guessed"), 404)


def test_no_route_serves_a_block_by_its_hash(world: World, alice_data: dict[str, str]) -> None:
    """Blocks are reachable only through an object's hashmap: a hash in a URL is just
    a name (of carol's own, missing, object) or an unknown route."""
    carol = world.carol
    carol.make_container("carol-hash")
    for block in block_hashes(SECRET):
        for url in (
            carol.url("carol-hash", block),
            carol.url("carol-hash") + f"?hash={block}",
            carol.url() + f"/blocks/{block}",
            world.base_url + f"/blocks/{block}",
            world.base_url + f"/object-store/v1/blocks/{block}",
            world.base_url + f"/public/{block}",
        ):
            resp = carol.session.get(url, headers={"X-Auth-Token": CAROL[1]}, timeout=30)
            assert resp.status_code in (204, 400, 403, 404), (url, resp.status_code)
            assert b"ALICE-SECRET" not in resp.content


def test_a_block_is_shared_across_accounts_only_with_who_knows_its_content(
    world: World, alice_data: dict[str, str]
) -> None:
    """The documented choice (docs/server.md, Security): the block store is global, as
    in the reference, and a hash is as good as the content. Carol, who holds the
    same bytes herself, may name alice's stored blocks by hash and skip the upload;
    she gets exactly the bytes she already had, nothing of alice's object."""
    carol = world.carol
    carol.make_container("carol-dedup")
    mine = SECRET[BLOCK_SIZE : 2 * BLOCK_SIZE]  # one block of alice's, known to carol
    resp = carol.put_hashmap("carol-dedup", "same-bytes", len(mine), block_hashes(mine))
    assert resp.status_code == 201, (resp.status_code, resp.text)
    assert carol.read("carol-dedup", "same-bytes") == mine
    assert carol.meta("carol-dedup", "same-bytes")["X-Object-Modified-By"] == CAROL[0]
    assert_fault(carol.get(ISO, "secret", account=ALICE[0]), 403)


@pytest.fixture
def shared_cont(world: World, unique_name: str) -> Iterator[str]:
    alice = world.alice
    alice.make_container(unique_name)
    alice.put_object(unique_name, "sibling", b"ALICE-SECRET sibling")
    yield unique_name


def test_a_read_share_allows_reading_only_that_object_until_revoked(
    world: World, shared_cont: str
) -> None:
    alice, bob, cont = world.alice, world.bob, shared_cont
    acc = {"account": ALICE[0]}
    alice.put_object(cont, "doc", b"version one")
    alice.put_object(cont, "doc", b"shared text", headers={"X-Object-Sharing": f"read={BOB[0]}"})
    old = str(alice.versions(cont, "doc")[0][0])
    # What a read share allows (protocol.md 9.4): every read form, and copying out.
    assert bob.read(cont, "doc", **acc) == b"shared text"
    # Per-user answers must never be served from a shared cache to someone else (protocol.md 1.3).
    for resp in (bob.get(cont, "doc", **acc), bob.get(cont, params={"format": "json"}, **acc)):
        assert "no-store" in resp.headers["Cache-Control"], resp.headers
        assert "X-Auth-Token" in resp.headers["Vary"], resp.headers
    assert bob.read(cont, "doc", params={"version": old}, **acc) == b"version one"
    # A version number is global: one of the private sibling's names nothing through "doc".
    private = str(alice.versions(cont, "sibling")[0][0])
    for params in ({"version": private}, {"version": private, "hashmap": "", "format": "json"}):
        resp = bob.get(cont, "doc", params=params, **acc)
        assert resp.status_code == 404 and b"ALICE-SECRET" not in resp.content, params
    bob.make_container("bobs")
    resp = bob.put(
        "bobs",
        "ver",
        headers={
            "X-Copy-From": f"/{cont}/doc",
            "X-Source-Account": ALICE[0],
            "X-Source-Version": private,
            "Content-Length": "0",
        },
    )
    assert resp.status_code == 404
    assert bob.meta(cont, "doc", **acc)["X-Object-Allowed-To"] == "read"
    hashmap = bob.get(cont, "doc", params={"hashmap": "", "format": "json"}, **acc).json()
    assert hashmap["hashes"] == alice.hashmap(cont, "doc")["hashes"]
    assert len(bob.get(cont, "doc", params={"version": "list"}, **acc).json()["versions"]) == 2
    listed = bob.get(cont, params={"format": "json"}, **acc).json()
    assert [o["name"] for o in listed] == ["doc"]  # not the sibling
    containers = bob.get(params={"format": "json"}, **acc).json()
    assert cont in [c["name"] for c in containers]
    copied = bob.put(
        "bobs",
        "copy",
        headers={
            "X-Copy-From": f"/{cont}/doc",
            "X-Source-Account": ALICE[0],
            "Content-Length": "0",
        },
    )
    assert copied.status_code == 201 and bob.read("bobs", "copy") == b"shared text"
    # ...and what it does not.
    before = fingerprint(alice)
    refused = [
        bob.put(cont, "doc", data=b"x", headers={"Content-Type": OCTET}, **acc),
        bob.put_hashmap(cont, "doc", hashmap["bytes"], hashmap["hashes"], **acc),
        bob.post_meta(cont, "doc", {"X-Object-Meta-X": "1"}, **acc),
        bob.write_at(cont, "doc", b"x", "bytes */*", **acc),
        bob.post_meta(cont, "doc", {"X-Object-Sharing": f"read={BOB[0]},{CAROL[0]}"}, **acc),
        bob.post_meta(cont, "doc", {"X-Object-Public": "true"}, **acc),
        bob.delete(cont, "doc", **acc),
        bob.request(
            "MOVE",
            cont,
            "doc",
            headers={"Destination": "/bobs/m", "Destination-Account": BOB[0]},
            **acc,
        ),
        bob.request("COPY", cont, "doc", headers={"Destination": f"/{cont}/doc2"}, **acc),
        bob.get(cont, "sibling", **acc),
        bob.post(cont, params={"update": ""}, headers={"Content-Type": OCTET}, data=b"b", **acc),
        bob.post(cont, params="update", headers={"X-Container-Meta-X": "1"}, **acc),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert fingerprint(alice) == before
    # A stranger still sees nothing.
    assert_fault(world.carol.get(cont, "doc", **acc), 403)
    # Revocation: every read form is refused again, and alice drops out of bob's lists.
    assert alice.post_meta(cont, "doc", {"X-Object-Sharing": ""}).status_code == 202
    for resp in (
        bob.get(cont, "doc", **acc),
        bob.head(cont, "doc", **acc),
        bob.get(cont, "doc", params={"hashmap": "", "format": "json"}, **acc),
        bob.get(cont, "doc", params={"version": "list"}, **acc),
        bob.get(cont, "doc", params={"version": old}, **acc),
        bob.get(cont, params={"format": "json"}, **acc),
        bob.put(
            "bobs",
            "again",
            headers={
                "X-Copy-From": f"/{cont}/doc",
                "X-Source-Account": ALICE[0],
                "Content-Length": "0",
            },
        ),
    ):
        assert_fault(resp, 403)
    containers = bob.get(params={"format": "json"}, **acc)
    assert containers.status_code == 403 or cont not in containers.text


def test_a_write_share_allows_writes_but_not_delete_move_or_sharing(
    world: World, shared_cont: str
) -> None:
    alice, bob, cont = world.alice, world.bob, shared_cont
    acc = {"account": ALICE[0]}
    alice.put_object(cont, "doc", b"start", headers={"X-Object-Sharing": f"write={BOB[0]}"})
    assert bob.meta(cont, "doc", **acc)["X-Object-Allowed-To"] == "write"
    assert (
        bob.put(cont, "doc", data=b"by bob", headers={"Content-Type": OCTET}, **acc).status_code
        == 201
    )
    assert bob.write_at(cont, "doc", b"+", "bytes */*", **acc).status_code == 204
    assert bob.post_meta(cont, "doc", {"X-Object-Meta-Editor": "bob"}, **acc).status_code == 202
    # kamaki's way into a write share: blocks into bob's own container, hashmap into alice's.
    bob.make_container(cont)
    blocks = bob.upload_blocks(cont, b"via hashmap")
    assert blocks.status_code == 202
    resp = bob.put_hashmap(cont, "doc", len(b"via hashmap"), blocks.json(), **acc)
    assert resp.status_code == 201
    assert alice.read(cont, "doc") == b"via hashmap"
    assert alice.meta(cont, "doc")["X-Object-Modified-By"] == BOB[0]
    bob.put_object(cont, "own", b"BOB's own")
    before = fingerprint(alice)
    refused = [
        bob.delete(cont, "doc", **acc),
        bob.delete(cont, "doc", params={"until": "9999999999"}, **acc),
        bob.request("MOVE", cont, "doc", headers={"Destination": f"/{cont}/moved"}, **acc),
        bob.post_meta(cont, "doc", {"X-Object-Sharing": f"write={BOB[0]},{CAROL[0]}"}, **acc),
        bob.post_meta(cont, "doc", {"X-Object-Public": "true"}, **acc),
        bob.put(
            cont,
            "doc",
            data=b"x",
            **acc,
            headers={"Content-Type": OCTET, "X-Object-Sharing": f"read={CAROL[0]}"},
        ),
        bob.put(cont, "other", data=b"x", headers={"Content-Type": OCTET}, **acc),
        bob.post(cont, params={"update": ""}, headers={"Content-Type": OCTET}, data=b"b", **acc),
        bob.put(cont, **acc),
        bob.delete(cont, **acc),
        bob.get(cont, "sibling", **acc),
        # alice's private sibling copied into the object bob may write
        bob.put(
            cont,
            "doc",
            headers={
                "X-Copy-From": f"/{cont}/sibling",
                "X-Source-Account": ALICE[0],
                "Content-Length": "0",
            },
            **acc,
        ),
        bob.post(
            cont,
            "doc",
            params="update",
            headers={
                "X-Source-Object": f"/{cont}/sibling",
                "X-Source-Account": ALICE[0],
                "Content-Range": "bytes 0-/*",
            },
            **acc,
        ),
        bob.request("COPY", cont, "sibling", headers={"Destination": f"/{cont}/doc"}, **acc),
        # his own object copied in, publishing or re-sharing on the way (one transaction)
        bob.put(
            cont,
            "doc",
            headers={
                "X-Copy-From": f"/{cont}/own",
                "X-Object-Public": "true",
                "Content-Length": "0",
            },
            **acc,
        ),
        bob.put(
            cont,
            "doc",
            headers={
                "X-Copy-From": f"/{cont}/own",
                "Content-Length": "0",
                "X-Object-Sharing": f"write={CAROL[0]}",
            },
            **acc,
        ),
    ]
    assert [r.status_code for r in refused] == [403] * len(refused)
    assert fingerprint(alice) == before
    assert_fault(
        world.carol.put(cont, "doc", data=b"x", headers={"Content-Type": OCTET}, **acc), 403
    )
    # Revoked: bob's writes are refused and the content stays as he last left it.
    alice.post_meta(cont, "doc", {"X-Object-Sharing": f"read={BOB[0]}"})
    assert_fault(bob.put(cont, "doc", data=b"late", headers={"Content-Type": OCTET}, **acc), 403)
    assert_fault(bob.write_at(cont, "doc", b"late", "bytes */*", **acc), 403)
    alice.post_meta(cont, "doc", {"X-Object-Sharing": ""})
    assert_fault(bob.get(cont, "doc", **acc), 403)
    assert alice.read(cont, "doc") == b"via hashmap"


def test_group_and_directory_shares_end_with_membership_and_the_marker(
    world: World, shared_cont: str
) -> None:
    alice, bob, cont = world.alice, world.bob, shared_cont
    acc = {"account": ALICE[0]}
    alice.post(params="update", headers={"X-Account-Group-Team": BOB[0]})
    alice.mkdir(cont, "dir")
    alice.put_object(cont, "dir/file", b"in dir")
    alice.post_meta(cont, "dir", {"X-Object-Sharing": f"read={ALICE[0]}:team"})
    assert bob.read(cont, "dir/file", **acc) == b"in dir"
    assert bob.meta(cont, "dir/file", **acc)["X-Object-Shared-By"].endswith(f"{cont}/dir")
    # Out of the group: no access.
    alice.post(params="update", headers={"X-Account-Group-Team": CAROL[0]})
    assert_fault(bob.get(cont, "dir/file", **acc), 403)
    # Bob's own group of the same name grants nothing in alice's account.
    bob.post(params="update", headers={"X-Account-Group-Team": BOB[0]})
    assert_fault(bob.get(cont, "dir/file", **acc), 403)
    # Shared directly, then the marker is deleted: inheritance ends with it (protocol.md 9.4).
    alice.post_meta(cont, "dir", {"X-Object-Sharing": f"read={BOB[0]}"})
    assert bob.read(cont, "dir/file", **acc) == b"in dir"
    assert alice.delete(cont, "dir").status_code == 204
    assert_fault(bob.get(cont, "dir/file", **acc), 403)
    alice.mkdir(cont, "dir")  # re-created: starts without permissions
    assert_fault(bob.get(cont, "dir/file", **acc), 403)
    alice.post(params="update", headers={"X-Account-Group-Team": ""})


def test_image_members_see_an_image_only_while_members(world: World, shared_cont: str) -> None:
    alice, cont = world.alice, shared_cont
    alice.put_object(cont, "vm.raw", b"image data")
    image = world.alice_img.register("vm", location(ALICE[0], cont, "vm.raw"))["id"]
    members = f"/images/{image}/members"
    assert_fault(world.bob_img.head(image), 403)
    assert image not in world.bob_img.ids()
    assert world.alice_img.request("PUT", f"{members}/{BOB[0]}").status_code == 204
    assert world.bob_img.head(image).status_code == 200
    assert image in world.bob_img.ids()
    assert world.bob.read(cont, "vm.raw", account=ALICE[0]) == b"image data"
    # A member reads; it does not manage (protocol.md 10.9) or change the image.
    assert_fault(world.bob_img.request("PUT", f"{members}/{CAROL[0]}"), 403)
    assert_fault(world.bob_img.request("DELETE", f"{members}/{BOB[0]}"), 403)
    assert_fault(world.bob_img.update(image, name="renamed"), 403)
    assert_fault(world.bob_img.unregister(image), 403)
    assert world.alice_img.info(image)["name"] == "vm"
    assert world.alice_img.request("DELETE", f"{members}/{BOB[0]}").status_code == 204
    assert_fault(world.bob_img.head(image), 403)
    assert image not in world.bob_img.ids()
    assert_fault(world.bob.get(cont, "vm.raw", account=ALICE[0]), 403)


def test_a_grantee_sees_only_the_meta_keys_of_what_it_may_read(
    world: World, shared_cont: str
) -> None:
    """X-Container-Object-Meta names the metadata keys in use; for a grantee, only
    those of objects it may read (a private object's key names are its data)."""
    alice, bob, cont = world.alice, world.bob, shared_cont
    acc = {"account": ALICE[0]}
    alice.put_object(cont, "private", b"p", headers={"X-Object-Meta-Layoff-List": "yes"})
    alice.put_object(
        cont,
        "doc",
        b"d",
        headers={"X-Object-Meta-Topic": "plans", "X-Object-Sharing": f"read={BOB[0]}"},
    )
    owner_keys = alice.head(cont).headers["X-Container-Object-Meta"].split(",")
    assert {"Layoff-List", "Topic"} <= set(owner_keys)
    head = bob.head(cont, **acc)
    assert head.status_code == 204 and head.headers["X-Container-Object-Meta"] == "Topic"
    listing = bob.get(cont, params={"format": "json", "meta": "Layoff-List"}, **acc)
    assert listing.status_code == 200 and listing.json() == []
    assert "Layoff" not in bob.get(cont, params={"format": "json", "include_meta": "1"}, **acc).text


def test_a_share_revoked_during_an_upload_stops_its_commit(world: World, shared_cont: str) -> None:
    """Permission is checked again when the new version is committed, not only when
    the request starts: bob's upload, half sent when alice revokes, is refused."""
    alice, cont = world.alice, shared_cont
    alice.put_object(cont, "doc", b"original", headers={"X-Object-Sharing": f"write={BOB[0]}"})
    body = b"B" * 300_000
    head = (
        f"PUT {urlsplit(alice.url(cont, 'doc')).path} HTTP/1.1\r\nHost: localhost\r\n"
        f"X-Auth-Token: {BOB[1]}\r\nContent-Type: {OCTET}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    parts = urlsplit(world.base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head + body[: len(body) // 2])
        time.sleep(0.3)  # the server is reading bob's body now
        assert alice.post_meta(cont, "doc", {"X-Object-Sharing": ""}).status_code == 202
        sock.sendall(body[len(body) // 2 :])
        resp = http.client.HTTPResponse(sock, method="PUT")
        resp.begin()
        resp.read()
    assert resp.status == 403, resp.status
    assert alice.read(cont, "doc") == b"original"
