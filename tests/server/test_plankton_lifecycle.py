"""An image's life (protocol.md 10.2, 10.4, 10.7-10.9): update, unregister, members, and what
happens to the image when its object is overwritten, renamed, copied or deleted."""

from __future__ import annotations

import json
from urllib.parse import unquote

import pytest

from tests.conftest import BOB, User
from tests.server.pithos_http import Api, assert_fault
from tests.server.plankton_api import HEADER_FIELDS, ImageApi, location, upload

UNKNOWN_ID = "0b5c9a7e-0000-4000-8000-000000000000"


@pytest.fixture
def img(server: object, alice: User) -> ImageApi:
    return ImageApi(server.image_url, alice.token)  # type: ignore[attr-defined]


@pytest.fixture
def bob_img(server: object, bob: User) -> ImageApi:
    return ImageApi(server.image_url, bob.token)  # type: ignore[attr-defined]


def registered(api: Api, img: ImageApi, cont: str, name: str = "disk.img", **kw: str) -> str:
    obj = upload(api, cont, name, b"disk data " * 100)
    props = {"OS": "debian", "USER": "root"}
    return str(img.register("Image " + name, obj["location"], props, **kw)["id"])


def sharing(api: Api, cont: str, name: str) -> str:
    return unquote(api.meta(cont, name).get("X-Object-Sharing", ""))


# ---- HEAD ---------------------------------------------------------------------------


def test_head_carries_every_header_of_the_header_form(api: Api, img: ImageApi, cont: str) -> None:
    image_id = registered(api, img, cont)
    resp = img.head(image_id)
    assert resp.status_code == 200
    assert resp.content == b""
    info = img.info(image_id)
    assert HEADER_FIELDS <= set(info)
    assert info["properties"] == {"os": "debian", "user": "root"}
    meta = api.meta(cont, "disk.img")
    assert info["checksum"] == meta["X-Object-Hash"]
    assert info["size"] == "1000"
    assert info["location"] == location(api.account, cont, "disk.img")


def test_head_of_unknown_malformed_and_unshared_images(
    api: Api, img: ImageApi, bob_img: ImageApi, cont: str
) -> None:
    assert img.head(UNKNOWN_ID).status_code == 404
    assert img.head("not-a-uuid").status_code == 400
    plain = upload(api, cont, "not-an-image")
    assert img.head(plain["uuid"]).status_code == 404  # an object, but no plankton:name
    image_id = registered(api, img, cont)
    assert bob_img.head(image_id).status_code == 403


# ---- update ---------------------------------------------------------------------------


def test_update_merges_properties_and_an_empty_value_deletes_one(
    api: Api, img: ImageApi, cont: str
) -> None:
    image_id = registered(api, img, cont)
    version = api.meta(cont, "disk.img")["X-Object-Version"]
    resp = img.update(image_id, {"USER": "", "Kernel": "6.1"}, name="Renamed image")
    assert resp.status_code == 200, resp.text
    info = img.info(image_id)
    assert info["name"] == "Renamed image"
    assert info["properties"] == {"os": "debian", "kernel": "6.1"}
    assert info["disk-format"] == "diskdump"
    meta = api.meta(cont, "disk.img")
    assert meta["X-Object-Version"] != version  # a new version ...
    assert meta["X-Object-Hash"] == info["checksum"]  # ... with the same blocks


def test_update_formats_are_validated(api: Api, img: ImageApi, cont: str) -> None:
    image_id = registered(api, img, cont)
    assert_fault(img.update(image_id, disk_format="vmdk"), 400)
    assert_fault(img.update(image_id, container_format="zip"), 400)
    assert img.update(image_id, disk_format="ntfsdump").status_code == 200
    assert img.info(image_id)["disk-format"] == "ntfsdump"


@pytest.mark.parametrize(
    "meta",
    [
        {"id": UNKNOWN_ID},
        {"size": "10"},
        {"checksum": "0" * 64},
        {"location": "pithos://a/b/c"},
        {"created_at": "2020-01-01 00:00:00"},
        {"name": ""},
    ],
)
def test_update_rejects_fields_that_cannot_change(
    api: Api, img: ImageApi, cont: str, meta: dict
) -> None:
    image_id = registered(api, img, cont)
    before = img.info(image_id)
    assert_fault(img.update(image_id, **meta), 400)
    assert img.info(image_id) == before


