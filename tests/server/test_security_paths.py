"""Security rule 4: no path trick reaches outside the data dir.

Names are database keys and blocks are named by their hash, so a name like
`../../etc/passwd` must simply be a name. Every trick here (dot segments, encoded
slashes, NUL, very long and unicode names, backslashes, absolute and climbing
sources in X-Copy-From / Destination / X-Object-Manifest / X-Source-Object,
climbing account names, non-hash "hashes") is sent; afterwards nothing exists
beside the data dir or in /tmp, the data dir holds only the database and
content-named blocks (checked deeply by fsck), and bob's account is untouched.
"""

from __future__ import annotations

import json
import logging
import re
import unicodedata
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from pithosfs.server import fsck
from tests.conftest import BOB
from tests.server.pithos_http import OCTET, RawResponse, assert_fault, raw_request, target_path
from tests.server.plankton_api import image_of
from tests.server.security_world import BLOCK_SIZE, World, fingerprint
from tests.server.security_world import world as world  # noqa: F401 (fixture)

MARK = "h6esc" + uuid.uuid4().hex[:8]  # in every tricky name: found anywhere = escaped
CONT = "paths"
BLOCK_NAME = re.compile(r"^(tmp/.*|[0-9a-f]{2}/[0-9a-f]{64})$")

# Object names that look like paths; each must be stored and read back as a plain name.
TRICKY_NAMES = [
    f"../../../../../../../../tmp/{MARK}",
    f"..\\..\\..\\..\\tmp\\{MARK}",
    f"/tmp/{MARK}",
    f"//tmp//{MARK}",
    f"a/../../../{MARK}",
    f"./{MARK}/.",
    f"{MARK}/..",
    f"{MARK} -> /etc/passwd",
    f"C:\\Windows\\{MARK}",
    f"~root/{MARK}",
    f"$HOME/{MARK}",
    f"%2e%2e/%2e%2e/{MARK}",  # a literal percent sign in the name
    f"\uff0e\uff0e\uff0f{MARK}",  # fullwidth "../"
    f"\u202e{MARK}",  # right-to-left override
    f"{MARK}/" + "x" * (1024 - len(MARK) - 1),  # exactly the limit
    f"{MARK}-" + "\u00e9" * (1024 - len(MARK) - 1),  # 1024 characters, 2 bytes each
]


def put_raw(
    world: World, target: bytes, body: bytes, headers: dict[str, str] | None = None
) -> RawResponse:
    hdrs = {
        "X-Auth-Token": world.alice.token or "",
        "Content-Type": OCTET,
        "Content-Length": str(len(body)),
        **(headers or {}),
    }
    return raw_request(world.base_url, "PUT", target, hdrs, body)


def get_raw(world: World, target: bytes) -> RawResponse:
    return raw_request(world.base_url, "GET", target, {"X-Auth-Token": world.alice.token or ""})


def object_target(world: World, name: str, container: str = CONT) -> bytes:
    """Fully percent-encoded (dots and slashes too), so nothing on the way normalises it."""
    return b"/".join(
        [
            target_path(world.alice),
            *(quote(p, safe="").replace(".", "%2E").encode() for p in (container, name)),
        ]
    )


def outside_entries(world: World) -> set[str]:
    """Everything the tricks could have created outside the data dir."""
    found = {str(p) for p in world.root.iterdir() if p != world.data_dir}
    for place in (Path("/tmp"), Path.cwd(), world.root.parent):
        found |= {str(p) for p in place.iterdir() if MARK in p.name}
    return found


@pytest.fixture(scope="module")
def prepared(world: World) -> Iterator[dict[str, object]]:
    world.alice.make_container(CONT)
    world.bob.make_container("bobs")
    world.bob.put_object("bobs", "secret", b"BOB-SECRET")
    state = {"bob": fingerprint(world.bob), "top": {p.name for p in world.data_dir.iterdir()}}
    yield state
    # Every test of this module ran: the data dir and its surroundings are checked once more.
    assert outside_entries(world) == set()


def check_data_dir(world: World, before_top: set[str]) -> None:
    assert outside_entries(world) == set()
    sqlite_side = {"pithos.db-wal", "pithos.db-shm", "pithos.db-journal"}
    assert {p.name for p in world.data_dir.iterdir()} <= before_top | sqlite_side
    blocks = world.data_dir / "blocks"
    names = [str(p.relative_to(blocks)) for p in blocks.rglob("*") if p.is_file()]
    assert [n for n in names if not BLOCK_NAME.match(n)] == []
    report = fsck.check(world.data_dir, block_size=BLOCK_SIZE, deep=True)
    assert report.corrupt == [] and report.missing == {}, report.summary()


