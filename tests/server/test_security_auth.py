"""Security rule 1: every route but public links needs a valid token (protocol.md 1.2).

Every route of the server (account, container, object in each query form,
identity and Astakos helpers, Plankton) is sent without a token, with wrong or
malformed tokens, and with a wrong query-string token next to a right header;
each must answer 401 with an `unauthorized` fault, and alice's account, her
images and the block store must be exactly as before.
"""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tests.conftest import ALICE, BOB
from tests.server.pithos_http import OCTET, assert_fault
from tests.server.plankton_api import location
from tests.server.security_world import BAD_TOKENS, CAROL, World, block_files, fingerprint
from tests.server.security_world import world as world  # noqa: F401 (fixture)

CONT = "authc"
FORM_BOUNDARY = "xYzZY"


@dataclass
class Route:
    label: str
    method: str
    path: str  # relative to the server root; {acc}, {img}, {cont} filled in
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    read_only: bool = False  # safe to replay with a valid token as a positive control


def _form_body() -> bytes:
    return (
        f"--{FORM_BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="X-Object-Data"; filename="f"\r\n'
        "Content-Type: application/octet-stream\r\n\r\nFORM\r\n"
        f"--{FORM_BOUNDARY}--\r\n"
    ).encode()


STORE = "/object-store/v1"
OBJ = STORE + "/{acc}/{cont}/obj"
HASHMAP = json.dumps({"bytes": 3, "hashes": ["0" * 64]}).encode()
ROUTES = [
    # top level and account (protocol.md 2)
    Route("top", "GET", STORE + "/", read_only=True),
    Route("top-json", "GET", STORE + "/", {"format": "json"}, read_only=True),
    Route("account-head", "HEAD", STORE + "/{acc}", read_only=True),
    Route("account-list", "GET", STORE + "/{acc}", {"format": "json"}, read_only=True),
    Route("account-shared", "GET", STORE + "/{acc}", {"shared": ""}, read_only=True),
    Route("account-public", "GET", STORE + "/{acc}", {"public": ""}, read_only=True),
    Route("account-until", "GET", STORE + "/{acc}", {"until": "1000000"}, read_only=True),
    Route("account-meta", "POST", STORE + "/{acc}", {"update": ""}, {"X-Account-Meta-E": "1"}),
    Route("account-replace", "POST", STORE + "/{acc}"),
    Route(
        "account-group", "POST", STORE + "/{acc}", {"update": ""}, {"X-Account-Group-Evil": BOB[0]}
    ),
    # container (protocol.md 3, 5, 7.3)
    Route("container-head", "HEAD", STORE + "/{acc}/{cont}", read_only=True),
    Route("container-list", "GET", STORE + "/{acc}/{cont}", {"format": "json"}, read_only=True),
    Route("container-list-text", "GET", STORE + "/{acc}/{cont}", read_only=True),
    Route(
        "container-list-meta",
        "GET",
        STORE + "/{acc}/{cont}",
        {"format": "json", "include_meta": "1", "prefix": "d"},
        read_only=True,
    ),
    Route("container-create", "PUT", STORE + "/{acc}/newcont"),
    Route(
        "container-meta",
        "POST",
        STORE + "/{acc}/{cont}",
        {"update": ""},
        {"X-Container-Meta-E": "1"},
    ),
    Route(
        "container-policy",
        "POST",
        STORE + "/{acc}/{cont}",
        {},
        {"X-Container-Policy-Versioning": "none"},
    ),
    Route(
        "block-upload",
        "POST",
        STORE + "/{acc}/{cont}",
        {"update": "", "format": "json"},
        {"Content-Type": OCTET},
        b"a block nobody may store",
    ),
    Route("container-delete", "DELETE", STORE + "/{acc}/{cont}"),
    Route("container-empty", "DELETE", STORE + "/{acc}/{cont}", {"delimiter": "/"}),
    Route("container-purge", "DELETE", STORE + "/{acc}/{cont}", {"until": "9999999999"}),
    # object reads (protocol.md 4, 6, 7)
    Route("object-head", "HEAD", OBJ, read_only=True),
    Route("object-get", "GET", OBJ, read_only=True),
    Route("object-range", "GET", OBJ, {}, {"Range": "bytes=0-1"}, read_only=True),
    Route("object-hashmap", "GET", OBJ, {"hashmap": "", "format": "json"}, read_only=True),
    Route("object-versions", "GET", OBJ, {"version": "list", "format": "json"}, read_only=True),
    Route("object-version", "GET", OBJ, {"version": "{serial}"}, read_only=True),
    # object writes
    Route("object-put", "PUT", OBJ, {}, {"Content-Type": OCTET}, b"overwritten"),
    Route(
        "object-put-new",
        "PUT",
        STORE + "/{acc}/{cont}/new",
        {},
        {"Content-Type": OCTET},
        b"created",
    ),
    Route(
        "hashmap-put",
        "PUT",
        OBJ,
        {"hashmap": "", "format": "json"},
        {"Content-Type": OCTET},
        HASHMAP,
    ),
    Route(
        "copy-from",
        "PUT",
        STORE + "/{acc}/{cont}/copy",
        {},
        {"X-Copy-From": "/{cont}/obj", "Content-Length": "0"},
    ),
    Route(
        "move-from",
        "PUT",
        STORE + "/{acc}/{cont}/moved",
        {},
        {"X-Move-From": "/{cont}/obj", "Content-Length": "0"},
    ),
    Route("copy", "COPY", OBJ, {}, {"Destination": "/{cont}/copy2"}),
    Route("move", "MOVE", OBJ, {}, {"Destination": "/{cont}/moved2"}),
    Route(
        "copy-dir",
        "COPY",
        STORE + "/{acc}/{cont}/d",
        {"delimiter": "/"},
        {"Destination": "/{cont}/d2"},
    ),
    Route("meta-update", "POST", OBJ, {"update": ""}, {"X-Object-Meta-E": "1"}),
    Route("meta-replace", "POST", OBJ),
    Route("share", "POST", OBJ, {"update": ""}, {"X-Object-Sharing": f"read={BOB[0]}"}),
    Route(
        "unshare", "POST", STORE + "/{acc}/{cont}/shared", {"update": ""}, {"X-Object-Sharing": ""}
    ),
    Route("publish", "POST", OBJ, {"update": ""}, {"X-Object-Public": "true"}),
    Route(
        "unpublish",
        "POST",
        STORE + "/{acc}/{cont}/pub",
        {"update": ""},
        {"X-Object-Public": "false"},
    ),
    Route(
        "append",
        "POST",
        OBJ,
        {"update": ""},
        {"Content-Type": OCTET, "Content-Range": "bytes */*"},
        b"more",
    ),
    Route(
        "source-update",
        "POST",
        OBJ,
        {"update": ""},
        {"X-Source-Object": "/{cont}/shared", "Content-Range": "bytes 0-/*"},
    ),
    Route(
        "truncate",
        "POST",
        OBJ,
        {"update": ""},
        {"Content-Type": OCTET, "Content-Range": "bytes 0-/*", "X-Object-Bytes": "0"},
    ),
    Route(
        "form-upload",
        "POST",
        STORE + "/{acc}/{cont}/form",
        {},
        {"Content-Type": f"multipart/form-data; boundary={FORM_BOUNDARY}"},
        _form_body(),
    ),
    Route("object-delete", "DELETE", OBJ),
    Route("object-purge", "DELETE", OBJ, {"until": "9999999999"}),
    Route("dir-delete", "DELETE", STORE + "/{acc}/{cont}/d", {"delimiter": "/"}),
    # identity and Astakos helpers (protocol.md 15.1)
    Route("tokens", "POST", "/identity/v2.0/tokens", read_only=True),
    Route(
        "user-catalogs",
        "POST",
        "/account/v1.0/user_catalogs",
        {},
        {"Content-Type": "application/json"},
        json.dumps({"uuids": [ALICE[0]]}).encode(),
        read_only=True,
    ),
    Route("quotas", "GET", "/account/v1.0/quotas", read_only=True),
    # Plankton (protocol.md 10)
    Route("images", "GET", "/image/v1.0/images/", read_only=True),
    Route("images-detail", "GET", "/image/v1.0/images/detail", read_only=True),
    Route(
        "image-register",
        "POST",
        "/image/v1.0/images/",
        {},
        {"X-Image-Meta-Name": "evil", "X-Image-Meta-Location": "{loc}"},
    ),
    Route("image-head", "HEAD", "/image/v1.0/images/{img}", read_only=True),
    Route("image-get", "GET", "/image/v1.0/images/{img}"),  # 501 with a token
    Route(
        "image-update",
        "PUT",
        "/image/v1.0/images/{img}",
        {},
        {"X-Image-Meta-Name": "renamed", "X-Image-Meta-Is-Public": "true"},
    ),
    Route("image-unregister", "DELETE", "/image/v1.0/images/{img}"),
    Route("members", "GET", "/image/v1.0/images/{img}/members", read_only=True),
    Route(
        "members-replace",
        "PUT",
        "/image/v1.0/images/{img}/members",
        {},
        {"Content-Type": "application/json"},
        json.dumps({"memberships": [{"member_id": BOB[0]}]}).encode(),
    ),
    Route("member-add", "PUT", "/image/v1.0/images/{img}/members/" + BOB[0]),
    Route("member-remove", "DELETE", "/image/v1.0/images/{img}/members/" + BOB[0]),
    Route("shared-images", "GET", "/image/v1.0/shared-images/" + ALICE[0], read_only=True),
    Route("images-v1", "GET", "/image/v1/images/", read_only=True),
]