def test_update_status_is_stored_and_shown_in_head_and_list(
    api: Api, img: ImageApi, cont: str
) -> None:
    image_id = registered(api, img, cont)
    assert img.update(image_id, status="DEPRECATED").status_code == 200
    assert img.info(image_id)["status"] == "DEPRECATED"
    listed = [i for i in img.list() if i["id"] == image_id][0]
    assert listed["status"] == "DEPRECATED"
    assert img.update(image_id, status="").status_code == 200  # empty clears the override
    assert img.info(image_id)["status"] == "AVAILABLE"


def test_update_is_public_toggles_star_and_keeps_members(
    api: Api, img: ImageApi, bob_img: ImageApi, cont: str
) -> None:
    image_id = registered(api, img, cont)
    assert img.request("PUT", f"/images/{image_id}/members/{BOB[0]}").status_code == 204
    assert img.update(image_id, is_public="true").status_code == 200
    assert img.info(image_id)["is-public"] == "True"
    assert sharing(api, cont, "disk.img") == f"read={api.account},{BOB[0]},*"
    assert img.update(image_id, is_public="false").status_code == 200
    assert img.info(image_id)["is-public"] == "False"
    assert sharing(api, cont, "disk.img") == f"read={api.account},{BOB[0]}"


def test_update_by_another_user_is_403(
    api: Api, img: ImageApi, bob_img: ImageApi, cont: str
) -> None:
    image_id = registered(api, img, cont, is_public="true")
    assert_fault(bob_img.update(image_id, name="bob's now"), 403)
    assert_fault(bob_img.update(image_id, is_public="false"), 403)
    assert img.info(image_id)["name"] == "Image disk.img"
    assert img.info(image_id)["is-public"] == "True"


def test_update_with_a_write_share_may_change_metadata_but_not_sharing(
    api: Api, img: ImageApi, bob_img: ImageApi, cont: str
) -> None:
    image_id = registered(api, img, cont)
    api.post_meta(cont, "disk.img", {"X-Object-Sharing": f"write={BOB[0]}"})
    assert bob_img.update(image_id, {"Editor": "bob"}).status_code == 200
    assert img.info(image_id)["properties"]["editor"] == "bob"
    assert_fault(bob_img.update(image_id, is_public="true"), 403)


def test_update_respects_the_item_limit(api: Api, img: ImageApi, cont: str) -> None:
    image_id = registered(api, img, cont)  # 4 fixed items + 2 properties
    assert img.update(image_id, {f"p{i}": "v" for i in range(26)}).status_code == 200
    assert_fault(img.update(image_id, {"one_more": "v"}), 400)
    assert len(img.info(image_id)["properties"]) == 28


# ---- unregister ------------------------------------------------------------------------


def test_unregister_empties_plankton_and_leaves_the_object_alone(
    api: Api, img: ImageApi, cont: str
) -> None:
    image_id = registered(api, img, cont, is_public="true")
    api.post_meta(cont, "disk.img", {"X-Object-Meta-Color": "blue"})
    before = api.meta(cont, "disk.img")
    assert img.unregister(image_id).status_code == 204
    assert img.head(image_id).status_code == 404
    assert image_id not in img.ids()
    after = api.meta(cont, "disk.img")
    assert after["X-Object-UUID"] == image_id
    assert after["X-Object-Hash"] == before["X-Object-Hash"]
    assert after["X-Object-Version"] != before["X-Object-Version"]
    assert after["X-Object-Meta-Color"] == "blue"
    assert sharing(api, cont, "disk.img") == f"read={api.account},*"
    assert api.read(cont, "disk.img") == b"disk data " * 100
    assert_fault(img.unregister(image_id), 404)
    # Registering again starts from a clean slate with the same id.
    fresh = img.register("again", location(api.account, cont, "disk.img"))
    assert fresh["id"] == image_id and fresh["properties"] == {}


def test_unregister_errors(api: Api, img: ImageApi, bob_img: ImageApi, cont: str) -> None:
    assert_fault(img.unregister(UNKNOWN_ID), 404)
    assert_fault(img.unregister("not-a-uuid"), 400)
    private = registered(api, img, cont, "private.img")
    public = registered(api, img, cont, "public.img", is_public="true")
    assert_fault(bob_img.unregister(private), 403)
    assert_fault(bob_img.unregister(public), 403)  # readable, still not bob's
    assert img.head(private).status_code == 200
    assert img.head(public).status_code == 200


# ---- the object underneath ----------------------------------------------------------------


def test_overwrite_keeps_the_image_and_follows_size_and_checksum(
    api: Api, img: ImageApi, cont: str
) -> None:
    image_id = registered(api, img, cont)
    api.put_object(cont, "disk.img", b"new content, longer than before" * 10)
    info = img.info(image_id)
    meta = api.meta(cont, "disk.img")
    assert meta["X-Object-UUID"] == image_id
    assert info["size"] == str(len(b"new content, longer than before" * 10))
    assert info["checksum"] == meta["X-Object-Hash"]
    assert info["name"] == "Image disk.img"
    assert info["properties"] == {"os": "debian", "user": "root"}


