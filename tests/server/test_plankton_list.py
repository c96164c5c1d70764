"""Image lists (protocol.md 10.3): which images are listed, their fields, and filters and sort
keys really applied. A server of its own, so every list can be compared exactly."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.conftest import ALICE, BOB
from tests.server.pithos_http import Api, assert_fault, raw_request
from tests.server.plankton_api import DETAIL_FIELDS, SHORT_FIELDS, ImageApi, upload

CAROL = ("ca201000-0000-4000-8000-000000000003", "carol-token")


@dataclass
class World:
    alice: Api
    bob: Api
    carol: Api
    img: ImageApi  # alice
    bob_img: ImageApi
    carol_img: ImageApi
    ids: dict[str, str]  # label -> image id
    base_url: str


@pytest.fixture(scope="module")
def world(make_server: Callable[..., object]) -> World:
    """Alice: three images of her own. Bob: one public, one shared with alice, one shared
    with a group alice is in, one private, one readable only through a shared folder.
    Carol: one image shared with bob only."""
    srv = make_server(users=dict([ALICE, BOB, CAROL]))
    apis = [
        Api(srv.storage_url(u), u, t)  # type: ignore[attr-defined]
        for u, t in (ALICE, BOB, CAROL)
    ]
    alice, bob, carol = apis
    img, bob_img, carol_img = (
        ImageApi(srv.image_url, t)  # type: ignore[attr-defined]
        for _, t in (ALICE, BOB, CAROL)
    )
    ids: dict[str, str] = {}

    def reg(api: Api, image: ImageApi, label: str, data: bytes, **meta: str) -> None:
        api.make_container("images")
        obj = upload(api, "images", label + ".img", data)
        ids[label] = str(
            image.register(label, obj["location"], {"Owner-Label": label}, **meta)["id"]
        )
        time.sleep(0.01)  # distinct registration times for the created_at sort

    reg(alice, img, "alpha", b"a" * 100, disk_format="diskdump")
    reg(alice, img, "beta", b"b" * 300, disk_format="extdump", container_format="ovf")
    reg(alice, img, "gamma", b"c" * 200, disk_format="ntfsdump", container_format="aki")
    reg(bob, bob_img, "bob-public", b"d" * 50, is_public="true")
    reg(bob, bob_img, "bob-to-alice", b"e" * 400)
    reg(bob, bob_img, "bob-to-group", b"f" * 10)
    reg(bob, bob_img, "bob-private", b"g" * 20)
    reg(carol, carol_img, "carol-to-bob", b"h" * 30)
    bob_img.request("PUT", f"/images/{ids['bob-to-alice']}/members/{ALICE[0]}")
    bob.post(headers={"X-Account-Group-Friends": ALICE[0]})
    bob.post_meta("images", "bob-to-group.img", {"X-Object-Sharing": f"read={BOB[0]}:friends"})
    carol_img.request("PUT", f"/images/{ids['carol-to-bob']}/members/{BOB[0]}")
    # An image inside a folder that is shared: not listed (only explicit grants are).
    bob.mkdir("images", "folder")
    obj = upload(bob, "images", "folder/inherited.img")
    ids["bob-inherited"] = str(bob_img.register("bob-inherited", obj["location"])["id"])
    bob.post_meta("images", "folder", {"X-Object-Sharing": f"read={ALICE[0]}"})
    # Registration gave the object its own permissions (read=bob); drop them so the
    # folder's share is what applies.
    bob.post_meta("images", "folder/inherited.img", {"X-Object-Sharing": ""})
    return World(alice, bob, carol, img, bob_img, carol_img, ids, srv.base_url)  # type: ignore[attr-defined]


def labels(world: World, images: list[dict]) -> list[str]:
    by_id = {v: k for k, v in world.ids.items()}
    return [by_id[i["id"]] for i in images]


ALICE_SEES = {"alpha", "beta", "gamma", "bob-public", "bob-to-alice", "bob-to-group"}


def test_alice_lists_her_own_public_and_explicitly_shared_images(world: World) -> None:
    assert set(labels(world, world.img.list())) == ALICE_SEES
    assert set(labels(world, world.img.list(detail=True))) == ALICE_SEES


def test_bob_and_carol_see_their_own_lists(world: World) -> None:
    bob_sees = {
        "bob-public",
        "bob-to-alice",
        "bob-to-group",
        "bob-private",
        "bob-inherited",
        "carol-to-bob",
    }
    assert set(labels(world, world.bob_img.list())) == bob_sees
    assert set(labels(world, world.carol_img.list())) == {"carol-to-bob", "bob-public"}


def test_an_image_shared_through_a_folder_is_readable_but_not_listed(world: World) -> None:
    assert world.img.info(world.ids["bob-inherited"])["name"] == "bob-inherited"


def test_short_and_detail_fields(world: World) -> None:
    for item in world.img.list():
        assert set(item) == SHORT_FIELDS
    for item in world.img.list(detail=True):
        assert set(item) == DETAIL_FIELDS
        assert isinstance(item["size"], int) and isinstance(item["is_public"], bool)
        assert item["deleted_at"] == "" and item["status"] == "AVAILABLE"
        assert item["location"].startswith("pithos://" + item["owner"] + "/images/")
        assert item["properties"] == {"owner_label": item["name"]}
        assert len(item["created_at"]) == 19 and item["created_at"] <= item["updated_at"]
    public = [i for i in world.img.list(detail=True) if i["id"] == world.ids["bob-public"]][0]
    assert public["is_public"] is True and public["owner"] == BOB[0]


@pytest.mark.parametrize(
    "params, expected",
    [
        ({"name": "beta"}, {"beta"}),
        ({"name": "nothing"}, set()),
        ({"disk_format": "extdump"}, {"beta"}),
        ({"container_format": "aki"}, {"gamma"}),
        ({"container_format": "bare"}, {"alpha", "bob-public", "bob-to-alice", "bob-to-group"}),
        ({"status": "available"}, ALICE_SEES),
        ({"status": "ERROR"}, set()),
        ({"size_min": "200"}, {"beta", "gamma", "bob-to-alice"}),
        ({"size_max": "100"}, {"alpha", "bob-public", "bob-to-group"}),
        ({"size_min": "100", "size_max": "300"}, {"alpha", "beta", "gamma"}),
        ({"owner": BOB[0]}, {"bob-public", "bob-to-alice", "bob-to-group"}),
        ({"owner": ALICE[0], "disk_format": "diskdump"}, {"alpha"}),
    ],
)
def test_filters_are_applied(world: World, params: dict, expected: set) -> None:
    assert set(labels(world, world.img.list(**params))) == expected
    assert set(labels(world, world.img.list(detail=True, **params))) == expected


@pytest.mark.parametrize(
    "params",
    [
        {"size_min": "big"},
        {"size_max": "1.5"},
        {"sort_key": "owner"},
        {"sort_key": "properties"},
        {"sort_dir": "up"},
    ],
)
def test_bad_filter_or_sort_values_are_400(world: World, params: dict) -> None:
    assert_fault(world.img.list_raw(**params), 400)
    assert_fault(world.img.list_raw(detail=True, **params), 400)


def test_sort_keys_and_directions(world: World) -> None:
    own = {"owner": ALICE[0]}
    assert labels(world, world.img.list(sort_key="name", sort_dir="asc", **own)) == [
        "alpha",
        "beta",
        "gamma",
    ]
    assert labels(world, world.img.list(sort_key="name", sort_dir="desc", **own)) == [
        "gamma",
        "beta",
        "alpha",
    ]
    assert labels(world, world.img.list(sort_key="size", sort_dir="asc", **own)) == [
        "alpha",
        "gamma",
        "beta",
    ]
    assert labels(world, world.img.list(sort_key="disk_format", sort_dir="asc", **own)) == [
        "alpha",
        "beta",
        "gamma",
    ]
    # Default: created_at, newest first.
    assert labels(world, world.img.list(**own)) == ["gamma", "beta", "alpha"]
    assert labels(world, world.img.list(sort_dir="asc", **own)) == ["alpha", "beta", "gamma"]
    sizes = [i["size"] for i in world.img.list(sort_key="size", sort_dir="desc")]
    assert sizes == sorted(sizes, reverse=True) and len(sizes) == len(ALICE_SEES)
    ids = [i["id"] for i in world.img.list(sort_key="id", sort_dir="asc")]
    assert ids == sorted(ids)


def test_name_filter_accepts_kamakis_twice_quoted_value(world: World) -> None:
    # kamaki 0.16 sends name=bob%252Dpublic for "bob-public"; requests adds one level here.
    assert labels(world, world.img.list(name="bob%2Dpublic")) == ["bob-public"]


def test_a_client_without_user_agent_or_accept_gets_a_bare_list(world: World) -> None:
    """kamaki's httplib requests carry neither header and kamaki iterates the reply."""
    token = ("X-Auth-Token", ALICE[1])
    for path in (b"/image/v1.0/images/", b"/image/v1.0/images/detail"):
        bare = raw_request(world.base_url, "GET", path, [token])
        assert bare.status == 200
        assert isinstance(bare.json(), list)
        assert {i["id"] for i in bare.json()} == {world.ids[k] for k in ALICE_SEES}
        for extra in (("Accept", "application/json"), ("User-Agent", "curl/8")):
            wrapped = raw_request(world.base_url, "GET", path, [token, extra])
            assert wrapped.json() == {"images": bare.json()}
