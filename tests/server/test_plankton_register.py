"""Plankton registration (protocol.md 10.5-10.6) over real HTTP on the embedded server."""

from __future__ import annotations

import hashlib
from urllib.parse import quote, unquote

import pytest

from tests.conftest import ALICE, BOB, User
from tests.server.pithos_http import Api, assert_fault, raw_request
from tests.server.plankton_api import HEADER_FIELDS, ImageApi, image_of, location, upload


def sharing(api: Api, cont: str, name: str) -> str:
    return unquote(api.meta(cont, name).get("X-Object-Sharing", ""))


@pytest.fixture
def img(server: object, alice: User) -> ImageApi:
    return ImageApi(server.image_url, alice.token)  # type: ignore[attr-defined]


@pytest.fixture
def bob_img(server: object, bob: User) -> ImageApi:
    return ImageApi(server.image_url, bob.token)  # type: ignore[attr-defined]


def test_register_returns_the_image_as_headers_with_defaults(
    api: Api, img: ImageApi, cont: str
) -> None:
    obj = upload(api, cont, "debian_base3.diskdump", b"\x01" * 5000)
    resp = img.register_raw("Debian Base Alpha", obj["location"])
    assert resp.status_code == 200, resp.text
    assert resp.content == b""
    image = image_of(resp)
    assert HEADER_FIELDS <= set(image)
    assert image["id"] == obj["uuid"]
    assert image["name"] == "Debian Base Alpha"
    assert image["disk-format"] == "diskdump"
    assert image["container-format"] == "bare"
    assert image["size"] == "5000"
    assert image["checksum"] == obj["hash"]
    assert image["location"] == obj["location"]
    assert image["status"] == "AVAILABLE"
    assert image["is-public"] == "False"
    assert image["is-snapshot"] == "False"
    assert image["owner"] == api.account
    assert image["deleted-at"] == ""
    assert image["properties"] == {}


def test_registration_writes_a_new_version_with_the_same_hash_and_hides_plankton(
    api: Api, img: ImageApi, cont: str
) -> None:
    obj = upload(api, cont, "v.img")
    img.register("versioned", obj["location"], {"OS": "linux"})
    meta = api.meta(cont, "v.img")
    assert meta["X-Object-Version"] != obj["version"]
    assert meta["X-Object-Hash"] == obj["hash"]
    assert meta["X-Object-UUID"] == obj["uuid"]
    assert not [k for k in meta if "plankton" in k.lower() or k.lower().startswith("x-image")]
    assert api.read(cont, "v.img") == b"image bytes"
    assert len(api.versions(cont, "v.img")) == 2


def test_unicode_name_and_quoted_object_path_round_trip(api: Api, img: ImageApi, cont: str) -> None:
    name = "Ελληνικό 100% image / ü"
    obj = upload(api, cont, "dir/a b%c ü.img")
    image = img.register(name, obj["location"])
    assert image["name"] == name
    assert image["location"] == location(api.account, cont, "dir/a b%c ü.img")
    listed = [i for i in img.list(detail=True) if i["id"] == obj["uuid"]]
    assert listed[0]["name"] == name
    assert listed[0]["location"] == image["location"]


def test_properties_keys_are_normalised_and_values_unquoted(
    api: Api, img: ImageApi, cont: str
) -> None:
    obj = upload(api, cont, "props.img")
    image = img.register(
        "props",
        obj["location"],
        {"OS": "Debian Linux", "os-Type": "linux", "My.Key": "a=b; c%d", "USER": "ρ"},
    )
    expected = {"os": "Debian Linux", "os_type": "linux", "my_key": "a=b; c%d", "user": "ρ"}
    listed = [i for i in img.list(detail=True) if i["id"] == image["id"]][0]
    assert listed["properties"] == expected
    # Header form: `_` in a property key is sent as `-` (protocol.md 10.4).
    resp = img.head(image["id"])
    assert resp.headers["X-Image-Meta-Property-Os-Type"] == "linux"
    assert {k.replace("-", "_") for k in image["properties"]} == set(expected)