@dataclass
class Setup:
    world: World
    values: dict[str, str]

    def fill(self, text: str) -> str:
        return text.format(**self.values)

    def send(self, route: Route, auth: dict[str, str], params: dict[str, str] | None = None):
        headers = {k: self.fill(v) for k, v in route.headers.items()}
        headers.update(auth)
        query = {k: self.fill(v) for k, v in route.params.items()}
        query.update(params or {})
        return requests.request(
            route.method,
            self.world.base_url + self.fill(route.path),
            params=query,
            headers=headers,
            data=route.body,
            timeout=60,
        )


@pytest.fixture(scope="module")
def setup(world: World) -> Setup:
    alice = world.alice
    alice.make_container(CONT)
    alice.put_object(CONT, "obj", b"alice's object, first version")
    alice.put_object(CONT, "obj", b"alice's object, second version")
    alice.mkdir(CONT, "d")
    alice.put_object(CONT, "d/child", b"child")
    alice.put_object(CONT, "shared", b"shared", headers={"X-Object-Sharing": f"read={BOB[0]}"})
    alice.put_object(CONT, "pub", b"published", headers={"X-Object-Public": "true"})
    alice.post(headers={"X-Account-Meta-Color": "blue", "X-Account-Group-Friends": BOB[0]})
    alice.put_object(CONT, "image.raw", b"an image")
    image = world.alice_img.register("img", location(ALICE[0], CONT, "image.raw"))
    serial = str(alice.versions(CONT, "obj")[0][0])
    values = {
        "acc": ALICE[0],
        "cont": CONT,
        "img": image["id"],
        "serial": serial,
        "loc": location(ALICE[0], CONT, "obj"),
    }
    return Setup(world, values)