def test_metadata_post_and_append_keep_the_image(api: Api, img: ImageApi, cont: str) -> None:
    image_id = registered(api, img, cont)
    assert api.post_meta(cont, "disk.img", {"X-Object-Meta-Tag": "x"}).status_code == 202
    assert (
        api.post_meta(cont, "disk.img", {"X-Object-Meta-Only": "y"}, update=False).status_code
        == 202
    )
    assert img.info(image_id)["name"] == "Image disk.img"
    resp = api.write_at(cont, "disk.img", b"tail", "bytes */*")
    assert resp.status_code == 204, resp.text
    info = img.info(image_id)
    assert info["size"] == "1004"
    assert info["properties"] == {"os": "debian", "user": "root"}


def test_move_keeps_the_id_and_changes_the_location(api: Api, img: ImageApi, cont: str) -> None:
    image_id = registered(api, img, cont)
    other = api.make_container(cont + "-moved")
    resp = api.request(
        "MOVE", cont, "disk.img", headers={"Destination": f"/{other}/renamed disk.img"}
    )
    assert resp.status_code == 201, resp.text
    info = img.info(image_id)
    assert info["location"] == location(api.account, other, "renamed disk.img")
    assert info["properties"] == {"os": "debian", "user": "root"}
    listed = [i for i in img.list(detail=True) if i["id"] == image_id]
    assert len(listed) == 1 and listed[0]["location"] == info["location"]


def test_copy_is_a_second_image_with_a_new_id(api: Api, img: ImageApi, cont: str) -> None:
    image_id = registered(api, img, cont)
    resp = api.request("COPY", cont, "disk.img", headers={"Destination": f"/{cont}/copy.img"})
    assert resp.status_code == 201, resp.text
    copy_id = api.meta(cont, "copy.img")["X-Object-UUID"]
    assert copy_id != image_id
    copy = img.info(copy_id)
    assert copy["name"] == "Image disk.img"
    assert copy["properties"] == {"os": "debian", "user": "root"}
    assert copy["location"] == location(api.account, cont, "copy.img")
    assert img.info(image_id)["location"] == location(api.account, cont, "disk.img")
    assert {image_id, copy_id} <= set(img.ids())
    # Unregistering the copy leaves the original registered.
    assert img.unregister(copy_id).status_code == 204
    assert img.head(image_id).status_code == 200


def test_put_with_copy_from_also_copies_the_image(api: Api, img: ImageApi, cont: str) -> None:
    image_id = registered(api, img, cont)
    resp = api.put(
        cont,
        "copied-by-put.img",
        headers={"X-Copy-From": f"/{cont}/disk.img", "Content-Length": "0"},
    )
    assert resp.status_code == 201, resp.text
    copy_id = api.meta(cont, "copied-by-put.img")["X-Object-UUID"]
    assert copy_id != image_id
    assert img.info(copy_id)["name"] == "Image disk.img"


def test_deleting_the_object_makes_the_image_vanish(api: Api, img: ImageApi, cont: str) -> None:
    image_id = registered(api, img, cont)
    assert api.delete(cont, "disk.img").status_code == 204
    assert img.head(image_id).status_code == 404
    assert image_id not in img.ids()
    assert_fault(img.unregister(image_id), 404)
    # A new object at the same path is a new object, not the old image.
    obj = upload(api, cont, "disk.img")
    assert obj["uuid"] != image_id
    assert img.head(obj["uuid"]).status_code == 404


# ---- members and shared-images -----------------------------------------------------------


def members(img: ImageApi, image_id: str) -> list[str]:
    resp = img.request("GET", f"/images/{image_id}/members")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert all(m["can_share"] is False for m in body["members"])
    return [m["member_id"] for m in body["members"]]