@pytest.mark.parametrize("disk", ["diskdump", "extdump", "ntfsdump"])
@pytest.mark.parametrize("container", ["aki", "ari", "ami", "bare", "ovf"])
def test_every_documented_format_is_accepted(
    api: Api, img: ImageApi, cont: str, disk: str, container: str
) -> None:
    obj = upload(api, cont, f"{disk}-{container}")
    image = img.register("f", obj["location"], disk_format=disk, container_format=container)
    assert (image["disk-format"], image["container-format"]) == (disk, container)


def test_format_header_spelling_is_normalised(api: Api, img: ImageApi, cont: str) -> None:
    obj = upload(api, cont, "spelled")
    resp = img.request(
        "POST",
        "/images/",
        headers={
            "X-Image-Meta-Name": "spelled",
            "X-Image-Meta-Location": obj["location"],
            "X-Image-Meta-Disk_Format": "extdump",
            "x-image-meta-container-format": "ovf",
        },
    )
    assert resp.status_code == 200, resp.text
    assert image_of(resp)["disk-format"] == "extdump"
    assert image_of(resp)["container-format"] == "ovf"


@pytest.mark.parametrize(
    "meta",
    [
        {"disk_format": "qcow2"},
        {"disk_format": "DISKDUMP"},
        {"container_format": "docker"},
        {"container_format": ""},
    ],
)
def test_unknown_formats_are_400(api: Api, img: ImageApi, cont: str, meta: dict) -> None:
    obj = upload(api, cont, "fmt")
    assert_fault(img.register_raw("bad", obj["location"], **meta), 400)
    assert img.head(obj["uuid"]).status_code == 404  # nothing was registered


def test_missing_or_empty_name_and_missing_location_are_400(
    api: Api, img: ImageApi, cont: str
) -> None:
    obj = upload(api, cont, "nameless")
    for resp in (
        img.register_raw(None, obj["location"]),
        img.register_raw("", obj["location"]),
        img.register_raw("   ", obj["location"]),
        img.register_raw("no location", None),
    ):
        assert_fault(resp, 400)
        message = next(iter(resp.json().values()))["message"]
        assert "name" in message.lower() or "location" in message.lower(), message
    assert img.head(obj["uuid"]).status_code == 404


@pytest.mark.parametrize(
    "loc",
    [
        "/images/debian.img",
        "pithos://only-account",
        "pithos://acc/cont",
        "pithos://acc/cont/",
        "pithos:///cont/obj",
        "pithos://acc//obj",
        "http://acc/cont/obj",
        "pithos:/acc/cont/obj",
    ],
)
def test_malformed_location_is_400(img: ImageApi, loc: str) -> None:
    resp = img.register_raw("bad location", loc)
    assert_fault(resp, 400)
    assert "location" in resp.text.lower()


@pytest.mark.parametrize(
    "meta",
    [
        {"id": "0b5c9a7e-0000-4000-8000-000000000000"},
        {"status": "ACTIVE"},
        {"created_at": "2020-01-01 00:00:00"},
        {"updated_at": "2020-01-01 00:00:00"},
        {"description": "not at registration"},
        {"store": "swift"},
        {"store": "pith"},  # the reference's substring check would let this through
    ],
)
def test_fields_not_allowed_at_registration_are_400(
    api: Api, img: ImageApi, cont: str, meta: dict
) -> None:
    obj = upload(api, cont, "params")
    assert_fault(img.register_raw("p", obj["location"], **meta), 400)
    assert img.head(obj["uuid"]).status_code == 404


def test_store_pithos_and_unknown_headers_are_accepted(api: Api, img: ImageApi, cont: str) -> None:
    obj = upload(api, cont, "store")
    resp = img.register_raw("s", obj["location"], store="pithos", kernel="ignored")
    assert resp.status_code == 200, resp.text


def test_size_is_a_number_header_that_must_equal_the_object_size(
    api: Api, img: ImageApi, cont: str
) -> None:
    obj = upload(api, cont, "sized", b"x" * 1234)
    assert_fault(img.register_raw("s", obj["location"], size="1233"), 400)
    assert_fault(img.register_raw("s", obj["location"], size="12kB"), 400)
    assert img.head(obj["uuid"]).status_code == 404
    assert img.register("s", obj["location"], size="1234")["size"] == "1234"