def test_path_like_object_names_are_plain_names(world: World, prepared: dict) -> None:
    for i, name in enumerate(TRICKY_NAMES):
        body = f"content {i}".encode()
        target = object_target(world, name)
        resp = put_raw(world, target, body)
        assert resp.status == 201, (name, resp.status, resp.body[:200])
        got = get_raw(world, target)
        assert got.status == 200 and got.body == body, (name, got.status)
    listed = [o["name"] for o in world.alice.listing(CONT)]
    assert sorted(listed) == sorted(TRICKY_NAMES)
    check_data_dir(world, prepared["top"])
    assert fingerprint(world.bob) == prepared["bob"]


def test_unicode_normal_forms_are_distinct_names(world: World, prepared: dict) -> None:
    """No normalisation: NFC and NFD spellings are two objects, each keeps its data."""
    nfc = unicodedata.normalize("NFC", f"caf\u00e9-{MARK}")
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    world.alice.put_object(CONT, nfc, b"nfc")
    world.alice.put_object(CONT, nfd, b"nfd")
    assert world.alice.read(CONT, nfc) == b"nfc" and world.alice.read(CONT, nfd) == b"nfd"
    names = set(world.alice.names(CONT, prefix="caf"))
    assert {nfc, nfd} <= names


@pytest.mark.parametrize(
    "segment",
    [b"%00", b"x%00y", b"%ff%fe", b"%c0%af"],  # NUL, invalid UTF-8, overlong "/"
)
def test_nul_and_undecodable_names_are_refused(
    world: World, prepared: dict, segment: bytes
) -> None:
    target = target_path(world.alice, CONT) + b"/" + MARK.encode() + segment
    resp = put_raw(world, target, b"x")
    assert 400 <= resp.status < 500, resp.status
    check_data_dir(world, prepared["top"])


def test_too_long_names_are_refused(world: World, prepared: dict) -> None:
    long_object = object_target(world, MARK + "x" * 1100)
    assert put_raw(world, long_object, b"x").status == 400
    long_container = target_path(world.alice) + b"/" + b"c" * 300
    assert (
        raw_request(
            world.base_url,
            "PUT",
            long_container,
            {"X-Auth-Token": world.alice.token or "", "Content-Length": "0"},
        ).status
        == 400
    )
    long_account = b"/object-store/v1/" + b"a" * 300 + b"/c/o"
    assert put_raw(world, long_account, b"x").status in (400, 403)


@pytest.mark.parametrize(
    "container",
    ["..", ".", "%2e%2e", f"..\\{MARK}", f"{MARK}\u2215x"],  # last: division slash
)
def test_path_like_container_names_stay_containers(
    world: World, prepared: dict, container: str
) -> None:
    target = (
        target_path(world.alice) + b"/" + quote(container, safe="").replace(".", "%2E").encode()
    )
    resp = raw_request(
        world.base_url,
        "PUT",
        target,
        {"X-Auth-Token": world.alice.token or "", "Content-Length": "0"},
    )
    assert resp.status in (201, 202), resp.status  # a plain container name
    assert put_raw(world, target + b"/o", b"in " + container.encode()).status == 201
    assert get_raw(world, target + b"/o").body == b"in " + container.encode()
    heads = world.alice.get(params={"format": "json"}).json()
    assert container in [c["name"] for c in heads]
    check_data_dir(world, prepared["top"])
    assert fingerprint(world.bob) == prepared["bob"]


def test_climbing_account_segments_reach_no_other_account(world: World, prepared: dict) -> None:
    me, bob = world.alice.account.encode(), BOB[0].encode()
    for target in (
        b"/object-store/v1/" + me + b"/../" + bob + b"/bobs/secret",
        b"/object-store/v1/" + me + b"/%2E%2E/" + bob + b"/bobs/secret",
        b"/object-store/v1/%2E%2E%2F" + bob + b"/bobs/secret",
        b"/object-store/v1/" + me + b"%2F..%2F" + bob + b"/bobs/secret",
        b"/object-store/v1/" + bob + b"/bobs/%2E%2E/secret",
    ):
        got = get_raw(world, target)
        assert got.status < 500 and b"BOB-SECRET" not in got.body, (target, got.status)
        put = put_raw(world, target, b"overwrite")  # at most a plain name in alice's account
        assert put.status < 500, (target, put.status)
    assert fingerprint(world.bob) == prepared["bob"]
    check_data_dir(world, prepared["top"])