VARIANTS: dict[str, dict[str, str]] = {
    "none": {},
    "empty": {"X-Auth-Token": ""},
    "authorization-bearer": {"Authorization": "Bearer " + ALICE[1]},
    **{name: {"X-Auth-Token": token} for name, token in BAD_TOKENS.items()},
}


def test_every_route_refuses_missing_wrong_and_malformed_tokens(setup: Setup) -> None:
    world = setup.world
    before = fingerprint(world.alice, world.alice_img)
    blocks_before = block_files(world.data_dir)
    sent = 0
    for route in ROUTES:
        for variant, auth in VARIANTS.items():
            resp = setup.send(route, auth)
            assert resp.status_code == 401, (route.label, variant, resp.status_code, resp.text)
            assert_fault(resp, 401)
            assert b"alice's object" not in resp.content
            sent += 1
    assert fingerprint(world.alice, world.alice_img) == before
    assert block_files(world.data_dir) == blocks_before
    print(f"{sent} unauthenticated requests over {len(ROUTES)} routes, all 401")


def test_a_wrong_query_token_wins_over_a_right_header(setup: Setup) -> None:
    """The query parameter is read first (protocol.md 1.2): no fall back to the header."""
    world = setup.world
    before = fingerprint(world.alice, world.alice_img)
    store_routes = [r for r in ROUTES if r.path.startswith(STORE) or r.path.startswith("/image")]
    for route in store_routes:
        resp = setup.send(route, {"X-Auth-Token": ALICE[1]}, {"X-Auth-Token": "not-a-token"})
        assert_fault(resp, 401)
    assert fingerprint(world.alice, world.alice_img) == before


def test_the_read_routes_work_with_the_right_token(setup: Setup) -> None:
    """Positive control: the table's paths are real routes, so its 401s mean "no token"."""
    for route in ROUTES:
        if route.read_only:
            resp = setup.send(route, {"X-Auth-Token": ALICE[1]})
            assert resp.status_code < 400, (route.label, resp.status_code, resp.text[:200])


