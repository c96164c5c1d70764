"""Security rule 3: a public link exposes only what was published (protocol.md 9.5).

The published object's current version, and nothing else: no sibling, no other
version, no hashmap or listing, nothing after unpublish, delete or move, and no
private data through a manifest, even one a write-share holder planted.
"""

from __future__ import annotations

import secrets
import string
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import BOB
from tests.server.pithos_http import Api, assert_fault, raw_request
from tests.server.security_world import World
from tests.server.security_world import world as world  # noqa: F401 (fixture)

# The only headers a public reply may carry besides transport ones (protocol.md 9.5).
PUBLIC_HEADERS = {
    "etag",
    "content-length",
    "content-type",
    "last-modified",
    "content-encoding",
    "content-disposition",
    "content-range",
    "accept-ranges",
    "date",
    "server",
    "connection",
    "vary",
    "cache-control",
    "expires",
    "keep-alive",
    "transfer-encoding",
}


def publish(api: Api, cont: str, name: str) -> str:
    assert api.post_meta(cont, name, {"X-Object-Public": "true"}).status_code == 202
    return api.meta(cont, name)["X-Object-Public"]


def get(url: str, **kw: object) -> requests.Response:
    return requests.get(url, timeout=30, **kw)  # type: ignore[arg-type]


@pytest.fixture
def cont(world: World, unique_name: str) -> str:
    return world.alice.make_container(unique_name)


def test_a_public_link_serves_only_the_current_published_object(world: World, cont: str) -> None:
    alice = world.alice
    alice.mkdir(cont, "dir")
    alice.put_object(cont, "dir/pub", b"OLD published version")
    alice.put_object(cont, "dir/pub", b"published")
    alice.put_object(cont, "dir/sibling", b"PRIVATE sibling")
    old = str(alice.versions(cont, "dir/pub")[0][0])
    url = publish(alice, cont, "dir/pub")
    resp = get(url)
    assert resp.status_code == 200 and resp.content == b"published"
    assert {k.lower() for k in resp.headers} <= PUBLIC_HEADERS, resp.headers
    head = requests.head(url, timeout=30)
    assert head.status_code == 200 and {k.lower() for k in head.headers} <= PUBLIC_HEADERS
    # Query forms of the API do not apply: always the current data.
    for params in (
        {"version": old},
        {"version": "list"},
        {"hashmap": ""},
        {"format": "json"},
        {"until": "1000000"},
        {"prefix": ""},
        {"delimiter": "/"},
    ):
        resp = get(url, params=params)
        assert resp.status_code == 200 and resp.content == b"published", params
    ranged = get(url, headers={"Range": "bytes=0-3"})
    assert ranged.status_code == 206 and ranged.content == b"publ"
    assert get(url, headers={"Range": "bytes=0-100"}).status_code == 416  # not beyond the object
    # No sibling, parent or listing through the link, however the path is spelled.
    path = urlsplit(url).path.encode()
    for suffix in (
        b"/sibling",
        b"/../sibling",
        b"/%2e%2e/sibling",
        b"%2F..%2Fsibling",
        b"/",
        b"/..",
        b"?format=json&path=/",
        b"/dir",
    ):
        raw = raw_request(world.base_url, "GET", path + suffix)
        assert raw.status < 500 and b"PRIVATE" not in raw.body and b"OLD" not in raw.body, suffix
        assert raw.status in (200, 404, 400), (suffix, raw.status)
        if raw.status == 200:
            assert raw.body == b"published", suffix
    # The link is no token: it opens no API route.
    token = url.rsplit("/", 1)[1]
    anon_with_link = Api(alice.url(), alice.account, token)
    assert_fault(anon_with_link.get(cont, params={"format": "json"}), 401)
    assert_fault(anon_with_link.get(cont, "dir/sibling"), 401)


def test_a_published_directory_marker_is_not_a_listing(world: World, cont: str) -> None:
    alice = world.alice
    alice.mkdir(cont, "folder")
    alice.put_object(cont, "folder/inside", b"PRIVATE inside")
    url = publish(alice, cont, "folder")
    resp = get(url)
    assert resp.status_code == 200 and resp.content == b""
    assert get(url + "/inside").status_code == 404


def test_public_listings_are_the_owners_alone(world: World, cont: str) -> None:
    """`?public` lists what is published; only the owner may ask (protocol.md 2.3, 1.4)."""
    alice = world.alice
    alice.put_object(cont, "p", b"p", headers={"X-Object-Public": "true"})
    alice.put_object(cont, "shared", b"s", headers={"X-Object-Sharing": f"read={BOB[0]}"})
    acc = {"account": alice.account}
    assert_fault(world.anon.get(cont, params={"public": "", "format": "json"}), 401)
    assert_fault(world.bob.get(cont, params={"public": "", "format": "json"}, **acc), 403)
    assert_fault(world.bob.get(params={"public": "", "format": "json"}, **acc), 403)
    own = alice.get(cont, params={"public": "", "format": "json"}).json()
    assert [o["name"] for o in own] == ["p"]
    # Bob, who may read "shared", sees no public link of it or of anything else.
    listed = world.bob.get(cont, params={"format": "json"}, **acc).json()
    assert all("x_object_public" not in o for o in listed)
    assert "X-Object-Public" not in world.bob.meta(cont, "shared", **acc)