def test_checksum_must_equal_the_objects_merkle_hash(api: Api, img: ImageApi, cont: str) -> None:
    obj = upload(api, cont, "summed", b"y" * 100)
    resp = img.register_raw("c", obj["location"], checksum="0" * 64)
    assert_fault(resp, 400)
    assert "checksum" in resp.text
    md5 = hashlib.md5(b"y" * 100).hexdigest()
    assert_fault(img.register_raw("c", obj["location"], checksum=md5), 400)
    assert img.register("c", obj["location"], checksum=obj["hash"].upper())["id"] == obj["uuid"]


def test_property_count_limit_counts_every_plankton_item(
    api: Api, img: ImageApi, cont: str
) -> None:
    obj = upload(api, cont, "many")
    # name, disk_format, container_format and created_at are 4 of the 32 items.
    fits = {f"k{i}": "v" for i in range(28)}
    assert img.register("many", obj["location"], fits)["id"] == obj["uuid"]
    too_many = {f"k{i}": "v" for i in range(29)}
    resp = img.register_raw("many", obj["location"], too_many)
    assert_fault(resp, 400)
    assert "many" in resp.text.lower()
    assert len(img.info(obj["uuid"])["properties"]) == 28  # the failed call changed nothing


def test_property_key_and_value_length_limits(api: Api, img: ImageApi, cont: str) -> None:
    obj = upload(api, cont, "long")
    assert img.register("long", obj["location"], {"k" * 93: "v" * 256})["id"] == obj["uuid"]
    assert_fault(img.register_raw("long", obj["location"], {"k" * 94: "v"}), 400)
    assert_fault(img.register_raw("long", obj["location"], {"k": "v" * 257}), 400)
    assert_fault(img.register_raw("n" * 257, obj["location"]), 400)


def test_missing_object_or_container_is_404(api: Api, img: ImageApi, cont: str) -> None:
    assert_fault(img.register_raw("x", location(api.account, cont, "no-such-object")), 404)
    assert_fault(img.register_raw("x", location(api.account, "no-such-cont", "obj")), 404)


def test_registering_someone_elses_object_is_403(
    api: Api, img: ImageApi, bob_img: ImageApi, cont: str
) -> None:
    obj = upload(api, cont, "alices.img")
    assert_fault(bob_img.register_raw("mine now", obj["location"]), 403)
    # Even with a read (or write) share, only the owner may register.
    api.post_meta(cont, "alices.img", {"X-Object-Sharing": f"write={BOB[0]}"})
    assert_fault(bob_img.register_raw("mine now", obj["location"]), 403)
    assert img.head(obj["uuid"]).status_code == 404


def test_public_registration_sets_read_owner_and_star(
    api: Api, img: ImageApi, bob_img: ImageApi, cont: str
) -> None:
    obj = upload(api, cont, "public.img")
    image = img.register("public", obj["location"], is_public="true")
    assert image["is-public"] == "True"
    assert sharing(api, cont, "public.img") == f"read={api.account},*"
    assert bob_img.info(obj["uuid"])["name"] == "public"
    assert obj["uuid"] in bob_img.ids()


def test_reregistration_overrides_properties_name_formats_and_sharing(
    api: Api, img: ImageApi, cont: str
) -> None:
    obj = upload(api, cont, "override.img")
    first = img.register(
        "First",
        obj["location"],
        {"OS": "debian", "USER": "root"},
        disk_format="extdump",
        container_format="ovf",
        is_public="true",
    )
    api.post_meta(cont, "override.img", {"X-Object-Sharing": f"read=*;write={BOB[0]}"})
    second = img.register("Second", obj["location"], {"OS": "ubuntu"})
    assert second["id"] == first["id"] == obj["uuid"]
    info = img.info(obj["uuid"])
    assert info["name"] == "Second"
    assert info["properties"] == {"os": "ubuntu"}  # USER was not sent again: gone
    assert (info["disk-format"], info["container-format"]) == ("diskdump", "bare")
    assert info["is-public"] == "False"
    assert sharing(api, cont, "override.img") == f"read={api.account}"