def test_public_links_need_no_token(setup: Setup) -> None:
    alice = setup.world.alice
    url = alice.meta(CONT, "pub")["X-Object-Public"]
    for auth in ({}, {"X-Auth-Token": "not-a-token"}):
        resp = requests.get(url, headers=auth, timeout=30)
        assert resp.status_code == 200 and resp.content == b"published"
        assert requests.head(url, headers=auth, timeout=30).status_code == 200


def test_the_version_list_of_the_image_service_needs_no_token(setup: Setup) -> None:
    """The one other token-free route: it names versions, no user data (protocol.md 10.1)."""
    resp = requests.get(setup.world.base_url + "/image/", timeout=30)
    assert resp.status_code == 200 and set(resp.json()) == {"versions"}


def test_legacy_auth_needs_the_users_own_key(setup: Setup) -> None:
    """`GET /v1/` with X-Auth-User/X-Auth-Key (protocol.md 1.2) hands out a token only for the
    key that is that user's token."""
    url = setup.world.base_url + STORE + "/"
    for user, key in ((ALICE[0], BOB[1]), (ALICE[0], "guess"), (BOB[0], ALICE[1])):
        resp = requests.get(url, headers={"X-Auth-User": user, "X-Auth-Key": key}, timeout=30)
        assert_fault(resp, 401)
        assert "X-Auth-Token" not in resp.headers
    good = requests.get(url, headers={"X-Auth-User": ALICE[0], "X-Auth-Key": ALICE[1]}, timeout=30)
    assert good.status_code == 204 and good.headers["X-Auth-Token"] == ALICE[1]


def test_identity_reveals_nothing_without_a_valid_token(setup: Setup) -> None:
    url = setup.world.base_url + "/identity/v2.0/tokens"
    bodies: list[Any] = [
        {"auth": {"token": {"id": "not-a-token"}}},
        {"auth": {"passwordCredentials": {"username": ALICE[0], "password": ALICE[1]}}},
        {"auth": {"token": {"id": ""}}},
    ]
    for body in bodies:
        resp = requests.post(url, json=body, timeout=30)
        assert resp.status_code in (400, 401), resp.status_code
        assert ALICE[1] not in resp.text and ALICE[0] not in resp.text


def test_the_server_log_holds_no_token_it_was_given(setup: Setup) -> None:
    """Tokens handed to `serve` (--user, PITHOSFS_SERVE_USERS) are not echoed: its
    output usually goes to a log file (the mount's launcher keeps server.log)."""
    log = setup.world.proc.log_path.read_text()
    assert "listening on" in log
    for token in (ALICE[1], BOB[1], CAROL[1]):
        assert token not in log


def test_undecodable_or_huge_token_headers_change_nothing(setup: Setup) -> None:
    """Raw non-ASCII bytes in a header are a 400 (protocol.md 1.5), an oversized header a 4xx
    from the HTTP layer: either way before any data is touched."""
    world = setup.world
    before = fingerprint(world.alice, world.alice_img)
    target = f"{STORE}/{ALICE[0]}/{CONT}/obj".encode()
    tokens = [b"alice-token\xff", b"\xe2\x80\x8b" + ALICE[1].encode(), b"x" * 300_000]
    for token in tokens:
        for method, extra, body in (
            ("PUT", [("Content-Type", OCTET), ("Content-Length", "3")], b"bad"),
            ("POST", [("X-Object-Meta-E", "1"), ("Content-Length", "0")], b""),
            ("DELETE", [("Content-Length", "0")], b""),
        ):
            head = [
                f"{method} {target.decode()} HTTP/1.1".encode(),
                b"Host: localhost",
                b"X-Auth-Token: " + token,
                *(f"{k}: {v}".encode() for k, v in extra),
                b"Connection: close",
            ]
            status = _send_raw(world.base_url, b"\r\n".join(head) + b"\r\n\r\n" + body)
            assert 400 <= status < 500, (token[:20], method, status)
    assert fingerprint(world.alice, world.alice_img) == before


def _send_raw(base_url: str, request: bytes) -> int:
    """Status of one raw request (the server may close early on an oversized header)."""
    parts = urlsplit(base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        try:
            sock.sendall(request)
        except OSError:
            pass  # closed while we were still sending the huge header: its reply is waiting
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        return resp.status