def test_members_add_list_remove_and_what_bob_sees(
    api: Api, img: ImageApi, bob_img: ImageApi, cont: str
) -> None:
    image_id = registered(api, img, cont)
    assert members(img, image_id) == [api.account]
    assert image_id not in bob_img.ids()
    assert img.request("PUT", f"/images/{image_id}/members/{BOB[0]}").status_code == 204
    assert img.request("PUT", f"/images/{image_id}/members/{BOB[0]}").status_code == 204
    assert members(img, image_id) == [api.account, BOB[0]]
    assert bob_img.info(image_id)["name"] == "Image disk.img"
    assert image_id in bob_img.ids()
    shared = bob_img.request("GET", f"/shared-images/{api.account}").json()["shared_images"]
    assert {"image_id": image_id, "can_share": False} in shared
    assert img.request("DELETE", f"/images/{image_id}/members/{BOB[0]}").status_code == 204
    assert members(img, image_id) == [api.account]
    assert bob_img.head(image_id).status_code == 403
    # Removing a non-member is a no-op; ids are matched and stored lower-case.
    assert img.request("DELETE", f"/images/{image_id}/members/{BOB[0]}").status_code == 204
    assert img.request("PUT", f"/images/{image_id}/members/{BOB[0].upper()}").status_code == 204
    assert members(img, image_id) == [api.account, BOB[0]]
    assert img.request("DELETE", f"/images/{image_id}/members/{BOB[0]}").status_code == 204
    assert image_id not in bob_img.ids()


def test_replace_members_keeps_public(api: Api, img: ImageApi, cont: str) -> None:
    image_id = registered(api, img, cont, is_public="true")
    body = json.dumps({"memberships": [{"member_id": BOB[0], "can_share": True}]})
    resp = img.request(
        "PUT",
        f"/images/{image_id}/members",
        headers={"Content-Type": "application/json"},
        data=body,
    )
    assert resp.status_code == 204, resp.text
    assert members(img, image_id) == [BOB[0]]
    assert img.info(image_id)["is-public"] == "True"
    assert sharing(api, cont, "disk.img") == f"read={BOB[0]},*"


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"{}",
        b'{"memberships": [{"id": "x"}]}',
        b'{"memberships": [{"member_id": "a b"}]}',
    ],
)
def test_replace_members_with_a_bad_body_is_400(
    api: Api, img: ImageApi, cont: str, body: bytes
) -> None:
    image_id = registered(api, img, cont)
    resp = img.request("PUT", f"/images/{image_id}/members", data=body)
    assert_fault(resp, 400)
    assert members(img, image_id) == [api.account]


def test_only_the_owner_changes_members(
    api: Api, img: ImageApi, bob_img: ImageApi, cont: str
) -> None:
    image_id = registered(api, img, cont, is_public="true")
    assert_fault(bob_img.request("PUT", f"/images/{image_id}/members/{BOB[0]}"), 403)
    assert_fault(bob_img.request("DELETE", f"/images/{image_id}/members/{api.account}"), 403)
    body = json.dumps({"memberships": []})
    assert_fault(bob_img.request("PUT", f"/images/{image_id}/members", data=body), 403)
    assert members(bob_img, image_id) == [api.account]  # bob may look (public)
    assert_fault(img.request("PUT", f"/images/{UNKNOWN_ID}/members/{BOB[0]}"), 404)


def test_shared_images_lists_shared_but_not_public_images_of_that_owner(
    api: Api, img: ImageApi, bob_img: ImageApi, cont: str
) -> None:
    shared = registered(api, img, cont, "shared.img")
    public = registered(api, img, cont, "public.img", is_public="true")
    private = registered(api, img, cont, "private.img")
    img.request("PUT", f"/images/{shared}/members/{BOB[0]}")
    resp = bob_img.request("GET", f"/shared-images/{api.account}")
    assert resp.status_code == 200
    ids = {i["image_id"] for i in resp.json()["shared_images"]}
    assert shared in ids
    assert public not in ids and private not in ids
    mine = bob_img.request("GET", f"/shared-images/{BOB[0]}").json()["shared_images"]
    assert not {i["image_id"] for i in mine} & {shared, public, private}


def test_hashmap_put_overwrite_keeps_the_image(api: Api, img: ImageApi, cont: str) -> None:
    image_id = registered(api, img, cont)
    other = upload(api, cont, "other.img", b"other bytes")
    hashes = api.hashmap(cont, "other.img")["hashes"]
    resp = api.put_hashmap(cont, "disk.img", 11, hashes)
    assert resp.status_code == 201, resp.text
    info = img.info(image_id)
    assert (info["size"], info["checksum"]) == ("11", other["hash"])
    assert info["properties"] == {"os": "debian", "user": "root"}


def test_image_in_an_unversioned_container(api: Api, img: ImageApi, unique_name: str) -> None:
    cont = api.make_container(unique_name, headers={"X-Container-Policy-Versioning": "none"})
    image_id = registered(api, img, cont)
    assert img.update(image_id, {"Extra": "1"}).status_code == 200
    api.put_object(cont, "disk.img", b"rewritten")
    info = img.info(image_id)
    assert info["size"] == "9"
    assert info["properties"] == {"os": "debian", "user": "root", "extra": "1"}
    assert len(api.versions(cont, "disk.img")) == 1