def test_unpublish_delete_and_move_end_the_link(world: World, cont: str) -> None:
    alice = world.alice
    alice.put_object(cont, "o", b"first")
    url = publish(alice, cont, "o")
    assert get(url).content == b"first"
    # Overwriting keeps the path published (protocol.md 9.5: stable while public): new content.
    alice.put_object(cont, "o", b"second")
    assert get(url).content == b"second"
    assert alice.post_meta(cont, "o", {"X-Object-Public": "false"}).status_code == 202
    assert_fault(get(url), 404)
    assert requests.head(url, timeout=30).status_code == 404
    again = publish(alice, cont, "o")
    assert again != url and get(again).content == b"second"
    assert_fault(get(url), 404)
    # Delete, then a new object at the same path: the old link stays dead.
    assert alice.delete(cont, "o").status_code == 204
    assert_fault(get(again), 404)
    alice.put_object(cont, "o", b"PRIVATE new life")
    assert_fault(get(again), 404)
    assert "X-Object-Public" not in alice.meta(cont, "o")
    # Move: the link does not follow, and does not serve what later takes the old name.
    moving = publish(alice, cont, "o")
    resp = alice.request("MOVE", cont, "o", headers={"Destination": f"/{cont}/moved"})
    assert resp.status_code == 201
    assert_fault(get(moving), 404)
    assert "X-Object-Public" not in alice.meta(cont, "moved")
    alice.put_object(cont, "o", b"PRIVATE after move")
    assert_fault(get(moving), 404)


def test_a_public_manifest_serves_no_private_parts(world: World, cont: str) -> None:
    """A manifest read through a public link concatenates only the parts an
    anonymous reader may read (shared with `*`), and is 404 when there are none (as
    the reference); so a write-share holder who plants X-Object-Manifest on a
    published object cannot publish the owner's private data."""
    alice, bob = world.alice, world.bob
    acc = {"account": alice.account}
    alice.put_object(cont, "parts/1", b"PRIVATE part one")
    alice.put_object(cont, "parts/2", b"PRIVATE part two")
    alice.put_object(cont, "manifest", b"", headers={"X-Object-Manifest": f"{cont}/parts/"})
    assert alice.read(cont, "manifest") == b"PRIVATE part onePRIVATE part two"
    url = publish(alice, cont, "manifest")
    resp = get(url)
    assert resp.status_code == 404 and b"PRIVATE" not in resp.content
    head = requests.head(url, timeout=30)  # not even the private parts' size
    assert head.status_code == 404 and "PRIVATE" not in str(head.headers)
    # Bob may write "notes" and it is published; he points it at alice's parts.
    alice.put_object(
        cont, "notes", b"public notes", headers={"X-Object-Sharing": f"write={BOB[0]}"}
    )
    notes = publish(alice, cont, "notes")
    planted = bob.post_meta(cont, "notes", {"X-Object-Manifest": f"{cont}/parts/"}, **acc)
    assert planted.status_code == 202
    assert get(notes).status_code == 404 and b"PRIVATE" not in get(notes).content
    reply = bob.get(cont, "notes", **acc)
    assert reply.status_code == 200 and b"PRIVATE" not in reply.content
    # Parts shared with everyone are what a public manifest may serve.
    alice.post_meta(cont, "parts/2", {"X-Object-Sharing": "read=*"})
    assert get(url).content == b"PRIVATE part two"
    head = requests.head(url, timeout=30)
    assert int(head.headers["Content-Length"]) == len(b"PRIVATE part two")
    assert head.headers["ETag"] == get(url).headers["ETag"]


def test_public_tokens_cannot_be_guessed_or_forged(world: World, cont: str) -> None:
    alice = world.alice
    alice.put_object(cont, "o", b"PRIVATE unpublished")
    url = publish(alice, cont, "o")
    alice.post_meta(cont, "o", {"X-Object-Public": "false"})
    base = world.base_url + "/public/"
    alphabet = string.ascii_letters + string.digits
    guesses = ["".join(secrets.choice(alphabet) for _ in range(16)) for _ in range(200)]
    guesses += [url.rsplit("/", 1)[1], "", "*", "%", "a" * 300, "%2e%2e", "..%2F..", "0" * 16]
    for guess in guesses:
        resp = get(base + guess)
        assert resp.status_code in (400, 404), (guess, resp.status_code)
        assert b"PRIVATE" not in resp.content
    for target in (b"/public/%00", b"/public/..%2Fobject-store", b"/public/../object-store/v1/"):
        raw = raw_request(world.base_url, "GET", target)
        assert 400 <= raw.status < 500 and b"PRIVATE" not in raw.body, target