def test_sources_and_destinations_cannot_climb(world: World, prepared: dict) -> None:
    """X-Copy-From, X-Move-From, Destination(-Account), X-Source-Object/-Account and
    X-Object-Manifest are parsed as /container/object of an account, never as paths."""
    alice = world.alice
    alice.put_object(CONT, "src", b"source")
    bob_acc = BOB[0]
    copies = [
        {"X-Copy-From": "/../../../../etc/passwd"},
        {"X-Copy-From": "//etc/passwd"},
        {"X-Copy-From": "/etc/passwd"},
        {"X-Copy-From": f"/{CONT}/../../{bob_acc}/bobs/secret"},
        {"X-Copy-From": "/bobs/secret", "X-Source-Account": f"../{bob_acc}"},
        {"X-Copy-From": "/bobs/secret", "X-Source-Account": f"{world.alice.account}/../{bob_acc}"},
        {"X-Copy-From": "/bobs/secret", "X-Source-Account": bob_acc},
        {"X-Move-From": "/bobs/secret", "X-Source-Account": f"./{bob_acc}"},
        {"X-Copy-From": f"/{CONT}/src\\..\\..\\secret"},
    ]
    for headers in copies:
        resp = alice.put(CONT, f"copy-{MARK}", headers={**headers, "Content-Length": "0"})
        assert resp.status_code in (400, 403, 404), (headers, resp.status_code)
    destinations = [
        {"Destination": f"/../../{bob_acc}/bobs/secret"},
        {"Destination": "/bobs/secret", "Destination-Account": f"../{bob_acc}"},
        {"Destination": "/bobs/secret", "Destination-Account": bob_acc},
        {"Destination": "//etc/passwd"},
        {"Destination": f"/{CONT}/../../../tmp/{MARK}"},
    ]
    for headers in destinations:
        for verb in ("COPY", "MOVE"):
            resp = alice.request(verb, CONT, "src", headers=headers)
            assert resp.status_code in (201, 400, 403, 404), (verb, headers, resp.status_code)
            if resp.status_code == 201:  # only a plain name in one of alice's own containers
                assert "Destination-Account" not in headers
                _, dcont, dname = headers["Destination"].split("/", 2)
                target = object_target(world, dname, dcont)
                assert get_raw(world, target).body == b"source"
                back = raw_request(
                    world.base_url,
                    "MOVE",
                    target,
                    {"X-Auth-Token": alice.token or "", "Destination": f"/{CONT}/src"},
                )
                assert back.status == 201
    for source in ("/../../etc/passwd", f"/{CONT}/../../{bob_acc}/bobs/secret"):
        resp = alice.write_at(CONT, "src", b"", "bytes 0-/*", **{"X-Source-Object": source})
        assert resp.status_code in (400, 403, 404), (source, resp.status_code)
    resp = alice.post(
        CONT,
        "src",
        params="update",
        headers={
            "X-Source-Object": "/bobs/secret",
            "X-Source-Account": bob_acc,
            "Content-Range": "bytes 0-/*",
        },
    )
    assert_fault(resp, 403)
    for manifest in ("../../etc", "/etc/passwd", f"../{bob_acc}/bobs/", "..", f"{CONT}/../../"):
        alice.put_object(CONT, f"manifest-{MARK}", b"", headers={"X-Object-Manifest": manifest})
        got = alice.get(CONT, f"manifest-{MARK}")
        assert got.status_code == 200, (manifest, got.status_code)
        assert b"root:" not in got.content and b"BOB-SECRET" not in got.content, manifest
    assert alice.read(CONT, "src") == b"source"
    assert fingerprint(world.bob) == prepared["bob"]
    check_data_dir(world, prepared["top"])


