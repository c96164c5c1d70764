"""Behaviours the reference Pithos+ shows over HTTP that the embedded server matches
(differences its own API test suite found), each checked black-box on a running server."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import requests

from pithosfs import protocol
from tests.conftest import BOB
from tests.server.pithos_http import DIRECTORY, OCTET, Api, assert_fault, wait_for_next_second


def _blocks(api: Api, cont: str, data: bytes, update: bool, headers: dict[str, str]) -> list[str]:
    resp = api.post(
        cont,
        params={"update": "", "format": "json"} if update else {"format": "json"},
        headers={"Content-Type": OCTET, **headers},
        data=data,
    )
    assert resp.status_code == 202, (resp.status_code, resp.text)
    return list(resp.json())


def test_block_upload_applies_container_meta_and_policy(api: Api, cont: str) -> None:
    api.post(cont, params="update", headers={"X-Container-Meta-Old": "1"})
    hashes = _blocks(
        api,
        cont,
        b"block one",
        update=True,
        headers={"X-Container-Meta-Color": "blue", "X-Container-Policy-Versioning": "none"},
    )
    assert hashes == [protocol.block_hash_hex(b"block one")]
    head = api.head(cont).headers
    assert head["X-Container-Meta-Old"] == "1" and head["X-Container-Meta-Color"] == "blue"
    assert head["X-Container-Policy-Versioning"] == "none"
    # Without ?update: metadata replaced by what is sent, policies not sent back to defaults.
    _blocks(api, cont, b"block two", update=False, headers={"X-Container-Meta-Shape": "round"})
    head = api.head(cont).headers
    assert head["X-Container-Meta-Shape"] == "round"
    assert "X-Container-Meta-Color" not in head and "X-Container-Meta-Old" not in head
    assert head["X-Container-Policy-Versioning"] == "none"  # no policy header: unchanged
    _blocks(api, cont, b"three", update=False, headers={"X-Container-Policy-Quota": "1000000"})
    head = api.head(cont).headers
    assert head["X-Container-Policy-Quota"] == "1000000"
    assert head["X-Container-Policy-Versioning"] == "auto"  # replaced: back to the default
    assert api.put_hashmap(cont, "o", 5, [protocol.block_hash_hex(b"three")]).status_code == 201


def test_shared_and_public_together_list_either(api: Api, cont: str, unique_name: str) -> None:
    api.put_object(cont, "private", b"p")
    api.put_object(cont, "shared", b"s", headers={"X-Object-Sharing": f"read={BOB[0]}"})
    api.put_object(cont, "public", b"u", headers={"X-Object-Public": "true"})
    assert api.names(cont, shared="") == ["shared"]
    assert api.names(cont, public="") == ["public"]
    assert api.names(cont, shared="", public="") == ["public", "shared"]
    only_public = api.make_container(unique_name + "-pub")
    only_shared = api.make_container(unique_name + "-shr")
    api.put_object(only_public, "o", b"u", headers={"X-Object-Public": "true"})
    api.put_object(only_shared, "o", b"s", headers={"X-Object-Sharing": f"read={BOB[0]}"})

    def containers(**params: str) -> set[str]:
        resp = api.get(params={"format": "json", **params})
        assert resp.status_code == 200
        return {c["name"] for c in resp.json()} & {only_public, only_shared}

    assert containers(shared="") == {only_shared}
    assert containers(public="") == {only_public}
    assert containers(shared="", public="") == {only_public, only_shared}


def test_negated_meta_filter_means_none_of_these_keys(api: Api, cont: str) -> None:
    api.put_object(cont, "plain", b"")
    api.put_object(cont, "red", b"", headers={"X-Object-Meta-Color": "red"})
    api.put_object(cont, "sized", b"", headers={"X-Object-Meta-Size": "9"})
    both = {"X-Object-Meta-Color": "blue", "X-Object-Meta-Size": "1"}
    api.put_object(cont, "both", b"", headers=both)
    assert api.names(cont, meta="!color") == ["plain", "sized"]
    assert api.names(cont, meta="!color,!size") == ["plain"]  # none of them
    assert api.names(cont, meta="size,!color") == ["sized"]  # AND-ed with the rest
    assert api.names(cont, meta="color,size") == ["both", "red", "sized"]  # any of them
    assert api.names(cont, meta="!size,color=red") == ["red"]


def test_group_headers_capitalised_with_sorted_members(api: Api) -> None:
    resp = api.post(params="update", headers={"X-Account-Group-Friends": "zed,amy,mia"})
    assert resp.status_code == 202
    head = api.head().headers
    names = [k for k in head if k.lower() == "x-account-group-friends"]
    assert names == ["X-Account-Group-Friends"]
    assert head["X-Account-Group-Friends"] == "amy,mia,zed"
    api.post(params="update", headers={"X-Account-Group-Friends": ""})


def test_allow_header_has_no_spaces(api: Api, cont: str) -> None:
    resp = requests.request("PATCH", api.url(), headers={"X-Auth-Token": api.token}, timeout=30)
    assert_fault(resp, 405)
    assert resp.headers["Allow"] == "HEAD,GET,POST"
    resp = requests.request(
        "PATCH", api.root.rsplit("/v1", 1)[0] + "/v1/", headers={"X-Auth-Token": api.token},
        timeout=30,
    )  # fmt: skip
    assert resp.status_code == 405 and resp.headers["Allow"] == "GET"


def test_public_manifest_of_private_parts_is_404(api: Api, cont: str) -> None:
    api.put_object(cont, "parts/1", b"one")
    api.put_object(cont, "m", b"", headers={"X-Object-Manifest": f"{cont}/parts/"})
    api.post_meta(cont, "m", {"X-Object-Public": "true"})
    url = api.meta(cont, "m")["X-Object-Public"]
    for method in ("GET", "HEAD"):
        assert requests.request(method, url, timeout=30).status_code == 404
    api.post_meta(cont, "parts/1", {"X-Object-Sharing": "read=*"})
    resp = requests.get(url, timeout=30)
    assert resp.status_code == 200 and resp.content == b"one"


def test_hashmap_as_xml(api: Api, cont: str) -> None:
    api.put_object(cont, "a&b", b"hello")
    resp = api.get(cont, "a&b", params={"hashmap": "", "format": "xml"})
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("application/xml")
    root = ET.fromstring(resp.content)
    assert root.tag == "object" and root.get("name") == "a&b"
    assert root.get("bytes") == "5" and root.get("block_hash") == "sha256"
    assert [h.text for h in root.findall("hash")] == [protocol.block_hash_hex(b"hello")]
    as_json = api.get(cont, "a&b", params={"hashmap": "", "format": "json"})
    assert json.loads(as_json.content)["hashes"] == [h.text for h in root.findall("hash")]


def test_permission_and_existence_before_content_range(api: Api, bob_api: Api, cont: str) -> None:
    api.put_object(cont, "mine", b"0123456789")
    bad = "bytes 5-2/*"  # N > M: 416 once the request gets that far
    assert_fault(api.write_at(cont, "missing", b"abcd", bad), 404)
    assert_fault(bob_api.write_at(cont, "mine", b"abcd", bad, account=api.account), 403)
    assert_fault(api.write_at(cont, "mine", b"abcd", bad), 416)
    no_range = api.post(
        cont, "missing", params="update", headers={"Content-Type": OCTET}, data=b"x"
    )
    assert_fault(no_range, 404)
    assert api.read(cont, "mine") == b"0123456789"


def test_until_shows_metadata_and_policy_as_they_were(api: Api, cont: str) -> None:
    api.post(
        cont,
        params="update",
        headers={"X-Container-Meta-Stage": "one", "X-Container-Policy-Versioning": "none"},
    )
    api.post(params="update", headers={"X-Account-Meta-Stage": "one"})
    then = wait_for_next_second() + 1
    wait_for_next_second()
    api.post(
        cont,
        params="update",
        headers={"X-Container-Meta-Stage": "two", "X-Container-Policy-Versioning": "auto"},
    )
    api.post(params="update", headers={"X-Account-Meta-Stage": "two"})
    now = api.head(cont).headers
    assert now["X-Container-Meta-Stage"] == "two"
    assert now["X-Container-Policy-Versioning"] == "auto"
    past = api.head(cont, params={"until": str(then)})
    assert past.status_code == 204
    assert past.headers["X-Container-Meta-Stage"] == "one"
    assert past.headers["X-Container-Policy-Versioning"] == "none"
    listed = api.get(cont, params={"until": str(then), "format": "json"})
    assert listed.headers["X-Container-Meta-Stage"] == "one"
    assert api.head(params={"until": str(then)}).headers["X-Account-Meta-Stage"] == "one"
    assert api.head().headers["X-Account-Meta-Stage"] == "two"
    before_any = api.head(cont, params={"until": "1000"}).headers
    assert "X-Container-Meta-Stage" not in before_any
    api.post(params="update", headers={"X-Account-Meta-Stage": ""})


def test_copy_and_move_keep_the_type_whatever_content_type_says(api: Api, cont: str) -> None:
    api.put_object(cont, "src", b"{}", ctype="application/json")
    plain = {"Content-Type": "text/plain"}  # what some WSGI servers make of a missing type
    for how, target in (("COPY", "c1"), ("PUT", "c2")):
        if how == "COPY":
            resp = api.request(
                "COPY", cont, "src", params="ignore_content_type",
                headers={**plain, "Destination": f"/{cont}/{target}"},
            )  # fmt: skip
        else:
            resp = api.put(
                cont, target, params="ignore_content_type",
                headers={**plain, "X-Copy-From": f"/{cont}/src", "Content-Length": "0"},
            )  # fmt: skip
        assert resp.status_code == 201, resp.text
        assert api.meta(cont, target)["Content-Type"] == "application/json"
    resp = api.request(
        "MOVE", cont, "c1", params="ignore_content_type",
        headers={**plain, "Destination": f"/{cont}/moved"},
    )  # fmt: skip
    assert resp.status_code == 201
    assert api.meta(cont, "moved")["Content-Type"] == "application/json"
    resp = api.put(
        cont, "moved2", params="ignore_content_type",
        headers={**plain, "X-Move-From": f"/{cont}/c2", "Content-Length": "0"},
    )  # fmt: skip
    assert resp.status_code == 201
    assert api.meta(cont, "moved2")["Content-Type"] == "application/json"
    # Without the flag the request's type is applied, as the reference does.
    api.request("COPY", cont, "src", headers={**plain, "Destination": f"/{cont}/typed"})
    assert api.meta(cont, "typed")["Content-Type"] == "text/plain"


def test_directory_marker_sharing_shows_in_its_files_head(
    api: Api, bob_api: Api, cont: str
) -> None:
    """HEAD of a file inside a shared folder: the folder's list and where it is set,
    for the owner too; a grantee also sees what they may do (protocol.md 4.1)."""
    api.put_object(cont, "dir", b"", DIRECTORY)
    api.post_meta(cont, "dir", {"X-Object-Sharing": f"read={BOB[0]}"})
    api.put_object(cont, "dir/f", b"x")
    owner = api.meta(cont, "dir/f")
    assert owner["X-Object-Sharing"] == f"read={BOB[0]}"
    assert owner["X-Object-Shared-By"] == f"{api.account}/{cont}/dir"
    assert "X-Object-Allowed-To" not in owner
    grantee = bob_api.meta(cont, "dir/f", account=api.account)
    assert grantee["X-Object-Sharing"] == f"read={BOB[0]}"
    assert grantee["X-Object-Shared-By"] == f"{api.account}/{cont}/dir"
    assert grantee["X-Object-Allowed-To"] == "read"