def test_kamaki_style_register_list_unregister_and_bobs_403(
    api: Api, img: ImageApi, bob_img: ImageApi, cont: str
) -> None:
    """The image-registration walkthrough (README.md) with kamaki's exact header shapes (protocol.md 11.2, step 5)."""
    obj = upload(api, cont, "debian_base3.diskdump", b"\0" * 4096 + b"debian")
    headers = {
        "X-Image-Meta-Name": quote("Debian Base Alpha"),
        "X-Image-Meta-Location": obj["location"],
        "X-Image-Meta-Is-Public": "True",
        "X-Image-Meta-Property-OSFAMILY": "linux",
        "X-Image-Meta-Property-USERS": "root",
    }
    resp = img.request("POST", "/images/", headers=headers)
    assert resp.status_code == 200, resp.text
    image_id = resp.headers["X-Image-Meta-Id"]
    assert image_id == obj["uuid"]
    mine = [i for i in img.list(detail=True) if i["id"] == image_id]
    assert mine and mine[0]["properties"] == {"osfamily": "linux", "users": "root"}
    assert image_id in bob_img.ids()  # public: bob sees it
    assert_fault(bob_img.unregister(image_id), 403)
    assert img.head(image_id).status_code == 200
    assert img.unregister(image_id).status_code == 204
    assert img.head(image_id).status_code == 404
    assert image_id not in img.ids()


def test_v1_prefix_routes_like_v1_0(server: object, api: Api, alice: User, cont: str) -> None:
    v1 = ImageApi(server.image_url, alice.token, version="v1")  # type: ignore[attr-defined]
    obj = upload(api, cont, "v1.img")
    assert v1.register("v1", obj["location"])["id"] == obj["uuid"]
    assert obj["uuid"] in v1.ids()


def test_auth_versions_unknown_paths_and_methods(server: object, img: ImageApi) -> None:
    anon = ImageApi(server.image_url, None)  # type: ignore[attr-defined]
    assert_fault(anon.list_raw(), 401)
    assert_fault(ImageApi(server.image_url, "wrong-token").list_raw(), 401)  # type: ignore[attr-defined]
    for path in ("/", "/versions"):
        resp = anon.session.get(server.image_url + path)  # type: ignore[attr-defined]
        assert resp.status_code == 200
        versions = resp.json()["versions"]
        assert versions and versions[0]["id"] == "v1.0"
    assert_fault(img.request("GET", "/nothing-here"), 400)
    assert_fault(img.request("GET", "/images/a/b/c/d"), 400)
    assert_fault(img.request("GET", "/images/0b5c9a7e-0000-4000-8000-000000000000"), 501)
    resp = img.request("PATCH", "/images/")
    assert resp.status_code == 405
    assert "POST" in resp.headers["Allow"]
    assert img.request("POST", "/images/detail").status_code == 405


def test_empty_property_values_are_not_stored_and_empty_keys_are_400(
    api: Api, img: ImageApi, cont: str
) -> None:
    obj = upload(api, cont, "empty-props")
    image = img.register("e", obj["location"], {"Kept": "yes", "Dropped": ""})
    assert image["properties"] == {"kept": "yes"}
    resp = img.request(
        "POST",
        "/images/",
        headers={
            "X-Image-Meta-Name": "e",
            "X-Image-Meta-Location": obj["location"],
            "X-Image-Meta-Property-": "no key",
        },
    )
    assert_fault(resp, 400)
    assert img.info(obj["uuid"])["properties"] == {"kept": "yes"}


def test_undecodable_or_raw_non_ascii_headers_are_400(
    server: object, api: Api, img: ImageApi, cont: str
) -> None:
    obj = upload(api, cont, "bytes")
    bad_utf8 = {"X-Image-Meta-Name": "%FF%FE", "X-Image-Meta-Location": obj["location"]}
    assert_fault(img.request("POST", "/images/", headers=bad_utf8), 400)
    raw = raw_request(
        server.base_url,  # type: ignore[attr-defined]
        "POST",
        b"/image/v1.0/images/",
        [
            ("X-Auth-Token", ALICE[1]),
            ("X-Image-Meta-Name", "caf\xe9"),
            ("X-Image-Meta-Location", obj["location"]),
            ("Content-Length", "0"),
        ],
    )
    assert raw.status == 400 and "badRequest" in raw.json()
    assert img.head(obj["uuid"]).status_code == 404