def test_hashmap_entries_are_hashes_not_paths(world: World, prepared: dict) -> None:
    """Blocks are files named by their hash: a hashmap entry that is not a hash of the
    store's algorithm is a 400, so no other file name is ever looked up."""
    alice = world.alice
    for bad in (
        "../../../../etc/passwd",
        "/etc/passwd",
        "..",
        "ab/../cd",
        "0" * 63,
        "0" * 62,
        "0" * 66,
        "ab" * 200,
        "2e2e2f2e2e2f",
    ):
        resp = alice.put_hashmap(CONT, f"hm-{MARK}", 10, [bad])
        assert_fault(resp, 400)
    ok = alice.upload_blocks(CONT, b"a real block")
    assert ok.status_code == 202
    resp = alice.put_hashmap(CONT, f"hm-{MARK}", 12, [h.upper() for h in ok.json()])
    assert resp.status_code == 201 and alice.read(CONT, f"hm-{MARK}") == b"a real block"
    body = json.dumps({"bytes": 10, "hashes": [{"path": "/etc/passwd"}]})
    resp = alice.put(
        CONT, f"hm-{MARK}", params={"hashmap": ""}, data=body, headers={"Content-Type": OCTET}
    )
    assert_fault(resp, 400)
    check_data_dir(world, prepared["top"])


def test_control_characters_in_names_cannot_split_responses(world: World, prepared: dict) -> None:
    """A name is echoed in Content-Disposition (and X-Object-* headers): CR/LF in it
    must not start a new response header, for the owner or through a public link.
    A newline cannot be routed (400); a lone CR is stored and percent-encoded out."""
    assert put_raw(world, object_target(world, f"{MARK}\r\nX-Evil: 1"), b"x").status == 400
    name = f"{MARK}\rSet-Cookie: h6=1\rX-Evil: 1"  # CR alone is a legal name character
    target = object_target(world, name)
    put = put_raw(world, target, b"data", {"X-Object-Public": "true"})
    assert put.status == 201, put.status
    got = get_raw(world, target)
    assert got.status == 200 and got.body == b"data"
    head = raw_request(world.base_url, "HEAD", target, {"X-Auth-Token": world.alice.token or ""})
    public = urlsplit(head.headers["x-object-public"]).path.encode()
    for resp in (got, head, raw_request(world.base_url, "GET", public)):
        assert "set-cookie" not in resp.headers and "x-evil" not in resp.headers, resp.headers


def test_a_new_data_dir_is_private(world: World) -> None:
    """It holds every account's data: other local users may not even list it."""
    assert world.data_dir.stat().st_mode & 0o777 == 0o700


def test_image_locations_cannot_climb(world: World, prepared: dict) -> None:
    """A Plankton location is pithos://<account>/<container>/<name>: `..` is a plain
    container or object name, so a location registers at most alice's own object
    (the first one names her container ".." and object "<bob>/bobs/secret", which
    an earlier test put there), never bob's."""
    bob_acc = BOB[0]
    for loc in (
        f"pithos://{world.alice.account}/../{bob_acc}/bobs/secret",
        f"pithos://../{bob_acc}/bobs/secret",
        f"pithos://{world.alice.account}/%2E%2E/{bob_acc}/bobs/secret",
        f"pithos://{bob_acc}/bobs/secret",
        f"pithos://{bob_acc}/bobs/../bobs/secret",
        "pithos:///etc/passwd",
        "file:///etc/passwd",
    ):
        resp = world.alice_img.register_raw("climb", loc)
        assert resp.status_code in (200, 400, 403, 404), (loc, resp.status_code)
        if resp.status_code == 200:
            image = image_of(resp)
            assert image["owner"] == world.alice.account, loc
            assert image["location"].startswith(f"pithos://{world.alice.account}/"), loc
    assert fingerprint(world.bob) == prepared["bob"]
    assert world.bob_img.ids() == []


def test_an_existing_data_dir_keeps_its_mode_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A directory that already holds files is the admin's: it is not chmodded (it was,
    to 0700, whenever it had no database yet), but a mode open to others is logged."""
    from pithosfs.server.backend import Backend

    data_dir = tmp_path / "shared-data"
    data_dir.mkdir()
    (data_dir / "README").write_text("the admin's own file\n")
    data_dir.chmod(0o750)
    with caplog.at_level(logging.WARNING, logger="pithosfs.server.backend"):
        backend = Backend(data_dir, block_size=4 * 1024 * 1024)
    backend.close()
    assert data_dir.stat().st_mode & 0o777 == 0o750
    assert "open to other local users" in caplog.text
